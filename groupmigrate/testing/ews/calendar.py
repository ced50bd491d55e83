"""Calendar specifics: recurrence expansion, occurrences, modified and deleted occurrences.

A recurring master is one stored item. Its occurrences are computed from its Recurrence in
the master's start time zone; a modified occurrence (an exception) is kept inside the master,
keyed by its original start, and a deleted one as its original start. Occurrences have
stable ids that encode the master id and the original start.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
from typing import Optional

import attrs
from dateutil import rrule
from lxml import etree

from groupmigrate.testing.ews.context import Context
from groupmigrate.testing.ews.render import set_prop
from groupmigrate.testing.ews.soap import ResponseError
from groupmigrate.testing.ews.store import StoredFolder, StoredItem, Store
from groupmigrate.testing.ews.tz import zone_info
from groupmigrate.testing.ews.xmlns import T, fmt_datetime, parse_datetime, sub

__all__ = [
    "OccurrenceItem",
    "occurrence_from_id",
    "occurrence",
    "master_of",
    "is_occurrence",
    "delete_occurrence",
    "materialize_exception",
    "after_create",
    "after_update",
    "calendar_view",
    "expand",
]

_OCC_PREFIX = b"\x00\x03\x24\x02OCC"
_MAX_INSTANCES = 2000
_HORIZON_YEARS = 10
_WEEKDAYS = {
    "Monday": rrule.MO,
    "Tuesday": rrule.TU,
    "Wednesday": rrule.WE,
    "Thursday": rrule.TH,
    "Friday": rrule.FR,
    "Saturday": rrule.SA,
    "Sunday": rrule.SU,
}
_ALL_DAYS = [rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU]
_INDEX = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}


@attrs.define(eq=False)
class OccurrenceItem(StoredItem):
    """One occurrence (or exception) of a recurring master, built on demand."""

    master_id: str = ""
    original_start: str = ""


def occurrence_id(master_id: str, original_start: str) -> str:
    return base64.b64encode(_OCC_PREFIX + f"{master_id}|{original_start}".encode()).decode("ascii")


def _parse_occurrence_id(value: str) -> Optional[tuple[str, str]]:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_OCC_PREFIX):
        return None
    master_id, _, start = raw[len(_OCC_PREFIX):].decode("utf-8", "replace").partition("|")
    return master_id, start


def is_occurrence(item: StoredItem) -> bool:
    return isinstance(item, OccurrenceItem)


def _start_tz(el: etree._Element) -> dt.tzinfo:
    tz_el = el.find(T("StartTimeZone"))
    if tz_el is None:
        tz_el = el.find(T("MeetingTimeZone"))
        if tz_el is not None and tz_el.get("TimeZoneName"):
            return zone_info(tz_el.get("TimeZoneName"))
    return zone_info(tz_el.get("Id") if tz_el is not None else None)


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text.strip()[:10])


def expand(master: etree._Element, limit_end: Optional[dt.datetime] = None) -> list[dt.datetime]:
    """The original starts (UTC) of all occurrences of a recurring master, in order."""
    rec = master.find(T("Recurrence"))
    start_text = master.findtext(T("Start"))
    if rec is None or not start_text:
        return []
    tz = _start_tz(master)
    first = parse_datetime(start_text).astimezone(tz)
    pattern = next((c for c in rec if isinstance(c.tag, str)), None)
    ranges = [c for c in rec if isinstance(c.tag, str)][1:]
    if pattern is None or not ranges:
        return []
    rng = ranges[0]
    kind = etree.QName(pattern).localname
    interval = int(pattern.findtext(T("Interval")) or "1")
    kwargs: dict[str, object] = {"interval": interval}
    if kind == "DailyRecurrence":
        freq = rrule.DAILY
    elif kind == "WeeklyRecurrence":
        freq = rrule.WEEKLY
        days = (pattern.findtext(T("DaysOfWeek")) or "").split()
        kwargs["byweekday"] = [_WEEKDAYS[d] for d in days if d in _WEEKDAYS] or [first.weekday()]
        kwargs["wkst"] = _WEEKDAYS.get(pattern.findtext(T("FirstDayOfWeek")) or "Monday", rrule.MO)
    elif kind == "AbsoluteMonthlyRecurrence":
        freq = rrule.MONTHLY
        kwargs["bymonthday"] = int(pattern.findtext(T("DayOfMonth")) or first.day)
    elif kind == "RelativeMonthlyRecurrence" or kind == "RelativeYearlyRecurrence":
        freq = rrule.MONTHLY if kind == "RelativeMonthlyRecurrence" else rrule.YEARLY
        day = (pattern.findtext(T("DaysOfWeek")) or "Monday").strip()
        pos = _INDEX.get((pattern.findtext(T("DayOfWeekIndex")) or "First").strip(), 1)
        if day == "Day":
            kwargs["byweekday"] = _ALL_DAYS
        elif day == "Weekday":
            kwargs["byweekday"] = _ALL_DAYS[:5]
        elif day == "WeekendDay":
            kwargs["byweekday"] = _ALL_DAYS[5:]
        else:
            kwargs["byweekday"] = [_WEEKDAYS.get(day, rrule.MO)]
        kwargs["bysetpos"] = pos
        if kind == "RelativeYearlyRecurrence":
            kwargs["bymonth"] = _month(pattern.findtext(T("Month")))
            kwargs["interval"] = 1
    elif kind == "AbsoluteYearlyRecurrence":
        freq = rrule.YEARLY
        kwargs["bymonth"] = _month(pattern.findtext(T("Month")))
        kwargs["bymonthday"] = int(pattern.findtext(T("DayOfMonth")) or first.day)
        kwargs["interval"] = 1
    else:
        return []
    range_kind = etree.QName(rng).localname
    range_start = _date(rng.findtext(T("StartDate")) or first.date().isoformat())
    dtstart = dt.datetime.combine(range_start, first.time().replace(tzinfo=None))
    if range_kind == "NumberedRecurrence":
        kwargs["count"] = min(int(rng.findtext(T("NumberOfOccurrences")) or "1"), _MAX_INSTANCES)
    elif range_kind == "EndDateRecurrence":
        end_date = _date(rng.findtext(T("EndDate")) or range_start.isoformat())
        kwargs["until"] = dt.datetime.combine(end_date, dt.time(23, 59, 59))
    else:
        horizon = dtstart + dt.timedelta(days=366 * _HORIZON_YEARS)
        if limit_end is not None:
            horizon = min(horizon, limit_end.astimezone(tz).replace(tzinfo=None) + dt.timedelta(days=1))
        kwargs["until"] = horizon
    rule = rrule.rrule(freq, dtstart=dtstart, **kwargs)  # type: ignore[arg-type]
    out = []
    for local in rule:
        out.append(local.replace(tzinfo=tz).astimezone(dt.timezone.utc))
        if len(out) >= _MAX_INSTANCES:
            break
    return out


def _month(text: Optional[str]) -> int:
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December"]
    return months.index(text.strip()) + 1 if text and text.strip() in months else 1


def _duration(master: etree._Element) -> dt.timedelta:
    try:
        return parse_datetime(master.findtext(T("End")) or "") - parse_datetime(master.findtext(T("Start")) or "")
    except ValueError:
        return dt.timedelta(0)


def _key(value: dt.datetime) -> str:
    return fmt_datetime(value)


_MASTER_ONLY = ("Recurrence", "ModifiedOccurrences", "DeletedOccurrences", "FirstOccurrence", "LastOccurrence")


def _occurrence_element(master: StoredItem, original: dt.datetime) -> etree._Element:
    key = _key(original)
    if key in master.exceptions:
        return copy.deepcopy(master.exceptions[key])
    el = copy.deepcopy(master.element)
    for name in _MASTER_ONLY:
        set_prop(el, name, None)
    set_prop(el, "Start", fmt_datetime(original))
    set_prop(el, "End", fmt_datetime(original + _duration(master.element)))
    set_prop(el, "CalendarItemType", "Occurrence")
    set_prop(el, "IsRecurring", "true")
    set_prop(el, "RecurrenceId", fmt_datetime(original))
    set_prop(el, "OriginalStart", fmt_datetime(original))
    return el


def _make(master: StoredItem, original: dt.datetime) -> OccurrenceItem:
    return OccurrenceItem(
        item_id=occurrence_id(master.item_id, _key(original)),
        mailbox=master.mailbox,
        folder_id=master.folder_id,
        change_key=master.change_key,
        element=_occurrence_element(master, original),
        attachments=master.attachments,
        created=master.created,
        modified=master.modified,
        seq=master.seq,
        folder_seq=master.folder_seq,
        master_id=master.item_id,
        original_start=_key(original),
    )


def occurrence_from_id(ctx: Context, item_id: str) -> Optional[StoredItem]:
    parsed = _parse_occurrence_id(item_id)
    if parsed is None:
        return None
    master_id, start = parsed
    master = ctx.resolve_item(etree.Element(T("ItemId"), Id=master_id))
    if start in master.deleted_occurrences:
        raise ResponseError("ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                            "Occurrence with this index was previously deleted from the recurrence.")
    try:
        original = parse_datetime(start)
    except ValueError:
        raise ResponseError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    if original not in expand(master.element):
        raise ResponseError("ErrorItemNotFound", "The specified object was not found in the store.")
    return _make(master, original)


def occurrence(ctx: Context, master: StoredItem, index: int) -> StoredItem:
    if master.text("CalendarItemType") != "RecurringMaster":
        raise ResponseError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                            "Occurrence index is out of recurrence range.")
    starts = expand(master.element)
    if index < 1 or index > len(starts):
        raise ResponseError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                            "Occurrence index is out of recurrence range.")
    original = starts[index - 1]
    if _key(original) in master.deleted_occurrences:
        raise ResponseError("ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                            "Occurrence with this index was previously deleted from the recurrence.")
    return _make(master, original)


def master_of(ctx: Context, item: StoredItem) -> StoredItem:
    if isinstance(item, OccurrenceItem):
        return ctx.store.items[item.master_id]
    if item.text("CalendarItemType") == "RecurringMaster":
        return item
    raise ResponseError("ErrorItemNotFound", "The specified object was not found in the store.")


def delete_occurrence(ctx: Context, item: StoredItem) -> None:
    assert isinstance(item, OccurrenceItem)
    master = ctx.store.items[item.master_id]
    master.exceptions.pop(item.original_start, None)
    if item.original_start not in master.deleted_occurrences:
        master.deleted_occurrences.append(item.original_start)
    refresh_master(master)
    ctx.store.touch_item(master)


def materialize_exception(ctx: Context, item: StoredItem) -> StoredItem:
    return item


def after_create(store: Store, item: StoredItem, request: etree._Element) -> None:
    if item.tag == "CalendarItem" and item.text("CalendarItemType") == "RecurringMaster":
        refresh_master(item)


def after_update(ctx: Context, item: StoredItem) -> StoredItem:
    if isinstance(item, OccurrenceItem):
        master = ctx.store.items[item.master_id]
        set_prop(item.element, "CalendarItemType", "Exception")
        set_prop(item.element, "RecurrenceId", item.original_start)
        set_prop(item.element, "OriginalStart", item.original_start)
        master.exceptions[item.original_start] = item.element
        refresh_master(master)
        ctx.store.touch_item(master)
        item.change_key = master.change_key
        return item
    if item.tag == "CalendarItem":
        recurring = item.element.find(T("Recurrence")) is not None
        set_prop(item.element, "CalendarItemType", "RecurringMaster" if recurring else "Single")
        set_prop(item.element, "IsRecurring", "true" if recurring else "false")
        if recurring:
            refresh_master(item)
    ctx.store.touch_item(item)
    return item


def _occ_summary(tag: str, master: StoredItem, original: dt.datetime) -> etree._Element:
    el = etree.Element(T(tag))
    key = _key(original)
    occ_el = master.exceptions.get(key)
    start = original
    end = original + _duration(master.element)
    if occ_el is not None:
        start = parse_datetime(occ_el.findtext(T("Start")) or key)
        end = parse_datetime(occ_el.findtext(T("End")) or key)
    sub(el, T("ItemId"), Id=occurrence_id(master.item_id, key), ChangeKey=master.change_key)
    sub(el, T("Start"), fmt_datetime(start))
    sub(el, T("End"), fmt_datetime(end))
    sub(el, T("OriginalStart"), key)
    return el


def refresh_master(master: StoredItem) -> None:
    """Recompute FirstOccurrence, LastOccurrence, ModifiedOccurrences and DeletedOccurrences."""
    el = master.element
    starts = expand(el)
    deleted = set(master.deleted_occurrences)
    alive = [s for s in starts if _key(s) not in deleted]
    set_prop(el, "FirstOccurrence", _occ_summary("FirstOccurrence", master, alive[0]) if alive else None)
    rng = el.find(T("Recurrence"))
    no_end = rng is not None and rng.find(T("NoEndRecurrence")) is not None
    set_prop(el, "LastOccurrence",
             _occ_summary("LastOccurrence", master, alive[-1]) if alive and not no_end else None)
    if master.exceptions:
        mods = etree.Element(T("ModifiedOccurrences"))
        for key in sorted(master.exceptions):
            mods.append(_occ_summary("Occurrence", master, parse_datetime(key)))
        set_prop(el, "ModifiedOccurrences", mods)
    else:
        set_prop(el, "ModifiedOccurrences", None)
    if master.deleted_occurrences:
        dels = etree.Element(T("DeletedOccurrences"))
        for key in sorted(master.deleted_occurrences):
            d = sub(dels, T("DeletedOccurrence"))
            sub(d, T("Start"), key)
        set_prop(el, "DeletedOccurrences", dels)
    else:
        set_prop(el, "DeletedOccurrences", None)


def calendar_view(ctx: Context, folder: StoredFolder, view: etree._Element) -> list[StoredItem]:
    """Items and occurrences overlapping the view's [StartDate, EndDate), ordered by start."""
    try:
        start = parse_datetime(view.get("StartDate", ""))
        end = parse_datetime(view.get("EndDate", ""))
    except ValueError:
        raise ResponseError("ErrorCalendarInvalidPropertyValue", "The calendar view dates are not valid.") from None
    if end < start:
        raise ResponseError("ErrorInvalidRequest", "The EndDate value must be greater than the StartDate value.")
    rows: list[tuple[dt.datetime, StoredItem]] = []
    for item in ctx.store.items_in(folder.folder_id):
        if item.tag != "CalendarItem":
            continue
        if item.text("CalendarItemType") == "RecurringMaster":
            deleted = set(item.deleted_occurrences)
            for original in expand(item.element, limit_end=end):
                if _key(original) in deleted:
                    continue
                occ = _make(item, original)
                s, e = _span(occ.element)
                if s < end and e > start or (s == e and start <= s < end):
                    rows.append((s, occ))
            continue
        s, e = _span(item.element)
        if s < end and e > start or (s == e and start <= s < end):
            rows.append((s, item))
    rows.sort(key=lambda r: r[0])
    return [r[1] for r in rows]


def _span(el: etree._Element) -> tuple[dt.datetime, dt.datetime]:
    s = parse_datetime(el.findtext(T("Start")) or "1970-01-01T00:00:00Z")
    e = parse_datetime(el.findtext(T("End")) or el.findtext(T("Start")) or "1970-01-01T00:00:00Z")
    return s, e
