"""The HTTP side of the EWS test server and its public face, :class:`EWSTestServer`."""

from __future__ import annotations

import datetime as dt
import os
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, Union

from groupmigrate.testing.ews.auth import Directory
from groupmigrate.testing.ews.knobs import PROFILES, Knobs, Profile
from groupmigrate.testing.ews.service import Answer, Operation, Service
from groupmigrate.testing.ews.store import StoredFolder, StoredItem, Store

__all__ = ["EWSTestServer"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        return

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        service = self.server.service
        try:
            answer = service.handle(self.command, self.path, headers, body)
        except Exception:  # noqa: BLE001 - a bug must answer 500, never kill the connection silently
            import traceback

            traceback.print_exc()
            answer = Answer(500, [("Content-Type", "text/plain")], b"Internal test server error")
        if answer.action == "hang":
            service.stopping.wait()
            self.close_connection = True
            return
        if answer.action == "reset":
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            self.close_connection = True
            return
        close = service.knobs.close_connections
        lines = [f"HTTP/1.1 {answer.status} {self.responses.get(answer.status, ('',))[0]}\r\n"]
        lines.append(f"Server: {self.server_version}\r\n")
        lines.append(f"Date: {self.date_time_string()}\r\n")
        for key, value in answer.headers:
            lines.append(f"{key}: {value}\r\n")
        lines.append(f"Content-Length: {len(answer.body)}\r\n")
        if close:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        try:
            if len(answer.body) < 65536:
                self.wfile.write(head + answer.body)
            else:
                self.wfile.write(head)
                self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True
            return
        if close:
            self.close_connection = True

    do_POST = _handle
    do_GET = _handle
    do_HEAD = _handle


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        self.service = service
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, sock: socket.socket, add: bool) -> None:
        with self._open_lock:
            if add:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def close_all(self) -> None:
        with self._open_lock:
            socks = list(self._open)
            self._open.clear()
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EWSTestServer:
    """An Exchange Web Services server on loopback, for tests, demos and benchmarks.

    It speaks EWS faithfully enough for the real exchangelib client: requests are validated
    against Microsoft's schema, responses follow Microsoft's documented XML, and behaviours
    of real servers (throttling, faults, fractional seconds, size limits...) can be switched
    on at any time through :attr:`knobs`. The server starts on construction; use it as a
    context manager or call :meth:`stop`.

    Args:
        profile: ``exchange`` (on-premises 2016), ``exchange-online``, ``workmail`` or ``generic``.
        host: address to listen on.
        port: TCP port; 0 picks a free one.
        store_dir: directory for a persistent store; a new server over the same directory sees
            the same mailboxes, items, ids, credentials and sync states. None keeps all in memory.

    Example:
        >>> with EWSTestServer(profile="exchange") as server:  # doctest: +SKIP
        ...     server.add_mailbox("alice@contoso.com", password="pw")
        ...     server.url
    """

    def __init__(
        self,
        profile: str = "exchange-online",
        host: str = "127.0.0.1",
        port: int = 0,
        store_dir: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        self.profile: Profile = PROFILES[profile]
        self.knobs: Knobs = Knobs.for_profile(self.profile)
        self.store = Store(store_dir)
        self.directory = Directory(self.store)
        self._service = Service(self.profile, self.knobs, self.store, self.directory)
        self._httpd = _HTTPServer((host, port), self._service)
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name=f"ews-test-server:{self.port}",
                                        daemon=True)
        self._thread.start()
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        """Stop serving, drop open connections and close the store (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._service.stopping.set()
        self._httpd.shutdown()
        self._httpd.close_all()
        self._httpd.server_close()
        self.store.close()

    close = stop

    def __enter__(self) -> EWSTestServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The EWS endpoint, ``http://HOST:PORT/EWS/Exchange.asmx``."""
        return f"{self.base_url}/EWS/Exchange.asmx"

    def token_url(self, tenant_id: str) -> str:
        """The client-credentials token endpoint of ``tenant_id`` served by this server."""
        return f"{self.base_url}/{tenant_id}/oauth2/v2.0/token"

    # -- accounts ----------------------------------------------------------------------
    def add_mailbox(self, address: str, password: Optional[str] = None, display_name: Optional[str] = None) -> None:
        """Create a mailbox with the well-known folders (idempotent); with ``password`` it can log in."""
        from groupmigrate.testing.ews.layout import create_default_folders, legacy_dn

        name = display_name or address.split("@", 1)[0].replace(".", " ").title()
        with self.store.lock:
            mb, created = self.store.add_mailbox(address, name, legacy_dn(address))
            if created:
                create_default_folders(self.store, mb, self.profile)
                self.directory.resolvables.setdefault(mb.legacy_dn.lower(), mb.address)
                self.directory.resolvables.setdefault(mb.display_name.lower(), mb.address)
                self.directory._save("resolvables")
            self.store.commit()
        if password is not None:
            self.directory.set_password(address, password)

    def add_user(self, address: str, password: str) -> None:
        """A login without a mailbox (e.g. a service account that impersonates others)."""
        self.directory.set_password(address, password)

    def grant_impersonation(self, actor: str, mailbox: str) -> None:
        """Let ``actor`` impersonate ``mailbox`` (ApplicationImpersonation scoped to one mailbox)."""
        self.directory.grant(actor, mailbox)

    def revoke_impersonation(self, actor: str, mailbox: str) -> None:
        self.directory.revoke(actor, mailbox)

    def add_oauth_app(self, tenant_id: str, client_id: str, client_secret: str) -> None:
        """Register an app-only OAuth client; it may impersonate every mailbox (full_access_as_app)."""
        self.directory.add_app(tenant_id, client_id, client_secret)

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far: requests with them get HTTP 401."""
        self.directory.expire_tokens()

    def add_resolvable(self, name: str, address: str) -> None:
        """Make ResolveNames resolve ``name`` (an X500/EX address, IMCEAEX form or display name) to ``address``."""
        self.directory.add_resolvable(name, address)

    # -- seeding -----------------------------------------------------------------------
    def seed_folder(self, mailbox: str, path: tuple[str, ...], kind: str = "mail") -> str:
        """Create the folder ``path`` (under the top of the mailbox) and missing parents; return its id."""
        from groupmigrate.testing.ews import seed

        return seed.seed_folder(self, mailbox, tuple(path), kind)

    def seed_message(
        self,
        mailbox: str,
        path: tuple[str, ...],
        mime: bytes,
        is_read: bool = False,
        flag: str = "NotFlagged",
        categories: tuple[str, ...] = (),
        importance: str = "Normal",
        received: Optional[dt.datetime] = None,
    ) -> str:
        """Store a message from raw MIME in ``path`` as if it had been delivered; return its item id."""
        from groupmigrate.testing.ews import seed

        return seed.seed_message(self, mailbox, tuple(path), mime, is_read, flag, tuple(categories), importance,
                                 received)

    def seed_item(self, mailbox: str, item: Any, folder: Optional[tuple[str, ...]] = None) -> str:
        """Store a ``groupmigrate.items`` Message/Contact/Event/Task/Note; return its item id."""
        from groupmigrate.testing.ews import seed

        return seed.seed_item(self, mailbox, item, tuple(folder) if folder else None)

    # -- inspection --------------------------------------------------------------------
    def find_folder(self, mailbox: str, path: tuple[str, ...]) -> StoredFolder:
        """The folder at ``path`` (names under the top of the mailbox; the first may be a well-known id)."""
        from groupmigrate.testing.ews import seed

        folder = seed.lookup_folder(self, mailbox, tuple(path))
        if folder is None:
            raise KeyError(f"{mailbox}: no folder {'/'.join(path)}")
        return folder

    def folder_items(self, mailbox: str, path: tuple[str, ...]) -> list[StoredItem]:
        """The items stored in a folder, oldest first."""
        folder = self.find_folder(mailbox, path)
        with self.store.lock:
            return self.store.items_in(folder.folder_id)

    def folder_paths(self, mailbox: str) -> list[tuple[str, ...]]:
        """Paths of all folders under the top of the mailbox."""
        with self.store.lock:
            mb = self.store.mailbox(mailbox)
            if mb is None:
                raise KeyError(mailbox)
            top = mb.distinguished["msgfolderroot"]
            return [self.store.folder_path(f)[1:] for f in mb.descendants(top)]

    @property
    def operations(self) -> list[Operation]:
        """Every answered EWS request: (mailbox, operation, is_write, time)."""
        return list(self._service.operations)

    def write_operations(self, mailbox: Optional[str] = None) -> list[Operation]:
        """The requests that change a mailbox, answered or refused (optionally only ``mailbox``)."""
        return [
            op
            for op in self._service.operations
            if op.is_write and (mailbox is None or (op.mailbox or "").lower() == mailbox.lower())
        ]

    def clear_operations(self) -> None:
        self._service.operations.clear()

    def peak_concurrency(self, *, mailbox: Optional[str] = None, caller: Optional[str] = None) -> int:
        """The most EWS requests worked on at the same time, since start or :meth:`reset_peaks`.

        Over every caller and mailbox by default; with ``mailbox``, the requests acting on
        that mailbox (impersonated, else the caller's own: what the ``max_concurrency`` knob,
        Exchange's EWSMaxConcurrency, counts); with ``caller``, the requests of one login (a
        user's address, or ``app:<client id>`` for an app-only OAuth client). Requests refused
        before they are worked on (authentication, ``ErrorServerBusy`` for ``max_concurrency``,
        malformed requests) are not counted.
        """
        if mailbox is not None and caller is not None:
            raise ValueError("give mailbox or caller, not both")
        if mailbox is not None:
            with self.store.lock:
                stored = self.store.mailbox(mailbox)
            return self._service.peak(stored.address if stored is not None else mailbox)
        return self._service.peak("" if caller is None else f"caller:{caller}")

    def reset_peaks(self) -> None:
        """Start counting :meth:`peak_concurrency` afresh (from the requests in flight now)."""
        self._service.reset_peaks()

    def content_hash(self, mailbox: str) -> str:
        """A hash of all folders and items of ``mailbox``; unchanged content gives the same hash."""
        return self.store.content_hash(mailbox)

    def __repr__(self) -> str:
        return f"EWSTestServer(profile={self.profile.name!r}, url={self.url!r})"
