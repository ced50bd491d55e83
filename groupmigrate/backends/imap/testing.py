"""A loopback TCP proxy in front of an IMAP server that fails the way networks fail, for tests.

:class:`FaultyProxy` forwards a plain (or STARTTLS-less) IMAP connection byte for byte and
can, for the next APPEND that passes:

- ``"lose_answer"``: forward the whole command, let the server carry it out, and drop the
  connection before its answer reaches the client (the server stored the message, the client
  never hears so);
- ``"hang"``: the same, but keep the connection open without answering (the client times out);
- ``"drop_before_server"``: take the whole command from the client and drop the connection
  without forwarding its last bytes (the client sent it, the server never got it whole).

It can also rewrite the server's response lines (never message data), e.g. to take UIDPLUS
out of the capabilities. It parses IMAP's literals in both directions, so message content is
never mistaken for a command or a response. Only for tests on ``127.0.0.1``.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable

__all__ = ["FaultyProxy"]

_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r\n$")
_MODES = ("lose_answer", "hang", "drop_before_server")


class _Stream:
    """Splits one direction of an IMAP connection into lines and literals."""

    def __init__(self) -> None:
        self.buffer = b""
        self.literal = 0  # bytes of a literal still to come

    def pieces(self, data: bytes) -> list[tuple[str, bytes]]:
        """``("line", b"...\\r\\n")`` and ``("literal", bytes)`` pieces; an incomplete line waits."""
        self.buffer += data
        out: list[tuple[str, bytes]] = []
        while self.buffer:
            if self.literal:
                chunk, self.buffer = self.buffer[: self.literal], self.buffer[self.literal :]
                self.literal -= len(chunk)
                out.append(("literal", chunk))
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[: end + 2], self.buffer[end + 2 :]
            match = _LITERAL.search(line)
            if match:
                self.literal = int(match.group(1))
            out.append(("line", line))
        return out


class FaultyProxy:
    """Listens on ``127.0.0.1:port`` and forwards to ``host:port`` of a real IMAP server.

    Args:
        host, port: the server (plain IMAP; TLS would hide the commands from the proxy).
        rewrite: applied to every response line the server sends (not to message data).
    """

    def __init__(self, host: str, port: int, rewrite: Callable[[bytes], bytes] | None = None) -> None:
        self.target = (host, port)
        self.rewrite = rewrite
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = "127.0.0.1", int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._armed: str | None = None
        self._skip = 0
        self._sockets: list[socket.socket] = []
        #: APPENDs failed on purpose so far, as ``(mode, tag)``
        self.failed: list[tuple[str, bytes]] = []
        #: set when a failure was carried out
        self.fired = threading.Event()
        self._closed = False
        threading.Thread(target=self._accept, name="imap-proxy", daemon=True).start()

    def __repr__(self) -> str:
        return f"FaultyProxy(127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]})"

    def fail_next_append(self, mode: str = "lose_answer", *, skip: int = 0) -> None:
        """Fail the next APPEND (of any connection) as ``mode`` says (see the module docs),
        after letting ``skip`` APPENDs through."""
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}")
        with self._lock:
            self._armed = mode
            self._skip = skip
            self.fired.clear()

    def close(self) -> None:
        self._closed = True
        for sock in [self._listener, *self._sockets]:
            _close(sock)

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            self._sockets += [client, server]
            _Connection(self, client, server).start()

    def _take_armed(self) -> str | None:
        with self._lock:
            if self._armed is not None and self._skip > 0:
                self._skip -= 1
                return None
            mode, self._armed = self._armed, None
            return mode


class _Connection:
    def __init__(self, proxy: FaultyProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.swallow_from_server = False
        self.await_tag: bytes | None = None
        self.mode: str | None = None

    def start(self) -> None:
        threading.Thread(target=self._client_to_server, daemon=True).start()
        threading.Thread(target=self._server_to_client, daemon=True).start()

    def _drop(self) -> None:
        _close(self.client)
        _close(self.server)

    def _client_to_server(self) -> None:
        stream = _Stream()
        in_append: bytes | None = None  # tag of an APPEND being received
        mode: str | None = None
        held = b""
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                for kind, piece in stream.pieces(data):
                    if kind == "line" and in_append is None:
                        words = piece.split(b" ", 2)
                        if len(words) >= 2 and words[1].upper().startswith(b"APPEND"):
                            in_append = words[0]
                            mode = self.proxy._take_armed()
                    ends_command = kind == "line" and stream.literal == 0
                    if mode == "drop_before_server" and in_append is not None:
                        held += piece  # never forwarded
                        if ends_command:
                            self.proxy.failed.append((mode, in_append))
                            self.proxy.fired.set()
                            self._drop()
                            return
                        continue
                    if ends_command and in_append is not None and mode in ("lose_answer", "hang"):
                        self.mode, self.await_tag = mode, in_append
                        self.swallow_from_server = True
                    self.server.sendall(piece)
                    if ends_command:
                        in_append, mode = None, None
        except OSError:
            pass
        finally:
            self._drop()  # the client is gone (or the connection was failed on purpose)

    def _server_to_client(self) -> None:
        stream = _Stream()
        try:
            while True:
                data = self.server.recv(65536)
                if not data:
                    break
                for kind, piece in stream.pieces(data):
                    if kind == "line" and self.proxy.rewrite is not None:
                        piece = self.proxy.rewrite(piece)
                    if self.swallow_from_server:
                        tag = self.await_tag
                        if kind == "line" and tag is not None and piece.startswith(tag + b" "):
                            # the server answered the APPEND: it is applied; the client never hears
                            self.proxy.failed.append((self.mode or "", tag))
                            self.proxy.fired.set()
                            if self.mode == "lose_answer":
                                self._drop()
                                return
                        continue
                    self.client.sendall(piece)
        except OSError:
            pass
        finally:
            if self.mode != "hang":
                self._drop()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
