"""What source and destination mailboxes share: the account, folder listing, item listing, GetItem.

Every server call goes through :meth:`MailboxBase._call`, i.e. through the connection's
error mapping (one attempt, its failure classified); exception objects that exchangelib
returns in place of results are raised inside that call when they concern the whole mailbox,
so they are mapped the same way.

Items are read by their own type, not by the folder's: Exchange lets a mail sit in a Contacts
folder and a contact in the Inbox, and such a stray item is listed, fetched and copied as
what it is.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from exchangelib.fields import FieldOrder, FieldPath
from exchangelib.items import ALL_PROPERTIES, ID_ONLY, SHALLOW, CalendarItem, DistributionList, Task
from exchangelib.items import Contact as EWSContact
from exchangelib.properties import ItemId

from groupmigrate.backends.ews import folders as tree
from groupmigrate.backends.ews.connection import Connection
from groupmigrate.backends.ews.convert import calendar as cal
from groupmigrate.backends.ews.convert import contacts, mail, notes, tasks
from groupmigrate.backends.ews.convert.common import ews_datetime, utc
from groupmigrate.backends.ews.models import FOLDER_HIDDEN, CalendarEventItem, ContactItem, DistListItem, MailItem, TaskItem
from groupmigrate.backends.ews.services import (
    FindFolderRecords,
    FindItems,
    FolderRecord,
    GetFolderRecords,
    GetAttachments,
    GetItems,
    SinceRestriction,
    distinguished,
    folder_id,
)
from groupmigrate.errors import GroupmigrateError, Throttled, TransientError
from groupmigrate.items import Folder, Item, ItemRef, ItemType

__all__ = ["MODELS", "MailboxBase", "kind_of"]

T = TypeVar("T")

#: the exchangelib model whose fields describe each kind's items
MODELS: dict[ItemType, Any] = {
    "mail": MailItem,
    "contacts": ContactItem,
    "calendar": CalendarEventItem,
    "tasks": TaskItem,
    "notes": MailItem,
}

_FOLDER_FIELDS = ("folder_class", "name", "parent_folder_id", "total_count", "child_folder_count")
_LIST_FIELDS = ("size", "datetime_received", "last_modified_time", "item_class")


def kind_of(item: Any) -> ItemType:
    """The kind of a listed or fetched exchangelib item, from its element type and ItemClass."""
    if isinstance(item, EWSContact | DistributionList):
        return "contacts"
    if isinstance(item, CalendarItem):
        return "calendar"
    if isinstance(item, Task):
        return "tasks"
    if (getattr(item, "item_class", None) or "").lower().startswith("ipm.stickynote"):
        return "notes"
    return "mail"


class MailboxBase:
    """One mailbox on one connection."""

    def __init__(self, connection: Connection, address: str, *, impersonation: bool, owns_connection: bool = False) -> None:
        self.address = address
        self._connection = connection
        self._owns_connection = owns_connection
        self._account = connection.account(address, impersonation=impersonation)
        self._lock = threading.Lock()
        self._root: FolderRecord | None = None
        self._roles: dict[str, str] | None = None  # folder id -> role
        self._role_records: dict[str, FolderRecord] = {}
        self._system_ids: set[str] = set()
        #: item id -> (kind, is a distribution list), learned while listing or probed
        self._kinds: dict[str, tuple[ItemType, bool]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r}, {self._connection.url!r})"

    # -- plumbing -------------------------------------------------------------------------
    @property
    def profile_name(self) -> str:
        return self._connection.settings.profile.name

    def _call(self, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        return self._connection.call(fn, mailbox=self.address, idempotent=idempotent)

    def _version(self) -> Any:
        # The first access asks the server (unless the profile pins a version): map its errors.
        return self._call(lambda: self._account.version)

    def _paths(self, model: Any, names: Sequence[str]) -> list[FieldPath]:
        version = self._version()
        paths = []
        for name in names:
            field = model.get_field_by_fieldname(name)
            if field.supports_version(version):
                paths.append(FieldPath(field=field))
        return paths

    def _folder_paths(self) -> list[FieldPath]:
        from exchangelib.folders import Folder as EWSFolder

        version = self._version()
        paths = [FieldPath(field=EWSFolder.get_field_by_fieldname(n)) for n in _FOLDER_FIELDS]
        return [p for p in paths if p.field.supports_version(version)] + [FieldPath(field=FOLDER_HIDDEN)]

    def close(self) -> None:
        if self._owns_connection:
            self._connection.close()

    # -- folders --------------------------------------------------------------------------
    def _get_folders(self, names: Sequence[str]) -> list[Any]:
        """GetFolder for distinguished names; the first (the top of the mailbox) must exist."""

        def run() -> list[Any]:
            svc = GetFolderRecords(account=self._account, chunk_size=max(1, len(names)))
            ids = [distinguished(n, self.address) for n in names]
            results = list(svc.call(folders=ids, additional_fields=self._folder_paths(), shape=ID_ONLY))
            if results and isinstance(results[0], Exception):
                raise results[0]
            return results

        return self._call(run)

    def check(self) -> None:
        """Raise an AccessError subclass unless the mailbox can be opened."""
        self._top()

    def _top(self) -> FolderRecord:
        if self._root is None:
            self._load_roles()
        assert self._root is not None
        return self._root

    def _load_roles(self) -> None:
        online = self.profile_name == "exchange-online"
        role_names = list(tree.ROLE_IDS)
        names = ["msgfolderroot", *role_names]
        results = self._get_folders(names)
        roles: dict[str, str] = {}
        for name, rec in zip(names, results):
            if isinstance(rec, FolderRecord) and name in tree.ROLE_IDS:
                roles[rec.id] = tree.ROLE_IDS[name]
        self._root = results[0]
        self._roles = roles
        self._role_records = {tree.ROLE_IDS[n]: r for n, r in zip(names, results) if n in tree.ROLE_IDS and isinstance(r, FolderRecord)}
        system = tree.system_ids(self._version(), online=online)
        self._system_ids = set()
        if system:
            try:
                found = self._get_folders(["msgfolderroot", *system])
            except GroupmigrateError:
                found = []  # a server that knows fewer system folders than we ask for
            self._system_ids = {r.id for r in found[1:] if isinstance(r, FolderRecord)}

    def _records(self) -> list[FolderRecord]:
        top = self._top()

        def run() -> list[FolderRecord]:
            svc = FindFolderRecords(account=self._account, page_size=self._connection.settings.profile.page_size)
            return [r for r in svc.call_records(folder_id(top.id), self._folder_paths(), "Deep") if isinstance(r, FolderRecord)]

        return self._call(run)

    def folders(self) -> list[Folder]:
        """Every folder with user content under the top of the mailbox, parents first."""
        records = self._records()
        assert self._roles is not None and self._root is not None
        return tree.build_tree(self._root.id, records, self._roles, self._system_ids)

    def count(self, folder: Folder) -> int:
        """Items in ``folder`` as the server counts them."""

        def run() -> int:
            svc = GetFolderRecords(account=self._account, chunk_size=1)
            result = list(svc.call(folders=[folder_id(self._fid(folder))], additional_fields=self._folder_paths(), shape=ID_ONLY))
            if isinstance(result[0], Exception):
                raise result[0]
            return int(result[0].total_count or 0)

        return self._call(run)

    @staticmethod
    def _fid(folder: Folder) -> str:
        if not folder.folder_id:
            raise GroupmigrateError(f"folder {folder} has no id on this server (use a folder from folders() or ensure_folder())")
        return folder.folder_id

    # -- items ----------------------------------------------------------------------------
    def _list(
        self,
        folder: Folder,
        fields: Sequence[str],
        since: dt.datetime | None = None,
        model: Any = MailItem,
        *,
        restriction: Any = None,
        extra: Sequence[FieldPath] = (),
    ) -> Iterator[Any]:
        """The items of ``folder`` page by page (each page one FindItem, one attempt).

        ``restriction`` (an object with ``to_xml(version)``) replaces the ``since`` filter;
        ``extra`` are field paths asked for besides ``fields``.
        """
        page_size = self._connection.settings.profile.page_size
        fid = folder_id(self._fid(folder))
        if restriction is None and since is not None:
            restriction = SinceRestriction("item:DateTimeReceived", ews_datetime(since))
        order = [FieldOrder(field_path=FieldPath(field=MailItem.get_field_by_fieldname("datetime_received")))]
        offset = 0
        while True:
            paths = [*self._paths(model, fields), *extra]

            def page(at: int = offset) -> list[Any]:
                svc = FindItems(account=self._account, page_size=page_size)
                found = list(
                    svc.call(
                        folders=[fid], additional_fields=paths, restriction=restriction, order_fields=order,
                        shape=ID_ONLY, query_string=None, depth=SHALLOW, calendar_view=None,
                        max_items=page_size, offset=at,
                    )
                )  # fmt: skip
                for entry in found:
                    if isinstance(entry, Exception):
                        raise entry  # the folder itself failed: mapped like any other error
                return found

            items = self._call(page)
            yield from items
            if len(items) < page_size:
                return
            offset += len(items)

    def _learn(self, item: Any) -> ItemType:
        kind = kind_of(item)
        self._kinds[item.id] = (kind, isinstance(item, DistributionList))
        return kind

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> Iterator[ItemRef]:
        """Light references to the items of ``folder`` (received at or after ``since``)."""
        for item in self._list(folder, _LIST_FIELDS, since):
            kind = self._learn(item)
            changed = utc(item.last_modified_time) or utc(item.datetime_received)
            yield ItemRef(id=item.id, size=max(0, int(item.size or 0)), changed=changed, item_type=kind)

    def _get_items(
        self, ids: Sequence[str], model: Any, fields: Sequence[str], body_type: str | None = None, *, every: bool = False
    ) -> list[Any]:
        """One GetItem for ``ids``: the items, or the error object of each item that is gone.

        ``every`` asks with the AllProperties base shape besides ``fields``: a real server left
        a meeting's attendees out of answers that named them only as additional properties.

        Raises:
            Throttled, TransientError: when the server failed an item for a reason that a later
                attempt may cure (busy, timeout...): the caller would otherwise take it for gone.
        """
        if not ids:
            return []

        def run() -> list[Any]:
            svc = GetItems(account=self._account, chunk_size=len(ids), body_type=body_type)
            shape = ALL_PROPERTIES if every else ID_ONLY
            return list(svc.call(items=[ItemId(id=i) for i in ids], additional_fields=self._paths(model, fields), shape=shape))

        results = self._call(run)
        from exchangelib.errors import ErrorServerBusy

        from groupmigrate.backends.ews.errors import item_error

        for result in results:
            if isinstance(result, Exception):
                message, code, transient = item_error(result)
                if isinstance(result, ErrorServerBusy):
                    raise Throttled(f"{self._connection.url} is busy: {message}", retry_after=getattr(result, "back_off", None))
                if transient:
                    raise TransientError(f"an item could not be read for now ({code}: {message})")
        return results

    def _probe(self, ids: Sequence[str]) -> None:
        """Learn the kind of the items in ``ids`` not seen in a listing (one light GetItem)."""
        unknown = [i for i in dict.fromkeys(ids) if i not in self._kinds]
        for start in range(0, len(unknown), 100):
            chunk = unknown[start : start + 100]
            for item in self._get_items(chunk, MailItem, ("item_class",)):
                if not isinstance(item, Exception):
                    self._learn(item)

    def _split_contacts(self, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        lists = [i for i in ids if self._kinds.get(i, ("contacts", False))[1]]
        return [i for i in ids if i not in set(lists)], lists

    # -- reading items --------------------------------------------------------------------
    def _read_any(self, ids: Sequence[str], *, light: bool = False) -> list[Item]:
        """Neutral items for ``ids`` (in order, missing ones left out), each read by its own kind."""
        self._probe(ids)
        groups: dict[ItemType, list[str]] = {}
        for item_id in ids:
            known = self._kinds.get(item_id)
            if known is not None:  # unknown after the probe: gone
                groups.setdefault(known[0], []).append(item_id)
        found: dict[str, Item] = {}
        for kind, group in groups.items():
            for item in self._read(kind, group, light=light):
                found[item.source_id or ""] = item
        return [found[i] for i in ids if i in found]

    def _read(self, kind: ItemType, ids: Sequence[str], *, light: bool = False) -> list[Item]:
        """Neutral items for ``ids`` (in order, missing ones left out).

        ``light`` leaves out what duplicate detection does not need: attachment content and
        modified occurrences.
        """
        if not ids:
            return []
        if kind == "mail":
            return self._fetch_mail(ids)
        if kind == "notes":
            got = self._get_items(ids, MailItem, notes.FIELDS, body_type="Text")
            return [notes.to_neutral(it, i) for i, it in zip(ids, got) if not isinstance(it, Exception) and kind_of(it) == "notes"]
        if kind == "tasks":
            got = self._get_items(ids, TaskItem, tasks.FIELDS, body_type="Text")
            return [tasks.to_neutral(it, i) for i, it in zip(ids, got) if not isinstance(it, Exception) and kind_of(it) == "tasks"]
        if kind == "contacts":
            return self._fetch_contacts(ids, light=light)
        return self._fetch_calendar(ids, light=light)

    def _fetch_mail(self, ids: Sequence[str]) -> list[Item]:
        got = self._get_items(ids, MailItem, mail.FIELDS)
        out: list[Item] = []
        for item_id, item in zip(ids, got):
            if isinstance(item, Exception) or kind_of(item) != "mail" or not hasattr(item, "is_read"):
                continue  # gone, or not a message
            out.append(mail.to_neutral(item, item_id))
        return out

    def _attachments(self, items: Iterable[Any], *, light: bool = False) -> dict[str, list[Any]]:
        """Attachments with content, per item id (one GetAttachment for the whole batch)."""
        wanted: dict[str, list[Any]] = {}
        ids: list[Any] = []
        for item in items:
            if isinstance(item, Exception) or not getattr(item, "attachments", None):
                continue
            wanted[item.id] = []
            for att in item.attachments:
                if att.attachment_id is not None:
                    ids.append((item.id, att.attachment_id))
        if not ids or light:
            return wanted

        def run() -> list[Any]:
            svc = GetAttachments(account=self._account, chunk_size=len(ids))
            return list(
                svc.call(
                    items=[aid for _, aid in ids], include_mime_content=False, body_type=None,
                    filter_html_content=None, additional_fields=None,
                )
            )  # fmt: skip

        results = self._call(run)
        for (owner, _), att in zip(ids, results):
            if not isinstance(att, Exception):
                wanted[owner].append(att)
        return wanted

    def _fetch_contacts(self, ids: Sequence[str], *, light: bool = False) -> list[Item]:
        people, lists = self._split_contacts(ids)
        found: dict[str, Any] = {}
        for group, model, fields in ((people, ContactItem, contacts.FIELDS), (lists, DistListItem, contacts.DL_FIELDS)):
            got = self._get_items(group, model, fields if not light else [f for f in fields if f != "attachments"], body_type="Text")
            for item_id, item in zip(group, got):
                if not isinstance(item, Exception) and kind_of(item) == "contacts":
                    found[item_id] = item
        files = self._attachments(found.values(), light=light)
        return [
            contacts.to_neutral(found[i], i, attachments=files.get(found[i].id, []) if not light else [])
            for i in ids
            if i in found
        ]

    def _fetch_calendar(self, ids: Sequence[str], *, light: bool = False) -> list[Item]:
        fields = cal.FIELDS if not light else tuple(f for f in cal.FIELDS if f != "attachments")
        got = self._get_items(ids, CalendarEventItem, fields, every=True)
        items = {i: it for i, it in zip(ids, got) if not isinstance(it, Exception) and kind_of(it) == "calendar"}
        exceptions: dict[str, list[Any]] = {}
        if not light:
            wanted = [
                (master_id, occ.id)
                for master_id, item in items.items()
                for occ in getattr(item, "modified_occurrences", None) or ()
                if occ.id
            ]
            if wanted:
                got_exc = self._get_items([oid for _, oid in wanted], CalendarEventItem, cal.EXCEPTION_FIELDS, every=True)
                for (master_id, _), exc in zip(wanted, got_exc):
                    if not isinstance(exc, Exception):
                        exceptions.setdefault(master_id, []).append(exc)
        files = self._attachments(items.values(), light=light)
        return [
            cal.to_neutral(items[i], i, attachments=files.get(items[i].id, []) if not light else [], exceptions=exceptions.get(i, []))
            for i in ids
            if i in items
        ]
