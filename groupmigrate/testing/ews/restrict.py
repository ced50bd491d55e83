"""Restriction (search filter) evaluation and SortOrder for FindItem and FindFolder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Optional

from lxml import etree

from groupmigrate.testing.ews.render import INDEXED_CONTAINERS, extended_key, field_name
from groupmigrate.testing.ews.schema import type_info
from groupmigrate.testing.ews.soap import SoapFault
from groupmigrate.testing.ews.store import StoredFolder, StoredItem, Store
from groupmigrate.testing.ews.xmlns import T, local, parse_datetime

__all__ = ["item_getter", "folder_getter", "compile_restriction", "sort_key_func"]

Getter = Callable[[etree._Element], list[str]]
Predicate = Callable[[Any], bool]

_NUMERIC = frozenset(
    {"Size", "TotalCount", "ChildFolderCount", "UnreadCount", "ReminderMinutesBeforeStart", "PercentComplete",
     "AppointmentSequenceNumber", "ConflictingMeetingCount", "AdjacentMeetingCount"}
)


def _texts_of(el: Optional[etree._Element]) -> list[str]:
    if el is None:
        return []
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        return [el.text or ""]
    leaves = [c.text or "" for c in el.iter() if isinstance(c.tag, str) and len(c) == 0]
    return leaves


def item_getter(store: Store, item: StoredItem, path: etree._Element) -> list[str]:
    """The values of property ``path`` (FieldURI, IndexedFieldURI, ExtendedFieldURI) on an item."""
    tag = local(path.tag)
    if tag == "FieldURI":
        name = field_name(path.get("FieldURI", ""))
        if name == "ItemId":
            return [item.item_id]
        if name == "ParentFolderId":
            return [item.folder_id]
        if name == "HasAttachments" and item.prop("HasAttachments") is None:
            return ["true" if item.attachments else "false"]
        return _texts_of(item.prop(name))
    if tag == "IndexedFieldURI":
        uri = path.get("FieldURI", "")
        container = INDEXED_CONTAINERS.get(uri) or INDEXED_CONTAINERS.get(uri.rsplit(":", 1)[0])
        el = item.prop(container) if container else None
        if el is None:
            return []
        sub_name = uri.rsplit(":", 1)[-1] if uri.count(":") == 2 else None
        out = []
        for entry in el:
            if entry.get("Key") == path.get("FieldIndex"):
                if sub_name:
                    found = entry.find(T(sub_name))
                    if found is not None:
                        out.append(found.text or "")
                else:
                    out.append(entry.text or "")
        return out
    if tag == "ExtendedFieldURI":
        from groupmigrate.testing.ews.mapi import MIRRORED_TAGS, normalize_tag, read_mirrored

        mapi_tag = normalize_tag(path)
        if mapi_tag in MIRRORED_TAGS:
            assert mapi_tag is not None
            found = read_mirrored(item, mapi_tag)
            return [] if found is None else [found]
        key = extended_key(path)
        for prop in item.element.findall(T("ExtendedProperty")):
            uri = prop.find(T("ExtendedFieldURI"))
            if uri is not None and extended_key(uri) == key:
                value = prop.find(T("Value"))
                if value is not None:
                    return [value.text or ""]
                values = prop.find(T("Values"))
                return [v.text or "" for v in values] if values is not None else []
        return []
    return []


def folder_getter(store: Store, folder: StoredFolder, path: etree._Element) -> list[str]:
    name = field_name(path.get("FieldURI", "")) if local(path.tag) == "FieldURI" else ""
    mb = store.mailboxes[folder.mailbox]
    if name == "DisplayName":
        return [folder.display_name]
    if name == "FolderClass":
        return [folder.folder_class] if folder.folder_class else []
    if name == "TotalCount":
        return [str(len(mb.folder_items.get(folder.folder_id, {})))]
    if name == "ChildFolderCount":
        return [str(len(mb.children(folder.folder_id)))]
    if name == "FolderId":
        return [folder.folder_id]
    return []


def _path_name(path: etree._Element) -> str:
    if local(path.tag) == "FieldURI":
        return field_name(path.get("FieldURI", ""))
    return ""


def _convert(name: str, text: str, ext_type: Optional[str]) -> Any:
    info = type_info()
    try:
        if name in info.datetime_names or ext_type == "SystemTime":
            return parse_datetime(text)
        if name in info.date_names:
            return dt.date.fromisoformat(text[:10])
        if name in info.boolean_names or ext_type == "Boolean":
            return text.strip().lower() in ("true", "1")
        if name in _NUMERIC or ext_type in ("Integer", "Long", "Short", "Double", "Float"):
            return float(text)
    except ValueError:
        return text.casefold()
    return text.casefold()


def _field_and_constant(node: etree._Element) -> tuple[etree._Element, Optional[etree._Element]]:
    path = None
    const = None
    for child in node:
        t = local(child.tag)
        if t in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI") and path is None:
            path = child
        elif t == "FieldURIOrConstant":
            for c in child:
                if local(c.tag) == "Constant":
                    const = c
                elif local(c.tag) in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI"):
                    raise SoapFault("ErrorUnsupportedPathForQuery", "The property path is not supported for this query.")
        elif t == "Constant":
            const = child
    if path is None:
        raise SoapFault("ErrorInvalidRestriction", "The restriction or sort order is too complex for this operation.")
    return path, const


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}


def compile_restriction(node: etree._Element, getter: Callable[[Any, etree._Element], list[str]]) -> Predicate:
    """Turn a restriction element (the child of ``m:Restriction``) into a predicate over objects."""
    tag = local(node.tag)
    if tag == "And":
        parts = [compile_restriction(c, getter) for c in node if isinstance(c.tag, str)]
        return lambda obj: all(p(obj) for p in parts)
    if tag == "Or":
        parts = [compile_restriction(c, getter) for c in node if isinstance(c.tag, str)]
        return lambda obj: any(p(obj) for p in parts)
    if tag == "Not":
        inner = compile_restriction(next(c for c in node if isinstance(c.tag, str)), getter)
        return lambda obj: not inner(obj)
    if tag == "Exists":
        path = next(c for c in node if isinstance(c.tag, str))
        return lambda obj: bool(getter(obj, path))
    if tag in _COMPARE:
        path, const = _field_and_constant(node)
        name = _path_name(path)
        ext_type = path.get("PropertyType") if local(path.tag) == "ExtendedFieldURI" else None
        raw = const.get("Value", "") if const is not None else ""
        wanted = _convert(name, raw, ext_type)
        cmp = _COMPARE[tag]

        def pred(obj: Any) -> bool:
            values = getter(obj, path)
            if not values:
                return tag == "IsNotEqualTo"
            for v in values:
                conv = _convert(name, v, ext_type)
                try:
                    if cmp(conv, wanted):
                        return True
                except TypeError:
                    continue
            return False

        return pred
    if tag == "Contains":
        path, const = _field_and_constant(node)
        mode = node.get("ContainmentMode", "FullString")
        comparison = node.get("ContainmentComparison", "Exact")
        value = const.get("Value", "") if const is not None else ""
        loose = comparison in ("IgnoreCase", "Loose", "IgnoreCaseAndNonSpacingCharacters", "LooseAndIgnoreCase",
                               "LooseAndIgnoreNonSpace", "LooseAndIgnoreCaseAndIgnoreNonSpace")
        needle = value.casefold() if loose else value

        def contains(obj: Any) -> bool:
            for v in getter(obj, path):
                hay = v.casefold() if loose else v
                if mode == "FullString" and hay == needle:
                    return True
                if mode == "Prefixed" and hay.startswith(needle):
                    return True
                if mode == "Substring" and needle in hay:
                    return True
                if mode in ("PrefixOnWords", "ExactPhrase") and needle in hay:
                    return True
            return False

        return contains
    if tag == "Excludes":
        path, const = _field_and_constant(node)
        mask = int(const.get("Value", "0"), 0) if const is not None else 0

        def excludes(obj: Any) -> bool:
            for v in getter(obj, path):
                try:
                    return (int(v, 0) & mask) == 0
                except ValueError:
                    return True
            return True

        return excludes
    raise SoapFault("ErrorInvalidRestriction", "The restriction or sort order is too complex for this operation.")


def sort_key_func(
    orders: list[etree._Element], getter: Callable[[Any, etree._Element], list[str]]
) -> list[tuple[Callable[[Any], Any], bool]]:
    """(key function, descending) per FieldOrder element, applied last to first for a stable sort."""
    out: list[tuple[Callable[[Any], Any], bool]] = []
    for order in orders:
        path = next((c for c in order if isinstance(c.tag, str)), None)
        if path is None:
            continue
        name = _path_name(path)
        ext_type = path.get("PropertyType") if local(path.tag) == "ExtendedFieldURI" else None
        descending = order.get("Order", "Ascending") == "Descending"

        def key(obj: Any, path: etree._Element = path, name: str = name, ext_type: Optional[str] = ext_type) -> Any:
            values = getter(obj, path)
            if not values:
                return (0, "")
            conv = _convert(name, values[0], ext_type)
            if isinstance(conv, dt.datetime):
                return (1, conv.timestamp())
            if isinstance(conv, bool):
                return (1, int(conv))
            if isinstance(conv, dt.date):
                return (1, conv.toordinal())
            if isinstance(conv, float):
                return (1, conv)
            return (2, conv)

        out.append((key, descending))
    return out
