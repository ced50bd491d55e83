"""A tiny third-party groupmigrate backend: mail kept as .eml files in directories.

``<root>/<mailbox>/<folder>/<subfolder>/<n>.eml``; the provenance stamp of each message this
backend wrote is kept in ``<root>/<mailbox>/stamps.json``. It uses only groupmigrate's public
plug-in API and is registered through the ``groupmigrate.backends`` entry point
``dirmail = gm_dirmail:BACKEND``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import MailboxNotFound
from groupmigrate.items import Folder, ItemRef, Message
from groupmigrate.plugins import Backend, Option
from groupmigrate.protocols import CreateResult

CAPABILITIES = Capabilities(name="dirmail", item_types={"mail"}, supports_provenance=True, stores_exact_mime=True)
_LOCK = threading.Lock()


class _Mailbox:
    def __init__(self, root: Path, address: str) -> None:
        self.address = address
        self.base = root / address.lower()

    def check(self) -> None:
        if not self.base.is_dir():
            raise MailboxNotFound(f"{self.address}: no directory {self.base}")

    def folders(self) -> list[Folder]:
        found = [p.relative_to(self.base).parts for p in sorted(self.base.rglob("*")) if p.is_dir()]
        return [Folder(path, role="inbox" if path == ("Inbox",) else None, folder_id="/".join(path)) for path in found]

    def _dir(self, folder: Folder) -> Path:
        return self.base.joinpath(*folder.path)

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> list[ItemRef]:
        return [ItemRef(p.stem, p.stat().st_size) for p in sorted(self._dir(folder).glob("*.eml"))]

    def fetch(self, folder: Folder, refs: list[ItemRef]) -> list[Message]:
        out = []
        for ref in refs:
            path = self._dir(folder) / f"{ref.id}.eml"
            if path.exists():
                out.append(Message.from_mime(path.read_bytes(), source_id=ref.id))
        return out

    def count(self, folder: Folder) -> int:
        return len(self.list_items(folder))

    def close(self) -> None:
        pass

    # -- writing --
    def ensure_folder(self, folder: Folder) -> Folder:
        path = ("Inbox",) if folder.role == "inbox" else folder.path
        self.base.joinpath(*path).mkdir(parents=True, exist_ok=True)
        return Folder(path, role=folder.role, folder_id="/".join(path))

    def _stamps(self) -> dict[str, str]:
        file = self.base / "stamps.json"
        return json.loads(file.read_text()) if file.exists() else {}

    def create_items(self, folder: Folder, items: list[Message], stamps: list[str] | None = None) -> list[CreateResult]:
        results = []
        with _LOCK:
            known = self._stamps()
            for index, item in enumerate(items):
                n = 1 + max((int(p.stem) for p in self._dir(folder).glob("*.eml")), default=0)
                (self._dir(folder) / f"{n}.eml").write_bytes(item.mime)
                if stamps is not None:
                    known[f"{folder.folder_id}/{n}"] = stamps[index]
                results.append(CreateResult(ok=True, item_id=str(n)))
            (self.base / "stamps.json").write_text(json.dumps(known))
        return results

    def existing(self, folder: Folder, item_type: str) -> list[Message]:
        return self.fetch(folder, self.list_items(folder))

    def fetch_existing(self, folder: Folder, item_ids: list[str]) -> list[Message]:
        return self.fetch(folder, [ItemRef(i) for i in item_ids])

    def find_stamps(self, folder: Folder, stamps: list[str] | None = None) -> dict[str, list[str]]:
        prefix = f"{folder.folder_id}/"
        found: dict[str, list[str]] = {}
        for key, stamp in self._stamps().items():
            if key.startswith(prefix) and (stamps is None or stamp in stamps):
                if (self._dir(folder) / f"{key[len(prefix):]}.eml").exists():
                    found.setdefault(stamp, []).append(key[len(prefix) :])
        return found


class _Endpoint:
    capabilities = CAPABILITIES

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def open_mailbox(self, address: str, auth: object = None) -> _Mailbox:
        return _Mailbox(self.root, address)


BACKEND = Backend(
    name="dirmail",
    summary="mail as .eml files in directories (a third-party example)",
    options=(Option("root", "path", "the directory holding one directory per mailbox", required=True),),
    profiles={"dirmail": CAPABILITIES},
    default_profile="dirmail",
    requires_credentials=False,
    source=lambda settings: _Endpoint(settings.options["root"]),
    destination=lambda settings: _Endpoint(settings.options["root"]),
)
