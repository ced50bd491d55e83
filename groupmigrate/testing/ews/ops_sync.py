"""Synchronization: SyncFolderHierarchy and SyncFolderItems with opaque, restart-proof sync states.

A sync state records the mailbox change number the client has seen. Changes after it are the
items (folders) whose last change is newer, and the tombstones of deletions; they are returned
in change order, so a state taken in the middle of a long list is exact.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Optional, Union

from lxml import etree

from groupmigrate.testing.ews.context import Context
from groupmigrate.testing.ews.render import parse_folder_shape, parse_item_shape, render_folder, render_item
from groupmigrate.testing.ews.service import register
from groupmigrate.testing.ews.soap import ResponseError, error_message, response_message
from groupmigrate.testing.ews.store import MailboxStore, StoredFolder, StoredItem, Tombstone
from groupmigrate.testing.ews.xmlns import M, T, fmt_bool, sub

_PREFIX = b"GMSYNC1"


def encode_state(mailbox: str, folder_id: str, seq: int) -> str:
    payload = json.dumps({"m": mailbox, "f": folder_id, "s": seq}, separators=(",", ":")).encode()
    return base64.b64encode(_PREFIX + payload).decode("ascii")


def decode_state(text: Optional[str], mailbox: str, folder_id: str) -> int:
    """The change number in a sync state (0 for none); ErrorInvalidSyncStateData when it is not ours."""
    if not text or not text.strip():
        return 0
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        if not raw.startswith(_PREFIX):
            raise ValueError("not a sync state")
        data = json.loads(raw[len(_PREFIX):])
        if data["m"] != mailbox or data["f"] != folder_id:
            raise ValueError("sync state of another folder")
        return int(data["s"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ResponseError("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.") from None


def _sync_error(operation: str, err: ResponseError, last_name: str) -> etree._Element:
    """An error message that still carries (empty) SyncState and the last-in-range flag, as Exchange writes it."""
    msg = error_message(operation, err)
    sub(msg, M("SyncState"), "")
    sub(msg, M(last_name), "true")
    return msg


def _max_changes(ctx: Context) -> int:
    text = ctx.op.findtext(M("MaxChangesReturned"))
    return max(1, min(int(text), 512)) if text else 512


Change = tuple[int, str, Union[StoredItem, StoredFolder, Tombstone]]


def _page(changes: list[Change], limit: int, current: int) -> tuple[list[Change], int, bool]:
    changes.sort(key=lambda c: c[0])
    if len(changes) > limit:
        page = changes[:limit]
        return page, page[-1][0], False
    return changes, current, True


@register("SyncFolderItems")
def sync_folder_items(ctx: Context) -> list[etree._Element]:
    op = ctx.op
    shape = parse_item_shape(op.find(M("ItemShape")))
    try:
        folder = ctx.folder_of_container(op.find(M("SyncFolderId")))
        mb = ctx.store.mailboxes[folder.mailbox]
        since = decode_state(op.findtext(M("SyncState")), mb.address, folder.folder_id)
    except ResponseError as err:
        return [_sync_error("SyncFolderItems", err, "IncludesLastItemInRange")]
    ignore_el = op.find(M("Ignore"))
    ignore = {i.get("Id") for i in ignore_el} if ignore_el is not None else set()
    changes: list[Change] = []
    for item in ctx.store.items_in(folder.folder_id):
        if item.seq > since and item.item_id not in ignore:
            changes.append((item.seq, "Create" if item.folder_seq > since else "Update", item))
    for stone in mb.tombstones:
        if stone.seq > since and stone.kind == "item" and stone.folder_id == folder.folder_id:
            if stone.entered_seq > since:
                continue  # created and deleted after the state: the client never saw it
            changes.append((stone.seq, "Delete", stone))
    page, new_seq, last = _page(changes, _max_changes(ctx), mb.seq)
    msg = response_message("SyncFolderItems")
    sub(msg, M("SyncState"), encode_state(mb.address, folder.folder_id, new_seq))
    sub(msg, M("IncludesLastItemInRange"), fmt_bool(last))
    container = sub(msg, M("Changes"))
    frac = ctx.knobs.fractional_seconds
    for _, kind, obj in page:
        change = sub(container, T(kind))
        if isinstance(obj, Tombstone):
            sub(change, T("ItemId"), Id=obj.object_id, ChangeKey="AAAAAA==")
        else:
            assert isinstance(obj, StoredItem)
            change.append(render_item(ctx.store, obj, shape, frac, for_find=True))
    return [msg]


def _in_scope(mb: MailboxStore, root_id: str) -> set[str]:
    return {f.folder_id for f in mb.descendants(root_id)}


@register("SyncFolderHierarchy")
def sync_folder_hierarchy(ctx: Context) -> list[etree._Element]:
    op = ctx.op
    shape = parse_folder_shape(op.find(M("FolderShape")))
    try:
        container = op.find(M("SyncFolderId"))
        if container is not None:
            root = ctx.folder_of_container(container)
        else:
            mb0 = ctx.mailbox()
            root = ctx.store.folders[mb0.distinguished["msgfolderroot"]]
        mb = ctx.store.mailboxes[root.mailbox]
        since = decode_state(op.findtext(M("SyncState")), mb.address, root.folder_id)
    except ResponseError as err:
        return [_sync_error("SyncFolderHierarchy", err, "IncludesLastFolderInRange")]
    scope = _in_scope(mb, root.folder_id)
    changes: list[Change] = []
    for fid in scope:
        folder = mb.folders[fid]
        if folder.seq > since:
            changes.append((folder.seq, "Create" if folder.created_seq > since else "Update", folder))
    for stone in mb.tombstones:
        if stone.seq > since and stone.kind == "folder" and stone.entered_seq <= since:
            changes.append((stone.seq, "Delete", stone))
    page, new_seq, last = _page(changes, 10**9, mb.seq)
    msg = response_message("SyncFolderHierarchy")
    sub(msg, M("SyncState"), encode_state(mb.address, root.folder_id, new_seq))
    sub(msg, M("IncludesLastFolderInRange"), fmt_bool(last))
    out = sub(msg, M("Changes"))
    for _, kind, obj in page:
        change = sub(out, T(kind))
        if isinstance(obj, Tombstone):
            sub(change, T("FolderId"), Id=obj.object_id, ChangeKey="AAAAAA==")
        else:
            assert isinstance(obj, StoredFolder)
            change.append(render_folder(ctx.store, obj, shape, True))
    return [msg]
