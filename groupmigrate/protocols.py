"""The contracts between the migrator and the backends.

A backend offers a :class:`Source` or :class:`Destination` for one server endpoint; opening
a mailbox on it gives a :class:`SourceMailbox` or :class:`DestinationMailbox`, the object
that does the work for one account. What a backend can do is data (:class:`Capabilities`),
not a set of exceptions to catch. Optional abilities are separate protocols
(:class:`SupportsSyncState`, :class:`SupportsProvenance`, :class:`SupportsFolderRename`,
:class:`SupportsAddressResolution`, :class:`SupportsQuota`) checked with ``isinstance``; the
core never checks for a concrete backend class.

Writes are made once: a backend never repeats a write itself. It classifies each outcome
(see :class:`CreateResult`) and the migrator's executor decides about retries, waits and
reconciliation. A whole call may instead raise :class:`~groupmigrate.errors.Throttled` or
:class:`~groupmigrate.errors.ConnectionFailed` (nothing was applied) or
:class:`~groupmigrate.errors.OutcomeUnknown` (the request went out; nothing is known).
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
    "SupportsAddressResolution",
    "SupportsFolderRename",
    "SupportsProvenance",
    "SupportsQuota",
    "SupportsReadNotes",
    "SupportsSyncState",
    "SyncResult",
    "Unreadable",
]


@attrs.frozen
class CreateResult:
    """Outcome of creating one item: its new id, or the reason it was refused.

    - ``ok``: created, ``item_id`` is its destination id;
    - not ok, ``maybe_applied``: the request went out and its answer was lost; the item may
      exist now (the caller reconciles before sending it again);
    - not ok, ``transient``: the server did not apply it and a later attempt may succeed;
    - otherwise the server refused it for good (``error`` says why, ``code`` is its code).

    ``warnings`` lists what the backend had to do differently (e.g. an attachment re-added).
    """

    ok: bool
    item_id: str | None = None
    error: str | None = None
    code: str | None = None
    transient: bool = False
    warnings: tuple[str, ...] = ()
    maybe_applied: bool = False


def _unreadable_label(unreadable: Unreadable) -> str:
    return f"(unreadable item) [{unreadable.source_id[-12:]}]"


@attrs.frozen
class Unreadable:
    """An item a source lists but cannot read, given by :meth:`SourceMailbox.fetch` in its place.

    The migrator records it as failed with ``reason`` (an earlier run's failures are tried
    again by the next run) and sends nothing for it. ``reason`` says what is wrong in words a
    person can act on (which property of which resource), never the item's content.
    ``label`` is how a person finds the item (a file name, a UID, a subject) when the source
    can tell; by default the end of ``source_id``, the way items without a name are shown.
    """

    source_id: str
    reason: str
    item_type: ItemType = "mail"
    label: str = attrs.field(default=attrs.Factory(_unreadable_label, takes_self=True))


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

    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item | Unreadable]:
        """The full items for ``refs``, in the same order; one server round trip per call if possible.

        The caller bounds ``refs`` by count and bytes. An item that is gone (deleted or moved
        since it was listed) is left out: the caller notices from the ``source_id`` of what
        comes back. An item that can be listed but not read (data the source cannot turn into
        an item) is given as :class:`Unreadable` with the reason, instead of being left out.
        """

    def close(self) -> None: ...


@runtime_checkable
class SupportsAddressResolution(Protocol):
    """A source that can turn its own internal addresses (Exchange X500/EX) into SMTP addresses."""

    def resolve_addresses(self, addresses: Iterable[str]) -> dict[str, str | None]:
        """Map X500/EX addresses to SMTP addresses; None for those that cannot be resolved."""


@runtime_checkable
class SupportsReadNotes(Protocol):
    """A source whose items may lose something on the way into the model (a file given by URL,
    a time zone it could not name): it tells what, so the report names it for the item."""

    def read_notes(self, source_ids: Sequence[str]) -> dict[str, list[str]]:
        """For items fetched last, what reading each had to leave out or guess, by source id
        (only ids with something to tell); each note is given once."""


@runtime_checkable
class SupportsSyncState(Protocol):
    """A source that can list what changed in a folder since an opaque sync state."""

    def sync_items(self, folder: Folder, state: str | None) -> SyncResult: ...


@runtime_checkable
class SupportsProvenance(Protocol):
    """A destination that keeps the provenance stamp written with each item and finds items by it."""

    def find_stamps(self, folder: Folder, stamps: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Stamp → destination ids of the items in ``folder`` carrying it (several when an item
        was created more than once); only ``stamps`` when given, every stamped item otherwise."""


@runtime_checkable
class SupportsFolderRename(Protocol):
    """A destination that can rename a folder it holds (keeping its items)."""

    def rename_folder(self, folder: Folder, name: str) -> Folder:
        """Give ``folder`` the last path element ``name``; returns the folder as it is now."""


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

    def create_items(
        self, folder: Folder, items: Sequence[Item], stamps: Sequence[str] | None = None
    ) -> list[CreateResult]:
        """Store ``items`` in ``folder``; one result per item, in order. Never sends anything.

        One attempt: nothing is repeated inside. ``stamps`` (one per item) are provenance
        stamps to write with each item where the destination keeps them
        (``capabilities.supports_provenance``); other destinations ignore them.
        """

    def existing(self, folder: Folder, item_type: ItemType) -> Iterator[Item]:
        """The items already in ``folder``, with enough fields to compute their fingerprints
        (mail without its MIME body); each item's ``source_id`` is its destination id."""

    def fetch_existing(self, folder: Folder, item_ids: Sequence[str]) -> Iterator[Item]:
        """Full items (mail with MIME) of ``folder`` by destination id; ids gone are left out.

        Used to compare content with items this migration did not create."""

    def count(self, folder: Folder) -> int: ...

    def close(self) -> None: ...


@runtime_checkable
class SupportsQuota(Protocol):
    """A destination that tells how much a mailbox can still take."""

    def free_space(self) -> int | None:
        """Bytes the mailbox can still take, None when the server does not say."""


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
