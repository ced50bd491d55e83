"""A real PostgreSQL server on loopback, for testing the PostgreSQL state store against the real thing.

:class:`PostgresServer` creates a database cluster (``initdb``) in a temporary directory (its
*workdir*) and starts ``postgres`` on it: its own data, socket and log, nothing shared with
a system-wide PostgreSQL. It needs PostgreSQL's server programs (``initdb`` and ``postgres``,
found on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin``; Debian: ``apt-get install
postgresql``; ``bash scripts/test.sh`` installs it when run as root) and psycopg 3.

.. code-block:: python

    from groupmigrate.testing.postgres import PostgresServer

    with PostgresServer() as server:
        url = server.new_database()          # postgresql://postgres@127.0.0.1:PORT/test_1_...
        store = open_state(url)
        ...

What the server offers:

* It listens on ``127.0.0.1`` only, on a free port picked at start (``port``), and on a Unix
  socket in ``<workdir>/socket``. The superuser ``postgres`` logs in without a password
  (``trust``, loopback and the socket only); roles made with :meth:`PostgresServer.add_role`
  log in over TCP with their password (``scram-sha-256``), so password handling can be tested.
* It is set up for speed, not safety: ``fsync``, ``synchronous_commit`` and
  ``full_page_writes`` are off. Its data are thrown away when it stops.
* :meth:`PostgresServer.new_database` creates an empty database (a fresh one per test, so
  tests never share state) and returns its URL; :meth:`PostgresServer.drop_database` drops one.

As root the server runs as ``nobody`` (PostgreSQL refuses to run as root), in a workdir owned
by ``nobody``; as any other user, as that user.

:meth:`PostgresServer.stop` ends the server and removes the workdir. A watchdog process does
the same if the test process dies without stopping it.

For pytest, :func:`postgres_server` (one server per test session) and :func:`pg_url` (a
fresh database per test, dropped after it) are fixtures: import them into a ``conftest.py``
(``from groupmigrate.testing.postgres import pg_url, postgres_server``). Without PostgreSQL
they skip the test, except when the environment variable ``CI`` is ``true`` or ``1``: there
a missing server is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from groupmigrate.testing.servers import on_ci
from groupmigrate.testing.watchdog import start_watchdog, stop_watchdog

__all__ = [
    "PostgresError",
    "PostgresNotInstalled",
    "PostgresServer",
    "find_postgres",
    "import_psycopg",
    "pg_url",
    "postgres_server",
    "require_postgres",
]

HOST = "127.0.0.1"
SUPERUSER = "postgres"
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_PORT_ATTEMPTS = 5
_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "unix_socket_permissions": "0700",
    "max_wal_size": "1GB",
}


class PostgresNotInstalled(RuntimeError):
    """PostgreSQL's server programs (Debian package ``postgresql``) or psycopg are not installed."""


class PostgresError(RuntimeError):
    """PostgreSQL did not start or did not do what was asked; the message has the log's tail."""


def find_postgres() -> str | None:
    """The directory holding ``initdb`` and ``postgres`` (on ``PATH``, else the newest under
    ``/usr/lib/postgresql/*/bin``), or ``None``."""
    candidates: list[str] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(os.path.dirname(on_path))

    def version(path: str) -> tuple[int, ...]:
        number = Path(path).parent.name
        return tuple(int(p) for p in number.split(".") if p.isdigit())

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for directory in candidates:
        if all(os.access(os.path.join(directory, name), os.X_OK) for name in ("initdb", "postgres")):
            return directory
    return None


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise PostgresNotInstalled("psycopg 3 is not installed (pip install 'groupmigrate[postgres]')") from None
    return psycopg


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _quote(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"unusable name {name!r} (lower case letters, digits and _, at most 63)")
    return f'"{name}"'




def _shutdown(
    proc: subprocess.Popen[bytes] | None, watchdog: subprocess.Popen[bytes] | None, workdir: Path | None
) -> None:
    """Stop postgres (immediate shutdown: the data are thrown away), then remove the workdir (if given)."""
    if proc is not None and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc is not None:  # backends still exiting (they follow the postmaster within moments)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    stop_watchdog(watchdog, _STOP_TIMEOUT)


class PostgresServer:
    """A real PostgreSQL on 127.0.0.1 with its own cluster in a temp dir (see the module's documentation).

    The server starts in the constructor (or raises :class:`PostgresNotInstalled`, or
    :class:`PostgresError` with the tail of the server's log) and stops with :meth:`stop` or
    at the end of a ``with`` block. ``settings`` adds or overrides server settings
    (``{"max_connections": "50"}``).
    """

    host: str
    port: int
    workdir: Path

    def __init__(self, *, settings: dict[str, str] | None = None) -> None:
        bin_dir = find_postgres()
        if bin_dir is None:
            raise PostgresNotInstalled("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self._psycopg = _psycopg()
        self.bin_dir = bin_dir
        self.host = HOST
        self.port = 0
        self._settings = {**_SETTINGS, **(settings or {})}
        self._lock = threading.Lock()
        self._admin: Any = None
        self._numbers = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="gm-postgres-"))
        self.data_dir = self.workdir / "data"
        self.socket_dir = self.workdir / "socket"
        self.log_file = self.workdir / "postgres.log"
        self._user: pwd.struct_passwd | None = None
        try:
            if os.getuid() == 0:
                self._user = pwd.getpwnam("nobody")
                os.chown(self.workdir, self._user.pw_uid, self._user.pw_gid)
            self.socket_dir.mkdir()
            if self._user is not None:
                os.chown(self.socket_dir, self._user.pw_uid, self._user.pw_gid)
            self._initdb()
            self._start()
        except BaseException:
            self.stop()
            raise

    # -- start --------------------------------------------------------------------------------
    def _as_server_user(self) -> dict[str, Any]:
        """subprocess arguments running a program as the server's user."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        if self._user is None:
            return {"env": env}
        env.update(HOME=str(self.workdir), USER=self._user.pw_name, LOGNAME=self._user.pw_name)
        return {"env": env, "user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        command = [
            os.path.join(self.bin_dir, "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--encoding=UTF8", "--locale=C",
        ]  # fmt: skip
        done = subprocess.run(
            command, cwd=self.workdir, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
            **self._as_server_user(),
        )  # fmt: skip
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode("utf-8", "replace").strip().splitlines()
            raise PostgresError(f"initdb failed with code {done.returncode}:\n" + "\n".join(output[-30:]))
        # the superuser over TCP from loopback only, without a password; everyone else with theirs
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {SUPERUSER} {HOST}/32 trust\n"
            f"host all all {HOST}/32 scram-sha-256\n",
            encoding="utf-8",
        )

    def _start(self) -> None:
        last_error = ""
        for _attempt in range(_PORT_ATTEMPTS):
            self.port = _free_port()
            settings = {**self._settings, "port": str(self.port), "unix_socket_directories": str(self.socket_dir)}
            command = [os.path.join(self.bin_dir, "postgres"), "-D", str(self.data_dir)]
            for key, value in settings.items():
                command += ["-c", f"{key}={value}"]
            log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
            with open(self.log_file, "ab") as log:
                self._proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir,
                    start_new_session=True, **self._as_server_user(),
                )  # fmt: skip
            # if the test process dies first: SIGQUIT (immediate shutdown), SIGKILL after 5 s
            watchdog = start_watchdog(self._proc.pid, str(self.data_dir), [self.workdir], first_signal="SIGQUIT", grace=5.0)
            self._finalizer = weakref.finalize(self, _shutdown, self._proc, watchdog, self.workdir)
            error = self._wait_ready()
            if error is None:
                return
            self._finalizer.detach()
            _shutdown(self._proc, watchdog, None)
            self._proc = None
            last_error = error
            if "already in use" not in self._read_log(log_start):
                break
        raise PostgresError(f"PostgreSQL did not start: {last_error}\n{self.log_tail()}")

    def _wait_ready(self) -> str | None:
        """``None`` once the server accepts a connection, else why not."""
        assert self._proc is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            code = self._proc.poll()
            if code is not None:
                return f"postgres exited with code {code}"
            if time.monotonic() > deadline:
                return f"no connection on port {self.port} within {_START_TIMEOUT:.0f} s"
            try:
                with self._psycopg.connect(self._conninfo("postgres"), connect_timeout=2):
                    return None
            except self._psycopg.OperationalError:
                time.sleep(0.05)

    # -- URLs and databases -------------------------------------------------------------------
    def _conninfo(self, database: str) -> str:
        return f"host={HOST} port={self.port} user={SUPERUSER} dbname={database} sslmode=disable"

    @property
    def url(self) -> str:
        """The superuser's URL of the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """The URL of ``database`` for ``user`` (with ``password`` in it when given)."""
        from urllib.parse import quote

        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
        return f"postgresql://{auth}@{HOST}:{self.port}/{database}"

    def _admin_execute(self, sql: str) -> None:
        with self._lock:
            if self._admin is None or self._admin.closed:
                self._admin = self._psycopg.connect(self._conninfo("postgres"), autocommit=True)
            try:
                self._admin.execute(sql)
            except self._psycopg.Error as exc:
                raise PostgresError(f"{sql.split(' PASSWORD ')[0]}: {exc}") from None

    def new_database(self, name: str | None = None, *, owner: str | None = None) -> str:
        """Create an empty database (named ``test_<n>_<random>`` unless ``name`` is given,
        owned by ``owner``, default the superuser) and return its URL for its owner."""
        name = name or f"test_{next(self._numbers)}_{secrets.token_hex(4)}"
        self._admin_execute(f"CREATE DATABASE {_quote(name)}" + (f" OWNER {_quote(owner)}" if owner else ""))
        return self.url_for(name, owner or SUPERUSER)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending its sessions first."""
        self._admin_execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")

    def add_role(self, name: str, password: str) -> None:
        """Create a role that logs in over TCP with ``password``."""
        literal = "'" + password.replace("'", "''") + "'"
        self._admin_execute(f"CREATE ROLE {_quote(name)} LOGIN PASSWORD {literal}")

    # -- logs and lifetime ----------------------------------------------------------------------
    def _read_log(self, offset: int = 0) -> str:
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log."""
        return "\n".join(self._read_log().strip().splitlines()[-lines:])

    @property
    def running(self) -> bool:
        """Whether the server's main process is running."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The pid of the server's main process."""
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        """Stop the server and remove the workdir (its data, socket and log)."""
        with self._lock:
            if self._admin is not None:
                with contextlib.suppress(Exception):
                    self._admin.close()
                self._admin = None
        if self._finalizer is not None and self._finalizer.alive:
            self._finalizer()
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- pytest fixtures ----------------------------------------------------------------------------------
_SERVER_KEY = pytest.StashKey[PostgresServer]()




def import_psycopg() -> ModuleType:
    """psycopg, for a test module that imports what needs it: without it the module is skipped,
    except when ``CI`` is ``true``/``1``, where that is a failure. Call it at the top::

        psycopg = import_psycopg()
        from groupmigrate.core.state import PostgresStateStore  # noqa: E402
    """
    try:
        return cast(ModuleType, _psycopg())
    except PostgresNotInstalled as exc:
        message = str(exc)
    if on_ci():
        pytest.fail(f"CI: {message}", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_postgres() -> None:
    """Skip the calling test without PostgreSQL or psycopg; fail it instead when ``CI`` is ``true``/``1``."""
    message = None
    if find_postgres() is None:
        message = (
            "PostgreSQL is not installed (Debian: apt-get install postgresql; "
            "bash scripts/test.sh installs it when run as root)"
        )
    else:
        try:
            _psycopg()
        except PostgresNotInstalled as exc:
            message = str(exc)
    if message is None:
        return
    if on_ci():
        pytest.fail(f"CI: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> PostgresServer:
    """One started :class:`PostgresServer` for the whole test session, shared by every
    directory that imports this fixture."""
    require_postgres()
    config = request.config
    server = config.stash.get(_SERVER_KEY, None)
    if server is None or not server.running:
        server = PostgresServer()
        config.stash[_SERVER_KEY] = server
        config.add_cleanup(server.stop)
    return server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database on ``postgres_server``, dropped after the test."""
    url = postgres_server.new_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])
