"""The process behind :class:`~groupmigrate.testing.radicale.RadicaleServer`.

``python -m groupmigrate.testing.radicale_app SETTINGS`` (a JSON file the server writes) runs
Radicale's WSGI application, ``radicale.Application``, behind :class:`Recorder`, a middleware
that

* appends one JSON line per request to a log file (method, path, user, status, time; never a
  password or a body);
* turns ``Authorization: Bearer <token>`` into the Basic credentials of the user the token
  file maps the token to, and answers ``401`` itself for a token it does not know;
* injects the faults a rule file asks for: answer an error status (an HTML page, as a
  reverse proxy would) before or after Radicale applied the request, or close the
  connection without answering.

It is served by a threading ``wsgiref`` server on the loopback address, with TLS if the
settings name a certificate. Once it listens it writes ``ready <port>`` on its standard
output. It stops when its standard input ends: after ``stop`` was written, that is a normal
stop; without it the process that started it is gone, and it also removes its working
directory when the settings ask for that.

The rule file is shared with the test process: both change it only under an exclusive
``flock`` of a lock file next to it (see :func:`change_faults`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import shutil
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.client import responses
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Recorder", "change_faults", "main", "read_faults"]

Fault = dict[str, Any]
_SOCKET_TIMEOUT = 60.0
_MAX_DRAIN = 200_000_000


# -- the fault rules, shared with the test process ----------------------------------------------
@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> list[Fault]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [rule for rule in data if isinstance(rule, dict)]


def _write(path: Path, rules: list[Fault]) -> None:
    if not rules:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(rules), encoding="utf-8")
    os.replace(tmp, path)


def read_faults(path: Path) -> list[Fault]:
    """The rules still waiting in the rule file, in the order they are tried."""
    with _locked(path):
        return _read(path)


def change_faults(path: Path, change: Callable[[list[Fault]], list[Fault]]) -> list[Fault]:
    """Replace the rules by ``change(rules)`` under the lock; return the new rules."""
    with _locked(path):
        rules = change(_read(path))
        _write(path, rules)
        return rules


def _matches(rule: Fault, method: str, path: str, user: str | None) -> bool:
    if rule.get("remaining", 0) <= 0:
        return False
    methods = rule.get("methods")
    if methods and method not in methods:
        return False
    needle = rule.get("path_contains")
    if needle and needle not in path:
        return False
    wanted_user = rule.get("user")
    return not wanted_user or wanted_user == user


def _take_fault(path: Path, method: str, request_path: str, user: str | None) -> Fault | None:
    """The first rule matching the request, its count lowered by one (gone at zero)."""
    if not path.exists():
        return None
    taken: list[Fault] = []

    def take(rules: list[Fault]) -> list[Fault]:
        for rule in rules:
            if _matches(rule, method, request_path, user):
                rule["remaining"] -= 1
                taken.append(dict(rule))
                break
        return [rule for rule in rules if rule.get("remaining", 0) > 0]

    change_faults(path, take)
    return taken[0] if taken else None


# -- the middleware ---------------------------------------------------------------------------
class _Drop(Exception):
    """Close the connection without an answer."""


def _error_page(status: int) -> tuple[str, bytes]:
    reason = responses.get(status, "Error")
    page = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return f"{status} {reason}", page.encode("ascii")


def _drain(environ: WSGIEnvironment) -> None:
    """Read the request body, so that the client may read the answer (no reset)."""
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), _MAX_DRAIN)
    except ValueError:
        return
    stream = environ["wsgi.input"]
    while length > 0:
        chunk = stream.read(min(length, 65536))
        if not chunk:
            return
        length -= len(chunk)


class Recorder:
    """WSGI middleware around Radicale: request log, bearer tokens and injected faults.

    ``log`` is the JSON-lines request log, ``faults`` the rule file, ``tokens`` a JSON object
    mapping a token to ``[user, password]``. Each record has ``time`` (seconds since the
    epoch, when the request arrived), ``method`` (upper case), ``path`` (decoded, without the
    query), ``user`` (the Basic user name as sent, the user a known bearer token maps to, or
    ``None``), ``auth`` (``"basic"``, ``"bearer"`` or ``None``), ``status`` (what the client
    got, ``None`` for a dropped connection) and ``duration`` (seconds); ``depth`` when the
    request had a Depth header; for an injected fault ``fault`` (the rule's id) and
    ``applied_status`` (what Radicale answered, ``None`` when it never saw the request).
    """

    def __init__(self, app: WSGIApplication, *, log: Path, faults: Path, tokens: Path) -> None:
        self._app = app
        self._faults = faults
        self._tokens = tokens
        self._log_lock = threading.Lock()
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._log = os.fdopen(fd, "ab", buffering=0)

    def _token_user(self, token: str) -> tuple[str, str] | None:
        try:
            tokens = json.loads(self._tokens.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        found = tokens.get(token) if isinstance(tokens, dict) and token else None
        if isinstance(found, list) and len(found) == 2:
            return str(found[0]), str(found[1])
        return None

    def _write_record(self, record: dict[str, Any], started: float) -> None:
        record["duration"] = round(time.monotonic() - started, 6)
        line = json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
        with self._log_lock:
            self._log.write(line)

    def _call_radicale(self, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes]:
        answer: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            answer["status"], answer["headers"] = status, headers
            return written.append

        result = self._app(environ, capture)
        try:
            body = b"".join([*written, *result])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return answer["status"], answer["headers"], body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "")).upper()
        path = str(environ.get("PATH_INFO", ""))
        record: dict[str, Any] = {"time": time.time(), "method": method, "path": path, "user": None, "auth": None}
        if environ.get("HTTP_DEPTH"):
            record["depth"] = environ["HTTP_DEPTH"]
        scheme, _, credentials = str(environ.get("HTTP_AUTHORIZATION", "")).strip().partition(" ")
        if scheme.lower() == "basic":
            record["auth"] = "basic"
            with contextlib.suppress(binascii.Error, ValueError):
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8", "replace")
                record["user"] = decoded.partition(":")[0]
        elif scheme.lower() == "bearer":
            record["auth"] = "bearer"
            mapped = self._token_user(credentials.strip())
            if mapped is None:
                _drain(environ)
                body = b"invalid bearer token\n"
                start_response("401 Unauthorized", [
                    ("WWW-Authenticate", 'Bearer error="invalid_token"'),
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                ])  # fmt: skip
                record["status"] = 401
                self._write_record(record, started)
                return [body]
            user, password = mapped
            record["user"] = user
            basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            environ["HTTP_AUTHORIZATION"] = f"Basic {basic}"

        fault = _take_fault(self._faults, method, path, record["user"])
        if fault is None:
            try:
                status, headers, body = self._call_radicale(environ)
            except Exception:
                record["status"] = 500  # what the server answers for a failing application
                self._write_record(record, started)
                raise
            record["status"] = int(status.split(" ", 1)[0])
            self._write_record(record, started)
            start_response(status, headers)
            return [body]

        record["fault"] = fault.get("id")
        record["applied_status"] = None
        if fault.get("after_apply"):
            applied, _, _ = self._call_radicale(environ)
            record["applied_status"] = int(applied.split(" ", 1)[0])
        else:
            _drain(environ)
        if fault.get("drop"):
            record["status"] = None
            self._write_record(record, started)
            raise _Drop
        status_code = int(fault.get("status") or 503)
        status_line, page = _error_page(status_code)
        headers = [("Content-Type", "text/html"), ("Content-Length", str(len(page)))]
        if fault.get("retry_after") is not None:
            headers.append(("Retry-After", str(fault["retry_after"])))
        record["status"] = status_code
        self._write_record(record, started)
        start_response(status_line, headers)
        return [page]


# -- the HTTP server --------------------------------------------------------------------------
class _ServerHandler(ServerHandler):
    os_environ: dict[str, str] = {}  # keep the process environment out of the WSGI environ

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], _Drop):
            self.close()
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # Radicale logs what matters; no access log on stderr

    def get_environ(self) -> WSGIEnvironment:
        environ = super().get_environ()
        environ["PATH_INFO"] = unquote(self.path.split("?", 1)[0])  # UTF-8, as Radicale's own server
        if isinstance(self.connection, ssl.SSLSocket):
            environ["HTTPS"] = "on"
        return environ

    def handle(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _ServerHandler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True  # type: ignore[arg-type]
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        app = self.server.get_app()  # type: ignore[attr-defined]
        handler.run(app)


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False
    tls: ssl.SSLContext | None = None

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the address up in DNS (getfqdn)
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_SOCKET_TIMEOUT)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            tls_socket = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return  # a client that does not trust the certificate, or speaks no TLS
        try:
            super().finish_request(tls_socket, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls_socket.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m groupmigrate.testing.radicale_app SETTINGS.json", file=sys.stderr)
        return 2
    settings = json.loads(Path(args[0]).read_text(encoding="utf-8"))

    import radicale.config
    import radicale.log
    from radicale.app import Application

    radicale.log.setup()
    radicale.log.set_level(settings["log_level"], False)
    server = _Server((settings["host"], int(settings["port"])), _RequestHandler)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    configuration = radicale.config.load()
    configuration.update(settings["radicale"], "groupmigrate.testing.radicale", privileged=True)
    # only informative here (Radicale warns about addresses beyond loopback)
    configuration.update({"server": {"hosts": f"{host}:{port}"}}, "groupmigrate.testing.radicale")
    application = Application(configuration)
    recorder = Recorder(
        application,
        log=Path(settings["log"]),
        faults=Path(settings["faults"]),
        tokens=Path(settings["tokens"]),
    )
    if settings.get("certificate"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings["certificate"], settings["key"])
        server.tls = context
    server.set_app(recorder)

    orphaned = threading.Event()

    def watch_stdin() -> None:
        if sys.stdin.buffer.read() != b"stop":
            orphaned.set()
        server.shutdown()

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    sys.stdout.write(f"ready {port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        if orphaned.is_set() and settings.get("remove_on_orphan"):
            shutil.rmtree(settings["workdir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
