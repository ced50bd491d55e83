"""Shared pieces of the reliability tests: routes between two EWS test servers, deterministic
mail, what a server holds per folder (by key or by full content), fault counting, loopback
proxies (TLS, lost answers, injected faults of every kind) and migrations in their own process.

Everything here talks to real servers over loopback HTTP; nothing of groupmigrate is replaced.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import email.parser
import email.policy
import hashlib
import ipaddress
import random
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from groupmigrate.accounts import AccountPair
from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
from groupmigrate.core.migrator import Migrator
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.ews import Knobs

UTC = dt.timezone.utc
SOURCE_DOMAIN = "contoso.com"
DESTINATION_DOMAIN = "example.org"
TENANT = "contoso-tenant"
CLIENT_ID = "gm-reliability-app"
#: Recognizable secrets: a test greps for them everywhere they must not be.
CLIENT_SECRET = "Cl1ent-S3cret-4c9e"
ADMIN = f"admin@{DESTINATION_DOMAIN}"
ADMIN_PASSWORD = "S3cr3t-Pw-7f2a"
#: A fixed "now" keeps generated mail identical from run to run.
NOW = dt.datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


# --- deterministic mail ------------------------------------------------------------------------


def rfc2822(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def mail(
    n: int,
    *,
    user: str = "user",
    when: dt.datetime | None = None,
    subject: str | None = None,
    message_id: str | None = "auto",
    body: str | None = None,
    attachment: tuple[str, bytes] | None = None,
    sender: str | None = None,
    rng: random.Random | None = None,
) -> bytes:
    """A small RFC 5322 message, the same bytes for the same arguments.

    ``message_id="auto"`` gives ``<n.user@fabrikam.example>``; None leaves the header out.
    """
    when = when or NOW - dt.timedelta(hours=n)
    rng = rng or random.Random(n)
    subject = subject if subject is not None else f"Report {n} for {user}"
    body = body if body is not None else ("Lorem ipsum dolor sit amet. " * rng.randint(2, 40)).strip()
    headers = [
        f"From: {sender or f'Partner {n % 17} <partner{n % 17}@fabrikam.example>'}",
        f"To: {user}@{SOURCE_DOMAIN}",
        f"Subject: {subject}",
        f"Date: {rfc2822(when)}",
    ]
    if message_id == "auto":
        headers.append(f"Message-ID: <{n}.{user}@fabrikam.example>")
    elif message_id is not None:
        headers.append(f"Message-ID: {message_id}")
    headers.append("MIME-Version: 1.0")
    if attachment is None:
        headers.append("Content-Type: text/plain; charset=utf-8")
        return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode("utf-8")
    import base64

    name, content = attachment
    boundary = f"b-{n}-{rng.randrange(10**8)}"
    encoded = base64.encodebytes(content).decode("ascii").replace("\n", "\r\n")
    headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    parts = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n"
        f"Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{encoded}\r\n--{boundary}--\r\n"
    )
    return ("\r\n".join(headers) + "\r\n\r\n" + parts).encode("utf-8")


def seed_mails(server: EWSTestServer, address: str, folder: tuple[str, ...], numbers: range, user: str) -> list[bytes]:
    """Seed ``mail(n)`` for each n into ``folder``; returns the MIME seeded."""
    seeded = []
    for n in numbers:
        mime = mail(n, user=user)
        server.seed_message(address, folder, mime, is_read=n % 3 == 0, received=NOW - dt.timedelta(hours=n))
        seeded.append(mime)
    return seeded


# --- routes between two test servers ----------------------------------------------------------------


@attrs.define
class Route:
    """A source server (Exchange Online-like, app-only OAuth) and a destination server
    (WorkMail-like, an admin with impersonation), with the endpoints that reach them."""

    source_server: EWSTestServer
    destination_server: EWSTestServer
    source: Any
    destination: Any
    state: str
    register: Callable[..., None] | None = None

    def add_user(self, user: str) -> AccountPair:
        """Create ``user``'s mailbox on both sides (and the admin's grant on the destination)."""
        src_address, dst_address = f"{user}@{SOURCE_DOMAIN}", f"{user}@{DESTINATION_DOMAIN}"
        self.source_server.add_mailbox(src_address)
        self.destination_server.add_mailbox(dst_address)
        self.destination_server.grant_impersonation(ADMIN, dst_address)
        return AccountPair(src_address, dst_address)

    def register_source(self) -> None:
        """Snapshot the source (after seeding) for the suite-wide immutability check."""
        if self.register is not None:
            self.register(self.source_server, label=f"source of {Path(self.state).parent.name} ({self.source_server.url})")

    def migrator(self, **kwargs: Any) -> Migrator:
        kwargs.setdefault("state", self.state)
        return Migrator(self.source, self.destination, **kwargs)


def endpoints(
    source_server: EWSTestServer,
    destination_server: EWSTestServer,
    *,
    source_profile: str = "exchange-online",
    destination_profile: str = "workmail",
    **kwargs: Any,
) -> tuple[Any, Any]:
    source = EWSSource(
        url=source_server.url, profile=source_profile, impersonation=True,
        auth=OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=source_server.token_url(TENANT)),
        **kwargs,
    )  # fmt: skip
    destination = EWSDestination(
        url=destination_server.url, profile=destination_profile, impersonation=True,
        auth=BasicAuth(ADMIN, ADMIN_PASSWORD), **kwargs,
    )  # fmt: skip
    return source, destination


def prepare_servers(source_server: EWSTestServer, destination_server: EWSTestServer) -> None:
    source_server.add_oauth_app(TENANT, CLIENT_ID, CLIENT_SECRET)
    destination_server.add_mailbox(ADMIN, password=ADMIN_PASSWORD)


@contextlib.contextmanager
def open_route(
    tmp_path: Path,
    *,
    register: Callable[..., None] | None = None,
    source_profile: str = "exchange-online",
    destination_profile: str = "workmail",
    source_dir: Path | None = None,
    destination_dir: Path | None = None,
    **endpoint_kwargs: Any,
) -> Iterator[Route]:
    """Two running test servers and the endpoints to them; everything is closed afterwards."""
    with EWSTestServer(profile=source_profile, store_dir=source_dir) as src, EWSTestServer(
        profile=destination_profile, store_dir=destination_dir
    ) as dst:
        prepare_servers(src, dst)
        source, destination = endpoints(
            src, dst, source_profile=source_profile, destination_profile=destination_profile, **endpoint_kwargs
        )
        route = Route(src, dst, source, destination, str(tmp_path / "migration.db"), register)
        try:
            yield route
        finally:
            source.close()
            destination.close()


# --- what a server holds -----------------------------------------------------------------------------

_ROLE_NAMES = {
    "inbox": "@inbox", "sentitems": "@sent", "drafts": "@drafts", "deleteditems": "@deleted",
    "junkemail": "@junk", "outbox": "@outbox", "calendar": "@calendar", "contacts": "@contacts",
    "tasks": "@tasks", "notes": "@notes",
}  # fmt: skip


def item_key(item: Any) -> tuple[str, ...]:
    """What a user would check of a stored item.

    Mail: Message-ID, subject (the Date when there is no Message-ID), a digest of the whole
    MIME (so a truncated or altered message differs) and the read state. Other items: the
    type, the title, and each attachment's name and size.
    """
    if item.tag == "Message" and item.mime is not None:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(item.mime)
        mid = str(headers.get("Message-ID") or "").strip()
        subject = str(headers.get("Subject") or "")
        digest = hashlib.sha256(item.mime).hexdigest()[:16]
        read = "read" if item.is_read else "unread"
        return ("mail", mid, subject, str(headers.get("Date") or "") if not mid else "", digest, read)
    title = item.text("Subject") or item.text("DisplayName") or item.text("FileAs") or ""
    attachments = ",".join(sorted(f"{a.name}:{a.size}" for a in item.attachments))
    return (item.tag, title, attachments)


def inventory(
    server: EWSTestServer, address: str, key: Callable[[Any], tuple[str, ...]] | None = None
) -> dict[tuple[str, ...], collections.Counter[tuple[str, ...]]]:
    """Per folder (well-known folders by role, others by path), a multiset of item keys
    (:func:`item_key`, or ``key``, e.g. :func:`content_key` for full content).

    Read straight from the server's store, independently of the client under test.
    Empty folders are left out.
    """
    key = key or item_key
    out: dict[tuple[str, ...], collections.Counter[tuple[str, ...]]] = {}
    for path in server.folder_paths(address):
        try:
            items = server.folder_items(address, path)
        except KeyError:
            continue
        if not items:
            continue
        out[_logical(server, address, path)] = collections.Counter(key(i) for i in items)
    return out


def _logical(server: EWSTestServer, address: str, path: tuple[str, ...]) -> tuple[str, ...]:
    first = server.find_folder(address, path[:1])
    role = _ROLE_NAMES.get(first.distinguished or "")
    return ((role,) if role else path[:1]) + tuple(path[1:])


def total(inv: dict[Any, collections.Counter[Any]]) -> int:
    return sum(sum(c.values()) for c in inv.values())


def differences(source: dict[Any, collections.Counter[Any]], destination: dict[Any, collections.Counter[Any]]) -> list[str]:
    """Human-readable differences between two inventories (empty when equal)."""
    problems = []
    for folder in sorted(set(source) | set(destination)):
        want, got = source.get(folder, collections.Counter()), destination.get(folder, collections.Counter())
        missing, extra = want - got, got - want
        if missing:
            problems.append(f"{'/'.join(folder)}: {sum(missing.values())} missing, e.g. {list(missing)[:3]}")
        if extra:
            dupes = {k: n for k, n in extra.items() if k in want}
            problems.append(
                f"{'/'.join(folder)}: {sum(extra.values())} extra ({sum(dupes.values())} duplicates), e.g. {list(extra)[:3]}"
            )
    return problems


# --- fault counting ----------------------------------------------------------------------------------

_FAULT_KNOBS = ("reset_rate", "http503_rate", "http500_rate", "throttle_rate", "partial_batch_rate", "lost_answer_rate")
_FAULTS: dict[int, collections.Counter[str]] = {}
_FAULTS_LOCK = threading.Lock()


class _CountingKnobs(Knobs):  # type: ignore[misc]
    """The server's own knobs, counting each fault the server decides to inject.

    The class of the server's knobs object is switched to this one (same slots), so the
    server's behaviour and random sequence stay exactly as they are.
    """

    __slots__ = ()

    def roll(self, rate: float) -> bool:
        hit = super().roll(rate)
        if hit:
            kind = next((k for k in _FAULT_KNOBS if getattr(self, k, None) == rate), "other")
            with _FAULTS_LOCK:
                _FAULTS.setdefault(id(self), collections.Counter())[kind] += 1
        return hit


def inject_faults(server: EWSTestServer, *, seed: int, backoff_ms: int = 20, **rates: float) -> None:
    """Switch on faults (``reset_rate=0.02, ...``) with a seeded sequence, and count them.

    Each rate must differ from the others, so that a counted fault can be told by its rate.
    """
    values = [v for v in rates.values() if v]
    assert len(values) == len(set(values)), f"give each fault a distinct rate: {rates}"
    knobs = server.knobs
    if type(knobs) is not _CountingKnobs:
        knobs.__class__ = _CountingKnobs
    for name, value in rates.items():
        assert name in _FAULT_KNOBS, name
        setattr(knobs, name, value)
    knobs.backoff_ms = backoff_ms
    knobs.fault_seed = seed


def faults_injected(server: EWSTestServer) -> collections.Counter[str]:
    with _FAULTS_LOCK:
        return collections.Counter(_FAULTS.get(id(server.knobs), {}))


# --- loopback proxies ---------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1/localhost; returns (certfile, keyfile)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "groupmigrate test server")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(UTC) + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(certfile), str(keyfile)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (no orderly shutdown)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Proxy:
    """A loopback TCP listener handing each accepted connection to ``handle`` in a thread."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"proxy:{self.port}")
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._socks.append(conn)
            threading.Thread(target=self._guard, args=(conn,), daemon=True).start()

    def _guard(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pump(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            b.shutdown(socket.SHUT_WR)


class TLSProxy(_Proxy):
    """Terminates TLS (with the given certificate) and forwards the bytes to a plain-HTTP server."""

    def __init__(self, upstream_port: int, certfile: str, keyfile: str) -> None:
        self._upstream = upstream_port
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(certfile, keyfile)
        self.handshakes_failed = 0
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def handle(self, conn: socket.socket) -> None:
        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1
            return
        upstream = socket.create_connection(("127.0.0.1", self._upstream))
        back = threading.Thread(target=_pump, args=(upstream, tls), daemon=True)
        back.start()
        _pump(tls, upstream)
        back.join(timeout=30)
        upstream.close()
        tls.close()


def _read_http_message(sock: socket.socket, buffer: bytearray) -> bytes | None:
    """One HTTP/1.1 message (head and Content-Length body) from ``sock``; None at EOF."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            return None
        buffer += data
    head_end = buffer.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buffer[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(buffer) < head_end + length:
        data = sock.recv(65536)
        if not data:
            return None
        buffer += data
    message = bytes(buffer[: head_end + length])
    del buffer[: head_end + length]
    return message


class LostAnswerProxy(_Proxy):
    """Forwards HTTP requests to a server and, for chosen requests, drops the answer.

    ``drop(request_bytes, n)`` decides, for the n-th request whose body contains ``match``,
    whether the server's answer is thrown away and the client's connection reset: the server
    has done the work, the client never learns it. Models a connection broken just after a
    write was applied, the case a retry must not turn into a duplicate.
    """

    def __init__(self, upstream_port: int, match: bytes, drop_numbers: set[int]) -> None:
        self._upstream = upstream_port
        self._match = match
        self._drop = set(drop_numbers)
        self._seen = 0
        self._lock = threading.Lock()
        self.dropped = 0
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self._upstream))
        inbound, outbound = bytearray(), bytearray()
        try:
            while True:
                request = _read_http_message(conn, inbound)
                if request is None:
                    return
                upstream.sendall(request)
                answer = _read_http_message(upstream, outbound)
                if answer is None:
                    _reset(conn)
                    return
                drop = False
                if self._match in request:
                    with self._lock:
                        self._seen += 1
                        drop = self._seen in self._drop
                        self.dropped += drop
                if drop:
                    _reset(conn)
                    return
                conn.sendall(answer)
                if b"\r\nconnection: close" in answer[: answer.index(b"\r\n\r\n")].lower():
                    return
        finally:
            upstream.close()


# --- a deterministic mixed workload -----------------------------------------------------------------

#: Mail folders of the workload (under the top of the mailbox) and their share of the mail.
WORKLOAD_FOLDERS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("Inbox",), 40),
    (("Inbox", "Projects"), 15),
    (("Inbox", "Projects", "2026"), 10),
    (("Sent Items",), 15),
    (("Kunden – Ärger",), 10),
    (("Archiv", "Alt"), 10),
)


def seed_workload(
    server: EWSTestServer,
    address: str,
    *,
    mails: int,
    contacts: int = 0,
    events: int = 0,
    tasks: int = 0,
    notes: int = 0,
    seed: int = 0,
) -> dict[str, int]:
    """Seed a deterministic mix: mail over several folders (some with attachments, some
    non-ASCII), contacts, single and recurring calendar items, tasks and notes.

    Returns the number of items per item type.
    """
    from groupmigrate.items import Contact, Event, Note, Phone, Task

    rng = random.Random(seed)
    user = address.split("@", 1)[0]
    weights = [w for _, w in WORKLOAD_FOLDERS]
    for folder, _ in WORKLOAD_FOLDERS[1:]:
        server.seed_folder(address, folder, "mail")
    for n in range(mails):
        folder = rng.choices(WORKLOAD_FOLDERS, weights)[0][0]
        attachment = (f"scan-{n}.bin", rng.randbytes(rng.randint(0, 4000))) if n % 25 == 0 else None
        subject = f"=?utf-8?q?=C3=9Cbersicht_{n}?=" if n % 7 == 0 else None
        mime = mail(n, user=user, subject=subject, attachment=attachment, rng=rng)
        server.seed_message(
            address, folder, mime, is_read=n % 3 == 0, flag="Flagged" if n % 11 == 0 else "NotFlagged",
            categories=("Finance",) if n % 13 == 0 else (), received=NOW - dt.timedelta(hours=n),
        )  # fmt: skip
    for n in range(contacts):
        server.seed_item(
            address,
            Contact(
                display_name=f"Contact {n:04d}", given_name=f"Given{n}", surname=f"Surname{n}",
                emails=(f"contact{n}@northwind.example",), phones=(Phone("business", f"+49 30 {1000000 + n}"),),
                company="Northwind" if n % 2 else None,
            ),
        )  # fmt: skip
    for n in range(events):
        start = (NOW + dt.timedelta(days=n % 40, hours=n % 8)).replace(minute=0, second=0)
        server.seed_item(
            address,
            Event(
                subject=f"Meeting {n:04d}", start=start, end=start + dt.timedelta(minutes=30 + 15 * (n % 4)),
                timezone="Europe/Berlin", location=f"Room {n % 9}", uid=f"event-{n}-{user}@contoso",
                recurrence="FREQ=WEEKLY;COUNT=5" if n % 10 == 0 else None,
            ),
        )  # fmt: skip
    for n in range(tasks):
        server.seed_item(
            address,
            Task(subject=f"Task {n:04d}", body=f"do thing {n}", due=(NOW + dt.timedelta(days=n)).date(),
                 status="completed" if n % 4 == 0 else "not_started", percent_complete=100 if n % 4 == 0 else 0),
        )  # fmt: skip
    for n in range(notes):
        server.seed_item(address, Note(subject=f"Note {n:04d}", body=f"remember {n}", color="yellow"))
    return {"mail": mails, "contacts": contacts, "calendar": events, "tasks": tasks, "notes": notes}


# --- full content of stored items ---------------------------------------------------------------------

#: Properties a server sets itself (ids, times of storage, sizes, its own bookkeeping): they
#: differ between a source item and its copy without the user seeing a difference.
_SERVER_SET = frozenset({
    "ItemId", "ParentFolderId", "ChangeKey", "DateTimeCreated", "DateTimeReceived", "DateTimeSent",
    "LastModifiedTime", "LastModifiedName", "Size", "ExtendedProperty", "InstanceKey", "ConversationId",
    "ConversationIndex", "ConversationTopic", "EffectiveRights", "HasAttachments", "IsDraft", "IsSubmitted",
    "IsUnmodified", "IsFromMe", "IsResend", "IsAssociated", "MimeContent", "Attachments", "ItemClass",
    "WebClientReadFormQueryString", "WebClientEditFormQueryString", "ReminderNextTime", "Culture",
    "DisplayCc", "DisplayTo", "DisplayBcc", "LastModifiedTime", "UID", "RecurrenceId", "DateTimeStamp",
    "AppointmentSequenceNumber", "AppointmentState", "MyResponseType", "Organizer", "IsOrganizer",
    "CalendarItemType", "MeetingRequestWasSent", "AdjacentMeetingCount", "ConflictingMeetingCount",
    "HasPicture", "FileAs", "FileAsMapping", "CompleteName", "PhysicalAddresses", "Preview", "TextBody",
    "UniqueBody", "NormalizedBody", "Flag", "ReceivedBy", "ReceivedRepresenting",
    # defaults a server fills in, and states a server sets itself on items that are not mail
    "PostalAddressIndex", "ReminderIsSet", "ReminderMinutesBeforeStart", "CompleteDate", "IsRead",
})  # fmt: skip


def _fields(element: Any, out: list[str], prefix: str = "") -> None:
    from groupmigrate.testing.ews.xmlns import local

    for child in element:
        name = local(child.tag)
        if name in _SERVER_SET:
            continue
        path = f"{prefix}/{name}"
        keyed = child.get("Key")
        if keyed:
            path += f"[{keyed}]"
        text = (child.text or "").strip()
        if text:
            out.append(f"{path}={text}")
        _fields(child, out, path)


def content_key(item: Any) -> tuple[str, ...]:
    """Everything a user sees of a stored item, so that distinct items never share a key.

    Mail: the whole header block and body (a digest of the MIME as stored), plus the read
    state; two mails differing only in Cc have different keys. Other items: the type and every
    user-visible property with its value (phones, company, e-mail addresses, body, ...), plus
    each attachment's name and a digest of its content; properties the server sets itself
    (ids, times of storage, sizes) are left out.
    """
    if item.tag == "Message" and item.mime is not None:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(item.mime)
        subject = str(headers.get("Subject") or "")
        digest = hashlib.sha256(item.mime).hexdigest()[:20]
        return ("mail", subject, digest, "read" if item.is_read else "unread")
    fields: list[str] = []
    _fields(item.element, fields)
    title = item.text("Subject") or item.text("DisplayName") or ""
    attachments = ",".join(
        sorted(f"{a.name}:{hashlib.sha256(a.content or a.item_xml or b'').hexdigest()[:12]}" for a in item.attachments)
    )
    return (item.tag, title, hashlib.sha256("\n".join(sorted(fields)).encode()).hexdigest()[:20], attachments)


def content_inventory(server: EWSTestServer, address: str) -> dict[tuple[str, ...], collections.Counter[tuple[str, ...]]]:
    """Like :func:`inventory`, keyed by :func:`content_key` (full content)."""
    return inventory(server, address, key=content_key)


def stored_items(server: EWSTestServer, address: str) -> list[tuple[tuple[str, ...], Any]]:
    """(logical folder path, stored item) of every item of a mailbox, straight from the store."""
    out = []
    for path in server.folder_paths(address):
        try:
            items = server.folder_items(address, path)
        except KeyError:
            continue
        out.extend((_logical(server, address, path), i) for i in items)
    return out


def creates(server: EWSTestServer, mailbox: str | None = None) -> int:
    """How many CreateItem requests ``server`` has answered or refused (for ``mailbox``)."""
    return sum(1 for op in server.write_operations(mailbox) if op.operation == "CreateItem")


# --- a loopback HTTP proxy that injects faults --------------------------------------------------------

#: Fault kinds of :class:`FaultProxy`.
FAULT_KINDS = ("504_after", "html500_after", "drop_answer", "reset_before", "hold", "hold_after")
#: Kinds after which the server has applied the request and the client does not know it.
APPLIED_KINDS = ("504_after", "html500_after", "drop_answer", "hold_after")



def _html_answer(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("ascii") + body


_GATEWAY_TIMEOUT = _html_answer("504 Gateway Timeout", b"<html><body><h1>504 Gateway Time-out</h1></body></html>")
_HTML_500 = _html_answer("500 Internal Server Error", b"<html><body>Internal Server Error</body></html>")


def _operation(request: bytes) -> str:
    """The EWS operation a request carries (the first element of the SOAP body)."""
    import re

    body = request[request.find(b"<soap:Body") if b"<soap:Body" in request else 0 :]
    found = re.search(rb"<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)", body)
    return found.group(1).decode("ascii", "replace") if found else "?"


@attrs.define(eq=False)
class FaultRule:
    """When to inject one kind of fault.

    ``match`` picks requests (bytes the request must contain, or a predicate on the request
    bytes). Among the matching requests, ``nth`` (1-based numbers) or ``rate`` (a fraction,
    drawn from the proxy's seeded generator) chooses the ones that get the fault; ``limit``
    bounds how many it injects. With ``after`` the rule counts only requests seen after that
    rule injected its first fault (e.g. the lookup that follows a lost create).
    """

    kind: str
    match: bytes | Callable[[bytes], bool]
    nth: frozenset[int] = frozenset()
    rate: float = 0.0
    limit: int | None = None
    after: FaultRule | None = None
    seen: int = 0
    hits: int = 0

    def matches(self, request: bytes) -> bool:
        return self.match in request if isinstance(self.match, bytes) else bool(self.match(request))


class FaultProxy(_Proxy):
    """A loopback HTTP/1.1 proxy in front of a test server that injects faults per request.

    Kinds (see :data:`FAULT_KINDS`):

    - ``504_after``: forward, let the server apply the request, answer ``504 Gateway Timeout``;
    - ``html500_after``: the same, answering 500 with an HTML page;
    - ``drop_answer``: forward, then reset the client's connection without an answer;
    - ``reset_before``: reset the client's connection; the server never sees the request;
    - ``hold``: forward nothing and keep the connection open until :meth:`release` (then reset);
    - ``hold_after``: forward (the server applies it) and hold the answer until :meth:`release`
      (then deliver it, if the client is still there).

    :attr:`holding` is set while a request is held, so a test can kill the client then.
    :attr:`stats` counts what the proxy did per kind (and ``forwarded`` requests).
    Everything runs in daemon threads on loopback; a hold lasts at most ``hold_timeout``.
    """

    def __init__(self, upstream_port: int, *, seed: int = 0, hold_timeout: float = 60.0) -> None:
        self._upstream = upstream_port
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._hold_timeout = hold_timeout
        self.holding = threading.Event()
        self.stats: collections.Counter[str] = collections.Counter()
        #: (kind, EWS operation) of each fault injected, in order
        self.injected: list[tuple[str, str]] = []
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The EWS endpoint through the proxy."""
        return f"{self.base_url}/EWS/Exchange.asmx"

    def add(
        self,
        kind: str,
        match: bytes | Callable[[bytes], bool] = b"CreateItem",
        *,
        nth: Iterable[int] = (),
        rate: float = 0.0,
        limit: int | None = None,
        after: FaultRule | None = None,
        first: bool = False,
    ) -> FaultRule:
        """Add a rule (see :class:`FaultRule`); rules are tried in the order added, except
        that a rule added with ``first`` goes before all others."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {FAULT_KINDS}")
        rule = FaultRule(kind, match, frozenset(nth), rate, limit, after)
        with self._lock:
            self._rules.insert(0 if first else len(self._rules), rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule (requests pass through untouched from now on)."""
        with self._lock:
            self._rules.clear()

    def release(self) -> None:
        """End every hold (current and future ones pass at once until :meth:`rearm`)."""
        self._released.set()

    def rearm(self) -> None:
        """Make holds hold again after :meth:`release`."""
        self._released.clear()
        self.holding.clear()

    def _missed(self, rule: FaultRule | None) -> None:
        """A held answer never came (the server dropped the connection): hold the next
        matching request instead, so that a test waiting for a hold still gets one."""
        if rule is not None and rule.nth:
            with self._lock:
                rule.hits -= 1
                rule.nth = rule.nth | {rule.seen + 1}

    def _choose_rule(self, request: bytes) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.after is not None and rule.after.hits == 0:
                    continue
                if not rule.matches(request):
                    continue
                rule.seen += 1
                if rule.limit is not None and rule.hits >= rule.limit:
                    continue
                hit = rule.seen in rule.nth or (rule.rate > 0 and self._rng.random() < rule.rate)
                if hit:
                    rule.hits += 1
                    self.stats[rule.kind] += 1
                    self.injected.append((rule.kind, _operation(request)))
                    return rule
        return None

    def _hold(self) -> None:
        self.holding.set()
        self._released.wait(self._hold_timeout)

    def handle(self, conn: socket.socket) -> None:
        upstream: socket.socket | None = None
        inbound, outbound = bytearray(), bytearray()
        try:
            while not self._stop.is_set():
                request = _read_http_message(conn, inbound)
                if request is None:
                    return
                rule = self._choose_rule(request)
                kind = rule.kind if rule is not None else None
                if kind == "reset_before":
                    _reset(conn)
                    return
                if kind == "hold":
                    self._hold()
                    _reset(conn)
                    return
                if upstream is None:
                    upstream = socket.create_connection(("127.0.0.1", self._upstream), timeout=120)
                upstream.sendall(request)
                answer = _read_http_message(upstream, outbound)
                with self._lock:
                    self.stats["forwarded"] += 1
                if answer is None:
                    if kind == "hold_after":
                        self._missed(rule)
                    _reset(conn)
                    return
                if kind == "drop_answer":
                    _reset(conn)
                    return
                if kind == "504_after":
                    conn.sendall(_GATEWAY_TIMEOUT)
                    continue
                if kind == "html500_after":
                    conn.sendall(_HTML_500)
                    continue
                if kind == "hold_after":
                    self._hold()
                conn.sendall(answer)
                if b"\r\nconnection: close" in answer[: answer.index(b"\r\n\r\n")].lower():
                    return
        finally:
            if upstream is not None:
                upstream.close()

    def close(self) -> None:
        self._released.set()
        super().close()


def destination_through(proxy: FaultProxy, *, profile: str = "workmail", **kwargs: Any) -> Any:
    """An EWS destination endpoint (the admin with impersonation) that talks through ``proxy``."""
    return EWSDestination(url=proxy.url, profile=profile, impersonation=True, auth=BasicAuth(ADMIN, ADMIN_PASSWORD), **kwargs)


# --- a migration in its own process ---------------------------------------------------------------------

CRASH_WORKER = Path(__file__).with_name("crash_worker.py")
_ROOT = Path(__file__).resolve().parents[2]


class ClientProcess:
    """One run of ``crash_worker.py`` (a migration in its own process), its output on a queue.

    Lines: ``STARTED <run id>``, ``MIGRATED <n>``, ``ACCOUNT <address> <status> <error>`` and
    ``DONE <status> <totals as JSON>``.
    """

    def __init__(
        self,
        route: Route,
        pairs: list[AccountPair],
        state: str,
        log: Path,
        *,
        destination_url: str | None = None,
        workers: int = 2,
        mode: str = "full",
    ) -> None:
        import queue
        import subprocess
        import sys

        args = [
            sys.executable, str(CRASH_WORKER),
            "--source-url", route.source_server.url,
            "--token-url", route.source_server.token_url(TENANT),
            "--destination-url", destination_url or route.destination_server.url,
            "--state", state, "--workers", str(workers), "--mode", mode,
        ]  # fmt: skip
        for pair in pairs:
            args += ["--pair", f"{pair.source}={pair.destination}"]
        self.log = log
        self._stderr = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr, cwd=_ROOT, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.migrated = 0
        self.done: str | None = None
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            self.output.append(line)
            if line.startswith("MIGRATED "):
                self.migrated = int(line.split()[1])
            elif line.startswith("DONE "):
                self.done = line
            self.lines.put(line)
        self.lines.put(None)
        self.eof = True

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> bool:
        """Wait until ``condition()`` holds (True) or the process ends first (False)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            if self.eof:
                return condition()
            time.sleep(0.01)
        raise AssertionError(
            f"timed out waiting for the migration process; last output {self.output[-3:]}; stderr:\n{self.stderr()}"
        )

    def kill(self) -> bool:
        """SIGKILL the process; True when it was still running."""
        import os
        import signal

        alive = self.proc.poll() is None
        if alive:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._stderr.close()
        return alive and self.proc.returncode == -signal.SIGKILL

    def finish(self, timeout: float = 180) -> tuple[str, dict[str, int]]:
        """Wait for the end of the run; returns its status and totals."""
        import json

        try:
            self.proc.wait(timeout=timeout)
        except Exception:
            self.kill()
            raise AssertionError(f"the migration process did not finish in time; stderr:\n{self.stderr()}") from None
        self._stderr.close()
        self.wait_for(lambda: self.eof, timeout=10)
        assert self.proc.returncode == 0 and self.done, f"exit {self.proc.returncode}; stderr:\n{self.stderr()}"
        _, status, totals = self.done.split(" ", 2)
        return status, json.loads(totals)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


# --- look-alike mail: distinct items a content fingerprint could mistake for one -----------------------


def add_header(mime: bytes, header: str) -> bytes:
    """``mime`` with one more header line (e.g. ``Cc: ...``) after its To header."""
    head, sep, body = mime.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(b"To:")) + 1
    lines.insert(at, header.encode("utf-8"))
    return b"\r\n".join(lines) + sep + body


def seed_lookalikes(server: EWSTestServer, address: str, *, mails: int, contacts: int = 0, seed: int = 0) -> collections.Counter[str]:
    """Seed mail over the workload's folders in which about 5 % share a Message-ID with an
    earlier, different mail, 5 % have no Message-ID (some sharing Date, From and Subject with
    another), 2 % are Cc-only variants and 2 % byte-identical copies of an earlier mail in the
    same folder; and contacts of which every fourth shares name and e-mail address with the
    one before but not phone and company. Returns how many of each kind were seeded."""
    from groupmigrate.items import Contact, Phone

    rng = random.Random(seed)
    user = address.split("@", 1)[0]
    weights = [w for _, w in WORKLOAD_FOLDERS]
    for folder, _ in WORKLOAD_FOLDERS[1:]:
        server.seed_folder(address, folder, "mail")
    kinds: collections.Counter[str] = collections.Counter()
    seeded: list[tuple[tuple[str, ...], bytes, str | None, int]] = []  # folder, MIME, Message-ID, hours
    alert_when = NOW - dt.timedelta(days=3)
    for n in range(mails):
        folder = rng.choices(WORKLOAD_FOLDERS, weights)[0][0]
        hours = n
        roll = rng.random()
        with_id = [s for s in seeded if s[2]]
        if roll < 0.05 and with_id:
            kind, mid = "same_message_id", rng.choice(with_id)[2]
            mime = mail(n, user=user, message_id=mid, rng=rng)
        elif roll < 0.10:
            kind, mid = "no_message_id", None
            if n % 2:  # an alert: same Date, From and Subject as the other alerts, its own body
                mime = mail(n, user=user, message_id=None, when=alert_when, sender="Monitoring <alerts@monitor.example>",
                            subject="ALERT: job failed", body=f"Job {n} failed with exit code {n % 7 + 1}.")  # fmt: skip
            else:
                mime = mail(n, user=user, message_id=None, rng=rng)
        elif roll < 0.12 and seeded:
            kind = "cc_variant"
            folder, original, mid, hours = rng.choice(seeded)
            mime = add_header(original, f"Cc: Team {n} <team{n}@{SOURCE_DOMAIN}>")
        elif roll < 0.14 and seeded:
            kind = "identical_copy"
            folder, mime, mid, hours = rng.choice(seeded)
        else:
            kind, mid = "plain", f"<{n}.{user}@fabrikam.example>"
            mime = mail(n, user=user, rng=rng)
        server.seed_message(address, folder, mime, is_read=n % 3 == 0, received=NOW - dt.timedelta(hours=hours))
        seeded.append((folder, mime, mid, hours))
        kinds[kind] += 1
    for n in range(contacts):
        base = n - 1 if n % 4 == 3 else n
        server.seed_item(
            address,
            Contact(display_name=f"Contact {base:04d}", given_name=f"Given{base}", surname=f"Surname{base}",
                    emails=(f"contact{base}@northwind.example",), phones=(Phone("business", f"+49 30 {1000000 + n}"),),
                    company=f"Company {n}"),
        )  # fmt: skip
        kinds["contact_lookalike" if base != n else "contact"] += 1
    return kinds
