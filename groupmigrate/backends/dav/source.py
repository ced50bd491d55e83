"""Reading mailboxes from a CalDAV/CardDAV server, provably without a write.

The source's HTTP session refuses every method but PROPFIND, REPORT, GET, HEAD and OPTIONS
(:class:`~groupmigrate.errors.SourceIsReadOnly`), whatever path a request takes.

An item's id is its resource's href (stable on DAV: a resource keeps its name); the item's
UID travels inside it. :meth:`DavSourceMailbox.sync_items` keeps a sync-collection token or
an ETag map per folder (:mod:`groupmigrate.backends.dav.sync`).

A resource the iCalendar or vCard converter refuses is given by :meth:`DavSourceMailbox.fetch`
as :class:`~groupmigrate.protocols.Unreadable`, under its href, with the converter's reason
(which names the resource or UID and the property, never the data): the migration reports it
as failed with that reason, and the next run tries it again.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence

from groupmigrate.auth import Auth
from groupmigrate.backends.dav.endpoint import DavEndpoint, MailboxBase
from groupmigrate.backends.dav.listing import multiget
from groupmigrate.backends.dav.resources import Reader
from groupmigrate.backends.dav.sync import refs_of, sync_folder
from groupmigrate.items import Folder, Item, ItemRef
from groupmigrate.protocols import SyncResult, Unreadable

__all__ = ["DavSource", "DavSourceMailbox"]


class DavSource(DavEndpoint):
    """A CalDAV/CardDAV server mailboxes are read from (see :class:`DavEndpoint` for the arguments)."""

    read_only = True

    def open_mailbox(self, address: str, auth: Auth | None = None) -> DavSourceMailbox:
        return DavSourceMailbox(self, address, auth)


class DavSourceMailbox(MailboxBase):
    """One mailbox, read only: folders are its calendars and address books (see
    :mod:`groupmigrate.backends.dav.folders`)."""

    def __init__(self, endpoint: DavEndpoint, address: str, auth: Auth | None) -> None:
        super().__init__(endpoint, address, auth)
        self.reader = Reader(self.client, address, "source")
        self._notes: dict[str, list[str]] = {}
        self._notes_lock = threading.Lock()

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> Iterator[ItemRef]:
        """The folder's resources (last changed at or after ``since``, when given and the
        server tells the time), in href order."""
        place = self.place(folder)
        if place is None:
            return iter(())
        found = [m for m in self.members(place).values() if since is None or m.changed is None or m.changed >= since]
        return iter(refs_of(place, found))

    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item | Unreadable]:
        """The items for ``refs`` in their order, from one multiget REPORT; resources gone are
        left out, and those the converters refuse are given as :class:`Unreadable` with the reason.
        What reading an item had to leave out is kept for :meth:`read_notes`."""
        place = self.place(folder)
        if place is None or not refs:
            return iter(())
        collection = place.collection
        data = multiget(self.client, collection, [r.id for r in refs])
        found = [(r.id, data[r.id][1]) for r in refs if r.id in data]
        items, notes, refused = self.reader.convert_all(collection, found)
        read = {item.source_id: item for item in items}
        with self._notes_lock:
            self._notes.update(notes)
        out: list[Item | Unreadable] = []
        for ref in refs:
            item = read.get(ref.id)
            if item is not None:
                out.append(item)
            elif ref.id in refused:
                out.append(Unreadable(ref.id, refused[ref.id], ref.item_type, label=ref.id))
        return iter(out)

    def read_notes(self, source_ids: Sequence[str]) -> dict[str, list[str]]:
        """What reading each of these items had to leave out or guess (a photo given by URL, a
        member not in the address book, an unknown time zone), by source id; each is told once."""
        with self._notes_lock:
            return {i: self._notes.pop(i) for i in source_ids if i in self._notes}

    def count(self, folder: Folder) -> int:
        place = self.place(folder)
        return len(self.members(place)) if place is not None else 0

    def sync_items(self, folder: Folder, state: str | None) -> SyncResult:
        """Resources new or changed since ``state`` (every one when None), and those removed.

        Raises:
            SyncStateUnusable: the state is not one of this backend's (the caller lists by date).
        """
        place = self.place(folder)
        if place is None:
            return SyncResult((), state or "")
        return sync_folder(self.client, place, state, self.endpoint.sync)

