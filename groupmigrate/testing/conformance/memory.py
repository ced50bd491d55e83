"""The conformance harness of the in-memory backend (:mod:`groupmigrate.backends.memory`)."""

from __future__ import annotations

from collections.abc import Sequence

from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import OutcomeUnknown
from groupmigrate.items import Folder, Item, ItemType

__all__ = ["LIMITED", "MemoryHarness"]

#: a memory destination stating every limit, so that the suite's limit tests run on it
LIMITED = Capabilities(
    name="memory-limited", max_item_size=64 * 1024, max_attachment_size=32 * 1024, body_formats=frozenset({"text"}),
    supports_contact_photo=False, supports_distribution_lists=False, preserves_organizer=False,
    preserves_attendee_status=False, supports_note_color=False, keeps_note_dates=False,
    supports_provenance=True, max_contact_emails=2, max_contact_websites=1, max_contact_addresses=1,
    max_contact_phones=2,
)  # fmt: skip


class MemoryHarness:
    """A source and a destination :class:`~groupmigrate.backends.memory.MemoryServer`, each
    with one mailbox; ``destination_capabilities`` as the destination states them."""

    source_address = "alice@contoso.com"
    destination_address = "alice@example.org"

    def __init__(self, destination_capabilities: Capabilities | None = None) -> None:
        self.source_server, self.destination_server = MemoryServer(), MemoryServer()
        self.source_server.add_mailbox(self.source_address)
        self.destination_server.add_mailbox(self.destination_address)
        self.source_endpoint = MemorySource(self.source_server)
        self.destination_endpoint = MemoryDestination(self.destination_server, destination_capabilities)

    def seed(self, address: str, folder_path: tuple[str, ...], items: Sequence[Item], kind: ItemType | None = None) -> None:
        self.source_server.folder(address, folder_path, kind or (items[0].item_type if items else "mail"))
        for item in items:
            self.source_server.add_item(address, folder_path, item)

    def read_back(self, address: str, folder: Folder) -> list[Item]:
        return self.destination_server.items(address, folder.path)

    def source_writes(self) -> list[tuple[str, str, bool]]:
        return self.source_server.writes(self.source_address)

    def lose_next_write(self) -> None:
        self.destination_server.inject("create_items", OutcomeUnknown("answer lost"), after=True)

    def delete(self, address: str, folder_path: tuple[str, ...], item_id: str) -> None:
        server = self.source_server if address == self.source_address else self.destination_server
        server.delete_item(address, item_id)
