"""Calendar: exchangelib ``CalendarItem`` <-> :class:`~groupmigrate.items.Event`.

Times are given in the event's own time zone (the IANA name exchangelib maps the server's
Windows zone to: Windows zones are coarser, so ``Europe/Paris`` may come back as
``Europe/Berlin``). All-day events carry dates with an exclusive end, as in iCalendar
(exchangelib's inclusive end is converted both ways). A recurring master carries its
modified occurrences as ``exceptions`` (each with ``recurrence_id``, its original start) and
the original starts of deleted ones.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import attrs
from dateutil import rrule as dateutil_rrule
from exchangelib.ewsdatetime import EWSTimeZone
from exchangelib.properties import Attendee as EWSAttendee
from exchangelib.properties import Mailbox

from groupmigrate.backends.ews.convert.common import (
    attachment_from_ews,
    attachment_to_ews,
    body_from_ews,
    body_to_ews,
    categories,
    ews_categories,
    ews_date,
    ews_datetime_in,
    in_zone,
    plain_date,
    zone_name,
)
from groupmigrate.backends.ews.convert.vocabulary import IMPORTANCE, RESPONSE, SENSITIVITY, SHOW_AS
from groupmigrate.backends.ews.models import CalendarEventItem
from groupmigrate.backends.ews.recurrence import from_rrule, to_rrule
from groupmigrate.items import Attendee, Event, Importance, Sensitivity, ShowAs

__all__ = ["EXCEPTION_FIELDS", "FIELDS", "instance_index", "occurrence_start", "to_ews", "to_neutral"]

FIELDS = (
    "subject", "body", "start", "end", "is_all_day", "location", "organizer", "required_attendees",
    "optional_attendees", "resources", "recurrence", "modified_occurrences", "deleted_occurrences",
    "uid", "reminder_is_set", "reminder_minutes_before_start", "legacy_free_busy_status",
    "sensitivity", "categories", "attachments", "type", "item_class", "_start_timezone",
    "_end_timezone", "importance", "is_meeting", "net_show_url", "meeting_workspace_url",
)  # fmt: skip
EXCEPTION_FIELDS = tuple(f for f in FIELDS if f not in ("recurrence", "modified_occurrences", "deleted_occurrences")) + (
    "original_start",
    "recurrence_id",
)
#: what an occurrence update may change (files cannot be attached to one occurrence this way)
UPDATE_FIELDS = (
    "subject", "body", "start", "end", "location", "legacy_free_busy_status", "categories", "importance",
    "sensitivity", "reminder_is_set", "reminder_minutes_before_start", "required_attendees",
    "optional_attendees", "resources", "net_show_url", "meeting_workspace_url",
)  # fmt: skip

_UTC = zoneinfo.ZoneInfo("UTC")
_ROLES = (("required_attendees", "required"), ("optional_attendees", "optional"), ("resources", "resource"))


def _zone(item: Any) -> tuple[dt.tzinfo, str | None]:
    tz = getattr(item, "_start_timezone", None) or getattr(item, "_meeting_timezone", None)
    name = zone_name(tz)
    if name:
        try:
            return zoneinfo.ZoneInfo(name), name
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return _UTC, name


def _times(item: Any, zone: dt.tzinfo) -> tuple[Any, Any]:
    if item.is_all_day:
        start = plain_date(item.start)
        end = plain_date(item.end)
        # exchangelib gives the last day (inclusive); iCalendar and we use the day after.
        return start, (end + dt.timedelta(days=1)) if end is not None else None
    return in_zone(item.start, zone), in_zone(item.end, zone)


def _attendees(item: Any) -> tuple[Attendee, ...]:
    found = []
    for field, role in _ROLES:
        for att in getattr(item, field, None) or ():
            mailbox = att.mailbox
            if mailbox is None or not (mailbox.email_address or mailbox.name):
                continue
            found.append(
                Attendee(
                    address=mailbox.email_address or mailbox.name,
                    name=mailbox.name,
                    role=role,
                    response=RESPONSE.read(att.response_type),
                )
            )
    return tuple(found)


def to_neutral(
    item: Any,
    item_id: str,
    *,
    attachments: list[Any] | None = None,
    exceptions: list[Any] = (),  # type: ignore[assignment]
) -> Event:
    """A neutral event from an exchangelib calendar item.

    Args:
        item: the master, single item or exception.
        item_id: its id.
        attachments: attachments with content (default: the item's own, usually without content).
        exceptions: the fetched modified occurrences of a recurring master.
    """
    zone, name = _zone(item)
    start, end = _times(item, zone)
    body, is_html = body_from_ews(item.body)
    recurrence = None
    if getattr(item, "recurrence", None) is not None and item.recurrence.pattern is not None:
        recurrence = to_rrule(item.recurrence, tz=zone, all_day=bool(item.is_all_day))
    files = [a for a in (attachment_from_ews(x) for x in (attachments if attachments is not None else item.attachments or ())) if a]
    deleted = tuple(
        in_zone(d.start, zone) for d in getattr(item, "deleted_occurrences", None) or () if d.start is not None
    )
    original = getattr(item, "original_start", None) or getattr(item, "recurrence_id", None)
    organizer = item.organizer.email_address if item.organizer is not None else None
    minutes = item.reminder_minutes_before_start
    reminder_on = bool(item.reminder_is_set)
    modified = [to_neutral(e, e.id) for e in exceptions]
    master = Event(start=start, end=end, timezone=name, is_all_day=bool(item.is_all_day), recurrence=recurrence)
    return Event(
        subject=item.subject,
        start=start,
        end=end,
        timezone=name,
        is_all_day=bool(item.is_all_day),
        body=body,
        body_is_html=is_html,
        location=item.location,
        organizer=organizer,
        attendees=_attendees(item),
        recurrence=recurrence,
        exceptions=tuple(_on_series(master, e) for e in modified),
        deleted_occurrences=tuple(d for d in deleted if d is not None),
        recurrence_id=in_zone(original, zone) if original is not None else None,
        uid=item.uid,
        reminder_minutes=minutes if reminder_on or minutes else None,
        reminder_is_set=reminder_on,
        show_as=SHOW_AS.from_ews(item.legacy_free_busy_status, ShowAs.BUSY),
        sensitivity=SENSITIVITY.from_ews(item.sensitivity, Sensitivity.NORMAL),
        categories=categories(item.categories),
        attachments=tuple(files),
        importance=IMPORTANCE.from_ews(getattr(item, "importance", None), Importance.NORMAL),
        online_meeting_url=getattr(item, "net_show_url", None) or None,
        meeting_workspace_url=getattr(item, "meeting_workspace_url", None) or None,
        source_id=item_id,
    )


def _on_series(master: Event, exception: Event) -> Event:
    """``exception`` with its original start on the series: a server may report it at local
    midnight of the occurrence's day, which is matched by day to the occurrence it means."""
    original = exception.recurrence_id
    if original is None or not master.recurrence:
        return exception
    moment = occurrence_start(master, original)
    if moment is None or moment == original:
        return exception
    return attrs.evolve(exception, recurrence_id=moment)


def _ews_zone(event: Event) -> EWSTimeZone:
    if event.timezone:
        try:
            return EWSTimeZone(event.timezone)
        except Exception:  # noqa: BLE001 - unknown or unmappable names fall back below
            pass
    start = event.start
    if isinstance(start, dt.datetime) and isinstance(start.tzinfo, zoneinfo.ZoneInfo):
        try:
            return EWSTimeZone(start.tzinfo.key)
        except Exception:  # noqa: BLE001
            pass
    return EWSTimeZone("UTC")


def _local_start(event: Event, zone: dt.tzinfo) -> dt.date:
    start = event.start
    if isinstance(start, dt.datetime):
        return start.astimezone(zone).date()
    assert start is not None
    return start


def to_ews(event: Event, *, keep_attendee_status: bool = True, recurring: bool = True) -> tuple[CalendarEventItem, list[str]]:
    """An exchangelib calendar item to create (a master keeps its recurrence; exceptions are separate)."""
    warnings: list[str] = []
    zone = _ews_zone(event)
    pyzone = zoneinfo.ZoneInfo(zone.key)
    if event.timezone and zone.key != event.timezone:
        warnings.append(f"time zone {event.timezone!r} written as {zone.key!r}")
    start: Any
    end: Any
    if event.is_all_day:
        first = plain_date(event.start)
        after = plain_date(event.end) if event.end is not None else None
        start = ews_date(first)
        last = (after - dt.timedelta(days=1)) if after is not None and first is not None and after > first else first
        end = ews_date(last)
    else:
        assert isinstance(event.start, dt.datetime)
        start = ews_datetime_in(event.start, zone)
        end_value = event.end if isinstance(event.end, dt.datetime) else event.start
        end = ews_datetime_in(end_value, zone)
    attendees: dict[str, list[EWSAttendee]] = {"required": [], "optional": [], "resource": []}
    for att in event.attendees:
        kwargs: dict[str, Any] = {"mailbox": Mailbox(email_address=att.address, name=att.name)}
        if keep_attendee_status and att.response is not None:
            kwargs["response_type"] = RESPONSE.to_ews(att.response)
        attendees[att.role].append(EWSAttendee(**kwargs))
    recurrence = None
    if recurring and event.recurrence:
        try:
            recurrence = from_rrule(event.recurrence, _local_start(event, pyzone), tz=pyzone)
        except (ValueError, KeyError) as e:
            warnings.append(f"recurrence {event.recurrence!r} cannot be expressed in EWS ({e}); created as a single event")
    item = CalendarEventItem(
        subject=event.subject,
        body=body_to_ews(event.body, event.body_is_html),
        start=start,
        end=end,
        is_all_day=event.is_all_day,
        location=event.location,
        required_attendees=attendees["required"] or None,
        optional_attendees=attendees["optional"] or None,
        resources=attendees["resource"] or None,
        recurrence=recurrence,
        uid=event.uid if recurring else None,
        reminder_is_set=bool(event.reminder_is_set),
        reminder_minutes_before_start=event.reminder_minutes or 0,
        importance=IMPORTANCE.to_ews(event.importance),
        net_show_url=event.online_meeting_url,
        meeting_workspace_url=event.meeting_workspace_url,
        legacy_free_busy_status=SHOW_AS.to_ews(event.show_as),
        sensitivity=SENSITIVITY.to_ews(event.sensitivity),
        categories=ews_categories(event.categories),
        attachments=[attachment_to_ews(a) for a in event.attachments] or None,
        _start_timezone=zone,
        _end_timezone=zone,
    )
    return item, warnings


def _series(event: Event) -> tuple[Any, dt.tzinfo] | None:
    """The occurrences of ``event``'s series as naive local times, and the series' zone."""
    if not event.recurrence or event.start is None:
        return None
    pyzone = zoneinfo.ZoneInfo(_ews_zone(event).key)
    if isinstance(event.start, dt.datetime):
        first = event.start.astimezone(pyzone).replace(tzinfo=None)
    else:
        first = dt.datetime.combine(event.start, dt.time())
    rule_text = ";".join(p for p in event.recurrence.split(";") if not p.upper().startswith("X-"))
    if "UNTIL=" in rule_text.upper():
        # dateutil insists that a UTC UNTIL goes with an aware start; compare by day instead.
        parts = []
        for p in rule_text.split(";"):
            if p.upper().startswith("UNTIL="):
                p = "UNTIL=" + p.split("=", 1)[1][:8] + "T235959"
            parts.append(p)
        rule_text = ";".join(parts)
    return dateutil_rrule.rrulestr(rule_text, dtstart=first), pyzone


def _find(event: Event, original_start: dt.datetime | dt.date) -> tuple[int, dt.datetime, dt.tzinfo] | None:
    """(1-based index, naive local start, zone) of the occurrence ``original_start`` means.

    The exact instant wins; failing that, the one occurrence on the same day in the series'
    time zone (a server may report an occurrence's original start at local midnight).
    """
    series = _series(event)
    if series is None:
        return None
    rule, pyzone = series
    if isinstance(original_start, dt.datetime):
        target = original_start.astimezone(pyzone).replace(tzinfo=None) if original_start.tzinfo else original_start
    else:
        target = dt.datetime.combine(original_start, dt.time())
    exact = not isinstance(original_start, dt.datetime) or bool(event.is_all_day)
    same_day: list[tuple[int, dt.datetime]] = []
    for index, moment in enumerate(rule, start=1):
        if moment.date() == target.date():
            if exact or moment == target:
                return index, moment, pyzone
            same_day.append((index, moment))
        if moment.date() > target.date() or index > 5000:
            break
    if len(same_day) == 1:
        return same_day[0][0], same_day[0][1], pyzone
    return None


def instance_index(event: Event, original_start: dt.datetime | dt.date) -> int | None:
    """The 1-based index of the occurrence of ``event``'s series that starts at ``original_start``
    (or, when none starts at that instant, the one occurrence on that day in the series' zone)."""
    found = _find(event, original_start)
    return None if found is None else found[0]


def occurrence_start(event: Event, original_start: dt.datetime) -> dt.datetime | None:
    """The start of the occurrence of ``event``'s series that ``original_start`` means (see
    :func:`instance_index`), in the zone of ``original_start``; None when it means none."""
    found = _find(event, original_start)
    if found is None:
        return None
    _, moment, pyzone = found
    return moment.replace(tzinfo=pyzone).astimezone(original_start.tzinfo or dt.timezone.utc)
