"""The source suite: reading a mailbox, through :class:`~groupmigrate.protocols.SourceMailbox` only."""

from __future__ import annotations

import datetime as dt

import pytest

from groupmigrate.items import ALL_ITEM_TYPES, Contact, ItemType
from groupmigrate.protocols import SupportsAddressResolution, SupportsSyncState
from groupmigrate.testing.conformance._util import by_key, folder_at, key, need, need_type, readable
from groupmigrate.testing.conformance.compare import assert_same, mapped
from groupmigrate.testing.conformance.harness import ConformanceHarness, optional
from groupmigrate.testing.conformance.samples import sample_items, sample_message

__all__ = ["SourceConformance"]

UTC = dt.timezone.utc
_PATHS: dict[ItemType, tuple[str, ...]] = {
    "mail": ("Conformance", "Mail ü"),
    "contacts": ("Conformance contacts",),
    "calendar": ("Conformance calendar",),
    "tasks": ("Conformance tasks",),
    "notes": ("Conformance notes",),
}


class SourceConformance:
    """Tests of a Source backend; a subclass provides the ``harness`` fixture."""

    def test_source_opens(self, harness: ConformanceHarness) -> None:
        harness.source_endpoint.open_mailbox(harness.source_address).check()

    def test_folder_tree(self, harness: ConformanceHarness) -> None:
        h = harness
        types = h.source_endpoint.capabilities.item_types
        h.seed(h.source_address, ("Projects", "Ünïcode ☃", "Deep"), [sample_message(1)])
        if "calendar" in types:
            h.seed(h.source_address, _PATHS["calendar"], [], kind="calendar")
        folders = h.source_endpoint.open_mailbox(h.source_address).folders()
        paths = [f.path for f in folders]
        for index, folder in enumerate(folders):
            if folder.parent_path:
                assert folder.parent_path in paths[:index], f"{folder} listed before its parent"
        roles = {f.role: f for f in folders if f.role}
        for role, kind in (("inbox", "mail"), ("calendar", "calendar"), ("contacts", "contacts"), ("tasks", "tasks")):
            if kind in types:
                assert role in roles, f"no folder with role {role}"
                assert roles[role].kind == kind, f"the {role} folder holds {roles[role].kind}"
        assert ("Projects", "Ünïcode ☃", "Deep") in paths
        if "calendar" in types:
            assert next(f for f in folders if f.path == _PATHS["calendar"]).kind == "calendar"
        else:  # a mail-only source lists mail folders only
            assert all(f.kind == "mail" for f in folders)

    def test_fetch_order_and_missing(self, harness: ConformanceHarness) -> None:
        h = harness
        h.seed(h.source_address, ("Order",), [sample_message(i) for i in range(10, 14)])
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        folder = folder_at(mailbox, ("Order",))
        refs = list(mailbox.list_items(folder))
        assert len(refs) == 4 and all(r.item_type == "mail" and r.size > 0 for r in refs), refs
        wanted = list(reversed(refs))
        assert [m.source_id for m in mailbox.fetch(folder, wanted)] == [r.id for r in wanted]
        delete = optional(h, "delete")
        need(delete, "the harness cannot delete an item")
        delete(h.source_address, ("Order",), refs[0].id)
        assert [m.source_id for m in mailbox.fetch(folder, [refs[0], refs[1]])] == [refs[1].id], "a gone item is left out"

    def test_since(self, harness: ConformanceHarness) -> None:
        h = harness
        old = sample_message(20, received=dt.datetime(2025, 6, 1, tzinfo=UTC))
        new = sample_message(21, received=dt.datetime(2026, 3, 1, tzinfo=UTC))
        h.seed(h.source_address, ("Since",), [old, new])
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        folder = folder_at(mailbox, ("Since",))
        assert len(list(mailbox.list_items(folder))) == 2
        recent = list(mailbox.list_items(folder, since=dt.datetime(2026, 1, 1, tzinfo=UTC)))
        assert [getattr(m, "message_id", None) for m in mailbox.fetch(folder, recent)] == [new.message_id]

    @pytest.mark.parametrize("kind", ALL_ITEM_TYPES)
    def test_read(self, harness: ConformanceHarness, kind: ItemType) -> None:
        """What was seeded is read back field by field (samples first fitted to what the
        source's capabilities say it holds)."""
        h = harness
        caps = h.source_endpoint.capabilities
        need_type(caps, kind)
        seeded = [p.item for p in (mapped(i, caps, h.source_address) for i in sample_items(kind)) if p.item is not None]
        h.seed(h.source_address, _PATHS[kind], seeded)
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        folder = folder_at(mailbox, _PATHS[kind])
        refs = list(mailbox.list_items(folder))
        assert [r.item_type for r in refs] == [kind] * len(seeded), refs
        read = by_key(readable(mailbox.fetch(folder, refs), "fetch"), "fetch")
        assert sorted(read) == sorted(key(i) for i in seeded)
        for item in seeded:
            assert_same(item, read[key(item)], caps, what=f"source read of {kind}")

    def test_source_never_writes(self, harness: ConformanceHarness) -> None:
        h = harness
        writes = optional(h, "source_writes")
        need(writes, "the harness cannot see the source server's writes")
        h.seed(h.source_address, ("Readonly",), [sample_message(40)])
        before = writes()
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        mailbox.check()
        for folder in mailbox.folders():
            list(mailbox.fetch(folder, list(mailbox.list_items(folder))[:5]))
        if isinstance(mailbox, SupportsSyncState):
            mailbox.sync_items(folder_at(mailbox, ("Readonly",)), None)
        if isinstance(mailbox, SupportsAddressResolution):
            mailbox.resolve_addresses(["/o=Org/ou=Exchange Administrative Group/cn=Recipients/cn=nobody"])
        mailbox.close()
        assert writes() == before

    def test_resolve_addresses(self, harness: ConformanceHarness) -> None:
        """Where a source resolves X500/EX addresses, one it does not know maps to None."""
        mailbox = harness.source_endpoint.open_mailbox(harness.source_address)
        need(isinstance(mailbox, SupportsAddressResolution), "the source resolves no addresses")
        assert isinstance(mailbox, SupportsAddressResolution)
        unknown = "/o=Org/ou=Exchange Administrative Group/cn=Recipients/cn=nobody-known"
        assert mailbox.resolve_addresses([unknown]) == {unknown: None}

    def test_sync_state(self, harness: ConformanceHarness) -> None:
        h = harness
        need(h.source_endpoint.capabilities.supports_sync_state, "the source keeps no sync state")
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        assert isinstance(mailbox, SupportsSyncState), "supports_sync_state without sync_items"
        h.seed(h.source_address, ("Synced",), [sample_message(50), sample_message(51)])
        folder = folder_at(mailbox, ("Synced",))
        first = mailbox.sync_items(folder, None)
        assert len(first.refs) == 2 and first.state
        assert mailbox.sync_items(folder, first.state).refs == ()
        h.seed(h.source_address, ("Synced",), [sample_message(52)])
        later = mailbox.sync_items(folder, first.state)
        got = [getattr(m, "message_id", None) for m in mailbox.fetch(folder, list(later.refs))]
        assert got == [sample_message(52).message_id]

    def test_stray_items_read(self, harness: ConformanceHarness) -> None:
        """Where a folder may hold another item type, such an item is listed and read as what it is."""
        h = harness
        need(h.source_endpoint.capabilities.allows_mixed_folders, "the source keeps one item type per folder")
        stray_mail = sample_message(70)
        stray_contact = Contact(display_name="Stray contact", given_name="Stray", emails=("stray@example.org",))
        h.seed(h.source_address, ("Stray contacts",), [stray_mail], kind="contacts")
        h.seed(h.source_address, ("Stray mail",), [stray_contact], kind="mail")
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        for path, original in ((("Stray contacts",), stray_mail), (("Stray mail",), stray_contact)):
            folder = folder_at(mailbox, path)
            refs = list(mailbox.list_items(folder))
            assert [r.item_type for r in refs] == [original.item_type], f"{path}: listed as {[r.item_type for r in refs]}"
            (read,) = readable(mailbox.fetch(folder, refs), "fetch")
            assert_same(original, read, what=f"stray item in {'/'.join(path)}")
