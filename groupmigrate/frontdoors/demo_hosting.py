"""Demo servers of a hosting account: a real Radicale (CalDAV/CardDAV), and IMAP + DAV joined.

``groupmigrate demo --destination imap+dav`` moves the sample Exchange Online mailboxes into
what a hosting panel runs: mail into a real Dovecot, calendars, tasks, notes and contacts into
a real Radicale, as one account per user (one state, one report, one verify). Each user logs
in to both with the same password, as hosting accounts do; the demo gives the migration
each account's credentials (the accounts file's columns).
"""

from __future__ import annotations

import uuid
from typing import Any

from groupmigrate.auth import BasicAuth
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError

__all__ = ["CombinedSide", "DAVSide"]

#: the collections a seeded mailbox gets, per item type: (name, display name, component)
_COLLECTIONS = {
    "calendar": ("calendar", "Calendar", "VEVENT"),
    "tasks": ("tasks", "Tasks", "VTODO"),
    "notes": ("notes", "Notes", "VJOURNAL"),
}


class DAVSide:
    """A real Radicale on loopback (plain HTTP on 127.0.0.1, htpasswd users): each mailbox is
    a Radicale user named by its address, reached with that user's own password."""

    def __init__(self, role: str) -> None:
        from groupmigrate.testing.radicale import RadicaleServer, find_radicale

        if find_radicale() is None:
            raise ConfigError("the dav demo server is a real Radicale, which is not installed here "
                              "(pip install radicale)", key=f"--{role}")  # fmt: skip
        from groupmigrate.backends.dav.profiles import PROFILES

        self.role = role
        self.server = RadicaleServer()
        self.capabilities: Capabilities = PROFILES["radicale"]
        self.description = f"Radicale (CalDAV/CardDAV) on {self.server.url} (backend dav)"
        self._passwords: dict[str, str] = {}
        self._made: set[str] = set()
        self._mark = 0

    def add_mailbox(self, address: str, password: str | None = None) -> None:
        self._passwords[address] = password or f"{address.split('@')[0]}-dav-password"
        self.server.add_user(address, self._passwords[address])

    def account_auth(self, address: str) -> BasicAuth:
        return BasicAuth(address, self._passwords[address])

    def _collection(self, address: str, kind: str) -> str:
        if kind == "contacts":
            href = f"/{address}/contacts/"
            if href not in self._made:
                self.server.make_addressbook(address, "contacts", display_name="Contacts")
        else:
            name, display, component = _COLLECTIONS[kind]
            href = f"/{address}/{name}/"
            if href not in self._made:
                self.server.make_calendar(address, name, display_name=display, components=(component,))
        self._made.add(href)
        return href

    def seed_folder(self, address: str, path: tuple[str, ...], kind: str = "mail") -> None:
        if kind != "mail":
            self._collection(address, kind)

    def seed_message(self, address: str, path: tuple[str, ...], mime: bytes, **fields: Any) -> None:
        pass  # a DAV server holds no mail: the route reports it as not migrated

    def seed_item(self, address: str, item: Any) -> None:
        from groupmigrate.backends.dav.ical import item_to_ical
        from groupmigrate.backends.dav.vcard import contact_to_vcard

        uid = getattr(item, "uid", None) or str(uuid.uuid4())
        href = self._collection(address, item.item_type)
        if item.item_type == "contacts":
            self.server.put(address, f"{href}{uuid.uuid4()}.vcf", contact_to_vcard(item, uid=uid))
        else:
            self.server.put(address, f"{href}{uuid.uuid4()}.ics", item_to_ical(item, uid=uid))
        self._mark = self.server.log_mark()  # seeding is not the migration

    def add_resolvable(self, x500: str, smtp: str) -> None:
        pass

    def write_operations(self) -> list[Any]:
        if self.role != "source":
            return []
        return [op for address in self._passwords for op in self.server.write_operations(address, since=self._mark)]

    def endpoint(self) -> Any:
        from groupmigrate.backends.dav import DavDestination, DavSource

        cls = DavSource if self.role == "source" else DavDestination
        return cls(self.server.url, profile="radicale", principal_url="/{user}/")

    def close(self) -> None:
        self.server.stop()


class CombinedSide:
    """A hosting account: mail on one demo server, the other item types on another."""

    def __init__(self, role: str, mail: Any, groupware: Any) -> None:
        from groupmigrate.core.combined import CombinedDestination, CombinedSource

        self.role, self.mail, self.groupware = role, mail, groupware
        self._parts = {"mail": mail, **{t: groupware for t in ("contacts", "calendar", "tasks", "notes")}}
        combined = CombinedSource if role == "source" else CombinedDestination
        self._endpoint = combined({t: side.endpoint() for t, side in self._parts.items()})
        self.capabilities: Capabilities = self._endpoint.capabilities
        self.description = f"mail: {mail.description}\n              groupware: {groupware.description}"
        self.server = self

    def add_mailbox(self, address: str, password: str | None = None) -> None:
        password = password or f"{address.split('@')[0]}-hosting-password"
        self.mail.add_mailbox(address, password)
        self.groupware.add_mailbox(address, password)

    def account_auth(self, address: str) -> BasicAuth:
        auth: BasicAuth = self.groupware.account_auth(address)
        return auth

    def seed_folder(self, address: str, path: tuple[str, ...], kind: str = "mail") -> None:
        self._parts[kind].seed_folder(address, path, kind)

    def seed_message(self, address: str, path: tuple[str, ...], mime: bytes, **fields: Any) -> None:
        self.mail.seed_message(address, path, mime, **fields)

    def seed_item(self, address: str, item: Any) -> None:
        self._parts[item.item_type].seed_item(address, item)

    def add_resolvable(self, x500: str, smtp: str) -> None:
        pass

    def write_operations(self) -> list[Any]:
        return [*self.mail.write_operations(), *self.groupware.write_operations()]

    def endpoint(self) -> Any:
        return self._endpoint

    def close(self) -> None:
        try:
            self.mail.close()
        finally:
            self.groupware.close()
