"""The conformance suite every Source/Destination backend must pass.

A backend's test module provides a *harness* (anything with the attributes of
:class:`Harness`) as a pytest fixture named ``harness`` and subclasses
:class:`BackendConformance`::

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def harness(self):
            with MyServer() as server:
                yield MyHarness(server)

Every test seeds what it needs through the harness, works only through the protocols
(:mod:`groupmigrate.protocols`) and compares items field by field with :func:`differences`,
which knows the differences a destination's capabilities allow.
The functions ``check_*`` are the same tests as plain functions taking a harness.

What the write contract asks of a destination, and the suite checks:

- ``create_items`` makes one attempt: every item it reports created exists exactly once;
- with ``capabilities.supports_provenance``, the stamps passed to ``create_items`` are found
  again by ``find_stamps`` (each with the id ``create_items`` returned), and a write whose
  answer was lost can be settled that way; without it, stamps are accepted and ignored;
- ``fetch_existing`` returns full items by destination id, in order, leaving out ids gone;
- with ``capabilities.allows_mixed_folders``, an item filed in a folder of another kind (a mail
  among contacts) is listed, fetched and written as what it is.

A harness may offer ``lose_next_write()`` (see :class:`Harness`) to let the suite check
writes whose answer is lost; without it those checks are skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import (
    Attachment,
    Attendee,
    Contact,
    Event,
    Folder,
    Item,
    ItemType,
    Message,
    Note,
    Phone,
    PostalAddress,
    Task,
)
from groupmigrate.errors import OutcomeUnknown
from groupmigrate.protocols import (
    CreateResult,
    Destination,
    DestinationMailbox,
    Source,
    SourceMailbox,
    SupportsProvenance,
    SupportsSyncState,
)

__all__ = [
    "BackendConformance",
    "Harness",
    "differences",
    "sample_items",
    "sample_message",
    "stamp_for",
]

UTC = dt.timezone.utc


@runtime_checkable
class Harness(Protocol):
    """What the suite needs from a backend under test.

    Attributes:
        source: the Source holding ``source_address``.
        destination: the Destination holding ``destination_address``.
        readback: a Source reading the destination's server (to compare what was written).
    """

    source: Source
    destination: Destination
    readback: Source
    source_address: str
    destination_address: str

    def seed(self, path: tuple[str, ...], kind: ItemType, items: Sequence[Item]) -> None:
        """Put ``items`` into the source mailbox at ``path`` (created with ``kind`` when missing)."""

    def source_writes(self) -> list[Any] | None:
        """Write operations the source server saw for the source mailbox (None: cannot tell)."""

    def rejected_item(self) -> Item | None:
        """A mail the destination refuses (e.g. over its size limit), or None to skip that test."""

    # Optional (looked up with getattr, so existing harnesses need not define it):
    #
    # def lose_next_write(self) -> None:
    #     """Make the destination server carry out the next write request and then lose its
    #     answer (a reset or a gateway error after the request was applied)."""


def stamp_for(source_id: str, mailbox: str = "conformance@example.org") -> str:
    """A provenance stamp as the migrator makes them: 32 hex digits naming a source item."""
    return hashlib.sha256(f"{mailbox}\0{source_id}".encode()).hexdigest()[:32]


def sample_message(n: int, *, received: dt.datetime | None = None, body: bytes = b"Hello") -> Message:
    """A small MIME message numbered ``n``."""
    sent = received or dt.datetime(2026, 1, 5, 10, n % 60, tzinfo=UTC)
    mime = (
        f"From: Bob Sender <bob@example.org>\r\nTo: Alice <alice@contoso.com>\r\n"
        f"Subject: Message {n} - Grüße\r\nMessage-ID: <msg-{n}@example.org>\r\n"
        f"Date: {sent.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body + b"\r\n"
    return Message.from_mime(
        mime,
        is_read=n % 2 == 0,
        flag=("NotFlagged", "Flagged", "Complete")[n % 3],
        categories=("Red",) if n % 2 else (),
        importance=("Normal", "High", "Low")[n % 3],
        received=sent + dt.timedelta(minutes=1),
    )


def sample_items(kind: ItemType) -> list[Item]:
    """Items of ``kind`` that exercise most fields."""
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    if kind == "mail":
        return [sample_message(i) for i in range(3)]
    if kind == "contacts":
        return [
            Contact(
                display_name="Carol Cruz", given_name="Carol", surname="Cruz", nickname="Caz",
                emails=("carol@example.org", "carol.cruz@example.net"),
                phones=(Phone("mobile", "+1 555 0100"), Phone("business", "+1 555 0101")),
                addresses=(PostalAddress("business", "Main St 1", "Springfield", "IL", "62701", "US"),),
                company="ACME", department="Sales", job_title="Manager", birthday=dt.date(1990, 3, 4),
                websites=("https://carol.example.org",), notes="Met at the fair", categories=("Customers",),
                photo=b"\xff\xd8\xff\xe0JFIF-photo-bytes",
                attachments=(Attachment("card.txt", b"business card", "text/plain"),),
            ),
            Contact(display_name="Zoë Ünal", emails=("zoe@example.org",)),
            Contact(display_name="Sales team", is_distribution_list=True, members=("a@example.org", "b@example.org")),
        ]  # fmt: skip
    if kind == "calendar":
        weekly = Event(
            subject="Weekly sync", start=dt.datetime(2026, 1, 5, 9, tzinfo=berlin),
            end=dt.datetime(2026, 1, 5, 10, tzinfo=berlin), timezone="Europe/Berlin",
            location="Room 1", body="<p>Agenda</p>", body_is_html=True, uid="weekly-sync-uid",
            recurrence="FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=10", reminder_minutes=15,
            attendees=(Attendee("bob@example.org", "Bob", "required", "Accept"),
                       Attendee("dan@example.org", "Dan", "optional", "Tentative")),
            categories=("Blue",),
            exceptions=(Event(subject="Weekly sync (moved)", start=dt.datetime(2026, 1, 12, 11, tzinfo=berlin),
                              end=dt.datetime(2026, 1, 12, 12, tzinfo=berlin), timezone="Europe/Berlin",
                              recurrence_id=dt.datetime(2026, 1, 12, 9, tzinfo=berlin)),),
            deleted_occurrences=(dt.datetime(2026, 1, 19, 9, tzinfo=berlin),),
        )
        monthly = Event(
            subject="Board", start=dt.datetime(2026, 2, 10, 14, tzinfo=UTC), end=dt.datetime(2026, 2, 10, 15, tzinfo=UTC),
            timezone="UTC", uid="board-uid", recurrence="FREQ=MONTHLY;INTERVAL=1;BYDAY=2TU;UNTIL=20261231T235959Z",
        )
        holiday = Event(subject="Holiday", start=dt.date(2026, 12, 24), end=dt.date(2026, 12, 26), is_all_day=True,
                        uid="holiday-uid", show_as="OOF")
        return [weekly, monthly, holiday]
    if kind == "tasks":
        return [
            Task(subject="Write report", body="Quarterly numbers", start=dt.date(2026, 1, 20), due=dt.date(2026, 2, 1),
                 status="InProgress", percent_complete=40, importance="High", categories=("Work",)),
            Task(subject="Pay bills", status="Completed", percent_complete=100,
                 completed=dt.datetime(2026, 1, 2, 12, tzinfo=UTC)),
            Task(subject="Water plants", start=dt.date(2026, 1, 1), due=dt.date(2026, 1, 1),
                 recurrence="FREQ=WEEKLY;INTERVAL=1;BYDAY=TH"),
        ]  # fmt: skip
    return [
        Note(subject="Shopping", body="Shopping\nMilk, eggs", color="Yellow", categories=("Home",)),
        Note(subject="Idea", body="Idea\nA better mousetrap", color="Blue"),
    ]


# -- comparison -----------------------------------------------------------------------------


def _moment(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(microsecond=0)
    return value


def _same_zone(a: str | None, b: str | None, at: Any) -> bool:
    """Whether two zone names give the same offsets (in January and July of ``at``'s year).

    Servers with Windows time zones return one IANA name per Windows zone, so
    ``Europe/Paris`` may come back as ``Europe/Berlin``: the same clock, another name.
    """
    if not a or not b or a == b:
        return True
    try:
        za, zb = zoneinfo.ZoneInfo(a), zoneinfo.ZoneInfo(b)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    year = at.year if isinstance(at, dt.date) else 2026
    probes = (dt.datetime(year, 1, 15, 12, tzinfo=UTC), dt.datetime(year, 7, 15, 12, tzinfo=UTC))
    return all(p.astimezone(za).utcoffset() == p.astimezone(zb).utcoffset() for p in probes)


def differences(original: Item, copy: Item, caps: Capabilities | None = None) -> list[str]:
    """What differs between ``original`` and its ``copy`` beyond what ``caps`` allows.

    Server-assigned values (ids, sizes, creation times) are not compared. Returned strings
    name the field and both values.
    """
    caps = caps or Capabilities()
    out: list[str] = []

    def check(name: str, a: Any, b: Any) -> None:
        if _moment(a) != _moment(b):
            out.append(f"{name}: {a!r} != {b!r}")

    if type(original) is not type(copy):
        return [f"type: {type(original).__name__} != {type(copy).__name__}"]
    if isinstance(original, Message):
        assert isinstance(copy, Message)
        for name in ("is_read", "flag", "importance", "message_id", "subject", "sender"):
            check(name, getattr(original, name), getattr(copy, name))
        check("categories", sorted(original.categories), sorted(copy.categories))
        check("sent", original.sent, copy.sent)
        if original.received is not None:
            check("received", original.received, copy.received)
        if copy.mime and original.mime and copy.mime.split(b"\r\n\r\n", 1)[-1].strip() != original.mime.split(b"\r\n\r\n", 1)[-1].strip():
            out.append("mime body differs")
    elif isinstance(original, Contact):
        assert isinstance(copy, Contact)
        names = ["display_name", "is_distribution_list"]
        if not original.is_distribution_list:
            names += ["given_name", "middle_name", "surname", "nickname", "company", "department", "job_title",
                      "birthday", "notes"]  # fmt: skip
            check("emails", sorted(original.emails), sorted(copy.emails))
            check("phones", sorted((p.label, p.number) for p in original.phones), sorted((p.label, p.number) for p in copy.phones))
            check("addresses", sorted(attrs.astuple(a) for a in original.addresses), sorted(attrs.astuple(a) for a in copy.addresses))
            check("websites", original.websites[:1], copy.websites[:1])
            if caps.supports_contact_photo:
                check("photo", original.photo, copy.photo)
                check("attachments", sorted((a.name, a.content) for a in original.attachments),
                      sorted((a.name, a.content) for a in copy.attachments))  # fmt: skip
            else:
                kept = {a.content for a in copy.attachments} | ({copy.photo} if copy.photo else set())
                for wanted in [a.content for a in original.attachments] + ([original.photo] if original.photo else []):
                    if wanted not in kept:
                        out.append("attachment or photo lost")
        else:
            check("members", sorted(original.members), sorted(copy.members))
        for name in names:
            check(name, getattr(original, name), getattr(copy, name))
        check("categories", sorted(original.categories), sorted(copy.categories))
    elif isinstance(original, Event):
        assert isinstance(copy, Event)
        for name in ("subject", "is_all_day", "location", "recurrence", "uid", "reminder_minutes", "show_as",
                     "sensitivity", "start", "end", "recurrence_id"):  # fmt: skip
            check(name, getattr(original, name), getattr(copy, name))
        if original.body is not None:
            check("body", original.body.strip(), (copy.body or "").strip())
        if not original.is_all_day and not _same_zone(original.timezone, copy.timezone, original.start):
            out.append(f"timezone: {original.timezone!r} != {copy.timezone!r}")
        check("categories", sorted(original.categories), sorted(copy.categories))
        mine = sorted((a.address, a.role) for a in original.attendees)
        theirs = sorted((a.address, a.role) for a in copy.attendees)
        check("attendees", mine, theirs)
        if caps.preserves_attendee_status:
            check("attendee responses", sorted((a.address, a.response) for a in original.attendees),
                  sorted((a.address, a.response) for a in copy.attendees))  # fmt: skip
        check("deleted_occurrences", sorted(_moment(d) for d in original.deleted_occurrences),
              sorted(_moment(d) for d in copy.deleted_occurrences))  # fmt: skip
        if len(original.exceptions) != len(copy.exceptions):
            out.append(f"exceptions: {len(original.exceptions)} != {len(copy.exceptions)}")
        else:
            by_id = {_moment(e.recurrence_id): e for e in copy.exceptions}
            for exc in original.exceptions:
                other = by_id.get(_moment(exc.recurrence_id))
                if other is None:
                    out.append(f"exception {exc.recurrence_id} missing")
                    continue
                for name in ("subject", "start", "end"):
                    check(f"exception {exc.recurrence_id} {name}", getattr(exc, name), getattr(other, name))
    elif isinstance(original, Task):
        assert isinstance(copy, Task)
        for name in ("subject", "start", "due", "status", "percent_complete", "importance", "recurrence"):
            check(name, getattr(original, name), getattr(copy, name))
        if original.body is not None:
            check("body", original.body.strip(), (copy.body or "").strip())
        if original.completed is not None:
            check("completed", original.completed, copy.completed)
        check("categories", sorted(original.categories), sorted(copy.categories))
    elif isinstance(original, Note):
        assert isinstance(copy, Note)
        check("subject", original.subject, copy.subject)
        check("body", (original.body or "").strip(), (copy.body or "").strip())
        if caps.supports_note_color:
            check("color", original.color, copy.color)
        check("categories", sorted(original.categories), sorted(copy.categories))
    return out


# -- the suite ------------------------------------------------------------------------------

_PATHS: dict[ItemType, tuple[str, ...]] = {
    "mail": ("Conformance", "Mail ü"),
    "contacts": ("Conformance contacts",),
    "calendar": ("Conformance calendar",),
    "tasks": ("Conformance tasks",),
    "notes": ("Conformance notes",),
}


def _folder(mailbox: SourceMailbox | DestinationMailbox, path: tuple[str, ...]) -> Folder:
    for folder in mailbox.folders():
        if folder.path == path:
            return folder
    raise AssertionError(f"folder {'/'.join(path)} not listed; have {[str(f) for f in mailbox.folders()]}")


def _key(item: Item) -> str:
    for name in ("message_id", "uid", "display_name", "subject"):
        value = getattr(item, name, None)
        if value:
            return str(value)
    return repr(item)


def check_mailboxes_open(h: Harness) -> None:
    h.source.open_mailbox(h.source_address).check()
    h.destination.open_mailbox(h.destination_address).check()


def check_folder_tree(h: Harness) -> None:
    h.seed(("Projects", "Ünïcode ☃", "Deep"), "mail", [sample_message(1)])
    h.seed(_PATHS["calendar"], "calendar", [])
    folders = h.source.open_mailbox(h.source_address).folders()
    paths = [f.path for f in folders]
    for index, folder in enumerate(folders):
        if folder.parent_path:
            assert folder.parent_path in paths[:index], f"{folder} listed before its parent"
    roles = {f.role: f for f in folders if f.role}
    for role, kind in (("inbox", "mail"), ("sent", "mail"), ("calendar", "calendar"), ("contacts", "contacts"), ("tasks", "tasks")):
        assert role in roles, f"no folder with role {role}"
        assert roles[role].kind == kind
    assert ("Projects", "Ünïcode ☃", "Deep") in paths
    assert next(f for f in folders if f.path == _PATHS["calendar"]).kind == "calendar"


def check_fetch_order_and_missing(h: Harness) -> None:
    messages = [sample_message(i) for i in range(10, 14)]
    h.seed(("Order",), "mail", messages)
    mailbox = h.source.open_mailbox(h.source_address)
    folder = _folder(mailbox, ("Order",))
    refs = list(mailbox.list_items(folder))
    assert len(refs) == 4 and all(r.item_type == "mail" and r.size > 0 for r in refs)
    wanted = list(reversed(refs))
    got = list(mailbox.fetch(folder, wanted))
    assert [m.source_id for m in got] == [r.id for r in wanted]
    gone = attrs.evolve(refs[0], id=refs[0].id[:-4] + "AAAA")
    assert [m.source_id for m in mailbox.fetch(folder, [gone, refs[1]])] == [refs[1].id]


def check_since(h: Harness) -> None:
    old = sample_message(20, received=dt.datetime(2025, 6, 1, tzinfo=UTC))
    new = sample_message(21, received=dt.datetime(2026, 3, 1, tzinfo=UTC))
    h.seed(("Since",), "mail", [old, new])
    mailbox = h.source.open_mailbox(h.source_address)
    folder = _folder(mailbox, ("Since",))
    assert len(list(mailbox.list_items(folder))) == 2
    recent = list(mailbox.list_items(folder, since=dt.datetime(2026, 1, 1, tzinfo=UTC)))
    assert [getattr(m, "message_id", None) for m in mailbox.fetch(folder, recent)] == [new.message_id]


def check_round_trip(h: Harness, kind: ItemType) -> None:
    originals = sample_items(kind)
    caps = h.source.capabilities.intersect(h.destination.capabilities)
    if kind == "contacts" and not caps.supports_distribution_lists:
        originals = [c for c in originals if not getattr(c, "is_distribution_list", False)]
    path = _PATHS[kind]
    h.seed(path, kind, originals)
    src = h.source.open_mailbox(h.source_address)
    folder = _folder(src, path)
    fetched = list(src.fetch(folder, list(src.list_items(folder))))
    assert len(fetched) == len(originals)
    by_key = {_key(i): i for i in fetched}
    for original in originals:
        read = by_key[_key(original)]
        problems = differences(original, read)
        assert not problems, f"source read {kind} {_key(original)}: {problems}"
    dst = h.destination.open_mailbox(h.destination_address)
    target = dst.ensure_folder(folder)
    results = dst.create_items(target, fetched)
    assert all(isinstance(r, CreateResult) for r in results)
    assert all(r.ok for r in results), results
    assert dst.count(target) == len(fetched)
    back = h.readback.open_mailbox(h.destination_address)
    copied = list(back.fetch(_folder(back, target.path), list(back.list_items(_folder(back, target.path)))))
    by_key = {_key(i): i for i in copied}
    for original in originals:
        problems = differences(original, by_key[_key(original)], caps)
        assert not problems, f"destination copy of {kind} {_key(original)}: {problems}"
    from groupmigrate.core.dedup import fingerprint

    assert sorted(fingerprint(i) for i in dst.existing(target, kind)) == sorted(fingerprint(i) for i in fetched)


def check_batch_with_rejected_item(h: Harness) -> None:
    bad = h.rejected_item()
    if bad is None:
        import pytest

        pytest.skip("the harness has no item the destination refuses")
    dst = h.destination.open_mailbox(h.destination_address)
    target = dst.ensure_folder(Folder(("Batch",), kind="mail"))
    good = [sample_message(30), sample_message(31)]
    results = dst.create_items(target, [good[0], bad, good[1]])
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error and results[1].code
    assert dst.count(target) == 2


def check_ensure_folder(h: Harness) -> None:
    dst = h.destination.open_mailbox(h.destination_address)
    inbox = dst.ensure_folder(Folder(("Posteingang",), kind="mail", role="inbox"))
    assert inbox.role == "inbox" and inbox.folder_id
    deep = dst.ensure_folder(Folder(("Archiv 2020", "Q1", "Kunden ✓"), kind="mail"))
    again = dst.ensure_folder(Folder(("Archiv 2020", "Q1", "Kunden ✓"), kind="mail"))
    assert deep.folder_id == again.folder_id
    cal = dst.ensure_folder(Folder(("Team calendar",), kind="calendar"))
    listed = {f.path: f for f in dst.folders()}
    assert ("Archiv 2020", "Q1") in listed and listed[("Archiv 2020", "Q1", "Kunden ✓")].kind == "mail"
    assert listed[cal.path].kind == "calendar"


def check_source_never_writes(h: Harness) -> None:
    h.seed(("Readonly",), "mail", [sample_message(40)])
    before = h.source_writes()
    if before is None:
        import pytest

        pytest.skip("the harness cannot see the source server's writes")
    src = h.source.open_mailbox(h.source_address)
    src.check()
    for folder in src.folders():
        refs = list(src.list_items(folder))
        list(src.fetch(folder, refs[:5]))
    if isinstance(src, SupportsSyncState):
        src.sync_items(_folder(src, ("Readonly",)), None)
    src.resolve_addresses(["/o=Org/ou=Exchange Administrative Group/cn=Recipients/cn=nobody"])
    src.close()
    assert h.source_writes() == before


def check_sync_state(h: Harness) -> None:
    src = h.source.open_mailbox(h.source_address)
    if not isinstance(src, SupportsSyncState):
        import pytest

        pytest.skip("the source keeps no sync state")
    h.seed(("Synced",), "mail", [sample_message(50), sample_message(51)])
    folder = _folder(src, ("Synced",))
    first = src.sync_items(folder, None)
    assert len(first.refs) == 2 and first.state
    assert src.sync_items(folder, first.state).refs == ()
    h.seed(("Synced",), "mail", [sample_message(52)])
    later = src.sync_items(folder, first.state)
    assert [getattr(m, "message_id", None) for m in src.fetch(folder, list(later.refs))] == [sample_message(52).message_id]


def _one_per_type(kind: ItemType, caps: Capabilities) -> list[Item]:
    items = sample_items(kind)
    if kind == "contacts" and not caps.supports_distribution_lists:
        items = [c for c in items if not getattr(c, "is_distribution_list", False)]
    return items


def check_provenance(h: Harness) -> None:
    caps = h.destination.capabilities
    dst = h.destination.open_mailbox(h.destination_address)
    kinds: tuple[ItemType, ...] = ("mail", "contacts", "calendar", "tasks", "notes")
    for kind in kinds:
        if kind not in caps.item_types:
            continue
        target = dst.ensure_folder(Folder((f"Stamped {kind}",), kind=kind))
        items = _one_per_type(kind, caps)
        stamps = [stamp_for(f"{kind}-{i}") for i in range(len(items))]
        results = dst.create_items(target, items, stamps)
        assert all(r.ok and r.item_id for r in results), results
        assert dst.count(target) == len(items)  # one attempt: nothing created twice
        if not caps.supports_provenance:
            continue
        assert isinstance(dst, SupportsProvenance), "supports_provenance without find_stamps"
        expected = {s: [r.item_id] for s, r in zip(stamps, results)}
        assert dst.find_stamps(target, stamps) == expected
        assert dst.find_stamps(target, stamps[:1]) == {stamps[0]: [results[0].item_id]}
        assert dst.find_stamps(target) == expected
        assert dst.find_stamps(target, [stamp_for("never written")]) == {}
        # an item without a stamp is not reported; one created twice is listed twice
        dst.create_items(target, items[:1])
        (again,) = dst.create_items(target, items[:1], stamps[:1])
        assert sorted(dst.find_stamps(target, stamps[:1])[stamps[0]]) == sorted([results[0].item_id or "", again.item_id or ""])


def check_fetch_existing(h: Harness) -> None:
    caps = h.destination.capabilities
    dst = h.destination.open_mailbox(h.destination_address)
    kinds: tuple[ItemType, ...] = ("mail", "contacts", "tasks")
    for kind in kinds:
        if kind not in caps.item_types:
            continue
        target = dst.ensure_folder(Folder((f"Existing {kind}",), kind=kind))
        items = _one_per_type(kind, caps)
        results = dst.create_items(target, items)
        assert all(r.ok for r in results), results
        ids = [r.item_id or "" for r in results]
        gone = ids[0][:-4] + ("AAAA" if not ids[0].endswith("AAAA") else "BBBB")
        fetched = list(dst.fetch_existing(target, [*reversed(ids), gone]))
        assert [i.source_id for i in fetched] == list(reversed(ids))
        for original, copy in zip(reversed(items), fetched):
            problems = differences(original, copy, caps)
            assert not problems, f"fetch_existing {kind} {_key(original)}: {problems}"
            if isinstance(copy, Message):
                assert copy.mime, "fetch_existing must return mail with its MIME"


def check_lost_answer(h: Harness) -> None:
    lose = getattr(h, "lose_next_write", None)
    if lose is None:
        import pytest

        pytest.skip("the harness cannot lose a write's answer")
    caps = h.destination.capabilities
    dst = h.destination.open_mailbox(h.destination_address)
    target = dst.ensure_folder(Folder(("Lost answers",), kind="mail"))
    items = [sample_message(i) for i in range(60, 63)]
    stamps = [stamp_for(f"lost-{i}") for i in range(3)]
    lose()
    try:
        results = dst.create_items(target, items, stamps)
    except OutcomeUnknown:
        results = [CreateResult(ok=False, maybe_applied=True)] * len(items)
    assert all(r.ok or r.maybe_applied for r in results), results
    assert dst.count(target) == len(items)  # applied once, never repeated by the backend
    if caps.supports_provenance:
        assert isinstance(dst, SupportsProvenance)
        found = dst.find_stamps(target, stamps)
        assert sorted(found) == sorted(stamps) and all(len(v) == 1 for v in found.values())


def check_stray_items(h: Harness) -> None:
    if not h.source.capabilities.allows_mixed_folders:
        import pytest

        pytest.skip("the source keeps one item type per folder")
    stray_mail = sample_message(70)
    stray_contact = Contact(display_name="Stray contact", given_name="Stray", emails=("stray@example.org",))
    h.seed(("Stray contacts",), "contacts", [stray_mail])
    h.seed(("Stray mail",), "mail", [stray_contact])
    src = h.source.open_mailbox(h.source_address)
    dst = h.destination.open_mailbox(h.destination_address)
    for path, original in ((("Stray contacts",), stray_mail), (("Stray mail",), stray_contact)):
        folder = _folder(src, path)
        refs = list(src.list_items(folder))
        assert [r.item_type for r in refs] == [original.item_type], f"{path}: listed as {[r.item_type for r in refs]}"
        (read,) = src.fetch(folder, refs)
        assert type(read) is type(original) and not differences(original, read)
        if not h.destination.capabilities.allows_mixed_folders:
            continue
        target = dst.ensure_folder(folder)
        (result,) = dst.create_items(target, [read])
        assert result.ok, result
        back = h.readback.open_mailbox(h.destination_address)
        back_folder = _folder(back, target.path)
        (copy,) = back.fetch(back_folder, list(back.list_items(back_folder)))
        assert type(copy) is type(original)
        problems = differences(original, copy, h.source.capabilities.intersect(h.destination.capabilities))
        assert not problems, f"stray {type(original).__name__}: {problems}"


class BackendConformance:
    """The suite as pytest test methods; subclass it and provide a ``harness`` fixture."""

    def test_mailboxes_open(self, harness: Harness) -> None:
        check_mailboxes_open(harness)

    def test_folder_tree(self, harness: Harness) -> None:
        check_folder_tree(harness)

    def test_fetch_order_and_missing(self, harness: Harness) -> None:
        check_fetch_order_and_missing(harness)

    def test_since(self, harness: Harness) -> None:
        check_since(harness)

    def test_round_trip_mail(self, harness: Harness) -> None:
        check_round_trip(harness, "mail")

    def test_round_trip_contacts(self, harness: Harness) -> None:
        check_round_trip(harness, "contacts")

    def test_round_trip_calendar(self, harness: Harness) -> None:
        check_round_trip(harness, "calendar")

    def test_round_trip_tasks(self, harness: Harness) -> None:
        check_round_trip(harness, "tasks")

    def test_round_trip_notes(self, harness: Harness) -> None:
        check_round_trip(harness, "notes")

    def test_batch_with_rejected_item(self, harness: Harness) -> None:
        check_batch_with_rejected_item(harness)

    def test_ensure_folder(self, harness: Harness) -> None:
        check_ensure_folder(harness)

    def test_source_never_writes(self, harness: Harness) -> None:
        check_source_never_writes(harness)

    def test_sync_state(self, harness: Harness) -> None:
        check_sync_state(harness)

    def test_provenance(self, harness: Harness) -> None:
        check_provenance(harness)

    def test_fetch_existing(self, harness: Harness) -> None:
        check_fetch_existing(harness)

    def test_lost_answer(self, harness: Harness) -> None:
        check_lost_answer(harness)

    def test_stray_items(self, harness: Harness) -> None:
        check_stray_items(harness)
