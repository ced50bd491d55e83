"""Calendar mapper: organizer, attendee responses, recurrence, time zones, all-day events."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import attrs
import pytest
from dateutil.rrule import rrulestr

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Attendee, Event
from groupmigrate.core.mappers import Change, MapContext, map_item

OWNER = "alice@example.org"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.timezone.utc
PLUS1 = dt.timezone(dt.timedelta(hours=1))
WORKMAIL = Capabilities(preserves_organizer=False, preserves_attendee_status=False)

ORGANIZER_NOTICE = Change(
    "notice",
    "organizer",
    f"the destination makes the mailbox owner {OWNER} the organizer of every appointment; "
    "other organizers (first: bob@example.com) are not kept",
)


def responses_notice(count: int) -> Change:
    return Change(
        "notice",
        "attendees.response",
        "the destination does not keep attendee responses (accepted, tentative, declined); "
        "they are dropped from every meeting of this account",
        count,
    )


def at(*args: int, tz: dt.tzinfo = BERLIN) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)  # type: ignore[arg-type,misc]


MEETING = Event(
    subject="Planning",
    start=at(2024, 5, 2, 10),
    end=at(2024, 5, 2, 11),
    timezone="Europe/Berlin",
    organizer="bob@example.com",
    attendees=(
        Attendee("alice@example.org", "Alice", response="accepted"),
        Attendee("carol@example.com", "Carol", role="optional", response="declined"),
        Attendee("room@example.com", role="resource"),
    ),
    uid="uid-1",
)
NO_RESPONSES = tuple(attrs.evolve(a, response=None) for a in MEETING.attendees)

SERIES = Event(
    subject="Weekly",
    start=at(2024, 3, 18, 9),
    end=at(2024, 3, 18, 10),
    timezone="Europe/Berlin",
    organizer="bob@example.com",
    attendees=(Attendee("carol@example.com", response="tentative"),),
    recurrence="FREQ=WEEKLY;BYDAY=MO;COUNT=6",
    exceptions=(
        Event(
            subject="Weekly (moved)",
            start=at(2024, 4, 2, 14),
            end=at(2024, 4, 2, 15),
            recurrence_id=at(2024, 4, 1, 9),
            organizer="bob@example.com",
            attendees=(Attendee("carol@example.com", response="accepted"),),
        ),
    ),
    deleted_occurrences=(at(2024, 4, 8, 9),),
    uid="uid-series",
)


@pytest.mark.parametrize(
    ("event", "caps", "expected", "changes"),
    [
        pytest.param(MEETING, Capabilities(), MEETING, [], id="all-kept"),
        pytest.param(
            MEETING,
            Capabilities(preserves_organizer=False),
            attrs.evolve(MEETING, organizer=OWNER),
            [ORGANIZER_NOTICE],
            id="owner-becomes-organizer",
        ),
        pytest.param(
            attrs.evolve(MEETING, organizer="Alice@Example.org"),
            Capabilities(preserves_organizer=False),
            attrs.evolve(MEETING, organizer=OWNER),
            [],
            id="organizer-already-owner",
        ),
        pytest.param(
            attrs.evolve(MEETING, organizer=None, attendees=()),
            Capabilities(preserves_organizer=False),
            attrs.evolve(MEETING, organizer=OWNER, attendees=()),
            [],
            id="no-organizer",
        ),
        pytest.param(
            MEETING,
            Capabilities(preserves_attendee_status=False),
            attrs.evolve(MEETING, attendees=NO_RESPONSES),
            [responses_notice(2)],
            id="responses-dropped",
        ),
        pytest.param(
            attrs.evolve(MEETING, attendees=NO_RESPONSES),
            Capabilities(preserves_attendee_status=False),
            attrs.evolve(MEETING, attendees=NO_RESPONSES),
            [],
            id="no-responses-to-drop",
        ),
        pytest.param(
            SERIES,
            WORKMAIL,
            attrs.evolve(
                SERIES,
                organizer=OWNER,
                attendees=(Attendee("carol@example.com"),),
                exceptions=(
                    attrs.evolve(SERIES.exceptions[0], organizer=OWNER, attendees=(Attendee("carol@example.com"),)),
                ),
            ),
            [ORGANIZER_NOTICE, responses_notice(2)],
            id="series-exceptions-and-deletions-kept",
        ),
    ],
)
def test_event_mapping(event: Event, caps: Capabilities, expected: Event, changes: list[Change]) -> None:
    result = map_item(event, caps, MapContext(owner=OWNER))
    assert result.item == expected
    assert result.changes == changes
    assert isinstance(result.item, Event)
    assert result.item.recurrence == event.recurrence
    assert result.item.deleted_occurrences == event.deleted_occurrences
    if not changes and caps == Capabilities():
        assert result.item is event


def test_account_notices_once_but_counted() -> None:
    ctx = MapContext(owner=OWNER)
    results = [map_item(e, WORKMAIL, ctx) for e in (MEETING, SERIES, MEETING)]
    assert [[c.field for c in r.changes] for r in results] == [["organizer", "attendees.response"], [], []]
    assert ctx.counted("changed", "organizer") == (3, 3)
    assert ctx.counted("dropped", "attendees.response") == (3, 6)
    summary = {(c.kind, c.field): c for c in ctx.summary()}
    assert summary[("dropped", "attendees.response")].count == 6
    assert summary[("dropped", "attendees.response")].message == "attendee responses dropped: 6 on 3 item(s)"
    assert summary[("changed", "organizer")].message == "mailbox owner made organizer: 3 item(s)"
    # another account has its own context, so it gets its own notices
    other = MapContext(owner="bob@example.org")
    assert [c.kind for c in map_item(MEETING, WORKMAIL, other).changes] == ["notice", "notice"]


def wall_times(event: Event, count: int) -> list[tuple[dt.date, dt.time]]:
    """The local start (date, time) of the first occurrences, expanded in the event's zone."""
    assert isinstance(event.start, dt.datetime) and event.recurrence
    zone = ZoneInfo(event.timezone or "UTC")
    rule = rrulestr(event.recurrence, dtstart=event.start)
    return [(o.astimezone(zone).date(), o.astimezone(zone).time()) for o in list(rule)[:count]]


@pytest.mark.parametrize(
    ("start", "timezone"),
    [
        pytest.param(at(2024, 3, 18, 9, tz=PLUS1), "Europe/Berlin", id="fixed-offset"),
        pytest.param(at(2024, 3, 18, 8, tz=UTC), "Europe/Berlin", id="utc"),
        pytest.param(at(2024, 3, 18, 8, tz=ZoneInfo("UTC")), "Europe/Berlin", id="zoneinfo-utc"),
        pytest.param(at(2024, 3, 18, 9), "Europe/Berlin", id="already-named"),
    ],
)
def test_series_keeps_wall_time_across_dst(start: dt.datetime, timezone: str) -> None:
    series = Event(subject="Standup", start=start, end=start + dt.timedelta(minutes=15), timezone=timezone,
                   recurrence="FREQ=WEEKLY;COUNT=4", uid="u")
    result = map_item(series, Capabilities(), MapContext(owner=OWNER))
    assert isinstance(result.item, Event)
    assert isinstance(result.item.start, dt.datetime)
    assert result.item.start == start  # the same instant...
    assert result.item.start.tzinfo == BERLIN  # ...in the named zone
    assert result.changes == []
    # 31 March 2024 is the switch to summer time: every occurrence stays at 09:00 in Berlin
    assert [t for _, t in wall_times(result.item, 4)] == [dt.time(9)] * 4


def test_fixed_offset_would_have_shifted() -> None:
    """Guard for the test above: expanding from the raw offset does shift by an hour."""
    raw = Event(start=at(2024, 3, 18, 9, tz=PLUS1), recurrence="FREQ=WEEKLY;COUNT=3", timezone="Europe/Berlin")
    assert [t for _, t in wall_times(raw, 3)] == [dt.time(9), dt.time(9), dt.time(10)]


def test_exception_and_deleted_occurrence_times_in_zone() -> None:
    series = Event(
        start=at(2024, 3, 18, 9, tz=PLUS1),
        timezone="Europe/Berlin",
        recurrence="FREQ=WEEKLY;COUNT=4",
        exceptions=(Event(start=at(2024, 4, 1, 9, tz=UTC), recurrence_id=at(2024, 4, 1, 7, tz=UTC)),),
        deleted_occurrences=(at(2024, 4, 8, 7, tz=UTC),),
    )
    mapped = map_item(series, Capabilities(), MapContext(owner=OWNER)).item
    assert isinstance(mapped, Event)
    [exception] = mapped.exceptions
    assert exception.recurrence_id == at(2024, 4, 1, 9) and exception.recurrence_id.tzinfo == BERLIN
    assert exception.start == at(2024, 4, 1, 11)
    assert mapped.deleted_occurrences == (at(2024, 4, 8, 9),)
    assert mapped.deleted_occurrences[0].tzinfo == BERLIN


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            Event(start=at(2024, 7, 1, 9, tz=NEW_YORK), end=at(2024, 7, 1, 10, tz=NEW_YORK)),
            Event(start=at(2024, 7, 1, 9, tz=NEW_YORK), end=at(2024, 7, 1, 10, tz=NEW_YORK), timezone="America/New_York"),
            id="zone-name-filled-from-start",
        ),
        pytest.param(
            Event(start=at(2024, 7, 1, 9, tz=PLUS1), timezone="W. Europe Standard Time"),
            Event(start=at(2024, 7, 1, 9, tz=PLUS1), timezone="W. Europe Standard Time"),
            id="unknown-zone-name-left-alone",
        ),
        pytest.param(
            Event(start=at(2024, 7, 1, 9, tz=PLUS1), end=at(2024, 7, 1, 17, tz=NEW_YORK), timezone="Europe/Berlin"),
            Event(start=at(2024, 7, 1, 9, tz=PLUS1), end=at(2024, 7, 1, 17, tz=NEW_YORK), timezone="Europe/Berlin"),
            id="end-in-its-own-named-zone",
        ),
    ],
)
def test_time_zone_cases(event: Event, expected: Event) -> None:
    result = map_item(event, Capabilities(), MapContext(owner=OWNER))
    assert result.item == expected and result.changes == []
    assert isinstance(result.item, Event) and isinstance(expected.end, (dt.datetime, type(None)))
    if isinstance(result.item.end, dt.datetime) and isinstance(expected.end, dt.datetime):
        assert result.item.end.tzinfo == expected.end.tzinfo


@pytest.mark.parametrize(
    ("event", "start", "end", "changes"),
    [
        pytest.param(
            Event(start=dt.date(2024, 5, 1), end=dt.date(2024, 5, 2), is_all_day=True),
            dt.date(2024, 5, 1), dt.date(2024, 5, 2), [], id="dates-kept",
        ),
        pytest.param(
            Event(start=dt.date(2024, 5, 1), end=dt.date(2024, 5, 3)),
            dt.date(2024, 5, 1), dt.date(2024, 5, 3), [], id="dates-mean-all-day",
        ),
        pytest.param(
            Event(start=at(2024, 4, 30, 22, tz=UTC), end=at(2024, 5, 1, 22, tz=UTC), is_all_day=True, timezone="Europe/Berlin"),
            dt.date(2024, 5, 1), dt.date(2024, 5, 2), [], id="utc-midnights-of-berlin",
        ),
        pytest.param(
            Event(start=at(2024, 5, 1, 0), end=at(2024, 5, 2, 0), is_all_day=True),
            dt.date(2024, 5, 1), dt.date(2024, 5, 2), [], id="named-zone-midnights",
        ),
        pytest.param(
            Event(subject="Trip", start=at(2024, 5, 1, 10), end=at(2024, 5, 1, 12), is_all_day=True),
            dt.date(2024, 5, 1), dt.date(2024, 5, 2),
            [("changed", "start", "all-day event 'Trip' started at 2024-05-01 10:00:00+02:00; kept as the day 2024-05-01")],
            id="time-of-day-dropped",
        ),
        pytest.param(
            Event(start=dt.date(2024, 5, 1), end=dt.date(2024, 5, 1), is_all_day=True),
            dt.date(2024, 5, 1), dt.date(2024, 5, 2), [], id="empty-range-made-one-day",
        ),
    ],
)
def test_all_day(event: Event, start: dt.date, end: dt.date, changes: list[tuple[str, str, str]]) -> None:
    result = map_item(event, Capabilities(), MapContext(owner=OWNER))
    assert isinstance(result.item, Event)
    assert result.item.is_all_day
    assert (type(result.item.start), result.item.start) == (dt.date, start)
    assert (type(result.item.end), result.item.end) == (dt.date, end)
    assert [(c.kind, c.field, c.message) for c in result.changes] == changes


def test_all_day_series_exceptions_stay_all_day() -> None:
    series = Event(start=at(2024, 4, 30, 22, tz=UTC), end=at(2024, 5, 1, 22, tz=UTC), is_all_day=True,
                   timezone="Europe/Berlin", recurrence="FREQ=YEARLY",
                   exceptions=(Event(start=at(2025, 4, 30, 22, tz=UTC), end=at(2025, 5, 1, 22, tz=UTC), is_all_day=True,
                                     recurrence_id=at(2025, 4, 30, 22, tz=UTC)),))
    mapped = map_item(series, Capabilities(), MapContext(owner=OWNER)).item
    assert isinstance(mapped, Event)
    assert (mapped.start, mapped.end) == (dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    assert (mapped.exceptions[0].start, mapped.exceptions[0].end) == (dt.date(2025, 5, 1), dt.date(2025, 5, 2))


def test_calendar_not_on_route() -> None:
    result = map_item(MEETING, Capabilities(item_types=frozenset({"mail"})), MapContext(owner=OWNER))
    assert result.item is None and result.skip_reason == "item type 'calendar' is not supported by the destination"
