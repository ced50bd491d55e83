"""Connections to an IMAP server: TLS, login, the read-only guard, a pool per mailbox, and
APPEND on the wire.

IMAPClient (on top of the standard library's imaplib) opens the connection, negotiates TLS
and parses answers. Two things are done here below its public surface, on imaplib's long
stable internals (``_new_tag``, ``send``, ``_get_response``, ``tagged_commands``):

- **the guard**: a connection opened for a migration source replaces its socket writer with
  one that reads each command line before it goes out and raises
  :class:`~groupmigrate.errors.SourceIsReadOnly` for anything but the read commands below
  (``SELECT`` included: a source only ever ``EXAMINE`` s), and for a ``FETCH`` that would set
  ``\\Seen`` (``BODY[...]`` without ``.PEEK``, ``RFC822``, ``RFC822.TEXT``). Whatever path a
  command takes through IMAPClient, it passes there;
- **APPEND**: sent by :meth:`IMAPConnection.append`, which knows exactly when the last byte
  of the command went out. A failure before that applied nothing (the server cannot run a
  command it did not receive whole); after it, the outcome is unknown and the caller
  reconciles (:class:`LostAnswer`).

imaplib's own debug output is switched off for every connection (IMAPClient turns it on and
relies on a filter to hide ``LOGIN`` lines); its in-memory log of recent lines, which would
hold them too, is disabled. No error raised here shows a password or a token.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import logging
import re
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import attrs
from imapclient import IMAPClient, SocketTimeout
from imapclient.datetime_util import datetime_to_INTERNALDATE
from imapclient.imap_utf7 import encode as encode_utf7
from imapclient.imapclient import seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response

from groupmigrate.auth import BasicAuth, Credentials, OAuth2ClientCredentials, TokenProvider
from groupmigrate.backends.imap.errors import (
    CommandRefused,
    login_error,
    refusal,
    scrub,
    server_text,
)
from groupmigrate.errors import (
    AuthenticationError,
    ConfigError,
    ConnectionFailed,
    GroupmigrateError,
    SourceIsReadOnly,
    Throttled,
)
from groupmigrate.oauth import TokenSource, token_source

__all__ = [
    "AppendAnswer",
    "BEARER_CREDENTIALS",
    "Examined",
    "IMAPConnection",
    "Login",
    "LostAnswer",
    "Outgoing",
    "Pool",
    "ServerSettings",
    "Slot",
    "bearer_tokens",
    "connect",
    "uid_set",
]

log = logging.getLogger("groupmigrate.imap")

T = TypeVar("T")

#: Commands a source connection may send (after the tag, ``UID`` stripped).
READ_COMMANDS = frozenset(
    {
        "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "LOGIN", "AUTHENTICATE", "ID", "ENABLE", "NAMESPACE",
        "LIST", "LSUB", "XLIST", "STATUS", "EXAMINE", "UNSELECT", "FETCH", "SEARCH", "ESEARCH", "SORT",
        "THREAD", "GETQUOTA", "GETQUOTAROOT", "MYRIGHTS", "GETACL", "LISTRIGHTS", "GETMETADATA", "IDLE",
    }
)  # fmt: skip
#: FETCH items that set \Seen: BODY[...] / BINARY[...] without .PEEK, RFC822, RFC822.TEXT
_SETS_SEEN = re.compile(rb"\b(?:BODY|BINARY)\[|\bRFC822(?:\.TEXT)?(?![.\w])", re.I)
#: an idle pooled connection older than this is checked with NOOP before it is used again
_IDLE_CHECK = 60.0
#: bytes handed to the socket at once while sending a literal (the send timeout is per chunk)
_CHUNK = 1 << 20


@attrs.frozen
class ServerSettings:
    """Where the server is and how to talk to it (the backend's options, checked)."""

    host: str
    port: int
    tls: str = "implicit"
    verify_tls: bool = True
    ca_file: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    auth_mechanism: str = "auto"
    admin_login: str = "plain-authzid"
    master_separator: str = "*"
    login_user: str = "address"
    max_connections: int = 4

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@attrs.frozen(repr=False)
class Login:
    """Who opens which mailbox: ``credentials`` are the mailbox's own, or (``admin``) the
    endpoint's admin credentials opening it on the owner's behalf."""

    mailbox: str
    credentials: Credentials
    admin: bool

    def __repr__(self) -> str:  # never the credentials
        return f"Login(mailbox={self.mailbox!r}, admin={self.admin})"


#: Credentials that log in with a bearer token (SASL XOAUTH2 or OAUTHBEARER).
BEARER_CREDENTIALS = (OAuth2ClientCredentials, TokenProvider)


def bearer_tokens(settings: ServerSettings, credentials: Credentials) -> TokenSource:
    """The token source of bearer-token credentials (:mod:`groupmigrate.oauth`): an app's
    client credentials grant (a token endpoint asked with the server's ``verify_tls`` and
    timeouts, the token kept until shortly before it expires), or an embedder's
    :class:`~groupmigrate.auth.TokenProvider`."""
    return token_source(credentials, verify_tls=settings.verify_tls, timeout=(settings.connect_timeout, settings.read_timeout))


@attrs.frozen
class Examined:
    """What EXAMINE said about a mailbox."""

    name: str
    exists: int
    uidvalidity: int
    uidnext: int | None
    highestmodseq: int | None


@attrs.frozen(repr=False)
class Outgoing:
    """One message to APPEND: its bytes, flags and internal date (``"01-Jan-2026 10:00:00 +0000"``)."""

    data: bytes
    flags: tuple[str, ...] = ()
    date: str | None = None

    def __repr__(self) -> str:
        return f"Outgoing({len(self.data)} bytes, flags={self.flags!r})"


@attrs.frozen
class AppendAnswer:
    """The tagged answer to an APPEND: ``status`` OK, NO or BAD, and its text."""

    status: str
    text: str


class LostAnswer(GroupmigrateError):
    """An APPEND went out whole and no answer came back; ``timed_out`` tells a timeout (the
    server may still be working on it) from a broken connection."""

    def __init__(self, message: str, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def internal_date(value: dt.datetime | None) -> str | None:
    """An INTERNALDATE for APPEND (English month names whatever the locale)."""
    return None if value is None else str(datetime_to_INTERNALDATE(value))


def uid_set(uids: Sequence[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` as ``1:3,7,9:10``."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = ordered[0] if ordered else 0
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if ordered:
        parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)


def quote(value: str) -> bytes:
    """A mailbox name as an IMAP quoted string (modified UTF-7)."""
    raw = bytes(encode_utf7(value))
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# --- opening a connection --------------------------------------------------------------------------


def _ssl_context(settings: ServerSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot use {settings.ca_file} as CA certificates: {getattr(exc, 'strerror', None) or exc}", key="ca_file") from None
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _tls_error(settings: ServerSettings, exc: ssl.SSLError) -> GroupmigrateError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "not trusted"
        return ConfigError(
            f"TLS: the certificate of the IMAP server {settings.where} could not be verified ({reason}); "
            "give the certificate of the CA that issued it with ca_file (or, for a test server only, "
            "verify_tls = false)",
            key="ca_file",
        )
    return ConnectionFailed(f"TLS: the handshake with the IMAP server {settings.where} failed ({exc.reason or exc})")


def _open_client(settings: ServerSettings) -> Any:
    """A connected IMAPClient (TLS negotiated, greeting read), not logged in."""
    context = _ssl_context(settings) if settings.tls != "none" else None
    try:
        client = IMAPClient(
            settings.host, port=settings.port, ssl=settings.tls == "implicit", ssl_context=context,
            timeout=SocketTimeout(settings.connect_timeout, settings.read_timeout),
        )  # fmt: skip
    except ssl.SSLError as exc:
        raise _tls_error(settings, exc) from None
    except TimeoutError:
        raise ConnectionFailed(f"the IMAP server {settings.where} did not answer within {settings.connect_timeout:g} s") from None
    except OSError as exc:
        raise ConnectionFailed(f"cannot reach the IMAP server {settings.where}: {exc.strerror or exc}") from None
    except imaplib.IMAP4.error as exc:  # a greeting other than OK: BYE (too many connections...)
        text = server_text(exc)
        error = login_error(text, f"IMAP server {settings.where}", ())
        if isinstance(error, Throttled):
            raise error from None
        raise ConnectionFailed(f"the IMAP server {settings.where} refused the connection: {text}") from None
    _quiet(client)
    if settings.tls == "starttls":
        if not client.has_capability("STARTTLS"):
            _drop(client)
            raise ConfigError(f"the IMAP server {settings.where} does not offer STARTTLS", key="tls")
        try:
            client.starttls(context)
        except ssl.SSLError as exc:
            _drop(client)
            raise _tls_error(settings, exc) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            _drop(client)
            raise ConnectionFailed(f"STARTTLS with the IMAP server {settings.where} failed: {server_text(exc)}") from None
    return client


def _quiet(client: Any) -> None:
    """No imaplib debug output, and no in-memory record of the lines sent (LOGIN among them)."""
    imap = client._imap
    imap.debug = 0
    imap._log = lambda *args, **kwargs: None
    if isinstance(getattr(imap, "_cmd_log", None), dict):
        imap._cmd_log.clear()


def _drop(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()


def login_name(settings: ServerSettings, address: str) -> str:
    """The IMAP user name of a mailbox address (``login_user``: the address or its local part)."""
    if settings.login_user == "local-part" and "@" in address:
        return address.rsplit("@", 1)[0]
    return address


class _Sasl:
    """A one-step SASL client: the initial response, then empty answers (to an error challenge)."""

    def __init__(self, first: str) -> None:
        self._first: str | None = first

    def __call__(self, challenge: bytes) -> str:
        first, self._first = self._first, None
        return first if first is not None else ""

    def __repr__(self) -> str:
        return "_Sasl()"


def _authenticate(client: Any, settings: ServerSettings, login: Login, tokens: TokenSource | None, *, renew: bool = False) -> str:
    """Log in as ``login`` says; returns how the login is named in messages."""
    creds = login.credentials
    offered = {bytes(c).decode("ascii", "replace").upper() for c in client.capabilities()}
    user = login_name(settings, login.mailbox)
    if isinstance(creds, BasicAuth):
        password = creds.password.reveal()
        secrets = (password,)
        admin = login.admin and settings.admin_login != "none" and creds.username.casefold() != user.casefold()
        mechanism = settings.auth_mechanism
        if admin and settings.admin_login == "plain-authzid":
            who = f"admin {creds.username!r} opening mailbox {login.mailbox!r} (SASL PLAIN, authorization id {user!r})"
            if "AUTH=PLAIN" not in offered:
                raise ConfigError(
                    f"{who}: the server offers no AUTHENTICATE PLAIN, which admin_login = \"plain-authzid\" needs; "
                    "try admin_login = \"master-separator\"",
                    key="admin_login",
                )
            _sasl(client, "PLAIN", _Sasl(f"{user}\0{creds.username}\0{password}"), who, secrets)
            return who
        username = f"{user}{settings.master_separator}{creds.username}" if admin else creds.username
        who = (f"admin {creds.username!r} opening mailbox {login.mailbox!r} (master user login {username!r})"
               if admin else f"user {username!r}")  # fmt: skip
        use_plain = mechanism == "plain" or (mechanism == "auto" and "AUTH=PLAIN" in offered)
        if use_plain:
            _sasl(client, "PLAIN", _Sasl(f"\0{username}\0{password}"), who, secrets)
            return who
        if "LOGINDISABLED" in offered:
            raise ConfigError(f"{who}: the server refuses LOGIN on this connection (LOGINDISABLED): use TLS", key="tls")
        if not password.isascii() or not username.isascii():
            raise AuthenticationError(
                f"{who}: LOGIN cannot carry non-ASCII user names or passwords, and the server offers no "
                "AUTHENTICATE PLAIN"
            )
        try:
            client.login(_quoted_str(username), password)
        except imaplib.IMAP4.abort as exc:
            raise ConnectionFailed(f"{who}: the connection broke while logging in ({scrub(server_text(exc), secrets)})") from None
        except imaplib.IMAP4.error as exc:
            raise login_error(server_text(exc), who, secrets) from None
        except OSError as exc:
            raise ConnectionFailed(f"{who}: the connection broke while logging in ({type(exc).__name__})") from None
        return who
    if isinstance(creds, BEARER_CREDENTIALS):
        if tokens is None:
            tokens = bearer_tokens(settings, creds)
        if isinstance(creds, OAuth2ClientCredentials):
            who = f"mailbox {user!r} (app-only OAuth token, client id {creds.client_id!r})"
        else:
            who = f"user {user!r} (OAuth bearer token)"
        mechanism = settings.auth_mechanism
        if mechanism == "auto":
            mechanism = "oauthbearer" if "AUTH=OAUTHBEARER" in offered else "xoauth2"
        token = tokens.token()
        if mechanism == "oauthbearer":
            gs2 = "n,a=" + user.replace("=", "=3D").replace(",", "=2C") + ","
            first, name = f"{gs2}\x01auth=Bearer {token}\x01\x01", "OAUTHBEARER"
        else:
            first, name = f"user={user}\x01auth=Bearer {token}\x01\x01", "XOAUTH2"
        try:
            _sasl(client, name, _Sasl(first), who, (token,))
        except AuthenticationError:
            tokens.invalidate(token)  # expired or revoked: the next login asks for a new one
            if renew:
                raise _RetryWithNewToken() from None  # on a fresh connection
            raise
        return who
    raise ConfigError(f"the IMAP backend takes basic, oauth2 or token credentials, not {type(creds).__name__}", key="auth")


class _RetryWithNewToken(Exception):
    pass


def _quoted_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sasl(client: Any, mechanism: str, answer: _Sasl, who: str, secrets: Sequence[str]) -> None:
    try:
        client.sasl_login(mechanism, answer)
    except imaplib.IMAP4.abort as exc:
        raise ConnectionFailed(f"{who}: the connection broke while logging in ({scrub(server_text(exc), secrets)})") from None
    except imaplib.IMAP4.error as exc:
        raise login_error(server_text(exc), who, secrets) from None
    except OSError as exc:
        raise ConnectionFailed(f"{who}: the connection broke while logging in ({type(exc).__name__})") from None


def connect(settings: ServerSettings, login: Login, *, read_only: bool, tokens: TokenSource | None = None) -> IMAPConnection:
    """A logged-in connection for ``login``'s mailbox; a source connection (``read_only``)
    is guarded from its first byte on.

    ``tokens`` is where bearer tokens come from for OAuth credentials (shared by the
    connections of an endpoint, see :func:`bearer_tokens`); a token the server refuses is
    invalidated and a new one tried once, on a new connection.

    Raises:
        ConfigError: TLS cannot be verified (``ca_file``), STARTTLS missing (``tls``), a login
            form the server cannot do.
        ConnectionFailed: the server cannot be reached, or the connection broke.
        Throttled: the server refused another connection (too many).
        AuthenticationError, AccessDenied: the login was refused (the message names the user
            and the form of login, never the password).
    """
    if isinstance(login.credentials, BEARER_CREDENTIALS) and tokens is None:
        tokens = bearer_tokens(settings, login.credentials)
    for renew in (True, False):  # a refused bearer token is renewed once, on a new connection
        client = _open_client(settings)
        try:
            connection = IMAPConnection(client, settings, read_only=read_only)
            try:
                connection.who = _authenticate(client, settings, login, tokens, renew=renew)
            except _RetryWithNewToken:
                _drop(client)
                continue
            connection.after_login()
            return connection
        except BaseException:
            _drop(client)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


# --- a connection ----------------------------------------------------------------------------------


class IMAPConnection:
    """One logged-in IMAP session. Every method makes one attempt and raises the project's
    errors: :class:`ConnectionFailed` when the connection broke (it is then ``broken`` and
    must be dropped), :class:`Throttled` / :class:`TransientError` for ``NO [LIMIT]`` /
    ``[UNAVAILABLE]``, :class:`CommandRefused` for any other ``NO``/``BAD``."""

    def __init__(self, client: Any, settings: ServerSettings, *, read_only: bool) -> None:
        self.client = client
        self.settings = settings
        self.read_only = read_only
        self.who = "IMAP session"
        self.broken = False
        self.selected: str | None = None
        self.last_used = time.monotonic()
        self._caps: frozenset[str] = frozenset()
        client.normalise_times = False  # aware datetimes
        if read_only:
            self._guard()

    def __repr__(self) -> str:
        return f"IMAPConnection({self.settings.where}, {self.who}, read_only={self.read_only})"

    # -- the guard --------------------------------------------------------------------------
    def _guard(self) -> None:
        imap = self.client._imap
        send = imap.send
        command = re.compile(re.escape(bytes(imap.tagpre)) + rb"\d+ (?:UID )?([A-Za-z]+)(.*)", re.S | re.I)

        def guarded_send(data: bytes) -> None:
            match = command.match(bytes(data))
            if match is not None:
                name = match.group(1).decode("ascii").upper()
                if name not in READ_COMMANDS:
                    raise SourceIsReadOnly(f"{name} refused: this IMAP connection reads a migration source")
                if name == "FETCH" and _SETS_SEEN.search(match.group(2)):
                    raise SourceIsReadOnly("FETCH of a body without .PEEK refused: it would mark the message as read")
            send(data)

        imap.send = guarded_send

    def refuse_if_source(self, command: str) -> None:
        if self.read_only:
            raise SourceIsReadOnly(f"{command} refused: this IMAP connection reads a migration source")

    # -- plumbing ---------------------------------------------------------------------------
    def after_login(self) -> None:
        self._caps = frozenset(bytes(c).decode("ascii", "replace").upper() for c in self.client.capabilities())
        if "CONDSTORE" in self._caps and "ENABLE" in self._caps:
            with contextlib.suppress(CommandRefused):
                self._call("ENABLE", None, lambda: self.client.enable("CONDSTORE"))

    def has(self, capability: str) -> bool:
        return capability.upper() in self._caps

    def capability_value(self, name: str) -> str | None:
        """The value of a ``NAME=value`` capability (``APPENDLIMIT=35651584``), or None."""
        prefix = name.upper() + "="
        for cap in self._caps:
            if cap.startswith(prefix):
                return cap[len(prefix):]
        return None

    def _call(self, command: str, target: str | None, fn: Callable[[], T]) -> T:
        if self.broken:
            raise ConnectionFailed(f"{command}: the connection to {self.settings.where} is closed")
        where = f" {target!r}" if target else ""
        try:
            result = fn()
        except SourceIsReadOnly:
            raise
        except TimeoutError:
            self.broken = True
            raise ConnectionFailed(f"{command}{where}: no answer from {self.settings.where} within {self.settings.read_timeout:g} s") from None
        except imaplib.IMAP4.abort as exc:
            self.broken = True
            raise ConnectionFailed(f"{command}{where}: the connection to {self.settings.where} broke ({server_text(exc)})") from None
        except OSError as exc:
            self.broken = True
            raise ConnectionFailed(f"{command}{where}: the connection to {self.settings.where} broke ({exc.strerror or type(exc).__name__})") from None
        except imaplib.IMAP4.error as exc:
            text = server_text(exc)
            status = "BAD" if "command error: BAD" in str(exc) else "NO"
            raise refusal(command, status, text, target) from None
        self.last_used = time.monotonic()
        return result

    # -- read commands ----------------------------------------------------------------------
    def noop(self) -> None:
        self._call("NOOP", None, self.client.noop)

    def namespaces(self) -> tuple[str, str | None, tuple[str, ...]]:
        """The personal namespace's prefix and delimiter (``("", "/")``, ``("INBOX.", ".")``),
        and the prefixes of the other users' and shared namespaces (NAMESPACE, RFC 2342)."""
        if not self.has("NAMESPACE"):
            return "", None, ()
        spaces = self._call("NAMESPACE", None, self.client.namespace)
        personal = list(spaces.personal or ())
        prefix, delimiter = personal[0] if personal else ("", None)
        others = tuple(str(p) for group in (spaces.other, spaces.shared) for p, _d in (group or ()) if p)
        return str(prefix or ""), (str(delimiter) if delimiter else None), others

    def list_folders(self) -> list[tuple[tuple[bytes, ...], str | None, str]]:
        """Every folder: ``(attributes, delimiter, name)``, special-use attributes included."""

        def run() -> list[Any]:
            if self.has("SPECIAL-USE") and self.has("LIST-EXTENDED"):
                imap = self.client._imap
                typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
                self.client._checkok("list", typ, data)
                typ, data = imap._untagged_response(typ, data, "LIST")
                return list(self.client._proc_folder_list(data))
            return list(self.client.list_folders())

        out = []
        for flags, delimiter, name in self._call("LIST", None, run):
            delim = None if delimiter is None else (delimiter.decode("utf-8", "replace") if isinstance(delimiter, bytes) else str(delimiter))
            out.append((tuple(bytes(f) for f in flags), delim, str(name)))
        return out

    def status(self, name: str, items: Sequence[str]) -> dict[str, int]:
        answer = self._call("STATUS", name, lambda: self.client.folder_status(name, list(items)))
        return {(k.decode() if isinstance(k, bytes) else str(k)).upper(): int(v) for k, v in answer.items()}

    def examine(self, name: str) -> Examined:
        """EXAMINE ``name`` (read-only: flags and \\Recent stay as they are)."""
        answer = self._call("EXAMINE", name, lambda: self.client.select_folder(name, readonly=True))
        self.selected = name

        def number(key: bytes) -> int | None:
            value = answer.get(key)
            return int(value) if value is not None else None

        return Examined(name, number(b"EXISTS") or 0, number(b"UIDVALIDITY") or 0, number(b"UIDNEXT"), number(b"HIGHESTMODSEQ"))

    def fetch(self, uids: Sequence[int] | str, items: Sequence[str], modifiers: Sequence[str] | None = None) -> dict[int, dict[bytes, Any]]:
        """UID FETCH of the selected mailbox; ``uids`` a list or a set like ``"1:*"``."""
        wanted: set[int] | None = None
        if not isinstance(uids, str):
            if not uids:
                return {}
            wanted = set(uids)
            uids = uid_set(uids)
        spec = uids

        def run() -> dict[int, dict[bytes, Any]]:
            imap = self.client._imap
            args = ["UID", "FETCH", spec, seq_to_parenstr_upper(list(items))]
            if modifiers:
                args.append(seq_to_parenstr_upper(list(modifiers)))
            tag = imap._command(*args)
            typ, data = imap._command_complete("FETCH", tag)
            self.client._checkok("fetch", typ, data)
            typ, data = imap._untagged_response(typ, data, "FETCH")
            parsed = parse_fetch_response(data, self.client.normalise_times, True)
            # unsolicited FETCH answers (flag changes of other messages) are left out
            return {int(uid): values for uid, values in parsed.items() if wanted is None or uid in wanted}

        return self._call("UID FETCH", self.selected, run)

    def search(self, criteria: Sequence[Any], charset: str | None = None) -> list[int]:
        found = self._call("UID SEARCH", self.selected, lambda: self.client.search(list(criteria), charset))
        return [int(u) for u in found]

    def quota_root(self) -> list[tuple[str, int, int]]:
        """``(resource, usage, limit)`` of INBOX's quota roots (STORAGE in KiB)."""

        def run() -> list[tuple[str, int, int]]:
            typ, data = self.client._imap.getquotaroot('"INBOX"')
            self.client._checkok("getquotaroot", typ, data)
            lines = data[1] if len(data) > 1 and isinstance(data[1], list) else []
            out = []
            for line in lines:
                text = bytes(line).decode("utf-8", "replace") if isinstance(line, (bytes, bytearray)) else str(line or "")
                inner = re.search(r"\(([^()]*)\)\s*$", text)
                words = inner.group(1).split() if inner else []
                for resource, usage, limit in zip(words[0::3], words[1::3], words[2::3]):
                    if usage.isdigit() and limit.isdigit():
                        out.append((resource.upper(), int(usage), int(limit)))
            return out

        return self._call("GETQUOTAROOT", "INBOX", run)

    # -- write commands (refused on a source connection before anything is sent) -------------
    def create(self, name: str) -> None:
        self.refuse_if_source("CREATE")
        self._call("CREATE", name, lambda: self.client.create_folder(name))

    def subscribe(self, name: str) -> None:
        self.refuse_if_source("SUBSCRIBE")
        self._call("SUBSCRIBE", name, lambda: self.client.subscribe_folder(name))

    def append(self, name: str, messages: Sequence[Outgoing]) -> AppendAnswer:
        """APPEND ``messages`` to ``name`` in one command (MULTIAPPEND, RFC 3502, when there
        are several: the caller checks the server offers it).

        Returns the tagged answer. Raises :class:`ConnectionFailed` when the connection broke
        before the whole command went out (nothing applied), :class:`LostAnswer` when it broke
        or timed out after (the outcome is unknown).
        """
        self.refuse_if_source("APPEND")
        if self.broken:
            raise ConnectionFailed(f"APPEND {name!r}: the connection to {self.settings.where} is closed")
        imap = self.client._imap
        literal_plus = self.has("LITERAL+")
        imap.untagged_responses.clear()
        tag = imap._new_tag()
        sent_whole = False
        try:
            pending = bytes(tag) + b" APPEND " + quote(name)
            for message in messages:
                if message.flags:
                    pending += b" (" + " ".join(message.flags).encode("ascii") + b")"
                if message.date:
                    pending += b' "' + message.date.encode("ascii") + b'"'
                pending += b" {%d%s}\r\n" % (len(message.data), b"+" if literal_plus else b"")
                imap.send(pending)
                pending = b""
                if not literal_plus:
                    if not self._continuation(tag):
                        break  # answered at once (NO/BAD): nothing more of this command is sent
                view = memoryview(message.data)
                for start in range(0, len(view), _CHUNK):
                    imap.send(view[start : start + _CHUNK])
            else:
                imap.send(b"\r\n")
                sent_whole = True
            while imap.tagged_commands.get(tag) is None:
                imap._get_response()
        except SourceIsReadOnly:
            raise
        except TimeoutError:
            self.broken = True
            if sent_whole:
                raise LostAnswer(f"APPEND {name!r}: sent, but no answer from {self.settings.where} within {self.settings.read_timeout:g} s", timed_out=True) from None
            raise ConnectionFailed(f"APPEND {name!r}: the server {self.settings.where} stopped reading before the message was sent whole (timeout); nothing was stored") from None
        except (imaplib.IMAP4.abort, OSError) as exc:
            self.broken = True
            reason = server_text(exc) if isinstance(exc, imaplib.IMAP4.abort) else (getattr(exc, "strerror", None) or type(exc).__name__)
            if sent_whole:
                raise LostAnswer(f"APPEND {name!r}: sent, but the connection to {self.settings.where} broke before the answer ({reason})", timed_out=False) from None
            raise ConnectionFailed(f"APPEND {name!r}: the connection to {self.settings.where} broke before the message was sent whole ({reason}); nothing was stored") from None
        except imaplib.IMAP4.error as exc:  # a protocol surprise (unexpected tagged response...)
            self.broken = True
            if sent_whole:
                raise LostAnswer(f"APPEND {name!r}: sent, but the answer could not be read ({server_text(exc)})", timed_out=False) from None
            raise ConnectionFailed(f"APPEND {name!r}: the exchange with {self.settings.where} failed before the message was sent whole ({server_text(exc)})") from None
        typ, data = imap.tagged_commands.pop(tag)
        imap.untagged_responses.clear()
        self.last_used = time.monotonic()
        text = server_text(data[0] if data else b"")
        return AppendAnswer(str(typ).upper(), text)

    def _continuation(self, tag: bytes) -> bool:
        """Wait for ``+`` (True) or the command's tagged answer (False)."""
        imap = self.client._imap
        while True:
            if imap._get_response() is None:  # a continuation request
                return True
            if imap.tagged_commands.get(tag) is not None:
                return False

    # -- closing ----------------------------------------------------------------------------
    def logout(self) -> None:
        if not self.broken:
            with contextlib.suppress(Exception):
                self.client.logout()
                return
        self.abort()

    def abort(self) -> None:
        self.broken = True
        _drop(self.client)


# --- a pool per mailbox ----------------------------------------------------------------------------


class Slot:
    """A connection borrowed from a :class:`Pool`; :meth:`reconnect` replaces a broken one
    without giving up the slot."""

    def __init__(self, pool: Pool, connection: IMAPConnection) -> None:
        self._pool = pool
        self.connection = connection

    def reconnect(self) -> IMAPConnection:
        self.connection.abort()
        self.connection = self._pool.open()
        return self.connection


class Pool:
    """At most ``limit`` connections for one mailbox, opened on demand and reused.

    Args:
        opener: opens (and logs in) one connection.
        limit: the most connections at once (``max_connections``; Dovecot refuses more
            than ``mail_max_userip_connections``, 10 by default, per user and client address).
    """

    def __init__(self, opener: Callable[[], IMAPConnection], limit: int) -> None:
        self._opener = opener
        self._slots = threading.BoundedSemaphore(max(1, limit))
        self._idle: list[IMAPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        # a mailbox dropped without close() leaves no socket open behind it
        weakref.finalize(self, _abort_all, self._idle)

    def open(self) -> IMAPConnection:
        return self._opener()

    @contextlib.contextmanager
    def slot(self) -> Iterator[Slot]:
        self._slots.acquire()
        try:
            connection = self._take()
            slot = Slot(self, connection)
            try:
                yield slot
            finally:
                self._give_back(slot.connection)
        finally:
            self._slots.release()

    @contextlib.contextmanager
    def connection(self) -> Iterator[IMAPConnection]:
        with self.slot() as slot:
            yield slot.connection

    def _take(self) -> IMAPConnection:
        while True:
            with self._lock:
                if self._closed:
                    raise ConnectionFailed("the mailbox was closed")
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._opener()
            if time.monotonic() - connection.last_used < _IDLE_CHECK:
                return connection
            try:  # idle for a while: the server may have logged it out
                connection.noop()
                return connection
            except GroupmigrateError:
                connection.abort()

    def _give_back(self, connection: IMAPConnection) -> None:
        with self._lock:
            if not connection.broken and not self._closed:
                self._idle.append(connection)
                return
        if not connection.broken:
            connection.logout()
        else:
            connection.abort()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.logout()


def _abort_all(connections: list[IMAPConnection]) -> None:
    for connection in list(connections):
        connection.abort()
    connections.clear()
