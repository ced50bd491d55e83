"""The contracts between the migrator and the backends.

A backend offers a :class:`Source` or :class:`Destination` for one server endpoint; opening
a mailbox on it gives a :class:`SourceMailbox` or :class:`DestinationMailbox`, the object
that does the work for one account. What a backend can do is data (:class:`Capabilities`),
not a set of exceptions to catch. Optional abilities are separate protocols
(:class:`SupportsSyncState`) checked with ``isinstance``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import attrs

from groupmigrate.auth import Auth
from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Folder, Item, ItemRef, ItemType

__all__ = [
    "CreateResult",
    "Destination",
    "DestinationMailbox",
    "Source",
    "SourceMailbox",
    "SupportsSyncState",
    "SyncResult",
]


@attrs.frozen
class CreateResult:
    """Outcome of creating one item: its new id, or the reason it was refused.

    ``warnings`` lists what the backend had to do differently (e.g. an attachment re-added).
    """

    ok: bool
    item_id: str | None = None
    error: str | None = None
    code: str | None = None
    transient: bool = False
    warnings: tuple[str, ...] = ()


@attrs.frozen
class SyncResult:
    """Items changed since a sync state, and the state to pass next time."""

    refs: tuple[ItemRef, ...]
    state: str
    deleted: tuple[str, ...] = ()


@runtime_checkable
class SourceMailbox(Protocol):
    """Read access to one mailbox. It performs no write on the server."""

    address: str

    def check(self) -> None:
        """Raise an :class:`~groupmigrate.errors.AccessError` subclass unless the mailbox can be read."""

    def folders(self) -> list[Folder]:
        """Every folder of the mailbox, parents before children."""

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> Iterator[ItemRef]:
        """The items of ``folder`` (received or changed at or after ``since`` when given)."""

    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item]:
        """The full items for ``refs``, in the same order; one server round trip per call if possible.

        The caller bounds ``refs`` by count and bytes; an item that can no longer be read is
        left out (the caller notices from the ``source_id`` of what comes back).
        """

    def resolve_addresses(self, addresses: Iterable[str]) -> dict[str, str | None]:
        """Map X500/EX addresses to SMTP addresses; None for those that cannot be resolved."""

    def close(self) -> None: ...


@runtime_checkable
class SupportsSyncState(Protocol):
    """A source that can list what changed in a folder since an opaque sync state."""

    def sync_items(self, folder: Folder, state: str | None) -> SyncResult: ...


@runtime_checkable
class DestinationMailbox(Protocol):
    """Write access to one mailbox."""

    address: str

    def check(self) -> None:
        """Raise an :class:`~groupmigrate.errors.AccessError` subclass unless items can be written."""

    def folders(self) -> list[Folder]: ...

    def ensure_folder(self, folder: Folder) -> Folder:
        """The destination folder for a source folder: the one with the same role if it has one,
        else the one at the same path, created with its missing parents when absent."""

    def create_items(self, folder: Folder, items: Sequence[Item]) -> list[CreateResult]:
        """Store ``items`` in ``folder``; one result per item, in order. Never sends anything."""

    def existing(self, folder: Folder, item_type: ItemType) -> Iterator[Item]:
        """The items already in ``folder``, with enough fields to compute their fingerprints
        (mail without its MIME body)."""

    def count(self, folder: Folder) -> int: ...

    def free_space(self) -> int | None:
        """Bytes the mailbox can still take, None when the server does not say."""

    def close(self) -> None: ...


@runtime_checkable
class Source(Protocol):
    """A server (endpoint) that mailboxes are read from."""

    @property
    def capabilities(self) -> Capabilities: ...

    def open_mailbox(self, address: str, auth: Auth | None = None) -> SourceMailbox: ...


@runtime_checkable
class Destination(Protocol):
    """A server (endpoint) that mailboxes are written to."""

    @property
    def capabilities(self) -> Capabilities: ...

    def open_mailbox(self, address: str, auth: Auth | None = None) -> DestinationMailbox: ...
