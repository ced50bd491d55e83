"""A state store in PostgreSQL, written by many worker processes on many machines at once.

Open it with :func:`~groupmigrate.core.state.open_state` and a URL
(``postgresql://user@db.example.org/groupmigrate``) or as
:class:`PostgresStateStore`. Give it a database of its own: its tables (``runs``,
``accounts``, ``folders``, ``items``, ``counts``, ``log``, ``claims``, ``workers`` and
``schema_version``) are created on first use. The password comes from the URL or, as libpq
finds it, from ``PGPASSWORD``, the file ``PGPASSFILE`` names or ``~/.pgpass``; it is never
stored, logged or shown: :attr:`PostgresStateStore.url`, reprs and error messages show
``***`` instead.

Each method is one transaction on a connection of a small pool, so the store can be shared by
the threads of a migration. :meth:`PostgresStateStore.writer` is no exclusive lock: many
processes migrate different accounts of one run (or of several) at once, each account under a
claim (see :class:`~groupmigrate.core.state.StateStore`). Inside ``writer()`` the store keeps a
*writer session*: the runs it starts and the accounts it starts that nobody else claimed are
held under this store's own owner name (:attr:`PostgresStateStore.owner`), with a lease that a
background thread renews, and given up when the block ends. If the process dies, the lease
runs out and what it left ``running`` reads as ``interrupted``; the next ``writer()`` (or
:meth:`PostgresStateStore.mark_interrupted`) records it so. A run started outside
``writer()`` (by a coordinator that hands it to workers) has no owner and is never taken
for interrupted: whoever finishes its work calls ``finish_run``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from groupmigrate.core.state import postgres_claims as claims
from groupmigrate.core.state.claims import WorkerRecord
from groupmigrate.core.state.postgres_pool import Connection, Database
from groupmigrate.core.state.postgres_schema import stored_version, upgrade
from groupmigrate.core.state.records import (
    MAPPED_OUTCOMES, AccountRecord, FolderState, ItemMapping, LogEntry, RunRecord, _now,
)  # fmt: skip
from groupmigrate.core.state.url import is_postgres_url
from groupmigrate.errors import StateError

__all__ = ["PostgresStateStore"]

_RUN_COLUMNS = f"r.run_id, r.mode, r.since, r.item_types, r.started, r.finished, {claims.RUN_STATUS}"
_RUN_SELECT = f"SELECT {_RUN_COLUMNS} FROM runs r"
_ACCOUNT_COLUMNS = (
    f"a.run_id, a.pair_key, a.source, a.destination, {claims.ACCOUNT_STATUS}, a.error, a.started, a.finished"
)
_FOLDER_SELECT = "SELECT folder_key, path, kind, destination_id, watermark, sync_state FROM folders"


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.timezone.utc) if value is not None else None


def _text(value: str | None) -> str | None:
    """Human text as PostgreSQL can keep it: a NUL character (which it cannot) becomes U+FFFD."""
    return value.replace("\x00", "\ufffd") if value else value


def _kind_filter(kind: str | None, column: str = "r.mode") -> tuple[str, tuple[str, ...]]:
    if kind is None:
        return "", ()
    if kind == "verify":
        return f" AND {column} = %s", ("verify",)
    if kind == "migration":
        return f" AND {column} != %s", ("verify",)
    raise ValueError(f"unknown run kind {kind!r}; expected 'migration' or 'verify'")


def _run_record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        run_id=row[0], mode=row[1], since=_utc(row[2]), item_types=tuple(row[3]),
        started=_utc(row[4]) or _now(), finished=_utc(row[5]), status=row[6],
    )  # fmt: skip


def _account_record(row: Sequence[Any]) -> AccountRecord:
    return AccountRecord(row[0], row[1], row[2], row[3], row[4], row[5], _utc(row[6]), _utc(row[7]))


class PostgresStateStore:
    """A :class:`~groupmigrate.core.state.StateStore` in a PostgreSQL database (see the module's documentation).

    Args:
        url: ``postgresql://[user[:password]@]host[:port]/database[?param=value...]``; any
            libpq parameter is accepted (``sslmode``, ``options``...).
        pool_size: connections this store opens at most (each when first needed).
        writer_lease: seconds a writer session's runs and accounts stay ``running`` after the
            process stops renewing them (it renews every third of it).

    Raises :class:`~groupmigrate.errors.StateError` when the database cannot be reached or
    its schema is newer than this groupmigrate understands.
    """

    def __init__(self, url: str, *, pool_size: int = 4, writer_lease: float = 60.0) -> None:
        if not is_postgres_url(url):
            raise ValueError("url: give a postgresql:// URL")
        if writer_lease <= 0:
            raise ValueError(f"writer_lease: must be positive, got {writer_lease}")
        self._db = Database(url, pool_size)
        #: The URL with its password shown as ``***``.
        self.url = self._db.url
        #: This store's own owner name (``host:pid:random``): its writer session's claims are held under it.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.writer_lease = float(writer_lease)
        self._writer_guard = threading.Lock()
        self._writer_depth = 0
        self._session: claims.WriterSession | None = None
        self._db.run(lambda conn: upgrade(conn, self.url), tx=False)

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.url!r})"

    @property
    def schema_version(self) -> int:
        return self._db.run(stored_version, tx=False)

    def close(self) -> None:
        with self._writer_guard:
            if self._writer_depth:
                self._writer_depth = 0
                self._end_session()
        self._db.close()

    # -- writers ------------------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[None]:
        """A writer session for the block; no lock: other processes write at the same time.

        On entering, what dead workers left ``running`` is marked ``interrupted``. Within the
        block, runs this store starts and accounts it starts that nobody else holds a claim on
        are held under :attr:`owner`, renewed in the background every third of
        ``writer_lease``, and given up at the end. Re-entrant; threads share the session.
        """
        with self._writer_guard:
            if self._writer_depth == 0:
                self.mark_interrupted()
                self._start_session()
            self._writer_depth += 1
        try:
            yield
        finally:
            with self._writer_guard:
                if self._writer_depth > 0:
                    self._writer_depth -= 1
                    if self._writer_depth == 0:
                        self._end_session()

    @property
    def is_writer(self) -> bool:
        """True while this store object is inside :meth:`writer`."""
        return self._writer_depth > 0

    def _start_session(self) -> None:
        self._session = claims.WriterSession(self._db, self.owner, self.writer_lease)
        self._session.start()

    def _end_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.stop()

    def mark_interrupted(self) -> None:
        """Record as ``interrupted`` the accounts left ``running`` without a live claim, and the
        runs of writer sessions whose lease ran out and on which nobody holds a live claim."""
        self._db.run(claims.mark_interrupted)

    # -- runs and accounts ------------------------------------------------------------------
    def start_run(self, mode: str, since: dt.datetime | None, item_types: Sequence[str]) -> str:
        run_id = _now().strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
        owner, lease = (self.owner, self.writer_lease) if self.is_writer else (None, None)
        self._db.execute(
            "INSERT INTO runs (run_id, mode, since, item_types, started, status, owner, lease_until) "
            f"VALUES (%s, %s, %s, %s, now(), 'running', %s, {claims.LEASE})",
            (run_id, mode, _utc(since), list(item_types), owner, lease),
        )
        return run_id

    def finish_run(self, run_id: str, status: str) -> None:
        self._db.execute("UPDATE runs SET finished = now(), status = %s WHERE run_id = %s", (status, run_id))

    def runs(self, kind: str | None = None) -> list[RunRecord]:
        """Every run, oldest first; only migrations or only verifications with ``kind``."""
        condition, args = _kind_filter(kind)
        rows = self._db.query(f"{_RUN_SELECT} WHERE true{condition} ORDER BY r.started, r.seq", args)
        return [_run_record(r) for r in rows]

    def latest_run(self, kind: str | None = "migration") -> RunRecord | None:
        """The most recently started run of ``kind`` (``None``: of any kind), if any."""
        condition, args = _kind_filter(kind)
        rows = self._db.query(f"{_RUN_SELECT} WHERE true{condition} ORDER BY r.started DESC, r.seq DESC LIMIT 1", args)
        return _run_record(rows[0]) if rows else None

    def get_run(self, run_id: str) -> RunRecord:
        rows = self._db.query(f"{_RUN_SELECT} WHERE r.run_id = %s", (run_id,))
        if not rows:
            raise StateError(f"no run {run_id!r} in {self.url}")
        return _run_record(rows[0])

    def start_account(self, run_id: str, pair_key: str, source: str, destination: str) -> None:
        """Record the account as ``running``; inside :meth:`writer`, claim it for the session unless another owner holds it."""
        session = self.is_writer

        def work(conn: Connection) -> None:
            if session:
                claims.claim(conn, run_id, pair_key, self.owner, self.writer_lease)
            conn.execute(
                "INSERT INTO accounts (run_id, pair_key, source, destination, status, started) "
                "VALUES (%s, %s, %s, %s, 'running', now()) ON CONFLICT (run_id, pair_key) DO UPDATE SET "
                "source = excluded.source, destination = excluded.destination, status = 'running', error = NULL, "
                "started = excluded.started, finished = NULL, seq = excluded.seq",
                (run_id, pair_key, source, destination),
            )
            claims.mark_started(conn, run_id, pair_key)

        self._db.run(work)

    def finish_account(self, run_id: str, pair_key: str, status: str, error: str | None = None) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                "UPDATE accounts SET status = %s, error = %s, finished = now() WHERE run_id = %s AND pair_key = %s",
                (status, _text(error), run_id, pair_key),
            )
            claims.mark_finished(conn, run_id, pair_key, status)

        self._db.run(work)

    def accounts(self, run_id: str) -> list[AccountRecord]:
        """The accounts of a run; one left ``running`` without a live claim reads as ``interrupted``."""
        rows = self._db.query(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts a WHERE a.run_id = %s ORDER BY a.seq", (run_id,))
        return [_account_record(r) for r in rows]

    def last_finished_account_runs(
        self, pair_key: str, kind: str | None = "migration"
    ) -> list[tuple[RunRecord, AccountRecord]]:
        """The runs of ``kind`` in which this account finished (with or without item errors), newest first."""
        condition, args = _kind_filter(kind)
        rows = self._db.query(
            f"SELECT {_RUN_COLUMNS}, {_ACCOUNT_COLUMNS} "
            "FROM accounts a JOIN runs r ON r.run_id = a.run_id WHERE a.pair_key = %s "
            f"AND a.status IN ('completed', 'completed_with_errors'){condition} ORDER BY r.started DESC, r.seq DESC",
            (pair_key, *args),
        )
        return [(_run_record(r[:7]), _account_record(r[7:])) for r in rows]

    def last_finished_account_run(
        self, pair_key: str, kind: str | None = "migration"
    ) -> tuple[RunRecord, AccountRecord] | None:
        """The latest run of ``kind`` in which this account finished; verifications never count by default."""
        found = self.last_finished_account_runs(pair_key, kind)
        return found[0] if found else None

    # -- folders ------------------------------------------------------------------------------
    @staticmethod
    def _folder(pair_key: str, row: Sequence[Any]) -> FolderState:
        folder_key, path, kind, dest, watermark, sync_state = row
        return FolderState(pair_key, folder_key, tuple(path), kind, dest, _utc(watermark), sync_state)

    def folder_state(self, pair_key: str, folder_key: str) -> FolderState | None:
        rows = self._db.query(f"{_FOLDER_SELECT} WHERE pair_key = %s AND folder_key = %s", (pair_key, folder_key))
        return self._folder(pair_key, rows[0]) if rows else None

    def folders(self, pair_key: str) -> list[FolderState]:
        """Every folder recorded for the account, in the order they were first saved."""
        rows = self._db.query(f"{_FOLDER_SELECT} WHERE pair_key = %s ORDER BY seq", (pair_key,))
        return [self._folder(pair_key, r) for r in rows]

    def save_folder(self, state: FolderState) -> None:
        self._db.execute(
            "INSERT INTO folders (pair_key, folder_key, path, kind, destination_id, watermark, sync_state) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (pair_key, folder_key) DO UPDATE SET path = excluded.path, "
            "kind = excluded.kind, destination_id = excluded.destination_id, watermark = excluded.watermark, "
            "sync_state = excluded.sync_state",
            (
                state.pair_key, state.folder_key, list(state.path), state.kind, state.destination_id,
                _utc(state.watermark), state.sync_state,
            ),
        )  # fmt: skip

    # -- items, counts and log -------------------------------------------------------------------
    def mapped_source_ids(self, pair_key: str, folder_key: str) -> set[str]:
        """Source ids of the folder that are done: migrated, or found on the destination already."""
        rows = self._db.query(
            "SELECT source_id FROM items WHERE pair_key = %s AND folder_key = %s AND outcome = ANY(%s)",
            (pair_key, folder_key, list(MAPPED_OUTCOMES)),
        )
        return {r[0] for r in rows}

    def mappings(
        self, pair_key: str, folder_key: str | None = None, outcomes: Iterable[str] | None = None
    ) -> Iterator[ItemMapping]:
        """The id map of an account (of one folder), optionally only rows with one of ``outcomes``."""
        sql = (
            "SELECT source_id, destination_id, item_type, folder_key, fingerprint, size, outcome, label "
            "FROM items WHERE pair_key = %s"
        )
        args: list[object] = [pair_key]
        if folder_key is not None:
            sql += " AND folder_key = %s"
            args.append(folder_key)
        if outcomes is not None:
            wanted = list(dict.fromkeys(outcomes))
            if not wanted:
                return
            sql += " AND outcome = ANY(%s)"
            args.append(wanted)
        for row in self._db.query(sql + " ORDER BY seq", args):
            yield ItemMapping(*row)

    def forget_mappings(self, pair_key: str, source_ids: Iterable[str]) -> None:
        """Remove id map rows (e.g. of items found gone from the destination), in one transaction."""
        ids = list(dict.fromkeys(source_ids))
        if ids:
            self._db.execute("DELETE FROM items WHERE pair_key = %s AND source_id = ANY(%s)", (pair_key, ids))

    def commit_batch(
        self,
        run_id: str,
        pair_key: str,
        mappings: Sequence[ItemMapping],
        log: Sequence[LogEntry],
        counts: dict[tuple[str, str], int],
    ) -> None:
        """Record one batch atomically: the id map, its log entries and its counts.

        ``counts`` maps ``(item_type, outcome)`` to how many items had that outcome; they add
        up exactly when many processes commit batches of one run at the same time.
        """
        items = [
            (pair_key, m.source_id, m.destination_id, m.item_type, m.folder_key, m.fingerprint, m.size, run_id,
             m.outcome, _text(m.label))
            for m in mappings
        ]  # fmt: skip
        entries = [
            (run_id, pair_key, e.kind, e.item_type, _text(e.folder), _text(e.item), _text(e.message) or "", _utc(e.time))
            for e in log
        ]
        # counters in one order for every writer, so that concurrent batches cannot deadlock on them
        added = sorted((run_id, pair_key, t, o, n) for (t, o), n in counts.items() if n)

        def work(conn: Connection) -> None:
            with conn.cursor() as cur:
                if items:
                    cur.executemany(
                        "INSERT INTO items (pair_key, source_id, destination_id, item_type, folder_key, fingerprint, size, "
                        "run_id, outcome, label) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (pair_key, source_id) DO UPDATE SET destination_id = excluded.destination_id, "
                        "item_type = excluded.item_type, folder_key = excluded.folder_key, fingerprint = excluded.fingerprint, "
                        "size = excluded.size, run_id = excluded.run_id, outcome = excluded.outcome, label = excluded.label, "
                        "seq = excluded.seq",
                        items,
                    )
                if entries:
                    cur.executemany(
                        "INSERT INTO log (run_id, pair_key, kind, item_type, folder, item, message, time) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        entries,
                    )
                if added:
                    cur.executemany(
                        "INSERT INTO counts (run_id, pair_key, item_type, outcome, n) VALUES (%s, %s, %s, %s, %s) "
                        "ON CONFLICT (run_id, pair_key, item_type, outcome) DO UPDATE SET n = counts.n + excluded.n",
                        added,
                    )

        self._db.run(work)

    def sizes(self, run_id: str, pair_key: str) -> dict[str, int]:
        """Bytes per id-map outcome of the items this run recorded last (an item is counted
        under the last run that wrote its row)."""
        rows = self._db.query(
            "SELECT outcome, COALESCE(SUM(size), 0) FROM items WHERE run_id = %s AND pair_key = %s GROUP BY outcome",
            (run_id, pair_key),
        )
        return {outcome: int(size) for outcome, size in rows}

    def counts(self, run_id: str, pair_key: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for item_type, outcome, n in self._db.query(
            "SELECT item_type, outcome, n FROM counts WHERE run_id = %s AND pair_key = %s", (run_id, pair_key)
        ):
            out.setdefault(item_type, {})[outcome] = int(n)
        return out

    def log(self, run_id: str, pair_key: str, kinds: Iterable[str] | None = None) -> list[LogEntry]:
        sql = "SELECT kind, item_type, folder, item, message, time FROM log WHERE run_id = %s AND pair_key = %s"
        args: list[object] = [run_id, pair_key]
        if kinds is not None:
            sql += " AND kind = ANY(%s)"
            args.append(list(kinds))
        return [
            LogEntry(kind, item_type, folder, item, message, _utc(time) or _now())
            for kind, item_type, folder, item, message, time in self._db.query(sql + " ORDER BY id", args)
        ]

    # -- claims, the work list and heartbeats (SQL in postgres_claims) ----------------------------
    def claim_account(self, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
        """Claim the pair for ``owner`` within the run (see :class:`~groupmigrate.core.state.StateStore`)."""
        return self._db.run(lambda conn: claims.claim(conn, run_id, pair_key, owner, lease_seconds))

    def renew_claim(self, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
        return self._db.run(lambda conn: claims.renew(conn, run_id, pair_key, owner, lease_seconds))

    def release_claim(self, run_id: str, pair_key: str, owner: str) -> None:
        self._db.run(lambda conn: claims.release(conn, run_id, pair_key, owner))

    def enqueue_accounts(self, run_id: str, pair_keys: Iterable[str]) -> None:
        keys = list(dict.fromkeys(pair_keys))
        if keys:
            self._db.run(lambda conn: claims.enqueue(conn, run_id, keys))

    def claim_next(self, run_id: str, owner: str, lease_seconds: float) -> str | None:
        """Claim the first pair of the run's work list that is neither claimed nor finished (``SKIP LOCKED``)."""
        return self._db.run(lambda conn: claims.claim_next(conn, run_id, owner, lease_seconds))

    def heartbeat(self, owner: str, info: dict[str, str]) -> None:
        self._db.run(lambda conn: claims.heartbeat(conn, owner, info))

    def workers(self) -> list[WorkerRecord]:
        return self._db.run(claims.workers, tx=False)
