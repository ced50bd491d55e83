"""RRULE <-> exchangelib recurrence patterns, both ways, for every EWS pattern."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from exchangelib.recurrence import (
    AbsoluteYearlyPattern,
    DailyRegeneration,
    EndDatePattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    WeeklyPattern,
)

from groupmigrate.backends.ews.convert.calendar import instance_index
from groupmigrate.backends.ews.recurrence import from_rrule, to_rrule
from groupmigrate.items import Event

START = dt.date(2026, 1, 5)  # a Monday


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;INTERVAL=2;COUNT=5",
        "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,WE,FR",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;WKST=SU;COUNT=10",
        "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=15",
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=2TU",
        "FREQ=MONTHLY;INTERVAL=1;BYDAY=-1FR",
        "FREQ=MONTHLY;INTERVAL=1;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1",
        "FREQ=MONTHLY;INTERVAL=1;BYDAY=SA,SU;BYSETPOS=-1",
        "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=4",
        "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
        "FREQ=YEARLY;BYMONTH=1;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=1",
        "FREQ=DAILY;INTERVAL=1;UNTIL=20260131",
    ],
)
def test_round_trip(rule: str) -> None:
    assert to_rrule(from_rrule(rule, START), all_day=True) == rule


def test_timed_until_is_the_last_second_of_the_end_day_in_utc() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    recurrence = from_rrule("FREQ=DAILY;INTERVAL=1;UNTIL=20260131T225959Z", START, tz=berlin)
    assert isinstance(recurrence.boundary, EndDatePattern) and recurrence.boundary.end == dt.date(2026, 1, 31)
    assert to_rrule(recurrence, tz=berlin) == "FREQ=DAILY;INTERVAL=1;UNTIL=20260131T225959Z"


def test_patterns_and_defaults() -> None:
    weekly = from_rrule("RRULE:FREQ=WEEKLY", START)
    assert isinstance(weekly.pattern, WeeklyPattern) and weekly.pattern.weekdays == [1]
    monthly = from_rrule("FREQ=MONTHLY;BYDAY=-1FR;COUNT=3", START)
    assert isinstance(monthly.pattern, RelativeMonthlyPattern) and monthly.pattern.week_number == 5
    assert isinstance(monthly.boundary, NumberedPattern) and monthly.boundary.number == 3
    yearly = from_rrule("FREQ=YEARLY", dt.date(2026, 3, 4))
    assert isinstance(yearly.pattern, AbsoluteYearlyPattern) and (yearly.pattern.month, yearly.pattern.day_of_month) == (3, 4)


def test_task_regeneration() -> None:
    recurrence = from_rrule("FREQ=DAILY;INTERVAL=3;X-REGENERATE=1", START, task=True)
    assert isinstance(recurrence.pattern, DailyRegeneration)
    assert to_rrule(recurrence) == "FREQ=DAILY;INTERVAL=3;X-REGENERATE=1"
    with pytest.raises(ValueError):
        from_rrule("FREQ=DAILY;X-REGENERATE=1", START)


@pytest.mark.parametrize("rule", ["FREQ=HOURLY", "FREQ=MONTHLY;BYDAY=1MO,3MO", "FREQ=MONTHLY;BYDAY=2MO,TU;BYSETPOS=2"])
def test_rules_ews_cannot_express(rule: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        from_rrule(rule, START)


def test_instance_index_of_occurrences() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    start = dt.datetime(2026, 1, 5, 9, tzinfo=berlin)
    event = Event(subject="x", start=start, end=start + dt.timedelta(hours=1), timezone="Europe/Berlin",
                  recurrence="FREQ=WEEKLY;BYDAY=MO;COUNT=10")  # fmt: skip
    assert instance_index(event, start) == 1
    assert instance_index(event, dt.datetime(2026, 1, 19, 8, tzinfo=dt.timezone.utc)) == 3
    assert instance_index(event, dt.datetime(2026, 1, 20, 9, tzinfo=berlin)) is None
    assert instance_index(event, dt.datetime(2026, 12, 28, 9, tzinfo=berlin)) is None
