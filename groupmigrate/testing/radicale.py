"""A real Radicale CalDAV/CardDAV server on loopback, for testing DAV backends against the real thing.

:class:`RadicaleServer` starts Radicale (the ``radicale`` package, in the ``test`` extra) in a
process of its own, ``python -m groupmigrate.testing.radicale_app``, with everything in a
temporary directory (its *workdir*): collections, users, the request log.

.. code-block:: python

    from groupmigrate.testing.radicale import RadicaleServer

    with RadicaleServer() as server:
        server.add_user("alice", "alice-password")
        calendar = server.make_calendar("alice", "work", display_name="Work")
        server.put("alice", calendar + "meeting.ics", ics_bytes)
        mark = server.log_mark()
        ...  # migrate from alice
        assert server.write_operations("alice", since=mark) == []

What the server offers:

* ``url`` is ``http://127.0.0.1:<port>/`` (``https://`` with ``tls=True``), the port a free
  one picked at start. With ``tls=True`` the certificate is self-signed, for ``127.0.0.1`` and
  ``localhost``; ``ca_file`` is its PEM, the one certificate to trust.
* Users come from an htpasswd file (``plain`` scheme: the fastest; the file never leaves the
  workdir) and can log in as soon as :meth:`RadicaleServer.add_user` returns: Radicale reads
  the file again at every login, no restart. A wrong password is answered ``401`` at once
  (Radicale's failed-login delay is off). Rights are ``owner_only``: a user reads and writes
  below ``/<user>/`` only; another user's collection answers ``403``.
* ``/.well-known/caldav`` and ``/.well-known/carddav`` answer ``301`` to ``/``, where a
  PROPFIND for ``current-user-principal`` gives ``/<user>/`` (created at the user's first
  authenticated request), whose ``calendar-home-set`` and ``addressbook-home-set`` are
  ``/<user>/`` too.
* Every request is recorded (:meth:`RadicaleServer.requests`): method, path, user, status,
  time; :meth:`RadicaleServer.write_operations` are those that can change something
  (:data:`WRITE_METHODS`). :meth:`RadicaleServer.log_mark` marks a point (after seeding) that
  ``since=`` then starts from. The seeding helpers (:meth:`RadicaleServer.make_calendar`,
  :meth:`RadicaleServer.put`...) go over HTTP as the user, so they are recorded too.
* Bearer tokens (:meth:`RadicaleServer.add_token`): Radicale itself knows only Basic
  authentication, so the recording middleware turns ``Authorization: Bearer <token>`` into the
  user's Basic credentials; an unknown token is answered ``401`` (``WWW-Authenticate: Bearer
  error="invalid_token"``) without reaching Radicale.
* Faults (:meth:`RadicaleServer.fail_next`): the next matching requests are answered with an
  error status after Radicale applied them (a gateway timeout on a write that did happen), or
  without reaching Radicale, or get their connection closed without an answer.
* It speaks HTTP/1.0, as Radicale's own server does: one request per connection.

What Radicale (3.9) does with what it is sent:

* It stores a resource parsed and written again (by vobject): properties and parameters come
  back in another order, and a ``TZID`` without its ``VTIMEZONE`` gets one added. The ETag
  (a quoted SHA-256 in hex) is that of what it stored, the same in the PUT answer, GET and
  PROPFIND. A collection's ``getctag`` is its ``getetag``; its ``sync-token`` is
  ``http://radicale.org/ns/sync/<sha256 hex>`` (an unknown one: ``403`` with
  ``<valid-sync-token/>``).
* ``getcontenttype`` is ``text/calendar;charset=utf-8;component=VEVENT`` (``VTODO``,
  ``VJOURNAL``) for a calendar object, ``text/vcard;charset=utf-8`` for a vCard, and
  ``text/calendar`` or ``text/vcard`` for the collection itself. Without a display name set,
  ``displayname`` is the path (``alice/work``).
* A second resource with a UID already in the collection (a recurrence override in a resource
  of its own, too) is refused: ``409`` with ``<C:no-uid-conflict/>`` (CardDAV's for a vCard).
  A resource without UID, one mixing component types (VEVENT and VTODO), several vCards in one
  PUT, a vCard without FN, or a vCard sent to a calendar: ``400``. A resource larger than
  ``max_resource_size``: ``412``. A PUT below a collection that does not exist: ``409``; a
  resource name with an encoded ``/``: ``403``; MKCALENDAR on an existing collection: ``409``
  with ``<resource-must-be-null/>``; a plain MKCOL (no body) below ``/<user>/``: ``403``.
* ``supported-calendar-component-set`` is not enforced: a VJOURNAL goes into a calendar made
  for VEVENT only. vCard 4 groups (``KIND:group`` with ``MEMBER``) and inline attachments
  (``ATTACH;VALUE=BINARY;ENCODING=BASE64``) are kept. The Content-Type of a PUT is ignored.

:meth:`RadicaleServer.stop` ends the server process and removes the workdir unless
``keep=True`` or the caller gave the workdir. If the test process dies without stopping it,
the server process notices (its standard input, a pipe from the test process, ends), stops
and removes the workdir all the same (unless kept).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from groupmigrate.testing.radicale_app import Fault, change_faults, read_faults

if TYPE_CHECKING:
    from requests import Response as _Response

__all__ = [
    "HOST",
    "WRITE_METHODS",
    "RadicaleError",
    "RadicaleNotInstalled",
    "RadicaleRequestError",
    "RadicaleServer",
    "find_radicale",
]

HOST = "127.0.0.1"

#: Methods that can change a collection or a resource (Radicale answers 405 to those it does
#: not implement, such as COPY and LOCK; an attempt still counts as a write).
WRITE_METHODS: frozenset[str] = frozenset(
    {"PUT", "DELETE", "MKCOL", "MKCALENDAR", "PROPPATCH", "MOVE", "COPY", "POST", "PATCH",
     "LOCK", "UNLOCK", "ACL", "BIND", "UNBIND", "REBIND"}
)  # fmt: skip

Record = dict[str, Any]
Records = list[Record]

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0
_HTTP_TIMEOUT = 30.0
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,99}")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,199}")
_DAV, _CALDAV, _CARDDAV = "DAV:", "urn:ietf:params:xml:ns:caldav", "urn:ietf:params:xml:ns:carddav"
_APPLE_ICAL = "http://apple.com/ns/ical/"
_CONTENT_TYPES = {".ics": "text/calendar; charset=utf-8", ".vcf": "text/vcard; charset=utf-8"}
_fault_ids = itertools.count(1)
# what config= cannot change: where the data and users are, how users log in and what they may do
_MANAGED = frozenset(
    {("auth", "type"), ("auth", "htpasswd_filename"), ("auth", "htpasswd_encryption"),
     ("rights", "type"), ("storage", "type"), ("storage", "filesystem_folder")}
)  # fmt: skip


class RadicaleNotInstalled(RuntimeError):
    """The ``radicale`` package is not installed (``pip install radicale``, or the ``test`` extra)."""


class RadicaleError(RuntimeError):
    """Radicale did not start; the message has the tail of its standard error."""


class RadicaleRequestError(RadicaleError):
    """A seeding request (:meth:`RadicaleServer.put` and the like) got an unexpected answer."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered {status}: {body[:500]}")
        self.method, self.url, self.status, self.body = method, url, status, body


def find_radicale() -> str | None:
    """The version of the installed ``radicale`` package, or ``None`` when it is not importable."""
    if importlib.util.find_spec("radicale") is None:
        return None
    try:
        return importlib.metadata.version("radicale")
    except importlib.metadata.PackageNotFoundError:
        import radicale

        return str(getattr(radicale, "VERSION", "unknown"))


def _shutdown(proc: subprocess.Popen[bytes], workdir: Path | None) -> None:
    """Stop the server process (a normal stop: it keeps the workdir); remove ``workdir``."""
    if proc.poll() is None:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write(b"stop")
                proc.stdin.close()
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait()
    elif proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False))


def _prop_set(root_tag: str, props: list[ET.Element]) -> bytes:
    root = ET.Element(root_tag)
    prop = ET.SubElement(ET.SubElement(root, f"{{{_DAV}}}set"), f"{{{_DAV}}}prop")
    prop.extend(props)
    return _xml(root)


def _text_element(tag: str, text: str) -> ET.Element:
    element = ET.Element(tag)
    element.text = text
    return element


class RadicaleServer:
    """A real Radicale on 127.0.0.1, in a process of its own, with its data in a temp dir.

    The server starts in the constructor (or raises :class:`RadicaleNotInstalled` or
    :class:`RadicaleError` with the tail of Radicale's standard error) and stops with
    :meth:`stop` or at the end of a ``with`` block. See the module's documentation.

    ``config`` adds Radicale settings, ``{section: {option: value}}`` (e.g.
    ``{"server": {"max_resource_size": "50000"}}``, ``{"rights":
    {"permit_delete_collection": "False"}}``); it cannot change the storage, the user file or
    the rights type. ``workdir`` reuses a directory (a server stopped with ``keep=True``: its
    collections and users come back); a given workdir is never removed. ``log_level`` is
    Radicale's (its log is :meth:`log_text`).
    """

    host: str
    port: int
    tls: bool
    ca_file: str | None
    workdir: Path

    def __init__(
        self,
        *,
        tls: bool = False,
        keep: bool = False,
        workdir: str | os.PathLike[str] | None = None,
        config: Mapping[str, Mapping[str, str]] | None = None,
        log_level: str = "warning",
    ) -> None:
        if find_radicale() is None:
            raise RadicaleNotInstalled("Radicale is not installed (pip install radicale)")
        for section, options in (config or {}).items():
            managed = _MANAGED.intersection((section, option) for option in options)
            if managed:
                raise ValueError(f"config cannot set {sorted(managed)}: the server manages them")
        self.host = HOST
        self.port = 0
        self.tls = tls
        self.ca_file = None
        self._keep = keep
        self._config = {section: dict(options) for section, options in (config or {}).items()}
        self._log_level = log_level
        self._lock = threading.Lock()
        self._users: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._owns_workdir = workdir is None
        if workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="gm-radicale-"))
        else:
            self.workdir = Path(workdir).resolve()
            self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare()
            self._start()
        except BaseException:
            if self._owns_workdir and not keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RadicaleServer {state} {self.url} workdir={str(self.workdir)!r}>"

    # -- set-up -------------------------------------------------------------------------------
    def _prepare(self) -> None:
        w = self.workdir
        os.chmod(w, 0o700)
        (w / "storage").mkdir(exist_ok=True)
        self._htpasswd = w / "users"
        self._log = w / "requests.jsonl"
        self._faults = w / "faults.json"
        self._token_file = w / "tokens.json"
        self._stderr = w / "radicale.log"
        self._settings = w / "settings.json"
        if self._htpasswd.exists():  # a reused workdir: its users come back
            for line in self._htpasswd.read_text(encoding="utf-8").splitlines():
                name, sep, password = line.partition(":")
                if sep:
                    self._users[name] = password
        self._write_private(self._htpasswd, "".join(f"{n}:{p}\n" for n, p in self._users.items()))
        self._write_tokens()
        change_faults(self._faults, lambda rules: [])  # none left from a reused workdir
        self._log.touch(mode=0o600)
        if self.tls:
            from groupmigrate.testing.certificates import self_signed_pem

            cert, key = self_signed_pem(HOST, hosts=(HOST, "localhost"))
            self._cert = w / "cert.pem"
            self._key = w / "key.pem"
            self._cert.write_text(cert, encoding="ascii")
            self._write_private(self._key, key)
            self.ca_file = str(self._cert)

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        """Replace a file atomically, readable by this user only."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
            fh.write(text)
        os.replace(tmp, path)

    def _write_tokens(self) -> None:
        tokens = {token: [user, self._users[user]] for token, user in self._tokens.items()}
        self._write_private(self._token_file, json.dumps(tokens))

    def _radicale_config(self) -> dict[str, dict[str, str]]:
        config: dict[str, dict[str, str]] = {
            "server": {"delay_on_error": "0"},
            "auth": {
                "type": "htpasswd",
                "htpasswd_filename": str(self._htpasswd),
                "htpasswd_encryption": "plain",
                "delay": "0",
            },
            "rights": {"type": "owner_only"},
            "storage": {"filesystem_folder": str(self.workdir / "storage"), "_filesystem_fsync": "False"},
            "web": {"type": "none"},
            "logging": {"level": self._log_level},
        }
        for section, options in self._config.items():
            config.setdefault(section, {}).update(options)
        return config

    def _start(self, port: int = 0) -> None:
        settings = {
            "host": HOST,
            "port": port,
            "log_level": self._log_level,
            "radicale": self._radicale_config(),
            "log": str(self._log),
            "faults": str(self._faults),
            "tokens": str(self._token_file),
            "workdir": str(self.workdir),
            "remove_on_orphan": self._owns_workdir and not self._keep,
            "certificate": str(self._cert) if self.tls else None,
            "key": str(self._key) if self.tls else None,
        }
        self._settings.write_text(json.dumps(settings, indent=1), encoding="utf-8")
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        stderr_start = self._stderr.stat().st_size if self._stderr.exists() else 0
        with open(self._stderr, "ab") as err:
            proc = subprocess.Popen(
                # -P: the workdir (the current directory) is no place to import from
                [sys.executable, "-P", "-m", "groupmigrate.testing.radicale_app", str(self._settings)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
        owned = self.workdir if self._owns_workdir and not self._keep else None
        self._proc = proc
        self._finalizer = weakref.finalize(self, _shutdown, proc, owned)
        try:
            self.port = self._wait_ready(proc)
        except BaseException as exc:
            self._finalizer.detach()
            _shutdown(proc, None)
            self._proc = None
            if isinstance(exc, Exception):
                raise RadicaleError(f"Radicale did not start: {exc}\n{self._tail(stderr_start)}") from None
            raise

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> int:
        """The port, read from the ``ready <port>`` line the server writes once it listens."""
        assert proc.stdout is not None
        deadline = time.monotonic() + _START_TIMEOUT
        line = b""
        try:
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no answer within {_START_TIMEOUT:.0f} s")
                readable, _, _ = select.select([proc.stdout], [], [], min(remaining, 0.5))
                if readable:
                    chunk = os.read(proc.stdout.fileno(), 100)
                    if not chunk:
                        proc.wait(timeout=_STOP_TIMEOUT)
                        raise RuntimeError(f"the server process exited with code {proc.returncode}")
                    line += chunk
        finally:
            proc.stdout.close()
        words = line.split()
        if len(words) != 2 or words[0] != b"ready":
            raise RuntimeError(f"unexpected start-up line {line!r}")
        return int(words[1])

    # -- where ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>/`` (``https://`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/"

    def principal_url(self, user: str) -> str:
        """The user's principal (and calendar and address book home): ``<url><user>/``."""
        return f"{self.url}{quote(user)}/"

    # -- users and tokens -------------------------------------------------------------------------
    def add_user(self, name: str, password: str) -> None:
        """Create a user, who can log in at once (no restart; no collection yet).

        Names are letters, digits and ``._@+=-`` (an address is fine) and case-sensitive. The
        user's principal collection ``/<name>/`` appears at the user's first request.
        """
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"unusable user name {name!r}")
        if not password or "\n" in password or "\r" in password:
            raise ValueError("the password must be a non-empty single line")
        with self._lock:
            if name in self._users:
                raise ValueError(f"user {name!r} exists already")
            self._users[name] = password
            self._write_private(self._htpasswd, "".join(f"{n}:{p}\n" for n, p in self._users.items()))

    @property
    def users(self) -> list[str]:
        """The names of the users added so far."""
        with self._lock:
            return list(self._users)

    def add_token(self, token: str, user: str) -> None:
        """Let ``Authorization: Bearer <token>`` act as ``user`` (an existing user), at once."""
        if not token or any(c.isspace() for c in token):
            raise ValueError("a token is a non-empty string without spaces")
        with self._lock:
            if user not in self._users:
                raise ValueError(f"no user {user!r}")
            self._tokens[token] = user
            self._write_tokens()

    def remove_token(self, token: str) -> None:
        """Forget a token: requests with it are answered ``401`` from now on."""
        with self._lock:
            self._tokens.pop(token, None)
            self._write_tokens()

    # -- faults ---------------------------------------------------------------------------------
    def fail_next(
        self,
        method: str | Iterable[str] | None = "PUT",
        *,
        status: int | None = None,
        after_apply: bool = True,
        drop: bool = False,
        count: int = 1,
        path_contains: str | None = None,
        user: str | None = None,
        retry_after: int | None = None,
    ) -> str:
        """Make the next ``count`` matching requests fail; returns the rule's id.

        A request matches when its method is ``method`` (one, several, or ``None``: any), its
        decoded path contains ``path_contains`` and its user (Basic user name, or the user of a
        bearer token) is ``user`` (when given). With ``after_apply`` (the default) Radicale
        handles the request first (a PUT stores the resource) and the client gets ``status``
        (default ``504``) with an HTML page instead of Radicale's answer; without it Radicale
        never sees the request and the client gets ``status`` (default ``503``). ``drop``
        closes the connection without any answer instead (after applying, or not).
        ``retry_after`` adds that header. Rules are tried in the order they were added; the
        first match is used up by one. Each request's record names the rule (``fault``) and
        what Radicale answered (``applied_status``).
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        if status is None:
            status = 504 if after_apply else 503
        if not 400 <= status <= 599:
            raise ValueError("status must be an error status (4xx or 5xx)")
        methods = [method] if isinstance(method, str) else (list(method) if method is not None else [])
        rule: Fault = {
            "id": f"fault-{next(_fault_ids)}",
            "methods": [m.upper() for m in methods],
            "path_contains": path_contains,
            "user": user,
            "status": status,
            "after_apply": after_apply,
            "drop": drop,
            "retry_after": retry_after,
            "remaining": count,
        }
        change_faults(self._faults, lambda rules: [*rules, rule])
        return str(rule["id"])

    def pending_faults(self) -> list[Fault]:
        """The rules not used up yet (``remaining`` is how many requests each still fails)."""
        return read_faults(self._faults)

    def clear_faults(self) -> None:
        """Drop every rule: requests go through again."""
        change_faults(self._faults, lambda rules: [])

    # -- what clients did ---------------------------------------------------------------------
    def log_mark(self) -> int:
        """A point in the request log: ``requests(since=mark)`` lists what came after it."""
        return self._log.stat().st_size

    def requests(self, user: str | None = None, *, since: int = 0) -> Records:
        """The requests answered so far (after ``since``, a :meth:`log_mark`), in order.

        Each is a dict with ``time``, ``method``, ``path``, ``user``, ``auth``
        (``"basic"``/``"bearer"``/``None``), ``status`` (``None``: connection dropped) and
        ``duration``, plus ``depth``, ``fault`` and ``applied_status`` where they apply (see
        :class:`~groupmigrate.testing.radicale_app.Recorder`). ``user`` keeps those of that
        user: the Basic user name as sent (a wrong password included), or the user a bearer
        token maps to. A request's record is written before its answer is sent.
        """
        with open(self._log, "rb") as fh:
            fh.seek(since)
            data = fh.read()
        records: Records = []
        for line in data.split(b"\n"):
            if line.strip():
                with contextlib.suppress(ValueError):
                    records.append(json.loads(line))
        if user is not None:
            records = [r for r in records if r.get("user") == user]
        return records

    def write_operations(self, user: str | None = None, *, since: int = 0) -> Records:
        """Those of :meth:`requests` whose method can change something (:data:`WRITE_METHODS`).

        A refused write (``401``, ``403``, ``405``...) is listed too: it was sent.
        """
        return [r for r in self.requests(user, since=since) if r.get("method") in WRITE_METHODS]

    def clear_log(self) -> None:
        """Empty the request log (marks taken before no longer apply)."""
        os.truncate(self._log, 0)

    def log_text(self) -> str:
        """Radicale's own log (its standard error) so far."""
        return self._tail(0, lines=None)

    def _tail(self, start: int, lines: int | None = 30) -> str:
        try:
            with open(self._stderr, "rb") as fh:
                fh.seek(start)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return text if lines is None else "\n".join(text.strip().splitlines()[-lines:])

    # -- seeding over HTTP ------------------------------------------------------------------------
    def _url(self, href: str) -> str:
        return urljoin(self.url, href)

    def _request(
        self,
        user: str,
        method: str,
        href: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Iterable[int] = (200, 201, 204, 207),
    ) -> _Response:
        import requests

        with self._lock:
            password = self._users.get(user)
        if password is None:
            raise ValueError(f"no user {user!r}")
        url = self._url(href)
        with requests.Session() as session:
            session.trust_env = False  # no proxy, no netrc: straight to loopback
            response = session.request(
                method, url, data=data, headers=dict(headers or {}), auth=(user, password),
                verify=self.ca_file if self.tls else True, timeout=_HTTP_TIMEOUT, allow_redirects=False,
            )  # fmt: skip
        if response.status_code not in set(expect):
            raise RadicaleRequestError(method, url, response.status_code, response.text)
        return response

    def make_calendar(
        self,
        user: str,
        name: str,
        *,
        display_name: str | None = None,
        color: str | None = None,
        components: Iterable[str] = ("VEVENT",),
    ) -> str:
        """Create a calendar ``/<user>/<name>/`` (MKCALENDAR, as ``user``); returns its href.

        ``components`` are the component types it accepts (``"VEVENT"``, ``"VTODO"``,
        ``"VJOURNAL"``); ``color`` is Apple's ``calendar-color`` (``"#RRGGBB"``).
        """
        props = [
            ET.Element(f"{{{_CALDAV}}}supported-calendar-component-set"),
        ]
        for component in components:
            ET.SubElement(props[0], f"{{{_CALDAV}}}comp", name=component.upper())
        if display_name is not None:
            props.append(_text_element(f"{{{_DAV}}}displayname", display_name))
        if color is not None:
            props.append(_text_element(f"{{{_APPLE_ICAL}}}calendar-color", color))
        href = self._collection_href(user, name)
        body = _prop_set(f"{{{_CALDAV}}}mkcalendar", props)
        self._request(user, "MKCALENDAR", href, data=body, headers={"Content-Type": "application/xml; charset=utf-8"})
        return href

    def make_addressbook(self, user: str, name: str, *, display_name: str | None = None) -> str:
        """Create an address book ``/<user>/<name>/`` (extended MKCOL, as ``user``); returns its href."""
        resourcetype = ET.Element(f"{{{_DAV}}}resourcetype")
        ET.SubElement(resourcetype, f"{{{_DAV}}}collection")
        ET.SubElement(resourcetype, f"{{{_CARDDAV}}}addressbook")
        props = [resourcetype]
        if display_name is not None:
            props.append(_text_element(f"{{{_DAV}}}displayname", display_name))
        href = self._collection_href(user, name)
        body = _prop_set(f"{{{_DAV}}}mkcol", props)
        self._request(user, "MKCOL", href, data=body, headers={"Content-Type": "application/xml; charset=utf-8"})
        return href

    @staticmethod
    def _collection_href(user: str, name: str) -> str:
        if not _SEGMENT_RE.fullmatch(name):
            raise ValueError(f"unusable collection name {name!r} (letters, digits, ._@+=-)")
        return f"/{quote(user)}/{name}/"

    def put(self, user: str, href: str, data: bytes, content_type: str | None = None) -> str:
        """Store a resource (PUT, as ``user``); returns its ETag.

        ``content_type`` defaults to ``text/calendar`` for ``.ics`` and ``text/vcard`` for
        ``.vcf`` hrefs.
        """
        if content_type is None:
            content_type = _CONTENT_TYPES.get(Path(urlsplit(href).path).suffix.lower(), "")
            if not content_type:
                raise ValueError(f"give the content type of {href!r}")
        response = self._request(user, "PUT", href, data=data, headers={"Content-Type": content_type})
        etag = response.headers.get("ETag")
        if etag is None:
            raise RadicaleRequestError("PUT", self._url(href), response.status_code, "no ETag in the answer")
        return str(etag)

    def get(self, user: str, href: str) -> bytes:
        """A resource's body (GET, as ``user``)."""
        return self._request(user, "GET", href, expect=(200,)).content or b""

    def delete(self, user: str, href: str) -> None:
        """Delete a resource or a collection (DELETE, as ``user``)."""
        self._request(user, "DELETE", href, expect=(200, 204))

    def list(self, user: str, collection_href: str) -> dict[str, bytes]:
        """Every resource in a collection, ``{href: body}`` (PROPFIND then GETs, as ``user``).

        Hrefs are paths as Radicale gives them (percent-encoded). Sub-collections are left out.
        """
        propfind = ET.Element(f"{{{_DAV}}}propfind")
        ET.SubElement(ET.SubElement(propfind, f"{{{_DAV}}}prop"), f"{{{_DAV}}}resourcetype")
        response = self._request(
            user, "PROPFIND", collection_href, data=_xml(propfind),
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}, expect=(207,),
        )  # fmt: skip
        own_path = unquote(urlsplit(self._url(collection_href)).path).rstrip("/")
        items: dict[str, bytes] = {}
        for entry in ET.fromstring(response.content).iter(f"{{{_DAV}}}response"):
            href = entry.findtext(f"{{{_DAV}}}href") or ""
            if unquote(urlsplit(href).path).rstrip("/") == own_path:
                continue
            if entry.find(f".//{{{_DAV}}}resourcetype/{{{_DAV}}}collection") is not None:
                continue
            items[href] = self.get(user, href)
        return items

    # -- lifetime -----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The server process's id (it changes with :meth:`restart`), ``None`` once stopped."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is running."""
        return self._proc is not None and self._proc.poll() is None

    def restart(self) -> None:
        """Stop the server process and start it again on the same port, with the same data.

        Users, tokens, collections, the request log and pending faults stay. Not for a
        stopped server whose workdir is gone.
        """
        if not self._settings.exists():
            raise RadicaleError(f"the workdir {str(self.workdir)!r} is gone: start a new server")
        if self._finalizer is not None and self._finalizer.alive:
            self._finalizer.detach()
        if self._proc is not None:
            _shutdown(self._proc, None)
            self._proc = None
        self._start(self.port)

    def stop(self) -> None:
        """Stop the server process; remove the workdir unless ``keep=True`` or it was given."""
        if self._finalizer is not None and self._finalizer.alive:
            self._finalizer()
        elif self._owns_workdir and not self._keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._proc = None

    def __enter__(self) -> RadicaleServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

