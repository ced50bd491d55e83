"""Calendar and task fidelity on every EWS route, with the source answering as real servers do.

The source items are created through exchangelib against the source test server (the real EWS
path), with every field a user sees populated: a weekly series with attendees (required,
optional, a resource), a file, a modified occurrence (moved, other attendees, categories,
reminder and importance) and a deleted one; a recurring task with reminder, owner, work,
mileage, billing information and companies. The source answers with 20-digit fractions in
every timestamp, returns attendees only to requests for every property, and reports the
modified occurrence's original start at local midnight. After the migration each field read
back from the destination must equal the source's, or be a loss the report's log names for
that item.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from exchangelib import DELEGATE, UTC, Account, Configuration, Credentials, FailFast
from exchangelib.attachments import FileAttachment
from exchangelib.ewsdatetime import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.items import SEND_TO_NONE, CalendarItem
from exchangelib.properties import Attendee, HTMLBody, Mailbox, OccurrenceItemId
from exchangelib.protocol import CachingProtocol
from exchangelib.recurrence import Recurrence, TaskRecurrence, WeeklyPattern

import groupmigrate as gm
from groupmigrate.backends.ews.models import TaskItem
from groupmigrate.items import Event, Task
from groupmigrate.testing import EWSTestServer

ROUTES = [("exchange-online", "workmail"), ("exchange", "exchange-online"), ("workmail", "exchange"), ("generic", "generic")]
SOURCE, DESTINATION = "alice@contoso.com", "alice@example.org"
SERVICE, PASSWORD = "svc@contoso.com", "s3rvice-Pa55"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
EWS_BERLIN = EWSTimeZone("Europe/Berlin")
SERIES = "Design review"
TASK = "Prepare budget"

#: words the report's log uses for a documented loss of a field
LOSS_WORDS = {"organizer": "organizer", "attendees.response": "responses", "attendees.role": "resource"}


def _server(profile: str, address: str) -> EWSTestServer:
    server = EWSTestServer(profile=profile)
    server.add_user(SERVICE, PASSWORD)
    server.add_mailbox(address, password=PASSWORD)
    server.grant_impersonation(SERVICE, address)
    return server


def _account(server: EWSTestServer, address: str) -> Account:
    config = Configuration(
        service_endpoint=server.url, credentials=Credentials(address, PASSWORD), auth_type="basic",
        retry_policy=FailFast(), version=None,
    )  # fmt: skip
    return Account(address, config=config, access_type=DELEGATE, autodiscover=False, default_timezone=UTC)


def _local(day: int, hour: int) -> EWSDateTime:
    return EWSDateTime(2026, 3, day, hour, 0, tzinfo=EWS_BERLIN)


def _seed(server: EWSTestServer) -> None:
    """A series and a task with every field, created over EWS like any client would."""
    account = _account(server, SOURCE)
    master = CalendarItem(
        account=account, folder=account.calendar, subject=SERIES,
        body=HTMLBody("<p>Agenda: <b>budget</b></p>"), start=_local(2, 9), end=_local(2, 10),
        location="Room Rhine", legacy_free_busy_status="Tentative", sensitivity="Private", importance="High",
        categories=["Blue", "Planning"], reminder_is_set=True, reminder_minutes_before_start=25,
        required_attendees=[Attendee(mailbox=Mailbox(email_address="bob@example.org", name="Bob"),
                                     response_type="Accept",
                                     last_response_time=EWSDateTime(2026, 2, 20, 8, 30, tzinfo=UTC))],
        optional_attendees=[Attendee(mailbox=Mailbox(email_address="dan@example.org", name="Dan"),
                                     response_type="Tentative")],
        resources=[Attendee(mailbox=Mailbox(email_address="rhine@example.org", name="Room Rhine"),
                            response_type="Accept")],
        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]), start=EWSDate(2026, 3, 2), number=6),
        net_show_url="https://meet.example.org/design-review",
        meeting_workspace_url="https://workspace.example.org/design-review",
    )  # fmt: skip
    master.save(send_meeting_invitations=SEND_TO_NONE)
    master.attach(FileAttachment(name="agenda.txt", content=b"1. budget\n2. risks\n", content_type="text/plain"))
    moved = CalendarItem(account=account, _id=OccurrenceItemId(id=master.id, changekey=master.changekey, instance_index=2))
    moved.subject, moved.location = f"{SERIES} (moved)", "Room Main"
    moved.start, moved.end = _local(9, 14), _local(9, 15)
    moved.categories, moved.importance = ["Green"], "Low"
    moved.reminder_is_set, moved.reminder_minutes_before_start = True, 5
    moved.required_attendees = [Attendee(mailbox=Mailbox(email_address="bob@example.org", name="Bob")),
                                Attendee(mailbox=Mailbox(email_address="erin@example.org", name="Erin"))]
    moved.optional_attendees = None
    fields = ["subject", "location", "start", "end", "categories", "importance", "reminder_is_set",
              "reminder_minutes_before_start", "required_attendees", "optional_attendees"]
    [answer] = account.bulk_update([(moved, fields)], send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                                   suppress_read_receipts=True)
    assert not isinstance(answer, Exception), answer
    gone = CalendarItem(account=account, _id=OccurrenceItemId(id=master.id, changekey=master.changekey, instance_index=4))
    [answer] = account.bulk_delete([gone], send_meeting_cancellations=SEND_TO_NONE, suppress_read_receipts=True)
    assert answer is True, answer
    task = TaskItem(
        account=account, folder=account.tasks, subject=TASK, body="Numbers for Q2",
        start_date=EWSDate(2026, 3, 2), due_date=EWSDate(2026, 3, 20), status="InProgress",
        percent_complete=Decimal(30), importance="High", categories=["Finance"], reminder_is_set=True,
        reminder_due_by=EWSDateTime(2026, 3, 19, 8, 0, tzinfo=UTC), task_owner="Alice Adams", total_work=600,
        actual_work=180, mileage="42 km", billing_information="Cost centre 4711", companies=["ACME", "Globex"],
        recurrence=TaskRecurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]), start=EWSDate(2026, 3, 2),
                                  number=10),
    )  # fmt: skip
    task.save()


def _endpoint(server: EWSTestServer, cls: Any) -> Any:
    return cls(url=server.url, auth=gm.BasicAuth(SERVICE, PASSWORD), impersonation=True, profile=server.profile.name)


def _read(server: EWSTestServer, address: str) -> dict[str, Any]:
    """Every calendar item and task of ``address``, read by the EWS backend (through exchangelib)."""
    mailbox = _endpoint(server, gm.EWSSource).open_mailbox(address)
    found: dict[str, Any] = {}
    for folder in mailbox.folders():
        if folder.kind in ("calendar", "tasks"):
            for item in mailbox.fetch(folder, list(mailbox.list_items(folder))):
                found[item.subject] = item
    return found


def _attendees(event: Event) -> list[tuple[str, str]]:
    return sorted((a.address.lower(), a.role) for a in event.attendees)


def _responses(event: Event) -> list[tuple[str, Any]]:
    return sorted((a.address.lower(), a.response) for a in event.attendees)


def _files(event: Event) -> list[tuple[str, bytes]]:
    return sorted((a.name, a.content) for a in event.attachments)


def _moment(value: Any) -> Any:
    return value.astimezone(dt.timezone.utc).replace(microsecond=0) if isinstance(value, dt.datetime) else value


EVENT_FIELDS = {
    "subject": lambda e: e.subject, "body": lambda e: (e.body or "").strip(), "body_is_html": lambda e: e.body_is_html,
    "start": lambda e: _moment(e.start), "end": lambda e: _moment(e.end), "location": lambda e: e.location,
    "is_all_day": lambda e: e.is_all_day, "recurrence": lambda e: e.recurrence, "uid": lambda e: e.uid,
    "reminder_minutes": lambda e: e.reminder_minutes, "reminder_is_set": lambda e: e.reminder_is_set,
    "show_as": lambda e: e.show_as, "sensitivity": lambda e: e.sensitivity, "importance": lambda e: e.importance,
    "categories": lambda e: sorted(e.categories), "online_meeting_url": lambda e: e.online_meeting_url,
    "meeting_workspace_url": lambda e: e.meeting_workspace_url, "attachments": _files,
    "attendees": lambda e: sorted(a.address.lower() for a in e.attendees), "attendees.role": _attendees,
    "attendees.response": _responses,
    "organizer": lambda e: (e.organizer or "").lower(),
    "deleted_occurrences": lambda e: sorted(_moment(d) for d in e.deleted_occurrences),
}  # fmt: skip
OCCURRENCE_FIELDS = (
    "subject", "start", "end", "location", "categories", "importance", "reminder_minutes", "reminder_is_set",
    "attendees", "attendees.role", "attendees.response", "show_as",
)
TASK_FIELDS = (
    "subject", "body", "start", "due", "status", "percent_complete", "importance", "recurrence", "categories",
    "reminder_at", "reminder_is_set", "owner", "total_work", "actual_work", "mileage", "billing_information",
    "companies",
)


def _populated(value: Any) -> bool:
    return value not in (None, "", (), [], False)


def _check(
    what: str, fields: dict[str, Any], source: Any, copied: Any, losses: set[str], tally: dict[str, list[int]],
    kind: str,
) -> list[str]:
    problems = []
    for name, read in fields.items():
        want, got = read(source), read(copied)
        if not _populated(want):
            continue
        tally[kind][0] += 1
        if want == got:
            tally[kind][1] += 1
        elif not any(name == loss or name.startswith(loss + ".") for loss in losses):
            problems.append(f"{what}.{name}: source {want!r}, destination {got!r}, and the log names no loss")
    return problems


def _losses(report: gm.Report, label: str) -> set[str]:
    """Fields whose loss the log names: for the item itself, or account-wide (a notice)."""
    entries = [e for e in report.accounts[0].log if e.kind in ("changed", "dropped", "notice")]
    named = set()
    for field, word in LOSS_WORDS.items():
        if any(word in e.message and (e.kind == "notice" or label in (e.item or "")) for e in entries):
            named.add(field)
    return named


@pytest.mark.parametrize(("source_profile", "destination_profile"), ROUTES, ids=["->".join(r) for r in ROUTES])
def test_calendar_and_task_fields_arrive_or_their_loss_is_logged(tmp_path, source_profile, destination_profile) -> None:
    source_server = _server(source_profile, SOURCE)
    destination_server = _server(destination_profile, DESTINATION)
    try:
        _seed(source_server)
        knobs = source_server.knobs
        knobs.long_fractions = knobs.attendees_need_all_properties = knobs.original_start_at_midnight = True
        writes_before = len(source_server.write_operations())
        source = _read(source_server, SOURCE)
        series, task = source[SERIES], source[TASK]
        # What the source holds, read despite the quirks.
        assert _attendees(series) == [("bob@example.org", "required"), ("dan@example.org", "optional"),
                                      ("rhine@example.org", "resource")]  # fmt: skip
        [moved] = series.exceptions
        assert moved.recurrence_id == dt.datetime(2026, 3, 9, 9, tzinfo=BERLIN)
        assert (moved.subject, moved.importance, moved.categories) == (f"{SERIES} (moved)", "low", ("Green",))
        assert len(series.deleted_occurrences) == 1
        assert (task.reminder_at, task.start, task.due) == (dt.datetime(2026, 3, 19, 8, tzinfo=dt.timezone.utc),
                                                            dt.date(2026, 3, 2), dt.date(2026, 3, 20))  # fmt: skip

        migrator = gm.Migrator(
            _endpoint(source_server, gm.EWSSource), _endpoint(destination_server, gm.EWSDestination),
            state=str(tmp_path / "state.db"), item_types=("calendar", "tasks"),
        )  # fmt: skip
        report = migrator.run([gm.AccountPair(SOURCE, DESTINATION)])
        assert report.accounts[0].status == "completed", report.accounts[0].log
        assert len(source_server.write_operations()) == writes_before, "the migration wrote to the source"
        warnings = [e.message for e in report.accounts[0].log if "not applied" in e.message or "not removed" in e.message]
        assert not warnings, warnings

        knobs.long_fractions = knobs.attendees_need_all_properties = knobs.original_start_at_midnight = False
        copied = _read(destination_server, DESTINATION)
        tally = {"calendar": [0, 0], "tasks": [0, 0]}
        problems = _check(SERIES, EVENT_FIELDS, series, copied[SERIES], _losses(report, SERIES), tally, "calendar")
        [copied_moved] = copied[SERIES].exceptions
        occurrence_fields = {n: EVENT_FIELDS[n] for n in OCCURRENCE_FIELDS}
        occurrence_fields["recurrence_id"] = lambda e: _moment(e.recurrence_id)
        problems += _check(f"{SERIES} (moved)", occurrence_fields, moved, copied_moved, _losses(report, SERIES), tally,
                           "calendar")  # fmt: skip
        task_fields = {n: (lambda t, n=n: getattr(t, n)) for n in TASK_FIELDS}
        problems += _check(TASK, task_fields, task, copied[TASK], _losses(report, TASK), tally, "tasks")
        for kind, (populated, kept) in tally.items():
            print(f"{source_profile}->{destination_profile} {kind}: {kept} of {populated} populated fields kept")
        assert not problems, "\n".join(problems)
        assert isinstance(copied[TASK], Task) and isinstance(copied[SERIES], Event)
    finally:
        source_server.stop()
        destination_server.stop()
        CachingProtocol.clear_cache()
