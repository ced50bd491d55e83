"""Folder operations: GetFolder, FindFolder, CreateFolder, UpdateFolder, DeleteFolder, EmptyFolder."""

from __future__ import annotations

from typing import Optional

from lxml import etree

from groupmigrate.testing.ews.context import Context
from groupmigrate.testing.ews.render import parse_folder_shape, render_folder
from groupmigrate.testing.ews.restrict import compile_restriction, folder_getter
from groupmigrate.testing.ews.service import register
from groupmigrate.testing.ews.soap import ResponseError, error_message, response_message
from groupmigrate.testing.ews.store import StoredFolder
from groupmigrate.testing.ews.xmlns import M, T, fmt_bool, local, sub

_DEFAULT_CLASS = {
    "Folder": "IPF.Note",
    "CalendarFolder": "IPF.Appointment",
    "ContactsFolder": "IPF.Contact",
    "TasksFolder": "IPF.Task",
    "SearchFolder": None,
}


def _with_distinguished(ctx: Context) -> bool:
    return ctx.version not in ("Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2")


def _ids(container: Optional[etree._Element]) -> list[etree._Element]:
    return [c for c in container if isinstance(c.tag, str)] if container is not None else []


@register("GetFolder")
def get_folder(ctx: Context) -> list[etree._Element]:
    shape = parse_folder_shape(ctx.op.find(M("FolderShape")))
    out = []
    for id_el in _ids(ctx.op.find(M("FolderIds"))):
        try:
            folder = ctx.resolve_folder(id_el)
        except ResponseError as err:
            out.append(error_message("GetFolder", err, "Folders"))
            continue
        msg = response_message("GetFolder")
        folders = sub(msg, M("Folders"))
        folders.append(render_folder(ctx.store, folder, shape, _with_distinguished(ctx), ctx.knobs.mailbox_quota_bytes))
        out.append(msg)
    return out


@register("FindFolder")
def find_folder(ctx: Context) -> list[etree._Element]:
    op = ctx.op
    shape = parse_folder_shape(op.find(M("FolderShape")))
    traversal = op.get("Traversal", "Shallow")
    view = op.find(M("IndexedPageFolderView"))
    restriction = op.find(M("Restriction"))
    predicate = None
    if restriction is not None and len(restriction):
        node = next(c for c in restriction if isinstance(c.tag, str))
        predicate = compile_restriction(node, lambda f, p: folder_getter(ctx.store, f, p))
    out = []
    for id_el in _ids(op.find(M("ParentFolderIds"))):
        try:
            parent = ctx.resolve_folder(id_el)
        except ResponseError as err:
            out.append(error_message("FindFolder", err))
            continue
        mb = ctx.store.mailboxes[parent.mailbox]
        if traversal == "Deep":
            found = list(mb.descendants(parent.folder_id))
        elif traversal == "SoftDeleted":
            found = []
        else:
            found = mb.children(parent.folder_id)
        if predicate is not None:
            found = [f for f in found if predicate(f)]
        total = len(found)
        offset, page = _page(view, found)
        msg = response_message("FindFolder")
        root = sub(
            msg,
            M("RootFolder"),
            IndexedPagingOffset=str(offset + len(page)),
            TotalItemsInView=str(total),
            IncludesLastItemInRange=fmt_bool(offset + len(page) >= total),
        )
        folders = sub(root, T("Folders"))
        wd = _with_distinguished(ctx)
        for f in page:
            folders.append(render_folder(ctx.store, f, shape, wd, ctx.knobs.mailbox_quota_bytes))
        out.append(msg)
    return out


def _page(view: Optional[etree._Element], rows: list[StoredFolder]) -> tuple[int, list[StoredFolder]]:
    if view is None:
        return 0, rows
    offset = int(view.get("Offset", "0"))
    base = view.get("BasePoint", "Beginning")
    limit = view.get("MaxEntriesReturned")
    n = int(limit) if limit else len(rows)
    if base == "End":
        start = max(len(rows) - offset - n, 0)
        end = max(len(rows) - offset, 0)
        return start, rows[start:end]
    return offset, rows[offset : offset + n]


@register("CreateFolder")
def create_folder(ctx: Context) -> list[etree._Element]:
    op = ctx.op
    try:
        parent = ctx.folder_of_container(op.find(M("ParentFolderId")))
    except ResponseError as err:
        return [error_message("CreateFolder", err, "Folders") for _ in _ids(op.find(M("Folders")))]
    mb = ctx.store.mailboxes[parent.mailbox]
    out = []
    for folder_el in _ids(op.find(M("Folders"))):
        tag = local(folder_el.tag)
        name_el = folder_el.find(T("DisplayName"))
        name = (name_el.text or "") if name_el is not None else ""
        class_el = folder_el.find(T("FolderClass"))
        folder_class = class_el.text if class_el is not None and class_el.text else _DEFAULT_CLASS.get(tag, "IPF.Note")
        if not name:
            out.append(error_message("CreateFolder", ResponseError(
                "ErrorInvalidFolderId", "The folder name is invalid."), "Folders"))
            continue
        if any(c.display_name.lower() == name.lower() for c in mb.children(parent.folder_id)):
            out.append(error_message("CreateFolder", ResponseError(
                "ErrorFolderExists", "A folder with the specified name already exists."), "Folders"))
            continue
        folder = ctx.store.create_folder(mb, parent.folder_id, name, folder_class, tag=tag if tag != "Folder" else None)
        for prop in folder_el.findall(T("ExtendedProperty")):
            folder.extended.append(etree.tostring(prop))
        msg = response_message("CreateFolder")
        folders = sub(msg, M("Folders"))
        created = sub(folders, T(folder.tag))
        sub(created, T("FolderId"), Id=folder.folder_id, ChangeKey=folder.change_key)
        out.append(msg)
    return out


@register("UpdateFolder")
def update_folder(ctx: Context) -> list[etree._Element]:
    out = []
    for change in _ids(ctx.op.find(M("FolderChanges"))):
        try:
            id_el = next(c for c in change if local(c.tag) in ("FolderId", "DistinguishedFolderId"))
            folder = ctx.resolve_folder(id_el)
            updates = change.find(T("Updates"))
            for upd in _ids(updates):
                kind = local(upd.tag)
                path = next(c for c in upd if isinstance(c.tag, str))
                uri = path.get("FieldURI", "")
                if kind == "SetFolderField":
                    value_folder = next(c for c in upd if isinstance(c.tag, str) and c is not path)
                    if uri == "folder:DisplayName":
                        name_el = value_folder.find(T("DisplayName"))
                        folder.display_name = name_el.text or "" if name_el is not None else folder.display_name
                    elif uri == "folder:FolderClass":
                        class_el = value_folder.find(T("FolderClass"))
                        folder.folder_class = class_el.text if class_el is not None else folder.folder_class
            ctx.store.touch_folder(folder)
        except ResponseError as err:
            out.append(error_message("UpdateFolder", err, "Folders"))
            continue
        except StopIteration:
            out.append(error_message("UpdateFolder", ResponseError("ErrorInvalidRequest", "The request is invalid."), "Folders"))
            continue
        msg = response_message("UpdateFolder")
        folders = sub(msg, M("Folders"))
        el = sub(folders, T(folder.tag))
        sub(el, T("FolderId"), Id=folder.folder_id, ChangeKey=folder.change_key)
        out.append(msg)
    return out


@register("DeleteFolder")
def delete_folder(ctx: Context) -> list[etree._Element]:
    out = []
    for id_el in _ids(ctx.op.find(M("FolderIds"))):
        try:
            folder = ctx.resolve_folder(id_el)
            if folder.distinguished:
                raise ResponseError("ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
            ctx.store.delete_folder(folder)
        except ResponseError as err:
            out.append(error_message("DeleteFolder", err))
            continue
        out.append(response_message("DeleteFolder"))
    return out


@register("EmptyFolder")
def empty_folder(ctx: Context) -> list[etree._Element]:
    delete_subfolders = (ctx.op.get("DeleteSubFolders", "false")).lower() in ("true", "1")
    out = []
    for id_el in _ids(ctx.op.find(M("FolderIds"))):
        try:
            folder = ctx.resolve_folder(id_el)
            for item in ctx.store.items_in(folder.folder_id):
                ctx.store.delete_item(item)
            if delete_subfolders:
                mb = ctx.store.mailboxes[folder.mailbox]
                for child in mb.children(folder.folder_id):
                    ctx.store.delete_folder(child)
        except ResponseError as err:
            out.append(error_message("EmptyFolder", err))
            continue
        out.append(response_message("EmptyFolder"))
    return out
