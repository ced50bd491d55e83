"""ExportItems and UploadItems (Exchange profiles only): whole items as opaque data streams.

Exchange exports a fast-transfer stream that only Exchange can read back; this server's
stream is likewise opaque (a compressed private serialization) and only for UploadItems.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any, Optional

from lxml import etree

from groupmigrate.testing.ews.context import Context
from groupmigrate.testing.ews.render import set_prop
from groupmigrate.testing.ews.service import register
from groupmigrate.testing.ews.soap import ResponseError, error_message, response_message
from groupmigrate.testing.ews.store import StoredAttachment, StoredItem, new_id
from groupmigrate.testing.ews.xmlns import M, T, fmt_datetime, sub, utcnow

_MAGIC = b"GMFTS1"


def _export(item: StoredItem) -> str:
    data = {
        "element": etree.tostring(item.element).decode("utf-8"),
        "mime": base64.b64encode(item.mime).decode("ascii") if item.mime is not None else None,
        "attachments": [
            {
                "kind": a.kind,
                "name": a.name,
                "content": base64.b64encode(a.content).decode("ascii"),
                "content_type": a.content_type,
                "content_id": a.content_id,
                "content_location": a.content_location,
                "is_inline": a.is_inline,
                "is_contact_photo": a.is_contact_photo,
                "item_xml": a.item_xml.decode("utf-8") if a.item_xml else None,
            }
            for a in item.attachments
        ],
        "exceptions": {k: etree.tostring(v).decode("utf-8") for k, v in item.exceptions.items()},
        "deleted": list(item.deleted_occurrences),
    }
    return base64.b64encode(_MAGIC + zlib.compress(json.dumps(data).encode("utf-8"))).decode("ascii")


def _import(text: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(text, validate=True)
        if not raw.startswith(_MAGIC):
            raise ValueError("not an export stream")
        data: dict[str, Any] = json.loads(zlib.decompress(raw[len(_MAGIC):]))
        return data
    except (binascii.Error, ValueError, zlib.error):
        raise ResponseError("ErrorInvalidRequest", "The data stream is not valid.") from None


@register("ExportItems", exchange_only=True)
def export_items(ctx: Context) -> list[etree._Element]:
    out = []
    ids = ctx.op.find(M("ItemIds"))
    for id_el in ids if ids is not None else []:
        if not isinstance(id_el.tag, str):
            continue
        try:
            item = ctx.resolve_item(id_el)
        except ResponseError as err:
            out.append(error_message("ExportItems", err))
            continue
        msg = response_message("ExportItems")
        sub(msg, M("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
        sub(msg, M("Data"), _export(item))
        out.append(msg)
    return out


@register("UploadItems", exchange_only=True)
def upload_items(ctx: Context) -> list[etree._Element]:
    out = []
    items = ctx.op.find(M("Items"))
    for upload in items if items is not None else []:
        if not isinstance(upload.tag, str):
            continue
        try:
            out.append(_upload_one(ctx, upload))
        except ResponseError as err:
            out.append(error_message("UploadItems", err))
    return out


def _upload_one(ctx: Context, upload: etree._Element) -> etree._Element:
    action = upload.get("CreateAction", "CreateNew")
    parent = upload.find(T("ParentFolderId"))
    if parent is None:
        raise ResponseError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
    folder = ctx.resolve_folder(etree.Element(T("FolderId"), Id=parent.get("Id", "")))
    data = _import(upload.findtext(T("Data")) or "")
    element = etree.fromstring(data["element"].encode("utf-8"))
    now = fmt_datetime(utcnow(), True)
    set_prop(element, "LastModifiedTime", now)
    existing: Optional[StoredItem] = None
    id_el = upload.find(T("ItemId"))
    if action in ("Update", "UpdateOrCreate") and id_el is not None:
        existing = ctx.store.items.get(id_el.get("Id", ""))
        if existing is None and action == "Update":
            raise ResponseError("ErrorItemNotFound", "The specified object was not found in the store.")
    mb = ctx.store.mailboxes[folder.mailbox]
    attachments = [
        StoredAttachment(
            attachment_id=new_id("attachment", mb.address),
            kind=a["kind"],
            name=a["name"],
            content=base64.b64decode(a["content"]),
            content_type=a["content_type"],
            content_id=a["content_id"],
            content_location=a["content_location"],
            is_inline=a["is_inline"],
            is_contact_photo=a["is_contact_photo"],
            item_xml=a["item_xml"].encode("utf-8") if a["item_xml"] else None,
        )
        for a in data["attachments"]
    ]
    mime = base64.b64decode(data["mime"]) if data["mime"] is not None else None
    if existing is not None:
        existing.element = element
        existing.mime = mime
        existing.attachments = attachments
        ctx.store.touch_item(existing)
        item = existing
    else:
        set_prop(element, "DateTimeCreated", now)
        item = ctx.store.add_item(mb, folder, element, mime, attachments)
    item.exceptions = {k: etree.fromstring(v.encode("utf-8")) for k, v in data["exceptions"].items()}
    item.deleted_occurrences = list(data["deleted"])
    if item.exceptions or item.deleted_occurrences:
        ctx.store.save_item(item)
    msg = response_message("UploadItems")
    sub(msg, M("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
    return msg
