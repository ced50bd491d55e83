"""Turning an item sent in CreateItem into the stored item, with the properties a server sets."""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import re
import uuid
from typing import Optional
from urllib.parse import urlsplit

import attrs
from lxml import etree

from groupmigrate.testing.ews.mapi import MIRRORED_TAGS, normalize_tag
from groupmigrate.testing.ews.mime import read_mime
from groupmigrate.testing.ews.render import assemble, extended_key
from groupmigrate.testing.ews.schema import type_info
from groupmigrate.testing.ews.soap import ResponseError
from groupmigrate.testing.ews.store import StoredAttachment, new_id
from groupmigrate.testing.ews.xmlns import T, fmt_bool, fmt_datetime, local, parse_datetime, sub, utcnow

__all__ = ["BuildOptions", "Built", "build_item", "normalize", "parse_attachment", "DEFAULT_ITEM_CLASS"]

DEFAULT_ITEM_CLASS = {
    "Item": "IPM.Note",
    "Message": "IPM.Note",
    "CalendarItem": "IPM.Appointment",
    "Contact": "IPM.Contact",
    "DistributionList": "IPM.DistList",
    "Task": "IPM.Task",
    "PostItem": "IPM.Post",
}

#: Properties a client cannot set; CreateItem with one fails with ErrorInvalidPropertySet.
READ_ONLY = frozenset(
    {
        "ItemId", "ParentFolderId", "DateTimeReceived", "Size", "DateTimeSent", "DateTimeCreated",
        "ResponseObjects", "DisplayCc", "DisplayTo", "DisplayBcc", "HasAttachments", "EffectiveRights",
        "LastModifiedName", "LastModifiedTime", "ConversationId", "UniqueBody", "IsSubmitted", "IsDraft",
        "IsFromMe", "IsResend", "IsUnmodified", "ReminderNextTime", "InstanceKey", "NormalizedBody", "TextBody",
        "Organizer", "MyResponseType", "ConflictingMeetingCount", "AdjacentMeetingCount", "ConflictingMeetings",
        "AdjacentMeetings", "Duration", "TimeZone", "AppointmentReplyTime", "AppointmentSequenceNumber",
        "AppointmentState", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences",
        "CalendarItemType", "IsRecurring", "IsMeeting", "IsCancelled", "HasPicture", "CompleteName",
        "IsComplete", "ChangeCount", "Delegator", "DelegationState", "IsAssignmentEditable", "StatusDescription",
        "IsTeamTask", "AssignedTime", "ConversationIndex", "ConversationTopic", "PostedTime",
    }
)  # fmt: skip

PR_MESSAGE_DELIVERY_TIME = "0xe06"
PR_CLIENT_SUBMIT_TIME = "0x39"
PR_MESSAGE_FLAGS = "0xe07"
PR_FLAG_STATUS = "0x1090"
MSGFLAG_READ = 0x1
MSGFLAG_UNSENT = 0x8

_PSETID_TASK = "00062003-0000-0000-c000-000000000046"
_X500 = re.compile(r"^\s*(/o=|imceaex-)", re.IGNORECASE)


@attrs.define
class BuildOptions:
    """Knob values that affect how an item is accepted."""

    owner: str
    owner_name: str
    drop_inline_attachments: bool = False
    reject_invalid_urls: bool = False
    reject_x500: bool = False
    max_item_size: Optional[int] = None
    sending: bool = False
    keeps_named_properties: bool = True
    fold_resources: bool = False


@attrs.define
class Built:
    element: etree._Element
    mime: Optional[bytes]
    attachments: list[StoredAttachment]


def normalize(el: etree._Element) -> None:
    """Rewrite booleans as ``true``/``false`` and datetimes in UTC (``...Z``), in place, recursively."""
    info = type_info()
    for node in el.iter():
        if not isinstance(node.tag, str) or len(node):
            continue
        name = local(node.tag)
        if name in info.boolean_names and node.text is not None:
            node.text = "true" if node.text.strip().lower() in ("true", "1") else "false"
        elif name in info.datetime_names and node.text:
            try:
                value = parse_datetime(node.text)
            except ValueError:
                continue
            text = fmt_datetime(value, value.microsecond != 0)
            node.text = text


def _ext_tag(prop: etree._Element) -> tuple[str, Optional[str]]:
    uri = prop.find(T("ExtendedFieldURI"))
    value = prop.find(T("Value"))
    if uri is None:
        return "", None
    tag = uri.get("PropertyTag") or ""
    try:
        tag = hex(int(tag, 16) if tag.lower().startswith("0x") else int(tag))
    except ValueError:
        tag = tag.lower()
    return tag, (value.text if value is not None else None)


#: The named properties behind the Flag element's dates (Exchange 2013+): (set GUID, the set's
#: distinguished name, id) -> child of Flag. PidTagFlagCompleteTime is a tagged property.
_FLAG_DATES = {
    ("00062003-0000-0000-c000-000000000046", "task", 0x8104): "StartDate",
    ("00062003-0000-0000-c000-000000000046", "task", 0x8105): "DueDate",
}
PR_FLAG_COMPLETE_TIME = "0x1091"


def _flag_date(prop: etree._Element) -> tuple[Optional[str], Optional[str]]:
    """(Flag child name, value) for an extended property behind a Flag date, else (None, None)."""
    uri = prop.find(T("ExtendedFieldURI"))
    value = prop.findtext(T("Value"))
    if uri is None:
        return None, None
    if _ext_tag(prop)[0] == PR_FLAG_COMPLETE_TIME:
        return "CompleteDate", value
    set_id = (uri.get("PropertySetId") or "").lower()
    named = (uri.get("DistinguishedPropertySetId") or "").lower()
    try:
        prop_id = int(uri.get("PropertyId") or "", 0)
    except ValueError:
        return None, None
    for (guid, name, number), child in _FLAG_DATES.items():
        if prop_id == number and (set_id == guid or named == name):
            return child, value
    return None, None


def parse_attachment(el: etree._Element, mailbox: str) -> StoredAttachment:
    """A ``t:FileAttachment`` / ``t:ItemAttachment`` from a request into a stored attachment."""
    kind = "file" if local(el.tag) == "FileAttachment" else "item"

    def text(name: str) -> Optional[str]:
        found = el.find(T(name))
        return found.text if found is not None else None

    att = StoredAttachment(
        attachment_id=new_id("attachment", mailbox),
        kind=kind,
        name=text("Name") or "",
        content_type=text("ContentType"),
        content_id=text("ContentId"),
        content_location=text("ContentLocation"),
        is_inline=(text("IsInline") or "false").strip().lower() in ("true", "1"),
        is_contact_photo=(text("IsContactPhoto") or "false").strip().lower() in ("true", "1"),
    )
    if kind == "file":
        try:
            att.content = base64.b64decode(text("Content") or "")
        except (binascii.Error, ValueError):
            raise ResponseError("ErrorInvalidAttachmentId", "The attachment content is not valid base64.") from None
    else:
        inner = next((c for c in el if isinstance(c.tag, str) and local(c.tag) in DEFAULT_ITEM_CLASS), None)
        if inner is not None:
            inner = copy.deepcopy(inner)
            normalize(inner)
            mc = inner.find(T("MimeContent"))
            if mc is not None:
                try:
                    att.content = base64.b64decode(mc.text or "")
                except (binascii.Error, ValueError):
                    pass
                inner.remove(mc)
            att.item_xml = etree.tostring(inner)
            if not att.content_type:
                att.content_type = "message/rfc822"
    return att


def _duration(start: dt.datetime, end: dt.datetime) -> str:
    seconds = max(int((end - start).total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P"
    if days:
        out += f"{days}D"
    out += "T"
    if hours:
        out += f"{hours}H"
    if minutes:
        out += f"{minutes}M"
    if secs or out.endswith("T"):
        out += f"{secs}S"
    return out


def _check_values(tag: str, props: dict[str, list[etree._Element]], opts: BuildOptions) -> None:
    if opts.reject_invalid_urls and tag == "Contact":
        for el in props.get("BusinessHomePage", []):
            url = (el.text or "").strip()
            parts = urlsplit(url)
            if url and (parts.scheme not in ("http", "https") or not parts.netloc or " " in url):
                raise ResponseError(
                    "ErrorInvalidValueForProperty",
                    "The value for property BusinessHomePage is not a valid URL.",
                )
    if opts.reject_x500:
        for els in props.values():
            for el in els:
                for node in el.iter(T("EmailAddress")):
                    if node.text and _X500.match(node.text):
                        raise ResponseError(
                            "ErrorInvalidRecipients", f"The address {node.text!r} is not a valid SMTP address."
                        )
                for node in el.iter(T("Entry")):
                    if local(el.tag) == "EmailAddresses" and node.text and _X500.match(node.text):
                        raise ResponseError(
                            "ErrorInvalidRecipients", f"The address {node.text!r} is not a valid SMTP address."
                        )


def build_item(request_el: etree._Element, opts: BuildOptions) -> Built:
    """Build the stored form of an item sent in CreateItem (or seeded); ResponseError when refused."""
    tag = local(request_el.tag)
    if tag not in DEFAULT_ITEM_CLASS:
        raise ResponseError("ErrorInvalidItemForOperationCreateItem", "This item type cannot be created with CreateItem.")
    props: dict[str, list[etree._Element]] = {}
    for child in request_el:
        if isinstance(child.tag, str):
            props.setdefault(local(child.tag), []).append(child)
    for name in props:
        if name in READ_ONLY:
            raise ResponseError("ErrorInvalidPropertySet", f"Set action is invalid for property. ({name})")
    _check_values(tag, props, opts)
    now = utcnow()
    mime: Optional[bytes] = None
    derived: dict[str, etree._Element] = {}
    attachments: list[StoredAttachment] = []
    sent: Optional[dt.datetime] = None
    if "MimeContent" in props:
        try:
            mime = base64.b64decode(props.pop("MimeContent")[0].text or "")
        except (binascii.Error, ValueError):
            raise ResponseError("ErrorMimeContentInvalidBase64String", "The MIME content is not a valid Base64 string.") from None
        info = read_mime(mime, opts.owner)
        derived = info.props
        attachments = info.attachments
        sent = info.sent
    if "Attachments" in props:
        att_el = props.pop("Attachments")[0]
        if not opts.drop_inline_attachments:
            for a in att_el:
                if isinstance(a.tag, str):
                    attachments.append(parse_attachment(a, opts.owner))
    final: dict[str, etree._Element | list[etree._Element]] = {}
    for name, el in derived.items():
        final[name] = el
    extended: list[etree._Element] = []
    for name, els in props.items():
        if name == "ExtendedProperty":
            extended.extend(copy.deepcopy(e) for e in els)
            continue
        new = copy.deepcopy(els[0])
        final[name] = new
    for el in final.values():
        if isinstance(el, etree._Element):
            normalize(el)
    for e in extended:
        normalize(e)
    # extended properties with a meaning for the store
    ext_values = dict(_ext_tag(e) for e in extended)
    received = now
    if ext_values.get(PR_MESSAGE_DELIVERY_TIME):
        try:
            received = parse_datetime(ext_values[PR_MESSAGE_DELIVERY_TIME] or "")
        except ValueError:
            pass
    if ext_values.get(PR_CLIENT_SUBMIT_TIME):
        try:
            sent = parse_datetime(ext_values[PR_CLIENT_SUBMIT_TIME] or "")
        except ValueError:
            pass
    # extended properties are kept once per key, last wins
    by_key: dict[tuple[str, ...], etree._Element] = {}
    for e in extended:
        uri = e.find(T("ExtendedFieldURI"))
        if uri is not None and normalize_tag(uri) not in MIRRORED_TAGS:
            if not opts.keeps_named_properties and uri.get("PropertyName") is not None:
                continue  # a server that cannot keep named properties drops them without a word
            by_key[extended_key(uri)] = e
    if by_key:
        final["ExtendedProperty"] = list(by_key.values())

    def put(name: str, text: str, overwrite: bool = True) -> None:
        if overwrite or name not in final:
            el = etree.Element(T(name))
            el.text = text
            final[name] = el

    put("ItemClass", DEFAULT_ITEM_CLASS[tag], overwrite=False)
    put("Sensitivity", "Normal", overwrite=False)
    put("Importance", "Normal", overwrite=False)
    put("DateTimeReceived", fmt_datetime(received, True))
    put("DateTimeCreated", fmt_datetime(now, True))
    put("LastModifiedTime", fmt_datetime(now, True))
    put("HasAttachments", fmt_bool(any(not a.is_inline or a.kind == "item" for a in attachments)))
    put("Culture", "en-US", overwrite=False)
    put("IsSubmitted", "false")
    put("IsFromMe", "false")
    put("IsResend", "false")
    put("IsUnmodified", "false")
    put("IsAssociated", "false", overwrite=False)
    name_el = etree.Element(T("LastModifiedName"))
    name_el.text = opts.owner_name
    final["LastModifiedName"] = name_el
    if tag in ("Message", "PostItem", "Item"):
        flags_text = ext_values.get(PR_MESSAGE_FLAGS)
        flags: Optional[int] = None
        if flags_text:
            try:
                flags = int(flags_text, 0)
            except ValueError:
                flags = None
        if tag == "Message":
            if "IsRead" not in final:
                put("IsRead", fmt_bool(bool(flags & MSGFLAG_READ)) if flags is not None else "false")
            elif flags is not None and "IsRead" not in props:
                put("IsRead", fmt_bool(bool(flags & MSGFLAG_READ)))
            draft = bool(flags & MSGFLAG_UNSENT) if flags is not None else not opts.sending
            put("IsDraft", fmt_bool(draft))
            put("IsReadReceiptRequested", "false", overwrite=False)
            put("IsDeliveryReceiptRequested", "false", overwrite=False)
            put("IsResponseRequested", "false", overwrite=False)
        else:
            put("IsDraft", "false")
        put("DateTimeSent", fmt_datetime(sent or now, True))
        flag_status = ext_values.get(PR_FLAG_STATUS)
        if "Flag" not in final:
            status = {"2": "Flagged", "1": "Complete"}.get((flag_status or "0").strip(), "NotFlagged")
            flag = etree.Element(T("Flag"))
            sub(flag, T("FlagStatus"), status)
            # the dates set through their MAPI properties show in the Flag element too
            dates = dict(_flag_date(e) for e in extended)
            for child in ("StartDate", "DueDate", "CompleteDate"):
                if dates.get(child):
                    sub(flag, T(child), dates[child])
            final["Flag"] = flag
        if "Sender" not in final and "From" in final:
            sender = copy.deepcopy(final["From"])
            assert isinstance(sender, etree._Element)
            sender.tag = T("Sender")
            final["Sender"] = sender
        if tag == "PostItem":
            put("PostedTime", fmt_datetime(sent or now, True))
            if "From" not in final:
                frm = etree.Element(T("From"))
                box = sub(frm, T("Mailbox"))
                sub(box, T("Name"), opts.owner_name)
                sub(box, T("EmailAddress"), opts.owner)
                sub(box, T("RoutingType"), "SMTP")
                sub(box, T("MailboxType"), "Mailbox")
                final["From"] = frm
    else:
        put("IsDraft", "false")
        put("DateTimeSent", fmt_datetime(now, True))
    if "DisplayTo" not in final:
        put("DisplayTo", "")
    if "DisplayCc" not in final:
        put("DisplayCc", "")
    if tag == "CalendarItem":
        _calendar_defaults(final, put, opts)
    elif tag == "Contact":
        _contact_defaults(final, put, attachments)
    elif tag == "Task":
        _task_defaults(final, put)
    element = assemble(tag, final)
    size = (len(mime) if mime is not None else len(etree.tostring(element))) + sum(
        a.size for a in attachments if mime is None
    )
    size_el = etree.Element(T("Size"))
    size_el.text = str(size)
    from groupmigrate.testing.ews.render import set_prop

    set_prop(element, "Size", size_el)
    if opts.max_item_size is not None and size > opts.max_item_size:
        raise ResponseError("ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
    return Built(element, mime, attachments)


def _text(final: dict[str, etree._Element | list[etree._Element]], name: str) -> Optional[str]:
    el = final.get(name)
    if isinstance(el, etree._Element):
        text: Optional[str] = el.text
        return text
    return None


def _calendar_defaults(final: dict[str, etree._Element | list[etree._Element]], put: object, opts: BuildOptions) -> None:
    assert callable(put)
    start_t, end_t = _text(final, "Start"), _text(final, "End")
    if start_t and end_t:
        try:
            start, end = parse_datetime(start_t), parse_datetime(end_t)
            if end < start:
                raise ResponseError(
                    "ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate."
                )
            put("Duration", _duration(start, end))
        except ValueError:
            pass
    recurring = "Recurrence" in final
    put("CalendarItemType", "RecurringMaster" if recurring else "Single")
    put("IsRecurring", fmt_bool(recurring))
    put("IsAllDayEvent", "false", overwrite=False)
    put("LegacyFreeBusyStatus", "Busy", overwrite=False)
    put("IsMeeting", fmt_bool(any(n in final for n in ("RequiredAttendees", "OptionalAttendees", "Resources"))))
    put("IsCancelled", "false")
    put("MyResponseType", "Organizer")
    put("AppointmentState", "1" if any(n in final for n in ("RequiredAttendees", "OptionalAttendees")) else "0")
    put("AppointmentSequenceNumber", "0")
    put("UID", uuid.uuid4().hex.upper() + "00000000000000000000000000000000", overwrite=False)
    if "Organizer" not in final:
        org = etree.Element(T("Organizer"))
        box = sub(org, T("Mailbox"))
        sub(box, T("Name"), opts.owner_name)
        sub(box, T("EmailAddress"), opts.owner)
        sub(box, T("RoutingType"), "SMTP")
        sub(box, T("MailboxType"), "Mailbox")
        final["Organizer"] = org
    resources = final.get("Resources")
    if opts.fold_resources and isinstance(resources, etree._Element):
        # a server that keeps no resources stores them as required attendees
        required = final.get("RequiredAttendees")
        if not isinstance(required, etree._Element):
            required = etree.Element(T("RequiredAttendees"))
            final["RequiredAttendees"] = required
        for attendee in list(resources):
            required.append(attendee)
        del final["Resources"]
    tz_el = final.get("StartTimeZone")
    if isinstance(tz_el, etree._Element) and tz_el.get("Name"):
        put("TimeZone", tz_el.get("Name") or "")
    for name in ("RequiredAttendees", "OptionalAttendees", "Resources"):
        arr = final.get(name)
        if isinstance(arr, etree._Element):
            for att in arr:
                if att.find(T("ResponseType")) is None:
                    rt = etree.Element(T("ResponseType"))
                    rt.text = "Unknown"
                    mailbox = att.find(T("Mailbox"))
                    if mailbox is not None:
                        mailbox.addnext(rt)
                    else:
                        att.append(rt)


def _contact_defaults(
    final: dict[str, etree._Element | list[etree._Element]], put: object, attachments: list[StoredAttachment]
) -> None:
    assert callable(put)
    given, surname = _text(final, "GivenName"), _text(final, "Surname")
    display = _text(final, "DisplayName")
    if not display:
        display = " ".join(p for p in (given, _text(final, "MiddleName"), surname) if p) or (
            _text(final, "CompanyName") or ""
        )
        put("DisplayName", display)
    if "FileAs" not in final:
        put("FileAs", ", ".join(p for p in (surname, given) if p) or display)
    put("HasPicture", fmt_bool(any(a.is_contact_photo for a in attachments)))
    complete = etree.Element(T("CompleteName"))
    for key in ("Title", "FirstName", "MiddleName", "LastName", "Suffix", "Initials", "FullName", "Nickname"):
        source = {"FirstName": "GivenName", "LastName": "Surname", "Nickname": "Nickname", "MiddleName": "MiddleName",
                  "Initials": "Initials"}.get(key)
        value = _text(final, source) if source else (display if key == "FullName" else None)
        if value:
            sub(complete, T(key), value)
    final["CompleteName"] = complete


def _task_defaults(final: dict[str, etree._Element | list[etree._Element]], put: object) -> None:
    assert callable(put)
    put("Status", "NotStarted", overwrite=False)
    put("PercentComplete", "0", overwrite=False)
    status = _text(final, "Status")
    put("IsComplete", fmt_bool(status == "Completed"))
    # Exchange ignores a CompleteDate sent by the client and sets it when the task is completed.
    final.pop("CompleteDate", None)
    if status == "Completed":
        put("CompleteDate", fmt_datetime(utcnow(), True))
    put("IsRecurring", fmt_bool("Recurrence" in final))
    for prop in final.get("ExtendedProperty") or []:
        uri = prop.find(T("ExtendedFieldURI")) if isinstance(prop, etree._Element) else None
        if (
            uri is not None
            and (uri.get("PropertySetId") or "").lower() == _PSETID_TASK
            and uri.get("PropertyId") in ("33055", "0x811F", "0x811f")
        ):
            put("Owner", prop.findtext(T("Value")) or "")  # PidLidTaskOwner is what Owner shows
    put("ChangeCount", "1")
    put("IsTeamTask", "false")
    put("IsAssignmentEditable", "0")
    put("DelegationState", "NoMatch")
    put("StatusDescription", {"NotStarted": "Not Started", "InProgress": "In Progress", "Completed": "Completed",
                              "WaitingOnOthers": "Waiting on someone else", "Deferred": "Deferred"}.get(status or "", ""))
