"""Attachment operations: CreateAttachment, GetAttachment, DeleteAttachment."""

from __future__ import annotations

import base64
from typing import Optional

from lxml import etree

from groupmigrate.testing.ews.build import parse_attachment
from groupmigrate.testing.ews.context import Context
from groupmigrate.testing.ews.render import render_attachment, set_prop
from groupmigrate.testing.ews.service import register
from groupmigrate.testing.ews.soap import ResponseError, error_message, response_message
from groupmigrate.testing.ews.store import StoredAttachment, StoredItem
from groupmigrate.testing.ews.xmlns import M, T, fmt_bool, parse_bool, sub


def _children(el: Optional[etree._Element]) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)] if el is not None else []


def _not_found() -> ResponseError:
    return ResponseError("ErrorItemNotFound", "The specified object was not found in the store.")


def _owner(ctx: Context, attachment_id: str) -> tuple[StoredItem, StoredAttachment]:
    item_id = ctx.store.attachment_owner.get(attachment_id)
    item = ctx.store.items.get(item_id or "")
    if item is None:
        raise ResponseError("ErrorInvalidIdMalformed", "Id is malformed.") if len(attachment_id) < 16 else _not_found()
    ctx.resolve_item(etree.Element(T("ItemId"), Id=item.item_id))  # access check
    for att in item.attachments:
        if att.attachment_id == attachment_id:
            return item, att
    raise _not_found()


def _refresh(ctx: Context, item: StoredItem) -> None:
    has = any(not a.is_inline or a.kind == "item" for a in item.attachments)
    set_prop(item.element, "HasAttachments", fmt_bool(has))
    if item.tag == "Contact":
        set_prop(item.element, "HasPicture", fmt_bool(any(a.is_contact_photo for a in item.attachments)))
    if item.mime is None:
        size = len(etree.tostring(item.element)) + sum(a.size for a in item.attachments)
        set_prop(item.element, "Size", str(size))
    ctx.store.touch_item(item)


@register("CreateAttachment")
def create_attachment(ctx: Context) -> list[etree._Element]:
    atts = _children(ctx.op.find(M("Attachments")))
    parent = ctx.op.find(M("ParentItemId"))
    try:
        if parent is None:
            raise ResponseError("ErrorInvalidIdEmpty", "Id must be non-empty.")
        item = ctx.resolve_item(etree.Element(T("ItemId"), Id=parent.get("RootItemId") or parent.get("Id", "")))
    except ResponseError as err:
        return [error_message("CreateAttachment", err, "Attachments") for _ in atts]
    limit = ctx.knobs.max_item_size
    out: list[etree._Element | StoredAttachment] = []
    created: list[StoredAttachment] = []
    for att_el in atts:
        try:
            att = parse_attachment(att_el, item.mailbox)
            if limit is not None and att.size + item.size > limit:
                raise ResponseError("ErrorAttachmentSizeLimitExceeded",
                                    "The attachment could not be created because it exceeds the maximum size.")
        except ResponseError as err:
            out.append(error_message("CreateAttachment", err, "Attachments"))
            continue
        item.attachments.append(att)
        created.append(att)
        out.append(att)  # replaced below once the change key is final
    if created:
        _refresh(ctx, item)
    result = []
    for entry in out:
        if isinstance(entry, StoredAttachment):
            msg = response_message("CreateAttachment")
            container = sub(msg, M("Attachments"))
            el = sub(container, T("FileAttachment" if entry.kind == "file" else "ItemAttachment"))
            sub(el, T("AttachmentId"), Id=entry.attachment_id, RootItemId=item.item_id, RootItemChangeKey=item.change_key)
            result.append(msg)
        else:
            result.append(entry)
    return result


@register("GetAttachment")
def get_attachment(ctx: Context) -> list[etree._Element]:
    shape = ctx.op.find(M("AttachmentShape"))
    include_mime = shape is not None and parse_bool(shape.findtext(T("IncludeMimeContent")))
    frac = ctx.knobs.fractional_seconds
    out = []
    for id_el in _children(ctx.op.find(M("AttachmentIds"))):
        try:
            _, att = _owner(ctx, id_el.get("Id", ""))
        except ResponseError as err:
            out.append(error_message("GetAttachment", err, "Attachments"))
            continue
        msg = response_message("GetAttachment")
        container = sub(msg, M("Attachments"))
        el = render_attachment(att, with_content=True, fractional=frac)
        if att.kind == "item" and include_mime and att.content:
            inner = next((c for c in el if c.tag not in {T(n) for n in (
                "AttachmentId", "Name", "ContentType", "ContentId", "ContentLocation", "Size", "LastModifiedTime",
                "IsInline")}), None)
            if inner is not None:
                mc = etree.Element(T("MimeContent"), CharacterSet="UTF-8")
                mc.text = base64.b64encode(att.content).decode("ascii")
                inner.insert(0, mc)
        container.append(el)
        out.append(msg)
    return out


@register("DeleteAttachment")
def delete_attachment(ctx: Context) -> list[etree._Element]:
    out = []
    for id_el in _children(ctx.op.find(M("AttachmentIds"))):
        try:
            item, att = _owner(ctx, id_el.get("Id", ""))
        except ResponseError as err:
            out.append(error_message("DeleteAttachment", err))
            continue
        item.attachments.remove(att)
        ctx.store.attachment_owner.pop(att.attachment_id, None)
        _refresh(ctx, item)
        msg = response_message("DeleteAttachment")
        sub(msg, M("RootItemId"), RootItemId=item.item_id, RootItemChangeKey=item.change_key)
        out.append(msg)
    return out
