"""Item operations: CreateItem, GetItem, FindItem, UpdateItem, DeleteItem, MoveItem, CopyItem, MarkAllItemsAsRead."""

from __future__ import annotations

import copy
from typing import Optional

from lxml import etree

from groupmigrate.testing.ews import calendar
from groupmigrate.testing.ews.build import READ_ONLY, BuildOptions, build_item, normalize
from groupmigrate.testing.ews.context import Context, item_not_found
from groupmigrate.testing.ews.render import (
    INDEXED_CONTAINERS,
    extended_key,
    field_name,
    parse_item_shape,
    render_item,
    set_prop,
)
from groupmigrate.testing.ews.quirks import apply_quirks
from groupmigrate.testing.ews.restrict import compile_restriction, item_getter, sort_key_func
from groupmigrate.testing.ews.service import register
from groupmigrate.testing.ews.soap import ResponseError, error_message, response_message
from groupmigrate.testing.ews.store import MailboxStore, StoredFolder, StoredItem
from groupmigrate.testing.ews.xmlns import M, T, fmt_bool, fmt_datetime, local, sub, utcnow

_DEFAULT_FOLDER = {
    "Message": "drafts",
    "Item": "drafts",
    "PostItem": "drafts",
    "CalendarItem": "calendar",
    "Contact": "contacts",
    "DistributionList": "contacts",
    "Task": "tasks",
}


def _children(el: Optional[etree._Element]) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)] if el is not None else []


def build_options(ctx: Context, mb: MailboxStore, sending: bool = False) -> BuildOptions:
    knobs = ctx.knobs
    return BuildOptions(
        owner=mb.address,
        owner_name=mb.display_name,
        drop_inline_attachments=knobs.drop_inline_attachments,
        reject_invalid_urls=knobs.reject_invalid_urls,
        reject_x500=knobs.reject_x500,
        max_item_size=knobs.max_item_size,
        sending=sending,
        keeps_named_properties=knobs.keeps_named_properties,
        fold_resources=knobs.fold_resources,
    )


def _item_id_payload(operation: str, item: StoredItem, container: str = "Items") -> etree._Element:
    msg = response_message(operation)
    items = sub(msg, M(container))
    el = sub(items, T(item.tag))
    sub(el, T("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
    return msg


@register("CreateItem")
def create_item(ctx: Context) -> list[etree._Element]:
    op = ctx.op
    disposition = op.get("MessageDisposition", "SaveOnly")
    requests = _children(op.find(M("Items")))
    mb = ctx.mailbox()
    saved_el = op.find(M("SavedItemFolderId"))
    target: Optional[StoredFolder] = None
    target_error: Optional[ResponseError] = None
    if saved_el is not None:
        try:
            target = ctx.folder_of_container(saved_el)
        except ResponseError as err:
            target_error = err
    fail_index = -1
    if requests and ctx.knobs.roll(ctx.knobs.partial_batch_rate):
        fail_index = ctx.knobs.pick(len(requests))
    out = []
    for index, request in enumerate(requests):
        try:
            if target_error is not None:
                raise target_error
            if index == fail_index:
                raise ResponseError(
                    "ErrorInternalServerTransientError",
                    "An internal server error occurred. Try again later.",
                )
            tag = local(request.tag)
            folder = target
            if folder is None:
                wanted = "sentitems" if disposition == "SendAndSaveCopy" else _DEFAULT_FOLDER.get(tag, "drafts")
                folder = ctx.store.folders.get(mb.distinguished.get(wanted, ""))
                if folder is None:
                    raise ResponseError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
            owner = ctx.store.mailboxes[folder.mailbox]
            built = build_item(request, build_options(ctx, owner, sending=disposition != "SaveOnly"))
            if disposition == "SendOnly":
                out.append(_empty_items("CreateItem"))
                continue
            item = ctx.store.add_item(owner, folder, built.element, built.mime, built.attachments)
            calendar.after_create(ctx.store, item, request)
        except ResponseError as err:
            out.append(error_message("CreateItem", err, "Items"))
            continue
        out.append(_item_id_payload("CreateItem", item))
    return out


def _empty_items(operation: str) -> etree._Element:
    msg = response_message(operation)
    sub(msg, M("Items"))
    return msg


def _resolve(ctx: Context, id_el: etree._Element) -> StoredItem:
    """An ItemId / OccurrenceItemId / RecurringMasterItemId element to a stored (or occurrence) item."""
    tag = local(id_el.tag)
    if tag == "ItemId":
        occurrence = calendar.occurrence_from_id(ctx, id_el.get("Id", ""))
        if occurrence is not None:
            return occurrence
        return ctx.resolve_item(id_el)
    if tag == "OccurrenceItemId":
        master = ctx.resolve_item(etree.Element(T("ItemId"), Id=id_el.get("RecurringMasterId", "")))
        return calendar.occurrence(ctx, master, int(id_el.get("InstanceIndex", "0")))
    if tag == "RecurringMasterItemId":
        item = calendar.occurrence_from_id(ctx, id_el.get("OccurrenceId", ""))
        if item is None:
            item = ctx.resolve_item(etree.Element(T("ItemId"), Id=id_el.get("OccurrenceId", "")))
        return calendar.master_of(ctx, item)
    raise ResponseError("ErrorInvalidIdMalformed", "Id is malformed.")


@register("GetItem")
def get_item(ctx: Context) -> list[etree._Element]:
    shape = parse_item_shape(ctx.op.find(M("ItemShape")))
    frac = ctx.knobs.fractional_seconds
    out = []
    for id_el in _children(ctx.op.find(M("ItemIds"))):
        try:
            item = _resolve(ctx, id_el)
        except ResponseError as err:
            out.append(error_message("GetItem", err, "Items"))
            continue
        msg = response_message("GetItem")
        items = sub(msg, M("Items"))
        items.append(apply_quirks(render_item(ctx.store, item, shape, frac), shape, ctx.knobs))
        out.append(msg)
    return out


def _view_of(ctx: Context, folder: StoredFolder, restriction: Optional[etree._Element],
             orders: list[etree._Element]) -> list[StoredItem]:
    key = etree.tostring(restriction) if restriction is not None else b""
    key += b"|" + b"".join(etree.tostring(o) for o in orders)
    cache_key = key.decode("utf-8", "replace")
    cached = ctx.store.cached_view(folder.folder_id, cache_key)
    if cached is not None:
        return cached
    rows = ctx.store.items_in(folder.folder_id)
    getter = lambda i, p: item_getter(ctx.store, i, p)  # noqa: E731
    if restriction is not None:
        node = next((c for c in restriction if isinstance(c.tag, str)), None)
        if node is not None:
            pred = compile_restriction(node, getter)
            rows = [r for r in rows if pred(r)]
    if orders:
        rows = list(reversed(rows))  # ties keep the newest first, as the default order does
        for keyf, desc in reversed(sort_key_func(orders, getter)):
            rows.sort(key=keyf, reverse=desc)
    else:
        rows = sorted(rows, key=lambda r: (r.received, r.folder_seq), reverse=True)
    ctx.store.cache_view(folder.folder_id, cache_key, rows)
    return rows


@register("FindItem")
def find_item(ctx: Context) -> list[etree._Element]:
    op = ctx.op
    shape = parse_item_shape(op.find(M("ItemShape")))
    traversal = op.get("Traversal", "Shallow")
    restriction = op.find(M("Restriction"))
    sort = op.find(M("SortOrder"))
    orders = _children(sort)
    paging = op.find(M("IndexedPageItemView"))
    cal_view = op.find(M("CalendarView"))
    if op.find(M("FractionalPageItemView")) is not None or op.find(M("SeekToConditionPageItemView")) is not None:
        paging = op.find(M("FractionalPageItemView"))
    limit = ctx.profile.find_item_limit
    frac = ctx.knobs.fractional_seconds
    out = []
    for id_el in _children(op.find(M("ParentFolderIds"))):
        try:
            folder = ctx.resolve_folder(id_el)
        except ResponseError as err:
            out.append(error_message("FindItem", err))
            continue
        if traversal in ("SoftDeleted", "Associated"):
            rows: list[StoredItem] = []
        elif cal_view is not None:
            rows = calendar.calendar_view(ctx, folder, cal_view)
        else:
            rows = _view_of(ctx, folder, restriction, orders)
        total = len(rows)
        msg = response_message("FindItem")
        if cal_view is not None:
            maximum = cal_view.get("MaxEntriesReturned")
            if maximum is not None and total > int(maximum):
                out.append(error_message("FindItem", ResponseError(
                    "ErrorCalendarViewRangeTooBig", "The calendar view range has too many occurrences.")))
                continue
            root = sub(msg, M("RootFolder"), TotalItemsInView=str(total), IncludesLastItemInRange="true")
            page = rows
        else:
            offset, count, from_end = 0, total, False
            if paging is not None:
                offset = int(paging.get("Offset", "0"))
                if paging.get("MaxEntriesReturned"):
                    count = int(paging.get("MaxEntriesReturned", "0"))
                from_end = paging.get("BasePoint") == "End"
            if limit is not None:
                count = min(count, limit)
            if from_end:
                stop = max(total - offset, 0)
                start = max(stop - count, 0)
                page = rows[start:stop]
                next_offset = offset + len(page)
                last = start == 0
            else:
                page = rows[offset : offset + count]
                next_offset = offset + len(page)
                last = next_offset >= total
            root = sub(
                msg,
                M("RootFolder"),
                IndexedPagingOffset=str(next_offset),
                TotalItemsInView=str(total),
                IncludesLastItemInRange=fmt_bool(last),
            )
        items = sub(root, T("Items"))
        for item in page:
            items.append(apply_quirks(render_item(ctx.store, item, shape, frac, for_find=True), shape, ctx.knobs))
        out.append(msg)
    return out


@register("DeleteItem")
def delete_item(ctx: Context) -> list[etree._Element]:
    delete_type = ctx.op.get("DeleteType", "HardDelete")
    out = []
    for id_el in _children(ctx.op.find(M("ItemIds"))):
        try:
            item = _resolve(ctx, id_el)
            if calendar.is_occurrence(item):
                calendar.delete_occurrence(ctx, item)
            else:
                _delete(ctx, item, delete_type)
        except ResponseError as err:
            out.append(error_message("DeleteItem", err))
            continue
        out.append(response_message("DeleteItem"))
    return out


def _delete(ctx: Context, item: StoredItem, delete_type: str) -> None:
    mb = ctx.store.mailboxes[item.mailbox]
    if delete_type == "HardDelete":
        ctx.store.delete_item(item)
        return
    target_name = "deleteditems" if delete_type == "MoveToDeletedItems" else "recoverableitemsdeletions"
    target_id = mb.distinguished.get(target_name)
    if target_id is None or target_id == item.folder_id:
        ctx.store.delete_item(item)
        return
    ctx.store.move_item(item, ctx.store.folders[target_id])


def _apply_update(ctx: Context, item: StoredItem, update: etree._Element) -> None:
    kind = local(update.tag)
    children = _children(update)
    if not children:
        raise ResponseError("ErrorInvalidRequest", "The request is invalid.")
    path = children[0]
    ptag = local(path.tag)
    value_item = children[1] if len(children) > 1 else None
    el = item.element
    if ptag == "FieldURI":
        name = field_name(path.get("FieldURI", ""))
        if name in READ_ONLY and name not in ("IsDraft",):
            raise ResponseError("ErrorInvalidPropertySet", f"Set action is invalid for property. ({name})")
        if kind == "DeleteItemField":
            set_prop(el, name, None)
            return
        if value_item is None:
            raise ResponseError("ErrorInvalidRequest", "The request is invalid.")
        new = value_item.find(T(name))
        if new is None:
            raise ResponseError("ErrorInvalidPropertyRequest", f"The property {name} is missing from the item.")
        new = copy.deepcopy(new)
        normalize(new)
        if name == "MimeContent":
            import base64

            item.mime = base64.b64decode(new.text or "")
            return
        if name == "Attachments":
            raise ResponseError("ErrorInvalidPropertySet", "Set action is invalid for property. (Attachments)")
        existing = el.find(T(name))
        if kind == "AppendToItemField" and existing is not None:
            for child in new:
                existing.append(child)
            return
        set_prop(el, name, new)
        return
    if ptag == "IndexedFieldURI":
        uri = path.get("FieldURI", "")
        container = INDEXED_CONTAINERS.get(uri) or INDEXED_CONTAINERS.get(uri.rsplit(":", 1)[0])
        if not container:
            raise ResponseError("ErrorInvalidPropertyRequest", "The property is not valid for this object type.")
        key = path.get("FieldIndex", "")
        sub_name = uri.rsplit(":", 1)[-1] if uri.count(":") == 2 else None
        existing = el.find(T(container))
        if kind == "DeleteItemField":
            if existing is not None:
                for entry in list(existing):
                    if entry.get("Key") == key:
                        if sub_name:
                            field = entry.find(T(sub_name))
                            if field is not None:
                                entry.remove(field)
                        else:
                            existing.remove(entry)
                if not len(existing):
                    el.remove(existing)
            return
        if value_item is None:
            raise ResponseError("ErrorInvalidRequest", "The request is invalid.")
        new_container = value_item.find(T(container))
        new_entry = new_container.find(T("Entry")) if new_container is not None else None
        if new_entry is None:
            raise ResponseError("ErrorInvalidPropertyRequest", "The property is missing from the item.")
        if existing is None:
            existing = etree.Element(T(container))
            set_prop(el, container, existing)
        for entry in existing:
            if entry.get("Key") == key:
                if sub_name:
                    for child in new_entry:
                        old = entry.find(child.tag)
                        if old is not None:
                            entry.replace(old, copy.deepcopy(child))
                        else:
                            entry.append(copy.deepcopy(child))
                else:
                    entry.text = new_entry.text
                return
        existing.append(copy.deepcopy(new_entry))
        return
    if ptag == "ExtendedFieldURI":
        from groupmigrate.testing.ews.mapi import MIRRORED_TAGS, normalize_tag, write_mirrored

        mapi_tag = normalize_tag(path)
        new_prop = value_item.find(T("ExtendedProperty")) if value_item is not None else None
        if mapi_tag in MIRRORED_TAGS:
            assert mapi_tag is not None
            value = new_prop.findtext(T("Value")) if new_prop is not None else None
            write_mirrored(el, mapi_tag, None if kind == "DeleteItemField" else value)
            return
        key = extended_key(path)
        for prop in el.findall(T("ExtendedProperty")):
            uri = prop.find(T("ExtendedFieldURI"))
            if uri is not None and extended_key(uri) == key:
                el.remove(prop)
        if kind == "DeleteItemField":
            return
        if new_prop is None:
            raise ResponseError("ErrorInvalidPropertyRequest", "The property is missing from the item.")
        new_prop = copy.deepcopy(new_prop)
        normalize(new_prop)
        existing = el.findall(T("ExtendedProperty"))
        if existing:
            existing[-1].addnext(new_prop)
        else:
            set_prop(el, "ExtendedProperty", new_prop)
        return
    raise ResponseError("ErrorInvalidPropertyRequest", "The property is not valid for this object type.")


@register("UpdateItem")
def update_item(ctx: Context) -> list[etree._Element]:
    conflict = ctx.op.get("ConflictResolution", "AutoResolve")
    out = []
    for change in _children(ctx.op.find(M("ItemChanges"))):
        try:
            id_el = next((c for c in change if local(c.tag) in ("ItemId", "OccurrenceItemId", "RecurringMasterItemId")), None)
            if id_el is None:
                raise item_not_found()
            item = _resolve(ctx, id_el)
            if (
                conflict == "NeverOverwrite"
                and local(id_el.tag) == "ItemId"
                and id_el.get("ChangeKey")
                and id_el.get("ChangeKey") != item.change_key
            ):
                raise ResponseError(
                    "ErrorIrresolvableConflict",
                    "The send or update operation could not be performed because the change key passed in the "
                    "request does not match the current change key for the item.",
                )
            if calendar.is_occurrence(item):
                item = calendar.materialize_exception(ctx, item)
            for update in _children(change.find(T("Updates"))):
                _apply_update(ctx, item, update)
            set_prop(item.element, "LastModifiedTime", fmt_datetime(utcnow(), True))
            item = calendar.after_update(ctx, item)
        except ResponseError as err:
            out.append(error_message("UpdateItem", err, "Items"))
            continue
        msg = _item_id_payload("UpdateItem", item)
        results = sub(msg, M("ConflictResults"))
        sub(results, T("Count"), "0")
        out.append(msg)
    return out


@register("MoveItem")
def move_item(ctx: Context) -> list[etree._Element]:
    return _move_or_copy(ctx, "MoveItem", copy_items=False)


@register("CopyItem")
def copy_item(ctx: Context) -> list[etree._Element]:
    return _move_or_copy(ctx, "CopyItem", copy_items=True)


def _move_or_copy(ctx: Context, operation: str, copy_items: bool) -> list[etree._Element]:
    ids = _children(ctx.op.find(M("ItemIds")))
    try:
        target = ctx.folder_of_container(ctx.op.find(M("ToFolderId")))
    except ResponseError as err:
        return [error_message(operation, err, "Items") for _ in ids]
    out = []
    for id_el in ids:
        try:
            item = ctx.resolve_item(id_el)
            dest_mb = ctx.store.mailboxes[target.mailbox]
            if copy_items:
                new = ctx.store.add_item(
                    dest_mb,
                    target,
                    copy.deepcopy(item.element),
                    item.mime,
                    [copy.deepcopy(a) for a in item.attachments],
                )
                new.exceptions = {k: copy.deepcopy(v) for k, v in item.exceptions.items()}
                new.deleted_occurrences = list(item.deleted_occurrences)
                result = new
            else:
                if item.mailbox != target.mailbox:
                    raise ResponseError("ErrorCrossMailboxMoveCopy", "Cross-mailbox moves are not supported.")
                ctx.store.move_item(item, target)
                result = item
        except ResponseError as err:
            out.append(error_message(operation, err, "Items"))
            continue
        out.append(_item_id_payload(operation, result))
    return out


@register("MarkAllItemsAsRead")
def mark_all_items_as_read(ctx: Context) -> list[etree._Element]:
    read = (ctx.op.findtext(M("ReadFlag")) or "true").strip() in ("true", "1")
    out = []
    for id_el in _children(ctx.op.find(M("FolderIds"))):
        try:
            folder = ctx.resolve_folder(id_el)
        except ResponseError as err:
            out.append(error_message("MarkAllItemsAsRead", err))
            continue
        for item in ctx.store.items_in(folder.folder_id):
            if item.tag == "Message" and item.is_read != read:
                set_prop(item.element, "IsRead", fmt_bool(read))
                ctx.store.touch_item(item)
        out.append(response_message("MarkAllItemsAsRead"))
    return out

