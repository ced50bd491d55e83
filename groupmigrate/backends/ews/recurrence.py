"""exchangelib recurrence patterns <-> RFC 5545 RRULE values.

Both directions cover every EWS pattern: daily, weekly, absolute and relative monthly and
yearly, with no end, an end date or a number of occurrences. EWS's "first weekday" style
patterns (DaysOfWeek ``Day``, ``Weekday``, ``WeekendDay``) become ``BYDAY`` lists with
``BYSETPOS``. Task regeneration ("two weeks after completion") has no RFC 5545 form; it is
written as the matching FREQ/INTERVAL plus the non-standard part ``X-REGENERATE=1``.

An RRULE end date (``UNTIL``) is written as a date for all-day series and tasks, and as the
last second of the end day in the series' time zone, in UTC, for timed series.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DailyRegeneration,
    EndDatePattern,
    MonthlyRegeneration,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    TaskRecurrence,
    WeeklyPattern,
    WeeklyRegeneration,
    YearlyRegeneration,
)

__all__ = ["from_rrule", "to_rrule"]

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # exchangelib weekday 1..7
_DAY, _WEEKDAY, _WEEKEND_DAY = 8, 9, 10  # exchangelib's Day / Weekday / WeekendDay
_GROUPS = {_DAY: _DAYS, _WEEKDAY: _DAYS[:5], _WEEKEND_DAY: _DAYS[5:]}
_LAST = 5  # exchangelib week number "Last"


def _position(week_number: int) -> int:
    return -1 if week_number == _LAST else week_number


def _week_number(position: int) -> int:
    if position == -1:
        return _LAST
    if 1 <= position <= 4:
        return position
    raise ValueError(f"RRULE position {position} has no EWS equivalent (only 1-4 and -1)")


def _relative_day(weekday: int, week_number: int) -> list[str]:
    pos = _position(week_number)
    if weekday in _GROUPS:
        return [f"BYDAY={','.join(_GROUPS[weekday])}", f"BYSETPOS={pos}"]
    return [f"BYDAY={pos}{_DAYS[weekday - 1]}"]


def to_rrule(recurrence: Any, *, tz: dt.tzinfo | None = None, all_day: bool = False) -> str:
    """The RRULE value for an exchangelib ``Recurrence`` or ``TaskRecurrence``.

    Args:
        recurrence: the exchangelib recurrence (pattern and boundary).
        tz: the series' time zone, to express a timed end date in UTC.
        all_day: whether the series is all-day (end date written as a date).
    """
    pattern, boundary = recurrence.pattern, recurrence.boundary
    parts: list[str] = []
    if isinstance(pattern, DailyPattern):
        parts = ["FREQ=DAILY", f"INTERVAL={pattern.interval}"]
    elif isinstance(pattern, WeeklyPattern):
        days = ",".join(_DAYS[d - 1] for d in sorted(pattern.weekdays))
        parts = ["FREQ=WEEKLY", f"INTERVAL={pattern.interval}", f"BYDAY={days}"]
        if pattern.first_day_of_week and pattern.first_day_of_week != 1:
            parts.append(f"WKST={_DAYS[pattern.first_day_of_week - 1]}")
    elif isinstance(pattern, AbsoluteMonthlyPattern):
        parts = ["FREQ=MONTHLY", f"INTERVAL={pattern.interval}", f"BYMONTHDAY={pattern.day_of_month}"]
    elif isinstance(pattern, RelativeMonthlyPattern):
        parts = ["FREQ=MONTHLY", f"INTERVAL={pattern.interval}", *_relative_day(pattern.weekday, pattern.week_number)]
    elif isinstance(pattern, AbsoluteYearlyPattern):
        parts = ["FREQ=YEARLY", f"BYMONTH={pattern.month}", f"BYMONTHDAY={pattern.day_of_month}"]
    elif isinstance(pattern, RelativeYearlyPattern):
        parts = ["FREQ=YEARLY", f"BYMONTH={pattern.month}", *_relative_day(pattern.weekday, pattern.week_number)]
    elif isinstance(pattern, (DailyRegeneration, WeeklyRegeneration, MonthlyRegeneration, YearlyRegeneration)):
        freq = {
            DailyRegeneration: "DAILY",
            WeeklyRegeneration: "WEEKLY",
            MonthlyRegeneration: "MONTHLY",
            YearlyRegeneration: "YEARLY",
        }[type(pattern)]
        parts = [f"FREQ={freq}", f"INTERVAL={pattern.interval}", "X-REGENERATE=1"]
    else:
        raise ValueError(f"unsupported recurrence pattern {type(pattern).__name__}")
    if isinstance(boundary, NumberedPattern):
        parts.append(f"COUNT={boundary.number}")
    elif isinstance(boundary, EndDatePattern):
        end = boundary.end
        end_date = end.date() if isinstance(end, dt.datetime) else end
        if all_day or tz is None:
            parts.append(f"UNTIL={end_date:%Y%m%d}")
        else:
            last = dt.datetime.combine(end_date, dt.time(23, 59, 59), tzinfo=tz).astimezone(dt.timezone.utc)
            parts.append(f"UNTIL={last:%Y%m%dT%H%M%SZ}")
    return ";".join(parts)


def _parse(rrule: str) -> dict[str, str]:
    text = rrule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        if "=" in piece:
            key, value = piece.split("=", 1)
            parts[key.strip().upper()] = value.strip().upper()
    return parts


def _until(value: str, tz: dt.tzinfo | None) -> dt.date:
    if "T" not in value:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date()
    moment = dt.datetime.strptime(value.rstrip("Z")[:15], "%Y%m%dT%H%M%S")
    if value.endswith("Z"):
        moment = moment.replace(tzinfo=dt.timezone.utc)
        if tz is not None:
            moment = moment.astimezone(tz)
    return moment.date()


def _day_spec(byday: str, bysetpos: str | None) -> tuple[int, int]:
    """(exchangelib weekday, week number) for a relative monthly/yearly BYDAY."""
    days = byday.split(",")
    if bysetpos is not None:
        group = tuple(d.lstrip("+-0123456789") for d in days)
        for key, members in _GROUPS.items():
            if set(group) == set(members):
                return key, _week_number(int(bysetpos))
        if len(group) == 1:
            return _DAYS.index(group[0]) + 1, _week_number(int(bysetpos))
        raise ValueError(f"BYDAY={byday} with BYSETPOS has no EWS equivalent")
    if len(days) != 1:
        raise ValueError(f"BYDAY={byday} needs one day with a position for a relative pattern")
    day = days[0]
    code = day[-2:]
    prefix = day[:-2] or "1"
    return _DAYS.index(code) + 1, _week_number(int(prefix))


def from_rrule(
    rrule: str,
    start: dt.date,
    *,
    tz: dt.tzinfo | None = None,
    task: bool = False,
) -> Any:
    """An exchangelib ``Recurrence`` (``TaskRecurrence`` when ``task``) for an RRULE.

    Args:
        rrule: the RRULE value (with or without the ``RRULE:`` prefix).
        start: the first day of the series (the series' start date in its time zone).
        tz: the series' time zone, to read a UTC ``UNTIL``.
        task: build a task recurrence (allows regeneration).

    Raises:
        ValueError: for rules EWS cannot express (e.g. BYDAY with several positioned days).
    """
    parts = _parse(rrule)
    freq = parts.get("FREQ")
    interval = int(parts.get("INTERVAL", "1"))
    if not 1 <= interval <= 999:
        raise ValueError(f"INTERVAL={interval} is outside what EWS accepts (1-999)")
    if "COUNT" in parts and not 1 <= int(parts["COUNT"]) <= 999:
        raise ValueError(f"COUNT={parts['COUNT']} is outside what EWS accepts (1-999)")
    if "UNTIL" in parts and _until(parts["UNTIL"], tz) < start:
        raise ValueError(f"UNTIL={parts['UNTIL']} ends the series before its first day {start}")
    start_day = start.isoweekday()
    pattern: Any
    if parts.get("X-REGENERATE") == "1":
        if not task:
            raise ValueError("regeneration exists only for tasks")
        cls = {"DAILY": DailyRegeneration, "WEEKLY": WeeklyRegeneration, "MONTHLY": MonthlyRegeneration, "YEARLY": YearlyRegeneration}[freq or ""]
        pattern = cls(interval=interval)
    elif freq == "DAILY":
        pattern = DailyPattern(interval=interval)
    elif freq == "WEEKLY":
        days = [d for d in parts.get("BYDAY", "").split(",") if d] or [_DAYS[start_day - 1]]
        wkst = parts.get("WKST", "MO")
        pattern = WeeklyPattern(
            interval=interval,
            weekdays=sorted(_DAYS.index(d[-2:]) + 1 for d in days),
            first_day_of_week=_DAYS.index(wkst) + 1,
        )
    elif freq == "MONTHLY":
        if "BYDAY" in parts:
            weekday, week_number = _day_spec(parts["BYDAY"], parts.get("BYSETPOS"))
            pattern = RelativeMonthlyPattern(interval=interval, weekday=weekday, week_number=week_number)
        else:
            pattern = AbsoluteMonthlyPattern(interval=interval, day_of_month=int(parts.get("BYMONTHDAY", start.day)))
    elif freq == "YEARLY":
        month = int(parts.get("BYMONTH", start.month))
        if "BYDAY" in parts:
            weekday, week_number = _day_spec(parts["BYDAY"], parts.get("BYSETPOS"))
            pattern = RelativeYearlyPattern(weekday=weekday, week_number=week_number, month=month)
        else:
            pattern = AbsoluteYearlyPattern(day_of_month=int(parts.get("BYMONTHDAY", start.day)), month=month)
    else:
        raise ValueError(f"RRULE frequency {freq!r} has no EWS equivalent")
    if "COUNT" in parts:
        boundary: Any = NumberedPattern(start=start, number=int(parts["COUNT"]))
    elif "UNTIL" in parts:
        boundary = EndDatePattern(start=start, end=_until(parts["UNTIL"], tz))
    else:
        boundary = NoEndPattern(start=start)
    cls_ = TaskRecurrence if task else Recurrence
    return cls_(pattern=pattern, boundary=boundary)


def zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The IANA zone called ``name``, or None when unknown."""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
