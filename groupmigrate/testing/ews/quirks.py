"""Answers as real servers give them where they differ from the documentation (see :class:`~.knobs.Knobs`).

Each behaviour is applied to an item element already rendered for GetItem or FindItem:

* ``long_fractions``: every timestamp, at any depth (an attendee's LastResponseTime, the
  start of a modified or deleted occurrence, a task's dates), carries 20 fraction digits,
  as one real server sends them (``1969-12-31T11:59:00.18446744073709551600Z``). The
  instant is unchanged: the digits past the microsecond are zeros.
* ``attendees_need_all_properties``: a calendar item's RequiredAttendees, OptionalAttendees
  and Resources come back only to a request for every property (BaseShape AllProperties, or
  AdditionalProperties naming most of the item's properties, as exchangelib's own fetch
  does); a GetItem naming a few properties gets the item without its attendees.
* ``original_start_at_midnight``: a modified occurrence's OriginalStart and RecurrenceId (on
  the occurrence and in its master's ModifiedOccurrences) are reported at midnight of the
  occurrence's day in the series' time zone, not at the occurrence's original start.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from lxml import etree

from groupmigrate.testing.ews.render import ItemShape, schema_type_of
from groupmigrate.testing.ews.schema import type_info
from groupmigrate.testing.ews.xmlns import T, local, parse_datetime

__all__ = ["apply_quirks"]

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
#: element names that hold an xs:dateTime in some types and something else in others
_SOMETIMES_TIMESTAMPS = frozenset({"DateTimeCreated", "LastModifiedTime", "StartDate", "EndDate", "Birthday"})
_ATTENDEES = ("RequiredAttendees", "OptionalAttendees", "Resources")


def apply_quirks(el: etree._Element, shape: ItemShape, knobs: Any) -> etree._Element:
    """``el`` (an item element as rendered) as a real server with ``knobs``' behaviours answers it."""
    if getattr(knobs, "attendees_need_all_properties", False) and local(el.tag) == "CalendarItem":
        if not _asks_for_everything(shape):
            for name in _ATTENDEES:
                found = el.find(T(name))
                if found is not None:
                    el.remove(found)
    if getattr(knobs, "original_start_at_midnight", False) and local(el.tag) == "CalendarItem":
        _midnight_original_starts(el)
    if getattr(knobs, "long_fractions", False):
        _long_fractions(el)
    return el


def _asks_for_everything(shape: ItemShape) -> bool:
    if shape.base == "AllProperties":
        return True
    known = set(type_info().order(schema_type_of("CalendarItem")))
    return 2 * len(shape.names & known) >= len(known)


def _midnight(text: str, zone: dt.tzinfo) -> str:
    from groupmigrate.testing.ews.xmlns import fmt_datetime

    try:
        moment = parse_datetime(text)
    except ValueError:
        return text
    local_day = moment.astimezone(zone).date()
    return fmt_datetime(dt.datetime.combine(local_day, dt.time(0), tzinfo=zone))


def _midnight_original_starts(el: etree._Element) -> None:
    from groupmigrate.testing.ews.calendar import _start_tz

    zone = _start_tz(el)
    for name in ("OriginalStart", "RecurrenceId"):
        node = el.find(T(name))
        if node is not None and node.text:
            node.text = _midnight(node.text, zone)
    modified = el.find(T("ModifiedOccurrences"))
    if modified is not None:
        for node in modified.iter(T("OriginalStart")):
            if node.text:
                node.text = _midnight(node.text, zone)


def _long_fractions(el: etree._Element) -> None:
    names = type_info().datetime_names | _SOMETIMES_TIMESTAMPS
    for node in el.iter():
        if not isinstance(node.tag, str) or len(node) or not node.text or local(node.tag) not in names:
            continue
        if not _TIMESTAMP.match(node.text.strip()):
            continue
        try:
            moment = parse_datetime(node.text).astimezone(dt.timezone.utc)
        except ValueError:
            continue
        node.text = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}{'0' * 14}Z"
