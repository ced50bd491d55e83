"""The demo servers of ``groupmigrate demo``, one per backend and role.

Each side offers the same seeding calls (``add_mailbox``, ``seed_folder``, ``seed_message``,
``seed_item``, ``add_resolvable``), ``write_operations()`` (what the migration wrote to it),
``endpoint()`` (the Source or Destination that reaches it) and ``close()``. ``ews`` and
``memory`` serve both roles; ``imap`` runs a real Dovecot (Debian's ``dovecot-imapd``) on
loopback; an installed backend may offer its own through ``Backend.demo(role)``.
"""

from __future__ import annotations

from typing import Any

from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError

__all__ = ["CLIENT_ID", "DESTINATION_DOMAIN", "SOURCE_DOMAIN", "TENANT", "demo_side"]

SOURCE_DOMAIN, DESTINATION_DOMAIN = "contoso.com", "example.org"
TENANT, CLIENT_ID = "contoso-tenant", "groupmigrate-demo"


class _EWSSide:
    """An EWS test server as the demo's source (Exchange Online, app-only OAuth) or destination
    (WorkMail, an admin who impersonates the mailboxes)."""

    def __init__(self, role: str) -> None:
        from groupmigrate.testing import EWSTestServer

        self.role = role
        self.profile = "exchange-online" if role == "source" else "workmail"
        self.server = EWSTestServer(profile=self.profile)
        name = "Exchange Online" if role == "source" else "WorkMail"
        self.description = f"{name} test server {self.server.url}"
        if role == "source":
            self.server.add_oauth_app(TENANT, CLIENT_ID, "demo-client-secret")
        else:
            self.server.add_mailbox(f"migration-admin@{DESTINATION_DOMAIN}", password="demo-admin-password")

    @property
    def capabilities(self) -> Capabilities:
        from groupmigrate.backends.ews import PROFILES

        return PROFILES[self.profile].capabilities

    def __getattr__(self, name: str) -> Any:  # seeding goes to the test server itself
        return getattr(self.server, name)

    def add_mailbox(self, address: str, password: str | None = None) -> None:
        self.server.add_mailbox(address, password=password)
        if self.role == "destination":
            self.server.grant_impersonation(f"migration-admin@{DESTINATION_DOMAIN}", address)

    def endpoint(self) -> Any:
        from groupmigrate.backends.ews import EWSDestination, EWSSource

        if self.role == "source":
            auth = OAuth2ClientCredentials(TENANT, CLIENT_ID, "demo-client-secret", token_url=self.server.token_url(TENANT))
            return EWSSource(url=self.server.url, profile=self.profile, impersonation=True, auth=auth)
        admin = BasicAuth(f"migration-admin@{DESTINATION_DOMAIN}", "demo-admin-password")
        return EWSDestination(url=self.server.url, profile=self.profile, impersonation=True, auth=admin)

    def close(self) -> None:
        self.server.stop()


_ROLE_PATHS = {"contacts": ("Contacts",), "calendar": ("Calendar",), "tasks": ("Tasks",), "notes": ("Notes",), "mail": ("Inbox",)}


class _MemorySide:
    """The in-memory backend as a demo server: the same seeding calls, kept in this process."""

    def __init__(self, role: str) -> None:
        from groupmigrate.backends.memory import MEMORY_CAPABILITIES, MemoryServer

        self.role = role
        self.server = MemoryServer()
        self.capabilities = MEMORY_CAPABILITIES
        self.description = "in-memory mailboxes (backend memory)"

    def add_mailbox(self, address: str, password: str | None = None) -> None:
        self.server.add_mailbox(address)

    def seed_folder(self, address: str, path: tuple[str, ...], kind: str = "mail") -> None:
        self.server.folder(address, path, kind)  # type: ignore[arg-type]

    def seed_message(self, address: str, path: tuple[str, ...], mime: bytes, **fields: Any) -> None:
        from groupmigrate.items import Message

        received = fields.pop("received", None)
        self.server.add_item(address, path, Message.from_mime(mime, received=received, **fields), changed=received)

    def seed_item(self, address: str, item: Any) -> None:
        self.server.add_item(address, _ROLE_PATHS[item.item_type], item)

    def add_resolvable(self, x500: str, smtp: str) -> None:
        pass  # the memory source resolves no Exchange addresses: the sanitizer logs them

    def write_operations(self) -> list[Any]:
        return self.server.writes()

    def endpoint(self) -> Any:
        from groupmigrate.backends.memory import MemoryDestination, MemorySource

        return MemorySource(self.server) if self.role == "source" else MemoryDestination(self.server)

    def close(self) -> None:
        pass


class _IMAPSide:
    """A real Dovecot on loopback (IMAPS, its own throw-away CA), reached as a hosting
    migration would: the master user opens each mailbox (``alice@example.org*master``)."""

    def __init__(self, role: str) -> None:
        from groupmigrate.testing.dovecot import DovecotServer, find_dovecot

        if find_dovecot() is None:
            raise ConfigError(
                "the imap demo server is a real Dovecot, which is not installed here (Debian: "
                "apt-get install dovecot-imapd)", key=f"--{role}",
            )  # fmt: skip
        from groupmigrate.backends.imap.profiles import PROFILES

        self.role = role
        self.server = DovecotServer()
        self.capabilities: Capabilities = PROFILES["dovecot"]
        self.description = f"Dovecot (IMAPS) on {self.server.host}:{self.server.tls_port} (backend imap)"
        self._passwords: dict[str, str] = {}
        self._seen_writes: dict[str, int] = {}

    def add_mailbox(self, address: str, password: str | None = None) -> None:
        self._passwords[address] = password or f"{address.split('@')[0]}-imap-password"
        self.server.add_user(address, self._passwords[address])

    def _client(self, address: str) -> Any:
        import ssl

        from imapclient import IMAPClient

        context = ssl.create_default_context(cafile=self.server.ca_file)
        client = IMAPClient(self.server.host, self.server.tls_port, ssl=True, ssl_context=context)
        client.login(address, self._passwords[address])
        return client

    @staticmethod
    def _name(path: tuple[str, ...]) -> str:
        first = {"Inbox": "INBOX", "Sent Items": "Sent", "Deleted Items": "Trash"}.get(path[0], path[0])
        return "/".join((first, *path[1:]))

    def _ensure(self, client: Any, path: tuple[str, ...]) -> str:
        for depth in range(1, len(path) + 1):  # parents first
            name = self._name(path[:depth])
            if name != "INBOX" and not client.folder_exists(name):
                client.create_folder(name)
        return self._name(path)

    def seed_folder(self, address: str, path: tuple[str, ...], kind: str = "mail") -> None:
        if kind == "mail":
            client = self._client(address)
            try:
                self._ensure(client, path)
            finally:
                client.logout()

    def seed_message(self, address: str, path: tuple[str, ...], mime: bytes, **fields: Any) -> None:
        flags: list[bytes] = [b"\\Seen"] if fields.get("is_read") else []
        if str(fields.get("flag", "")).lower().endswith("flagged"):
            flags.append(b"\\Flagged")
        flags += [c.encode("ascii") for c in fields.get("categories", ()) if c.isascii() and " " not in c]
        client = self._client(address)
        try:
            client.append(self._ensure(client, path), mime, flags, fields.get("received"))
        finally:
            client.logout()
        self._seen_writes[address] = len(self.server.write_commands(address))  # seeding is not the migration

    def seed_item(self, address: str, item: Any) -> None:
        pass  # an IMAP server holds mail only: the route reports the other types as not migrated

    def add_resolvable(self, x500: str, smtp: str) -> None:
        pass

    def write_operations(self) -> list[Any]:
        if self.role != "source":
            return []
        return [cmd for address in self._passwords
                for cmd in self.server.write_commands(address)[self._seen_writes.get(address, 0):]]  # fmt: skip

    def endpoint(self) -> Any:
        from groupmigrate.backends.imap import IMAPDestination, IMAPSource

        cls = IMAPSource if self.role == "source" else IMAPDestination
        return cls(
            self.server.host, self.server.tls_port, BasicAuth(self.server.master_user, self.server.master_password),
            profile="dovecot", tls="implicit", ca_file=self.server.ca_file, admin_login="master-separator",
        )  # fmt: skip

    def close(self) -> None:
        self.server.stop()


class demo_side:  # noqa: N801 - used as a context manager, like open()
    """The demo server of backend ``name`` in ``role``: ``ews``, ``memory`` and ``imap`` in this
    package, or what an installed backend offers as ``Backend.demo(role)``."""

    def __init__(self, name: str, role: str) -> None:
        from groupmigrate.plugins import get_backend

        if name == "imap+dav":
            from groupmigrate.frontdoors.demo_hosting import CombinedSide, DAVSide

            mail = _IMAPSide(role)
            try:
                self.side: Any = CombinedSide(role, mail, DAVSide(role))
            except BaseException:
                mail.close()
                raise
            return
        backend = get_backend(name)
        if backend.demo is not None:
            self.side = backend.demo(role)
        elif name == "ews":
            self.side = _EWSSide(role)
        elif name == "memory":
            self.side = _MemorySide(role)
        elif name == "imap":
            self.side = _IMAPSide(role)
        elif name == "dav":
            from groupmigrate.frontdoors.demo_hosting import DAVSide

            self.side = DAVSide(role)
        else:
            raise ConfigError(f"backend {name!r} offers no demo server", key=f"--{role}")

    def __enter__(self) -> Any:
        return self.side

    def __exit__(self, *exc: object) -> None:
        self.side.close()
