"""The destination suite: writing a mailbox, through :class:`~groupmigrate.protocols.DestinationMailbox` only.

Every item is first prepared as the migrator prepares it for the route
(:func:`~groupmigrate.testing.conformance.compare.mapped`); what the destination server then
holds must equal that, field by field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import attrs
import pytest

from groupmigrate.capabilities import BODY_FORMATS
from groupmigrate.core.dedup import fingerprint
from groupmigrate.errors import OutcomeUnknown
from groupmigrate.items import ALL_ITEM_TYPES, Contact, Event, Folder, Item, ItemType, Message, Note, NoteColor
from groupmigrate.protocols import CreateResult, DestinationMailbox, SupportsFolderRename, SupportsProvenance
from groupmigrate.testing.conformance._util import MAX_SAMPLE_BYTES, by_key, key, need, need_type, route_caps
from groupmigrate.testing.conformance.compare import assert_same, mapped
from groupmigrate.testing.conformance.harness import ConformanceHarness, optional
from groupmigrate.testing.conformance.samples import (
    contact_with,
    message_of_size,
    message_with_attachment,
    sample_items,
    sample_message,
    stamp_for,
)

__all__ = ["DestinationConformance"]

UTC = dt.timezone.utc
#: words a refusal over a limit is expected to use
_LIMIT_WORDS = re.compile(r"size|large|limit|exceed|too (many|big)|maximum|at most|holds|keeps", re.I)


def expected_items(h: ConformanceHarness, items: Sequence[Item]) -> list[Item]:
    """``items`` as the route prepares them; the skipped ones left out."""
    caps = route_caps(h)
    return [p.item for p in (mapped(i, caps, h.destination_address) for i in items) if p.item is not None]


def create(dst: DestinationMailbox, folder: Folder, items: Sequence[Item], stamps: Sequence[str] | None = None) -> list[CreateResult]:
    results = dst.create_items(folder, items, stamps)
    assert len(results) == len(items) and all(isinstance(r, CreateResult) for r in results), results
    return results


def write_and_compare(h: ConformanceHarness, path: tuple[str, ...], kind: ItemType, expected: Sequence[Item]) -> Folder:
    """Create ``expected`` in a new folder; what the server then holds must equal it."""
    dst = h.destination_endpoint.open_mailbox(h.destination_address)
    target = dst.ensure_folder(Folder(path, kind=kind))
    results = create(dst, target, expected)
    assert all(r.ok and r.item_id for r in results), results
    assert dst.count(target) == len(expected)
    back = by_key(h.read_back(h.destination_address, target), "read_back")
    assert sorted(back) == sorted(key(i) for i in expected), "read back other items than were written"
    for item in expected:
        assert_same(item, back[key(item)], route_caps(h), what=f"destination copy of {kind}")
    return target


def assert_refused_or_kept(h: ConformanceHarness, target: Folder, item: Item, result: CreateResult, limit: str) -> None:
    """An item beyond a limit, sent as it is: refused for good with a reason, or kept whole."""
    if result.ok:
        (copy,) = [i for i in h.read_back(h.destination_address, target) if key(i) == key(item)]
        assert_same(item, copy, route_caps(h), what=f"item beyond {limit}, accepted")
        return
    assert not result.transient and not result.maybe_applied, f"beyond {limit}: {result}"
    assert result.code and result.error, f"beyond {limit}: a refusal needs a code and a reason: {result}"
    assert _LIMIT_WORDS.search(result.error), f"beyond {limit}: the reason should name the limit: {result.error!r}"


class DestinationConformance:
    """Tests of a Destination backend; a subclass provides the ``harness`` fixture."""

    def test_destination_opens(self, harness: ConformanceHarness) -> None:
        harness.destination_endpoint.open_mailbox(harness.destination_address).check()

    def test_ensure_folder(self, harness: ConformanceHarness) -> None:
        dst = harness.destination_endpoint.open_mailbox(harness.destination_address)
        inbox = dst.ensure_folder(Folder(("Posteingang",), kind="mail", role="inbox"))
        assert inbox.role == "inbox" and inbox.folder_id
        deep = dst.ensure_folder(Folder(("Archiv 2020", "Q1", "Kunden ✓"), kind="mail"))
        again = dst.ensure_folder(Folder(("Archiv 2020", "Q1", "Kunden ✓"), kind="mail"))
        assert deep.folder_id == again.folder_id
        listed = {f.path: f for f in dst.folders()}
        assert ("Archiv 2020", "Q1") in listed and listed[("Archiv 2020", "Q1", "Kunden ✓")].kind == "mail"
        for kind in ALL_ITEM_TYPES:
            if kind in harness.destination_endpoint.capabilities.item_types:
                made = dst.ensure_folder(Folder((f"Team {kind}",), kind=kind))
                assert {f.path: f for f in dst.folders()}[made.path].kind == kind

    @pytest.mark.parametrize("kind", ALL_ITEM_TYPES)
    def test_write(self, harness: ConformanceHarness, kind: ItemType) -> None:
        h = harness
        need_type(route_caps(h), kind)
        expected = expected_items(h, sample_items(kind))
        target = write_and_compare(h, (f"Written {kind}",), kind, expected)
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        listed = sorted(fingerprint(i) for i in dst.existing(target, kind))
        assert listed == sorted(fingerprint(i) for i in expected), "existing() does not describe what was written"

    def test_stamps(self, harness: ConformanceHarness) -> None:
        """Stamps are written with each item where the destination keeps them (and found
        again by them); elsewhere they are accepted and ignored. Nothing is created twice."""
        h = harness
        caps = h.destination_endpoint.capabilities
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        for kind in ALL_ITEM_TYPES:
            if kind not in route_caps(h).item_types:
                continue
            target = dst.ensure_folder(Folder((f"Stamped {kind}",), kind=kind))
            items = expected_items(h, sample_items(kind))
            stamps = [stamp_for(f"{kind}-{i}") for i in range(len(items))]
            results = create(dst, target, items, stamps)
            assert all(r.ok and r.item_id for r in results), results
            assert dst.count(target) == len(items)  # one attempt: nothing created twice
            if not caps.supports_provenance:
                continue
            assert isinstance(dst, SupportsProvenance), "supports_provenance without find_stamps"
            wanted = {s: [r.item_id] for s, r in zip(stamps, results)}
            assert dst.find_stamps(target, stamps) == wanted
            assert dst.find_stamps(target, stamps[:1]) == {stamps[0]: [results[0].item_id]}
            assert dst.find_stamps(target) == wanted
            assert dst.find_stamps(target, [stamp_for("never written")]) == {}
            # an item without a stamp is not reported; one created twice is listed twice
            create(dst, target, items[:1])
            (again,) = create(dst, target, items[:1], stamps[:1])
            found = dst.find_stamps(target, stamps[:1])[stamps[0]]
            assert sorted(found) == sorted([results[0].item_id or "", again.item_id or ""])

    def test_fetch_existing(self, harness: ConformanceHarness) -> None:
        h = harness
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        delete = optional(h, "delete")
        for kind in ("mail", "contacts", "tasks"):
            if kind not in route_caps(h).item_types:
                continue
            path = (f"Existing {kind}",)
            target = dst.ensure_folder(Folder(path, kind=kind))
            items = expected_items(h, sample_items(kind))
            results = create(dst, target, items)
            assert all(r.ok for r in results), results
            ids = [r.item_id or "" for r in results]
            fetched = list(dst.fetch_existing(target, list(reversed(ids))))
            assert [i.source_id for i in fetched] == list(reversed(ids)), "fetch_existing: ids out of order"
            for item, copy in zip(reversed(items), fetched):
                assert_same(item, copy, route_caps(h), what=f"fetch_existing {kind}")
                if isinstance(copy, Message):
                    assert copy.mime, "fetch_existing must return mail with its MIME"
            if delete is not None:
                delete(h.destination_address, path, ids[0])
                assert [i.source_id for i in dst.fetch_existing(target, ids[:2])] == ids[1:2], "a gone id is left out"

    def test_lost_answer(self, harness: ConformanceHarness) -> None:
        h = harness
        lose = optional(h, "lose_next_write")
        need(lose, "the harness cannot lose a write's answer")
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        target = dst.ensure_folder(Folder(("Lost answers",), kind="mail"))
        items = [sample_message(i) for i in range(60, 63)]
        stamps = [stamp_for(f"lost-{i}") for i in range(3)]
        lose()
        try:
            results = create(dst, target, items, stamps)
        except OutcomeUnknown:
            results = [CreateResult(ok=False, maybe_applied=True)] * len(items)
        assert all(r.ok or r.maybe_applied for r in results), results
        assert dst.count(target) == len(items)  # applied once, never repeated by the backend
        if h.destination_endpoint.capabilities.supports_provenance:
            assert isinstance(dst, SupportsProvenance)
            found = dst.find_stamps(target, stamps)
            assert sorted(found) == sorted(stamps) and all(len(v) == 1 for v in found.values()), found

    def test_stray_items_written(self, harness: ConformanceHarness) -> None:
        """Where a folder may hold another item type, such an item is written as what it is."""
        h = harness
        need(h.destination_endpoint.capabilities.allows_mixed_folders, "the destination keeps one item type per folder")
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        contact = Contact(display_name="Stray contact", given_name="Stray", emails=("stray@example.org",))
        strays: tuple[tuple[ItemType, Item], ...] = (("contacts", sample_message(70)), ("mail", contact))
        for kind, item in strays:
            (expected,) = expected_items(h, [item])
            target = dst.ensure_folder(Folder((f"Stray in {kind}",), kind=kind))
            (result,) = create(dst, target, [expected])
            assert result.ok, result
            (copy,) = h.read_back(h.destination_address, target)
            assert_same(expected, copy, route_caps(h), what=f"stray item in a {kind} folder")

    def test_rename_folder(self, harness: ConformanceHarness) -> None:
        h = harness
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        need(isinstance(dst, SupportsFolderRename), "the destination renames no folders")
        assert isinstance(dst, SupportsFolderRename)
        folder = dst.ensure_folder(Folder(("Renamed", "Old name"), kind="mail"))
        (result,) = create(dst, folder, [sample_message(80)])
        assert result.ok, result
        renamed = dst.rename_folder(folder, "New name ✓")
        assert renamed.path == ("Renamed", "New name ✓") and renamed.folder_id == folder.folder_id
        assert [key(i) for i in h.read_back(h.destination_address, renamed)] == [key(sample_message(80))]

    # -- limits: a sample at each stated limit and one beyond it ---------------------------

    def test_max_item_size(self, harness: ConformanceHarness) -> None:
        h = harness
        caps = route_caps(h)
        limit = caps.max_item_size
        need(limit is not None, "no max_item_size stated")
        assert limit is not None
        need(limit <= MAX_SAMPLE_BYTES, f"max_item_size {limit} is too large to sample; state a smaller one")
        need_type(caps, "mail")
        at, beyond = message_of_size(90, limit), message_of_size(91, limit + 1)
        assert mapped(at, caps).item is at, "an item at max_item_size must be sent as it is"
        skipped = mapped(beyond, caps)
        assert skipped.item is None and skipped.skip_reason and "limit" in skipped.skip_reason, skipped
        target = write_and_compare(h, ("Size limit",), "mail", [at])
        # sent anyway, the item beyond is refused on its own; its neighbours are created
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        goods = [sample_message(92), sample_message(93)]
        results = create(dst, target, [goods[0], beyond, goods[1]])
        assert results[0].ok and results[2].ok, results
        assert_refused_or_kept(h, target, beyond, results[1], "max_item_size")
        assert dst.count(target) == 3 + results[1].ok

    def test_max_attachment_size(self, harness: ConformanceHarness) -> None:
        h = harness
        caps = route_caps(h)
        limit = caps.max_attachment_size
        need(limit is not None, "no max_attachment_size stated")
        assert limit is not None
        need(limit <= MAX_SAMPLE_BYTES, f"max_attachment_size {limit} is too large to sample; state a smaller one")
        need_type(caps, "mail")
        # messages whose attachments *reach* the limit are not accepted: limit - 1 is the largest
        at, beyond = message_with_attachment(94, limit - 1), message_with_attachment(95, limit)
        skipped = mapped(beyond, caps)
        assert skipped.item is None and skipped.skip_reason and "limit" in skipped.skip_reason, skipped
        need(caps.max_item_size is None or at.size <= caps.max_item_size, "max_item_size leaves no room for the attachment")
        assert mapped(at, caps).item is at, "a message under max_attachment_size must be sent as it is"
        target = write_and_compare(h, ("Attachment limit",), "mail", [at])
        if caps.max_item_size is None or beyond.size <= caps.max_item_size:
            dst = h.destination_endpoint.open_mailbox(h.destination_address)
            (result,) = create(dst, target, [beyond])
            assert_refused_or_kept(h, target, beyond, result, "max_attachment_size")

    @pytest.mark.parametrize("field", ["emails", "websites", "addresses", "phones"])
    def test_contact_limit(self, harness: ConformanceHarness, field: str) -> None:
        h = harness
        caps = route_caps(h)
        limit: int | None = getattr(caps, f"max_contact_{field}")
        need(limit is not None, f"no max_contact_{field} stated")
        assert limit is not None
        need_type(caps, "contacts")
        at, beyond = contact_with(field, limit), contact_with(field, limit + 1)
        kept = mapped(at, caps).item
        assert isinstance(kept, Contact) and getattr(kept, field) == getattr(at, field), f"{limit} {field} must be kept"
        cut = mapped(beyond, caps).item
        assert isinstance(cut, Contact) and getattr(cut, field) == getattr(beyond, field)[:limit], (
            f"beyond max_contact_{field}, the first {limit} must be kept"
        )
        target = write_and_compare(h, (f"Contact {field}",), "contacts", [kept, cut])
        dst = h.destination_endpoint.open_mailbox(h.destination_address)
        raw = attrs.evolve(beyond, display_name=f"{beyond.display_name} (as read)")
        (result,) = create(dst, target, [raw])
        assert_refused_or_kept(h, target, raw, result, f"max_contact_{field}")

    @pytest.mark.parametrize("body_format", BODY_FORMATS)
    def test_body_format(self, harness: ConformanceHarness, body_format: str) -> None:
        """A body in each format arrives as the route keeps it (HTML as text where only text is kept)."""
        h = harness
        caps = route_caps(h)
        need_type(caps, "calendar")
        html = body_format == "html"
        event = Event(
            subject=f"Body as {body_format}", uid=f"body-{body_format}", timezone="UTC",
            start=dt.datetime(2026, 3, 2, 9, tzinfo=UTC), end=dt.datetime(2026, 3, 2, 10, tzinfo=UTC),
            body="<p>Agenda: <b>budget</b></p>" if html else "Agenda: budget", body_is_html=html,
        )  # fmt: skip
        (expected,) = expected_items(h, [event])
        assert isinstance(expected, Event)
        if html and "html" not in caps.body_formats:
            assert not expected.body_is_html and "<" not in (expected.body or ""), expected.body
        write_and_compare(h, (f"Body {body_format}",), "calendar", [expected])

    def test_note_color(self, harness: ConformanceHarness) -> None:
        h = harness
        caps = route_caps(h)
        need_type(caps, "notes")
        palette = list(NoteColor)
        notes = [Note(subject=f"Colour {c.value}", body=f"Colour {c.value}", color=c) for c in palette]
        expected = expected_items(h, notes)
        colors = [n.color for n in expected if isinstance(n, Note)]
        assert colors == (palette if caps.supports_note_color else [None] * len(palette)), colors
        write_and_compare(h, ("Note colours",), "notes", expected)

    def test_note_dates(self, harness: ConformanceHarness) -> None:
        h = harness
        caps = route_caps(h)
        need_type(caps, "notes")
        note = Note(subject="Dated", body="Dated", created=dt.datetime(2024, 5, 1, 8, tzinfo=UTC),
                    modified=dt.datetime(2024, 6, 1, 9, tzinfo=UTC))  # fmt: skip
        (expected,) = expected_items(h, [note])
        assert isinstance(expected, Note)
        assert (expected.created is not None) is caps.keeps_note_dates, expected
        write_and_compare(h, ("Note dates",), "notes", [expected])

