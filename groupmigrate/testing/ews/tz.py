"""The time zones the server knows: Windows ids, display names, rules, and IANA equivalents."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple, Optional
from zoneinfo import ZoneInfo

from lxml import etree

from groupmigrate.testing.ews.xmlns import T, sub

__all__ = ["ZONES", "Zone", "zone_info", "definition"]


class Rule(NamedTuple):
    month: int
    occurrence: int  # 1..4, -1 = last
    weekday: str
    time: str  # xs:duration of the local time of day, e.g. PT2H


class Zone(NamedTuple):
    ms_id: str
    name: str
    iana: str
    bias_minutes: int  # UTC = local + bias (Windows convention)
    daylight_bias_minutes: int = 0
    to_daylight: Optional[Rule] = None
    to_standard: Optional[Rule] = None


_EU_DST = (Rule(3, -1, "Sunday", "PT2H"), Rule(10, -1, "Sunday", "PT3H"))
_US_DST = (Rule(3, 2, "Sunday", "PT2H"), Rule(11, 1, "Sunday", "PT2H"))

ZONES: dict[str, Zone] = {
    z.ms_id: z
    for z in (
        Zone("UTC", "(UTC) Coordinated Universal Time", "UTC", 0),
        Zone("GMT Standard Time", "(UTC+00:00) Dublin, Edinburgh, Lisbon, London", "Europe/London", 0, -60,
             Rule(3, -1, "Sunday", "PT1H"), Rule(10, -1, "Sunday", "PT2H")),
        Zone("W. Europe Standard Time", "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
             "Europe/Berlin", -60, -60, *_EU_DST),
        Zone("Romance Standard Time", "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", "Europe/Paris", -60, -60,
             *_EU_DST),
        Zone("Central Europe Standard Time", "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague",
             "Europe/Budapest", -60, -60, *_EU_DST),
        Zone("Eastern Standard Time", "(UTC-05:00) Eastern Time (US & Canada)", "America/New_York", 300, -60,
             *_US_DST),
        Zone("Central Standard Time", "(UTC-06:00) Central Time (US & Canada)", "America/Chicago", 360, -60,
             *_US_DST),
        Zone("Pacific Standard Time", "(UTC-08:00) Pacific Time (US & Canada)", "America/Los_Angeles", 480, -60,
             *_US_DST),
        Zone("Tokyo Standard Time", "(UTC+09:00) Osaka, Sapporo, Tokyo", "Asia/Tokyo", -540),
        Zone("India Standard Time", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", "Asia/Kolkata", -330),
        Zone("AUS Eastern Standard Time", "(UTC+10:00) Canberra, Melbourne, Sydney", "Australia/Sydney", -600, -60,
             Rule(10, 1, "Sunday", "PT2H"), Rule(4, 1, "Sunday", "PT3H")),
    )
}


def zone_info(ms_id: Optional[str]) -> dt.tzinfo:
    """The tzinfo for a Windows time zone id (UTC when unknown)."""
    zone = ZONES.get(ms_id or "")
    if zone is None:
        return dt.timezone.utc
    try:
        return ZoneInfo(zone.iana)
    except Exception:  # noqa: BLE001 - a system without tz data still gets the standard offset
        return dt.timezone(dt.timedelta(minutes=-zone.bias_minutes))


def _duration(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    hours, mins = divmod(minutes, 60)
    out = f"{sign}PT"
    if hours:
        out += f"{hours}H"
    if mins or not hours:
        out += f"{mins}M"
    return out


def definition(zone: Zone, full: bool) -> etree._Element:
    """A ``t:TimeZoneDefinition`` as GetServerTimeZones returns it."""
    el = etree.Element(T("TimeZoneDefinition"), Name=zone.name, Id=zone.ms_id)
    if not full:
        return el
    base = f"trule:Microsoft/Registry/{zone.ms_id}/2006"
    periods = sub(el, T("Periods"))
    sub(periods, T("Period"), Bias=_duration(zone.bias_minutes), Name="Standard", Id=f"{base}-Standard")
    if zone.to_daylight is not None:
        sub(periods, T("Period"), Bias=_duration(zone.bias_minutes + zone.daylight_bias_minutes), Name="Daylight",
            Id=f"{base}-Daylight")
    groups = sub(el, T("TransitionsGroups"))
    group = sub(groups, T("TransitionsGroup"), Id="0")
    if zone.to_daylight is None or zone.to_standard is None:
        tr = sub(group, T("Transition"))
        sub(tr, T("To"), f"{base}-Standard", Kind="Period")
    else:
        for rule, target in ((zone.to_daylight, "Daylight"), (zone.to_standard, "Standard")):
            tr = sub(group, T("RecurringDayTransition"))
            sub(tr, T("To"), f"{base}-{target}", Kind="Period")
            sub(tr, T("TimeOffset"), rule.time)
            sub(tr, T("Month"), str(rule.month))
            sub(tr, T("DayOfWeek"), rule.weekday)
            sub(tr, T("Occurrence"), str(rule.occurrence))
    transitions = sub(el, T("Transitions"))
    tr = sub(transitions, T("Transition"))
    sub(tr, T("To"), "0", Kind="Group")
    return el
