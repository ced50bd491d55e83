"""Response shapes: which properties a request asks for, and writing folders and items with them."""

from __future__ import annotations

import base64
import copy
from functools import lru_cache
from typing import Optional

import attrs
from lxml import etree

from groupmigrate.testing.ews.schema import type_info
from groupmigrate.testing.ews.store import StoredAttachment, StoredFolder, StoredItem, Store
from groupmigrate.testing.ews.xmlns import T, fmt_bool, fmt_datetime, local, parse_datetime, sub

__all__ = [
    "ItemShape",
    "FolderShape",
    "parse_item_shape",
    "parse_folder_shape",
    "render_item",
    "render_folder",
    "schema_type_of",
    "field_name",
    "assemble",
    "set_prop",
    "render_attachment",
    "FRACTIONAL_NAMES",
]

#: element name -> schema type name
ITEM_TYPES = {
    "Item": "ItemType",
    "Message": "MessageType",
    "CalendarItem": "CalendarItemType",
    "Contact": "ContactItemType",
    "DistributionList": "DistributionListType",
    "Task": "TaskType",
    "PostItem": "PostItemType",
    "MeetingMessage": "MeetingMessageType",
    "MeetingRequest": "MeetingRequestMessageType",
    "MeetingResponse": "MeetingResponseMessageType",
    "MeetingCancellation": "MeetingCancellationMessageType",
}
FOLDER_TYPES = {
    "Folder": "FolderType",
    "CalendarFolder": "CalendarFolderType",
    "ContactsFolder": "ContactsFolderType",
    "TasksFolder": "TasksFolderType",
    "SearchFolder": "SearchFolderType",
}

#: Indexed field URIs and the container element holding their entries.
INDEXED_CONTAINERS = {
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:ImAddress": "ImAddresses",
    "contacts:PhysicalAddress": "PhysicalAddresses",
    "item:InternetMessageHeader": "InternetMessageHeaders",
    "distributionlist:Members": "Members",
}

#: Server-set timestamps written with milliseconds when ``fractional_seconds`` is on.
FRACTIONAL_NAMES = frozenset(
    {
        "DateTimeReceived",
        "DateTimeSent",
        "DateTimeCreated",
        "LastModifiedTime",
        "StartDate",
        "DueDate",
        "CompleteDate",
        "AssignedTime",
        "ReminderDueBy",
        "ReminderNextTime",
        "AppointmentReplyTime",
    }
)

#: Properties FindItem never returns (only GetItem does).
FIND_EXCLUDED = frozenset(
    {
        "MimeContent",
        "Body",
        "UniqueBody",
        "NormalizedBody",
        "TextBody",
        "Attachments",
        "InternetMessageHeaders",
        "ToRecipients",
        "CcRecipients",
        "BccRecipients",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "Recurrence",
        "ReplyTo",
        "Members",
    }
)

#: What the Default shape leaves out (besides MimeContent).
DEFAULT_EXCLUDED = frozenset({"InternetMessageHeaders", "UniqueBody", "NormalizedBody", "TextBody"})


def schema_type_of(tag: str) -> str:
    return ITEM_TYPES.get(tag) or FOLDER_TYPES.get(tag) or f"{tag}Type"


def field_name(field_uri: str) -> str:
    """``message:IsRead`` -> ``IsRead``."""
    return field_uri.rsplit(":", 1)[-1]


@attrs.define
class ItemShape:
    """What an ItemShape (or a default) asks for."""

    base: str = "AllProperties"
    names: set[str] = attrs.field(factory=set)
    indexed: dict[str, Optional[set[str]]] = attrs.field(factory=dict)
    extended: list[etree._Element] = attrs.field(factory=list)
    include_mime: bool = False
    body_type: str = "Best"

    def key(self) -> str:
        return f"{self.base}|{sorted(self.names)}|{sorted(self.indexed)}|{self.include_mime}"


@attrs.define
class FolderShape:
    base: str = "Default"
    names: set[str] = attrs.field(factory=set)
    extended: list[etree._Element] = attrs.field(factory=list)


def _parse_additional(el: Optional[etree._Element], names: set[str], indexed: dict[str, Optional[set[str]]],
                      extended: list[etree._Element]) -> None:
    if el is None:
        return
    for path in el:
        tag = local(path.tag)
        if tag == "FieldURI":
            names.add(field_name(path.get("FieldURI", "")))
        elif tag == "IndexedFieldURI":
            uri = path.get("FieldURI", "")
            container = INDEXED_CONTAINERS.get(uri) or INDEXED_CONTAINERS.get(uri.rsplit(":", 1)[0])
            if container:
                entries = indexed.setdefault(container, set())
                if entries is not None:
                    entries.add(path.get("FieldIndex", ""))
        elif tag == "ExtendedFieldURI":
            extended.append(path)
        elif tag == "ExceptionFieldURI":
            pass


def parse_item_shape(el: Optional[etree._Element]) -> ItemShape:
    shape = ItemShape()
    if el is None:
        return shape
    base = el.find(T("BaseShape"))
    shape.base = base.text.strip() if base is not None and base.text else "Default"
    mime = el.find(T("IncludeMimeContent"))
    shape.include_mime = mime is not None and (mime.text or "").strip() in ("true", "1")
    bt = el.find(T("BodyType"))
    if bt is not None and bt.text:
        shape.body_type = bt.text.strip()
    _parse_additional(el.find(T("AdditionalProperties")), shape.names, shape.indexed, shape.extended)
    if "MimeContent" in shape.names:
        shape.include_mime = True
    return shape


def parse_folder_shape(el: Optional[etree._Element]) -> FolderShape:
    shape = FolderShape()
    if el is None:
        return shape
    base = el.find(T("BaseShape"))
    shape.base = base.text.strip() if base is not None and base.text else "Default"
    indexed: dict[str, Optional[set[str]]] = {}
    _parse_additional(el.find(T("AdditionalProperties")), shape.names, indexed, shape.extended)
    return shape


@lru_cache(maxsize=64)
def _order(tag: str) -> tuple[str, ...]:
    return type_info().order(schema_type_of(tag))


@lru_cache(maxsize=64)
def _position(tag: str) -> dict[str, int]:
    return {name: i for i, name in enumerate(_order(tag))}


def assemble(tag: str, props: dict[str, etree._Element | list[etree._Element]]) -> etree._Element:
    """Build an item/folder element from property elements, in schema order."""
    el = etree.Element(T(tag))
    for name in _order(tag):
        value = props.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            for v in value:
                el.append(v)
        else:
            el.append(value)
    return el


def set_prop(item_el: etree._Element, name: str, value: etree._Element | str | None) -> None:
    """Set (or with None remove) property ``name`` of an item element, keeping schema order."""
    tag = local(item_el.tag)
    existing = item_el.find(T(name))
    if value is None:
        if existing is not None:
            item_el.remove(existing)
        return
    if isinstance(value, str):
        new = etree.Element(T(name))
        new.text = value
    else:
        new = value
    if existing is not None:
        item_el.replace(existing, new)
        return
    pos = _position(tag)
    mine = pos.get(name, len(pos))
    for i, child in enumerate(item_el):
        if pos.get(local(child.tag), len(pos)) > mine:
            item_el.insert(i, new)
            return
    item_el.append(new)


def _copy_time(el: etree._Element, fractional: bool) -> etree._Element:
    new = etree.Element(el.tag)
    try:
        new.text = fmt_datetime(parse_datetime(el.text or ""), fractional)
    except ValueError:
        new.text = el.text
    return new


def _html_to_text(body: etree._Element) -> etree._Element:
    from lxml import html

    new = etree.Element(T("Body"), BodyType="Text")
    try:
        new.text = html.fromstring(body.text or "<p></p>").text_content()
    except (etree.ParserError, ValueError):
        new.text = body.text
    return new


#: DistinguishedPropertySetId names and the property set GUIDs they stand for: a property
#: named either way is the same property.
_DISTINGUISHED_SETS = {
    "meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "appointment": "00062002-0000-0000-c000-000000000046",
    "common": "00062008-0000-0000-c000-000000000046",
    "publicstrings": "00020329-0000-0000-c000-000000000046",
    "address": "00062004-0000-0000-c000-000000000046",
    "internetheaders": "00020386-0000-0000-c000-000000000046",
    "calendarassistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
    "unifiedmessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
    "task": "00062003-0000-0000-c000-000000000046",
    "sharing": "00062040-0000-0000-c000-000000000046",
}


def _extended_key(el: etree._Element) -> tuple[str, ...]:
    """A comparable key of an ExtendedFieldURI (property set / name / id / tag, and type).

    A distinguished property set is keyed by its GUID, and ids and tags by their number, so
    ``DistinguishedPropertySetId="Task" PropertyId="33029"`` and
    ``PropertySetId="00062003-..." PropertyId="0x8105"`` name the same property.
    """
    tag = el.get("PropertyTag")
    if tag is not None:
        try:
            tag = hex(int(tag, 16) if tag.lower().startswith("0x") else int(tag))
        except ValueError:
            pass
    prop_id = el.get("PropertyId")
    if prop_id is not None:
        try:
            prop_id = str(int(prop_id, 0))
        except ValueError:
            pass
    distinguished = (el.get("DistinguishedPropertySetId") or "").lower()
    set_id = (el.get("PropertySetId") or "").lower()
    if distinguished in _DISTINGUISHED_SETS and not set_id:
        distinguished, set_id = "", _DISTINGUISHED_SETS[distinguished]
    return (distinguished, set_id, el.get("PropertyName") or "", prop_id or "", tag or "")


def extended_key(el: etree._Element) -> tuple[str, ...]:
    return _extended_key(el)


def _filter_indexed(container: etree._Element, keys: Optional[set[str]]) -> etree._Element:
    if keys is None:
        return copy.deepcopy(container)
    new = etree.Element(container.tag)
    for entry in container:
        if entry.get("Key") in keys:
            new.append(copy.deepcopy(entry))
    return new


def render_item(
    store: Store,
    item: StoredItem,
    shape: ItemShape,
    fractional: bool,
    for_find: bool = False,
) -> etree._Element:
    """The item element as GetItem/FindItem return it for ``shape``."""
    tag = item.tag
    el = etree.Element(T(tag))
    stored = {}
    extended_stored: list[etree._Element] = []
    for child in item.element:
        name = local(child.tag)
        if name == "ExtendedProperty":
            extended_stored.append(child)
        else:
            stored[name] = child
    all_props = shape.base in ("AllProperties", "Default")
    for name in _order(tag):
        if name == "MimeContent":
            if shape.include_mime and item.mime is not None and not for_find:
                mc = sub(el, T("MimeContent"), base64.b64encode(item.mime).decode("ascii"))
                mc.set("CharacterSet", "UTF-8")
            continue
        if name == "ItemId":
            sub(el, T("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
            continue
        if name == "ExtendedProperty":
            if shape.extended:
                _render_extended(el, item, shape.extended, extended_stored)
            continue
        requested = name in shape.names or name in shape.indexed
        if not requested:
            if not all_props:
                continue
            if shape.base == "Default" and name in DEFAULT_EXCLUDED:
                continue
        if for_find and name in FIND_EXCLUDED:
            continue
        if name == "ParentFolderId":
            folder = store.folders.get(item.folder_id)
            sub(el, T("ParentFolderId"), Id=item.folder_id, ChangeKey=folder.change_key if folder else "AQAAAA==")
            continue
        if name == "Attachments":
            if item.attachments:
                atts = sub(el, T("Attachments"))
                for att in item.attachments:
                    atts.append(render_attachment(att, with_content=False, fractional=fractional))
            continue
        value = stored.get(name)
        if value is None:
            continue
        if name in FRACTIONAL_NAMES:
            el.append(_copy_time(value, fractional))
        elif name == "Body" and shape.body_type == "Text" and value.get("BodyType") == "HTML":
            el.append(_html_to_text(value))
        elif name in shape.indexed and not all_props:
            el.append(_filter_indexed(value, shape.indexed[name]))
        else:
            el.append(copy.deepcopy(value))
    return el


def _render_extended(
    el: etree._Element, item: StoredItem, wanted_uris: list[etree._Element], stored: list[etree._Element]
) -> None:
    from groupmigrate.testing.ews.mapi import MIRRORED_TAGS, normalize_tag, read_mirrored

    wanted: dict[tuple[str, ...], etree._Element] = {}
    for uri in wanted_uris:
        tag = normalize_tag(uri)
        if tag in MIRRORED_TAGS:
            assert tag is not None
            value = read_mirrored(item, tag)
            if value is not None:
                prop = sub(el, T("ExtendedProperty"))
                prop.append(etree.Element(T("ExtendedFieldURI"), dict(uri.attrib)))
                sub(prop, T("Value"), value)
        else:
            wanted[_extended_key(uri)] = uri
    for prop in stored:
        uri_el = prop.find(T("ExtendedFieldURI"))
        asked = wanted.get(_extended_key(uri_el)) if uri_el is not None else None
        if asked is not None:
            # GUIDs are written back in canonical (lower case) form, as Exchange does
            out = sub(el, T("ExtendedProperty"))
            attrib = {k: (v.lower() if k == "PropertySetId" else v) for k, v in asked.attrib.items()}
            out.append(etree.Element(T("ExtendedFieldURI"), attrib))
            for child in prop:
                if child.tag != T("ExtendedFieldURI"):
                    out.append(copy.deepcopy(child))


def render_attachment(att: StoredAttachment, with_content: bool, fractional: bool) -> etree._Element:
    """An attachment element (``t:FileAttachment`` / ``t:ItemAttachment``)."""
    tag = "FileAttachment" if att.kind == "file" else "ItemAttachment"
    el = etree.Element(T(tag))
    sub(el, T("AttachmentId"), Id=att.attachment_id)
    sub(el, T("Name"), att.name)
    if att.content_type:
        sub(el, T("ContentType"), att.content_type)
    if att.content_id:
        sub(el, T("ContentId"), att.content_id)
    if att.content_location:
        sub(el, T("ContentLocation"), att.content_location)
    sub(el, T("Size"), str(att.size))
    sub(el, T("LastModifiedTime"), fmt_datetime(att.last_modified, fractional))
    sub(el, T("IsInline"), fmt_bool(att.is_inline))
    if att.kind == "file":
        sub(el, T("IsContactPhoto"), fmt_bool(att.is_contact_photo))
        if with_content:
            sub(el, T("Content"), base64.b64encode(att.content).decode("ascii"))
    elif with_content and att.item_xml:
        el.append(etree.fromstring(att.item_xml))
    return el


def _folder_mirrored(
    el: etree._Element, store: Store, folder: StoredFolder, uris: list[etree._Element], quota_bytes: Optional[int]
) -> None:
    """Folder MAPI properties read by tag: PR_ATTR_HIDDEN, PR_CONTAINER_CLASS, PR_DISPLAY_NAME,
    and on the top of a mailbox its size and quotas (see :func:`.mapi.read_mailbox_usage`)."""
    from groupmigrate.testing.ews.mapi import MAILBOX_USAGE_TAGS, normalize_tag, read_mailbox_usage

    for uri in uris:
        tag = normalize_tag(uri)
        value: Optional[str] = None
        if tag in MAILBOX_USAGE_TAGS:
            assert tag is not None
            value = read_mailbox_usage(store, folder, tag, quota_bytes)
        elif tag == 0x10F4:
            value = "true" if folder.hidden else None
        elif tag == 0x3613:
            value = folder.folder_class
        elif tag == 0x3001:
            value = folder.display_name
        if value is not None:
            prop = sub(el, T("ExtendedProperty"))
            prop.append(etree.Element(T("ExtendedFieldURI"), dict(uri.attrib)))
            sub(prop, T("Value"), value)


_RIGHTS = ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read", "ViewPrivateItems")


def render_folder(
    store: Store, folder: StoredFolder, shape: FolderShape, with_distinguished: bool, quota_bytes: Optional[int] = None
) -> etree._Element:
    """The folder element as GetFolder/FindFolder return it for ``shape``; ``quota_bytes`` is
    the mailbox quota the server has (``Knobs.mailbox_quota_bytes``)."""
    el = etree.Element(T(folder.tag))
    allowed = _order(folder.tag)
    want = set(shape.names)
    if shape.base in ("Default", "AllProperties"):
        want |= {"DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"}
    if shape.base == "AllProperties":
        want |= {"ParentFolderId", "FolderClass", "EffectiveRights"}
    mb = store.mailboxes[folder.mailbox]
    for name in allowed:
        if name == "FolderId":
            sub(el, T("FolderId"), Id=folder.folder_id, ChangeKey=folder.change_key)
        elif name not in want and name != "ExtendedProperty":
            continue
        elif name == "ParentFolderId":
            if folder.parent_id:
                parent = store.folders.get(folder.parent_id)
                sub(el, T("ParentFolderId"), Id=folder.parent_id, ChangeKey=parent.change_key if parent else "AQAAAA==")
        elif name == "FolderClass":
            if folder.folder_class:
                sub(el, T("FolderClass"), folder.folder_class)
        elif name == "DisplayName":
            sub(el, T("DisplayName"), folder.display_name)
        elif name == "TotalCount":
            sub(el, T("TotalCount"), str(len(mb.folder_items.get(folder.folder_id, {}))))
        elif name == "ChildFolderCount":
            sub(el, T("ChildFolderCount"), str(len(mb.children(folder.folder_id))))
        elif name == "UnreadCount":
            unread = sum(1 for i in mb.folder_items.get(folder.folder_id, {}) if not store.items[i].is_read)
            sub(el, T("UnreadCount"), str(unread))
        elif name == "EffectiveRights":
            rights = sub(el, T("EffectiveRights"))
            for r in _RIGHTS:
                sub(rights, T(r), "true")
        elif name == "DistinguishedFolderId":
            if with_distinguished and folder.distinguished:
                sub(el, T("DistinguishedFolderId"), folder.distinguished)
        elif name == "ExtendedProperty":
            if shape.extended:
                _folder_mirrored(el, store, folder, shape.extended, quota_bytes)
                wanted = {_extended_key(e) for e in shape.extended}
                for raw in folder.extended:
                    prop = etree.fromstring(raw)
                    uri = prop.find(T("ExtendedFieldURI"))
                    if uri is not None and _extended_key(uri) in wanted:
                        el.append(prop)
    return el
