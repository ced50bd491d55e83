"""A real Redis server on loopback, for testing what workers share through Redis.

:class:`RedisServer` starts ``redis-server`` with a configuration of its own in a temporary
directory: bound to ``127.0.0.1`` on a free port, no persistence (nothing is saved, nothing
loaded), optionally a password. It needs the ``redis-server`` binary (Debian:
``apt-get install redis-server``; keep the package from starting a system-wide one).

.. code-block:: python

    from groupmigrate.testing.redis import RedisServer

    with RedisServer(password="secret") as server:
        limits = RedisLimits(server.url, capacities={"source": 2})
        ...
        server.kill_clients()      # every client connection is dropped, as a failover would
        with server.frozen():      # the server stops answering (SIGSTOP) for the block
            ...

The server stops with :meth:`RedisServer.stop`, at the end of a ``with`` block, when the
object is collected or the interpreter exits, and, through a watchdog process, when the test
process dies without stopping it (killed): it never outlives the tests that started it.
The harness speaks the Redis protocol itself (:meth:`RedisServer.command`); it needs no
Redis client library.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from groupmigrate.testing.watchdog import start_watchdog, stop_watchdog

__all__ = ["RedisError", "RedisNotInstalled", "RedisServer", "find_redis"]

HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_PORT_ATTEMPTS = 5


class RedisNotInstalled(RuntimeError):
    """The ``redis-server`` binary (Debian package ``redis-server``) is not installed."""


class RedisError(RuntimeError):
    """Redis did not start, or answered a command with an error; the message says which."""


def find_redis() -> str | None:
    """The path of the ``redis-server`` binary (on ``PATH``, else in the usual places), or ``None``."""
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# -- the Redis protocol (RESP2), as much as the harness needs ---------------------------------------
def _encode(args: tuple[str | bytes | int, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(stream: Any) -> Any:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise RedisError("the connection to Redis closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        return bytes(data[:-2])
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(stream) for _ in range(count)]
    raise RedisError(f"unexpected answer from Redis: {line[:40]!r}")




def _shutdown(proc: subprocess.Popen[bytes] | None, watchdog: subprocess.Popen[bytes] | None, workdir: Path | None) -> None:
    """Stop a redis-server (SIGTERM, SIGKILL after a while), its watchdog, and remove ``workdir``."""
    if proc is not None and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    stop_watchdog(watchdog, _STOP_TIMEOUT)


class RedisServer:
    """A real ``redis-server`` on 127.0.0.1 with its own configuration in a temporary directory.

    It starts in the constructor (or raises :class:`RedisNotInstalled`, or :class:`RedisError`
    with the tail of its log) and stops with :meth:`stop` or at the end of a ``with`` block.

    Args:
        password: required from clients (``requirepass``); None: none.
        port: TCP port; 0 picks a free one.
    """

    host: str = HOST
    port: int
    password: str | None
    workdir: Path

    def __init__(self, *, password: str | None = None, port: int = 0) -> None:
        binary = find_redis()
        if binary is None:
            raise RedisNotInstalled("Redis is not installed (Debian: apt-get install redis-server)")
        if password is not None and (not password or any(c in password for c in " \t\r\n\"'")):
            raise ValueError("password: give a non-empty password without spaces or quotes")
        self.password = password
        self._binary = binary
        self.workdir = Path(tempfile.mkdtemp(prefix="groupmigrate-redis-"))
        self._config = self.workdir / "redis.conf"
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._stopped = False
        try:
            self._start(port)
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    # -- lifecycle ---------------------------------------------------------------------------
    def _start(self, port: int) -> None:
        last = ""
        for _ in range(_PORT_ATTEMPTS if port == 0 else 1):
            chosen = port or _free_port()
            lines = [
                f"bind {HOST}", f"port {chosen}", "protected-mode yes", "daemonize no", 'save ""',
                "appendonly no", f"dir {self.workdir}", f"logfile {self.workdir / 'redis.log'}",
                "loglevel notice", "databases 4", "timeout 0",
            ]  # fmt: skip
            if self.password is not None:
                lines.append(f"requirepass {self.password}")
            self._config.write_text("\n".join(lines) + "\n", encoding="utf-8")
            self._config.chmod(0o600)
            proc = subprocess.Popen(
                [self._binary, str(self._config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._ready(proc, chosen):
                self.port = chosen
                self._proc = proc
                # if the test process dies first: this redis-server (known by its address) is killed
                self._watchdog = start_watchdog(proc.pid, f"{HOST}:{chosen}", [self.workdir], first_signal="SIGKILL", grace=0.0)
                self._finalizer = weakref.finalize(self, _shutdown, proc, self._watchdog, self.workdir)
                return
            _shutdown(proc, None, None)
            last = self.log_tail()
            if "Address already in use" not in last:
                break
        raise RedisError(f"redis-server did not start; its log ends:\n{last}")

    def _ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                if self._command_on(port, "PING") == "PONG":
                    return True
            except (OSError, RedisError):
                pass
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Stop the server and remove its directory (idempotent)."""
        self._stopped = True
        if self._finalizer is not None:
            self._finalizer()

    close = stop

    def restart(self) -> None:
        """Stop the server and start a new, empty one on the same port (what a failover without
        replication does: every key is gone, clients must reconnect)."""
        port = self.port
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)
            self._proc.kill()
            self._proc.wait()
        if self._finalizer is not None:
            self._finalizer.detach()
        _shutdown(None, self._watchdog, None)
        self._stopped = False
        self._start(port)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return not self._stopped and self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{self.password}@" if self.password is not None else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    # -- talking to it -------------------------------------------------------------------------
    def _command_on(self, port: int, *args: str | bytes | int) -> Any:
        with socket.create_connection((HOST, port), timeout=5) as sock, sock.makefile("rb") as stream:
            if self.password is not None:
                sock.sendall(_encode(("AUTH", self.password)))
                _read_reply(stream)
            sock.sendall(_encode(args))
            return _read_reply(stream)

    def command(self, *args: str | bytes | int) -> Any:
        """Send one command on a connection of its own; its answer (errors raise :class:`RedisError`)."""
        return self._command_on(self.port, *args)

    def kill_clients(self) -> int:
        """Close every client connection (including those blocked waiting); how many were closed."""
        return int(self.command("CLIENT", "KILL", "TYPE", "normal")) + int(self.command("CLIENT", "KILL", "TYPE", "pubsub"))

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The server stops answering for the block (SIGSTOP; connections stay open), then resumes."""
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self._proc.pid, signal.SIGCONT)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.workdir / "redis.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
