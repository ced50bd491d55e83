"""Reading mailboxes over IMAP, provably without a write.

Every source connection is guarded (:mod:`~groupmigrate.backends.imap.connection`): only read
commands leave it, folders are opened with EXAMINE (never SELECT) and bodies fetched with
``BODY.PEEK[]``, so ``\\Seen`` and ``\\Recent`` stay as they were.

A message's id is ``"<UIDVALIDITY>.<UID>"``. Sync states (:meth:`IMAPSourceMailbox.sync_items`)
are small JSON texts: the folder's UIDVALIDITY, the highest UID seen and, where the server
offers CONDSTORE (RFC 7162), its HIGHESTMODSEQ; the next call lists the UIDs above it and the
messages whose flags changed since. A folder whose UIDVALIDITY changed has new ids for every
message: its state is refused (:class:`~groupmigrate.errors.SourceRenumbered`)
and the migrator lists it again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from groupmigrate.auth import Auth
from groupmigrate.backends.imap.convert import item_id
from groupmigrate.backends.imap.endpoint import IMAPEndpoint, MailboxBase
from groupmigrate.backends.imap.errors import SyncStateUnusable
from groupmigrate.errors import SourceRenumbered
from groupmigrate.items import Folder, Item, ItemRef
from groupmigrate.protocols import SyncResult

__all__ = ["IMAPSource", "IMAPSourceMailbox"]

log = logging.getLogger("groupmigrate.imap")

_LIST_ITEMS = ["UID", "RFC822.SIZE", "INTERNALDATE"]
_STATE_VERSION = 1


class IMAPSource(IMAPEndpoint):
    """An IMAP server mailboxes are read from (see :class:`IMAPEndpoint` for the arguments)."""

    read_only = True

    def open_mailbox(self, address: str, auth: Auth | None = None) -> IMAPSourceMailbox:
        return IMAPSourceMailbox(self, address, auth)


class IMAPSourceMailbox(MailboxBase):
    """One mailbox, read only."""

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> Iterator[ItemRef]:
        """The folder's messages (received at or after ``since``: SEARCH SINCE works on dates,
        so the day before is searched and INTERNALDATE decides)."""
        with self.pool.connection() as conn:
            opened = self.examine(conn, folder)
            if opened is None:
                return iter(())
            _name, box = opened
            if box.exists == 0:
                return iter(())
            if since is not None:
                day = (since.astimezone(dt.timezone.utc) - dt.timedelta(days=1)).date()
                uids: Sequence[int] | str = conn.search(["SINCE", day])
                if not uids:
                    return iter(())
            else:
                uids = "1:*"
            answer = conn.fetch(uids, _LIST_ITEMS)
        refs = []
        for uid in sorted(answer):
            data = answer[uid]
            received = _utc(data.get(b"INTERNALDATE"))
            if since is not None and (received is None or received < since):
                continue
            refs.append(ItemRef(item_id(box.uidvalidity, uid), int(data.get(b"RFC822.SIZE") or 0), received, "mail"))
        return iter(refs)

    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item]:
        """The messages for ``refs`` in their order, in one UID FETCH; ids gone (expunged, or of
        an earlier UIDVALIDITY) are left out."""
        return self.fetch_messages(folder, [ref.id for ref in refs])

    def count(self, folder: Folder) -> int:
        return self.message_count(folder)

    # -- sync states ------------------------------------------------------------------------
    def sync_items(self, folder: Folder, state: str | None) -> SyncResult:
        """Messages new since ``state`` (UIDs above the last one seen) and, with CONDSTORE,
        those whose flags changed; every message when ``state`` is None.

        Raises:
            SourceRenumbered: the state is of another folder generation (UIDVALIDITY changed:
                every id changed); the planner lists the folder whole and matches by content.
            SyncStateUnusable: the state is not one of ours, or CONDSTORE went away.
        """
        previous = _read_state(state, folder) if state else None
        with self.pool.connection() as conn:
            opened = self.examine(conn, folder)
            if opened is None:
                return SyncResult((), state or "")
            _name, box = opened
            if previous is not None and previous["uidvalidity"] != box.uidvalidity:
                raise SourceRenumbered(
                    f"folder {folder}: UIDVALIDITY changed from {previous['uidvalidity']} to {box.uidvalidity} "
                    "(the server renumbered its messages): every message has a new id"
                )
            condstore = conn.has("CONDSTORE") and box.highestmodseq is not None
            top = (box.uidnext - 1) if box.uidnext else None
            refs: dict[int, ItemRef] = {}
            last = int(previous["uid"]) if previous is not None else 0
            if box.exists:
                answer = conn.fetch(f"{last + 1}:*", _LIST_ITEMS)
                for uid, data in answer.items():
                    if uid > last and (top is None or uid <= top):
                        refs[uid] = _ref(box.uidvalidity, uid, data)
                if previous is not None and condstore and previous.get("modseq") is not None and last > 0:
                    changed = conn.fetch(f"1:{last}", _LIST_ITEMS, [f"CHANGEDSINCE {int(previous['modseq'])}"])
                    for uid, data in changed.items():
                        if uid <= last:
                            refs[uid] = _ref(box.uidvalidity, uid, data)
            if top is None:
                top = max([last, *refs])
            new_state: dict[str, int] = {"v": _STATE_VERSION, "uidvalidity": box.uidvalidity, "uid": max(top, last)}
            if condstore and box.highestmodseq is not None:
                new_state["modseq"] = box.highestmodseq
        ordered = tuple(refs[uid] for uid in sorted(refs))
        return SyncResult(ordered, json.dumps(new_state, separators=(",", ":")))


def _read_state(state: str, folder: Folder) -> dict[str, Any]:
    try:
        data = json.loads(state)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("v") != _STATE_VERSION or not isinstance(data.get("uidvalidity"), int) \
            or not isinstance(data.get("uid"), int):  # fmt: skip
        raise SyncStateUnusable(f"folder {folder}: the sync state is not an IMAP sync state of this version")
    return data


def _utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    moment: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _ref(uidvalidity: int, uid: int, data: dict[bytes, Any]) -> ItemRef:
    return ItemRef(item_id(uidvalidity, uid), int(data.get(b"RFC822.SIZE") or 0), _utc(data.get(b"INTERNALDATE")), "mail")
