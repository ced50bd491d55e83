"""Neutral items (``groupmigrate.items``) to the EWS item XML a client would send in CreateItem.

Used by :meth:`EWSTestServer.seed_item`; values a client may not set (organizer, creation
time, exceptions of a series) are applied afterwards by :func:`apply_server_values`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from lxml import etree

from groupmigrate.testing.ews.store import StoredAttachment, StoredItem, new_id
from groupmigrate.testing.ews.tz import ZONES, zone_info
from groupmigrate.testing.ews.xmlns import T, fmt_bool, fmt_datetime, sub

__all__ = ["to_request", "message_request", "apply_server_values", "rrule_to_recurrence", "NOTE_COLOR_URI", "FLAG_STATUS", "IMPORTANCE"]

_PHONE_KEYS = {
    "mobile": "MobilePhone", "cell": "MobilePhone", "business": "BusinessPhone", "work": "BusinessPhone",
    "home": "HomePhone", "fax": "BusinessFax", "businessfax": "BusinessFax", "homefax": "HomeFax",
    "pager": "Pager", "assistant": "AssistantPhone", "car": "CarPhone", "company": "CompanyMainPhone",
    "other": "OtherTelephone", "main": "PrimaryPhone", "primary": "PrimaryPhone",
    "business2": "BusinessPhone2", "home2": "HomePhone2", "business_fax": "BusinessFax", "home_fax": "HomeFax",
    "other_fax": "OtherFax", "otherfax": "OtherFax", "callback": "Callback", "isdn": "Isdn",
    "radio": "RadioPhone", "telex": "Telex", "tty": "TtyTddPhone",
}  # fmt: skip
_ADDRESS_KEYS = {"home": "Home", "business": "Business", "work": "Business", "other": "Other"}
_DAYS = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday",
         "SU": "Sunday"}
_INDEX = {1: "First", 2: "Second", 3: "Third", 4: "Fourth", -1: "Last"}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
# The neutral item vocabularies (``groupmigrate.items`` enums, keyed by value) in EWS's words.
# The server keeps its own tables rather than the client's: a seeded item and the item a
# client reads back then agree only if both sides translate each value correctly.
_RESPONSES = {None: "Unknown", "unknown": "Unknown", "organizer": "Organizer", "tentative": "Tentative",
              "accepted": "Accept", "declined": "Decline", "none": "NoResponseReceived"}
_SHOW_AS = {"free": "Free", "tentative": "Tentative", "busy": "Busy", "away": "OOF",
            "working_elsewhere": "WorkingElsewhere", "unknown": "NoData"}
_SENSITIVITY = {"normal": "Normal", "personal": "Personal", "private": "Private", "confidential": "Confidential"}
_TASK_STATUS = {"not_started": "NotStarted", "in_progress": "InProgress", "completed": "Completed",
                "waiting": "WaitingOnOthers", "deferred": "Deferred"}
IMPORTANCE = {"low": "Low", "normal": "Normal", "high": "High"}
FLAG_STATUS = {"none": "NotFlagged", "flagged": "Flagged", "complete": "Complete"}
NOTE_COLOR_URI = {"PropertySetId": "0006200E-0000-0000-C000-000000000046", "PropertyId": "35584",
                  "PropertyType": "Integer"}
_NOTE_COLORS = {"blue": "0", "green": "1", "pink": "2", "yellow": "3", "white": "4"}
#: PidLidNoteWidth / PidLidNoteHeight
NOTE_SIZE_URIS = {
    "width": {"PropertySetId": "0006200E-0000-0000-C000-000000000046", "PropertyId": "35586", "PropertyType": "Integer"},
    "height": {"PropertySetId": "0006200E-0000-0000-C000-000000000046", "PropertyId": "35587", "PropertyType": "Integer"},
}
#: the MAPI properties of a message's follow-up flag: PidLidTaskStartDate, PidLidTaskDueDate,
#: PidTagFlagCompleteTime, PidLidFlagRequest
MESSAGE_FLAG_URIS = {
    "flag_start": {"DistinguishedPropertySetId": "Task", "PropertyId": "33028", "PropertyType": "SystemTime"},
    "flag_due": {"DistinguishedPropertySetId": "Task", "PropertyId": "33029", "PropertyType": "SystemTime"},
    "flag_completed": {"PropertyTag": "0x1091", "PropertyType": "SystemTime"},
    "flag_request": {"DistinguishedPropertySetId": "Common", "PropertyId": "34096", "PropertyType": "String"},
}


def _extended(parent: etree._Element, uri: dict[str, str], value: object) -> None:
    if value is None:
        return
    prop = sub(parent, T("ExtendedProperty"))
    sub(prop, T("ExtendedFieldURI"), **uri)
    sub(prop, T("Value"), fmt_datetime(value) if isinstance(value, dt.datetime) else str(value))


def message_request(item: Any) -> etree._Element:
    """The ``t:Message`` a client sends to create a neutral message: its MIME and the properties
    beside it (the flag status is the seeder's to set, as a server sets it on delivery)."""
    import base64

    el = etree.Element(T("Message"))
    sub(el, T("MimeContent"), base64.b64encode(item.mime).decode("ascii"))
    _text(el, "Sensitivity", _SENSITIVITY[getattr(item, "sensitivity", "normal")])
    _categories(el, item.categories)
    _text(el, "Importance", IMPORTANCE[item.importance])
    reminder = getattr(item, "reminder", None)
    if reminder is not None:
        sub(el, T("ReminderDueBy"), fmt_datetime(reminder))
        sub(el, T("ReminderIsSet"), "true")
    for name, uri in MESSAGE_FLAG_URIS.items():
        _extended(el, uri, getattr(item, name, None))
    sub(el, T("IsRead"), fmt_bool(item.is_read))
    return el


def _text(parent: etree._Element, name: str, value: Optional[object]) -> None:
    if value is not None and value != "":
        sub(parent, T(name), str(value))


def _categories(parent: etree._Element, categories: tuple[str, ...]) -> None:
    if categories:
        cats = sub(parent, T("Categories"))
        for c in categories:
            sub(cats, T("String"), c)


def _body(parent: etree._Element, body: Optional[str], html: bool = False) -> None:
    if body is not None:
        sub(parent, T("Body"), body, BodyType="HTML" if html else "Text")


def _ms_zone(iana: Optional[str]) -> str:
    for zone in ZONES.values():
        if zone.iana == iana:
            return zone.ms_id
    return "UTC"


def _utc(value: dt.datetime | dt.date, tz: dt.tzinfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc)
    return dt.datetime.combine(value, dt.time(0, 0), tzinfo=tz).astimezone(dt.timezone.utc)


def _file_attachment(name: str, content: bytes, content_type: str, inline: bool = False,
                     content_id: Optional[str] = None, photo: bool = False, owner: str = "") -> StoredAttachment:
    return StoredAttachment(
        attachment_id=new_id("attachment", owner),
        kind="file",
        name=name,
        content=content,
        content_type=content_type,
        content_id=content_id,
        is_inline=inline,
        is_contact_photo=photo,
    )


def rrule_to_recurrence(rrule: str, start_local: dt.datetime | dt.date, task: bool = False) -> etree._Element:
    """An RFC 5545 RRULE value to an EWS ``t:Recurrence`` element."""
    parts = dict(p.split("=", 1) for p in rrule.upper().replace("RRULE:", "").split(";") if "=" in p)
    freq = parts.get("FREQ", "DAILY")
    interval = parts.get("INTERVAL", "1")
    start_date = start_local.date() if isinstance(start_local, dt.datetime) else start_local
    rec = etree.Element(T("Recurrence"))
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    setpos = parts.get("BYSETPOS")

    def relative(day: str) -> tuple[str, str]:
        sign_num = day[:-2]
        name = _DAYS.get(day[-2:], "Monday")
        pos = int(setpos or sign_num or "1")
        return name, _INDEX.get(pos, "First")

    if freq == "DAILY":
        p = sub(rec, T("DailyRecurrence"))
        sub(p, T("Interval"), interval)
    elif freq == "WEEKLY":
        p = sub(rec, T("WeeklyRecurrence"))
        sub(p, T("Interval"), interval)
        days = [_DAYS[d[-2:]] for d in byday if d[-2:] in _DAYS] or [
            list(_DAYS.values())[start_date.weekday()]
        ]
        sub(p, T("DaysOfWeek"), " ".join(days))
        sub(p, T("FirstDayOfWeek"), _DAYS.get(parts.get("WKST", "MO"), "Monday"))
    elif freq == "MONTHLY":
        if byday:
            name, index = relative(byday[0])
            p = sub(rec, T("RelativeMonthlyRecurrence"))
            sub(p, T("Interval"), interval)
            sub(p, T("DaysOfWeek"), name)
            sub(p, T("DayOfWeekIndex"), index)
        else:
            p = sub(rec, T("AbsoluteMonthlyRecurrence"))
            sub(p, T("Interval"), interval)
            sub(p, T("DayOfMonth"), parts.get("BYMONTHDAY", str(start_date.day)))
    elif freq == "YEARLY":
        month = _MONTHS[int(parts.get("BYMONTH", str(start_date.month))) - 1]
        if byday:
            name, index = relative(byday[0])
            p = sub(rec, T("RelativeYearlyRecurrence"))
            sub(p, T("DaysOfWeek"), name)
            sub(p, T("DayOfWeekIndex"), index)
            sub(p, T("Month"), month)
        else:
            p = sub(rec, T("AbsoluteYearlyRecurrence"))
            sub(p, T("DayOfMonth"), parts.get("BYMONTHDAY", str(start_date.day)))
            sub(p, T("Month"), month)
    else:
        raise ValueError(f"unsupported recurrence frequency {freq!r}")
    if "COUNT" in parts:
        r = sub(rec, T("NumberedRecurrence"))
        sub(r, T("StartDate"), start_date.isoformat())
        sub(r, T("NumberOfOccurrences"), parts["COUNT"])
    elif "UNTIL" in parts:
        until = parts["UNTIL"]
        end = dt.date(int(until[0:4]), int(until[4:6]), int(until[6:8]))
        r = sub(rec, T("EndDateRecurrence"))
        sub(r, T("StartDate"), start_date.isoformat())
        sub(r, T("EndDate"), end.isoformat())
    else:
        r = sub(rec, T("NoEndRecurrence"))
        sub(r, T("StartDate"), start_date.isoformat())
    return rec


def _attendees(parent: etree._Element, attendees: tuple[Any, ...]) -> None:
    groups = {"required": "RequiredAttendees", "optional": "OptionalAttendees", "resource": "Resources"}
    for role, tag in groups.items():
        chosen = [a for a in attendees if a.role == role]
        if not chosen:
            continue
        arr = sub(parent, T(tag))
        for a in chosen:
            att = sub(arr, T("Attendee"))
            box = sub(att, T("Mailbox"))
            _text(box, "Name", a.name)
            sub(box, T("EmailAddress"), a.address)
            sub(box, T("RoutingType"), "SMTP")
            sub(att, T("ResponseType"), _RESPONSES.get(a.response, "Unknown"))


def _event_element(event: Any) -> etree._Element:
    el = etree.Element(T("CalendarItem"))
    tz = zone_info(_ms_zone(event.timezone))
    _text(el, "Subject", event.subject)
    _text(el, "Sensitivity", _SENSITIVITY[event.sensitivity])
    _body(el, event.body, event.body_is_html)
    _categories(el, event.categories)
    _text(el, "Importance", IMPORTANCE[event.importance])
    sub(el, T("ReminderIsSet"), fmt_bool(bool(event.reminder_is_set)))
    if event.reminder_minutes is not None:
        sub(el, T("ReminderMinutesBeforeStart"), str(event.reminder_minutes))
    _text(el, "MeetingWorkspaceUrl", event.meeting_workspace_url)
    _text(el, "NetShowUrl", event.online_meeting_url)
    _text(el, "UID", event.uid)
    if event.start is not None:
        sub(el, T("Start"), fmt_datetime(_utc(event.start, tz)))
    if event.end is not None:
        end = event.end
        if event.is_all_day and not isinstance(end, dt.datetime) and event.start is not None and end <= event.start:
            end = end + dt.timedelta(days=1)
        sub(el, T("End"), fmt_datetime(_utc(end, tz)))
    sub(el, T("IsAllDayEvent"), fmt_bool(event.is_all_day))
    sub(el, T("LegacyFreeBusyStatus"), _SHOW_AS[event.show_as])
    _text(el, "Location", event.location)
    _attendees(el, event.attendees)
    if event.recurrence and event.recurrence_id is None and event.start is not None:
        local_start = event.start.astimezone(tz) if isinstance(event.start, dt.datetime) else event.start
        el.append(rrule_to_recurrence(event.recurrence, local_start))
    zone = _ms_zone(event.timezone)
    sub(el, T("StartTimeZone"), Id=zone)
    sub(el, T("EndTimeZone"), Id=zone)
    return el


def _contact_extras(el: etree._Element, item: Any) -> None:
    """The contact fields beyond names, addresses and numbers (the element is put in schema
    order when it is stored)."""
    for name, value in (
        ("FileAs", item.file_as), ("Initials", item.initials), ("Generation", item.generation),
        ("Manager", item.manager), ("AssistantName", item.assistant_name), ("SpouseName", item.spouse_name),
        ("Profession", item.profession), ("OfficeLocation", item.office_location),
    ):
        _text(el, name, value)
    if item.children:
        children = sub(el, T("Children"))
        for child in item.children:
            sub(children, T("String"), child)
    if item.im_addresses:
        arr = sub(el, T("ImAddresses"))
        for i, address in enumerate(item.im_addresses[:3], start=1):
            sub(arr, T("Entry"), address, Key=f"ImAddress{i}")
    if item.wedding_anniversary is not None:
        sub(el, T("WeddingAnniversary"), f"{item.wedding_anniversary.isoformat()}T11:59:00Z")
    mailing = next((a for a in item.addresses if a.mailing), None)
    if mailing is not None:
        sub(el, T("PostalAddressIndex"), _ADDRESS_KEYS.get(mailing.label.lower(), "Other"))
    if item.personal_homepage:
        prop = sub(el, T("ExtendedProperty"))
        sub(prop, T("ExtendedFieldURI"), PropertyTag="0x3A50", PropertyType="String")
        sub(prop, T("Value"), item.personal_homepage)


def to_request(item: Any, owner: str) -> tuple[etree._Element, list[StoredAttachment]]:
    """The CreateItem element for a neutral Contact/Event/Task/Note, and its attachments."""
    kind = item.item_type
    attachments: list[StoredAttachment] = []
    if kind == "contacts":
        if item.is_distribution_list:
            el = etree.Element(T("DistributionList"))
            _text(el, "DisplayName", item.display_name)
            _categories(el, item.categories)
            if item.members:
                members = sub(el, T("Members"))
                for address, name in zip(item.members, item.member_names or ("",) * len(item.members)):
                    m = sub(members, T("Member"))
                    box = sub(m, T("Mailbox"))
                    _text(box, "Name", name)
                    sub(box, T("EmailAddress"), address)
                    sub(box, T("RoutingType"), "SMTP")
                    sub(box, T("MailboxType"), "OneOff")
            return el, attachments
        el = etree.Element(T("Contact"))
        _body(el, item.notes)
        _categories(el, item.categories)
        _text(el, "DisplayName", item.display_name)
        _text(el, "GivenName", item.given_name)
        _text(el, "MiddleName", item.middle_name)
        _text(el, "Nickname", item.nickname)
        _text(el, "CompanyName", item.company)
        if item.emails:
            arr = sub(el, T("EmailAddresses"))
            names = item.email_names or ("",) * len(item.emails)
            for i, (address, name) in enumerate(zip(item.emails[:3], names), start=1):
                entry = sub(arr, T("Entry"), address, Key=f"EmailAddress{i}")
                if name:
                    entry.set("Name", name)
        if item.addresses:
            arr = sub(el, T("PhysicalAddresses"))
            used: set[str] = set()
            for a in item.addresses:
                key = _ADDRESS_KEYS.get(a.label.lower(), "Other")
                if key in used:
                    continue
                used.add(key)
                entry = sub(arr, T("Entry"), Key=key)
                _text(entry, "Street", a.street)
                _text(entry, "City", a.city)
                _text(entry, "State", a.state)
                _text(entry, "CountryOrRegion", a.country)
                _text(entry, "PostalCode", a.postal_code)
        if item.phones:
            arr = sub(el, T("PhoneNumbers"))
            used = set()
            for p in item.phones:
                key = _PHONE_KEYS.get(p.label.lower().replace(" ", ""), "OtherTelephone")
                if key in used:
                    continue
                used.add(key)
                sub(arr, T("Entry"), p.number, Key=key)
        if item.birthday is not None:
            sub(el, T("Birthday"), f"{item.birthday.isoformat()}T11:59:00Z")
        if item.websites:
            sub(el, T("BusinessHomePage"), item.websites[0])
        _contact_extras(el, item)
        _text(el, "Department", item.department)
        _text(el, "JobTitle", item.job_title)
        _text(el, "Surname", item.surname)
        if item.photo:
            attachments.append(_file_attachment("ContactPicture.jpg", item.photo, "image/jpeg", photo=True, owner=owner))
        for a in item.attachments:
            attachments.append(_file_attachment(a.name, a.content, a.content_type, a.is_inline, a.content_id,
                                                a.is_contact_photo, owner))
        return el, attachments
    if kind == "calendar":
        el = _event_element(item)
        for a in item.attachments:
            attachments.append(_file_attachment(a.name, a.content, a.content_type, a.is_inline, a.content_id,
                                                owner=owner))
        return el, attachments
    if kind == "tasks":
        el = etree.Element(T("Task"))
        _text(el, "Subject", item.subject)
        _body(el, item.body)
        _categories(el, item.categories)
        _text(el, "Importance", IMPORTANCE[item.importance])
        if item.completed is not None:
            completed = item.completed if isinstance(item.completed, dt.datetime) else dt.datetime.combine(
                item.completed, dt.time(0, 0), tzinfo=dt.timezone.utc)
            sub(el, T("CompleteDate"), fmt_datetime(completed))
        if item.due is not None:
            sub(el, T("DueDate"), f"{item.due.isoformat()}T00:00:00Z")
        sub(el, T("PercentComplete"), str(item.percent_complete))
        if item.recurrence and (item.start or item.due):
            el.append(rrule_to_recurrence(item.recurrence, item.start or item.due, task=True))
        if item.start is not None:
            sub(el, T("StartDate"), f"{item.start.isoformat()}T00:00:00Z")
        sub(el, T("Status"), _TASK_STATUS[item.status])
        sub(el, T("ReminderIsSet"), fmt_bool(bool(item.reminder_is_set)))
        if item.reminder_at is not None:
            sub(el, T("ReminderDueBy"), fmt_datetime(item.reminder_at))
        _text(el, "ActualWork", item.actual_work)
        _text(el, "BillingInformation", item.billing_information)
        if item.companies:
            companies = sub(el, T("Companies"))
            for name in item.companies:
                sub(companies, T("String"), name)
        _text(el, "Mileage", item.mileage)
        _text(el, "TotalWork", item.total_work)
        return el, attachments
    if kind == "notes":
        el = etree.Element(T("Message"))
        sub(el, T("ItemClass"), "IPM.StickyNote")
        _text(el, "Subject", item.subject)
        _body(el, item.body)
        _categories(el, item.categories)
        if item.color is not None:
            prop = sub(el, T("ExtendedProperty"))
            sub(prop, T("ExtendedFieldURI"), **NOTE_COLOR_URI)
            sub(prop, T("Value"), _NOTE_COLORS[item.color])
        _extended(el, NOTE_SIZE_URIS["width"], getattr(item, "width", None))
        _extended(el, NOTE_SIZE_URIS["height"], getattr(item, "height", None))
        return el, attachments
    raise TypeError(f"cannot convert {item!r}")


def apply_server_values(item: Any, stored: StoredItem) -> None:
    """Set what a client could not: organizer, exceptions and deleted occurrences, note times."""
    from groupmigrate.testing.ews import calendar
    from groupmigrate.testing.ews.build import BuildOptions, build_item
    from groupmigrate.testing.ews.render import set_prop

    kind = item.item_type
    if kind == "calendar":
        if item.organizer:
            org = etree.Element(T("Organizer"))
            box = sub(org, T("Mailbox"))
            sub(box, T("EmailAddress"), item.organizer)
            sub(box, T("RoutingType"), "SMTP")
            sub(box, T("MailboxType"), "OneOff")
            set_prop(stored.element, "Organizer", org)
            if item.organizer.lower() != stored.mailbox:
                set_prop(stored.element, "MyResponseType", "Accept")
        tz = zone_info(_ms_zone(item.timezone))
        for exc in item.exceptions:
            if exc.recurrence_id is None:
                continue
            key = fmt_datetime(_utc(exc.recurrence_id, tz))
            built = build_item(_event_element(exc), BuildOptions(owner=stored.mailbox, owner_name=""))
            el = built.element
            set_prop(el, "CalendarItemType", "Exception")
            set_prop(el, "IsRecurring", "true")
            set_prop(el, "RecurrenceId", key)
            set_prop(el, "OriginalStart", key)
            set_prop(el, "UID", stored.text("UID"))
            stored.exceptions[key] = el
        for start in item.deleted_occurrences:
            stored.deleted_occurrences.append(fmt_datetime(_utc(start, tz)))
        if stored.text("CalendarItemType") == "RecurringMaster":
            calendar.refresh_master(stored)
    elif kind == "tasks":
        if item.owner:
            set_prop(stored.element, "Owner", item.owner)
        if item.completed is not None:
            completed = item.completed if isinstance(item.completed, dt.datetime) else dt.datetime.combine(
                item.completed, dt.time(0, 0), tzinfo=dt.timezone.utc)
            set_prop(stored.element, "CompleteDate", fmt_datetime(completed))
    elif kind == "notes":
        if item.created is not None:
            set_prop(stored.element, "DateTimeCreated", fmt_datetime(item.created, True))
        if item.modified is not None:
            set_prop(stored.element, "LastModifiedTime", fmt_datetime(item.modified, True))
