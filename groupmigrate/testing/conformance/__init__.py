"""The conformance suite every Source/Destination backend must pass (modelled on rclone's fstests).

It has two halves, :class:`SourceConformance` (reading) and :class:`DestinationConformance`
(writing); :class:`BackendConformance` is both plus a whole copy over the route. Tests are
selected and parametrised by capabilities (:class:`~groupmigrate.capabilities.Capabilities`):
a test about an optional ability runs only where the capabilities claim it (provenance
stamps, folders holding several item types, sync states, folder renames, address
resolution) and is skipped with its reason elsewhere; a test about a limit
(``max_item_size``, ``max_attachment_size``, ``max_contact_emails`` / ``websites`` /
``addresses`` / ``phones``, ``body_formats``, ``supports_note_color``, ``keeps_note_dates``)
uses a sample *at* the limit, which must be accepted and read back equal, and one *beyond* it.
Beyond a limit the core's mappers decide what is sent (a skip naming the limit, or the item
cut to fit), and that mapped item is what must arrive; sent unmapped anyway, the item must be
refused on its own with a :class:`~groupmigrate.protocols.CreateResult` whose code and error
name the limit, or be kept whole.

What arrives is compared field by field with the item as the migrator prepares it for the
route (:func:`mapped`: the route's capabilities are
``source.capabilities.intersect(destination.capabilities)``); :func:`differences` names each
field that differs.

Plugging a backend in
---------------------
Write a *harness* (see :class:`ConformanceHarness`): a fresh source mailbox seeded through
the server's own API, a destination mailbox, and a way to read the destination server back::

    class MyHarness:
        def __init__(self):
            self.server = MyServer()                       # fresh, empty
            self.source_endpoint = MySource(self.server)
            self.destination_endpoint = MyDestination(self.server)
            self.source_address = "alice@contoso.com"
            self.destination_address = "alice@example.org"

        def seed(self, address, folder_path, items, kind=None): ...
        def read_back(self, address, folder): ...
        # optional: lose_next_write(), source_writes(), delete(address, folder_path, item_id)

then a test module of a few lines::

    import pytest
    from groupmigrate.testing.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def harness(self):
            return MyHarness()

A source-only backend subclasses :class:`SourceConformance`, a destination-only one
:class:`DestinationConformance`. Harnesses for the backends shipped with groupmigrate are
:class:`groupmigrate.testing.conformance.memory.MemoryHarness` and
:class:`groupmigrate.testing.conformance.ews.EWSHarness`.
"""

from __future__ import annotations

import pytest

from groupmigrate.items import ALL_ITEM_TYPES, ItemType
from groupmigrate.testing.conformance._util import by_key, folder_at, key, need_type, readable, route_caps
from groupmigrate.testing.conformance.compare import assert_same, differences, mapped
from groupmigrate.testing.conformance.destination import DestinationConformance, create
from groupmigrate.testing.conformance.harness import ConformanceHarness
from groupmigrate.testing.conformance.samples import (
    contact_with,
    message_of_size,
    message_with_attachment,
    sample_items,
    sample_message,
    stamp_for,
)
from groupmigrate.testing.conformance.source import SourceConformance

__all__ = [
    "BackendConformance",
    "ConformanceHarness",
    "DestinationConformance",
    "SourceConformance",
    "assert_same",
    "contact_with",
    "differences",
    "mapped",
    "message_of_size",
    "message_with_attachment",
    "sample_items",
    "sample_message",
    "stamp_for",
]


class BackendConformance(SourceConformance, DestinationConformance):
    """The source and destination suites, and a copy of every item type over the route."""

    @pytest.mark.parametrize("kind", ALL_ITEM_TYPES)
    def test_copy(self, harness: ConformanceHarness, kind: ItemType) -> None:
        """Seeded → fetched → mapped → created: the destination holds the mapped items."""
        h = harness
        caps = route_caps(h)
        need_type(caps, kind)
        path = ("Copied", kind)
        source_caps = h.source_endpoint.capabilities
        seeded = [p.item for p in (mapped(i, source_caps, h.source_address) for i in sample_items(kind)) if p.item]
        h.seed(h.source_address, path, seeded)
        src = h.source_endpoint.open_mailbox(h.source_address)
        folder = folder_at(src, path)
        fetched = readable(src.fetch(folder, list(src.list_items(folder))), "fetch")
        prepared = [mapped(item, caps, h.destination_address) for item in fetched]
        expected = [p.item for p in prepared if p.item is not None]
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        target = dst.ensure_folder(folder)
        results = create(dst, target, expected)
        assert all(r.ok for r in results), results
        back = by_key(h.read_back(h.destination_address, target), "read_back")
        assert sorted(back) == sorted(key(i) for i in expected)
        for item in expected:
            assert_same(item, back[key(item)], caps, what=f"copy of {kind}")
