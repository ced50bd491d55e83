"""Mailboxes, folders and items of the EWS test server, in memory and optionally on disk.

Every write bumps the mailbox's change number (``seq``); items and folders remember the
number of their last change and deletions leave tombstones, which is what sync states are
made of. With a ``store_dir`` every change is written through to an SQLite file, so a new
server over the same directory sees the same mailboxes, items, ids and sync states.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import pickle
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import attrs
from lxml import etree

from groupmigrate.testing.ews.xmlns import T, local, parse_datetime, utcnow

__all__ = [
    "Store",
    "MailboxStore",
    "StoredFolder",
    "StoredItem",
    "StoredAttachment",
    "Tombstone",
    "new_id",
    "FOLDER_TAG_BY_CLASS",
]

#: The folder element a FolderClass is written as.
FOLDER_TAG_BY_CLASS = {
    "IPF.Appointment": "CalendarFolder",
    "IPF.Contact": "ContactsFolder",
    "IPF.Task": "TasksFolder",
}

_ID_PREFIX = {"item": b"\x00\x03\x24\x00", "folder": b"\x00\x01\x2e\x00", "attachment": b"\x00\x03\x24\x01"}


def new_id(kind: str, mailbox: str) -> str:
    """A new opaque id: a kind prefix, a mailbox hash and random bytes, base64-encoded."""
    mbox = hashlib.sha1(mailbox.lower().encode()).digest()[:8]
    return base64.b64encode(_ID_PREFIX[kind] + mbox + secrets.token_bytes(24)).decode()


def new_change_key(seq: int) -> str:
    """A new change key; it changes on every write."""
    return base64.b64encode(b"CQAAABYA" + seq.to_bytes(6, "big") + secrets.token_bytes(6)).decode()


@attrs.define(eq=False)
class StoredAttachment:
    """An attachment of a stored item.

    ``kind`` is ``file`` (``content`` holds the bytes) or ``item`` (``item_xml`` holds the
    attached item's element, ``content`` its MIME when it came from a MIME message).
    """

    attachment_id: str
    kind: str
    name: str
    content: bytes = b""
    content_type: Optional[str] = None
    content_id: Optional[str] = None
    content_location: Optional[str] = None
    is_inline: bool = False
    is_contact_photo: bool = False
    item_xml: Optional[bytes] = None
    last_modified: dt.datetime = attrs.field(factory=utcnow)

    @property
    def size(self) -> int:
        if self.kind == "item" and not self.content and self.item_xml:
            return len(self.item_xml)
        return len(self.content)


@attrs.define(eq=False)
class StoredItem:
    """An item as the server holds it.

    ``element`` is the item element (``t:Message``, ``t:Contact``, ...) holding the item's
    properties in schema order, without ItemId, ParentFolderId, MimeContent and Attachments,
    which the server writes from the other attributes.
    """

    item_id: str
    mailbox: str
    folder_id: str
    change_key: str
    element: etree._Element
    mime: Optional[bytes] = None
    attachments: list[StoredAttachment] = attrs.field(factory=list)
    created: dt.datetime = attrs.field(factory=utcnow)
    modified: dt.datetime = attrs.field(factory=utcnow)
    seq: int = 0
    folder_seq: int = 0
    #: calendar masters: modified occurrences (original start ISO -> element) and deleted starts
    exceptions: dict[str, etree._Element] = attrs.field(factory=dict)
    deleted_occurrences: list[str] = attrs.field(factory=list)

    @property
    def tag(self) -> str:
        """The element name, e.g. ``Message`` or ``CalendarItem``."""
        return local(self.element.tag)

    @property
    def item_class(self) -> str:
        return self.text("ItemClass") or "IPM.Note"

    @property
    def props(self) -> dict[str, etree._Element]:
        """The property elements by local name (for ExtendedProperty, the last one)."""
        return {local(c.tag): c for c in self.element}

    def prop(self, name: str) -> Optional[etree._Element]:
        return self.element.find(T(name))

    def text(self, name: str) -> Optional[str]:
        el = self.element.find(T(name))
        return None if el is None else el.text

    @property
    def received(self) -> dt.datetime:
        text = self.text("DateTimeReceived")
        return parse_datetime(text) if text else self.created

    @property
    def size(self) -> int:
        text = self.text("Size")
        return int(text) if text else 0

    @property
    def is_read(self) -> bool:
        return (self.text("IsRead") or "false") == "true"

    def to_state(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "mailbox": self.mailbox,
            "folder_id": self.folder_id,
            "change_key": self.change_key,
            "element": etree.tostring(self.element),
            "mime": self.mime,
            "attachments": [attrs.asdict(a) for a in self.attachments],
            "created": self.created,
            "modified": self.modified,
            "seq": self.seq,
            "folder_seq": self.folder_seq,
            "exceptions": {k: etree.tostring(v) for k, v in self.exceptions.items()},
            "deleted_occurrences": list(self.deleted_occurrences),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StoredItem:
        state = dict(state)
        state["element"] = etree.fromstring(state["element"])
        state["attachments"] = [StoredAttachment(**a) for a in state["attachments"]]
        state["exceptions"] = {k: etree.fromstring(v) for k, v in state["exceptions"].items()}
        return cls(**state)


@attrs.define(eq=False)
class StoredFolder:
    """A folder as the server holds it."""

    folder_id: str
    mailbox: str
    parent_id: Optional[str]
    display_name: str
    folder_class: Optional[str]
    change_key: str
    distinguished: Optional[str] = None
    tag: str = "Folder"
    seq: int = 0
    created_seq: int = 0
    extended: list[bytes] = attrs.field(factory=list)
    #: PR_ATTR_HIDDEN: system folders clients do not show
    hidden: bool = False

    def to_state(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StoredFolder:
        return cls(**state)


@attrs.define(frozen=True)
class Tombstone:
    """A deletion, kept for sync states: what was deleted, from where, at which change number."""

    seq: int
    kind: str  # "item" or "folder"
    object_id: str
    folder_id: Optional[str]
    item_tag: str = "Message"
    #: change number at which the object entered the folder (was created)
    entered_seq: int = 0


@attrs.define(eq=False)
class MailboxStore:
    """One mailbox: its folders, items and change history."""

    address: str
    display_name: str
    seq: int = 0
    folders: dict[str, StoredFolder] = attrs.field(factory=dict)
    distinguished: dict[str, str] = attrs.field(factory=dict)
    folder_items: dict[str, dict[str, None]] = attrs.field(factory=dict)
    tombstones: list[Tombstone] = attrs.field(factory=list)
    legacy_dn: str = ""

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def children(self, folder_id: str) -> list[StoredFolder]:
        return [f for f in self.folders.values() if f.parent_id == folder_id]

    def descendants(self, folder_id: str) -> Iterator[StoredFolder]:
        """All folders below ``folder_id``, depth first, parents before children."""
        by_parent: dict[Optional[str], list[StoredFolder]] = {}
        for f in self.folders.values():
            by_parent.setdefault(f.parent_id, []).append(f)

        def walk(fid: str) -> Iterator[StoredFolder]:
            for child in by_parent.get(fid, []):
                yield child
                yield from walk(child.folder_id)

        return walk(folder_id)

    def meta_state(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "display_name": self.display_name,
            "seq": self.seq,
            "distinguished": dict(self.distinguished),
            "legacy_dn": self.legacy_dn,
        }


class _Persistence:
    """Write-through storage in one SQLite file (WAL journal; a transaction per request)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "ews-store.sqlite3"
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
            CREATE TABLE IF NOT EXISTS mailboxes (address TEXT PRIMARY KEY, state BLOB);
            CREATE TABLE IF NOT EXISTS folders (folder_id TEXT PRIMARY KEY, mailbox TEXT, state BLOB);
            CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, mailbox TEXT, seq INTEGER, state BLOB);
            CREATE TABLE IF NOT EXISTS tombstones (mailbox TEXT, seq INTEGER, state BLOB);
            """
        )
        self.in_tx = False

    def begin(self) -> None:
        if not self.in_tx:
            self.db.execute("BEGIN")
            self.in_tx = True

    def commit(self) -> None:
        if self.in_tx:
            self.db.execute("COMMIT")
            self.in_tx = False

    def put(self, sql: str, *args: Any) -> None:
        self.begin()
        self.db.execute(sql, args)

    def close(self) -> None:
        self.commit()
        self.db.close()


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


class Store:
    """All mailboxes of one server, plus the server's configuration data (users, grants...).

    Thread-safe: callers hold :attr:`lock` (re-entrant) around reads that must be consistent
    and every write; :meth:`commit` ends a write transaction.
    """

    def __init__(self, store_dir: Optional[os.PathLike[str] | str] = None) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, MailboxStore] = {}
        self.items: dict[str, StoredItem] = {}
        self.folders: dict[str, StoredFolder] = {}
        self.config: dict[str, Any] = {}
        #: attachment id -> id of the item holding it
        self.attachment_owner: dict[str, str] = {}
        self._sorted_cache: dict[str, tuple[int, list[StoredItem]]] = {}
        self._folder_version: dict[str, int] = {}
        self._db: Optional[_Persistence] = None
        if store_dir is not None:
            self._db = _Persistence(Path(store_dir))
            self._load()

    # -- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        assert self._db is not None
        db = self._db.db
        for key, value in db.execute("SELECT key, value FROM meta"):
            self.config[key] = pickle.loads(value)
        for (state,) in db.execute("SELECT state FROM mailboxes"):
            meta = pickle.loads(state)
            mb = MailboxStore(
                address=meta["address"],
                display_name=meta["display_name"],
                seq=meta["seq"],
                distinguished=meta["distinguished"],
                legacy_dn=meta.get("legacy_dn", ""),
            )
            self.mailboxes[mb.address] = mb
        for (state,) in db.execute("SELECT state FROM folders"):
            folder = StoredFolder.from_state(pickle.loads(state))
            mb = self.mailboxes[folder.mailbox]
            mb.folders[folder.folder_id] = folder
            mb.folder_items.setdefault(folder.folder_id, {})
            self.folders[folder.folder_id] = folder
        for (state,) in db.execute("SELECT state FROM items ORDER BY seq"):
            item = StoredItem.from_state(pickle.loads(state))
            self.items[item.item_id] = item
            self._index_attachments(item)
        # keep folder order by arrival in the folder
        for item in sorted(self.items.values(), key=lambda i: (i.folder_seq, i.seq)):
            self.mailboxes[item.mailbox].folder_items.setdefault(item.folder_id, {})[item.item_id] = None
        for mailbox, (state) in db.execute("SELECT mailbox, state FROM tombstones ORDER BY seq"):
            self.mailboxes[mailbox].tombstones.append(Tombstone(**pickle.loads(state)))

    def commit(self) -> None:
        """End the current write transaction (a no-op without a store directory)."""
        if self._db is not None:
            with self.lock:
                self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            with self.lock:
                self._db.close()
                self._db = None

    def save_config(self, key: str) -> None:
        if self._db is not None:
            self._db.put("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, _dumps(self.config[key]))

    def _save_mailbox(self, mb: MailboxStore) -> None:
        if self._db is not None:
            self._db.put(
                "INSERT OR REPLACE INTO mailboxes (address, state) VALUES (?, ?)", mb.address, _dumps(mb.meta_state())
            )

    def _save_folder(self, folder: StoredFolder) -> None:
        if self._db is not None:
            self._db.put(
                "INSERT OR REPLACE INTO folders (folder_id, mailbox, state) VALUES (?, ?, ?)",
                folder.folder_id,
                folder.mailbox,
                _dumps(folder.to_state()),
            )

    def _save_item(self, item: StoredItem) -> None:
        if self._db is not None:
            self._db.put(
                "INSERT OR REPLACE INTO items (item_id, mailbox, seq, state) VALUES (?, ?, ?, ?)",
                item.item_id,
                item.mailbox,
                item.seq,
                _dumps(item.to_state()),
            )

    def _tombstone(self, mb: MailboxStore, stone: Tombstone) -> None:
        mb.tombstones.append(stone)
        if self._db is not None:
            self._db.put(
                "INSERT INTO tombstones (mailbox, seq, state) VALUES (?, ?, ?)",
                mb.address,
                stone.seq,
                _dumps(attrs.asdict(stone)),
            )

    # -- mailboxes and folders ---------------------------------------------------------
    def mailbox(self, address: str) -> Optional[MailboxStore]:
        return self.mailboxes.get(address.lower())

    def add_mailbox(self, address: str, display_name: str, legacy_dn: str) -> tuple[MailboxStore, bool]:
        """Create a mailbox (or return the existing one); the flag tells whether it is new."""
        with self.lock:
            key = address.lower()
            found = self.mailboxes.get(key)
            if found is not None:
                return found, False
            mb = MailboxStore(address=key, display_name=display_name, legacy_dn=legacy_dn)
            self.mailboxes[key] = mb
            self._save_mailbox(mb)
            return mb, True

    def create_folder(
        self,
        mb: MailboxStore,
        parent_id: Optional[str],
        name: str,
        folder_class: Optional[str],
        distinguished: Optional[str] = None,
        tag: Optional[str] = None,
        hidden: bool = False,
    ) -> StoredFolder:
        with self.lock:
            seq = mb.next_seq()
            if tag is None:
                tag = "Folder"
                if folder_class:
                    for prefix, t in FOLDER_TAG_BY_CLASS.items():
                        if folder_class == prefix or folder_class.startswith(prefix + "."):
                            tag = t
            folder = StoredFolder(
                folder_id=new_id("folder", mb.address),
                mailbox=mb.address,
                parent_id=parent_id,
                display_name=name,
                folder_class=folder_class,
                change_key=new_change_key(seq),
                distinguished=distinguished,
                tag=tag,
                seq=seq,
                created_seq=seq,
                hidden=hidden,
            )
            mb.folders[folder.folder_id] = folder
            mb.folder_items[folder.folder_id] = {}
            self.folders[folder.folder_id] = folder
            if distinguished:
                mb.distinguished[distinguished] = folder.folder_id
            self._save_folder(folder)
            self._save_mailbox(mb)
            return folder

    def touch_folder(self, folder: StoredFolder) -> None:
        """Record a change of a folder's own properties."""
        with self.lock:
            mb = self.mailboxes[folder.mailbox]
            folder.seq = mb.next_seq()
            folder.change_key = new_change_key(folder.seq)
            self._save_folder(folder)
            self._save_mailbox(mb)

    def delete_folder(self, folder: StoredFolder) -> None:
        with self.lock:
            mb = self.mailboxes[folder.mailbox]
            for sub in list(mb.descendants(folder.folder_id)) + [folder]:
                for item_id in list(mb.folder_items.get(sub.folder_id, {})):
                    self.delete_item(self.items[item_id])
                seq = mb.next_seq()
                mb.folders.pop(sub.folder_id, None)
                mb.folder_items.pop(sub.folder_id, None)
                self.folders.pop(sub.folder_id, None)
                if sub.distinguished:
                    mb.distinguished.pop(sub.distinguished, None)
                self._tombstone(mb, Tombstone(seq, "folder", sub.folder_id, sub.parent_id, "Folder", sub.created_seq))
                if self._db is not None:
                    self._db.put("DELETE FROM folders WHERE folder_id = ?", sub.folder_id)
            self._save_mailbox(mb)

    def folder_path(self, folder: StoredFolder) -> tuple[str, ...]:
        names: list[str] = []
        f: Optional[StoredFolder] = folder
        while f is not None and f.parent_id is not None:
            names.append(f.display_name)
            f = self.folders.get(f.parent_id)
        return tuple(reversed(names))

    # -- items ---------------------------------------------------------------------------
    def _index_attachments(self, item: StoredItem) -> None:
        for att in item.attachments:
            self.attachment_owner[att.attachment_id] = item.item_id

    def _bump_folder(self, folder_id: str) -> None:
        self._folder_version[folder_id] = self._folder_version.get(folder_id, 0) + 1

    def add_item(
        self,
        mb: MailboxStore,
        folder: StoredFolder,
        element: etree._Element,
        mime: Optional[bytes] = None,
        attachments: Optional[list[StoredAttachment]] = None,
        created: Optional[dt.datetime] = None,
    ) -> StoredItem:
        with self.lock:
            seq = mb.next_seq()
            now = created or utcnow()
            item = StoredItem(
                item_id=new_id("item", mb.address),
                mailbox=mb.address,
                folder_id=folder.folder_id,
                change_key=new_change_key(seq),
                element=element,
                mime=mime,
                attachments=attachments or [],
                created=now,
                modified=now,
                seq=seq,
                folder_seq=seq,
            )
            self.items[item.item_id] = item
            self._index_attachments(item)
            mb.folder_items.setdefault(folder.folder_id, {})[item.item_id] = None
            self._bump_folder(folder.folder_id)
            self._save_item(item)
            self._save_mailbox(mb)
            return item

    def save_item(self, item: StoredItem) -> None:
        """Persist an item changed in place without recording a change (seeding only)."""
        with self.lock:
            self._index_attachments(item)
            self._save_item(item)

    def touch_item(self, item: StoredItem) -> None:
        """Record a change of an item (new change key, change number, modification time)."""
        with self.lock:
            mb = self.mailboxes[item.mailbox]
            item.seq = mb.next_seq()
            item.change_key = new_change_key(item.seq)
            item.modified = utcnow()
            self._index_attachments(item)
            self._bump_folder(item.folder_id)
            self._save_item(item)
            self._save_mailbox(mb)

    def move_item(self, item: StoredItem, folder: StoredFolder) -> None:
        with self.lock:
            mb = self.mailboxes[item.mailbox]
            old = item.folder_id
            mb.folder_items.get(old, {}).pop(item.item_id, None)
            seq = mb.next_seq()
            self._tombstone(mb, Tombstone(seq, "item", item.item_id, old, item.tag, item.folder_seq))
            item.folder_id = folder.folder_id
            item.folder_seq = mb.next_seq()
            item.seq = item.folder_seq
            item.change_key = new_change_key(item.seq)
            mb.folder_items.setdefault(folder.folder_id, {})[item.item_id] = None
            self._bump_folder(old)
            self._bump_folder(folder.folder_id)
            self._save_item(item)
            self._save_mailbox(mb)

    def delete_item(self, item: StoredItem) -> None:
        with self.lock:
            mb = self.mailboxes[item.mailbox]
            mb.folder_items.get(item.folder_id, {}).pop(item.item_id, None)
            self.items.pop(item.item_id, None)
            for att in item.attachments:
                self.attachment_owner.pop(att.attachment_id, None)
            seq = mb.next_seq()
            self._tombstone(mb, Tombstone(seq, "item", item.item_id, item.folder_id, item.tag, item.folder_seq))
            self._bump_folder(item.folder_id)
            if self._db is not None:
                self._db.put("DELETE FROM items WHERE item_id = ?", item.item_id)
            self._save_mailbox(mb)

    def items_in(self, folder_id: str) -> list[StoredItem]:
        """The items of a folder, in arrival order."""
        with self.lock:
            mb = self.mailboxes[self.folders[folder_id].mailbox]
            return [self.items[i] for i in mb.folder_items.get(folder_id, {})]

    def count_in(self, folder_id: str) -> int:
        mb = self.mailboxes[self.folders[folder_id].mailbox]
        return len(mb.folder_items.get(folder_id, {}))

    def folder_version(self, folder_id: str) -> int:
        return self._folder_version.get(folder_id, 0)

    def cached_view(self, folder_id: str, key: str) -> Optional[list[StoredItem]]:
        found = self._sorted_cache.get(f"{folder_id}|{key}")
        if found and found[0] == self.folder_version(folder_id):
            return found[1]
        return None

    def cache_view(self, folder_id: str, key: str, items: list[StoredItem]) -> None:
        if len(self._sorted_cache) > 256:
            self._sorted_cache.clear()
        self._sorted_cache[f"{folder_id}|{key}"] = (self.folder_version(folder_id), items)

    def content_hash(self, address: str) -> str:
        """A hash over the folders and items of a mailbox; equal hashes mean unchanged content."""
        h = hashlib.sha256()
        with self.lock:
            mb = self.mailboxes[address.lower()]
            for folder in sorted(mb.folders.values(), key=lambda f: f.folder_id):
                h.update(repr((folder.folder_id, folder.parent_id, folder.display_name, folder.folder_class)).encode())
                h.update(folder.change_key.encode())
                for item_id in sorted(mb.folder_items.get(folder.folder_id, {})):
                    item = self.items[item_id]
                    h.update(item.item_id.encode())
                    h.update(item.change_key.encode())
                    h.update(etree.tostring(item.element, method="c14n"))
                    h.update(item.mime or b"")
                    for att in item.attachments:
                        h.update(repr((att.attachment_id, att.name, att.content_type, att.is_inline)).encode())
                        h.update(att.content)
                        h.update(att.item_xml or b"")
        return h.hexdigest()
