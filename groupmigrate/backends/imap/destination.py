"""Writing mailboxes over IMAP: folders by role and path, messages by APPEND, exactly once.

Folders: a source folder with a role (inbox, sent, drafts, deleted, junk, archive) goes to the
server's folder with that SPECIAL-USE attribute (RFC 6154), so a second "Sent" is never
created; its subfolders follow it. Other folders are created by path with the server's
delimiter (modified UTF-7 names) and subscribed. Folders of other item types (calendars,
contacts...) are not created: nothing of theirs can be stored, and the migrator reports
their items as not supported.

Messages: one APPEND per message, or one MULTIAPPEND (RFC 3502) per batch where offered,
each message with its flags and keywords and its INTERNALDATE. APPENDUID (UIDPLUS,
RFC 4315) gives each new message's id ``"<UIDVALIDITY>.<UID>"``; without it the message is
found again by Message-ID, size and SHA-256. A message larger than the server's APPENDLIMIT
(RFC 7889) is refused before it is sent.

Exactly once: before appending, the folder's UIDNEXT is noted. When an APPEND went out whole
and its answer was lost (the connection broke, or no answer came in time), the outcome is
settled here, before :meth:`IMAPDestinationMailbox.create_items` returns: on a fresh
connection the folder is searched above that UIDNEXT for the same Message-ID (every new
message when there is none), and a candidate counts only when its RFC822.SIZE and the
SHA-256 of its ``BODY.PEEK[]`` equal those of the bytes sent. Found: created, with its id
and a warning. Certainly absent (the connection broke, and a second look a moment later
finds nothing either): not stored, the executor sends it again. The check failed, or the
server timed out (it may still be storing the message): outcome unknown (``maybe_applied``).
Nothing is ever sent twice here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence

import attrs

from groupmigrate.auth import Auth
from groupmigrate.backends.imap.connection import (
    IMAPConnection,
    LostAnswer,
    Outgoing,
    Slot,
    internal_date,
)
from groupmigrate.backends.imap.convert import (
    canonical,
    digest,
    flags_for,
    header_message_id,
    item_id,
    message_from_fetch,
)
from groupmigrate.backends.imap.endpoint import IMAPEndpoint, MailboxBase
from groupmigrate.backends.imap.errors import (
    THROTTLE_CODES,
    TRANSIENT_CODES,
    CommandRefused,
    is_missing,
    refusal,
    response_code,
)
from groupmigrate.backends.imap.folders import INBOX_PATH, FolderTree
from groupmigrate.errors import AccessDenied, ConnectionFailed, GroupmigrateError
from groupmigrate.items import Folder, Item, ItemType, Message
from groupmigrate.protocols import CreateResult

__all__ = ["IMAPDestination", "IMAPDestinationMailbox"]

log = logging.getLogger("groupmigrate.imap")

#: roles an IMAP server has a folder for (SPECIAL-USE, or INBOX)
MAIL_ROLES = frozenset({"inbox", "sent", "drafts", "deleted", "junk", "archive"})
#: the names Exchange and Outlook give their well-known folders, which no IMAP server uses
#: (a subfolder of one, met without its parent, goes under the server's folder of that role)
EXCHANGE_NAMES = {"sent items": "sent", "deleted items": "deleted", "junk email": "junk", "junk e-mail": "junk"}
#: seconds to wait before looking a second time for a message whose APPEND answer was lost
SETTLE_SECONDS = 1.0
_LIST_ITEMS = ["UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT FROM DATE)]"]
_UNSAFE_IN_NAMES = re.compile(r"[./\\~%*]")
_FOUND_AFTER_LOSS = ("the answer to its APPEND was lost; found in the folder afterwards (same Message-ID, size and "
                     "SHA-256): not sent again")  # fmt: skip


class IMAPDestination(IMAPEndpoint):
    """An IMAP server mailboxes are written to (see :class:`IMAPEndpoint` for the arguments)."""

    def open_mailbox(self, address: str, auth: Auth | None = None) -> IMAPDestinationMailbox:
        return IMAPDestinationMailbox(self, address, auth)


@attrs.frozen(repr=False)
class _Pending:
    index: int
    message: Message
    out: Outgoing
    message_id: str | None
    size: int
    sha256: str
    #: what had to be done differently (a warning on the result)
    note: str | None = None


class IMAPDestinationMailbox(MailboxBase):
    """One mailbox, written with APPEND."""

    def __init__(self, endpoint: IMAPEndpoint, address: str, auth: Auth | None) -> None:
        super().__init__(endpoint, address, auth)
        #: source path → destination path of folders placed by role (their subfolders follow)
        self._placed: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._create_lock = threading.Lock()

    def _check_more(self, conn: IMAPConnection) -> None:
        if conn.has("ACL"):
            answer = conn._call("MYRIGHTS", "INBOX", lambda: conn.client._imap.myrights('"INBOX"'))
            data = answer[1][0] if answer and answer[1] else b""
            rights = (data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)).rsplit(" ", 1)[-1]
            if "i" not in rights:
                raise AccessDenied(f"{self.address}: this login may not add messages to INBOX (rights {rights!r})")

    # -- folders ----------------------------------------------------------------------------
    def ensure_folder(self, folder: Folder) -> Folder:
        """The folder with ``folder``'s role, else the one at its path (created, with its
        parents, and subscribed); for a non-mail folder, the one at its path if any, else a
        folder that is not created (nothing of that type can be stored)."""
        with self._create_lock, self.pool.connection() as conn:
            tree = self.tree(conn, fresh=True)
            if folder.kind == "mail" and folder.role in MAIL_ROLES:
                placed = tree.with_role(folder.role)
                if placed is not None and placed.name is not None:
                    self._placed[folder.path] = placed.folder.path
                    return placed.folder
            path = self._translate(tree, folder.path)
            listed = tree.at(path)
            if listed is not None and listed.name is not None and listed.selectable:
                if folder.kind != "mail":
                    return Folder(listed.folder.path, kind=folder.kind, role=folder.role, folder_id=listed.name)
                return listed.folder
            if folder.kind != "mail":
                return Folder(path, kind=folder.kind, role=folder.role, folder_id=None)
            created = self._create(conn, tree, path, folder)
            found = self.tree(conn, fresh=True).at(created)
            if found is None or found.name is None:
                raise GroupmigrateError(f"folder {folder}: created as {'/'.join(created)!r}, but the server does not list it")
            if folder.role is not None:
                self._placed[folder.path] = found.folder.path
            return found.folder

    def _translate(self, tree: FolderTree, path: tuple[str, ...]) -> tuple[str, ...]:
        """Where a source path goes: under the destination folder of a parent placed by role,
        with names the server can hold (no delimiter inside a name)."""
        for length in range(len(path) - 1, 0, -1):
            placed = self._placed.get(path[:length])
            if placed is not None:
                path = placed + path[length:]
                break
        else:
            if len(path) > 1 and tree.at(path[:1]) is None:
                # a subfolder of a well-known folder whose own mapping this session did not see
                # (it was mapped by an earlier run): "Sent Items/2025" goes under the \Sent folder
                role = EXCHANGE_NAMES.get(path[0].casefold())
                placed_folder = tree.with_role(role) if role is not None else None
                if placed_folder is not None:
                    path = placed_folder.folder.path + path[1:]
        if path and path[0].casefold() == INBOX_PATH[0].casefold():
            path = INBOX_PATH + path[1:]
        delimiter = tree.delimiter
        return tuple(p.replace(delimiter, "_") if delimiter else p for p in path)

    def _create(self, conn: IMAPConnection, tree: FolderTree, path: tuple[str, ...], folder: Folder) -> tuple[str, ...]:
        """CREATE ``path`` and its missing parents, subscribing each; a name the server refuses
        for a character it cannot hold is created once more with ``_`` for such characters."""
        parts = list(path)
        for depth in range(1, len(parts) + 1):
            try:
                self._create_missing(conn, tree, tuple(parts[:depth]))
            except CommandRefused as exc:
                safe = _UNSAFE_IN_NAMES.sub("_", parts[depth - 1])
                if exc.code not in ("CANNOT", None) or safe == parts[depth - 1]:
                    raise self._refused(folder, tree, tuple(parts[:depth]), exc) from None
                log.warning("%s: folder %s: the server refused the name %r (%s); creating it as %r", self.address, folder,
                            parts[depth - 1], exc.text, safe)  # fmt: skip
                parts[depth - 1] = safe
                try:
                    self._create_missing(conn, tree, tuple(parts[:depth]))
                except CommandRefused as again:
                    raise self._refused(folder, tree, tuple(parts[:depth]), again) from None
        return tuple(parts)

    def _create_missing(self, conn: IMAPConnection, tree: FolderTree, path: tuple[str, ...]) -> None:
        listed = tree.at(path)
        if listed is None or listed.name is None:
            self._create_one(conn, tree.name_of(path))

    @staticmethod
    def _refused(folder: Folder, tree: FolderTree, path: tuple[str, ...], exc: CommandRefused) -> GroupmigrateError:
        return GroupmigrateError(f"folder {folder}: the destination refused to create {tree.name_of(path)!r}: {exc.text}")

    def _create_one(self, conn: IMAPConnection, name: str) -> None:
        try:
            conn.create(name)
        except CommandRefused as exc:
            if exc.code != "ALREADYEXISTS":
                raise
        with contextlib.suppress(CommandRefused):
            conn.subscribe(name)

    def _recreate(self, conn: IMAPConnection, folder: Folder) -> None:
        """Create ``folder`` again after the server said it does not exist (TRYCREATE)."""
        with self._create_lock:
            tree = self.tree(conn, fresh=True)
            self._create(conn, tree, self._translate(tree, folder.path), folder)
            self.tree(conn, fresh=True)

    def _target(self, conn: IMAPConnection, folder: Folder) -> str:
        """The mailbox name to append to (created when it does not exist yet)."""
        name = self.mailbox_name(conn, folder)
        if name is not None:
            return name
        with self._create_lock:
            tree = self.tree(conn, fresh=True)
            path = self._translate(tree, folder.path)
            listed = tree.at(path)
            if listed is None or listed.name is None or not listed.selectable:
                path = self._create(conn, tree, path, folder)
                tree = self.tree(conn, fresh=True)
            return tree.name_of(path)

    # -- writing ----------------------------------------------------------------------------
    def create_items(self, folder: Folder, items: Sequence[Item], stamps: Sequence[str] | None = None) -> list[CreateResult]:
        """APPEND ``items`` to ``folder`` (one MULTIAPPEND where offered); one result per item.

        ``stamps`` are ignored: IMAP keeps no hidden property to hold them.
        """
        results: list[CreateResult | None] = [None] * len(items)
        pending: list[_Pending] = []
        for index, item in enumerate(items):
            if not isinstance(item, Message):
                results[index] = CreateResult(ok=False, code="UnsupportedItemType",
                                              error=f"an IMAP mailbox holds mail only; this {item.item_type} item cannot be stored")  # fmt: skip
                continue
            data = item.mime
            if not data:
                results[index] = CreateResult(ok=False, code="NoContent", error="the message has no MIME content to store")
                continue
            out = Outgoing(data, flags_for(item), internal_date(item.received))
            pending.append(_Pending(index, item, out, header_message_id(data), len(canonical(data)), digest(data)))
        if not pending:
            return [r if r is not None else CreateResult(ok=False, error="not sent") for r in results]
        with self.pool.slot() as slot:
            conn = slot.connection
            name = self._target(conn, folder)
            limit = _int(conn.capability_value("APPENDLIMIT"))
            sendable = []
            for entry in pending:
                if limit is not None and len(entry.out.data) > limit:
                    results[entry.index] = CreateResult(
                        ok=False, code="TooLarge",
                        error=f"the message ({len(entry.out.data):,} bytes) is larger than the server's APPENDLIMIT "
                        f"(the maximum message size it accepts: {limit:,} bytes)",
                    )  # fmt: skip
                else:
                    sendable.append(entry)
            if sendable:
                self._append_all(slot, name, folder, sendable, results)
        return [r if r is not None else CreateResult(ok=False, transient=True, error="not sent") for r in results]

    def _append_all(self, slot: Slot, name: str, folder: Folder, pending: list[_Pending], results: list[CreateResult | None]) -> None:
        conn = slot.connection
        try:
            status = conn.status(name, ["UIDNEXT", "UIDVALIDITY"])
        except CommandRefused as exc:
            if not is_missing(exc):
                raise
            # deleted on the destination since it was made (or listed): made again, empty
            log.warning("%s: folder %s (%r) no longer exists on the destination; creating it again", self.address, folder, name)
            self._recreate(conn, folder)
            status = conn.status(name, ["UIDNEXT", "UIDVALIDITY"])
        uidnext, uidvalidity = status.get("UIDNEXT", 1), status.get("UIDVALIDITY", 0)
        groups: list[list[_Pending]] = [pending] if conn.has("MULTIAPPEND") and len(pending) > 1 else [[p] for p in pending]
        unidentified: list[_Pending] = []
        created_any = False
        while groups:
            group = groups.pop(0)
            try:
                answer = conn.append(name, [p.out for p in group])
            except LostAnswer as lost:
                for entry, result in zip(group, self._reconcile(slot, name, group, uidnext, uidvalidity, lost)):
                    results[entry.index] = result
                self._not_sent(groups, results, "not sent: the connection was lost while an earlier message was being stored")
                break
            except ConnectionFailed as exc:  # nothing of this command was applied
                if not created_any:
                    raise
                self._not_sent([group, *groups], results, str(exc))
                break
            if answer.status == "OK":
                created_any = True
                appended = _appenduid(answer.text)
                if appended is not None and len(appended[1]) == len(group):
                    for entry, uid in zip(group, appended[1]):
                        results[entry.index] = CreateResult(ok=True, item_id=item_id(appended[0], uid),
                                                            warnings=(entry.note,) if entry.note else ())  # fmt: skip
                else:
                    unidentified.extend(group)
                continue
            code = response_code(answer.text)
            if len(group) > 1 and code not in THROTTLE_CODES and code not in TRANSIENT_CODES and code != "TRYCREATE":
                # a MULTIAPPEND is refused as a whole (nothing stored): one by one, the messages
                # that can be stored are, and the refusal lands on the one it is about
                groups[:0] = [[p] for p in group]
                continue
            if code == "OVERQUOTA":
                for entry in group:
                    results[entry.index] = CreateResult(ok=False, code="OverQuota",
                                                        error=f"the destination mailbox is over its quota: {answer.text}")  # fmt: skip
                continue
            if code in THROTTLE_CODES or code in TRANSIENT_CODES:
                error = refusal("APPEND", answer.status, answer.text, name)
                if not created_any:
                    raise error
                self._not_sent([group, *groups], results, str(error))
                break
            if code == "TRYCREATE":  # the folder went away meanwhile: make it again, send later
                with contextlib.suppress(GroupmigrateError):
                    self._recreate(conn, folder)
                self._not_sent([group, *groups], results, f"the folder {folder} did not exist on the destination; created again")
                break
            (entry,) = group
            keywords = [f for f in entry.out.flags if not f.startswith("\\")]
            if keywords and code not in ("TOOBIG", "OVERQUOTA", "PARSE"):
                # refused, not stored: perhaps for a keyword (too long, or none allowed); the
                # message matters more than its categories, so it goes once more without them
                plain = attrs.evolve(entry.out, flags=tuple(f for f in entry.out.flags if f.startswith("\\")))
                note = (f"stored without its keywords {', '.join(keywords)} (categories, or a completed flag): the server "
                        f"refused the message with them ({answer.text})")  # fmt: skip
                groups.insert(0, [attrs.evolve(entry, out=plain, note=note)])
                continue
            if code == "TOOBIG":
                reason = f"the message ({len(entry.out.data):,} bytes) is larger than the server accepts: {answer.text}"
            else:
                reason = f"the server refused the message: {answer.status} {answer.text}"
            results[entry.index] = CreateResult(ok=False, code=code or ("BadCommand" if answer.status == "BAD" else "Refused"), error=reason)
        if unidentified:  # stored without APPENDUID: found by content (on a new connection if need be)
            conn = slot.connection
            try:
                if conn.broken:
                    conn = slot.reconnect()
            except GroupmigrateError as exc:
                log.info("%s: %s: no connection to identify new messages (%s)", self.address, name, exc)
            self._identify(conn, name, unidentified, uidnext, uidvalidity, results)

    @staticmethod
    def _not_sent(groups: list[list[_Pending]], results: list[CreateResult | None], reason: str) -> None:
        for group in groups:
            for entry in group:
                results[entry.index] = CreateResult(ok=False, transient=True, error=reason)

    def _identify(self, conn: IMAPConnection, name: str, group: list[_Pending], uidnext: int, uidvalidity: int,
                  results: list[CreateResult | None]) -> None:  # fmt: skip
        """Ids of messages stored without APPENDUID (no UIDPLUS): found by Message-ID, size and SHA-256."""
        try:
            found = self._find(conn, name, group, uidnext, uidvalidity)
        except GroupmigrateError as exc:
            found = {}
            log.info("%s: %s: new messages could not be identified (%s)", self.address, name, exc)
        for entry in group:
            uid = found.get(entry.index)
            notes = (entry.note,) if entry.note else ()
            if uid is not None:
                results[entry.index] = CreateResult(ok=True, item_id=item_id(uidvalidity, uid), warnings=notes)
            else:
                results[entry.index] = CreateResult(ok=True, item_id=None, warnings=(*notes,
                    "stored, but the server gave no id (no UIDPLUS) and the message could not be found again"))  # fmt: skip

    def _reconcile(self, slot: Slot, name: str, group: list[_Pending], uidnext: int, uidvalidity: int,
                   lost: LostAnswer) -> list[CreateResult]:  # fmt: skip
        """What became of ``group`` after its APPEND answer was lost (see the module docs)."""
        try:
            conn = slot.reconnect()
            found = self._find(conn, name, group, uidnext, uidvalidity)
            if len(found) < len(group):
                time.sleep(SETTLE_SECONDS)  # a server finishing the command as the connection dropped
                found = self._find(conn, name, group, uidnext, uidvalidity)
        except GroupmigrateError as exc:
            return [CreateResult(ok=False, maybe_applied=True, code="OutcomeUnknown",
                                 error=f"{lost}; checking the folder afterwards failed too ({exc})")] * len(group)  # fmt: skip
        out = []
        for entry in group:
            uid = found.get(entry.index)
            if uid is not None:
                log.warning("%s: %s", self.address, f"{lost}; the message was found in the folder afterwards (UID {uid})")
                out.append(CreateResult(ok=True, item_id=item_id(uidvalidity, uid),
                                        warnings=(_FOUND_AFTER_LOSS, *((entry.note,) if entry.note else ()))))  # fmt: skip
            elif found or lost.timed_out:
                # part of an all-or-nothing MULTIAPPEND was found, or the server may still be storing it
                why = "the rest of its MULTIAPPEND was stored" if found else "the server did not answer in time and may still store it"
                out.append(CreateResult(ok=False, maybe_applied=True, code="OutcomeUnknown",
                                        error=f"{lost}; not found in the folder, but {why}"))  # fmt: skip
            else:
                out.append(CreateResult(ok=False, transient=True, code="NotStored",
                                        error=f"{lost}; the folder does not hold it: it was not stored"))  # fmt: skip
        return out

    def _find(self, conn: IMAPConnection, name: str, group: list[_Pending], uidnext: int, uidvalidity: int) -> dict[int, int]:
        """index → UID of the messages of ``group`` found above ``uidnext`` (Message-ID, then
        RFC822.SIZE, then the SHA-256 of the body); each UID matches one message at most."""
        box = conn.examine(name)
        if box.uidvalidity != uidvalidity:
            raise GroupmigrateError(f"{name!r}: UIDVALIDITY changed from {uidvalidity} to {box.uidvalidity}; the check cannot be trusted")
        if box.uidnext is not None and box.uidnext <= uidnext:
            return {}
        taken: set[int] = set()
        sizes: dict[int, int] = {}
        every_new: list[int] | None = None
        found: dict[int, int] = {}
        for entry in group:
            if entry.message_id:
                candidates = conn.search(["UID", f"{uidnext}:*", "HEADER", "Message-ID", entry.message_id])
            else:
                if every_new is None:
                    every_new = conn.search(["UID", f"{uidnext}:*"])
                candidates = every_new
            candidates = sorted(u for u in candidates if u >= uidnext and u not in taken)
            unknown = [u for u in candidates if u not in sizes]
            if unknown:
                for uid, data in conn.fetch(unknown, ["UID", "RFC822.SIZE"]).items():
                    sizes[uid] = int(data.get(b"RFC822.SIZE") or -1)
            for uid in candidates:
                if sizes.get(uid) != entry.size:
                    continue
                body = conn.fetch([uid], ["UID", "BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
                if isinstance(body, bytes) and digest(body) == entry.sha256:
                    found[entry.index] = uid
                    taken.add(uid)
                    break
        return found

    # -- reading back ---------------------------------------------------------------------------
    def existing(self, folder: Folder, item_type: ItemType) -> Iterator[Item]:
        """The messages of ``folder`` without their bodies (Message-ID, subject, sender and
        date from the header fields; flags; INTERNALDATE; size)."""
        if item_type != "mail":
            return iter(())
        with self.pool.connection() as conn:
            opened = self.examine(conn, folder)
            if opened is None or opened[1].exists == 0:
                return iter(())
            box = opened[1]
            answer = conn.fetch("1:*", _LIST_ITEMS)
        return iter([message_from_fetch(item_id(box.uidvalidity, uid), answer[uid], with_body=False) for uid in sorted(answer)])

    def fetch_existing(self, folder: Folder, item_ids: Sequence[str]) -> Iterator[Item]:
        """The messages ``item_ids`` with their MIME, in that order; ids gone are left out."""
        return self.fetch_messages(folder, item_ids)

    def count(self, folder: Folder) -> int:
        return self.message_count(folder)

    def free_space(self) -> int | None:
        """Bytes the mailbox can still take (QUOTA, RFC 9208: the STORAGE resource); None when the server does not say."""
        with self.pool.connection() as conn:
            if not conn.has("QUOTA"):
                return None
            try:
                quotas = conn.quota_root()
            except CommandRefused:
                return None
        storage = [(usage, limit) for resource, usage, limit in quotas if resource == "STORAGE"]
        if not storage:
            return None
        return max(0, min((limit - usage) * 1024 for usage, limit in storage))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _appenduid(text: str) -> tuple[int, list[int]] | None:
    """UIDVALIDITY and the UIDs (in order) of an ``[APPENDUID <uidvalidity> <uid-set>]`` answer; None without."""
    match = re.search(r"\[APPENDUID (\d+) ([\d:,]+)\]", text, re.I)
    if not match:
        return None
    uids: list[int] = []
    for part in match.group(2).split(","):
        first, _, last = part.partition(":")
        if last:
            low, high = sorted((int(first), int(last)))
            uids.extend(range(low, high + 1))
        else:
            uids.append(int(first))
    return int(match.group(1)), uids

