"""Field-by-field fidelity of calendars, tasks and notes on the trip Exchange Online → Radicale → Exchange Server.

The items are created in the first mailbox through exchangelib against an EWS test server
(profile ``exchange-online``, answering with Exchange Online's quirks), as a client creates
them, with every field a user sees populated: a weekly series across the change to summer
time with a moved and a cancelled occurrence; single events in Berlin, New York and Kolkata;
an all-day event of three days and an all-day weekly series with a moved and a cancelled day;
a meeting someone else organized, with required, optional and resource attendees, their
responses, a reminder, show-as, sensitivity, importance, categories, files, an HTML body and
an online meeting address; a recurring task with every Outlook field; a completed task; a
sticky note with colour, size and its dates. :class:`groupmigrate.Migrator` copies the mailbox to a
real Radicale, then from Radicale to a second EWS test server (profile ``exchange``).

Each stage is read back (the EWS mailboxes through the EWS backend, Radicale through
:class:`~groupmigrate.backends.dav.source.DavSource`) and compared field by field, for each hop
and end to end: a field arrives, or its loss is listed in :data:`LOSSES` and the hop's report
names it for that item. Neither source sees a write. The occurrences of the series are
compared as each server expands them itself (EWS CalendarView, CalDAV ``expand``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import re
import secrets
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import icalendar
import pytest
import requests
from lxml import etree
from exchangelib import DELEGATE, Account, Configuration, Credentials, FailFast
from exchangelib.attachments import FileAttachment
from exchangelib.ewsdatetime import UTC as EWS_UTC
from exchangelib.ewsdatetime import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.items import SEND_TO_NONE, CalendarItem
from exchangelib.properties import Attendee, Body, HTMLBody, Mailbox, OccurrenceItemId
from exchangelib.protocol import CachingProtocol
from exchangelib.recurrence import Recurrence, TaskRecurrence, WeeklyPattern

import groupmigrate as gm
from groupmigrate.auth import BasicAuth
from groupmigrate.backends.dav import ical, vcard
from groupmigrate.backends.dav.destination import DavDestination
from groupmigrate.backends.dav.source import DavSource
from groupmigrate.backends.ews.models import MailItem, TaskItem
from groupmigrate.items import Event, Item, ItemType, Note, Task
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.ews.render import set_prop
from groupmigrate.testing.ews.xmlns import T, sub
from groupmigrate.testing.radicale import RadicaleServer

pytestmark = pytest.mark.timeout(120)

UTC = dt.timezone.utc
BERLIN = "Europe/Berlin"
#: the first mailbox (Exchange Online) and the last (Exchange Server); the Radicale user
#: between them is an address too, so that it may stand as an organizer
FIRST, LAST = "alice@contoso.com", "alice@example.org"
PASSWORD, ADMIN, ADMIN_PASSWORD = "alice-Pa55-word", "admin@example.org", "admin-Pa55-word"
HOPS = ("there", "back", "end to end")

SERIES, MOVED = "Weekly sync", "Weekly sync (moved)"
CALLS = {"Call from Berlin": BERLIN, "Call from New York": "America/New_York", "Call from Kolkata": "Asia/Kolkata"}
HOLIDAY, MEETING = "Trade fair", "Budget meeting"
FRIDAYS, FRIDAY_MOVED = "Friday off", "Friday off (moved)"
#: the meeting's organizer: someone else invited the mailbox's owner
ORGANIZER = "olga@example.org"
TASK, DONE, NOTE = "Prepare budget", "Book the venue", "Door code"

#: an Outlook-style HTML body: CRLF lines, a style block, quotes, a backslash, non-ASCII
HTML = ('<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
        '<style>p {margin:0; font-family:"Calibri"}</style></head>\r\n<body>\r\n'
        '<p>Agenda: <b>budget</b>, risks; C:\\share\\Q2 \u2013 Grüße 🙂</p>\r\n</body>\r\n</html>\r\n')  # fmt: skip
#: a long text with multi-byte characters where lines are folded, and a second line
LONG_TEXT = "Status of the week. " + "Grüße aus Köln 🙂 " * 12 + "\r\nSecond line; third, fourth."
#: a file holding every byte value
BLOB = bytes(range(256)) * 300
#: when the note was written and last changed (a client cannot set these; the server keeps them)
NOTE_CREATED, NOTE_MODIFIED = dt.datetime(2025, 3, 4, 10, tzinfo=UTC), dt.datetime(2025, 3, 5, 11, 30, tzinfo=UTC)

#: Documented losses: (hop, item type, field) → what the hop's report says of it. Every other
#: field must arrive. ``there`` is Exchange Online → Radicale, ``back`` Radicale → Exchange.
LOSSES: dict[tuple[str, str, str], str] = {
    # EWS cannot set an organizer on create (every EWS profile says so): on the way back the
    # mailbox owner becomes the organizer, which the mapper says once per account (a notice).
    # Radicale keeps the organizer (preserves_organizer is what the destination can write).
    ("back", "calendar", "organizer"): "organizer",
    # an EWS server sets a note's created and modified times itself
    ("back", "notes", "created"): "created time",
    ("back", "notes", "modified"): "modified time",
}
#: losses the mapper reports once per account (a notice) rather than on each item
ACCOUNT_NOTICES = {"organizer"}


# -- seeding the first mailbox -------------------------------------------------------------------


def account(server: EWSTestServer, address: str, zone: str = "UTC") -> Account:
    """A plain exchangelib client of ``address`` in time zone ``zone``."""
    config = Configuration(service_endpoint=server.url, credentials=Credentials(address, PASSWORD), auth_type="basic",
                           retry_policy=FailFast(), version=None)  # fmt: skip
    return Account(address, config=config, access_type=DELEGATE, autodiscover=False, default_timezone=EWSTimeZone(zone))


def _at(zone: str, *parts: int) -> EWSDateTime:
    return EWSDateTime(*parts, tzinfo=EWSTimeZone(zone))


def _person(address: str, name: str, response: str) -> Attendee:
    return Attendee(mailbox=Mailbox(email_address=address, name=name), response_type=response)


def _seed_series(acc: Account) -> None:
    # 8 Mondays from 2 March 2026, 09:00 in Berlin, which changes to summer time on 29 March
    series = CalendarItem(
        account=acc, folder=acc.calendar, subject=SERIES, body=Body(LONG_TEXT), location="Room 1",
        start=_at(BERLIN, 2026, 3, 2, 9), end=_at(BERLIN, 2026, 3, 2, 9, 30), reminder_is_set=True,
        reminder_minutes_before_start=10, categories=["Team"], legacy_free_busy_status="WorkingElsewhere",
        required_attendees=[_person("bob@example.org", "Berg, Bob", "Accept")],
        optional_attendees=[_person("dan@example.org", "Dan Dorn", "Unknown")],
        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]), start=EWSDate(2026, 3, 2),
                              end=EWSDate(2026, 4, 20)),
    )  # fmt: skip
    series.save(send_meeting_invitations=SEND_TO_NONE)
    # the fifth (30 March, the first in summer time) moved to Tuesday afternoon, with other details
    moved = CalendarItem(account=acc, _id=OccurrenceItemId(id=series.id, changekey=series.changekey, instance_index=5))
    moved.subject, moved.location = MOVED, "Room 2"
    moved.start, moved.end = _at(BERLIN, 2026, 3, 31, 15), _at(BERLIN, 2026, 3, 31, 16)
    moved.importance, moved.categories, moved.reminder_is_set = "Low", ["Team", "Moved"], False
    moved.required_attendees, moved.optional_attendees = [_person("erin@example.org", "Erin Ernst", "Tentative")], None
    changed = ["subject", "location", "start", "end", "importance", "categories", "reminder_is_set", "required_attendees",
               "optional_attendees"]  # fmt: skip
    [answer] = acc.bulk_update([(moved, changed)], send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                               suppress_read_receipts=True)  # fmt: skip
    assert not isinstance(answer, Exception), answer
    # the third (16 March, still winter time) cancelled
    gone = CalendarItem(account=acc, _id=OccurrenceItemId(id=series.id, changekey=series.changekey, instance_index=3))
    [answer] = acc.bulk_delete([gone], send_meeting_cancellations=SEND_TO_NONE, suppress_read_receipts=True)
    assert answer is True, answer


def _seed_events(server: EWSTestServer, acc: Account) -> None:
    for (subject, zone), minute in zip(CALLS.items(), (0, 0, 30)):
        begin = _at(zone, 2026, 3, 10, 15 if zone == "Asia/Kolkata" else 10, minute)
        CalendarItem(account=acc, folder=acc.calendar, subject=subject, start=begin, end=begin + dt.timedelta(minutes=45),
                     location=f"Phone ({zone})").save(send_meeting_invitations=SEND_TO_NONE)  # fmt: skip
    local = account(server, FIRST, BERLIN)  # a client in Berlin: its days begin at midnight there
    CalendarItem(
        account=local, folder=local.calendar, subject=HOLIDAY, is_all_day=True, start=EWSDate(2026, 4, 14),
        end=EWSDate(2026, 4, 16), legacy_free_busy_status="OOF", location="Hanover", reminder_is_set=True,
        reminder_minutes_before_start=1080,
    ).save(send_meeting_invitations=SEND_TO_NONE)  # fmt: skip
    meeting = CalendarItem(
        account=acc, folder=acc.calendar, subject=MEETING, body=HTMLBody(HTML), start=_at(BERLIN, 2026, 4, 21, 14),
        end=_at(BERLIN, 2026, 4, 21, 15, 30), location="Room Rhine, Building 2; 3rd floor",
        legacy_free_busy_status="Tentative", sensitivity="Private", importance="High",
        categories=["Finance", "Planning: Q2/Q3", "Ärger"], reminder_is_set=True, reminder_minutes_before_start=25,
        required_attendees=[_person("bob@example.org", "Berg, Bob", "Accept"),
                            _person("carla@example.org", "Carla Cruz", "Decline")],
        optional_attendees=[_person("dan@example.org", "Dan Dorn", "Tentative")],
        resources=[_person("rhine@example.org", "Room Rhine", "Accept")],
        net_show_url="https://meet.example.org/budget?id=42,7", meeting_workspace_url="https://workspace.example.org/budget",
    )  # fmt: skip
    meeting.save(send_meeting_invitations=SEND_TO_NONE)
    meeting.attach(FileAttachment(name="agenda.txt", content=b"1. budget\n2. risks\n", content_type="text/plain"))
    meeting.attach(FileAttachment(name="Übersicht 2026.bin", content=BLOB, content_type="application/octet-stream"))
    (stored,) = [i for i in server.folder_items(FIRST, ("Calendar",)) if i.element.findtext(T("Subject")) == MEETING]
    organizer = etree.Element(T("Organizer"))
    box = sub(organizer, T("Mailbox"))
    for name, text in (("Name", "Olga Ortmann"), ("EmailAddress", ORGANIZER), ("RoutingType", "SMTP"), ("MailboxType", "OneOff")):
        sub(box, T(name), text)
    with server.store.lock:  # the invitation came from Olga (a client cannot set the organizer)
        set_prop(stored.element, "Organizer", organizer)
        set_prop(stored.element, "MyResponseType", "Accept")
        server.store.save_item(stored)
        server.store.commit()
    # every Friday from 6 March to 24 April, a day off; the second moved to Monday 16 March, the fifth cancelled
    fridays = CalendarItem(
        account=local, folder=local.calendar, subject=FRIDAYS, is_all_day=True, start=EWSDate(2026, 3, 6),
        end=EWSDate(2026, 3, 6), legacy_free_busy_status="Free", sensitivity="Personal", reminder_is_set=False,
        reminder_minutes_before_start=15,
        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[5]), start=EWSDate(2026, 3, 6),
                              end=EWSDate(2026, 4, 24)),
    )  # fmt: skip
    fridays.save(send_meeting_invitations=SEND_TO_NONE)
    moved = CalendarItem(account=local, _id=OccurrenceItemId(id=fridays.id, changekey=fridays.changekey, instance_index=2))
    moved.subject, moved.start, moved.end = FRIDAY_MOVED, EWSDate(2026, 3, 16), EWSDate(2026, 3, 16)
    [answer] = local.bulk_update([(moved, ["subject", "start", "end"])], send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                                 suppress_read_receipts=True)  # fmt: skip
    assert not isinstance(answer, Exception), answer
    gone = CalendarItem(account=local, _id=OccurrenceItemId(id=fridays.id, changekey=fridays.changekey, instance_index=5))
    [answer] = local.bulk_delete([gone], send_meeting_cancellations=SEND_TO_NONE, suppress_read_receipts=True)
    assert answer is True, answer


def _seed_tasks_and_notes(server: EWSTestServer, acc: Account) -> None:
    TaskItem(
        account=acc, folder=acc.tasks, subject=TASK, body="Numbers for Q2", start_date=EWSDate(2026, 3, 2),
        due_date=EWSDate(2026, 3, 20), status="InProgress", percent_complete=Decimal(30), importance="High",
        categories=["Finance"], reminder_is_set=True, reminder_due_by=EWSDateTime(2026, 3, 19, 8, 0, tzinfo=EWS_UTC),
        task_owner="Alice Adams", total_work=600, actual_work=180, mileage="42 km", billing_information="Cost centre 4711",
        companies=["ACME", "Globex"],
        recurrence=TaskRecurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]), start=EWSDate(2026, 3, 2), number=10),
    ).save()  # fmt: skip
    TaskItem(
        account=acc, folder=acc.tasks, subject=DONE, body="Hall B", due_date=EWSDate(2026, 2, 27), status="Completed",
        percent_complete=Decimal(100), importance="Low", categories=["Events"],
        date_completed=EWSDateTime(2026, 2, 26, 15, 30, tzinfo=EWS_UTC),
    ).save()  # fmt: skip
    MailItem(
        account=acc, folder=acc.notes, item_class="IPM.StickyNote", subject=NOTE, body=Body("Door code\n4711"),
        categories=["Home"], note_color=2, note_width=320, note_height=180,
    ).save()  # fmt: skip
    (stored,) = server.folder_items(FIRST, ("Notes",))
    with server.store.lock:
        set_prop(stored.element, "DateTimeCreated", f"{NOTE_CREATED:%Y-%m-%dT%H:%M:%SZ}")
        set_prop(stored.element, "LastModifiedTime", f"{NOTE_MODIFIED:%Y-%m-%dT%H:%M:%SZ}")
        server.store.save_item(stored)
        server.store.commit()


def seed_calendar_tasks_notes(server: EWSTestServer) -> None:
    acc = account(server, FIRST)
    _seed_series(acc)
    _seed_events(server, acc)
    _seed_tasks_and_notes(server, acc)


# -- the trip --------------------------------------------------------------------------------------


def read_ews(server: EWSTestServer, address: str) -> dict[str, Item]:
    """Every item of ``address`` (but mail) through the EWS backend, by subject or name; each
    must be in the folder of its kind's well-known role."""
    source = gm.EWSSource(url=server.url, auth=gm.BasicAuth(ADMIN, ADMIN_PASSWORD), impersonation=True,
                          profile=server.profile.name, timeout=10)  # fmt: skip
    return _read(source.open_mailbox(address))


def _read(mailbox: Any) -> dict[str, Item]:
    found: dict[str, Item] = {}
    try:
        for folder in mailbox.folders():
            if folder.kind == "mail":
                continue
            for item in mailbox.fetch(folder, list(mailbox.list_items(folder))):
                key = getattr(item, "subject", None) or getattr(item, "display_name", None)
                assert key and key not in found, f"two items called {key!r}"
                assert folder.role == item.item_type, f"{key!r} is in {folder}, not in the {item.item_type} folder"
                found[key] = item
    finally:
        mailbox.close()
    return found


@attrs.frozen
class Trip:
    """The servers, what each stage holds and the reports of both hops."""

    first_server: EWSTestServer
    last_server: EWSTestServer
    radicale: RadicaleServer
    user: str  # the Radicale user
    password: str
    first: dict[str, Item]
    middle: dict[str, Item]  # read from Radicale through DavSource
    last: dict[str, Item]
    there: gm.Report  # Exchange Online → Radicale
    back: gm.Report  # Radicale → Exchange Server
    stored: dict[str, bytes]  # Radicale's resources as it stores them, by href
    mark: int  # Radicale's request log before the second hop

    def stage(self, name: str) -> dict[str, Item]:
        return {"first": self.first, "middle": self.middle, "last": self.last}[name]

    def hop(self, name: str) -> tuple[dict[str, Item], dict[str, Item], list[gm.Report]]:
        """(before, after, reports) of a hop, or of the whole trip."""
        return {
            "there": (self.first, self.middle, [self.there]), "back": (self.middle, self.last, [self.back]),
            "end to end": (self.first, self.last, [self.there, self.back]),
        }[name]  # fmt: skip

    def resource(self, text: str) -> bytes:
        """The one stored resource holding ``text``."""
        (found,) = [d for d in self.stored.values() if text.encode() in d]
        return found


@contextlib.contextmanager
def take_trip(radicale: RadicaleServer, state_dir: Path, register: Callable[..., None], seed: Callable[[EWSTestServer], None],
              item_types: Sequence[ItemType]) -> Iterator[Trip]:  # fmt: skip
    """Seed the first server with ``seed``, migrate it to Radicale and on to the last server.

    Both hops must complete, and neither source may see a write (checked again when the trip ends).
    """
    user, password = f"fidelity-{secrets.token_hex(4)}@example.net", "dav-" + secrets.token_urlsafe(12)
    radicale.add_user(user, password)
    with EWSTestServer(profile="exchange-online") as first, EWSTestServer(profile="exchange") as last:
        for server, address in ((first, FIRST), (last, LAST)):
            server.add_mailbox(address, password=PASSWORD)
            server.add_user(ADMIN, ADMIN_PASSWORD)
            server.grant_impersonation(ADMIN, address)
        seed(first)
        CachingProtocol.clear_cache()
        first.clear_operations()  # the seeding client is the outside world, not the migration
        register(first)
        knobs = first.knobs  # answer as real Exchange Online servers do
        knobs.long_fractions = knobs.attendees_need_all_properties = knobs.original_start_at_midnight = True
        before = read_ews(first, FIRST)
        endpoint = {"auth": gm.BasicAuth(ADMIN, ADMIN_PASSWORD), "impersonation": True, "timeout": 10}
        there = gm.Migrator(
            gm.EWSSource(url=first.url, profile="exchange-online", **endpoint),
            DavDestination(radicale.url, profile="radicale", read_timeout=10),
            state=str(state_dir / "there.db"), item_types=tuple(item_types),
        ).run([gm.AccountPair(FIRST, user, destination_auth=BasicAuth(user, password))])
        assert first.write_operations() == [], f"the first hop wrote to its source: {first.write_operations()[:5]}"
        dav = DavSource(radicale.url, profile="radicale", read_timeout=10)
        middle = _read(dav.open_mailbox(user, BasicAuth(user, password)))
        stored = _stored(radicale, dav, user, password)
        mark = radicale.log_mark()
        back = gm.Migrator(
            DavSource(radicale.url, profile="radicale", read_timeout=10),
            gm.EWSDestination(url=last.url, profile="exchange", **endpoint),
            state=str(state_dir / "back.db"), item_types=tuple(item_types),
        ).run([gm.AccountPair(user, LAST, source_auth=BasicAuth(user, password))])
        writes = radicale.write_operations(user, since=mark)
        assert writes == [], f"the second hop wrote to its source: {writes[:5]}"
        knobs.long_fractions = knobs.attendees_need_all_properties = knobs.original_start_at_midnight = False
        yield Trip(first, last, radicale, user, password, before, middle, read_ews(last, LAST), there, back, stored, mark)
        assert first.write_operations() == [] and radicale.write_operations(user, since=mark) == []
    CachingProtocol.clear_cache()


def _stored(radicale: RadicaleServer, dav: DavSource, user: str, password: str) -> dict[str, bytes]:
    mailbox = dav.open_mailbox(user, BasicAuth(user, password))
    try:
        collections = sorted({p.collection.href for p in mailbox.places()})
    finally:
        mailbox.close()
    return {href: data for c in collections for href, data in radicale.list(user, c).items()}


@pytest.fixture(scope="module")
def trip(radicale: RadicaleServer, tmp_path_factory: pytest.TempPathFactory, register_source: Any) -> Iterator[Trip]:
    with take_trip(radicale, tmp_path_factory.mktemp("trip"), register_source, seed_calendar_tasks_notes,
                   ("calendar", "tasks", "notes")) as taken:  # fmt: skip
        yield taken


# -- comparing -------------------------------------------------------------------------------------

#: text fields compared without surrounding white space, line ends as LF (iCalendar text has no CR)
TEXTS = frozenset({"body", "notes"})


@functools.lru_cache(maxsize=64)
def zone_rules(name: str | None) -> tuple[Any, ...] | None:
    """What a time zone does in 2025-2027, day by day: zones with the same rules (``Asia/Calcutta``
    and ``Asia/Kolkata``, ``UTC`` and ``Etc/UTC``) are one."""
    if name is None:
        return None
    zone = zoneinfo.ZoneInfo(name)
    first = dt.datetime(2025, 1, 1, tzinfo=UTC)
    return tuple((first + dt.timedelta(hours=12 * n)).astimezone(zone).utcoffset() for n in range(2 * 365 * 3))


def normal(name: str, value: Any) -> Any:
    """``value`` of field ``name`` as compared: instants in UTC to the second, zones by their
    rules, texts as above, nested items field by field."""
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(microsecond=0)
    if name == "timezone":
        return zone_rules(value)
    if isinstance(value, str) and name in TEXTS:
        return value.replace("\r\n", "\n").strip()
    if isinstance(value, tuple):
        return tuple(normal(name, v) for v in value)
    if attrs.has(type(value)):
        return {f.name: normal(f.name, getattr(value, f.name)) for f in attrs.fields(type(value)) if f.name != "source_id"}
    return value


def fields(item: Item) -> list[str]:
    """The fields compared: every field of the model but the source's id; an event's
    exceptions are compared as items of their own."""
    return [f.name for f in attrs.fields(type(item)) if f.name not in ("source_id", "exceptions")]


def populated(value: Any) -> bool:
    return value not in (None, "", (), False, 0)


def logged(reports: Sequence[gm.Report], item_type: str, label: str, field: str, words: str) -> bool:
    """Whether a report names the loss of ``field`` for the item called ``label`` (a loss the
    mapper tells once per account, a notice, counts for every item)."""
    for report in reports:
        for entry in report.accounts[0].log:
            if entry.kind not in ("changed", "dropped", "notice") or words not in entry.message:
                continue
            if entry.item_type not in (item_type, None):
                continue
            shown = entry.item or ""  # '"Weekly sync", 2026-03-02 08:00 UTC' or 'Anna Meier <anna@...>'
            if shown.startswith((f'"{label}"', f"{label} <")) or shown == label:
                return True
            if field in ACCOUNT_NOTICES and entry.kind == "notice":
                return True
    return False


@attrs.frozen
class Outcome:
    kept: list[str]
    lost: list[str]  # documented and logged
    problems: list[str]


def compare(trip: Trip, hop: str, keys: Sequence[str]) -> Outcome:
    """Field by field, for the items called ``keys`` (and an event's exceptions) across ``hop``."""
    before, after, reports = trip.hop(hop)
    kept: list[str] = []
    lost: list[str] = []
    problems: list[str] = []
    for key in keys:
        original, copy = before[key], after.get(key)
        if copy is None:
            problems.append(f"{key}: missing after the hop")
            continue
        pairs: list[tuple[str, Item, Item]] = [(key, original, copy)]
        if isinstance(original, Event) and isinstance(copy, Event):
            theirs = {normal("recurrence_id", e.recurrence_id): e for e in copy.exceptions}
            if len(theirs) != len(original.exceptions):
                problems.append(f"{key}: {len(original.exceptions)} modified occurrence(s), {len(theirs)} after the hop")
            for exception in original.exceptions:
                match = theirs.get(normal("recurrence_id", exception.recurrence_id))
                if match is None:
                    problems.append(f"{key}: the occurrence of {exception.recurrence_id} is no longer modified")
                else:
                    pairs.append((f"{key} / {exception.subject}", exception, match))
        for what, mine, yours in pairs:
            for name in fields(mine):
                want, got = normal(name, getattr(mine, name)), normal(name, getattr(yours, name))
                if not populated(getattr(mine, name)) and not populated(getattr(yours, name)):
                    continue
                if want == got:
                    kept.append(f"{mine.item_type}.{name}")
                    continue
                words = _documented(hop, mine.item_type, name)
                if words is None:
                    problems.append(f"{what}.{name}: {getattr(mine, name)!r} arrived as {getattr(yours, name)!r}")
                elif not logged(reports, mine.item_type, key, name, words):
                    problems.append(f"{what}.{name}: lost ({getattr(yours, name)!r}), the report does not say {words!r}")
                else:
                    lost.append(f"{mine.item_type}.{name}")
    return Outcome(kept, lost, problems)


def _documented(hop: str, item_type: str, name: str) -> str | None:
    hops = ("there", "back") if hop == "end to end" else (hop,)
    return next((LOSSES[(h, item_type, name)] for h in hops if (h, item_type, name) in LOSSES), None)


def table(outcome: Outcome) -> str:
    """Per field: how many values arrived and how many were lost (logged)."""
    lines = []
    for name in sorted(set(outcome.kept) | set(outcome.lost)):
        lost = outcome.lost.count(name)
        lines.append(f"  {name:40} kept {outcome.kept.count(name)}" + (f", lost (logged) {lost}" if lost else ""))
    return "\n".join(lines)


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


# -- the tests ---------------------------------------------------------------------------------------

KEYS = (SERIES, *CALLS, HOLIDAY, MEETING, TASK, DONE, NOTE)


def test_both_hops_complete_with_every_item(trip: Trip) -> None:
    for report in (trip.there, trip.back):
        (account_report,) = report.accounts
        assert account_report.status == "completed", account_report.log
        assert account_report.counts == {"calendar": {"migrated": 7}, "tasks": {"migrated": 2}, "notes": {"migrated": 1}}
    for stage in ("first", "middle", "last"):
        assert sorted(trip.stage(stage)) == sorted((*KEYS, FRIDAYS)), stage


def test_neither_source_saw_a_write(trip: Trip) -> None:
    assert trip.first_server.write_operations() == []
    assert trip.radicale.write_operations(trip.user, since=trip.mark) == []
    assert [r["method"] for r in trip.radicale.requests(trip.user, since=trip.mark)] != [], "the second hop read nothing"


@pytest.mark.parametrize("hop", HOPS)
def test_every_field_arrives_or_its_loss_is_logged(trip: Trip, hop: str) -> None:
    outcome = compare(trip, hop, KEYS)
    print(f"\n{hop}:\n{table(outcome)}")
    assert outcome.problems == [], "\n".join(outcome.problems)
    documented = {f"{t}.{f}" for (h, t, f) in LOSSES if h == hop or hop == "end to end"}
    assert set(outcome.lost) == documented, f"documented losses that did not happen: {documented - set(outcome.lost)}"


@pytest.mark.parametrize("hop", ("there", "back"))
def test_the_report_tells_no_other_change(trip: Trip, hop: str) -> None:
    """Every change the hop's report names is a documented loss (no unexplained rewrite)."""
    report = trip.there if hop == "there" else trip.back
    words = [w for (h, _, _), w in LOSSES.items() if h == hop]
    others = [f"{e.kind} {e.item}: {e.message}" for e in report.accounts[0].log
              if e.kind not in ("info", "duplicate") and not any(w in e.message for w in words)]  # fmt: skip
    assert others == []


def test_radicale_reads_back_what_was_written_without_a_warning(trip: Trip) -> None:
    assert len(trip.stored) == 10
    for href, data in trip.stored.items():
        if b"BEGIN:VCARD" in data:
            _, warnings = vcard.vcard_to_contact_with_warnings(data, source_id=href)
        else:
            _, warnings = ical.ical_to_item_with_warnings(data, source_id=href)
        assert warnings == [], (href, warnings)


# The series: as each server expands it, its occurrences begin at 08:00 UTC before Berlin's
# change to summer time (29 March) and at 07:00 UTC after it; 16 March is cancelled and
# 30 March moved to Tuesday 31 March, 15:00 in Berlin.
OCCURRENCES = [
    (SERIES, utc(2026, 3, 2, 8), utc(2026, 3, 2, 8, 30)), (SERIES, utc(2026, 3, 9, 8), utc(2026, 3, 9, 8, 30)),
    (SERIES, utc(2026, 3, 23, 8), utc(2026, 3, 23, 8, 30)), (MOVED, utc(2026, 3, 31, 13), utc(2026, 3, 31, 14)),
    (SERIES, utc(2026, 4, 6, 7), utc(2026, 4, 6, 7, 30)), (SERIES, utc(2026, 4, 13, 7), utc(2026, 4, 13, 7, 30)),
    (SERIES, utc(2026, 4, 20, 7), utc(2026, 4, 20, 7, 30)),
]  # fmt: skip


Occurrence = tuple[str, Any, Any]  # subject, start, end: UTC instants, or days for all-day occurrences


def _ews_view(server: EWSTestServer, address: str, subjects: Sequence[str]) -> list[Occurrence]:
    """The occurrences in March and April 2026 of the events called ``subjects``, as the EWS
    server expands them (CalendarView, read by a client in Berlin)."""
    acc = account(server, address, BERLIN)
    view = acc.calendar.view(start=EWSDateTime(2026, 3, 1, tzinfo=EWS_UTC), end=EWSDateTime(2026, 5, 1, tzinfo=EWS_UTC))
    found = [(o.subject, _plain(o.start), _plain(o.end) + dt.timedelta(days=1) if o.is_all_day else _plain(o.end))
             for o in view.only("subject", "start", "end", "is_all_day") if o.subject in subjects]  # fmt: skip
    # (exchangelib gives an all-day occurrence's last day; the end here is the day after, as in iCalendar)
    CachingProtocol.clear_cache()
    return sorted(found, key=lambda o: str(o[1]))


def _plain(moment: Any) -> Any:
    if isinstance(moment, dt.datetime):
        return dt.datetime.fromisoformat(moment.astimezone(EWS_UTC).isoformat()).astimezone(UTC)
    return dt.date(moment.year, moment.month, moment.day)


def _dav_view(trip: Trip, subjects: Sequence[str]) -> list[Occurrence]:
    """The occurrences in March and April 2026 of the events called ``subjects``, as Radicale
    expands them (calendar-query with expand)."""
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <D:prop><C:calendar-data><C:expand start="20260301T000000Z" end="20260501T000000Z"/></C:calendar-data></D:prop>
 <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
  <C:time-range start="20260301T000000Z" end="20260501T000000Z"/></C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
    href = next(h for h, d in trip.stored.items() if subjects[0].encode() in d)
    url = trip.radicale.url.rstrip("/") + href.rsplit("/", 1)[0] + "/"
    answer = requests.request("REPORT", url, data=body, auth=(trip.user, trip.password), timeout=10,
                              headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})  # fmt: skip
    assert answer.status_code == 207, answer.text[:500]
    found = []
    for data in (e.text for e in etree.fromstring(answer.content).iter("{urn:ietf:params:xml:ns:caldav}calendar-data")):
        for event in icalendar.Calendar.from_ical(data).walk("VEVENT"):
            if str(event["SUMMARY"]) in subjects:
                found.append((str(event["SUMMARY"]), _plain(event["DTSTART"].dt), _plain(event["DTEND"].dt)))
    return sorted(found, key=lambda o: str(o[1]))


def test_the_series_keeps_its_instants_across_the_change_to_summer_time(trip: Trip) -> None:
    assert _ews_view(trip.first_server, FIRST, (SERIES, MOVED)) == OCCURRENCES, "first"
    assert _dav_view(trip, (SERIES, MOVED)) == OCCURRENCES, "Radicale"
    assert _ews_view(trip.last_server, LAST, (SERIES, MOVED)) == OCCURRENCES, "last"
    for stage in ("first", "middle", "last"):
        series = trip.stage(stage)[SERIES]
        assert isinstance(series, Event)
        assert (series.timezone, series.recurrence) == (BERLIN, "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL=20260420T215959Z"), stage
        assert [normal("", d) for d in series.deleted_occurrences] == [utc(2026, 3, 16, 8)], stage
        [moved] = series.exceptions
        assert normal("", moved.recurrence_id) == utc(2026, 3, 30, 7), stage
    stored = icalendar.Calendar.from_ical(trip.resource(SERIES))
    master, override = stored.walk("VEVENT")
    assert master["DTSTART"].params["TZID"] == BERLIN and master["DTSTART"].dt.replace(tzinfo=None) == dt.datetime(2026, 3, 2, 9)
    assert [d.dt.replace(tzinfo=None) for d in master["EXDATE"].dts] == [dt.datetime(2026, 3, 16, 9)]
    assert override["RECURRENCE-ID"].dt.replace(tzinfo=None) == dt.datetime(2026, 3, 30, 9)


@pytest.mark.parametrize("subject", CALLS)
def test_single_events_keep_their_instants_and_zone(trip: Trip, subject: str) -> None:
    starts = {"Call from Berlin": utc(2026, 3, 10, 9), "Call from New York": utc(2026, 3, 10, 14),
              "Call from Kolkata": utc(2026, 3, 10, 10)}  # fmt: skip
    for stage in ("first", "middle", "last"):
        event = trip.stage(stage)[subject]
        assert isinstance(event, Event) and isinstance(event.start, dt.datetime), stage
        assert (normal("", event.start), normal("", event.end)) == (starts[subject], starts[subject] + dt.timedelta(minutes=45))
        assert zone_rules(event.timezone) == zone_rules(CALLS[subject]), f"{stage}: {event.timezone}"
        assert event.start.utcoffset() == event.start.astimezone(zoneinfo.ZoneInfo(CALLS[subject])).utcoffset()
    start = icalendar.Calendar.from_ical(trip.resource(subject)).walk("VEVENT")[0]["DTSTART"]
    assert zone_rules(start.params["TZID"]) == zone_rules(CALLS[subject])


def test_the_all_day_event_keeps_its_three_days(trip: Trip) -> None:
    for stage in ("first", "middle", "last"):
        event = trip.stage(stage)[HOLIDAY]
        assert isinstance(event, Event)
        assert (event.is_all_day, event.start, event.end) == (True, dt.date(2026, 4, 14), dt.date(2026, 4, 17)), stage
        assert (event.reminder_minutes, event.show_as) == (1080, "away"), stage
    stored = icalendar.Calendar.from_ical(trip.resource(HOLIDAY)).walk("VEVENT")[0]
    assert (stored["DTSTART"].params.get("VALUE"), stored["DTSTART"].dt, stored["DTEND"].dt) == (
        "DATE", dt.date(2026, 4, 14), dt.date(2026, 4, 17))  # fmt: skip
    acc = account(trip.last_server, LAST, BERLIN)
    (item,) = acc.calendar.filter(subject=HOLIDAY).only("start", "end", "is_all_day")
    CachingProtocol.clear_cache()
    assert item.is_all_day and (item.start, item.end) == (EWSDate(2026, 4, 14), EWSDate(2026, 4, 16))


#: the Fridays off as each server expands the series: 13 March moved to Monday 16 March, 3 April cancelled
FRIDAY_OCCURRENCES = [
    (FRIDAYS if day != 16 else FRIDAY_MOVED, dt.date(2026, month, day), dt.date(2026, month, day + 1))
    for month, day in ((3, 6), (3, 16), (3, 20), (3, 27), (4, 10), (4, 17), (4, 24))
]
@pytest.mark.parametrize("hop", ["there", "back", "end to end"])
def test_an_all_day_series_keeps_its_moved_and_cancelled_days(trip: Trip, hop: str) -> None:
    assert _ews_view(trip.first_server, FIRST, (FRIDAYS, FRIDAY_MOVED)) == FRIDAY_OCCURRENCES, "first"
    outcome = compare(trip, hop, (FRIDAYS,))
    assert outcome.problems == [], "\n".join(outcome.problems)
    if hop == "there":
        assert _dav_view(trip, (FRIDAYS, FRIDAY_MOVED)) == FRIDAY_OCCURRENCES
    else:
        assert _ews_view(trip.last_server, LAST, (FRIDAYS, FRIDAY_MOVED)) == FRIDAY_OCCURRENCES


def test_the_meeting_as_other_calendar_clients_see_it_on_radicale(trip: Trip) -> None:
    """The standard properties of the stored meeting hold what Outlook showed (X- properties are this converter's)."""
    assert (trip.first[MEETING].organizer, trip.first[MEETING].attendees[0].response) == (ORGANIZER, "accepted")
    event = icalendar.Calendar.from_ical(trip.resource(MEETING)).walk("VEVENT")[0]
    people = {str(a).removeprefix("mailto:"): a.params for a in event["ATTENDEE"]}
    assert {a: (p["CN"], p["ROLE"], p["PARTSTAT"], p.get("CUTYPE")) for a, p in people.items()} == {
        "bob@example.org": ("Berg, Bob", "REQ-PARTICIPANT", "ACCEPTED", None),
        "carla@example.org": ("Carla Cruz", "REQ-PARTICIPANT", "DECLINED", None),
        "dan@example.org": ("Dan Dorn", "OPT-PARTICIPANT", "TENTATIVE", None),
        "rhine@example.org": ("Room Rhine", "NON-PARTICIPANT", "ACCEPTED", "RESOURCE"),
    }
    assert (str(event["CLASS"]), int(event["PRIORITY"]), str(event["X-MICROSOFT-CDO-BUSYSTATUS"])) == ("PRIVATE", 1, "TENTATIVE")
    assert str(event["LOCATION"]) == "Room Rhine, Building 2; 3rd floor"
    assert list(event["CATEGORIES"].cats) == ["Finance", "Planning: Q2/Q3", "Ärger"]
    (alarm,) = event.walk("VALARM")
    assert alarm["TRIGGER"].dt == dt.timedelta(minutes=-25)
    assert str(event["CONFERENCE"]) == "https://meet.example.org/budget?id=42%2C7"
    assert _text(str(event["X-ALT-DESC"])) == HTML.replace("\r\n", "\n")
    assert "Agenda:" in str(event["DESCRIPTION"]) and "<" not in str(event["DESCRIPTION"])
    files = {a.params["FILENAME"]: (a.params["FMTTYPE"], base64.b64decode(a.to_ical())) for a in event["ATTACH"]}
    assert files == {"agenda.txt": ("text/plain", b"1. budget\n2. risks\n"),
                     "Übersicht 2026.bin": ("application/octet-stream", BLOB)}


def _text(value: str) -> str:
    """An iCalendar TEXT value as written (RFC 5545 3.3.11) as the text it means."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def test_tasks_as_other_clients_see_them_on_radicale(trip: Trip) -> None:
    todo = icalendar.Calendar.from_ical(trip.resource(TASK)).walk("VTODO")[0]
    assert (todo["DTSTART"].dt, todo["DUE"].dt, str(todo["STATUS"]), int(todo["PERCENT-COMPLETE"]), int(todo["PRIORITY"])) == (
        dt.date(2026, 3, 2), dt.date(2026, 3, 20), "IN-PROCESS", 30, 1)  # fmt: skip
    assert todo["RRULE"] == icalendar.vRecur.from_ical("FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=10")
    (alarm,) = todo.walk("VALARM")
    assert alarm["TRIGGER"].dt == utc(2026, 3, 19, 8)
    done = icalendar.Calendar.from_ical(trip.resource(DONE)).walk("VTODO")[0]
    completed = (str(done["STATUS"]), int(done["PERCENT-COMPLETE"]), done["COMPLETED"].dt)
    assert completed == ("COMPLETED", 100, utc(2026, 2, 26, 15, 30))
    for stage in ("first", "middle", "last"):
        task, completed = trip.stage(stage)[TASK], trip.stage(stage)[DONE]
        assert isinstance(task, Task) and isinstance(completed, Task)
        assert (task.owner, task.total_work, task.actual_work, task.mileage, task.billing_information, task.companies) == (
            "Alice Adams", 600, 180, "42 km", "Cost centre 4711", ("ACME", "Globex")), stage  # fmt: skip
        assert (completed.status, completed.percent_complete, completed.completed) == ("completed", 100, utc(2026, 2, 26, 15, 30))


def test_the_note_keeps_colour_and_size_and_its_dates_where_the_server_allows(trip: Trip) -> None:
    for stage in ("first", "middle", "last"):
        note = trip.stage(stage)[NOTE]
        assert isinstance(note, Note)
        assert (note.subject, note.body, note.color, note.width, note.height, note.categories) == (
            NOTE, "Door code\n4711", "pink", 320, 180, ("Home",)), stage  # fmt: skip
    for stage in ("first", "middle"):
        note = trip.stage(stage)[NOTE]
        assert isinstance(note, Note) and (note.created, note.modified) == (NOTE_CREATED, NOTE_MODIFIED), stage
    journal = icalendar.Calendar.from_ical(trip.resource(NOTE)).walk("VJOURNAL")[0]
    assert (str(journal["COLOR"]), journal["CREATED"].dt, journal["LAST-MODIFIED"].dt) == ("pink", NOTE_CREATED, NOTE_MODIFIED)
    last = trip.last[NOTE]
    assert isinstance(last, Note) and last.created is not None and last.created > NOTE_CREATED  # the server's own time
    entries = [e.message for e in trip.back.accounts[0].log if e.kind == "dropped" and NOTE in (e.item or "")]
    assert any("created time" in m and "2025-03-04 10:00:00 UTC" in m for m in entries), entries
