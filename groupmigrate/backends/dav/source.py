"""Reading mailboxes from a CalDAV/CardDAV server, provably without a write.

The source's HTTP session refuses every method but PROPFIND, REPORT, GET, HEAD and OPTIONS
(:class:`~groupmigrate.errors.SourceIsReadOnly`), whatever path a request takes.

An item's id is its resource's href (stable on DAV: a resource keeps its name); the item's
UID travels inside it. :meth:`DavSourceMailbox.sync_items` keeps a sync-collection token or
an ETag map per folder (:mod:`groupmigrate.backends.dav.sync`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from groupmigrate.auth import Auth
from groupmigrate.backends.dav.endpoint import DavEndpoint, MailboxBase
from groupmigrate.backends.dav.resources import Reader
from groupmigrate.backends.dav.sync import refs_of, sync_folder
from groupmigrate.items import Folder, Item, ItemRef
from groupmigrate.protocols import SyncResult

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

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> Iterator[ItemRef]:
        """The folder's resources (last changed at or after ``since``, when given and the
        server tells the time), in href order."""
        place = self.place(folder)
        if place is None:
            return iter(())
        found = [m for m in self.members(place).values() if since is None or m.changed is None or m.changed >= since]
        return iter(refs_of(place, found))

    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item]:
        """The items for ``refs`` in their order, from one multiget REPORT; resources gone, or
        that cannot be read (logged with the reason), are left out."""
        place = self.place(folder)
        if place is None or not refs:
            return iter(())
        return iter(self.reader.read(place.collection, [r.id for r in refs]))

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
