"""Writing a mailbox over EWS: folders, batched creation with per-item results, provenance stamps.

Nothing is ever sent: mail is created with MessageDisposition ``SaveOnly`` and calendar items
with SendMeetingInvitations ``SendToNone``. One CreateItem carries a whole batch and is sent
once; each item's answer becomes a :class:`~groupmigrate.protocols.CreateResult` (created,
refused for now, refused for good). A request the server refused as a whole (e.g. one item it
cannot parse) applied nothing and is split in halves until the culprit stands alone. A
request that went out without a usable answer raises
:class:`~groupmigrate.errors.OutcomeUnknown` (or, when other parts of the batch were
answered, marks its items ``maybe_applied``): the migrator reconciles those through
:meth:`EWSDestinationMailbox.find_stamps`, never by content.

Where the profile keeps them (``capabilities.supports_provenance``), each item carries its
provenance stamp as a named extended property (:data:`~.models.PROVENANCE_PROPERTY_SET`,
``groupmigrate-provenance``) written in the same CreateItem.

:meth:`EWSDestinationMailbox.free_space` reads the mailbox's size and quota from the MAPI
properties the top of the mailbox carries (see :data:`~.models.MAILBOX_USAGE_FIELDS`); a server
that does not tell them gives None.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs
from exchangelib.attachments import FileAttachment
from exchangelib.fields import FieldPath
from exchangelib.items import ID_ONLY, SAVE_ONLY, SEND_TO_NONE, CalendarItem
from exchangelib.properties import OccurrenceItemId, ParentItemId

from groupmigrate.backends.ews import folders as tree
from groupmigrate.backends.ews.convert import calendar as cal
from groupmigrate.backends.ews.convert import contacts, mail, notes, tasks
from groupmigrate.backends.ews.convert.common import attachment_to_ews, body_to_ews, ews_datetime_in
from groupmigrate.backends.ews.convert.vocabulary import IMPORTANCE, SENSITIVITY, SHOW_AS
from groupmigrate.backends.ews.endpoint import Endpoint
from groupmigrate.backends.ews.errors import item_error
from groupmigrate.backends.ews.mailbox import MailboxBase
from groupmigrate.backends.ews.models import MAILBOX_USAGE_FIELDS, PROVENANCE_FIELD, MailItem
from groupmigrate.backends.ews.services import (
    AnyErrorCreateAttachment,
    AnyErrorCreateItem,
    AnyErrorDeleteItem,
    AnyErrorUpdateItem,
    CreateFolderRecords,
    FolderRecord,
    GetMailboxUsage,
    MailboxUsage,
    StampRestriction,
    distinguished,
    folder_id,
)
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import (
    AccessError,
    ConfigError,
    ConnectionFailed,
    GroupmigrateError,
    OutcomeUnknown,
    SourceIsReadOnly,
    Throttled,
)
from groupmigrate.items import Contact, Event, Folder, Item, ItemType, Message, Note, Task
from groupmigrate.core.mappers import format_size
from groupmigrate.protocols import CreateResult

__all__ = ["EWSDestination", "EWSDestinationMailbox"]

#: stamps per FindItem restriction when looking items up by stamp
_STAMPS_PER_QUERY = 50


@attrs.define
class _Pending:
    index: int
    item: Item
    ews: Any
    warnings: list[str]


class _Batch:
    """What one create_items call has learned so far."""

    def __init__(self, size: int) -> None:
        self.results: list[CreateResult | None] = [None] * size
        self.created: list[tuple[_Pending, Any]] = []

    @property
    def answered(self) -> bool:
        return any(r is not None for r in self.results)


class EWSDestinationMailbox(MailboxBase):
    """Write access to one mailbox (see :class:`~groupmigrate.protocols.DestinationMailbox`)."""

    def __init__(self, *args: Any, capabilities: Capabilities, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._caps = capabilities
        self._children: dict[str, dict[str, FolderRecord]] | None = None
        self._ensured: dict[tuple[str, ...], Folder] = {}
        #: folders this mailbox created and has written nothing into since: they hold nothing
        #: (a brand-new folder cannot hold another tool's items), so looking into them is skipped
        self._untouched: set[str] = set()

    # -- folders --------------------------------------------------------------------------
    def _tree(self) -> dict[str, dict[str, FolderRecord]]:
        if self._children is None:
            children: dict[str, dict[str, FolderRecord]] = collections.defaultdict(dict)
            for record in self._records():
                children[record.parent_id or ""][record.name.lower()] = record
            self._children = children
        return self._children

    def ensure_folder(self, folder: Folder) -> Folder:
        """The destination folder for a source folder: same role, else same path (created if missing)."""
        with self._lock:
            return self._ensure(folder)

    def _ensure(self, folder: Folder) -> Folder:
        known = self._ensured.get(folder.path)
        if known is not None:
            return attrs.evolve(known, kind=folder.kind)
        self._top()
        if folder.role is not None:
            record = self._role_records.get(folder.role)
            if record is not None:
                found = Folder(path=(record.name,), kind=folder.kind, role=folder.role, folder_id=record.id, display_name=record.name)
                self._ensured[folder.path] = found
                return found
        if len(folder.path) == 1:
            parent_id = self._top().id
            parent_path: tuple[str, ...] = ()
        else:
            parent = self._ensure(Folder(path=folder.parent_path, kind=folder.kind))
            assert parent.folder_id is not None
            parent_id, parent_path = parent.folder_id, parent.path
        record = self._tree()[parent_id].get(folder.name.lower()) or self._create_folder(parent_id, folder)
        found = Folder(
            path=(*parent_path, record.name), kind=folder.kind, role=folder.role, folder_id=record.id, display_name=record.name
        )
        self._ensured[folder.path] = found
        return found

    def _create_folder(self, parent_id: str, folder: Folder) -> FolderRecord:
        folder_class = tree.FOLDER_CLASSES[folder.kind]

        def run() -> Any:
            svc = CreateFolderRecords(account=self._account, chunk_size=1)
            return list(svc.call(parent_folder=folder_id(parent_id), folders=[(folder.name, folder_class)]))[0]

        result = self._call_create_folder(run, parent_id, folder.name)
        if isinstance(result, Exception):
            raise GroupmigrateError(f"cannot create folder {folder}: {type(result).__name__}: {result}")
        if result is not self._tree()[parent_id].get(folder.name.lower()):  # not found there: created now
            self._untouched.add(result.id)
        record = FolderRecord(
            id=result.id, changekey=result.changekey, parent_id=parent_id, name=folder.name, folder_class=folder_class, tag="Folder"
        )
        self._tree()[parent_id][folder.name.lower()] = record
        return record

    def _call_create_folder(self, run: Any, parent_id: str, name: str) -> Any:
        try:
            result = self._call(run, idempotent=False)
        except OutcomeUnknown:
            # A folder is identified by its name under its parent: if the lost answer created
            # it, it is listed now; otherwise the caller sees the error and may ask again.
            self._children = None
            existing = self._tree()[parent_id].get(name.lower())
            if existing is not None:
                return existing
            raise
        if type(result).__name__ == "ErrorFolderExists":
            self._children = None
            existing = self._tree()[parent_id].get(name.lower())
            if existing is not None:
                return existing
        return result

    # -- creating items -------------------------------------------------------------------
    def _to_ews(self, item: Item) -> tuple[Any, list[str]]:
        if isinstance(item, Message):
            return mail.to_ews(item)
        if isinstance(item, Note):
            return notes.to_ews(item)
        if isinstance(item, Task):
            return tasks.to_ews(item)
        if isinstance(item, Contact):
            if item.is_distribution_list and not self._caps.supports_distribution_lists:
                raise ValueError("this server does not support distribution lists")
            return contacts.to_ews(item, photo_supported=self._caps.supports_contact_photo)
        if isinstance(item, Event):
            return cal.to_ews(item, keep_attendee_status=self._caps.preserves_attendee_status)
        raise ValueError(f"unsupported item type {type(item).__name__}")

    def create_items(
        self, folder: Folder, items: Sequence[Item], stamps: Sequence[str] | None = None
    ) -> list[CreateResult]:
        """Create ``items`` in ``folder``, each by its own type; one result per item, in order.

        Never sends anything. ``stamps`` (one 32-hex string per item) are written with the
        items as their provenance stamps when the profile keeps them. One attempt: see the
        module docstring for what is raised and what is returned per item.

        Raises:
            Throttled: the server asked to slow down before anything was applied.
            ConnectionFailed: the request was not sent.
            OutcomeUnknown: the request went out and no usable answer came back.
        """
        if stamps is not None and len(stamps) != len(items):
            raise ValueError(f"{len(stamps)} stamps for {len(items)} items")
        self._untouched.discard(folder.folder_id or "")
        keep_stamps = stamps is not None and self._caps.supports_provenance
        batch = _Batch(len(items))
        pending: list[_Pending] = []
        for index, item in enumerate(items):
            try:
                ews, warnings = self._to_ews(item)
                if keep_stamps:
                    assert stamps is not None
                    ews.provenance = stamps[index]
                # exchangelib validates while building the request; a bad value must cost this
                # item only, not the batch.
                ews.account = self._account
                ews.clean(version=self._version())
            except (ValueError, TypeError, KeyError) as e:
                batch.results[index] = CreateResult(ok=False, error=f"cannot be written to this server: {e}", code="Unsupported")
                continue
            pending.append(_Pending(index, item, ews, warnings))
        if pending:
            self._create(folder_id(self._fid(folder)), pending, batch)
        self._after_create(batch.created, batch.results)
        # an item sent without an answer of its own may have been created: the caller reconciles
        unanswered = CreateResult(ok=False, error="the server's answer left this item out", maybe_applied=True)
        return [r if r is not None else unanswered for r in batch.results]

    def _create(self, target: Any, pending: list[_Pending], batch: _Batch) -> None:
        """Send ``pending`` in one CreateItem (halving a request refused as a whole); fill ``batch``."""
        try:
            answers = self._send(pending, target)
        except OutcomeUnknown as e:
            if not batch.answered:
                raise
            for entry in pending:
                batch.results[entry.index] = CreateResult(
                    ok=False, error=str(e), code="OutcomeUnknown", transient=True, maybe_applied=True
                )
            return
        except (Throttled, ConnectionFailed) as e:  # not applied
            if not batch.answered:
                raise
            code = "Throttled" if isinstance(e, Throttled) else "ConnectionFailed"
            for entry in pending:
                batch.results[entry.index] = CreateResult(ok=False, error=str(e), code=code, transient=True)
            return
        except (AccessError, ConfigError, SourceIsReadOnly):
            raise
        except GroupmigrateError as e:
            # The server refused the whole request (e.g. one item it cannot parse), so nothing
            # was applied: halve the batch until the item that causes it stands alone.
            if len(pending) == 1:
                batch.results[pending[0].index] = CreateResult(ok=False, error=str(e), code="RequestRefused")
                return
            half = len(pending) // 2
            self._create(target, pending[:half], batch)
            self._create(target, pending[half:], batch)
            return
        for entry, answer in zip(pending, answers):
            if isinstance(answer, Exception):
                message, code, transient = item_error(answer)
                if code == "ErrorMessageSizeExceeded":
                    size = entry.item.size
                    message = f"the item ({format_size(size)}, {size:,} bytes) is larger than the server accepts"
                batch.results[entry.index] = CreateResult(ok=False, error=message, code=code, transient=transient)
            else:
                batch.created.append((entry, answer))
                batch.results[entry.index] = CreateResult(ok=True, item_id=answer.id, warnings=tuple(entry.warnings))

    def _send(self, pending: Sequence[_Pending], target: Any) -> list[Any]:
        def run() -> list[Any]:
            svc = AnyErrorCreateItem(account=self._account, chunk_size=len(pending))
            return list(
                svc.create(
                    items=[p.ews for p in pending],
                    folder=target,
                    message_disposition=SAVE_ONLY,
                    send_meeting_invitations=SEND_TO_NONE,
                )
            )

        return self._call(run, idempotent=False)

    # -- provenance -------------------------------------------------------------------------
    def find_stamps(self, folder: Folder, stamps: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Stamp -> ids of the items in ``folder`` carrying it (several when created more than once).

        With ``stamps``, only those are looked up (FindItem restricted to them, in chunks);
        without, every stamped item of the folder is listed. A read: one attempt per page.
        """
        wanted = None if stamps is None else list(dict.fromkeys(stamps))
        if (wanted is not None and not wanted) or folder.folder_id in self._untouched:
            return {}
        chunks: list[list[str] | None] = (
            [None] if wanted is None else [wanted[i : i + _STAMPS_PER_QUERY] for i in range(0, len(wanted), _STAMPS_PER_QUERY)]
        )
        found: dict[str, list[str]] = collections.defaultdict(list)
        for chunk in chunks:
            accept = None if chunk is None else set(chunk)
            restriction = StampRestriction(chunk)
            for item in self._list(folder, (), restriction=restriction, extra=[FieldPath(field=PROVENANCE_FIELD)]):
                stamp = getattr(item, "provenance", None)
                if stamp and (accept is None or stamp in accept) and item.id not in found[stamp]:
                    found[stamp].append(item.id)
        return {k: v for k, v in found.items() if v}

    def fetch_existing(self, folder: Folder, item_ids: Sequence[str]) -> Iterator[Item]:
        """Full items of ``folder`` by destination id, each read as what it is (mail with MIME);
        ids gone are left out."""
        return iter(self._read_any(list(item_ids)))

    # -- after creation: attachments and occurrences ---------------------------------------
    def _after_create(self, created: list[tuple[_Pending, Any]], results: list[CreateResult | None]) -> None:
        def warn(entry: _Pending, text: str) -> None:
            current = results[entry.index]
            if current is not None:
                results[entry.index] = attrs.evolve(current, warnings=(*current.warnings, text))

        with_files = [(e, a) for e, a in created if a is not None and _expected_attachments(e.ews)]
        if with_files:
            try:
                self._repair_attachments(with_files, warn)
            except GroupmigrateError as exc:
                for entry, _ in with_files:
                    warn(entry, f"attachments could not be verified: {exc}")
        recurring = [
            (e, a) for e, a in created
            if a is not None and isinstance(e.item, Event) and (e.item.exceptions or e.item.deleted_occurrences) and e.ews.recurrence
        ]  # fmt: skip
        for entry, answer in recurring:
            try:
                self._apply_occurrences(entry, answer.id, warn)
            except GroupmigrateError as exc:
                warn(entry, f"modified/deleted occurrences not applied: {exc}")

    def _repair_attachments(self, with_files: list[tuple[_Pending, Any]], warn: Any) -> None:
        """Re-add attachments the server dropped from CreateItem (some servers do, silently)."""
        suspicious = [(e, a) for e, a in with_files if len(a.attachments or ()) < len(_expected_attachments(e.ews))]
        if not suspicious:
            return
        ids = [a.id for _, a in suspicious]
        model = type(suspicious[0][0].ews)
        got = self._get_items(ids, model, ("attachments",))
        for (entry, answer), stored in zip(suspicious, got):
            if isinstance(stored, Exception):
                warn(entry, f"attachments could not be verified: {stored}")
                continue
            have = collections.Counter(att.name for att in stored.attachments or ())
            missing = []
            for att in _expected_attachments(entry.ews):
                if have[att.name] > 0:
                    have[att.name] -= 1
                else:
                    missing.append(att)
            if not missing:
                continue
            parent = ParentItemId(id=stored.id, changekey=stored.changekey)

            def run(parent: Any = parent, files: list[Any] = missing) -> list[Any]:
                svc = AnyErrorCreateAttachment(account=self._account, chunk_size=len(files))
                fresh = [attachment_to_ews(_neutral_attachment(f), as_contact_photo=bool(f.is_contact_photo)) for f in files]
                return list(svc.call(parent_item=parent, items=fresh))

            answers = self._call(run, idempotent=False)
            failed = [f.name for f, r in zip(missing, answers) if isinstance(r, Exception)]
            added = len(missing) - len(failed)
            if added:
                warn(entry, f"{added} attachment(s) re-added with CreateAttachment: the server dropped them from CreateItem")
            if failed:
                warn(entry, f"attachments lost: {', '.join(failed)}")

    def _apply_occurrences(self, entry: _Pending, master_id: str, warn: Any) -> None:
        event: Event = entry.item  # type: ignore[assignment]
        zone = entry.ews._start_timezone
        updates = []
        for exception in event.exceptions:
            original = exception.recurrence_id or exception.start
            index = cal.instance_index(event, original) if original is not None else None
            if index is None:
                warn(entry, f"modified occurrence {original} is not part of the series; not applied")
                continue
            target = CalendarItem(account=self._account, _id=OccurrenceItemId(id=master_id, instance_index=index))
            names = []
            for name, value in (
                ("subject", exception.subject),
                ("body", body_to_ews(exception.body, exception.body_is_html)),
                ("location", exception.location),
                ("legacy_free_busy_status", SHOW_AS.to_ews(exception.show_as)),
                ("importance", IMPORTANCE.to_ews(exception.importance)),
                ("sensitivity", SENSITIVITY.to_ews(exception.sensitivity)),
                ("reminder_is_set", bool(exception.reminder_is_set)),
                ("reminder_minutes_before_start", exception.reminder_minutes or 0),
            ):
                if value is not None:
                    setattr(target, name, value)
                    names.append(name)
            # What the occurrence shares with its series is left alone; what differs is set
            # (an empty value clears it on the occurrence).
            shaped, _ = cal.to_ews(
                attrs.evolve(exception, recurrence=None, exceptions=(), deleted_occurrences=(), attachments=()),
                keep_attendee_status=self._caps.preserves_attendee_status,
                recurring=False,
            )
            for name, own, series in (
                ("categories", exception.categories, event.categories),
                ("attendees", exception.attendees, event.attendees),
                ("net_show_url", exception.online_meeting_url, event.online_meeting_url),
                ("meeting_workspace_url", exception.meeting_workspace_url, event.meeting_workspace_url),
            ):
                if own == series:
                    continue
                for field in (("required_attendees", "optional_attendees", "resources") if name == "attendees" else (name,)):
                    setattr(target, field, getattr(shaped, field))
                    names.append(field)
            if exception.start is not None and exception.end is not None:
                if exception.is_all_day:  # a moved day of an all-day series: dates, as the converter shapes them
                    target.start, target.end, target.is_all_day = shaped.start, shaped.end, True
                else:
                    target.start = ews_datetime_in(exception.start, zone)  # type: ignore[arg-type]
                    target.end = ews_datetime_in(exception.end, zone)  # type: ignore[arg-type]
                target._start_timezone = zone
                target._end_timezone = zone
                names += ["start", "end"]
            updates.append((target, names, original))
        if updates:

            def run_updates() -> list[Any]:
                svc = AnyErrorUpdateItem(account=self._account, chunk_size=len(updates))
                return list(
                    svc.call(
                        items=[(t, n) for t, n, _ in updates],
                        conflict_resolution="AlwaysOverwrite",
                        message_disposition=SAVE_ONLY,
                        send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                        suppress_read_receipts=True,
                    )
                )

            for (_, _, original), answer in zip(updates, self._call(run_updates, idempotent=False)):
                if isinstance(answer, Exception):
                    warn(entry, f"modified occurrence {original} not applied: {item_error(answer)[0]}")
        deletions = []
        for original in event.deleted_occurrences:
            index = cal.instance_index(event, original)
            if index is None:
                warn(entry, f"deleted occurrence {original} is not part of the series")
                continue
            deletions.append((OccurrenceItemId(id=master_id, instance_index=index), original))
        if deletions:

            def run_deletes() -> list[Any]:
                svc = AnyErrorDeleteItem(account=self._account, chunk_size=len(deletions))
                return list(
                    svc.call(
                        items=[d for d, _ in deletions],
                        delete_type="HardDelete",
                        send_meeting_cancellations=SEND_TO_NONE,
                        affected_task_occurrences="AllOccurrences",
                        suppress_read_receipts=True,
                    )
                )

            for (_, original), answer in zip(deletions, self._call(run_deletes, idempotent=False)):
                if isinstance(answer, Exception):
                    warn(entry, f"deleted occurrence {original} not removed: {item_error(answer)[0]}")

    # -- listing for duplicate detection ----------------------------------------------------
    def existing(self, folder: Folder, item_type: ItemType) -> Iterator[Item]:
        """The items in ``folder`` with the fields their fingerprints need (mail without MIME)."""
        if folder.folder_id in self._untouched:
            return
        if item_type == "mail":
            for item in self._list(folder, mail.LIGHT_FIELDS, model=MailItem):
                if self._learn(item) == "mail" and hasattr(item, "message_id"):
                    yield mail.light_to_neutral(item, item.id)
            return
        ids = [ref.id for ref in self.list_items(folder) if ref.item_type == item_type]
        for start in range(0, len(ids), 100):
            yield from self._read(item_type, ids[start : start + 100], light=True)

    # -- quota ----------------------------------------------------------------------------
    def free_space(self) -> int | None:
        """Bytes the mailbox can still take, where the server tells its size and quota.

        One GetFolder of the top of the mailbox (``msgfolderroot``) for PidTagMessageSizeExtended
        (0x0E08, the mailbox's size in bytes) and the quota in KB: PidTagProhibitReceiveQuota
        (0x666A, the size at which the mailbox takes no more items), else PR_STORAGE_QUOTA_LIMIT
        (0x3FF5, the warning level). None when the size or the quota is not told, when the
        quota is unlimited (-1), or when the request fails for a reason that may pass
        (busy, connection, a server refusing the properties). Never below 0.

        Raises:
            AccessError: the mailbox cannot be used at all (credentials, rights, no mailbox).
        """

        def run() -> MailboxUsage:
            svc = GetMailboxUsage(account=self._account, chunk_size=1)
            paths = [FieldPath(field=f) for f in MAILBOX_USAGE_FIELDS]
            found = list(svc.call(folders=[distinguished("msgfolderroot", self.address)], additional_fields=paths, shape=ID_ONLY))
            if not found:
                return MailboxUsage()
            if isinstance(found[0], Exception):
                raise found[0]  # mapped like any other error
            usage: MailboxUsage = found[0]
            return usage

        try:
            usage = self._call(run)
        except (AccessError, ConfigError):
            raise
        except GroupmigrateError:
            return None
        quota_kb = usage.prohibit_receive_quota_kb
        if quota_kb is None:
            quota_kb = usage.storage_quota_limit_kb
        if quota_kb is None or quota_kb < 0 or usage.size is None or usage.size < 0:
            return None
        return max(0, quota_kb * 1024 - usage.size)


def _expected_attachments(ews: Any) -> list[Any]:
    return [a for a in getattr(ews, "attachments", None) or () if isinstance(a, FileAttachment)]


def _neutral_attachment(att: FileAttachment) -> Any:
    from groupmigrate.items import Attachment

    return Attachment(
        name=att.name or "attachment",
        content=att._content or b"",
        content_type=att.content_type or "application/octet-stream",
        is_inline=bool(att.is_inline),
        content_id=att.content_id,
        is_contact_photo=bool(att.is_contact_photo),
    )


class EWSDestination(Endpoint):
    """An EWS server that mailboxes are written to (arguments as for :class:`~groupmigrate.backends.ews.EWSSource`)."""

    read_only = False

    def open_mailbox(self, address: str, auth: Any = None) -> EWSDestinationMailbox:
        """The mailbox ``address``; ``auth`` overrides the endpoint's credentials (per-user login)."""
        connection, owned = self._connection_for(address, auth)
        return EWSDestinationMailbox(
            connection,
            address,
            impersonation=self._impersonation_for(auth),
            owns_connection=owned,
            capabilities=self.capabilities,
        )

