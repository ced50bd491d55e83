"""Seeding helpers: folders, messages and neutral items put straight into the store."""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING, Any, Optional

from lxml import etree

from groupmigrate.testing.ews.build import BuildOptions, build_item
from groupmigrate.testing.ews.layout import ROLE_TO_DISTINGUISHED
from groupmigrate.testing.ews.render import set_prop
from groupmigrate.testing.ews.soap import ResponseError
from groupmigrate.testing.ews.store import MailboxStore, StoredFolder
from groupmigrate.testing.ews.xmlns import T, fmt_bool, fmt_datetime, sub

if TYPE_CHECKING:
    from groupmigrate.testing.ews.server import EWSTestServer

__all__ = ["seed_folder", "seed_message", "seed_item", "lookup_folder", "KIND_CLASSES"]

KIND_CLASSES = {
    "mail": "IPF.Note",
    "contacts": "IPF.Contact",
    "calendar": "IPF.Appointment",
    "tasks": "IPF.Task",
    "notes": "IPF.StickyNote",
}
_KIND_DEFAULT_FOLDER = {"mail": "inbox", "contacts": "contacts", "calendar": "calendar", "tasks": "tasks",
                        "notes": "notes"}


def _mailbox(server: EWSTestServer, address: str) -> MailboxStore:
    mb = server.store.mailbox(address)
    if mb is None:
        raise KeyError(f"no mailbox {address!r}; call add_mailbox() first")
    return mb


def _child(server: EWSTestServer, mb: MailboxStore, parent_id: str, name: str) -> Optional[StoredFolder]:
    for folder in mb.children(parent_id):
        if folder.display_name == name:
            return folder
    for folder in mb.children(parent_id):
        if folder.display_name.lower() == name.lower():
            return folder
    return None


def _first(server: EWSTestServer, mb: MailboxStore, name: str) -> Optional[StoredFolder]:
    top = mb.distinguished["msgfolderroot"]
    found = _child(server, mb, top, name)
    if found is not None:
        return found
    key = ROLE_TO_DISTINGUISHED.get(name.lower(), name.lower())
    folder_id = mb.distinguished.get(key)
    return server.store.folders.get(folder_id) if folder_id else None


def lookup_folder(server: EWSTestServer, address: str, path: tuple[str, ...]) -> Optional[StoredFolder]:
    """The folder at ``path``; the first name may also be a well-known id or role (``inbox``, ``sent``)."""
    with server.store.lock:
        mb = _mailbox(server, address)
        if not path:
            return server.store.folders[mb.distinguished["msgfolderroot"]]
        folder = _first(server, mb, path[0])
        for name in path[1:]:
            if folder is None:
                return None
            folder = _child(server, mb, folder.folder_id, name)
        return folder


def seed_folder(server: EWSTestServer, address: str, path: tuple[str, ...], kind: str = "mail") -> str:
    if kind not in KIND_CLASSES:
        raise ValueError(f"kind must be one of {', '.join(KIND_CLASSES)}, got {kind!r}")
    if not path:
        raise ValueError("path must name at least one folder")
    store = server.store
    with store.lock:
        mb = _mailbox(server, address)
        folder = _first(server, mb, path[0])
        if folder is None:
            folder = store.create_folder(mb, mb.distinguished["msgfolderroot"], path[0], KIND_CLASSES[kind])
        for name in path[1:]:
            found = _child(server, mb, folder.folder_id, name)
            if found is None:
                found = store.create_folder(mb, folder.folder_id, name, KIND_CLASSES[kind])
            folder = found
        store.commit()
        return folder.folder_id


def _options(server: EWSTestServer, mb: MailboxStore) -> BuildOptions:
    return BuildOptions(owner=mb.address, owner_name=mb.display_name)


def seed_message(
    server: EWSTestServer,
    address: str,
    path: tuple[str, ...],
    mime: bytes,
    is_read: bool = False,
    flag: str = "NotFlagged",
    categories: tuple[str, ...] = (),
    importance: str = "Normal",
    received: Optional[dt.datetime] = None,
) -> str:
    from groupmigrate.testing.ews.convert import FLAG_STATUS, IMPORTANCE

    # EWS values, or the neutral ones of groupmigrate.items (FlagStatus, Importance)
    flag = FLAG_STATUS.get(flag, flag)
    importance = IMPORTANCE.get(importance, importance)
    request = etree.Element(T("Message"))
    sub(request, T("MimeContent"), base64.b64encode(mime).decode("ascii"))
    if categories:
        cats = sub(request, T("Categories"))
        for c in categories:
            sub(cats, T("String"), c)
    sub(request, T("Importance"), importance)
    sub(request, T("IsRead"), fmt_bool(is_read))
    return _store_built(server, address, path or ("inbox",), request, received=received, flag=flag, delivered=True)


def _store_built(
    server: EWSTestServer,
    address: str,
    path: tuple[str, ...],
    request: etree._Element,
    received: Optional[dt.datetime] = None,
    flag: Optional[str] = None,
    delivered: bool = False,
    attachments: Any = None,
    neutral: Any = None,
) -> str:
    store = server.store
    with store.lock:
        folder = lookup_folder(server, address, path)
        if folder is None:
            folder_id = seed_folder(server, address, path, "mail")
            folder = store.folders[folder_id]
        mb = store.mailboxes[folder.mailbox]
        try:
            built = build_item(request, _options(server, mb))
        except ResponseError as err:
            raise ValueError(f"cannot seed item: {err.code}: {err.text}") from None
        el = built.element
        if received is not None:
            set_prop(el, "DateTimeReceived", fmt_datetime(received, True))
        if delivered and el.find(T("IsDraft")) is not None:
            set_prop(el, "IsDraft", "false")
        if flag is not None and el.find(T("Flag")) is not None:
            new_flag = etree.Element(T("Flag"))
            sub(new_flag, T("FlagStatus"), flag)
            old_flag = el.find(T("Flag"))
            for date in list(old_flag) if old_flag is not None else []:
                if date.tag != T("FlagStatus"):  # dates set through their MAPI properties stay
                    new_flag.append(date)
            set_prop(el, "Flag", new_flag)
        if attachments:
            built.attachments.extend(attachments)
            set_prop(el, "HasAttachments", fmt_bool(any(not a.is_inline for a in built.attachments)))
            if el.tag == T("Contact"):
                set_prop(el, "HasPicture", fmt_bool(any(a.is_contact_photo for a in built.attachments)))
            size = len(etree.tostring(el)) + sum(a.size for a in built.attachments)
            set_prop(el, "Size", str(size))
        item = store.add_item(mb, folder, el, built.mime, built.attachments)
        from groupmigrate.testing.ews import calendar, convert

        calendar.after_create(store, item, request)
        if neutral is not None:
            convert.apply_server_values(neutral, item)
            store.save_item(item)
        store.commit()
        return item.item_id


def seed_item(server: EWSTestServer, address: str, item: Any, folder: Optional[tuple[str, ...]]) -> str:
    """Store a neutral item (``groupmigrate.items``) as the matching EWS item."""
    from groupmigrate.testing.ews import convert

    kind = getattr(item, "item_type", None)
    if kind not in _KIND_DEFAULT_FOLDER:
        raise TypeError(f"not a groupmigrate item: {item!r}")
    path = folder or (_KIND_DEFAULT_FOLDER[kind],)
    if kind == "mail":
        from groupmigrate.testing.ews.convert import FLAG_STATUS

        return _store_built(
            server, address, path, convert.message_request(item), received=item.received,
            flag=FLAG_STATUS[item.flag], delivered=True,
        )  # fmt: skip
    request, attachments = convert.to_request(item, address)
    if folder is not None and lookup_folder(server, address, path) is None:
        seed_folder(server, address, path, kind)
    return _store_built(server, address, path, request, attachments=attachments, neutral=item, delivered=True)
