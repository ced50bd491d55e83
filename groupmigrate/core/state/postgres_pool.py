"""The PostgreSQL state store's way to its database: a small pool of connections shared by the
store's threads, transactions retried when chosen as a deadlock victim, and errors that never
show the password."""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from groupmigrate.auth import Secret
from groupmigrate.core.state.url import mask_url, url_passwords
from groupmigrate.errors import GroupmigrateError, OutputError, StateError

__all__ = ["Connection", "ConnectionPool", "Database"]

Connection = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

_RETRIES = 6  # a transaction chosen as a deadlock victim is run again, up to this many times

#: Seconds a thread waits for a free connection before the store gives up.
POOL_WAIT = 120.0
#: A connection idle longer than this is checked (``SELECT 1``) before it is handed out again.
_CHECK_AFTER = 15.0


class ConnectionPool:
    """At most ``size`` connections, opened when first needed, each used by one thread at a time.

    A connection that broke, or was left inside a transaction, is closed instead of being
    reused. After a fork the child never touches its parent's connections (closing them would
    end the parent's sessions): it opens its own.
    """

    def __init__(self, connect: Callable[[], Connection], size: int, where: str) -> None:
        if size < 1:
            raise ValueError(f"pool_size: must be at least 1, got {size}")
        self._connect = connect
        self._size = size
        self._where = where
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[tuple[Connection, float]] = []
        self._pid = os.getpid()
        self._inherited: list[Connection] = []  # a parent's, after a fork: kept, never used
        self._closed = False

    def _take(self) -> Connection | None:
        with self._lock:
            if self._closed:
                raise StateError(f"state store {self._where} is closed")
            if self._pid != os.getpid():
                self._inherited.extend(conn for conn, _ in self._idle)
                self._idle, self._pid = [], os.getpid()
            if not self._idle:
                return None
            conn, since = self._idle.pop()
        if time.monotonic() - since > _CHECK_AFTER:
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                with contextlib.suppress(Exception):
                    conn.close()
                return None
        return conn

    def _give_back(self, conn: Connection) -> None:
        reusable = (
            not conn.closed
            and not getattr(conn, "broken", False)
            and conn.info.transaction_status == pq.TransactionStatus.IDLE
        )
        with self._lock:
            if reusable and not self._closed and self._pid == os.getpid():
                self._idle.append((conn, time.monotonic()))
                return
        with contextlib.suppress(Exception):
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for the block, in autocommit mode."""
        if not self._slots.acquire(timeout=POOL_WAIT):
            raise StateError(
                f"state store {self._where}: all {self._size} connections stayed busy for {POOL_WAIT:.0f} s"
            )
        try:
            conn = self._take() or self._connect()
            try:
                yield conn
            finally:
                self._give_back(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            if self._pid != os.getpid():
                self._inherited.extend(conn for conn, _ in idle)
                return
        for conn, _ in idle:
            with contextlib.suppress(Exception):
                conn.close()


class Database:
    """The database a ``postgresql://`` URL names, reached through a :class:`ConnectionPool`.

    :attr:`url` shows the URL with its password as ``***``; the password itself is kept as a
    :class:`~groupmigrate.auth.Secret` and removed from every error message. Without one in
    the URL, libpq looks in ``PGPASSWORD``, ``PGPASSFILE`` and ``~/.pgpass``.
    """

    def __init__(self, url: str, pool_size: int) -> None:
        #: The URL with its password shown as ``***``.
        self.url = mask_url(url)
        self._hide = url_passwords(url)
        try:
            params: dict[str, Any] = conninfo_to_dict(url.strip())
        except psycopg.Error:
            raise StateError(f"state store {self.url} is not a valid PostgreSQL URL") from None
        password = params.pop("password", None)
        if password:
            self._hide.add(str(password))
        self._password = Secret(str(password)) if password else None
        params.setdefault("application_name", "groupmigrate")
        params.setdefault("connect_timeout", "10")
        self._params = params
        self._pool = ConnectionPool(self._connect, pool_size, self.url)

    def scrub(self, text: str) -> str:
        """``text`` without the password (as written in the URL, or decoded)."""
        for secret in sorted(self._hide, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    def _connect(self) -> Connection:
        params = dict(self._params)
        if self._password is not None:
            params["password"] = self._password.reveal()
        try:
            return psycopg.connect(autocommit=True, **params)
        except psycopg.Error as exc:
            raise StateError(self.scrub(f"cannot connect to the state store {self.url}: {str(exc).strip()}")) from None

    def error(self, exc: psycopg.Error) -> GroupmigrateError:
        """The error to raise for ``exc``: an :class:`OutputError` for a full disk, else a :class:`StateError`."""
        text = str(exc).strip()
        if isinstance(exc, pg_errors.DiskFull):
            return OutputError(
                self.scrub(
                    f"state store {self.url}: the database server's disk is full ({text}); make room and run the "
                    "same command again: it continues from the last batch that was saved"
                ),
                path=self.url,
            )
        return StateError(self.scrub(f"state store {self.url}: {text}"))

    def run(self, work: Callable[[Connection], T], *, tx: bool = True) -> T:
        """``work(conn)`` in one transaction (``tx``) or in autocommit; deadlock victims are run again."""
        attempt = 0
        while True:
            try:
                with self._pool.connection() as conn:
                    if not tx:
                        return work(conn)
                    with conn.transaction():
                        return work(conn)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as exc:
                attempt += 1
                if attempt >= _RETRIES:
                    raise self.error(exc) from None
                time.sleep(random.uniform(0.005, 0.03) * attempt)
            except psycopg.Error as exc:
                raise self.error(exc) from None

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement (autocommit)."""
        return self.run(lambda conn: conn.execute(sql, args).fetchall(), tx=False)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement in a transaction; how many rows it touched."""
        return self.run(lambda conn: conn.execute(sql, args).rowcount)

    def close(self) -> None:
        self._pool.close()
