"""iCalendar (RFC 5545) <-> :class:`~groupmigrate.items.Event`, :class:`~groupmigrate.items.Task`
and :class:`~groupmigrate.items.Note`, one calendar object resource (RFC 4791) at a time.

A resource holds one VCALENDAR (VERSION 2.0, PRODID ``-//groupmigrate//groupmigrate//EN``)
with a VEVENT series (the master and each modified occurrence as a RECURRENCE-ID override
with the same UID), a VTODO or a VJOURNAL, and the VTIMEZONE of every TZID it uses. Written
data parses with icalendar and with vobject (which strict servers such as Radicale use).

Model field <-> iCalendar property (``X-`` names without the prefix are ``X-GROUPMIGRATE-*``):

==========================  =================================================================
Event field                 iCalendar
==========================  =================================================================
subject / location          SUMMARY / LOCATION
body (text)                 DESCRIPTION
body (HTML)                 ``X-ALT-DESC;FMTTYPE=text/html`` and its text in DESCRIPTION;
                            reading prefers X-ALT-DESC (a text/html one)
start, end, timezone        DTSTART / DTEND with ``TZID=<IANA name>`` and its VTIMEZONE (from
                            zoneinfo; yearly rules as open RRULEs); UTC as ``...Z``. No DTEND
                            when end is None or equals start. Read: TZID IANA, Windows
                            (``W. Europe Standard Time``), ``/vendor/.../Europe/Berlin`` or a
                            custom TZID with its VTIMEZONE (times right; timezone = an IANA
                            zone with the same offsets, else None and UTC instants); DURATION
                            (days on the wall clock, the rest exact); no DTEND = start
                            (all-day: one day); floating = the calendar's X-WR-TIMEZONE, else
                            UTC. The end is read in the start's zone (an own DTEND zone is lost)
is_all_day                  DTSTART/DTEND ``VALUE=DATE``, DTEND exclusive (as the model);
                            the zone name in ``TIMEZONE`` (all-day times have none; read: it,
                            else the calendar's X-WR-TIMEZONE, else None)
recurrence                  RRULE, the model's text as is; X- parts (``X-REGENERATE=1``), which
                            servers refuse, are left out of RRULE and the whole rule kept in
                            ``RRULE`` (used while RRULE is unchanged)
deleted_occurrences         EXDATE (series' zone or VALUE=DATE); read as datetimes in the
                            event's zone (a DATE at the series' time of day / midnight)
recurrence_dates            RDATE (a PERIOD is read as its start)
exceptions, recurrence_id   overrides: VEVENTs with RECURRENCE-ID (the master's zone/type),
                            each with all its own fields. An override without master (an
                            orphan instance) is read as one Event with recurrence_id
uid                         UID; written: the ``uid`` argument; read: the UID as found
organizer                   ORGANIZER ``mailto:`` (``"Name <a@b>"`` gives CN); read: address
attendees                   ATTENDEE ``mailto:``, CN, ROLE=REQ-/OPT-PARTICIPANT; resource:
                            CUTYPE=RESOURCE;ROLE=NON-PARTICIPANT (read: CUTYPE ROOM or
                            RESOURCE). Response <-> PARTSTAT ACCEPTED / DECLINED / TENTATIVE /
                            NEEDS-ACTION (none); organizer: ACCEPTED, unknown: NEEDS-ACTION,
                            each with ``RESPONSE=ORGANIZER|UNKNOWN``; no PARTSTAT = None;
                            DELEGATED read as unknown, ROLE=CHAIR (accepted) as organizer.
                            SCHEDULE-AGENT=CLIENT unless ``invitations``
reminder_minutes / _is_set  VALARM ACTION:DISPLAY, TRIGGER ``-PT<n>M`` (read also RELATED=END
                            and absolute triggers; the first alarm whose ACTION is not NONE).
                            A reminder that is off: no VALARM, ``DISABLED-ALARM:-PT<n>M``
show_as                     TRANSP (free, unknown: TRANSPARENT) + X-MICROSOFT-CDO-BUSYSTATUS
                            FREE/TENTATIVE/BUSY/OOF/WORKINGELSEWHERE; unknown: ``SHOW-AS:UNKNOWN``
sensitivity                 CLASS: normal none (PUBLIC), PRIVATE, CONFIDENTIAL; personal:
                            PRIVATE + ``SENSITIVITY:PERSONAL`` (read also CLASS:X-PERSONAL)
importance                  PRIORITY 1 / 9 + X-MICROSOFT-CDO-IMPORTANCE 2 / 0; normal: none.
                            Read PRIORITY 1-4 high, 5 normal, 6-9 low, else the Microsoft one
categories                  CATEGORIES (all CATEGORIES properties are read)
attachments                 ATTACH;VALUE=BINARY;ENCODING=BASE64;FMTTYPE;FILENAME;X-FILENAME,
                            ``INLINE=TRUE`` and ``CONTENT-ID`` parameters; ATTACH by URI is not
                            read (warning)
online_meeting_url          CONFERENCE;VALUE=URI (RFC 7986), a comma as %2C (vobject cuts an
                            unknown property at a bare comma) and then the exact URL in
                            ``ONLINE-MEETING-URL``; read also
                            X-MICROSOFT-SKYPETEAMSMEETINGURL, X-MICROSOFT-ONLINEMEETINGEXTERNALLINK,
                            X-GOOGLE-CONFERENCE
meeting_workspace_url       ``WORKSPACE-URL``
==========================  =================================================================

==========================  =================================================================
Task field                  iCalendar (VTODO)
==========================  =================================================================
subject / body              SUMMARY / DESCRIPTION
start / due                 DTSTART / DUE ``VALUE=DATE``; a date-time is read as its date in its
                            own zone (floating: as written)
completed                   COMPLETED in UTC (a date: midnight UTC)
status                      STATUS NEEDS-ACTION / IN-PROCESS / COMPLETED; waiting: IN-PROCESS,
                            deferred: NEEDS-ACTION, each with ``TASK-STATUS:waiting|deferred``;
                            CANCELLED is read as deferred; no STATUS with COMPLETED: completed
percent_complete            PERCENT-COMPLETE (always written; absent: 100 if completed, else 0)
importance                  PRIORITY 1 / 5 / 9 (+ X-MICROSOFT-CDO-IMPORTANCE when not normal)
recurrence, categories      RRULE (as for events), CATEGORIES
reminder_at / _is_set       VALARM TRIGGER;VALUE=DATE-TIME (UTC); a relative trigger is read
                            against DTSTART (RELATED=END: DUE); off: ``DISABLED-ALARM:<UTC>``
Outlook-only fields         owner ``OWNER``, mileage ``MILEAGE``, billing_information
                            ``BILLING-INFORMATION``, companies one ``COMPANY`` each,
                            total_work / actual_work ``TOTAL-WORK`` / ``ACTUAL-WORK`` (minutes)
==========================  =================================================================

==========================  =================================================================
Note field                  iCalendar (VJOURNAL)
==========================  =================================================================
subject / body              SUMMARY / DESCRIPTION (several DESCRIPTIONs are joined)
categories                  CATEGORIES
created / modified          CREATED / LAST-MODIFIED (UTC); DTSTART = created, so clients show
                            it (read: created falls back to DTSTART)
color                       COLOR (RFC 7986) blue / green / pink / yellow / white (CSS names);
                            another colour is read as None
width / height              ``NOTE-WIDTH`` / ``NOTE-HEIGHT`` (pixels)
==========================  =================================================================

Every component also gets UID, DTSTAMP (now) and, with ``stamp``,
``X-GROUPMIGRATE-PROVENANCE``. What is lost: line ends come back as LF (iCalendar text has
no CR); a timed event's end keeps only the start's zone; an all-day or date value given as
a datetime is written as its date; a task's completed date comes back as midnight UTC; a
custom VTIMEZONE that matches no IANA zone leaves UTC instants and no timezone. The X-
markers (RESPONSE, SHOW-AS, SENSITIVITY, TASK-STATUS, DISABLED-ALARM, RRULE) are honoured
only while the standard property still says what was written with them, so a client that
changed the standard value but kept the marker is believed.

Reading foreign data: unknown properties are ignored; a value that cannot be read is
skipped with a warning (:func:`ical_to_item_with_warnings`); :class:`ICalendarError` only
when no item can be made (not iCalendar, no VEVENT/VTODO/VJOURNAL, an event without a
readable DTSTART). A resource with several UIDs or component kinds (which RFC 4791 forbids)
is read as the first UID's components, with a warning naming how many were left out.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Literal

import icalendar
from icalendar.prop import vInline

from groupmigrate.backends.dav.ical_read import (
    BUSY_STATUS, CLASS, KINDS, MS_IMPORTANCE, PARTSTAT, PRIORITY, RESPONSE_MARKS, TASK_STATUS, X, ICalendarError,
    conference_uri, read, scan, server_rrule, unescape,
)  # fmt: skip
from groupmigrate.backends.dav.ical_zones import UTC, Zone, vtimezone, zone, zone_name
from groupmigrate.items import Attendee, Event, Importance, Note, Sensitivity, ShowAs, Task, TaskStatus
from groupmigrate.mime import html_to_text

__all__ = [
    "PRODID",
    "PROVENANCE",
    "ICalendarError",
    "ical_kind",
    "ical_stamp",
    "ical_to_item",
    "ical_to_item_with_warnings",
    "ical_uid",
    "item_to_ical",
]

PRODID = "-//groupmigrate//groupmigrate//EN"
PROVENANCE = "X-GROUPMIGRATE-PROVENANCE"
_ROLES = {"required": "REQ-PARTICIPANT", "optional": "OPT-PARTICIPANT", "resource": "NON-PARTICIPANT"}


# -- the interface -------------------------------------------------------------------------


def item_to_ical(item: Event | Task | Note, *, uid: str, stamp: str | None = None, invitations: bool = False) -> bytes:
    """One VCALENDAR holding ``item`` (an event with its exceptions, a task or a note).

    Args:
        item: what to write.
        uid: the UID of every component (an event's own ``uid`` is not used).
        stamp: written as X-GROUPMIGRATE-PROVENANCE on each component.
        invitations: when False (the default), ORGANIZER and ATTENDEE carry
            ``SCHEDULE-AGENT=CLIENT`` so a server that schedules (RFC 6638) sends no
            invitations or updates for the copy.

    Raises:
        ICalendarError: an empty UID or one with a line break, an event without a start, an
            exception without ``recurrence_id``, a rule with a line break.
    """
    if not uid or "\n" in uid or "\r" in uid:
        raise ICalendarError(f"UID {uid!r}: empty or holds a line break")
    writer = _Writer(uid, stamp, invitations)
    if isinstance(item, Event):
        components = writer.event_series(item)
    elif isinstance(item, Task):
        components = [writer.task(item)]
    elif isinstance(item, Note):
        components = [writer.note(item)]
    else:
        raise ICalendarError(f"UID {uid!r}: {type(item).__name__} is not an event, task or note")
    calendar: Any = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", PRODID)
    for name, since in writer.zones.items():
        calendar.add_component(vtimezone(name, since))
    for component in components:
        calendar.add_component(component)
    return bytes(calendar.to_ical())


def ical_to_item_with_warnings(data: bytes, *, source_id: str) -> tuple[Event | Task | Note, list[str]]:
    """The item one calendar object resource holds, and what could not be read of it.

    Raises:
        ICalendarError: when no item can be made (the message names the resource or UID).
    """
    return read(data, source_id)


def ical_to_item(data: bytes, *, source_id: str) -> Event | Task | Note:
    """The item one calendar object resource holds (see :func:`ical_to_item_with_warnings`)."""
    return read(data, source_id)[0]


def ical_uid(data: bytes) -> str | None:
    """The UID of the first VEVENT / VTODO / VJOURNAL; None when there is none."""
    for _, _, name, value in scan(data):
        if name == "UID":
            return unescape(value).strip() or None
    return None


def ical_stamp(data: bytes) -> str | None:
    """The X-GROUPMIGRATE-PROVENANCE written by :func:`item_to_ical`; None when there is none."""
    for _, _, name, value in scan(data):
        if name == PROVENANCE:
            return unescape(value)
    return None


def ical_kind(data: bytes) -> Literal["calendar", "tasks", "notes"] | None:
    """Which item type the resource holds (by its first VEVENT / VTODO / VJOURNAL)."""
    for _, component, _, _ in scan(data):
        return KINDS[component]
    return None


# -- writing -------------------------------------------------------------------------------


def _named_zone(event: Event) -> Zone | None:
    """The zone the event's times are written in: its timezone, else its start's zone."""
    start_zone = getattr(getattr(event.start, "tzinfo", None), "key", None)
    for candidate in (event.timezone, start_zone):
        name = zone_name(candidate) if candidate else None
        found = zone(name) if name else None
        if name and found is not None:
            return (UTC, "UTC") if name == "UTC" else (found, name)
    return None


def _day(value: dt.date, where: Zone | None) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value.astimezone(where[0]) if where is not None else value).date()
    return value


def _as_moment(value: dt.date, where: Zone, time_of: dt.datetime | None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    local = time_of.astimezone(where[0]).time() if time_of is not None else dt.time()
    return dt.datetime.combine(value, local, tzinfo=where[0])


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ").strip()


class _Writer:
    def __init__(self, uid: str, stamp: str | None, invitations: bool) -> None:
        self.uid, self.stamp, self.invitations = uid, stamp, invitations
        self.zones: dict[str, dt.date] = {}
        self.now = dt.datetime.now(UTC).replace(microsecond=0)

    def _begin(self, component: Any, stamp_time: dt.datetime | None = None) -> Any:
        component.add("UID", self.uid)
        component.add("DTSTAMP", (stamp_time or self.now).astimezone(UTC))
        if self.stamp is not None:
            component.add(PROVENANCE, icalendar.vText(self.stamp))
        return component

    def _times(self, component: Any, name: str, values: list[dt.datetime], where: Zone) -> None:
        """DATE-TIME values in ``where``: with its TZID (and VTIMEZONE), or in UTC."""
        if where[1] is None or where[1] == "UTC":
            local: Any = [v.astimezone(UTC) for v in values]
            params: dict[str, str] = {}
        else:
            local = [v.astimezone(where[0]).replace(tzinfo=None) for v in values]
            params = {"TZID": where[1]}
            first = min(v.astimezone(where[0]).date() for v in values)
            self.zones[where[1]] = min(self.zones.get(where[1], first), first)
        component.add(name, local if name in ("EXDATE", "RDATE") else local[0], parameters=params)

    def _text(self, component: Any, name: str, value: str | None) -> None:
        if value is not None:
            component.add(name, icalendar.vText(value))

    def event_series(self, event: Event) -> list[Any]:
        components = [self.event(event, None)]
        for exception in event.exceptions:
            if exception.recurrence_id is None:
                raise ICalendarError(f"VEVENT {self.uid!r}: an exception without recurrence_id")
            components.append(self.event(exception, event))
        return components

    def event(self, event: Event, series: Event | None) -> Any:
        if event.start is None:
            raise ICalendarError(f"VEVENT {self.uid!r}: no start" + (" (an exception)" if series else ""))
        c = self._begin(icalendar.Event())
        named = _named_zone(event)
        where = named or (UTC, "UTC")
        if event.is_all_day:
            start = _day(event.start, named)
            end = _day(event.end, named) if event.end is not None else start
            c.add("DTSTART", start)
            c.add("DTEND", end if end > start else start + dt.timedelta(days=1))
            if named is not None:
                self._text(c, X + "TIMEZONE", named[1])
        else:
            begin = _as_moment(event.start, where, None)
            self._times(c, "DTSTART", [begin], where)
            if event.end is not None and _as_moment(event.end, where, None) > begin:
                self._times(c, "DTEND", [_as_moment(event.end, where, None)], where)
        self._recurrence(c, event, series, named, where)
        self._text(c, "SUMMARY", event.subject)
        self._text(c, "LOCATION", event.location)
        if event.body is not None:
            self._text(c, "DESCRIPTION", html_to_text(event.body) if event.body_is_html else event.body)
            if event.body_is_html:
                c.add("X-ALT-DESC", icalendar.vText(event.body), parameters={"FMTTYPE": "text/html"})
        self._people(c, event)
        if event.reminder_minutes is not None and event.reminder_is_set:
            self._alarm(c, dt.timedelta(minutes=-event.reminder_minutes), event.subject)
        elif event.reminder_minutes is not None:
            self._text(c, X + "DISABLED-ALARM", f"-PT{event.reminder_minutes}M")
        c.add("TRANSP", "TRANSPARENT" if event.show_as in (ShowAs.FREE, ShowAs.UNKNOWN) else "OPAQUE")
        if event.show_as in BUSY_STATUS:
            c.add("X-MICROSOFT-CDO-BUSYSTATUS", icalendar.vText(BUSY_STATUS[event.show_as]))
        else:
            self._text(c, X + "SHOW-AS", "UNKNOWN")
        self._common(c, event.sensitivity, event.importance, event.categories, task=False)
        for attachment in event.attachments:
            params = {"VALUE": "BINARY", "ENCODING": "BASE64", "FMTTYPE": _one_line(attachment.content_type),
                      "FILENAME": _one_line(attachment.name), "X-FILENAME": _one_line(attachment.name)}  # fmt: skip
            if attachment.is_inline:
                params[X + "INLINE"] = "TRUE"
            if attachment.content_id:
                params[X + "CONTENT-ID"] = _one_line(attachment.content_id)
            c.add("ATTACH", vInline(base64.b64encode(attachment.content).decode("ascii")), parameters=params)
        if event.online_meeting_url:
            url = _one_line(event.online_meeting_url)
            c.add("CONFERENCE", icalendar.vUri(conference_uri(url)), parameters={"VALUE": "URI", "FEATURE": ["AUDIO", "VIDEO"]})
            if conference_uri(url) != url:
                self._text(c, X + "ONLINE-MEETING-URL", url)
        self._text(c, X + "WORKSPACE-URL", event.meeting_workspace_url)
        return c

    def _recurrence(self, c: Any, event: Event, series: Event | None, named: Zone | None, where: Zone) -> None:
        if event.recurrence_id is not None:
            owner = series if series is not None else event
            owner_named = _named_zone(owner)
            if owner.is_all_day:
                c.add("RECURRENCE-ID", _day(event.recurrence_id, owner_named))
            else:
                self._times(c, "RECURRENCE-ID", [event.recurrence_id], owner_named or (UTC, "UTC"))
        if series is not None:
            return
        if event.recurrence:
            self._rule(c, event.recurrence)
        for name, values in (("EXDATE", event.deleted_occurrences), ("RDATE", event.recurrence_dates)):
            if not values:
                continue
            if event.is_all_day:
                c.add(name, [_day(v, named) for v in values])
            else:
                start = event.start if isinstance(event.start, dt.datetime) else None
                self._times(c, name, [_as_moment(v, where, start) for v in values], where)

    def _rule(self, c: Any, rule: str) -> None:
        text = rule.strip()
        if text.upper().startswith("RRULE:"):
            text = text[6:]
        if "\n" in text or "\r" in text:
            raise ICalendarError(f"UID {self.uid!r}: RRULE holds a line break")
        written = server_rrule(text)
        c.add("RRULE", vInline(written))
        if written != text:
            self._text(c, X + "RRULE", text)

    def _address(self, address: str) -> str:
        text = _one_line(address)
        if not text.lower().startswith("mailto:"):
            text = "mailto:" + text
        return text[:7] + text[7:].replace("%", "%25").replace(" ", "%20")

    def _people(self, c: Any, event: Event) -> None:
        agent = {} if self.invitations else {"SCHEDULE-AGENT": "CLIENT"}
        if event.organizer:
            text = event.organizer.strip()
            name, address = "", text
            if text.endswith(">") and "<" in text:
                name, address = text[:-1].rsplit("<", 1)
                name = name.strip().strip('"').strip()
            params = {"CN": _one_line(name)} if name else {}
            c.add("ORGANIZER", icalendar.vCalAddress(self._address(address)), parameters={**params, **agent})
        for attendee in event.attendees:
            c.add("ATTENDEE", icalendar.vCalAddress(self._address(attendee.address)), parameters={**self._attendee(attendee), **agent})

    @staticmethod
    def _attendee(attendee: Attendee) -> dict[str, str]:
        params = {"ROLE": _ROLES[attendee.role]}
        if attendee.name:
            params["CN"] = _one_line(attendee.name)
        if attendee.role == "resource":
            params["CUTYPE"] = "RESOURCE"
        if attendee.response is not None:
            params["PARTSTAT"] = PARTSTAT[attendee.response]
            if attendee.response in RESPONSE_MARKS:
                params[X + "RESPONSE"] = RESPONSE_MARKS[attendee.response]
        return params

    def _alarm(self, c: Any, trigger: dt.timedelta | dt.datetime, subject: str | None) -> None:
        alarm: Any = icalendar.Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", subject or "Reminder")
        if isinstance(trigger, dt.datetime):
            alarm.add("TRIGGER", trigger.astimezone(UTC), parameters={"VALUE": "DATE-TIME"})
        else:
            alarm.add("TRIGGER", trigger)
        c.add_component(alarm)

    def _common(self, c: Any, sensitivity: Sensitivity, importance: Importance, categories: tuple[str, ...], *, task: bool) -> None:
        if sensitivity in CLASS:
            c.add("CLASS", CLASS[sensitivity])
            if sensitivity == Sensitivity.PERSONAL:
                self._text(c, X + "SENSITIVITY", "PERSONAL")
        if task or importance != Importance.NORMAL:
            c.add("PRIORITY", PRIORITY[importance])
        if importance != Importance.NORMAL:
            c.add("X-MICROSOFT-CDO-IMPORTANCE", icalendar.vText(MS_IMPORTANCE[importance]))
        names = [n for n in categories if n and n.strip()]
        if names:
            c.add("CATEGORIES", names)

    def task(self, task: Task) -> Any:
        c = self._begin(icalendar.Todo())
        self._text(c, "SUMMARY", task.subject)
        self._text(c, "DESCRIPTION", task.body)
        for name, value in (("DTSTART", task.start), ("DUE", task.due)):
            if value is not None:
                c.add(name, value.date() if isinstance(value, dt.datetime) else value)
        if task.completed is not None:
            completed = task.completed
            if not isinstance(completed, dt.datetime):
                completed = dt.datetime.combine(completed, dt.time(), tzinfo=UTC)
            c.add("COMPLETED", completed.astimezone(UTC))
        c.add("STATUS", TASK_STATUS[task.status])
        if task.status in (TaskStatus.WAITING, TaskStatus.DEFERRED):
            self._text(c, X + "TASK-STATUS", task.status.value)
        c.add("PERCENT-COMPLETE", task.percent_complete)
        self._common(c, Sensitivity.NORMAL, task.importance, task.categories, task=True)
        if task.recurrence:
            self._rule(c, task.recurrence)
        if task.reminder_at is not None and task.reminder_is_set:
            self._alarm(c, task.reminder_at, task.subject)
        elif task.reminder_at is not None:
            self._text(c, X + "DISABLED-ALARM", f"{task.reminder_at.astimezone(UTC):%Y%m%dT%H%M%SZ}")
        self._text(c, X + "OWNER", task.owner)
        for name, number in (("TOTAL-WORK", task.total_work), ("ACTUAL-WORK", task.actual_work)):
            if number is not None:
                self._text(c, X + name, str(number))
        self._text(c, X + "MILEAGE", task.mileage)
        self._text(c, X + "BILLING-INFORMATION", task.billing_information)
        for company in task.companies:
            self._text(c, X + "COMPANY", company)
        return c

    def note(self, note: Note) -> Any:
        c = self._begin(icalendar.Journal(), note.modified or note.created)
        self._text(c, "SUMMARY", note.subject)
        self._text(c, "DESCRIPTION", note.body)
        self._common(c, Sensitivity.NORMAL, Importance.NORMAL, note.categories, task=False)
        if note.created is not None:
            c.add("CREATED", note.created.astimezone(UTC))
            c.add("DTSTART", note.created.astimezone(UTC))
        if note.modified is not None:
            c.add("LAST-MODIFIED", note.modified.astimezone(UTC))
        if note.color is not None:
            c.add("COLOR", note.color.value)
        for name, number in (("NOTE-WIDTH", note.width), ("NOTE-HEIGHT", note.height)):
            if number is not None:
                self._text(c, X + name, str(number))
        return c
