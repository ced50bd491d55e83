"""The backend conformance suite on the DAV backend, against a real Radicale.

The harness seeds and reads back collections as the user would, over plain HTTP
(:class:`~groupmigrate.testing.radicale.RadicaleServer`'s own requests, not the backend under
test); items become resources through the iCalendar and vCard converters, the formats every
client uses. It sees the source's writes in Radicale's request log and loses a write's answer
with the server's fault injection (the PUT is applied, the client gets a gateway's 504).

The shared suite's tests that seed or write mail (folder tree, fetch order, since, sync state,
never writing, ensure_folder, lost answers, renames) are run here in their DAV form: the same
checks on calendar items and collections, since a DAV server holds no mail.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from groupmigrate.auth import BasicAuth
from groupmigrate.backends.dav import ical, vcard
from groupmigrate.backends.dav.destination import DavDestination
from groupmigrate.backends.dav.folders import COMPONENT_OF, flat_name, split_folder_id
from groupmigrate.backends.dav.source import DavSource
from groupmigrate.errors import OutcomeUnknown
from groupmigrate.items import ALL_ITEM_TYPES, Contact, Event, Folder, Item, ItemType
from groupmigrate.protocols import CreateResult, SupportsFolderRename, SupportsProvenance, SupportsSyncState
from groupmigrate.testing.conformance import BackendConformance, mapped, sample_items, stamp_for
from groupmigrate.testing.conformance._util import by_key, folder_at, key, need_type, route_caps
from groupmigrate.testing.conformance.compare import assert_same
from groupmigrate.testing.radicale import RadicaleServer

pytestmark = pytest.mark.timeout(120)

UTC = dt.timezone.utc
_numbers = itertools.count(1)


def sample_event(n: int, *, day: int = 5) -> Event:
    """A small meeting numbered ``n`` (the DAV stand-in for the suite's sample messages)."""
    start = dt.datetime(2026, 1, day, 8 + n % 10, tzinfo=UTC)
    return Event(subject=f"Meeting {n} – Grüße", start=start, end=start + dt.timedelta(hours=1), timezone="UTC",
                 uid=f"conformance-event-{n}", location=f"Room {n}")  # fmt: skip


def to_resource(item: Item) -> tuple[bytes, str]:
    """``item`` as the resource a client would store, and its extension."""
    if isinstance(item, Contact):
        return vcard.contact_to_vcard(item, uid=str(uuid.uuid4())), ".vcf"
    uid = item.uid if isinstance(item, Event) and item.uid else str(uuid.uuid4())
    return ical.item_to_ical(item, uid=uid), ".ics"  # type: ignore[arg-type]


def from_resource(href: str, data: bytes) -> Item:
    if href.endswith(".vcf") or b"BEGIN:VCARD" in data[:200]:
        return vcard.vcard_to_contact(data, source_id=href)
    return ical.ical_to_item(data, source_id=href)


class DavHarness:
    """A fresh source and destination user on one Radicale, each opening its own mailbox."""

    def __init__(self, server: RadicaleServer, **destination: Any) -> None:
        self.server = server
        number = next(_numbers)
        self.users: dict[str, str] = {}
        for side in ("src", "dst"):
            name = f"conf{number}{side}-{secrets.token_hex(3)}"
            self.users[name] = f"pw-{secrets.token_urlsafe(10)}"
            server.add_user(name, self.users[name])
        self.source_address, self.destination_address = list(self.users)
        self.source_endpoint = DavSource(server.url, BasicAuth(self.source_address, self.users[self.source_address]),
                                         profile="radicale")  # fmt: skip
        self.destination_endpoint = DavDestination(
            server.url, BasicAuth(self.destination_address, self.users[self.destination_address]), profile="radicale",
            read_timeout=10, **destination,
        )  # fmt: skip
        self._collections: dict[tuple[str, tuple[str, ...]], str] = {}

    def collection(self, address: str, folder_path: tuple[str, ...], kind: ItemType) -> str:
        """The href of the collection seeded at ``folder_path`` (made on first use)."""
        known = self._collections.get((address, folder_path))
        if known is None:
            name = f"seeded-{uuid.uuid4().hex[:12]}"
            if kind == "contacts":
                known = self.server.make_addressbook(address, name, display_name=flat_name(folder_path))
            else:
                known = self.server.make_calendar(address, name, display_name=flat_name(folder_path),
                                                  components=(COMPONENT_OF[kind],))  # fmt: skip
            self._collections[(address, folder_path)] = known
        return known

    def seed(self, address: str, folder_path: tuple[str, ...], items: Sequence[Item], kind: ItemType | None = None) -> None:
        kind = kind or (items[0].item_type if items else "calendar")
        assert kind != "mail" and all(i.item_type != "mail" for i in items), "a DAV server holds no mail"
        href = self.collection(address, folder_path, kind)
        for item in items:
            data, ext = to_resource(item)
            self.server.put(address, f"{href}{uuid.uuid4()}{ext}", data)

    def read_back(self, address: str, folder: Folder) -> list[Item]:
        assert folder.folder_id, f"{folder} has no collection"
        href, _ = split_folder_id(folder.folder_id)
        return [from_resource(h, data) for h, data in sorted(self.server.list(address, href).items())]

    def lose_next_write(self) -> None:
        self.server.fail_next("PUT", status=504, after_apply=True, user=self.destination_address)

    def source_writes(self) -> list[dict[str, Any]]:
        return self.server.write_operations(self.source_address)

    def delete(self, address: str, folder_path: tuple[str, ...], item_id: str) -> None:
        self.server.delete(address, item_id)


class TestDavConformance(BackendConformance):
    @pytest.fixture
    def harness(self, radicale: RadicaleServer) -> Iterator[DavHarness]:
        harness = DavHarness(radicale)
        yield harness
        radicale.clear_faults()

    # -- the suite's mail-based tests, in their DAV form -----------------------------------------
    def test_folder_tree(self, harness: DavHarness) -> None:
        h = harness
        h.seed(h.source_address, ("Projects", "Ünïcode ☃", "Deep"), [sample_event(1)])
        h.seed(h.source_address, ("Aufgaben",), [], kind="tasks")
        h.seed(h.source_address, ("Kontakte",), [], kind="contacts")
        h.seed(h.source_address, ("Notizen",), [], kind="notes")
        folders = h.source_endpoint.open_mailbox(h.source_address).folders()
        by_path = {f.path: f for f in folders}
        assert len(by_path) == len(folders), "two folders share a path"
        assert by_path[("Projects/Ünïcode ☃/Deep",)].kind == "calendar"
        roles = {f.role: f for f in folders if f.role}
        for role, kind in (("calendar", "calendar"), ("contacts", "contacts"), ("tasks", "tasks"), ("notes", "notes")):
            assert roles[role].kind == kind, f"the {role} folder holds {roles[role].kind}"
        assert all(f.kind != "mail" for f in folders)

    def test_fetch_order_and_missing(self, harness: DavHarness) -> None:
        h = harness
        h.seed(h.source_address, ("Order",), [sample_event(i) for i in range(10, 14)])
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        folder = folder_at(mailbox, ("Order",))
        refs = list(mailbox.list_items(folder))
        assert len(refs) == 4 and all(r.item_type == "calendar" and r.size > 0 for r in refs), refs
        wanted = list(reversed(refs))
        assert [i.source_id for i in mailbox.fetch(folder, wanted)] == [r.id for r in wanted]
        h.delete(h.source_address, ("Order",), refs[0].id)
        assert [i.source_id for i in mailbox.fetch(folder, [refs[0], refs[1]])] == [refs[1].id], "a gone item is left out"

    def test_since(self, harness: DavHarness) -> None:
        """``since`` compares with the time each resource last changed on the server."""
        h = harness
        h.seed(h.source_address, ("Since",), [sample_event(20), sample_event(21)])
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        folder = folder_at(mailbox, ("Since",))
        assert len(list(mailbox.list_items(folder))) == 2
        hour = dt.timedelta(hours=1)
        assert len(list(mailbox.list_items(folder, since=dt.datetime.now(UTC) - hour))) == 2
        assert list(mailbox.list_items(folder, since=dt.datetime.now(UTC) + hour)) == []

    def test_source_never_writes(self, harness: DavHarness) -> None:
        h = harness
        h.seed(h.source_address, ("Readonly",), [sample_event(40)])
        h.seed(h.source_address, ("Readonly contacts",), [Contact(display_name="Ro", emails=("ro@example.org",))])
        before = h.source_writes()
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        mailbox.check()
        for folder in mailbox.folders():
            list(mailbox.fetch(folder, list(mailbox.list_items(folder))[:5]))
        assert isinstance(mailbox, SupportsSyncState)
        first = mailbox.sync_items(folder_at(mailbox, ("Readonly",)), None)
        mailbox.sync_items(folder_at(mailbox, ("Readonly",)), first.state)
        mailbox.close()
        assert h.source_writes() == before

    def test_sync_state(self, harness: DavHarness) -> None:
        h = harness
        mailbox = h.source_endpoint.open_mailbox(h.source_address)
        assert isinstance(mailbox, SupportsSyncState)
        h.seed(h.source_address, ("Synced",), [sample_event(50), sample_event(51)])
        folder = folder_at(mailbox, ("Synced",))
        first = mailbox.sync_items(folder, None)
        assert len(first.refs) == 2 and first.state
        assert mailbox.sync_items(folder, first.state).refs == ()
        h.seed(h.source_address, ("Synced",), [sample_event(52)])
        later = mailbox.sync_items(folder, first.state)
        assert [getattr(i, "uid", None) for i in mailbox.fetch(folder, list(later.refs))] == [sample_event(52).uid]

    def test_ensure_folder(self, harness: DavHarness) -> None:
        dst = harness.destination_endpoint.open_mailbox(harness.destination_address)
        calendar = dst.ensure_folder(Folder(("Kalender",), kind="calendar", role="calendar"))
        assert calendar.role == "calendar" and calendar.folder_id
        assert dst.ensure_folder(Folder(("Calendar",), kind="calendar", role="calendar")).folder_id == calendar.folder_id
        deep = dst.ensure_folder(Folder(("Archiv 2020", "Q1", "Kunden ✓"), kind="contacts"))
        again = dst.ensure_folder(Folder(("Archiv 2020", "Q1", "Kunden ✓"), kind="contacts"))
        assert deep.folder_id == again.folder_id and deep.path == ("Archiv 2020/Q1/Kunden ✓",)
        for kind in ("calendar", "contacts", "tasks", "notes"):
            made = dst.ensure_folder(Folder((f"Team {kind}",), kind=kind))
            assert {f.path: f for f in dst.folders()}[made.path].kind == kind
        mail = dst.ensure_folder(Folder(("Inbox",), kind="mail", role="inbox"))
        assert mail.folder_id is None and all(f.kind != "mail" for f in dst.folders())

    def test_lost_answer(self, harness: DavHarness) -> None:
        h = harness
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        target = dst.ensure_folder(Folder(("Lost answers",), kind="calendar"))
        items = [sample_event(i) for i in range(60, 63)]
        stamps = [stamp_for(f"lost-{i}") for i in range(3)]
        h.lose_next_write()
        try:
            results = dst.create_items(target, items, stamps)
        except OutcomeUnknown:
            results = [CreateResult(ok=False, maybe_applied=True)] * len(items)
        assert all(r.ok or r.maybe_applied for r in results), results
        assert sum(r.maybe_applied for r in results) == 1, results
        assert dst.count(target) == len(items)  # applied once, never repeated by the backend
        assert isinstance(dst, SupportsProvenance)
        found = dst.find_stamps(target, stamps)
        assert sorted(found) == sorted(stamps) and all(len(v) == 1 for v in found.values()), found

    def test_stamps(self, harness: DavHarness) -> None:
        """The suite's stamp test, except its last step: a DAV resource is named by its stamp,
        so an item sent again with the same stamp is found there, never stored twice."""
        h = harness
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        assert isinstance(dst, SupportsProvenance)
        target = dst.ensure_folder(Folder(("Stamped",), kind="calendar"))
        items = [sample_event(i) for i in range(90, 93)]
        stamps = [stamp_for(f"stamped-{i}") for i in range(3)]
        results = dst.create_items(target, items, stamps)
        assert all(r.ok and r.item_id for r in results), results
        wanted = {s: [r.item_id] for s, r in zip(stamps, results)}
        assert dst.find_stamps(target, stamps) == wanted and dst.find_stamps(target) == wanted
        assert dst.find_stamps(target, [stamp_for("never written")]) == {}
        (again,) = dst.create_items(target, items[:1], stamps[:1])
        assert again.ok and again.item_id == results[0].item_id and "not written again" in " ".join(again.warnings)
        assert dst.count(target) == len(items) and dst.find_stamps(target) == wanted

    def test_rename_folder(self, harness: DavHarness) -> None:
        h = harness
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        assert isinstance(dst, SupportsFolderRename)
        folder = dst.ensure_folder(Folder(("Old name",), kind="calendar"))
        (result,) = dst.create_items(folder, [sample_event(80)])
        assert result.ok, result
        renamed = dst.rename_folder(folder, "New name ✓")
        assert renamed.path == ("New name ✓",) and renamed.folder_id == folder.folder_id
        assert [key(i) for i in h.read_back(h.destination_address, renamed)] == [key(sample_event(80))]

    @pytest.mark.parametrize("kind", ALL_ITEM_TYPES)
    def test_copy(self, harness: DavHarness, kind: ItemType) -> None:
        """The suite's copy over the route, with a one-level path (DAV collections do not nest:
        a nested path is one name, ``"Copied/contacts"``)."""
        h = harness
        caps = route_caps(h)
        need_type(caps, kind)
        path = (f"Copied {kind}",)
        seeded = [p.item for p in (mapped(i, h.source_endpoint.capabilities, h.source_address) for i in sample_items(kind)) if p.item]
        h.seed(h.source_address, path, seeded)
        src = h.source_endpoint.open_mailbox(h.source_address)
        folder = folder_at(src, path)
        fetched = list(src.fetch(folder, list(src.list_items(folder))))
        expected = [p.item for p in (mapped(item, caps, h.destination_address) for item in fetched) if p.item is not None]
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        target = dst.ensure_folder(folder)
        results = dst.create_items(target, expected)
        assert all(r.ok for r in results), results
        back = by_key(h.read_back(h.destination_address, target), "read_back")
        assert sorted(back) == sorted(key(i) for i in expected)
        for item in expected:
            assert_same(item, back[key(item)], caps, what=f"copy of {kind}")

    # -- the harness's own check ------------------------------------------------------------------
    def test_seeded_folder_is_what_the_source_lists(self, harness: DavHarness) -> None:
        harness.seed(harness.source_address, ("Harness", "Check"), [sample_event(5)])
        mailbox = harness.source_endpoint.open_mailbox(harness.source_address)
        folder = folder_at(mailbox, ("Harness/Check",))
        read = by_key(list(mailbox.fetch(folder, list(mailbox.list_items(folder)))), "fetch")
        assert_same(sample_event(5), read[key(sample_event(5))])
