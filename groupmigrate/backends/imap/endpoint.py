"""What IMAPSource and IMAPDestination share: checked settings, capabilities, logins, and the
mailbox plumbing (a connection pool per mailbox, the folder tree)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from groupmigrate.auth import Auth, BasicAuth, Credentials, OAuth2ClientCredentials, TokenProvider
from groupmigrate.backends.imap.connection import (
    BEARER_CREDENTIALS,
    Examined,
    IMAPConnection,
    Login,
    Pool,
    ServerSettings,
    bearer_tokens,
    connect,
)
from groupmigrate.backends.imap.convert import message_from_fetch, parse_item_id
from groupmigrate.backends.imap.errors import CommandRefused, is_missing
from groupmigrate.backends.imap.folders import FolderTree, Listed
from groupmigrate.backends.imap.profiles import PROFILES
from groupmigrate.backends.imap.settings import (
    ADMIN_LOGINS,
    AUTH_MECHANISMS,
    LOGIN_USERS,
    MAX_CONNECTIONS,
    TLS_MODES,
    is_loopback,
)
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError
from groupmigrate.items import Folder, Item
from groupmigrate.oauth import TokenSource

__all__ = ["FETCH_ITEMS", "IMAPEndpoint", "MailboxBase", "is_loopback"]

#: what a fetch of whole messages asks for
FETCH_ITEMS = ["UID", "BODY.PEEK[]", "FLAGS", "INTERNALDATE", "RFC822.SIZE"]

log = logging.getLogger("groupmigrate.imap")



_ACCEPTED = (BasicAuth, OAuth2ClientCredentials, TokenProvider)
_ACCEPTED_TEXT = "basic credentials, OAuth 2.0 client credentials or a token provider"


class IMAPEndpoint:
    """An IMAP server: where it is, how to log in, and what its profile says it keeps.

    Args:
        host: the server's host name or address.
        port: its port (default 993 with ``tls="implicit"``, else 143).
        auth: the endpoint's credentials: an admin who opens every mailbox (see
            ``admin_login``), or a user's own (:class:`~groupmigrate.auth.BasicAuth`); an
            app's :class:`~groupmigrate.auth.OAuth2ClientCredentials` (app-only tokens, e.g.
            Exchange Online with ``https://outlook.office365.com/.default``, the default
            scope) or a :class:`~groupmigrate.auth.TokenProvider`, whose bearer tokens log in
            to each mailbox with XOAUTH2 or OAUTHBEARER; None when every account brings its own.
        profile: ``"dovecot"`` or ``"generic"``.
        tls: ``"implicit"`` (IMAPS), ``"starttls"`` or ``"none"`` (loopback only: tests).
        verify_tls: check the server's certificate (default True).
        ca_file: PEM file of the CA certificates to trust instead of the system's.
        auth_mechanism: ``"auto"`` (AUTHENTICATE PLAIN where offered, else LOGIN; OAUTHBEARER,
            else XOAUTH2, for tokens), ``"login"``, ``"plain"``, ``"xoauth2"``, ``"oauthbearer"``.
        admin_login: how admin credentials open another user's mailbox: ``"plain-authzid"``
            (SASL PLAIN, RFC 4616: authorization id = the mailbox, authentication id = the
            admin), ``"master-separator"`` (Dovecot's master users: ``user*admin``) or
            ``"none"`` (the credentials are the mailbox's own).
        master_separator: the separator of ``"master-separator"`` logins (Dovecot's
            ``auth_master_user_separator``, default ``*``).
        login_user: the IMAP user name of a mailbox: its ``"address"`` or its ``"local-part"``.
        max_connections: connections per mailbox at most (Dovecot's
            ``mail_max_userip_connections`` is 10 by default).
        max_message_bytes: the largest message the server accepts, where it is known (Dovecot's
            ``quota_max_mail_size``, a provider's limit): becomes ``max_item_size``, so larger
            messages are skipped with their reason instead of being sent. A server announcing
            APPENDLIMIT has larger messages refused before they are sent in any case.
        connect_timeout, read_timeout: seconds.
    """

    read_only = False

    def __init__(
        self,
        host: str,
        port: int | None = None,
        auth: Auth | None = None,
        profile: str = "generic",
        *,
        tls: str = "implicit",
        verify_tls: bool = True,
        ca_file: str | Path | None = None,
        auth_mechanism: str = "auto",
        admin_login: str = "plain-authzid",
        master_separator: str = "*",
        login_user: str = "address",
        max_connections: int = 4,
        max_message_bytes: int | None = None,
        connect_timeout: float = 10,
        read_timeout: float = 60,
    ) -> None:
        if not host or not isinstance(host, str):
            raise ConfigError("is required (the IMAP server's host name)", key="host")
        if profile not in PROFILES:
            raise ConfigError(f"must be one of {', '.join(repr(p) for p in PROFILES)}, not {profile!r}", key="profile")
        for key, value, choices in (("tls", tls, TLS_MODES), ("admin_login", admin_login, ADMIN_LOGINS),
                                    ("auth_mechanism", auth_mechanism, AUTH_MECHANISMS), ("login_user", login_user, LOGIN_USERS)):  # fmt: skip
            if value not in choices:
                raise ConfigError(f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}", key=key)
        if tls == "none" and not is_loopback(host):
            raise ConfigError(
                f"tls = \"none\" sends passwords in clear text; it is accepted only for a server on this machine "
                f"(loopback), not {host!r}: use \"implicit\" or \"starttls\"",
                key="tls",
            )
        if auth is not None and not isinstance(auth, _ACCEPTED):
            raise ConfigError(f"the IMAP backend takes {_ACCEPTED_TEXT}, not {type(auth).__name__}", key="auth")
        if isinstance(auth, BEARER_CREDENTIALS) and auth_mechanism in ("login", "plain"):
            raise ConfigError(f"{auth_mechanism!r} needs a password; tokens go with \"xoauth2\" or \"oauthbearer\"", key="auth_mechanism")
        if admin_login == "plain-authzid" and auth_mechanism == "login":
            raise ConfigError("admin_login = \"plain-authzid\" needs AUTHENTICATE PLAIN, not LOGIN", key="auth_mechanism")
        if not master_separator or any(c.isspace() for c in master_separator):
            raise ConfigError("must be one or more characters, no white space", key="master_separator")
        if not 1 <= max_connections <= MAX_CONNECTIONS:
            raise ConfigError(f"must be an integer between 1 and {MAX_CONNECTIONS}", key="max_connections")
        for key, seconds in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not seconds > 0:
                raise ConfigError("must be a positive number of seconds", key=key)
        if max_message_bytes is not None and max_message_bytes < 1:
            raise ConfigError("must be a positive number of bytes", key="max_message_bytes")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"{ca_file} is not a file", key="ca_file")
        self.settings = ServerSettings(
            host=host, port=port or (993 if tls == "implicit" else 143), tls=tls, verify_tls=verify_tls,
            ca_file=str(ca_file) if ca_file is not None else None, connect_timeout=float(connect_timeout),
            read_timeout=float(read_timeout), auth_mechanism=auth_mechanism, admin_login=admin_login,
            master_separator=master_separator, login_user=login_user, max_connections=max_connections,
        )  # fmt: skip
        self.profile = profile
        self.auth = auth
        self.max_message_bytes = max_message_bytes
        # one token source per credentials object, shared by every mailbox of the endpoint (the
        # credentials are kept with it, so that their id is not reused while it is cached)
        self._tokens: dict[int, tuple[Credentials, TokenSource]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.settings.host!r}, port={self.settings.port}, tls={self.settings.tls!r}, profile={self.profile!r})"

    @property
    def capabilities(self) -> Capabilities:
        """What this server keeps, from its profile (connections from ``max_connections``)."""
        caps = attrs.evolve(PROFILES[self.profile], max_connections=self.settings.max_connections)
        if self.max_message_bytes is not None:
            caps = attrs.evolve(caps, max_item_size=self.max_message_bytes)
        return caps

    def _login(self, address: str, auth: Auth | None) -> tuple[Login, TokenSource | None]:
        if not address or not isinstance(address, str):
            raise ConfigError("a mailbox address is required", key="address")
        credentials = auth if auth is not None else self.auth
        if credentials is None:
            raise ConfigError(
                f"{address}: no credentials: give the endpoint's [auth] (an admin) or the account's own in the accounts file",
                key="auth",
            )
        if not isinstance(credentials, _ACCEPTED):
            raise ConfigError(f"the IMAP backend takes {_ACCEPTED_TEXT}, not {type(credentials).__name__}", key="auth")
        tokens = None
        if isinstance(credentials, BEARER_CREDENTIALS):
            with self._lock:
                cached = self._tokens.get(id(credentials))
                if cached is None:
                    cached = self._tokens[id(credentials)] = (credentials, bearer_tokens(self.settings, credentials))
                tokens = cached[1]
        return Login(address, credentials, admin=auth is None), tokens


class MailboxBase:
    """One mailbox: its connection pool and folder tree."""

    def __init__(self, endpoint: IMAPEndpoint, address: str, auth: Auth | None) -> None:
        self.address = address
        self.endpoint = endpoint
        self.settings = endpoint.settings
        self._login, self._tokens = endpoint._login(address, auth)
        read_only = endpoint.read_only
        self.pool = Pool(lambda: connect(self.settings, self._login, read_only=read_only, tokens=self._tokens), self.settings.max_connections)
        self._tree: FolderTree | None = None
        self._namespaces: tuple[str, str | None, tuple[str, ...]] | None = None
        self._tree_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r} on {self.settings.where})"

    def check(self) -> None:
        """Log in and look at INBOX: raises what stops the mailbox from being used."""
        with self.pool.connection() as conn:
            conn.status("INBOX", ["MESSAGES"])
            self._check_more(conn)

    def _check_more(self, conn: IMAPConnection) -> None:
        pass

    def tree(self, conn: IMAPConnection, *, fresh: bool = False) -> FolderTree:
        with self._tree_lock:
            if self._tree is not None and not fresh:
                return self._tree
            namespaces = self._namespaces
        if namespaces is None:
            namespaces = conn.namespaces()
        prefix, delimiter, others = namespaces
        tree = FolderTree(conn.list_folders(), prefix, delimiter, others)
        with self._tree_lock:
            self._tree, self._namespaces = tree, namespaces
        return tree

    def folders(self) -> list[Folder]:
        with self.pool.connection() as conn:
            return self.tree(conn, fresh=True).folders()

    def _listed(self, conn: IMAPConnection, folder: Folder) -> Listed | None:
        """The listed folder for ``folder`` (by the server name it carries, else by path)."""
        tree = self.tree(conn)
        if folder.folder_id:
            found = tree.by_name(folder.folder_id)
            if found is not None:
                return found
        found = tree.at(folder.path)
        if found is None:
            tree = self.tree(conn, fresh=True)
            found = (tree.by_name(folder.folder_id) if folder.folder_id else None) or tree.at(folder.path)
        return found

    def mailbox_name(self, conn: IMAPConnection, folder: Folder) -> str | None:
        """The server's name for ``folder``; None when it does not exist (or holds no mail)."""
        listed = self._listed(conn, folder)
        if listed is None or not listed.selectable or listed.name is None:
            return None
        return listed.name

    def examine(self, conn: IMAPConnection, folder: Folder) -> tuple[str, Examined] | None:
        """EXAMINE the folder: ``(name, what EXAMINE said)``, or None when it does not exist
        (any more) or holds no mail."""
        name = self.mailbox_name(conn, folder)
        if name is None:
            return None
        try:
            return name, conn.examine(name)
        except CommandRefused as exc:
            if is_missing(exc):  # deleted since it was listed
                log.info("%s: folder %s no longer exists (%s)", self.address, folder, exc.text)
                return None
            raise

    def fetch_messages(self, folder: Folder, ids: Sequence[str]) -> Iterator[Item]:
        """The messages ``ids`` with their MIME, in that order, in one UID FETCH (``BODY.PEEK[]``:
        nothing is marked read); ids gone (expunged, or of an earlier UIDVALIDITY) are left out."""
        with self.pool.connection() as conn:
            opened = self.examine(conn, folder)
            if opened is None:
                return iter(())
            box = opened[1]
            wanted = [(i, p[1]) for i, p in ((i, parse_item_id(i)) for i in ids) if p is not None and p[0] == box.uidvalidity]
            answer = conn.fetch([uid for _, uid in wanted], FETCH_ITEMS) if wanted else {}
        out: list[Item] = []
        for ident, uid in wanted:
            data = answer.get(uid)
            if data is not None and data.get(b"BODY[]") is not None:
                out.append(message_from_fetch(ident, data))
        return iter(out)

    def message_count(self, folder: Folder) -> int:
        with self.pool.connection() as conn:
            name = self.mailbox_name(conn, folder)
            if name is None:
                return 0
            try:
                return conn.status(name, ["MESSAGES"]).get("MESSAGES", 0)
            except CommandRefused as exc:
                if is_missing(exc):
                    return 0
                raise

    def close(self) -> None:
        self.pool.close()


def describe_options(values: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :class:`IMAPEndpoint` from the backend's checked options."""
    return {k: v for k, v in values.items() if v is not None}
