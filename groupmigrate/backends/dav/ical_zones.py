"""Time zones for the iCalendar converter: naming a TZID, writing VTIMEZONEs, matching custom ones.

* :func:`zone_name` turns a TZID as clients write it into an IANA name: an IANA name as
  is, a Windows name (``W. Europe Standard Time``) through icalendar's Windows-to-IANA
  table, and a "globally unique" TZID (``/mozilla.org/20070129_1/Europe/Berlin``) by its
  trailing IANA name.
* :func:`vtimezone` writes the VTIMEZONE of an IANA zone from the system's zoneinfo data,
  from the year before ``since`` on. Yearly transitions that follow a rule become one
  observance with an RRULE (open-ended for the rule in force, so a series that never ends
  keeps the right offsets in every year); the others are listed as RDATEs. Clients that
  take the definition instead of the TZID's name get the same instants as the zone.
* :func:`equivalent_zone` names an IANA zone that gives the same offsets as a custom
  definition (a VTIMEZONE whose TZID names no zone) in the years around a date.
* :class:`ObjectZones` reads the times of one calendar object with these rules.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

__all__ = ["UTC", "ObjectZones", "Zone", "add_duration", "equivalent_zone", "is_utc_name", "vtimezone", "zone", "zone_name"]

#: a zone and its IANA name (None: a custom definition that names no zone, or UTC for floating times)
Zone = tuple[dt.tzinfo, str | None]

UTC = zoneinfo.ZoneInfo("UTC")
_UTC_NAMES = frozenset(
    {"utc", "z", "gmt", "etc/utc", "etc/gmt", "etc/uct", "uct", "etc/zulu", "zulu", "universal", "etc/universal",
     "etc/gmt0", "etc/gmt+0", "etc/gmt-0", "gmt0", "gmt+0", "gmt-0", "etc/greenwich", "greenwich"}
)  # fmt: skip
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_SECOND = dt.timedelta(seconds=1)


def is_utc_name(name: str) -> bool:
    return name.strip().lower() in _UTC_NAMES


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone of an IANA name; None for a name the zoneinfo data does not hold."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


@functools.lru_cache(maxsize=1024)
def zone_name(tzid: str) -> str | None:
    """The IANA name a TZID means (IANA, Windows or globally unique form); None when it names none."""
    cleaned = tzid.strip().strip('"').strip()
    if is_utc_name(cleaned.strip("/")):
        return "UTC"
    bare = cleaned.strip("/")
    if bare and not cleaned.startswith("/") and not bare.startswith(("posix/", "right/")) and zone(bare) is not None:
        return bare
    windows = WINDOWS_TO_OLSON.get(bare)
    if windows is not None and zone(windows) is not None:
        return windows
    parts = [p for p in bare.split("/") if p]
    for first in range(1, len(parts)):
        candidate = "/".join(parts[first:])
        if "/" in candidate and zone(candidate) is not None:
            return candidate
    return None


# -- writing -------------------------------------------------------------------------------


def _state(tz: dt.tzinfo, moment: dt.datetime) -> tuple[dt.timedelta, bool, str]:
    """(UTC offset, whether it is daylight saving time, abbreviation) of ``tz`` at ``moment``."""
    local = moment.astimezone(tz)
    return local.utcoffset() or dt.timedelta(0), bool(local.dst()), local.tzname() or ""


def _transitions(tz: dt.tzinfo, first: dt.datetime, last: dt.datetime) -> Iterator[tuple[dt.datetime, Any, Any]]:
    """(UTC instant, state before, state after) of each change of offset, DST or name, where a
    state is ``(utcoffset, is_dst, tzname)``; found day by day, then to the second."""

    state = functools.partial(_state, tz)
    day = dt.timedelta(days=1)
    moment, current = first, state(first)
    while moment < last:
        following = moment + day
        after = state(following)
        if after != current:
            low, high = moment, following
            while high - low > _SECOND:
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle <= low:
                    break
                if state(middle) == current:
                    low = middle
                else:
                    high = middle
            yield high, current, state(high)
            current = state(high)
            moment = high
        else:
            moment = following


def _rule_forms(onset: dt.datetime) -> set[tuple[Any, ...]]:
    """The yearly rules an onset (local wall time) fits: nth or last weekday of its month,
    weekday on or after a day of the month, or a fixed day of the month."""
    weekday, day = onset.weekday(), onset.day
    length = calendar.monthrange(onset.year, onset.month)[1]
    forms: set[tuple[Any, ...]] = {("nth", (day - 1) // 7 + 1, weekday), ("day", day)}
    if day + 7 > length:
        forms.add(("last", weekday))
    forms.update(("after", first, weekday) for first in range(max(1, day - 6), day + 1) if first + 6 <= length)
    return forms


def _rrule(month: int, form: tuple[Any, ...], until: dt.datetime | None) -> str:
    if form[0] == "last":
        parts = [f"BYDAY=-1{_DAYS[form[1]]}"]
    elif form[0] == "nth":
        parts = [f"BYDAY={form[1]}{_DAYS[form[2]]}"]
    elif form[0] == "after":
        parts = [f"BYMONTHDAY={','.join(str(d) for d in range(form[1], form[1] + 7))}", f"BYDAY={_DAYS[form[2]]}"]
    else:
        parts = [f"BYMONTHDAY={form[1]}"]
    rule = ";".join(["FREQ=YEARLY", f"BYMONTH={month}", *parts])
    # UNTIL is a day after the last onset: readers that take it as local time (as dateutil
    # does) and readers that take it as UTC end the rule after the same onset.
    return rule + (f";UNTIL={until + dt.timedelta(days=1):%Y%m%dT%H%M%SZ}" if until is not None else "")


_PREFERENCE = {"last": 0, "nth": 1, "after": 2, "day": 3}


def _runs(onsets: list[tuple[dt.datetime, dt.datetime]]) -> Iterator[tuple[list[tuple[dt.datetime, dt.datetime]], tuple[Any, ...] | None]]:
    """Split (UTC instant, local onset) pairs of one kind into runs of yearly onsets that
    follow one rule; a run of one has no rule."""
    run: list[tuple[dt.datetime, dt.datetime]] = []
    forms: set[tuple[Any, ...]] = set()
    for pair in onsets:
        onset = pair[1]
        if run:
            last = run[-1][1]
            common = forms & _rule_forms(onset)
            if onset.year == last.year + 1 and (onset.month, onset.time()) == (last.month, last.time()) and common:
                run.append(pair)
                forms = common
                continue
            yield run, (min(forms, key=lambda f: _PREFERENCE[f[0]]) if len(run) > 1 else None)
        run, forms = [pair], _rule_forms(onset)
    if run:
        yield run, (min(forms, key=lambda f: _PREFERENCE[f[0]]) if len(run) > 1 else None)


def _observance(is_dst: bool, before: dt.timedelta, after: dt.timedelta, name: str, start: dt.datetime) -> Any:
    part: Any = icalendar.TimezoneDaylight() if is_dst else icalendar.TimezoneStandard()
    part.add("DTSTART", start)
    part.add("TZOFFSETFROM", before)
    part.add("TZOFFSETTO", after)
    if name:
        part.add("TZNAME", name)
    return part


@functools.lru_cache(maxsize=256)
def _vtimezone(name: str, first_year: int) -> bytes:
    tz = zone(name)
    if tz is None:
        raise ValueError(f"unknown time zone {name!r}")
    last_year = max(first_year + 3, 2038)
    first = dt.datetime(first_year, 1, 1, tzinfo=UTC)
    last = dt.datetime(last_year + 1, 1, 1, tzinfo=UTC)
    component: Any = icalendar.Timezone()
    component.add("TZID", name)
    offset, is_dst, tzname = _state(tz, first)
    component.add_component(_observance(is_dst, offset, offset, tzname, (first + offset).replace(tzinfo=None)))
    kinds: dict[tuple[Any, ...], list[tuple[dt.datetime, dt.datetime]]] = {}
    for moment, before, after in _transitions(tz, first, last):
        onset = (moment + before[0]).replace(tzinfo=None)
        kinds.setdefault((before[0], *after), []).append((moment, onset))
    for (before, after, dst, label), onsets in kinds.items():
        single: list[dt.datetime] = []
        for run, form in _runs(onsets):
            if form is None or len(run) < 2:
                single.extend(onset for _, onset in run)
                continue
            open_ended = run[-1][1].year >= last_year
            part = _observance(dst, before, after, label, run[0][1])
            part.add("RRULE", icalendar.vRecur.from_ical(_rrule(run[0][1].month, form, None if open_ended else run[-1][0])))
            component.add_component(part)
        if single:
            part = _observance(dst, before, after, label, single[0])
            if single[1:]:
                part.add("RDATE", single[1:])
            component.add_component(part)
    return bytes(component.to_ical())


def vtimezone(name: str, since: dt.date) -> Any:
    """The VTIMEZONE (an :class:`icalendar.Timezone`) of IANA zone ``name``, valid from the
    year before ``since`` on (rules in force continue for ever)."""
    return icalendar.Timezone.from_ical(_vtimezone(name, min(max(1900, since.year - 1), 2200)))


# -- reading custom definitions --------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _candidates() -> tuple[str, ...]:
    names = dict.fromkeys(v for v in WINDOWS_TO_OLSON.values() if zone(v) is not None)
    return tuple(names)


def equivalent_zone(tz: dt.tzinfo, around: dt.date) -> str | None:
    """A well-known IANA zone (one a Windows zone maps to) with the same offsets as ``tz`` at
    every moment of the year before, the year of and the year after ``around``; None when
    none matches."""
    year = min(max(around.year, 1901), 2200)
    first = dt.datetime(year - 1, 1, 1, tzinfo=UTC)
    last = dt.datetime(year + 2, 1, 1, tzinfo=UTC)
    try:
        changes = [moment for moment, _, _ in _transitions(tz, first, last)]
        probes = [first + dt.timedelta(days=7 * week) for week in range(157)]
        probes += [m for moment in changes for m in (moment - _SECOND, moment)]
        wanted = [p.astimezone(tz).utcoffset() for p in probes]
    except (ValueError, OverflowError, TypeError):
        return None
    for name in _candidates():
        candidate = zone(name)
        if candidate is not None and all(p.astimezone(candidate).utcoffset() == w for p, w in zip(probes, wanted)):
            return name
    return None


@functools.lru_cache(maxsize=64)
def _custom_zone(definition: bytes, year: int) -> tuple[dt.tzinfo, str | None] | None:
    try:
        component: Any = icalendar.Timezone.from_ical(definition)
        custom: dt.tzinfo = component.to_tz(lookup_tzid=False)
    except Exception:  # noqa: BLE001 - a VTIMEZONE that does not make a zone
        return None
    name = equivalent_zone(custom, dt.date(year, 7, 1))
    found = zone(name) if name else None
    return (found, name) if found is not None else (custom, None)


def add_duration(start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
    """``start`` plus an iCalendar duration: whole days on the wall clock, the rest exactly."""
    days = dt.timedelta(days=duration.days)
    return ((start + days).astimezone(UTC) + (duration - days)).astimezone(start.tzinfo)


def _tzid(prop: Any) -> str | None:
    params = getattr(prop, "params", None)
    found = params.get("TZID") if params is not None else None
    return str(found) if found else None


def _dt(prop: Any) -> Any:
    try:
        return prop.dt
    except Exception:  # noqa: BLE001 - a property that did not parse
        return None


class ObjectZones:
    """The times of one calendar object, its TZIDs resolved against its own VTIMEZONEs.

    icalendar's own TZID lookup is not used beyond the wall-clock time: it keeps custom
    definitions process-wide by TZID, so one resource's "Customized Time Zone" would give
    another's times. Floating times are read in the calendar's X-WR-TIMEZONE, else UTC.
    """

    def __init__(self, calendar: Any, wr_timezone: str | None, warn: list[str], label: str) -> None:
        self._definitions = {str(tz.get("TZID", "")): tz for tz in calendar.walk("VTIMEZONE")}
        self._known: dict[str, Zone | None] = {}
        self._note: Callable[[str], None] = lambda text: warn.append(f"{label}: {text}")
        self._floating_noted = False
        named = zone_name(wr_timezone) if wr_timezone else None
        found = zone(named) if named else None
        self.floating: Zone = (found, named) if found is not None else (UTC, None)

    def resolve(self, tzid: str, around: dt.date) -> Zone | None:
        """The zone a TZID means; None (read as floating) when it means none."""
        if tzid not in self._known:
            self._known[tzid] = self._resolve(tzid, around)
        return self._known[tzid]

    def _resolve(self, tzid: str, around: dt.date) -> Zone | None:
        name = zone_name(tzid)
        found = zone(name) if name else None
        if name and found is not None:
            return (UTC, "UTC") if name == "UTC" else (found, name)
        if tzid not in self._definitions:
            self._note(f"unknown TZID {tzid!r} without VTIMEZONE; read as floating time")
            return None
        custom = _custom_zone(bytes(self._definitions[tzid].to_ical()), around.year)
        if custom is None:
            self._note(f"VTIMEZONE {tzid!r} cannot be read; its times read as floating time")
        elif custom[1] is None:
            self._note(f"custom time zone {tzid!r} matches no IANA zone; times kept as UTC instants")
        else:
            self._note(f"custom time zone {tzid!r} read as {custom[1]!r} (the same offsets)")
        return custom

    def place(self, value: Any, tzid: str | None, fallback: Zone) -> tuple[dt.datetime | dt.date, str | None] | None:
        """A DATE as is, or a DATE-TIME as an aware datetime in its zone, with the zone's IANA
        name; ``fallback`` is the zone of a floating time. None for anything else."""
        if isinstance(value, dt.datetime):
            if tzid:
                resolved = self.resolve(tzid, value.date())
                if resolved is not None:
                    local = value.replace(tzinfo=None).replace(tzinfo=resolved[0])
                    return (local, resolved[1]) if resolved[1] else (local.astimezone(UTC), None)
            elif value.tzinfo is not None:
                return value.astimezone(UTC), "UTC"
            if fallback is self.floating and not self._floating_noted:
                self._floating_noted = True
                self._note(f"floating time read in {fallback[1] or 'UTC'}")
            return value.replace(tzinfo=None).replace(tzinfo=fallback[0]), fallback[1]
        if isinstance(value, dt.date):
            return value, None
        return None

    def moment(self, prop: Any, fallback: Zone) -> tuple[dt.datetime | dt.date, str | None] | None:
        """:meth:`place` for a DTSTART-like property (None when absent or unreadable)."""
        return None if prop is None else self.place(_dt(prop), _tzid(prop), fallback)

    def values(self, name: str, props: list[Any], fallback: Zone) -> Iterator[dt.datetime | dt.date]:
        """The DATE / DATE-TIME values of EXDATE or RDATE properties (a PERIOD by its start)."""
        for prop in props:
            try:
                items = list(prop.dts)
            except Exception:  # noqa: BLE001 - a property that did not parse
                self._note(f"{name} {str(prop)[:60]!r} cannot be read; skipped")
                continue
            for item in items:
                value = _dt(item)
                placed = self.place(value[0] if isinstance(value, tuple) else value, _tzid(prop), fallback)
                if placed is not None:
                    yield placed[0]
