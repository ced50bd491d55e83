"""Reading one calendar object resource into an Event, Task or Note (see :mod:`.ical` for the
field table); also the vocabularies and text helpers the writer shares.

Foreign data is read leniently: unknown properties are ignored, a value that cannot be read
is skipped with a warning, and :class:`ICalendarError` is raised only when no item can be
made at all (not iCalendar, no VEVENT/VTODO/VJOURNAL, an event without a start).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
import urllib.parse
import warnings as warnings_module
from collections.abc import Callable, Iterator
from typing import Any, Literal

import attrs
import icalendar

from groupmigrate.backends.dav.ical_zones import UTC, ObjectZones, Zone, add_duration, zone, zone_name
from groupmigrate.items import (
    Attachment, Attendee, Event, Importance, Note, NoteColor, Response, Sensitivity, ShowAs, Task, TaskStatus,
)  # fmt: skip
from groupmigrate.mime import html_to_text

__all__ = ["ICalendarError", "read", "scan"]

Kind = Literal["calendar", "tasks", "notes"]
KINDS: dict[str, Kind] = {"VEVENT": "calendar", "VTODO": "tasks", "VJOURNAL": "notes"}
_DURATION: Any = icalendar.vDuration
_DATETIME: Any = icalendar.vDatetime


class ICalendarError(ValueError):
    """iCalendar data that no item can be made of (or an item that cannot be written)."""


# -- vocabularies, shared with the writer ----------------------------------------------------

PARTSTAT = {
    Response.ACCEPTED: "ACCEPTED", Response.DECLINED: "DECLINED", Response.TENTATIVE: "TENTATIVE",
    Response.NONE: "NEEDS-ACTION", Response.ORGANIZER: "ACCEPTED", Response.UNKNOWN: "NEEDS-ACTION",
}  # fmt: skip
#: responses iCalendar has no word for: PARTSTAT above plus X-GROUPMIGRATE-RESPONSE=<this>
RESPONSE_MARKS = {Response.ORGANIZER: "ORGANIZER", Response.UNKNOWN: "UNKNOWN"}
_READ_PARTSTAT = {
    "ACCEPTED": Response.ACCEPTED, "DECLINED": Response.DECLINED, "TENTATIVE": Response.TENTATIVE,
    "NEEDS-ACTION": Response.NONE, "DELEGATED": Response.UNKNOWN,
}  # fmt: skip
BUSY_STATUS = {
    ShowAs.FREE: "FREE", ShowAs.TENTATIVE: "TENTATIVE", ShowAs.BUSY: "BUSY", ShowAs.AWAY: "OOF",
    ShowAs.WORKING_ELSEWHERE: "WORKINGELSEWHERE",
}  # fmt: skip
CLASS = {Sensitivity.PERSONAL: "PRIVATE", Sensitivity.PRIVATE: "PRIVATE", Sensitivity.CONFIDENTIAL: "CONFIDENTIAL"}
PRIORITY = {Importance.HIGH: 1, Importance.NORMAL: 5, Importance.LOW: 9}
MS_IMPORTANCE = {Importance.LOW: "0", Importance.NORMAL: "1", Importance.HIGH: "2"}
TASK_STATUS = {
    TaskStatus.NOT_STARTED: "NEEDS-ACTION", TaskStatus.IN_PROGRESS: "IN-PROCESS", TaskStatus.COMPLETED: "COMPLETED",
    TaskStatus.WAITING: "IN-PROCESS", TaskStatus.DEFERRED: "NEEDS-ACTION",
}  # fmt: skip
_READ_STATUS = {
    "NEEDS-ACTION": TaskStatus.NOT_STARTED, "IN-PROCESS": TaskStatus.IN_PROGRESS,
    "COMPLETED": TaskStatus.COMPLETED, "CANCELLED": TaskStatus.DEFERRED,
}  # fmt: skip
X = "X-GROUPMIGRATE-"
ONLINE_MEETING_PROPERTIES = ("X-MICROSOFT-SKYPETEAMSMEETINGURL", "X-MICROSOFT-ONLINEMEETINGEXTERNALLINK", "X-GOOGLE-CONFERENCE")
FILENAME_PARAMETERS = ("FILENAME", "X-FILENAME", "X-APPLE-FILENAME", "X-ORACLE-FILENAME", "X-EVOLUTION-CALDAV-ATTACHMENT-NAME")


def conference_uri(url: str) -> str:
    """An online meeting's URL as CONFERENCE holds it: commas as %2C, since vobject (and so
    Radicale) reads an unknown property as a list and keeps only what precedes a bare comma."""
    return url.replace(",", "%2C")


def server_rrule(rule: str) -> str:
    """An RRULE value without the X- parts (``X-REGENERATE=1``), which servers refuse."""
    return ";".join(p for p in rule.split(";") if p.strip() and not p.strip().upper().startswith("X-"))


# -- raw text --------------------------------------------------------------------------------

_UNFOLD = re.compile(r"\r?\n[ \t]")
_LINES = re.compile(r"\r\n|\n|\r")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def unescape(text: str) -> str:
    """A TEXT value as written (backslash escapes) as the text it means."""
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)


def _decode(data: bytes) -> tuple[str, bool]:
    try:
        return data.decode("utf-8").lstrip("\ufeff"), True
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace").lstrip("\ufeff"), False


def scan(data: bytes) -> Iterator[tuple[int, str, str, str]]:
    """(item component number, component name, property name, raw value) of each property
    directly inside a VEVENT, VTODO or VJOURNAL; cheap, and never raises."""
    text, _ = _decode(data)
    stack: list[str] = []
    number = -1
    for line in _LINES.split(_UNFOLD.sub("", text)):
        head, sep, value = _split(line)
        if not sep:
            continue
        name = head.split(";", 1)[0].strip().upper()
        if name == "BEGIN":
            stack.append(value.strip().upper())
            if stack[-1] in KINDS and not any(s in KINDS for s in stack[:-1]):
                number += 1
        elif name == "END":
            if stack:
                stack.pop()
        elif stack and stack[-1] in KINDS:
            yield number, stack[-1], name, value


def _split(line: str) -> tuple[str, bool, str]:
    """(name and parameters, whether there is a value, raw value) of a content line: the value
    starts at the first colon outside a quoted parameter value."""
    colon = line.find(":")
    if colon < 0:
        return line, False, ""
    if '"' not in line[:colon]:
        return line[:colon], True, line[colon + 1 :]
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:index], True, line[index + 1 :]
    return line, False, ""


# -- property access -------------------------------------------------------------------------


def _all(component: Any, name: str) -> list[Any]:
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, icalendar.vText):
        return str(value)
    if isinstance(value, str):  # an X- property, kept as written
        return unescape(str(value))
    return unescape(value.to_ical().decode("utf-8", errors="replace"))


def _first_text(component: Any, name: str) -> str | None:
    values = _all(component, name)
    return _text(values[0]) if values else None


def _param(value: Any, name: str) -> str | None:
    params = getattr(value, "params", None)
    found = params.get(name) if params is not None else None
    if isinstance(found, list):
        found = found[0] if found else None
    return None if found is None else str(found)


def _value(prop: Any) -> Any:
    try:
        return prop.dt
    except Exception:  # noqa: BLE001 - a property that did not parse
        return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _address(prop: Any) -> str:
    text = str(prop).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
        return urllib.parse.unquote(text) if "%" in text else text
    return _param(prop, "EMAIL") or text


def _utc(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=UTC)
    return None


def _importance(component: Any) -> Importance:
    priority = _int(_first_text(component, "PRIORITY"))
    if priority is not None and 1 <= priority <= 9:
        return Importance.HIGH if priority < 5 else Importance.NORMAL if priority == 5 else Importance.LOW
    found = {v: k for k, v in MS_IMPORTANCE.items()}.get((_first_text(component, "X-MICROSOFT-CDO-IMPORTANCE") or "").strip())
    return found or Importance.NORMAL


def _categories(component: Any) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for prop in _all(component, "CATEGORIES"):
        values = getattr(prop, "cats", None)
        for value in values if values is not None else [prop]:
            text = (_text(value) or "").strip()
            if text:
                found[text] = None
    return tuple(found)


def _rrule(component: Any, raw: list[str], label: str, warn: list[str]) -> str | None:
    rules = _all(component, "RRULE")
    if not rules:
        return None
    if len(rules) > 1:
        warn.append(f"{label}: {len(rules)} RRULEs; only the first is kept")
    if not isinstance(rules[0], icalendar.vRecur) or "FREQ" not in rules[0]:
        warn.append(f"{label}: RRULE cannot be read; read as a single item")
        return None
    recur: Any = rules[0]
    written = raw[0].strip() if raw else recur.to_ical().decode()
    original = _first_text(component, X + "RRULE")
    if original and "FREQ=" in original.upper() and server_rrule(original) == written:
        return original
    return written


# -- reading ---------------------------------------------------------------------------------


def read(data: bytes, source_id: str) -> tuple[Event | Task | Note, list[str]]:
    warn: list[str] = []
    text, utf8 = _decode(data)
    if not utf8:
        warn.append(f"resource {source_id!r}: not UTF-8; read as Windows-1252")
    try:
        with warnings_module.catch_warnings():
            warnings_module.simplefilter("ignore")
            parsed: Any = icalendar.Calendar.from_ical(text)
    except Exception as e:  # noqa: BLE001 - icalendar raises several types for bad data
        raise ICalendarError(f"resource {source_id!r}: not iCalendar data ({type(e).__name__})") from None
    calendar = parsed
    if getattr(parsed, "name", None) != "VCALENDAR":
        calendar = icalendar.Calendar()
        calendar.add_component(parsed)
    items = [c for c in calendar.subcomponents if getattr(c, "name", None) in KINDS]
    if not items:
        raise ICalendarError(f"resource {source_id!r}: no VEVENT, VTODO or VJOURNAL")
    raw: dict[int, list[str]] = {}
    for number, _, name, value in scan(data):
        if name == "RRULE":
            raw.setdefault(number, []).append(value)
    numbered = list(enumerate(items))
    kind, uid = items[0].name, _first_text(items[0], "UID")
    mine = [(n, c) for n, c in numbered if c.name == kind and _first_text(c, "UID") == uid]
    if len(mine) < len(items):
        warn.append(f"resource {source_id!r}: {len(items) - len(mine)} component(s) of another kind or UID ignored")
    label = f"{kind} {uid!r}" if uid else f"{kind} in {source_id!r}"
    reader = _Reader(ObjectZones(calendar, _first_text(calendar, "X-WR-TIMEZONE"), warn, label), warn, label, source_id)
    try:
        if kind == "VEVENT":
            return reader.event_resource(mine, raw), warn
        number, component = next(((n, c) for n, c in mine if c.get("RECURRENCE-ID") is None), mine[0])
        if len(mine) > 1:
            warn.append(f"{label}: {len(mine) - 1} overridden occurrence(s) ignored")
        if kind == "VTODO":
            return reader.task(component, raw.get(number, [])), warn
        return reader.note(component), warn
    except ICalendarError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as e:
        # a value the model refuses, or data shaped in a way no client writes
        raise ICalendarError(f"{label}: cannot be read ({type(e).__name__}: {str(e)[:200]})") from None


class _Reader:
    def __init__(self, times: ObjectZones, warn: list[str], label: str, source_id: str) -> None:
        self.times, self.warn, self.label, self.source_id = times, warn, label, source_id

    # -- events --

    def event_resource(self, numbered: list[tuple[int, Any]], raw: dict[int, list[str]]) -> Event:
        masters = [(n, c) for n, c in numbered if c.get("RECURRENCE-ID") is None]
        overrides = [c for _, c in numbered if c.get("RECURRENCE-ID") is not None]
        if not masters:
            if len(overrides) > 1:
                self.warn.append(f"{self.label}: {len(overrides)} occurrences without their series; only the first is kept")
            return self.event(overrides[0], [], None)
        if len(masters) > 1:
            self.warn.append(f"{self.label}: {len(masters)} VEVENTs without RECURRENCE-ID; only the first is kept")
        number, component = masters[0]
        master = self.event(component, raw.get(number, []), None)
        if overrides and master.recurrence is None and not master.recurrence_dates:
            self.warn.append(f"{self.label}: overridden occurrences of an event that does not recur")
        exceptions = []
        for override in overrides:
            try:
                exception = self.event(override, [], master)
            except ICalendarError as e:
                self.warn.append(f"{e}; that occurrence is left out")
                continue
            if exception.recurrence_id is None:
                self.warn.append(f"{self.label}: an occurrence whose RECURRENCE-ID cannot be read is left out")
                continue
            exceptions.append(exception)
        return master if not exceptions else attrs.evolve(master, exceptions=tuple(exceptions))

    def _day_zone(self, component: Any, master: Event | None) -> Zone:
        name = _first_text(component, X + "TIMEZONE")
        resolved = zone_name(name) if name else None
        found = zone(resolved) if resolved else None
        if resolved and found is not None:
            return found, resolved
        if master is not None and master.timezone and zone(master.timezone) is not None:
            return zone(master.timezone) or UTC, master.timezone
        return self.times.floating

    def event(self, component: Any, raw_rules: list[str], master: Event | None) -> Event:
        times, label = self.times, self.label
        placed = times.moment(component.get("DTSTART"), times.floating)
        if placed is None and component.get("RECURRENCE-ID") is not None:
            placed = times.moment(component.get("RECURRENCE-ID"), times.floating)
        if placed is None:
            raise ICalendarError(f"{label}: no readable DTSTART")
        start, name = placed
        all_day = not isinstance(start, dt.datetime)
        if isinstance(start, dt.datetime):
            own: Zone = (start.tzinfo or UTC, name)
        else:
            own = self._day_zone(component, master)
            name = own[1]
        end = self._end(component, start, own)
        return Event(
            subject=_first_text(component, "SUMMARY"),
            start=start,
            end=end,
            timezone=name,
            is_all_day=all_day,
            **self._body(component),
            location=_first_text(component, "LOCATION"),
            organizer=next((_address(p) for p in _all(component, "ORGANIZER")), None) or None,
            attendees=self._attendees(component),
            recurrence=_rrule(component, raw_rules, label, self.warn) if master is None else None,
            deleted_occurrences=tuple(
                self._occurrence(v, start, own) for v in times.values("EXDATE", _all(component, "EXDATE"), own)
            ) if master is None else (),
            recurrence_dates=tuple(
                self._extra(v, start, own) for v in times.values("RDATE", _all(component, "RDATE"), own)
            ) if master is None else (),
            recurrence_id=self._recurrence_id(component, master, start, own),
            uid=_first_text(component, "UID"),
            **self._event_reminder(component, start, end, own),
            show_as=self._show_as(component),
            sensitivity=self._sensitivity(component),
            categories=_categories(component),
            attachments=self._attachments(component),
            importance=_importance(component),
            online_meeting_url=self._online(component),
            meeting_workspace_url=_first_text(component, X + "WORKSPACE-URL"),
            source_id=self.source_id,
        )

    def _end(self, component: Any, start: dt.datetime | dt.date, own: Zone) -> dt.datetime | dt.date:
        placed = self.times.moment(component.get("DTEND"), own)
        if component.get("DTEND") is not None and placed is None:
            self.warn.append(f"{self.label}: DTEND cannot be read; the iCalendar default is used")
        duration = _value(component.get("DURATION")) if placed is None and component.get("DURATION") is not None else None
        if isinstance(start, dt.datetime):
            end: Any = start
            if placed is not None:
                value = placed[0]
                end = value.astimezone(start.tzinfo) if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time(), tzinfo=start.tzinfo)
            elif isinstance(duration, dt.timedelta):
                end = self._shifted(lambda: add_duration(start, duration), start)
            if end < start:
                self.warn.append(f"{self.label}: the end is before the start; read as the start")
                end = start
            return end  # type: ignore[no-any-return]
        if placed is not None:
            value = placed[0]
            end = value.astimezone(own[0]).date() if isinstance(value, dt.datetime) else value
        elif isinstance(duration, dt.timedelta):
            end = self._shifted(lambda: start + dt.timedelta(days=max(1, math.ceil(duration / dt.timedelta(days=1)))), start)
        else:
            end = start + dt.timedelta(days=1)
        if end <= start:
            end = start + dt.timedelta(days=1)
        return end  # type: ignore[no-any-return]

    def _shifted(self, compute: Callable[[], Any], default: Any) -> Any:
        """A time plus a duration; ``default`` (with a warning) when it leaves the calendar."""
        try:
            return compute()
        except (OverflowError, ValueError):
            self.warn.append(f"{self.label}: a DURATION or TRIGGER leads out of the calendar; ignored")
            return default

    def _occurrence(self, value: dt.datetime | dt.date, start: dt.datetime | dt.date, own: Zone) -> dt.datetime:
        """An occurrence's original start as an aware datetime in the event's zone (a DATE at the
        series' time of day, or at midnight for an all-day series)."""
        if isinstance(value, dt.datetime):
            return value.astimezone(own[0])
        if isinstance(start, dt.datetime):
            local = start.astimezone(own[0])
            return dt.datetime.combine(value, local.time(), tzinfo=own[0])
        return dt.datetime.combine(value, dt.time(), tzinfo=own[0])

    def _extra(self, value: dt.datetime | dt.date, start: dt.datetime | dt.date, own: Zone) -> dt.datetime | dt.date:
        if isinstance(start, dt.datetime):
            return self._occurrence(value, start, own)
        return value.astimezone(own[0]).date() if isinstance(value, dt.datetime) else value

    def _recurrence_id(self, component: Any, master: Event | None, start: Any, own: Zone) -> dt.datetime | None:
        prop = component.get("RECURRENCE-ID")
        if prop is None:
            return None
        if _param(prop, "RANGE"):
            self.warn.append(f"{self.label}: RECURRENCE-ID RANGE ignored; read as one occurrence")
        series = own if master is None or master.start is None else self._master_zone(master)
        placed = self.times.moment(prop, series)
        if placed is None:
            self.warn.append(f"{self.label}: RECURRENCE-ID cannot be read")
            return None
        base = master.start if master is not None and master.start is not None else start
        return self._occurrence(placed[0], base, series)

    @staticmethod
    def _master_zone(master: Event) -> Zone:
        if isinstance(master.start, dt.datetime):
            return master.start.tzinfo or UTC, master.timezone
        found = zone(master.timezone) if master.timezone else None
        return (found, master.timezone) if found is not None else (UTC, None)

    def _body(self, component: Any) -> dict[str, Any]:
        for prop in _all(component, "X-ALT-DESC"):
            if (_param(prop, "FMTTYPE") or "").lower().startswith("text/html"):
                return {"body": _text(prop), "body_is_html": True}
        return {"body": _first_text(component, "DESCRIPTION"), "body_is_html": False}

    def _attendees(self, component: Any) -> tuple[Attendee, ...]:
        found = []
        for prop in _all(component, "ATTENDEE"):
            address = _address(prop)
            if not address:
                continue
            cutype, role = (_param(prop, "CUTYPE") or "").upper(), (_param(prop, "ROLE") or "").upper()
            partstat = (_param(prop, "PARTSTAT") or "").upper()
            mark = (_param(prop, X + "RESPONSE") or "").upper()
            response = _READ_PARTSTAT.get(partstat, Response.UNKNOWN) if partstat else None
            for member, word in RESPONSE_MARKS.items():
                if mark == word and partstat == PARTSTAT[member]:
                    response = member
            if role == "CHAIR" and partstat in ("", "ACCEPTED"):
                response = Response.ORGANIZER  # how clients list the organizer among the attendees
            found.append(Attendee(
                address=address,
                name=_param(prop, "CN") or None,
                role="resource" if cutype in ("ROOM", "RESOURCE") else "optional" if role in ("OPT-PARTICIPANT", "NON-PARTICIPANT") else "required",
                response=response,
            ))  # fmt: skip
        return tuple(found)

    def _alarm(self, component: Any) -> Any:
        for alarm in component.subcomponents:
            if getattr(alarm, "name", None) == "VALARM" and (_first_text(alarm, "ACTION") or "DISPLAY").upper() != "NONE":
                return alarm
        return None

    def _event_reminder(self, component: Any, start: Any, end: Any, own: Zone) -> dict[str, Any]:
        alarm = self._alarm(component)
        begin = start if isinstance(start, dt.datetime) else dt.datetime.combine(start, dt.time(), tzinfo=own[0])
        if alarm is not None and alarm.get("TRIGGER") is not None:
            trigger = _value(alarm["TRIGGER"])
            lead: dt.timedelta | None = None
            if isinstance(trigger, dt.timedelta):
                related_end = (_param(alarm["TRIGGER"], "RELATED") or "").upper() == "END"
                finish = end if isinstance(end, dt.datetime) else dt.datetime.combine(end, dt.time(), tzinfo=own[0])
                lead = -trigger - ((finish - begin) if related_end else dt.timedelta(0))
            elif isinstance(trigger, dt.datetime):
                lead = begin - (_utc(trigger) or begin)
            if lead is not None:
                if lead < dt.timedelta(0):
                    self.warn.append(f"{self.label}: reminder after the start; read as at the start")
                return {"reminder_minutes": max(0, round(lead.total_seconds() / 60)), "reminder_is_set": True}
            self.warn.append(f"{self.label}: VALARM TRIGGER cannot be read; reminder dropped")
        off = _first_text(component, X + "DISABLED-ALARM")
        if alarm is None and off:
            try:
                duration = _DURATION.from_ical(off.strip())
                return {"reminder_minutes": max(0, round(-duration.total_seconds() / 60)), "reminder_is_set": False}
            except ValueError:
                self.warn.append(f"{self.label}: {X}DISABLED-ALARM cannot be read")
        return {"reminder_minutes": None, "reminder_is_set": False}

    @staticmethod
    def _show_as(component: Any) -> ShowAs:
        transp = (_first_text(component, "TRANSP") or "").strip().upper()
        opaque = transp != "TRANSPARENT"
        if not opaque and not component.get("X-MICROSOFT-CDO-BUSYSTATUS") and (_first_text(component, X + "SHOW-AS") or "").upper() == "UNKNOWN":
            return ShowAs.UNKNOWN
        for name in ("X-MICROSOFT-CDO-BUSYSTATUS", "X-MICROSOFT-CDO-INTENDEDSTATUS"):
            word = (_first_text(component, name) or "").strip().upper()
            found = {v: k for k, v in BUSY_STATUS.items()}.get(word)
            if found is not None and (not transp or (found != ShowAs.FREE) == opaque):
                return found
        return ShowAs.BUSY if opaque else ShowAs.FREE

    @staticmethod
    def _sensitivity(component: Any) -> Sensitivity:
        word = (_first_text(component, "CLASS") or "PUBLIC").strip().upper()
        if word == "PUBLIC":
            return Sensitivity.NORMAL
        if word == "CONFIDENTIAL":
            return Sensitivity.CONFIDENTIAL
        if word == "X-PERSONAL" or (word == "PRIVATE" and (_first_text(component, X + "SENSITIVITY") or "").upper() == "PERSONAL"):
            return Sensitivity.PERSONAL
        return Sensitivity.PRIVATE

    def _attachments(self, component: Any) -> tuple[Attachment, ...]:
        found = []
        for prop in _all(component, "ATTACH"):
            binary = (_param(prop, "VALUE") or "").upper() == "BINARY" or (_param(prop, "ENCODING") or "").upper() == "BASE64"
            if not binary:
                self.warn.append(f"{self.label}: ATTACH by reference ({str(prop)[:80]}) not copied")
                continue
            content = getattr(prop, "bytes", None)
            if not isinstance(content, bytes):
                try:
                    content = base64.b64decode(str(prop) if isinstance(prop, str) else prop.to_ical(), validate=False)
                except ValueError:
                    self.warn.append(f"{self.label}: ATTACH with bad base64 skipped")
                    continue
            name = next((n for n in (_param(prop, p) for p in FILENAME_PARAMETERS) if n), "attachment")
            found.append(Attachment(
                name=name,
                content=content,
                content_type=_param(prop, "FMTTYPE") or "application/octet-stream",
                is_inline=(_param(prop, X + "INLINE") or "").upper() == "TRUE",
                content_id=_param(prop, X + "CONTENT-ID"),
            ))  # fmt: skip
        return tuple(found)

    @staticmethod
    def _online(component: Any) -> str | None:
        for prop in _all(component, "CONFERENCE"):
            text = (str(prop) if isinstance(prop, str) else _text(prop) or "").strip()
            if text:
                exact = (_first_text(component, X + "ONLINE-MEETING-URL") or "").strip()
                return exact if exact and conference_uri(exact) == text else text
        for name in ONLINE_MEETING_PROPERTIES:
            text = (_first_text(component, name) or "").strip()
            if text:
                return text
        return None

    # -- tasks and notes --

    def _date(self, component: Any, name: str) -> dt.date | None:
        placed = self.times.moment(component.get(name), (UTC, None))
        if component.get(name) is not None and placed is None:
            self.warn.append(f"{self.label}: {name} cannot be read")
        if placed is None:
            return None
        return placed[0].date() if isinstance(placed[0], dt.datetime) else placed[0]

    def task(self, component: Any, raw_rules: list[str]) -> Task:
        start, due = self._date(component, "DTSTART"), self._date(component, "DUE")
        duration = _value(component.get("DURATION")) if component.get("DURATION") is not None else None
        if due is None and start is not None and isinstance(duration, dt.timedelta):
            due = self._shifted(lambda: start + dt.timedelta(days=duration.days), None)
        status_word = (_first_text(component, "STATUS") or "").strip().upper()
        completed = _utc(_value(component.get("COMPLETED"))) if component.get("COMPLETED") is not None else None
        status = _READ_STATUS.get(status_word, TaskStatus.COMPLETED if completed and not status_word else TaskStatus.NOT_STARTED)
        mark = (_first_text(component, X + "TASK-STATUS") or "").strip().lower()
        for member in (TaskStatus.WAITING, TaskStatus.DEFERRED):
            if mark == member.value and status_word == TASK_STATUS[member]:
                status = member
        percent = _int(_first_text(component, "PERCENT-COMPLETE"))
        if percent is None:
            percent = 100 if status == TaskStatus.COMPLETED else 0
        body = _first_text(component, "DESCRIPTION")
        if body is None:
            html = self._body(component)
            body = html_to_text(html["body"]) if html["body_is_html"] and html["body"] else None
        return Task(
            subject=_first_text(component, "SUMMARY"),
            body=body,
            start=start,
            due=due,
            completed=completed,
            status=status,
            percent_complete=max(0, min(100, percent)),
            importance=_importance(component),
            recurrence=_rrule(component, raw_rules, self.label, self.warn),
            categories=_categories(component),
            **self._task_reminder(component),
            owner=_first_text(component, X + "OWNER"),
            total_work=self._count(component, "TOTAL-WORK"),
            actual_work=self._count(component, "ACTUAL-WORK"),
            mileage=_first_text(component, X + "MILEAGE"),
            billing_information=_first_text(component, X + "BILLING-INFORMATION"),
            companies=tuple(t for t in (_text(p) for p in _all(component, X + "COMPANY")) if t),
            source_id=self.source_id,
        )

    def _count(self, component: Any, name: str) -> int | None:
        """A whole number >= 0 in an X-GROUPMIGRATE- property; None (with a warning) for another value."""
        text = _first_text(component, X + name)
        value = _int(text) if text is not None else None
        if text is not None and (value is None or value < 0):
            self.warn.append(f"{self.label}: {X}{name} {text[:20]!r} is not a whole number; ignored")
            return None
        return value

    def _task_reminder(self, component: Any) -> dict[str, Any]:
        alarm = self._alarm(component)
        if alarm is not None and alarm.get("TRIGGER") is not None:
            trigger = _value(alarm["TRIGGER"])
            if isinstance(trigger, dt.timedelta):
                related = "DUE" if (_param(alarm["TRIGGER"], "RELATED") or "").upper() == "END" else "DTSTART"
                base = self.times.moment(component.get(related), (UTC, None))
                if base is not None:
                    moment = base[0] if isinstance(base[0], dt.datetime) else dt.datetime.combine(base[0], dt.time(), tzinfo=UTC)
                    trigger = self._shifted(lambda: moment + trigger, None)
            at = _utc(trigger) if isinstance(trigger, dt.datetime) else None
            if at is not None:
                return {"reminder_at": at, "reminder_is_set": True}
            self.warn.append(f"{self.label}: VALARM TRIGGER cannot be read; reminder dropped")
        off = _first_text(component, X + "DISABLED-ALARM")
        if alarm is None and off:
            try:
                return {"reminder_at": _utc(_DATETIME.from_ical(off.strip())), "reminder_is_set": False}
            except ValueError:
                self.warn.append(f"{self.label}: {X}DISABLED-ALARM cannot be read")
        return {"reminder_at": None, "reminder_is_set": False}

    def note(self, component: Any) -> Note:
        created = _utc(_value(component.get("CREATED"))) if component.get("CREATED") is not None else None
        if created is None and component.get("DTSTART") is not None:
            placed = self.times.moment(component.get("DTSTART"), (UTC, None))
            created = _utc(placed[0]) if placed is not None else None
        color = (_first_text(component, "COLOR") or "").strip().lower()
        descriptions = [t for t in (_text(p) for p in _all(component, "DESCRIPTION")) if t is not None]
        return Note(
            subject=_first_text(component, "SUMMARY"),
            body="\n\n".join(descriptions) if descriptions else None,
            color=NoteColor(color) if color in {c.value for c in NoteColor} else None,
            categories=_categories(component),
            created=created,
            modified=_utc(_value(component.get("LAST-MODIFIED"))) if component.get("LAST-MODIFIED") is not None else None,
            width=self._count(component, "NOTE-WIDTH"),
            height=self._count(component, "NOTE-HEIGHT"),
            source_id=self.source_id,
        )
