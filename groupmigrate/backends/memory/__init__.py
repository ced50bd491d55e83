"""An in-memory server: mailboxes held in Python objects, for embedders' tests and dry runs.

``MemoryServer`` holds mailboxes; ``MemorySource`` and ``MemoryDestination`` open them through
the same protocols as any other backend, so a migration can be rehearsed without a network.
It records every operation like the EWS test server does, keeps the provenance stamps
written with items, and can be told to fail chosen calls (:meth:`MemoryServer.inject`) before
or after applying them, the way a real link fails, or to hold an item it lists but cannot
read (:meth:`MemoryServer.break_item`), the way a damaged item is.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import attrs

from groupmigrate.auth import Auth, BasicAuth
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import AuthenticationError, GroupmigrateError, MailboxNotFound
from groupmigrate.items import Folder, Item, ItemRef, ItemType, Message
from groupmigrate.plugins import Backend, Option, Settings
from groupmigrate.protocols import CreateResult, Unreadable

__all__ = ["BACKEND", "MEMORY_CAPABILITIES", "MemoryDestination", "MemoryServer", "MemorySource"]

_ROLE_PATHS: dict[str, tuple[tuple[str, ...], ItemType]] = {
    "inbox": (("Inbox",), "mail"),
    "sent": (("Sent Items",), "mail"),
    "drafts": (("Drafts",), "mail"),
    "deleted": (("Deleted Items",), "mail"),
    "junk": (("Junk Email",), "mail"),
    "calendar": (("Calendar",), "calendar"),
    "contacts": (("Contacts",), "contacts"),
    "tasks": (("Tasks",), "tasks"),
    "notes": (("Notes",), "notes"),
}


@attrs.define
class _Mailbox:
    address: str
    password: str | None
    folders: dict[str, Folder] = attrs.field(factory=dict)
    items: dict[str, dict[str, Item]] = attrs.field(factory=dict)  # folder id -> item id -> item
    changed: dict[str, dt.datetime] = attrs.field(factory=dict)
    stamps: dict[str, str] = attrs.field(factory=dict)  # item id -> provenance stamp


class MemoryServer:
    """Mailboxes in memory. ``operations`` lists ``(mailbox, operation, is_write)``.

    Args:
        file: keep the mailboxes in this file: loaded when it exists, saved after every write
            (so that separate processes, e.g. the command line, can use the same mailboxes).
    """

    def __init__(self, file: str | os.PathLike[str] | None = None) -> None:
        self._mailboxes: dict[str, _Mailbox] = {}
        self._next_id = 1
        self.file = Path(file) if file is not None else None
        if self.file is not None and self.file.exists():
            self._mailboxes, self._next_id = pickle.loads(self.file.read_bytes())
        self._lock = threading.RLock()
        self.operations: list[tuple[str, str, bool]] = []
        self._faults: list[tuple[str, GroupmigrateError, bool]] = []
        self._broken: dict[tuple[str, str], str] = {}  # (mailbox, item id) -> why it cannot be read
        #: whether created items keep their stamps (set by the destination's capabilities)
        self.capabilities_keep_stamps = True

    def inject(self, operation: str, error: GroupmigrateError, *, after: bool = False, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` (e.g. ``"create_items"``) raise ``error``;
        with ``after=True`` the call is applied first and then its answer is lost."""
        with self._lock:
            self._faults.extend([(operation, error, after)] * times)

    def _fault(self, operation: str, after: bool) -> None:
        with self._lock:
            for index, (op, error, when) in enumerate(self._faults):
                if op == operation:
                    if when is not after:
                        return
                    del self._faults[index]
                    raise error

    def break_item(self, address: str, item_id: str, reason: str) -> None:
        """Make an item unreadable: still listed, but fetched as
        :class:`~groupmigrate.protocols.Unreadable` with ``reason``, until :meth:`repair_item`."""
        with self._lock:
            self._broken[(address.lower(), item_id)] = reason

    def repair_item(self, address: str, item_id: str) -> None:
        """Make an item broken by :meth:`break_item` readable again."""
        with self._lock:
            self._broken.pop((address.lower(), item_id), None)

    def delete_item(self, address: str, item_id: str) -> None:
        """Remove an item (as a user deleting it would)."""
        with self._lock:
            mbx = self.mailbox(address)
            for items in mbx.items.values():
                items.pop(item_id, None)
            mbx.stamps.pop(item_id, None)

    def add_mailbox(self, address: str, password: str | None = None) -> None:
        with self._lock:
            mbx = _Mailbox(address.lower(), password)
            self._mailboxes[mbx.address] = mbx
            for role, (path, kind) in _ROLE_PATHS.items():
                self._add_folder(mbx, Folder(path, kind=kind, role=role))

    def _add_folder(self, mbx: _Mailbox, folder: Folder) -> Folder:
        folder = attrs.evolve(folder, folder_id=f"F{self._new_id()}")
        mbx.folders[folder.folder_id] = folder  # type: ignore[index]
        mbx.items[folder.folder_id] = {}  # type: ignore[index]
        return folder

    def mailbox(self, address: str) -> _Mailbox:
        try:
            return self._mailboxes[address.lower()]
        except KeyError:
            raise MailboxNotFound(f"no mailbox {address}") from None

    def folder(self, address: str, path: Sequence[str], kind: ItemType = "mail") -> Folder:
        """The folder at ``path``, created with its parents when missing."""
        with self._lock:
            mbx = self.mailbox(address)
            found: Folder | None = None
            for depth in range(1, len(path) + 1):
                sub = tuple(path[:depth])
                found = next((f for f in mbx.folders.values() if f.path == sub), None)
                if found is None:
                    found = self._add_folder(mbx, Folder(sub, kind=kind))
            assert found is not None
            return found

    def add_item(
        self, address: str, path: Sequence[str], item: Item, changed: dt.datetime | None = None, stamp: str | None = None
    ) -> str:
        with self._lock:
            mbx = self.mailbox(address)
            folder = self.folder(address, path, item.item_type)
            item_id = f"I{self._new_id()}"
            mbx.items[folder.folder_id][item_id] = attrs.evolve(item, source_id=item_id)  # type: ignore[index]
            # listed by its received time, as a mail server lists it (``since`` compares with it)
            mbx.changed[item_id] = changed or getattr(item, "received", None) or dt.datetime.now(dt.timezone.utc)
            if stamp is not None:
                mbx.stamps[item_id] = stamp
            return item_id

    def rename_folder(self, address: str, path: Sequence[str], new_name: str) -> None:
        """Rename the folder at ``path`` (and the paths of its subfolders)."""
        with self._lock:
            mbx = self.mailbox(address)
            old = tuple(path)
            new = (*old[:-1], new_name)
            for fid, folder in list(mbx.folders.items()):
                if folder.path[: len(old)] == old:
                    mbx.folders[fid] = attrs.evolve(folder, path=new + folder.path[len(old) :])

    def items(self, address: str, path: Sequence[str]) -> list[Item]:
        with self._lock:
            mbx = self.mailbox(address)
            folder = next((f for f in mbx.folders.values() if f.path == tuple(path)), None)
            return [] if folder is None else list(mbx.items[folder.folder_id].values())  # type: ignore[index]

    def writes(self, address: str | None = None) -> list[tuple[str, str, bool]]:
        return [op for op in self.operations if op[2] and (address is None or op[0] == address.lower())]

    def _log(self, address: str, operation: str, is_write: bool) -> None:
        with self._lock:
            self.operations.append((address.lower(), operation, is_write))

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id - 1

    def save(self) -> None:
        """Write the mailboxes to ``file`` (done after every write when a file is given)."""
        if self.file is not None:
            with self._lock:
                tmp = self.file.with_name(self.file.name + ".tmp")
                tmp.write_bytes(pickle.dumps((self._mailboxes, self._next_id)))
                tmp.replace(self.file)


class _MemoryMailbox:
    def __init__(self, server: MemoryServer, address: str, auth: Auth | None) -> None:
        self.server = server
        self.address = address
        self._auth = auth

    def check(self) -> None:
        self.server._log(self.address, "check", False)
        mbx = self.server.mailbox(self.address)
        if mbx.password is not None:
            if not isinstance(self._auth, BasicAuth) or self._auth.password.reveal() != mbx.password:
                raise AuthenticationError(f"{self.address}: the server did not accept the password")

    def folders(self) -> list[Folder]:
        self.server._log(self.address, "folders", False)
        with self.server._lock:
            return sorted(self.server.mailbox(self.address).folders.values(), key=lambda f: (len(f.path), f.path))

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> Iterator[ItemRef]:
        self.server._log(self.address, "list_items", False)
        with self.server._lock:
            mbx = self.server.mailbox(self.address)
            refs = [
                ItemRef(item_id, _size(item), mbx.changed[item_id], item.item_type)
                for item_id, item in mbx.items[folder.folder_id].items()  # type: ignore[index]
                if since is None or mbx.changed[item_id] >= since
            ]
        return iter(refs)

    def count(self, folder: Folder) -> int:
        return sum(1 for _ in self.list_items(folder))

    def close(self) -> None:
        pass


def _size(item: Item) -> int:
    return item.size


class _SourceMailbox(_MemoryMailbox):
    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item | Unreadable]:
        self.server._log(self.address, "fetch", False)
        with self.server._lock:
            items = self.server.mailbox(self.address).items[folder.folder_id]  # type: ignore[index]
            broken = self.server._broken
            found: list[Item | Unreadable] = []
            for ref in refs:
                if ref.id not in items:
                    continue  # gone since it was listed
                reason = broken.get((self.address.lower(), ref.id))
                found.append(items[ref.id] if reason is None else Unreadable(ref.id, reason, items[ref.id].item_type))
        return iter(found)

    def resolve_addresses(self, addresses: Iterable[str]) -> dict[str, str | None]:
        self.server._log(self.address, "resolve", False)
        return {a: None for a in addresses}


class _DestinationMailbox(_MemoryMailbox):
    def ensure_folder(self, folder: Folder) -> Folder:
        with self.server._lock:
            mbx = self.server.mailbox(self.address)
            if folder.role is not None:
                found = next((f for f in mbx.folders.values() if f.role == folder.role), None)
                if found is not None:
                    return found
            existing = next((f for f in mbx.folders.values() if f.path == folder.path), None)
            if existing is not None:
                return existing
            self.server._log(self.address, "create_folder", True)
            created = self.server.folder(self.address, folder.path, folder.kind)
            self.server.save()
            return created

    def create_items(self, folder: Folder, items: Sequence[Item], stamps: Sequence[str] | None = None) -> list[CreateResult]:
        self.server._log(self.address, "create_items", True)
        self.server._fault("create_items", after=False)
        keep = self.server.capabilities_keep_stamps
        results = []
        for index, item in enumerate(items):
            stamp = stamps[index] if stamps is not None and keep else None
            item_id = self.server.add_item(self.address, folder.path, attrs.evolve(item, source_id=None), stamp=stamp)
            results.append(CreateResult(ok=True, item_id=item_id))
        self.server.save()
        self.server._fault("create_items", after=True)
        return results

    def existing(self, folder: Folder, item_type: ItemType) -> Iterator[Item]:
        self.server._log(self.address, "existing", False)
        self.server._fault("existing", after=False)
        for item in self.server.items(self.address, folder.path):
            if item.item_type == item_type:
                yield attrs.evolve(item, mime=b"") if isinstance(item, Message) else item

    def fetch_existing(self, folder: Folder, item_ids: Sequence[str]) -> Iterator[Item]:
        self.server._log(self.address, "fetch_existing", False)
        by_id = {item.source_id: item for item in self.server.items(self.address, folder.path)}
        return iter([by_id[i] for i in item_ids if i in by_id])

    def rename_folder(self, folder: Folder, name: str) -> Folder:
        self.server._log(self.address, "rename_folder", True)
        with self.server._lock:
            mbx = self.server.mailbox(self.address)
            current = mbx.folders[folder.folder_id]  # type: ignore[index]
            self.server.rename_folder(self.address, current.path, name)
            self.server.save()
            return mbx.folders[folder.folder_id]  # type: ignore[index]

    def find_stamps(self, folder: Folder, stamps: Iterable[str] | None = None) -> dict[str, list[str]]:
        self.server._log(self.address, "find_stamps", False)
        self.server._fault("find_stamps", after=False)
        wanted = None if stamps is None else set(stamps)
        with self.server._lock:
            mbx = self.server.mailbox(self.address)
            ids = {i.source_id for i in self.server.items(self.address, folder.path)}
            found: dict[str, list[str]] = {}
            for item_id, stamp in mbx.stamps.items():
                if item_id in ids and (wanted is None or stamp in wanted):
                    found.setdefault(stamp, []).append(item_id)
        return found

    def free_space(self) -> int | None:
        return None


#: What the in-memory server does: everything, stamps included.
MEMORY_CAPABILITIES = Capabilities(name="memory", supports_provenance=True, allows_mixed_folders=True)


class _Endpoint:
    def __init__(self, server: MemoryServer, capabilities: Capabilities | None = None) -> None:
        self.server = server
        self._capabilities = capabilities or MEMORY_CAPABILITIES
        if isinstance(self, MemoryDestination):
            server.capabilities_keep_stamps = self._capabilities.supports_provenance

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._capabilities.name!r})"


class MemorySource(_Endpoint):
    """Reads mailboxes of a :class:`MemoryServer`; it cannot write."""

    def open_mailbox(self, address: str, auth: Auth | None = None) -> _SourceMailbox:
        return _SourceMailbox(self.server, address, auth)


class MemoryDestination(_Endpoint):
    """Writes mailboxes of a :class:`MemoryServer`."""

    def open_mailbox(self, address: str, auth: Auth | None = None) -> _DestinationMailbox:
        return _DestinationMailbox(self.server, address, auth)


# --- as a plug-in --------------------------------------------------------------------------------

_SERVERS: dict[Path, MemoryServer] = {}


def _server(settings: Settings) -> MemoryServer:
    """One server per file in a process, so a source and a destination on one file share it."""
    file = settings.options.get("file")
    if file is None:
        return MemoryServer()
    path = Path(file).resolve()
    if path not in _SERVERS:
        _SERVERS[path] = MemoryServer(path)
    return _SERVERS[path]


def _memory_source(settings: Settings) -> MemorySource:
    return MemorySource(_server(settings))


def _memory_destination(settings: Settings) -> MemoryDestination:
    return MemoryDestination(_server(settings))


BACKEND = Backend(
    name="memory",
    summary="mailboxes held in memory (or in a file), for tests and rehearsals",
    options=(Option("file", "path", "keep the mailboxes in this file (loaded if it exists, saved after every write)"),),
    profiles={"memory": MEMORY_CAPABILITIES},
    default_profile="memory",
    credentials=("basic",),
    requires_credentials=False,
    source=_memory_source,
    destination=_memory_destination,
)
