"""Calendar items: recurrence, exceptions, time zones and all-day events kept as they are.

Times are never shifted: a datetime given with a fixed UTC offset is re-expressed in the
event's named time zone (the same instant), because a recurring series expanded from a
fixed offset would move by an hour at every daylight-saving change. All-day events keep
dates, taken in the event's own zone (midnight in Berlin is 22:00 UTC the day before).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Event
from groupmigrate.mime import html_to_text
from groupmigrate.core.mappers._base import CHANGED, DROPPED, NOTICE, Change, MapContext, MapResult
from groupmigrate.core.mappers._common import drop_fields, notice_once, unsupported_fields

__all__ = ["map_event"]

#: zone keys that carry no daylight-saving rules, i.e. no better than a fixed offset
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/GMT", "GMT", "Zulu", "Etc/Zulu"})
_ONE_DAY = dt.timedelta(days=1)


def map_event(event: Event, caps: Capabilities, ctx: MapContext) -> MapResult:
    """Map one calendar item (with its exceptions).

    - Recurrence, exceptions and deleted occurrences are kept.
    - Times are kept in the event's time zone (see the module docstring); all-day events
      stay all-day, with dates rather than datetimes.
    - Where ``caps.preserves_organizer`` is False the mailbox owner (``ctx.owner``) becomes
      the organizer; where ``caps.preserves_attendee_status`` is False attendee responses
      are dropped. Each is counted for every item and noticed once per account.
    - Where ``caps.keeps_resource_attendees`` is False resources become required attendees,
      and where ``caps.keeps_occurrence_attachments`` is False files attached to a modified
      occurrence are dropped; each is logged on the item.
    - Fields the route cannot store are dropped and counted.

    Args:
        event: the source calendar item.
        caps: the route's capabilities.
        ctx: the account's mapping context.

    Returns:
        The calendar item to create.
    """
    event, changes = _normalize_times(event)
    if not caps.preserves_organizer:
        event, more = _owner_as_organizer(event, ctx)
        changes += more
    if not caps.preserves_attendee_status:
        event, more = _drop_responses(event, ctx)
        changes += more
    if not caps.keeps_resource_attendees:
        event, more = _resources_as_required(event, ctx)
        changes += more
    if not caps.keeps_occurrence_attachments:
        event, more = _drop_occurrence_attachments(event, ctx)
        changes += more
    if event.body_is_html and "html" not in caps.body_formats:
        event = attrs.evolve(event, body=html_to_text(event.body or ""), body_is_html=False)
        ctx.count(CHANGED, "body", label="HTML bodies stored as text")
        changes.append(Change(CHANGED, "body", "the HTML body was stored as plain text: the destination keeps text only"))
    item, dropped = drop_fields(event, unsupported_fields(event, caps, ctx), ctx)
    return MapResult(item, changes=changes + dropped)


# --- time zones and all-day events -------------------------------------------------------


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A name the tz database does not know (e.g. a Windows zone name) is left for the
        # backend to translate; times are then kept exactly as given.
        return None


def _is_named(tz: dt.tzinfo | None) -> bool:
    return isinstance(tz, ZoneInfo) and tz.key not in _UTC_KEYS


def _own_zone_name(value: dt.datetime | dt.date | None) -> str | None:
    tz = value.tzinfo if isinstance(value, dt.datetime) else None
    if isinstance(tz, ZoneInfo) and tz.key not in _UTC_KEYS:
        return tz.key
    return None


def _localize(value: dt.datetime, zone: ZoneInfo | None) -> dt.datetime:
    if zone is None or _is_named(value.tzinfo):
        return value
    return value.astimezone(zone)


def _normalize_times(event: Event, inherited: str | None = None) -> tuple[Event, list[Change]]:
    own = _own_zone_name(event.start)
    name = event.timezone or inherited or own
    zone = _zone(name)
    updates: dict[str, object] = {}
    changes: list[Change] = []
    if event.timezone is None and own is not None and inherited is None:
        updates["timezone"] = own
    if event.is_all_day or _is_day(event.start):
        changes += _all_day(event, zone, updates)
    else:
        _put(updates, event, "start", _maybe(event.start, zone))
        _put(updates, event, "end", _maybe(event.end, zone))
    if event.recurrence_id is not None:
        _put(updates, event, "recurrence_id", _localize(event.recurrence_id, zone))
    deleted = tuple(_localize(d, zone) for d in event.deleted_occurrences)
    if any(a is not b for a, b in zip(deleted, event.deleted_occurrences)):
        updates["deleted_occurrences"] = deleted
    exceptions = []
    for exception in event.exceptions:
        mapped, more = _normalize_times(exception, name)
        exceptions.append(mapped)
        changes += more
    if any(a is not b for a, b in zip(exceptions, event.exceptions)):
        updates["exceptions"] = tuple(exceptions)
    return (attrs.evolve(event, **updates) if updates else event), changes  # type: ignore[arg-type]


def _is_day(value: dt.datetime | dt.date | None) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _maybe(value: dt.datetime | dt.date | None, zone: ZoneInfo | None) -> dt.datetime | dt.date | None:
    return _localize(value, zone) if isinstance(value, dt.datetime) else value


def _put(updates: dict[str, object], event: Event, name: str, value: object) -> None:
    # Aware datetimes in different zones compare equal, so identity tells a re-expressed
    # value from the original.
    if value is not getattr(event, name):
        updates[name] = value


def _all_day(event: Event, zone: ZoneInfo | None, updates: dict[str, object]) -> list[Change]:
    start, start_lossy = _day(event.start, zone)
    end, end_lossy = _day(event.end, zone)
    if end is not None and end_lossy:
        end += _ONE_DAY  # the end of an all-day event is exclusive: a time past midnight ends the next day
    if start is not None and end is not None and end <= start:
        end = start + _ONE_DAY
    if not event.is_all_day:
        updates["is_all_day"] = True
    _put(updates, event, "start", start)
    _put(updates, event, "end", end)
    if not start_lossy:
        return []
    return [
        Change(
            CHANGED,
            "start",
            f"all-day event {event.subject or '(no subject)'!r} started at {event.start}; kept as the day {start}",
        )
    ]


def _day(value: dt.datetime | dt.date | None, zone: ZoneInfo | None) -> tuple[dt.date | None, bool]:
    """The calendar day of ``value`` in the event's zone, and whether a time of day was lost."""
    if value is None or _is_day(value):
        return value, False
    assert isinstance(value, dt.datetime)
    local = value.astimezone(zone) if zone is not None else value
    return local.date(), local.time() != dt.time(0)


# --- organizer and attendees ---------------------------------------------------------------


def _owner_as_organizer(event: Event, ctx: MapContext) -> tuple[Event, list[Change]]:
    original = event.organizer
    mapped = _with_organizer(event, ctx.owner)
    if not original or original.casefold() == ctx.owner.casefold():
        return mapped, []
    ctx.count(CHANGED, "organizer", label="mailbox owner made organizer")
    notice = Change(
        NOTICE,
        "organizer",
        f"the destination makes the mailbox owner {ctx.owner} the organizer of every appointment; "
        f"other organizers (first: {original}) are not kept",
    )
    return mapped, notice_once(ctx, "organizer", notice)


def _with_organizer(event: Event, owner: str) -> Event:
    exceptions = tuple(_with_organizer(e, owner) if e.organizer else e for e in event.exceptions)
    if event.organizer == owner and exceptions == event.exceptions:
        return event
    return attrs.evolve(event, organizer=owner, exceptions=exceptions)


def _drop_responses(event: Event, ctx: MapContext) -> tuple[Event, list[Change]]:
    dropped = _count_responses(event)
    if not dropped:
        return event, []
    ctx.count(DROPPED, "attendees.response", values=dropped, label="attendee responses dropped")
    notice = Change(
        NOTICE,
        "attendees.response",
        "the destination does not keep attendee responses (accepted, tentative, declined); "
        "they are dropped from every meeting of this account",
        dropped,
    )
    return _without_responses(event), notice_once(ctx, "attendees.response", notice)


def _count_responses(event: Event) -> int:
    own = sum(1 for a in event.attendees if a.response is not None)
    return own + sum(_count_responses(e) for e in event.exceptions)


def _without_responses(event: Event) -> Event:
    attendees = tuple(attrs.evolve(a, response=None) if a.response is not None else a for a in event.attendees)
    exceptions = tuple(_without_responses(e) for e in event.exceptions)
    return attrs.evolve(event, attendees=attendees, exceptions=exceptions)


def _resources_as_required(event: Event, ctx: MapContext) -> tuple[Event, list[Change]]:
    def fold(item: Event) -> Event:
        attendees = tuple(attrs.evolve(a, role="required") if a.role == "resource" else a for a in item.attendees)
        return attrs.evolve(item, attendees=attendees, exceptions=tuple(fold(e) for e in item.exceptions))

    resources = [a.address for a in event.attendees if a.role == "resource"]
    resources += [a.address for e in event.exceptions for a in e.attendees if a.role == "resource"]
    if not resources:
        return event, []
    names = ", ".join(dict.fromkeys(resources))
    ctx.count(CHANGED, "attendees.role", values=len(resources), label="resource attendees made required attendees")
    change = Change(
        CHANGED,
        "attendees.role",
        f"the destination keeps no resource attendees: {names} became required attendee(s)",
        len(resources),
    )
    return fold(event), [change]


def _drop_occurrence_attachments(event: Event, ctx: MapContext) -> tuple[Event, list[Change]]:
    # An occurrence shows its series' files too; only files of its own are lost.
    shared = {a.name for a in event.attachments}
    lost = [(e, a.name) for e in event.exceptions for a in e.attachments if a.name not in shared]
    if not lost:
        return event, []
    ctx.count(DROPPED, "exceptions.attachments", values=len(lost), label="files attached to modified occurrences dropped")
    starts = ", ".join(str(e.recurrence_id or e.start) for e in dict.fromkeys(e for e, _ in lost))
    change = Change(
        DROPPED,
        "exceptions.attachments",
        f"the destination cannot attach files to one occurrence of a series: "
        f"{', '.join(name for _, name in lost)} (occurrence(s) {starts}) not copied",
        len(lost),
    )
    exceptions = tuple(
        attrs.evolve(e, attachments=tuple(a for a in e.attachments if a.name in shared)) if e.attachments else e
        for e in event.exceptions
    )
    return attrs.evolve(event, exceptions=exceptions), [change]
