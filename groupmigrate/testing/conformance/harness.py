"""The harness: what a backend gives the conformance suite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from groupmigrate.items import Folder, Item, ItemType
from groupmigrate.protocols import Destination, Source

__all__ = ["ConformanceHarness"]


@runtime_checkable
class ConformanceHarness(Protocol):
    """What the suite needs from a backend under test (one fresh harness per test).

    Attributes:
        source_endpoint: the Source under test; ``source_address`` is a mailbox on it.
        destination_endpoint: the Destination under test; ``destination_address`` is a
            mailbox on it. Its ``capabilities`` decide which tests run and with which samples,
            so they must state what the server under test does (a harness may configure a
            server with smaller limits than in production to keep samples small, as long as
            the capabilities say so).
        source_address: an empty mailbox of the source server.
        destination_address: an empty mailbox of the destination server.

    Optional methods, looked up with ``getattr`` (the tests needing them are skipped without):

    - ``lose_next_write() -> None``: the destination server carries out the next write
      request and then loses its answer (a reset or a gateway error after applying it).
    - ``source_writes() -> list``: the write requests the source server has seen for the
      source mailbox so far (to check that reading never writes).
    - ``delete(address, folder_path, item_id) -> None``: remove an item as a user would (to
      check that ids gone are left out).
    """

    source_endpoint: Source
    destination_endpoint: Destination
    source_address: str
    destination_address: str

    def seed(self, address: str, folder_path: tuple[str, ...], items: Sequence[Item], kind: ItemType | None = None) -> None:
        """Put ``items`` into the mailbox ``address`` of the source server, in the folder at
        ``folder_path`` (created with its parents when missing, holding ``kind`` items,
        by default the first item's type).

        Seeding works behind the backend's back (the server's own API): it is how the
        mailbox looked before the migration. A message keeps its flags, read state and
        ``received`` time (the time ``list_items(since=...)`` compares with).
        """

    def read_back(self, address: str, folder: Folder) -> list[Item]:
        """The items the destination server now holds in ``folder`` of mailbox ``address``
        (its ``path`` decides), read independently of the destination mailbox under test."""


def optional(harness: ConformanceHarness, name: str) -> Any:
    """The optional harness method ``name``, or None."""
    return getattr(harness, name, None)
