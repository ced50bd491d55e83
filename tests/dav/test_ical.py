"""The iCalendar converter: model -> iCalendar -> model round trips, what a strict server
(Radicale, parsing and re-serialising with vobject) keeps, and foreign data as other clients
write it. Fast unit tests: no server runs."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import attrs
import icalendar
import pytest
import vobject

from groupmigrate.backends.dav.ical import (
    PRODID, ICalendarError, ical_kind, ical_stamp, ical_to_item, ical_to_item_with_warnings, ical_uid, item_to_ical,
)  # fmt: skip
from groupmigrate.backends.dav.ical_zones import vtimezone, zone_name
from groupmigrate.items import (
    Attachment, Attendee, Event, Importance, Note, NoteColor, Response, Sensitivity, ShowAs, Task, TaskStatus,
)  # fmt: skip
from groupmigrate.testing.conformance.compare import differences

UTC = dt.timezone.utc
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")
IN_UTC: dict[str, Any] = {"start": dt.datetime(2026, 2, 2, 9, tzinfo=UTC), "end": dt.datetime(2026, 2, 2, 10, tzinfo=UTC), "timezone": "UTC"}


# -- helpers -------------------------------------------------------------------------------


def stored(data: bytes) -> bytes:
    """``data`` as Radicale stores it: parsed with vobject, checked as on PUT, re-serialised.
    Without Radicale, a vobject parse and serialise."""
    text = data.decode("utf-8")
    try:
        from radicale import item as radicale_item
    except ImportError:  # pragma: no cover - radicale is in the test extra
        return vobject.readOne(text).serialize().encode("utf-8")  # type: ignore[no-any-return,unused-ignore]
    components = radicale_item.read_components(text)
    radicale_item.check_and_sanitize_items(components, max_vevent_rrule_occurrence=0, tag="VCALENDAR")
    found = radicale_item.Item(collection_path="calendar", vobject_item=components[0])
    found.prepare()
    return found.serialize().encode("utf-8")  # type: ignore[no-any-return,unused-ignore]


def round_trip(item: Any, uid: str = "uid-1", stamp: str | None = "stamp-1") -> tuple[Any, Any]:
    """(read back from our own output, read back from what the server stores)."""
    data = item_to_ical(item, uid=uid, stamp=stamp)
    parsed: Any = icalendar.Calendar.from_ical(data)
    assert parsed["PRODID"] == PRODID and parsed["VERSION"] == "2.0"
    vobject.readOne(data.decode("utf-8"))  # a strict parser takes it
    direct, warnings = ical_to_item_with_warnings(data, source_id="r/1.ics")
    assert warnings == []
    on_server, warnings = ical_to_item_with_warnings(stored(data), source_id="r/1.ics")
    assert warnings == []
    return direct, on_server


def assert_round_trip(item: Any, uid: str = "uid-1") -> Any:
    for back in round_trip(item, uid=uid):
        assert differences(item, back) == []
        assert back == item
    return back


def utc_instants(values: Any) -> list[dt.datetime]:
    return [v.astimezone(UTC) for v in values]


def foreign(text: str, source_id: str = "r/foreign.ics") -> tuple[Any, list[str]]:
    return ical_to_item_with_warnings(text.strip().replace("\n", "\r\n").encode("utf-8"), source_id=source_id)


BERLIN_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:{tzid}
BEGIN:STANDARD
DTSTART:16011028T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010325T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE"""


# -- events --------------------------------------------------------------------------------


def weekly_series() -> Event:
    """Mondays 10:00 Berlin across the change to summer time (29 March 2026); the occurrence of
    30 March moved to Tuesday 14:00, the one of 6 April deleted."""
    return Event(
        subject="Weekly sync",
        start=dt.datetime(2026, 3, 16, 10, tzinfo=BERLIN),
        end=dt.datetime(2026, 3, 16, 11, tzinfo=BERLIN),
        timezone="Europe/Berlin",
        recurrence="FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=6",
        deleted_occurrences=(dt.datetime(2026, 4, 6, 10, tzinfo=BERLIN),),
        exceptions=(
            Event(
                subject="Weekly sync (moved)",
                start=dt.datetime(2026, 3, 31, 14, tzinfo=BERLIN),
                end=dt.datetime(2026, 3, 31, 15, 30, tzinfo=BERLIN),
                timezone="Europe/Berlin",
                recurrence_id=dt.datetime(2026, 3, 30, 10, tzinfo=BERLIN),
                uid="series-1",
                location="Room 2",
            ),
        ),
        uid="series-1",
        reminder_minutes=15,
    )


def test_weekly_series_across_dst_with_moved_and_deleted_occurrence() -> None:
    event = weekly_series()
    back = assert_round_trip(event, uid="series-1")
    assert back.exceptions[0].recurrence_id == dt.datetime(2026, 3, 30, 8, tzinfo=UTC)

    # The server's view (vobject, the VTIMEZONE written): 10:00 local on both sides of DST.
    calendar = vobject.readOne(stored(item_to_ical(event, uid="series-1")).decode())
    master = next(v for v in calendar.vevent_list if not hasattr(v, "recurrence_id"))
    assert utc_instants(master.getrruleset()) == [
        dt.datetime(2026, 3, 16, 9, tzinfo=UTC),
        dt.datetime(2026, 3, 23, 9, tzinfo=UTC),
        dt.datetime(2026, 3, 30, 8, tzinfo=UTC),
        dt.datetime(2026, 4, 13, 8, tzinfo=UTC),
        dt.datetime(2026, 4, 20, 8, tzinfo=UTC),
    ]
    override = next(v for v in calendar.vevent_list if hasattr(v, "recurrence_id"))
    assert override.recurrence_id.value.astimezone(UTC) == dt.datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert override.dtstart.value.astimezone(UTC) == dt.datetime(2026, 3, 31, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "rule",
    ["FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL=20260420T215959Z", "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL=20260420",
     "FREQ=MONTHLY;INTERVAL=1;BYDAY=MO;BYSETPOS=-1", "FREQ=DAILY;INTERVAL=2"],
)  # fmt: skip
def test_rules_as_the_exchange_side_writes_them_are_kept_as_text(rule: str) -> None:
    assert_round_trip(attrs.evolve(weekly_series(), recurrence=rule), uid="series-1")


def test_an_exception_in_another_zone_brings_its_own_vtimezone() -> None:
    series = weekly_series()
    travelling = attrs.evolve(
        series.exceptions[0], start=dt.datetime(2026, 3, 30, 9, tzinfo=NEW_YORK), end=dt.datetime(2026, 3, 30, 10, tzinfo=NEW_YORK),
        timezone="America/New_York",
    )  # fmt: skip
    event = attrs.evolve(series, exceptions=(travelling,))
    back = assert_round_trip(event, uid="series-1")
    assert back.exceptions[0].timezone == "America/New_York"
    calendar: Any = icalendar.Calendar.from_ical(item_to_ical(event, uid="series-1"))
    assert sorted(t["TZID"] for t in calendar.walk("VTIMEZONE")) == ["America/New_York", "Europe/Berlin"]


def test_one_object_holds_the_series_with_one_uid_and_the_stamp_on_each_component() -> None:
    data = item_to_ical(weekly_series(), uid="the-uid", stamp="run-7:item-3")
    calendar: Any = icalendar.Calendar.from_ical(data)
    events = calendar.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == ["the-uid", "the-uid"]
    assert [str(e["X-GROUPMIGRATE-PROVENANCE"]) for e in events] == ["run-7:item-3"] * 2
    assert [t["TZID"] for t in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert calendar.get_missing_tzids() == set()
    assert (ical_uid(data), ical_stamp(data), ical_kind(data)) == ("the-uid", "run-7:item-3", "calendar")
    # the event's own uid is read back as the UID found
    assert ical_to_item(data, source_id="x").uid == "the-uid"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tz", "winter", "summer"),
    [
        ("Europe/Berlin", dt.datetime(2026, 1, 15, 8, 30, tzinfo=UTC), dt.datetime(2026, 7, 15, 7, 30, tzinfo=UTC)),
        ("America/New_York", dt.datetime(2026, 1, 15, 14, 30, tzinfo=UTC), dt.datetime(2026, 7, 15, 13, 30, tzinfo=UTC)),
        ("Asia/Kolkata", dt.datetime(2026, 1, 15, 4, 0, tzinfo=UTC), dt.datetime(2026, 7, 15, 4, 0, tzinfo=UTC)),
    ],
)
def test_events_in_their_zones_give_the_right_instants_on_both_sides_of_dst(tz: str, winter: dt.datetime, summer: dt.datetime) -> None:
    zone = zoneinfo.ZoneInfo(tz)
    local = dt.time(9, 30)
    for day, instant in ((dt.date(2026, 1, 15), winter), (dt.date(2026, 7, 15), summer)):
        start = dt.datetime.combine(day, local, tzinfo=zone)
        event = Event(subject=f"in {tz}", start=start, end=start + dt.timedelta(hours=1), timezone=tz, uid="z")
        back = assert_round_trip(event, uid="z")
        assert back.start.astimezone(UTC) == instant and back.timezone == tz
        data = item_to_ical(event, uid="z")
        assert f"DTSTART;TZID={tz}:{day:%Y%m%d}T093000".encode() in data
        # the VTIMEZONE alone (as a client that ignores the name reads it) gives the instant
        definition: Any = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")[0]
        custom = definition.to_tz(lookup_tzid=False)
        assert dt.datetime.combine(day, local, tzinfo=custom).astimezone(UTC) == instant
        # and so does vobject
        assert vobject.readOne(data.decode()).vevent.dtstart.value.astimezone(UTC) == instant


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "Europe/London"])
def test_written_vtimezones_follow_the_zone_for_decades(tz: str) -> None:
    definition: Any = vtimezone(tz, dt.date(2024, 5, 1))
    custom = definition.to_tz(lookup_tzid=False)  # read as a client that ignores the name does
    zone = zoneinfo.ZoneInfo(tz)

    def same(moment: dt.datetime) -> bool:
        return moment.astimezone(custom).utcoffset() == moment.astimezone(zone).utcoffset()

    moment = dt.datetime(2024, 1, 1, tzinfo=UTC)  # the definition starts a year earlier, as a margin
    step = dt.timedelta(hours=55)
    while moment < dt.datetime(2070, 1, 1, tzinfo=UTC):
        assert same(moment), moment
        following = moment + step
        if following.astimezone(zone).utcoffset() != moment.astimezone(zone).utcoffset():
            low, high = moment, following  # the transition, to the second: both sides agree
            while high - low > dt.timedelta(seconds=1):
                middle = (low + (high - low) / 2).replace(microsecond=0)
                low, high = (middle, high) if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset() else (low, middle)
            assert same(low) and same(high), high
        moment = following
    assert len(definition.to_ical()) < 1200  # yearly rules, not lists of dates


def test_all_day_multi_day_series_with_an_exception_and_a_deleted_year() -> None:
    event = Event(
        subject="Summer holiday",
        start=dt.date(2026, 7, 1),
        end=dt.date(2026, 7, 4),  # exclusive: 1, 2 and 3 July
        timezone="Europe/Berlin",
        is_all_day=True,
        recurrence="FREQ=YEARLY;BYMONTH=7;BYMONTHDAY=1;UNTIL=20300701",
        deleted_occurrences=(dt.datetime(2027, 7, 1, tzinfo=BERLIN),),
        exceptions=(
            Event(
                subject="Summer holiday (later)",
                start=dt.date(2028, 7, 2),
                end=dt.date(2028, 7, 6),
                timezone="Europe/Berlin",
                is_all_day=True,
                recurrence_id=dt.datetime(2028, 7, 1, tzinfo=BERLIN),
                uid="h",
            ),
        ),
        show_as=ShowAs.FREE,
        uid="h",
    )
    assert_round_trip(event, uid="h")
    data = item_to_ical(event, uid="h")
    for line in (b"DTSTART;VALUE=DATE:20260701", b"DTEND;VALUE=DATE:20260704", b"EXDATE;VALUE=DATE:20270701",
                 b"RECURRENCE-ID;VALUE=DATE:20280701", b"TRANSP:TRANSPARENT"):  # fmt: skip
        assert line in data
    assert b"BEGIN:VTIMEZONE" not in data


def meeting() -> Event:
    return Event(
        subject="Budget review",
        start=dt.datetime(2026, 5, 4, 13, tzinfo=NEW_YORK),
        end=dt.datetime(2026, 5, 4, 14, tzinfo=NEW_YORK),
        timezone="America/New_York",
        location="HQ, 5th floor; room 501",
        organizer="boss@example.org",
        attendees=(
            Attendee("boss@example.org", "The Boss", "required", Response.ORGANIZER),
            Attendee("anna@example.org", "Meier, Anna", "required", Response.ACCEPTED),
            Attendee("bob@example.org", "Bob", "optional", Response.TENTATIVE),
            Attendee("carl@example.org", None, "optional", Response.DECLINED),
            Attendee("dora@example.org", "Dora", "required", Response.NONE),
            Attendee("eve@example.org", "Eve", "required", Response.UNKNOWN),
            Attendee("frank@example.org", "Frank", "required", None),
            Attendee("room501@example.org", "Room 501", "resource", Response.ACCEPTED),
        ),
        uid="m",
        online_meeting_url="https://meet.example.org/j/123?pwd=a;b,c",
        meeting_workspace_url="https://workspace.example.org/budget",
    )


def test_meeting_with_attendees_a_room_and_responses() -> None:
    assert_round_trip(meeting(), uid="m")
    event: Any = icalendar.Calendar.from_ical(item_to_ical(meeting(), uid="m")).walk("VEVENT")[0]
    by_address = {str(a): a.params for a in event["ATTENDEE"]}
    assert by_address["mailto:anna@example.org"]["ROLE"] == "REQ-PARTICIPANT"
    assert by_address["mailto:anna@example.org"]["PARTSTAT"] == "ACCEPTED"
    assert by_address["mailto:bob@example.org"]["ROLE"] == "OPT-PARTICIPANT"
    assert by_address["mailto:dora@example.org"]["PARTSTAT"] == "NEEDS-ACTION"
    assert "PARTSTAT" not in by_address["mailto:frank@example.org"]
    assert by_address["mailto:room501@example.org"]["CUTYPE"] == "RESOURCE"
    assert all(p["SCHEDULE-AGENT"] == "CLIENT" for p in by_address.values())
    assert event["ORGANIZER"].params["SCHEDULE-AGENT"] == "CLIENT"
    assert str(event["CONFERENCE"]) == "https://meet.example.org/j/123?pwd=a;b%2Cc"


def test_invitations_leave_scheduling_to_the_server() -> None:
    data = item_to_ical(meeting(), uid="m", invitations=True)
    assert b"SCHEDULE-AGENT" not in data


def test_organizer_with_a_display_name() -> None:
    event = attrs.evolve(meeting(), organizer="The Boss <boss@example.org>")
    data = item_to_ical(event, uid="m")
    organizer: Any = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]["ORGANIZER"]
    assert (str(organizer), organizer.params["CN"]) == ("mailto:boss@example.org", "The Boss")
    back = ical_to_item(data, source_id="x")
    assert differences(event, back) == [] and back.organizer == "boss@example.org"  # type: ignore[union-attr]


def test_html_body_is_written_as_text_and_as_x_alt_desc() -> None:
    html = '<html><body><p>Hello, <b>team</b>;</p><p>Agenda:\\ 1. "Budget"</p></body></html>'
    event = Event(subject="s", **IN_UTC, body=html, body_is_html=True, uid="b")
    assert_round_trip(event, uid="b")
    component: Any = icalendar.Calendar.from_ical(item_to_ical(event, uid="b")).walk("VEVENT")[0]
    assert "Hello" in str(component["DESCRIPTION"]) and "<b>" not in str(component["DESCRIPTION"])
    assert component["X-ALT-DESC"].params["FMTTYPE"] == "text/html"


def test_plain_body_and_text_escaping_and_folding() -> None:
    text = "Line one, with comma; semicolon \\ backslash\nLine two: ümlaut, 日本語, 😀 " + "long " * 60
    event = Event(subject="a,b;c\\d\nsecond line", **IN_UTC, body=text,
                  location="Café ; Bar, Ecke", categories=("a,b", "c;d", "ä"), uid="t")  # fmt: skip
    assert_round_trip(event, uid="t")
    data = item_to_ical(event, uid="t")
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert vobject.readOne(data.decode()).vevent.summary.value == "a,b;c\\d\nsecond line"


@pytest.mark.parametrize(("minutes", "on"), [(15, True), (0, True), (1440, True), (30, False), (None, False)])
def test_reminders(minutes: int | None, on: bool) -> None:
    event = Event(subject="r", start=dt.datetime(2026, 2, 2, 9, tzinfo=BERLIN), end=dt.datetime(2026, 2, 2, 10, tzinfo=BERLIN),
                  timezone="Europe/Berlin", reminder_minutes=minutes, reminder_is_set=on, uid="r")  # fmt: skip
    assert_round_trip(event, uid="r")
    data = item_to_ical(event, uid="r")
    assert (b"BEGIN:VALARM" in data) is on


@pytest.mark.parametrize("show_as", list(ShowAs))
def test_every_show_as(show_as: ShowAs) -> None:
    event = Event(subject="s", **IN_UTC, show_as=show_as, uid="s")
    assert_round_trip(event, uid="s")


@pytest.mark.parametrize("sensitivity", list(Sensitivity))
def test_every_sensitivity(sensitivity: Sensitivity) -> None:
    event = Event(subject="s", **IN_UTC, sensitivity=sensitivity, uid="s")
    assert_round_trip(event, uid="s")


@pytest.mark.parametrize(("importance", "priority"), [(Importance.HIGH, b"PRIORITY:1"), (Importance.NORMAL, None), (Importance.LOW, b"PRIORITY:9")])
def test_every_importance(importance: Importance, priority: bytes | None) -> None:
    event = Event(subject="s", **IN_UTC, importance=importance, uid="s")
    assert_round_trip(event, uid="s")
    data = item_to_ical(event, uid="s")
    assert (priority in data) if priority else (b"PRIORITY" not in data)


def test_attachments() -> None:
    files = (
        Attachment("report; final, v2.pdf", bytes(range(256)) * 40, "application/pdf"),
        Attachment("logo.png", b"\x89PNG\r\n\x1a\n...", "image/png", is_inline=True, content_id="logo@example"),
        Attachment('quote "x".txt', b"", "text/plain"),
    )
    event = Event(subject="files", **IN_UTC, attachments=files, uid="f")
    assert_round_trip(event, uid="f")
    component: Any = icalendar.Calendar.from_ical(item_to_ical(event, uid="f")).walk("VEVENT")[0]
    attach = component["ATTACH"][0]
    assert attach.params["VALUE"] == "BINARY" and attach.params["ENCODING"] == "BASE64"
    assert attach.params["X-FILENAME"] == attach.params["FILENAME"] == "report; final, v2.pdf"


def test_rdate_on_a_timed_and_an_all_day_series() -> None:
    timed = attrs.evolve(weekly_series(), recurrence_dates=(dt.datetime(2026, 5, 2, 12, tzinfo=BERLIN), dt.datetime(2026, 5, 9, 10, tzinfo=BERLIN)))
    assert_round_trip(timed, uid="series-1")
    assert b"RDATE;TZID=Europe/Berlin:20260502T120000,20260509T100000" in item_to_ical(timed, uid="series-1")
    all_day = Event(subject="d", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 2), is_all_day=True,
                    recurrence="FREQ=MONTHLY;COUNT=3", recurrence_dates=(dt.date(2026, 6, 15),), uid="d")  # fmt: skip
    assert_round_trip(all_day, uid="d")


def test_utc_windows_named_and_zero_length_events() -> None:
    utc = Event(subject="u", start=dt.datetime(2026, 2, 2, 9, tzinfo=UTC), end=dt.datetime(2026, 2, 2, 9, 30, tzinfo=UTC), timezone="UTC", uid="u")
    assert b"DTSTART:20260202T090000Z" in item_to_ical(utc, uid="u")
    assert_round_trip(utc, uid="u")
    windows = Event(subject="w", start=dt.datetime(2026, 2, 2, 9, tzinfo=BERLIN), end=dt.datetime(2026, 2, 2, 10, tzinfo=BERLIN),
                    timezone="W. Europe Standard Time", uid="w")  # fmt: skip
    data = item_to_ical(windows, uid="w")
    assert b"DTSTART;TZID=Europe/Berlin:20260202T090000" in data
    back = ical_to_item(data, source_id="x")
    assert back.timezone == "Europe/Berlin"  # type: ignore[union-attr]
    assert differences(attrs.evolve(windows, timezone="Europe/Berlin"), back) == []
    instant = Event(subject="i", start=dt.datetime(2026, 2, 2, 9, tzinfo=KOLKATA), end=dt.datetime(2026, 2, 2, 9, tzinfo=KOLKATA), timezone="Asia/Kolkata", uid="i")
    assert b"DTEND" not in item_to_ical(instant, uid="i")
    assert_round_trip(instant, uid="i")


def test_a_task_regeneration_rule_is_kept_out_of_rrule() -> None:
    task = Task(subject="water plants", start=dt.date(2026, 3, 1), recurrence="FREQ=WEEKLY;INTERVAL=1;X-REGENERATE=1")
    data = item_to_ical(task, uid="t")
    assert b"RRULE:FREQ=WEEKLY;INTERVAL=1\r\n" in data
    assert_round_trip(task, uid="t")


def test_writing_refuses_what_cannot_be_written() -> None:
    with pytest.raises(ICalendarError, match="no start"):
        item_to_ical(Event(subject="s"), uid="x")
    with pytest.raises(ICalendarError, match="UID"):
        item_to_ical(Event(subject="s", start=dt.datetime(2026, 1, 1, tzinfo=UTC)), uid="")
    broken = Event(subject="s", start=dt.datetime(2026, 1, 1, tzinfo=UTC), recurrence="FREQ=DAILY",
                   exceptions=(Event(subject="e", start=dt.datetime(2026, 1, 2, tzinfo=UTC)),))  # fmt: skip
    with pytest.raises(ICalendarError, match="recurrence_id"):
        item_to_ical(broken, uid="x")


# -- tasks and notes -----------------------------------------------------------------------


def full_task(status: TaskStatus, percent: int) -> Task:
    return Task(
        subject="Prepare the budget, v2; final",
        body="Steps:\n1. gather\n2. sum",
        start=dt.date(2026, 3, 1),
        due=dt.date(2026, 3, 10),
        completed=dt.datetime(2026, 3, 9, 15, 30, tzinfo=UTC) if status == TaskStatus.COMPLETED else None,
        status=status,
        percent_complete=percent,
        importance=Importance.HIGH,
        recurrence="FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=1;COUNT=12",
        categories=("Finance", "Q1"),
        reminder_at=dt.datetime(2026, 3, 9, 8, tzinfo=UTC),
        reminder_is_set=True,
        owner="Anna Meier",
        total_work=600,
        actual_work=90,
        mileage="42 km",
        billing_information="Project 7, cost centre 12",
        companies=("Example Ltd", "Other, Inc."),
    )


@pytest.mark.parametrize(
    ("status", "percent", "word"),
    [
        (TaskStatus.NOT_STARTED, 0, b"STATUS:NEEDS-ACTION"),
        (TaskStatus.IN_PROGRESS, 50, b"STATUS:IN-PROCESS"),
        (TaskStatus.COMPLETED, 100, b"STATUS:COMPLETED"),
        (TaskStatus.WAITING, 25, b"STATUS:IN-PROCESS"),
        (TaskStatus.DEFERRED, 0, b"STATUS:NEEDS-ACTION"),
    ],
)
def test_task_with_every_field_in_each_status(status: TaskStatus, percent: int, word: bytes) -> None:
    task = full_task(status, percent)
    assert_round_trip(task, uid="task-1")
    data = item_to_ical(task, uid="task-1", stamp="s")
    assert word in data and b"DUE;VALUE=DATE:20260310" in data
    assert b"TRIGGER;VALUE=DATE-TIME:20260309T080000Z" in data
    assert (ical_kind(data), ical_uid(data), ical_stamp(data)) == ("tasks", "task-1", "s")


def test_task_reminder_off_low_importance_and_an_empty_task() -> None:
    task = attrs.evolve(full_task(TaskStatus.NOT_STARTED, 0), reminder_is_set=False, importance=Importance.LOW)
    assert b"BEGIN:VALARM" not in item_to_ical(task, uid="t")
    assert_round_trip(task, uid="t")
    assert_round_trip(Task(subject="bare"), uid="t2")
    assert_round_trip(Task(), uid="t3")


def test_task_completed_date_becomes_midnight_utc() -> None:
    task = Task(subject="done", status=TaskStatus.COMPLETED, percent_complete=100, completed=dt.date(2026, 3, 9))
    back = ical_to_item(item_to_ical(task, uid="t"), source_id="x")
    assert back.completed == dt.datetime(2026, 3, 9, tzinfo=UTC)  # type: ignore[union-attr]
    assert differences(task, back) == [f"completed: expected {task.completed!r}, got {back.completed!r}"]  # type: ignore[union-attr]


def full_note() -> Note:
    return Note(
        subject="Shopping, weekend",
        body="milk; eggs\nbread",
        color=NoteColor.PINK,
        categories=("Home",),
        created=dt.datetime(2026, 2, 1, 8, 15, tzinfo=UTC),
        modified=dt.datetime(2026, 2, 3, 19, 0, tzinfo=UTC),
        width=320,
        height=240,
    )


@pytest.mark.parametrize("color", [*NoteColor, None])
def test_note_with_every_field(color: NoteColor | None) -> None:
    note = attrs.evolve(full_note(), color=color)
    assert_round_trip(note, uid="n")
    data = item_to_ical(note, uid="n")
    assert b"DTSTART:20260201T081500Z" in data and b"CREATED:20260201T081500Z" in data
    assert ical_kind(data) == "notes"
    assert_round_trip(Note(body="just text"), uid="n2")


# -- foreign data --------------------------------------------------------------------------

THUNDERBIRD = """
BEGIN:VCALENDAR
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
VERSION:2.0
BEGIN:VTIMEZONE
TZID:Europe/Berlin
X-LIC-LOCATION:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
CREATED:20260301T090000Z
LAST-MODIFIED:20260301T091500Z
DTSTAMP:20260301T091500Z
UID:5f0c2a3e-thunderbird
SUMMARY:Team meeting
ORGANIZER;CN=Boss:mailto:boss@example.org
ATTENDEE;CN=Boss;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:boss@example.org
ATTENDEE;RSVP=TRUE;CN=Anna Meier;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:anna@example.org
ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION;ROLE=OPT-PARTICIPANT:mailto:bob@example.org
ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED;ROLE=NON-PARTICIPANT;CN=Room 1:mailto:room1@example.org
RRULE:FREQ=WEEKLY;UNTIL=20260428T080000Z;BYDAY=TU
EXDATE;TZID=Europe/Berlin:20260407T100000
DTSTART;TZID=Europe/Berlin:20260310T100000
DTEND;TZID=Europe/Berlin:20260310T110000
TRANSP:OPAQUE
X-MOZ-GENERATION:2
CATEGORIES:Business
DESCRIPTION:Agenda:\\n1. Budget\\, plan
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER;VALUE=DURATION:-PT10M
DESCRIPTION:Default Mozilla Description
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:5f0c2a3e-thunderbird
RECURRENCE-ID;TZID=Europe/Berlin:20260317T100000
DTSTART;TZID=Europe/Berlin:20260317T120000
DTEND;TZID=Europe/Berlin:20260317T130000
SUMMARY:Team meeting (later)
DTSTAMP:20260301T091500Z
SEQUENCE:1
END:VEVENT
END:VCALENDAR
"""


def test_thunderbird_series_with_an_override() -> None:
    event, warnings = foreign(THUNDERBIRD)
    assert warnings == []
    assert isinstance(event, Event)
    assert event.start == dt.datetime(2026, 3, 10, 9, tzinfo=UTC) and event.timezone == "Europe/Berlin"
    assert event.end == dt.datetime(2026, 3, 10, 10, tzinfo=UTC)
    assert event.recurrence == "FREQ=WEEKLY;UNTIL=20260428T080000Z;BYDAY=TU"
    assert event.deleted_occurrences == (dt.datetime(2026, 4, 7, 8, tzinfo=UTC),)
    assert event.body == "Agenda:\n1. Budget, plan" and not event.body_is_html
    assert (event.reminder_minutes, event.reminder_is_set, event.categories) == (10, True, ("Business",))
    assert event.organizer == "boss@example.org"
    assert [(a.address, a.name, a.role, a.response) for a in event.attendees] == [
        ("boss@example.org", "Boss", "required", Response.ORGANIZER),
        ("anna@example.org", "Anna Meier", "required", Response.ACCEPTED),
        ("bob@example.org", None, "optional", Response.NONE),
        ("room1@example.org", "Room 1", "resource", Response.ACCEPTED),
    ]
    (moved,) = event.exceptions
    assert moved.recurrence_id == dt.datetime(2026, 3, 17, 9, tzinfo=UTC)
    assert moved.start == dt.datetime(2026, 3, 17, 11, tzinfo=UTC) and moved.subject == "Team meeting (later)"
    # and it writes back to the same thing
    assert differences(event, ical_to_item(item_to_ical(event, uid="5f0c2a3e-thunderbird"), source_id="x")) == []


OUTLOOK = (
    """
BEGIN:VCALENDAR
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
VERSION:2.0
METHOD:PUBLISH
X-MS-OLK-FORCEINSPECTOROPEN:TRUE
"""
    + BERLIN_VTIMEZONE.format(tzid="W. Europe Standard Time")
    + """
BEGIN:VEVENT
CLASS:PUBLIC
CREATED:20260601T120000Z
DESCRIPTION:Text\\n
DTEND;TZID="W. Europe Standard Time":20260715T160000
DTSTAMP:20260601T120000Z
DTSTART;TZID="W. Europe Standard Time":20260715T143000
LAST-MODIFIED:20260601T120000Z
LOCATION:Konferenzraum
PRIORITY:5
SEQUENCE:0
SUMMARY;LANGUAGE=de:Besprechung
TRANSP:OPAQUE
UID:040000008200E00074C5B7101A82E00800000000B0C6A8A4E9E7DB01000000000000000010000000
X-ALT-DESC;FMTTYPE=text/html:<html><body><p>Text</p></body></html>
X-MICROSOFT-CDO-BUSYSTATUS:OOF
X-MICROSOFT-CDO-IMPORTANCE:1
X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY
X-MICROSOFT-DISALLOW-COUNTER:FALSE
X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/abc
BEGIN:VALARM
TRIGGER:-PT15M
ACTION:DISPLAY
DESCRIPTION:Reminder
END:VALARM
END:VEVENT
END:VCALENDAR
"""
)


def test_outlook_event_with_a_windows_tzid() -> None:
    event, warnings = foreign(OUTLOOK)
    assert warnings == []
    assert isinstance(event, Event)
    assert event.start == dt.datetime(2026, 7, 15, 12, 30, tzinfo=UTC)
    assert event.end == dt.datetime(2026, 7, 15, 14, tzinfo=UTC)
    assert event.timezone == "Europe/Berlin"
    assert (event.show_as, event.importance, event.sensitivity) == (ShowAs.AWAY, Importance.NORMAL, Sensitivity.NORMAL)
    assert event.body == "<html><body><p>Text</p></body></html>" and event.body_is_html
    assert event.online_meeting_url == "https://teams.microsoft.com/l/meetup-join/abc"
    assert event.reminder_minutes == 15 and event.subject == "Besprechung"


CUSTOM_ZONE = """
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//Custom//EN
BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16011104T020000
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010311T020000
RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:custom-1
DTSTAMP:20260101T000000Z
DTSTART;TZID=Customized Time Zone:{start}
DTEND;TZID=Customized Time Zone:{end}
RRULE:FREQ=WEEKLY;COUNT=20
SUMMARY:custom zone
END:VEVENT
END:VCALENDAR
"""


@pytest.mark.parametrize(
    ("start", "instant"),
    [("20260115T090000", dt.datetime(2026, 1, 15, 14, tzinfo=UTC)), ("20260715T090000", dt.datetime(2026, 7, 15, 13, tzinfo=UTC))],
)
def test_custom_tzid_with_its_own_vtimezone(start: str, instant: dt.datetime) -> None:
    event, warnings = foreign(CUSTOM_ZONE.format(start=start, end=start[:9] + "100000"))
    assert isinstance(event, Event)
    assert event.start == instant and event.end == instant + dt.timedelta(hours=1)
    # named by an IANA zone with the same offsets, so the series keeps its local time
    assert event.timezone is not None
    assert differences(attrs.evolve(event, timezone="America/New_York"), event) == []
    assert len(warnings) == 1 and "Customized Time Zone" in warnings[0]


def test_custom_tzid_matching_no_zone_keeps_the_instants() -> None:
    odd = CUSTOM_ZONE.replace("-0400", "+0117").replace("-0500", "+0017").format(start="20260715T090000", end="20260715T100000")
    event, warnings = foreign(odd)
    assert isinstance(event, Event)
    assert event.start == dt.datetime(2026, 7, 15, 7, 43, tzinfo=UTC) and event.timezone is None
    assert "matches no IANA zone" in warnings[0]


def test_globally_unique_tzid_duration_and_floating_time() -> None:
    text = """
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Evolution//EN
BEGIN:VEVENT
UID:evo-1
DTSTAMP:20260101T000000Z
DTSTART;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20260328T230000
DURATION:P1D
SUMMARY:over the change to summer time
END:VEVENT
END:VCALENDAR
"""
    event, warnings = foreign(text)
    assert isinstance(event, Event) and warnings == []
    assert event.timezone == "Europe/Berlin"
    # a day on the wall clock: 23:00 to 23:00, 23 hours across the change
    assert event.start == dt.datetime(2026, 3, 28, 22, tzinfo=UTC)
    assert event.end == dt.datetime(2026, 3, 29, 21, tzinfo=UTC)

    exact = text.replace("DURATION:P1D", "DURATION:PT1H30M")
    assert foreign(exact)[0].end == dt.datetime(2026, 3, 28, 23, 30, tzinfo=UTC)

    floating = text.replace(";TZID=/freeassociation.sourceforge.net/Europe/Berlin:", ":").replace("DURATION:P1D", "DTEND:20260329T010000")
    event, warnings = foreign(floating)
    assert event.start == dt.datetime(2026, 3, 28, 23, tzinfo=UTC) and event.timezone is None
    assert event.end == dt.datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert warnings == ["VEVENT 'evo-1': floating time read in UTC"]

    in_calendar_zone = floating.replace("PRODID:-//Evolution//EN", "PRODID:x\nX-WR-TIMEZONE:America/New_York")
    event, warnings = foreign(in_calendar_zone)
    assert event.start == dt.datetime(2026, 3, 29, 3, tzinfo=UTC) and event.timezone == "America/New_York"


def test_defaults_without_dtend() -> None:
    base = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:d\nDTSTAMP:20260101T000000Z\n{start}\nEND:VEVENT\nEND:VCALENDAR"
    day, _ = foreign(base.format(start="DTSTART;VALUE=DATE:20260310"))
    assert (day.start, day.end, day.is_all_day) == (dt.date(2026, 3, 10), dt.date(2026, 3, 11), True)
    moment, _ = foreign(base.format(start="DTSTART:20260310T100000Z"))
    assert moment.start == moment.end == dt.datetime(2026, 3, 10, 10, tzinfo=UTC) and moment.timezone == "UTC"


def test_an_orphan_override_is_one_event_with_its_recurrence_id() -> None:
    text = """
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//macOS 14//EN
BEGIN:VEVENT
UID:series-elsewhere
DTSTAMP:20260101T000000Z
RECURRENCE-ID:20260312T090000Z
DTSTART:20260312T100000Z
DTEND:20260312T110000Z
SUMMARY:the one occurrence I was invited to
ORGANIZER;CN=Boss;EMAIL=boss@example.org:urn:uuid:0b7f-boss
ATTENDEE;CN=Me;CUTYPE=INDIVIDUAL;EMAIL=me@example.org;PARTSTAT=TENTATIVE:urn:uuid:1c8f-me
BEGIN:VALARM
ACTION:NONE
TRIGGER;VALUE=DATE-TIME:19760401T005545Z
END:VALARM
END:VEVENT
END:VCALENDAR
"""
    event, warnings = foreign(text)
    assert isinstance(event, Event) and warnings == []
    assert event.recurrence_id == dt.datetime(2026, 3, 12, 9, tzinfo=UTC) and event.recurrence is None
    assert event.start == dt.datetime(2026, 3, 12, 10, tzinfo=UTC)
    assert event.organizer == "boss@example.org"
    assert event.attendees == (Attendee("me@example.org", "Me", "required", Response.TENTATIVE),)
    assert (event.reminder_minutes, event.reminder_is_set) == (None, False)  # ACTION:NONE is no reminder
    back = ical_to_item(item_to_ical(event, uid="series-elsewhere"), source_id="x")
    assert differences(event, back) == [] and back == event


def test_google_style_utc_times_and_conference() -> None:
    text = """
BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
X-WR-TIMEZONE:Europe/Berlin
BEGIN:VEVENT
DTSTART:20260310T090000Z
DTEND:20260310T100000Z
DTSTAMP:20260301T000000Z
UID:abc123@google.com
X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij
CLASS:PRIVATE
SUMMARY:Standup
TRANSP:TRANSPARENT
END:VEVENT
END:VCALENDAR
"""
    event, warnings = foreign(text)
    assert warnings == []
    assert event.start == dt.datetime(2026, 3, 10, 9, tzinfo=UTC) and event.timezone == "UTC"
    assert event.online_meeting_url == "https://meet.google.com/abc-defg-hij"
    assert (event.sensitivity, event.show_as) == (Sensitivity.PRIVATE, ShowAs.FREE)


def test_bad_values_are_skipped_with_warnings() -> None:
    text = """
BEGIN:VCALENDAR
VERSION:2.0
PRODID:x
BEGIN:VEVENT
UID:bad-1
DTSTAMP:20260101T000000Z
DTSTART;TZID=Nowhere/Zone:20260310T100000
DTEND:garbage
PRIORITY:high
RRULE:FREQ=SOMETIMES
ATTACH:https://files.example.org/a.pdf
X-GROUPMIGRATE-NOTE-WIDTH:wide
SUMMARY:still an event
END:VEVENT
END:VCALENDAR
"""
    event, warnings = foreign(text)
    assert isinstance(event, Event) and event.subject == "still an event"
    assert event.start == event.end == dt.datetime(2026, 3, 10, 10, tzinfo=UTC)
    assert event.recurrence is None and event.importance == Importance.NORMAL and event.attachments == ()
    assert len(warnings) == 5
    for fragment in ("Nowhere/Zone", "floating", "DTEND", "RRULE", "ATTACH"):
        assert any(fragment in w for w in warnings), fragment
    assert all(w.startswith("VEVENT 'bad-1'") for w in warnings)


def test_several_uids_in_one_resource_keep_the_first() -> None:
    one = "BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20260101T000000Z\nDTSTART:20260310T100000Z\nSUMMARY:{uid}\nEND:VEVENT\n"
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n" + one.format(uid="a") + one.format(uid="b") + "END:VCALENDAR"
    event, warnings = foreign(text, source_id="cal/two.ics")
    assert event.subject == "a"
    assert warnings == ["resource 'cal/two.ics': 1 component(s) of another kind or UID ignored"]


def test_what_cannot_be_read_raises_naming_the_resource_or_uid() -> None:
    with pytest.raises(ICalendarError, match="'r/x.ics': not iCalendar"):
        ical_to_item(b"this is no calendar", source_id="r/x.ics")
    with pytest.raises(ICalendarError, match="'r/x.ics': no VEVENT"):
        ical_to_item(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", source_id="r/x.ics")
    secret = "confidential body text"
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:no-start\nDESCRIPTION:{secret}\nEND:VEVENT\nEND:VCALENDAR"
    with pytest.raises(ICalendarError, match="VEVENT 'no-start': no readable DTSTART") as caught:
        foreign(text)
    assert secret not in str(caught.value)


def test_foreign_task_and_journal() -> None:
    task_text = """
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Nextcloud Tasks//EN
BEGIN:VTODO
UID:todo-1
DTSTAMP:20260101T000000Z
SUMMARY:call back
DTSTART;TZID=America/New_York:20260309T200000
DUE;TZID=America/New_York:20260310T230000
STATUS:CANCELLED
PRIORITY:2
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER;RELATED=END:-PT1H
DESCRIPTION:x
END:VALARM
END:VTODO
END:VCALENDAR
"""
    task, warnings = foreign(task_text)
    assert isinstance(task, Task) and warnings == []
    assert (task.start, task.due) == (dt.date(2026, 3, 9), dt.date(2026, 3, 10))  # their own zone's dates
    assert (task.status, task.percent_complete, task.importance) == (TaskStatus.DEFERRED, 0, Importance.HIGH)
    assert task.reminder_at == dt.datetime(2026, 3, 11, 2, tzinfo=UTC) and task.reminder_is_set
    done, _ = foreign(task_text.replace("STATUS:CANCELLED", "COMPLETED:20260310T120000Z"))
    assert (done.status, done.percent_complete, done.completed) == (TaskStatus.COMPLETED, 100, dt.datetime(2026, 3, 10, 12, tzinfo=UTC))

    journal = """
BEGIN:VCALENDAR
VERSION:2.0
PRODID:x
BEGIN:VJOURNAL
UID:j-1
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20260310
SUMMARY:diary
DESCRIPTION:first part
DESCRIPTION:second part
COLOR:lightyellow
CATEGORIES:a,b
CATEGORIES:b,c
END:VJOURNAL
END:VCALENDAR
"""
    note, warnings = foreign(journal)
    assert isinstance(note, Note) and warnings == []
    assert note.created == dt.datetime(2026, 3, 10, tzinfo=UTC) and note.modified is None
    assert (note.body, note.color, note.categories) == ("first part\n\nsecond part", None, ("a", "b", "c"))


def test_stale_markers_yield_to_the_standard_property() -> None:
    task = Task(subject="t", status=TaskStatus.WAITING, percent_complete=10)
    data = item_to_ical(task, uid="t").replace(b"STATUS:IN-PROCESS", b"STATUS:COMPLETED")
    assert ical_to_item(data, source_id="x").status == TaskStatus.COMPLETED  # type: ignore[union-attr]
    event = Event(subject="e", start=dt.datetime(2026, 1, 1, tzinfo=UTC), sensitivity=Sensitivity.PERSONAL, show_as=ShowAs.AWAY)
    data = item_to_ical(event, uid="e").replace(b"CLASS:PRIVATE", b"CLASS:CONFIDENTIAL").replace(b"TRANSP:OPAQUE", b"TRANSP:TRANSPARENT")
    back = ical_to_item(data, source_id="x")
    assert (back.sensitivity, back.show_as) == (Sensitivity.CONFIDENTIAL, ShowAs.FREE)  # type: ignore[union-attr]


def test_uid_stamp_and_kind_of_odd_data() -> None:
    assert (ical_uid(b""), ical_stamp(b""), ical_kind(b"")) == (None, None, None)
    assert ical_kind(b"\x00\xff garbage") is None
    folded = b"BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:abc\r\n def\\,ghi\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    assert (ical_uid(folded), ical_kind(folded)) == ("abcdef,ghi", "tasks")
    # a UID inside a VALARM or VTIMEZONE is not the item's
    nested = b"BEGIN:VCALENDAR\r\nBEGIN:VJOURNAL\r\nBEGIN:VALARM\r\nUID:alarm\r\nEND:VALARM\r\nUID:note\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"
    assert ical_uid(nested) == "note"


@pytest.mark.parametrize(
    ("tzid", "name"),
    [("W. Europe Standard Time", "Europe/Berlin"), ("/mozilla.org/20070129_1/Europe/Berlin", "Europe/Berlin"),
     ("Europe/Berlin", "Europe/Berlin"), ("Etc/UTC", "UTC"), ("Customized Time Zone", None), ("", None)],
)  # fmt: skip
def test_zone_names(tzid: str, name: str | None) -> None:
    assert zone_name(tzid) == name


def test_a_broken_value_list_or_an_endless_duration_costs_only_that_value() -> None:
    text = THUNDERBIRD.replace("EXDATE;TZID=Europe/Berlin:20260407T100000", "EXDATE;TZID=Europe/Berlin:2026040T1000")
    event, warnings = foreign(text)
    assert event.deleted_occurrences == () and event.exceptions
    assert any("EXDATE" in w for w in warnings)
    endless = THUNDERBIRD.replace("DTEND;TZID=Europe/Berlin:20260310T110000", "DURATION:P99999999D")
    event, warnings = foreign(endless)
    assert event.end == event.start and any("DURATION" in w for w in warnings)


def test_a_recurring_task_with_an_overridden_occurrence_keeps_the_series() -> None:
    text = """
BEGIN:VCALENDAR
VERSION:2.0
PRODID:x
BEGIN:VTODO
UID:rt
DTSTAMP:20260101T000000Z
RECURRENCE-ID;VALUE=DATE:20260308
DTSTART;VALUE=DATE:20260308
SUMMARY:one occurrence
END:VTODO
BEGIN:VTODO
UID:rt
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20260301
RRULE:FREQ=WEEKLY
SUMMARY:the series
END:VTODO
END:VCALENDAR
"""
    task, warnings = foreign(text)
    assert (task.subject, task.recurrence) == ("the series", "FREQ=WEEKLY")
    assert warnings == ["VTODO 'rt': 1 overridden occurrence(s) ignored"]


@pytest.mark.parametrize("which", ["series", "meeting", "task", "note", "thunderbird", "outlook"])
def test_any_bad_value_gives_an_item_or_an_icalendar_error(which: str) -> None:
    sample = {
        "series": lambda: item_to_ical(attrs.evolve(weekly_series(), recurrence_dates=(dt.datetime(2026, 5, 2, 12, tzinfo=BERLIN),)), uid="a"),
        "meeting": lambda: item_to_ical(attrs.evolve(meeting(), attachments=(Attachment("a", b"x"),)), uid="m"),
        "task": lambda: item_to_ical(full_task(TaskStatus.WAITING, 20), uid="t"),
        "note": lambda: item_to_ical(full_note(), uid="n"),
        "thunderbird": lambda: THUNDERBIRD.strip().replace("\n", "\r\n").encode(),
        "outlook": lambda: OUTLOOK.strip().replace("\n", "\r\n").encode(),
    }[which]()
    lines = sample.split(b"\r\n")
    for index, line in enumerate(lines):
        if b":" not in line or line.startswith((b"BEGIN:", b"END:", b" ")):
            continue
        head = line.split(b":", 1)[0]
        for junk in (b"", b"x", b"-1", b"20260101", b"99991231T235959Z", b"00010101T000000", b"P99999999D", b"\\", b"a,b;c"):
            data = b"\r\n".join([*lines[:index], head + b":" + junk, *lines[index + 1 :]])
            try:
                ical_to_item_with_warnings(data, source_id="r")
            except ICalendarError as e:
                assert "cannot be read (" not in str(e), (head, junk, str(e))
