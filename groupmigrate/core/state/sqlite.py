"""The default state store: one SQLite file (WAL journal), shared safely between worker threads."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from groupmigrate.core.state.claims import FINISHED_ACCOUNT_STATUSES, LocalClaims, WorkerRecord
from groupmigrate.core.state.lock import LockFile
from groupmigrate.core.state.records import (
    MAPPED_OUTCOMES,
    AccountRecord,
    FolderState,
    ItemMapping,
    LogEntry,
    RunRecord,
    _dt,
    _now,
    _ts,
)
from groupmigrate.core.state.schema import SCHEMA_VERSION, stored_version, upgrade
from groupmigrate.errors import OutputError, StateError

__all__ = ["SqliteStateStore"]

_MAPPING_SELECT = "SELECT source_id, destination_id, item_type, folder_key, fingerprint, size, outcome, label FROM items"
_RUN_SELECT = "SELECT run_id, mode, since, item_types, started, finished, status FROM runs"


def _kind_filter(kind: str | None, column: str = "mode") -> tuple[str, tuple[str, ...]]:
    """A SQL condition (empty, or starting with AND) selecting runs of ``kind`` (any kind when None)."""
    if kind is None:
        return "", ()
    if kind == "verify":
        return f" AND {column} = ?", ("verify",)
    if kind == "migration":
        return f" AND {column} != ?", ("verify",)
    raise ValueError(f"unknown run kind {kind!r}; expected 'migration' or 'verify'")


class SqliteStateStore:
    """A :class:`StateStore` in one SQLite file, safe to share between worker threads.

    Args:
        path: the database file; created when missing. ``":memory:"`` for a throwaway store.

    Whoever writes (runs a migration or a verification) does so inside :meth:`writer`, which
    holds the file's exclusive lock; reading needs no lock.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.lock_path = None if self.path == ":memory:" else self.path + ".lock"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._writer_guard = threading.Lock()
        self._writer_depth = 0
        self._lock_file = None if self.lock_path is None else LockFile(self.lock_path, self.path)
        self._claims = LocalClaims()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._upgrade()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"cannot open state file {self.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"SqliteStateStore({self.path!r})"

    # -- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise self._write_error(exc) from None

    def _write_error(self, exc: sqlite3.OperationalError) -> Exception:
        """A failed write named in the user's words: a full disk or a read-only file is an OutputError."""
        text = str(exc).lower()
        if "full" in text or "disk i/o" in text or "readonly" in text or "read-only" in text:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            if "full" in text:
                why = "the disk is full"
            elif "readonly" in text or "read-only" in text:
                why = "it cannot be written"
            else:
                why = "a disk error"
            return OutputError(
                f"state file {self.path}: {why} ({exc}); make room or fix the disk and run the same command again: "
                "it continues from the last batch that was saved",
                path=self.path,
            )
        return StateError(f"state file {self.path}: {exc}")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _upgrade(self) -> None:
        with self._lock:
            if stored_version(self._db) == SCHEMA_VERSION:
                return  # nothing to do: readers need not take SQLite's write lock
        with self._tx() as db:
            upgrade(db, self.path)

    @property
    def schema_version(self) -> int:
        return int(self._query("SELECT value FROM meta WHERE key = 'schema_version'")[0][0])

    def close(self) -> None:
        with self._writer_guard:
            if self._lock_file is not None:
                self._lock_file.release()
            self._writer_depth = 0
        with self._lock:
            self._db.close()

    # -- the writer lock ------------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the state file's exclusive writer lock for the block.

        Raises :class:`~groupmigrate.errors.StateLocked` at once, naming the holder's pid,
        host and start time, when another process (or another store object on the same
        file) holds it. Re-entrant for this store object. On acquiring the lock, runs and
        accounts left ``running`` (by a process that died) are marked ``interrupted``. The
        lock is released at the end of the block, and by the operating system when the
        process exits in any way. For ``":memory:"`` stores the lock is only process-local.
        """
        with self._writer_guard:
            if self._writer_depth == 0:
                if self._lock_file is not None:
                    self._lock_file.acquire()
                try:
                    self._mark_interrupted()
                except BaseException:
                    if self._lock_file is not None:
                        self._lock_file.release()
                    raise
            self._writer_depth += 1
        try:
            yield
        finally:
            with self._writer_guard:
                self._writer_depth -= 1
                if self._writer_depth == 0 and self._lock_file is not None:
                    self._lock_file.release()

    @property
    def is_writer(self) -> bool:
        """True while this store object holds the writer lock."""
        return self._writer_depth > 0

    def _lock_is_free(self) -> bool:
        """Whether no process holds the writer lock (probed without waiting, released at once)."""
        if self._lock_file is None:
            return False  # process-local: nothing to probe; trust the file
        if self._writer_depth:
            return False
        return self._lock_file.is_free()

    def _mark_interrupted(self) -> None:
        now = _ts(_now())
        with self._tx() as db:
            running = [r[0] for r in db.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()]
            for run_id in running:
                db.execute("UPDATE runs SET status = 'interrupted', finished = ? WHERE run_id = ?", (now, run_id))
                db.execute(
                    "UPDATE accounts SET status = 'interrupted', finished = ? WHERE run_id = ? AND status = 'running'",
                    (now, run_id),
                )


    # -- runs and accounts ------------------------------------------------------------------
    def start_run(self, mode: str, since: dt.datetime | None, item_types: Sequence[str]) -> str:
        run_id = _now().strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (run_id, mode, since, item_types, started, status) VALUES (?, ?, ?, ?, ?, 'running')",
                (run_id, mode, _ts(since), json.dumps(list(item_types)), _ts(_now())),
            )
        return run_id

    def finish_run(self, run_id: str, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET finished = ?, status = ? WHERE run_id = ?", (_ts(_now()), status, run_id))

    @staticmethod
    def _run(row: tuple[Any, ...], stale: bool = False) -> RunRecord:
        status = "interrupted" if stale and row[6] == "running" else row[6]
        return RunRecord(
            run_id=row[0], mode=row[1], since=_dt(row[2]), item_types=tuple(json.loads(row[3])),
            started=_dt(row[4]) or _now(), finished=_dt(row[5]), status=status,
        )  # fmt: skip

    def _runs_where(self, condition: str, args: Sequence[object], order: str = "started, rowid") -> list[RunRecord]:
        rows = self._query(f"{_RUN_SELECT} WHERE 1 = 1{condition} ORDER BY {order}", args)
        stale = any(r[6] == "running" for r in rows) and self._lock_is_free()
        return [self._run(r, stale) for r in rows]

    def runs(self, kind: str | None = None) -> list[RunRecord]:
        """Every run, oldest first; only migrations or only verifications with ``kind``."""
        condition, args = _kind_filter(kind)
        return self._runs_where(condition, args)

    def latest_run(self, kind: str | None = "migration") -> RunRecord | None:
        """The most recently started run of ``kind`` (``None``: of any kind), if any."""
        condition, args = _kind_filter(kind)
        found = self._runs_where(condition, args, order="started DESC, rowid DESC LIMIT 1")
        return found[0] if found else None

    def get_run(self, run_id: str) -> RunRecord:
        found = self._runs_where(" AND run_id = ?", (run_id,))
        if not found:
            raise StateError(f"no run {run_id!r} in {self.path}")
        return found[0]

    def start_account(self, run_id: str, pair_key: str, source: str, destination: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO accounts (run_id, pair_key, source, destination, status, started) "
                "VALUES (?, ?, ?, ?, 'running', ?)",
                (run_id, pair_key, source, destination, _ts(_now())),
            )

    def finish_account(self, run_id: str, pair_key: str, status: str, error: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE accounts SET status = ?, error = ?, finished = ? WHERE run_id = ? AND pair_key = ?",
                (status, error, _ts(_now()), run_id, pair_key),
            )

    def accounts(self, run_id: str) -> list[AccountRecord]:
        """The accounts of a run; those of an interrupted run still ``running`` read as ``interrupted``."""
        rows = self._query(
            "SELECT a.run_id, a.pair_key, a.source, a.destination, a.status, a.error, a.started, a.finished, r.status "
            "FROM accounts a JOIN runs r ON r.run_id = a.run_id WHERE a.run_id = ? ORDER BY a.rowid",
            (run_id,),
        )
        stale = any(r[4] == "running" and r[8] == "running" for r in rows) and self._lock_is_free()
        return [
            AccountRecord(
                r[0], r[1], r[2], r[3], "interrupted" if stale and r[4] == "running" and r[8] == "running" else r[4],
                r[5], _dt(r[6]), _dt(r[7]),
            )
            for r in rows
        ]  # fmt: skip

    def last_finished_account_runs(
        self, pair_key: str, kind: str | None = "migration"
    ) -> list[tuple[RunRecord, AccountRecord]]:
        """The runs of ``kind`` in which this account finished (with or without item errors), newest first."""
        condition, args = _kind_filter(kind, "r.mode")
        rows = self._query(
            "SELECT r.run_id, r.mode, r.since, r.item_types, r.started, r.finished, r.status, "
            "a.run_id, a.pair_key, a.source, a.destination, a.status, a.error, a.started, a.finished "
            "FROM accounts a JOIN runs r ON r.run_id = a.run_id WHERE a.pair_key = ? "
            f"AND a.status IN ('completed', 'completed_with_errors'){condition} "
            "ORDER BY r.started DESC, r.rowid DESC",
            (pair_key, *args),
        )
        stale = any(r[6] == "running" for r in rows) and self._lock_is_free()
        return [
            (self._run(r[:7], stale), AccountRecord(r[7], r[8], r[9], r[10], r[11], r[12], _dt(r[13]), _dt(r[14])))
            for r in rows
        ]

    def last_finished_account_run(
        self, pair_key: str, kind: str | None = "migration"
    ) -> tuple[RunRecord, AccountRecord] | None:
        """The latest run of ``kind`` in which this account finished (with or without item errors).

        By default only migration runs count: a verification is never the base of a delta run.
        """
        found = self.last_finished_account_runs(pair_key, kind)
        return found[0] if found else None

    # -- folders ------------------------------------------------------------------------------
    @staticmethod
    def _folder(pair_key: str, row: tuple[Any, ...]) -> FolderState:
        folder_key, path, kind, dest, watermark, sync_state = row
        return FolderState(pair_key, folder_key, tuple(json.loads(path)), kind, dest, _dt(watermark), sync_state)

    def folder_state(self, pair_key: str, folder_key: str) -> FolderState | None:
        rows = self._query(
            "SELECT folder_key, path, kind, destination_id, watermark, sync_state FROM folders "
            "WHERE pair_key = ? AND folder_key = ?",
            (pair_key, folder_key),
        )
        return self._folder(pair_key, rows[0]) if rows else None

    def folders(self, pair_key: str) -> list[FolderState]:
        """Every folder recorded for the account, in the order they were first saved."""
        rows = self._query(
            "SELECT folder_key, path, kind, destination_id, watermark, sync_state FROM folders "
            "WHERE pair_key = ? ORDER BY rowid",
            (pair_key,),
        )
        return [self._folder(pair_key, r) for r in rows]

    def save_folder(self, state: FolderState) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO folders (pair_key, folder_key, path, kind, destination_id, watermark, sync_state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pair_key, folder_key) DO UPDATE SET path = excluded.path, "
                "kind = excluded.kind, destination_id = excluded.destination_id, watermark = excluded.watermark, "
                "sync_state = excluded.sync_state",
                (
                    state.pair_key, state.folder_key, json.dumps(list(state.path)), state.kind,
                    state.destination_id, _ts(state.watermark), state.sync_state,
                ),
            )  # fmt: skip

    # -- items, counts and log -------------------------------------------------------------------
    def mapped_source_ids(self, pair_key: str, folder_key: str) -> set[str]:
        """Source ids of the folder that are done: migrated, or found on the destination already."""
        marks = ", ".join("?" for _ in MAPPED_OUTCOMES)
        rows = self._query(
            f"SELECT source_id FROM items WHERE pair_key = ? AND folder_key = ? AND outcome IN ({marks})",
            (pair_key, folder_key, *MAPPED_OUTCOMES),
        )
        return {r[0] for r in rows}

    def mappings(
        self, pair_key: str, folder_key: str | None = None, outcomes: Iterable[str] | None = None
    ) -> Iterator[ItemMapping]:
        """The id map of an account (of one folder), optionally only rows with one of ``outcomes``."""
        sql = f"{_MAPPING_SELECT} WHERE pair_key = ?"
        args: list[object] = [pair_key]
        if folder_key is not None:
            sql += " AND folder_key = ?"
            args.append(folder_key)
        if outcomes is not None:
            wanted = list(dict.fromkeys(outcomes))
            if not wanted:
                return
            sql += f" AND outcome IN ({', '.join('?' for _ in wanted)})"
            args.extend(wanted)
        for row in self._query(sql + " ORDER BY rowid", args):
            yield ItemMapping(*row)

    def forget_mappings(self, pair_key: str, source_ids: Iterable[str]) -> None:
        """Remove id map rows (e.g. of items found gone from the destination), in one transaction."""
        with self._tx() as db:
            db.executemany(
                "DELETE FROM items WHERE pair_key = ? AND source_id = ?", [(pair_key, sid) for sid in source_ids]
            )

    def commit_batch(
        self,
        run_id: str,
        pair_key: str,
        mappings: Sequence[ItemMapping],
        log: Sequence[LogEntry],
        counts: dict[tuple[str, str], int],
    ) -> None:
        """Record one batch atomically: the id map, its log entries and its counts.

        ``counts`` maps ``(item_type, outcome)`` to how many items had that outcome.
        """
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO items (pair_key, source_id, destination_id, item_type, folder_key, fingerprint, "
                "size, run_id, outcome, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        pair_key, m.source_id, m.destination_id, m.item_type, m.folder_key, m.fingerprint, m.size,
                        run_id, m.outcome, m.label,
                    )
                    for m in mappings
                ],
            )  # fmt: skip
            db.executemany(
                "INSERT INTO log (run_id, pair_key, kind, item_type, folder, item, message, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, pair_key, e.kind, e.item_type, e.folder, e.item, e.message, _ts(e.time)) for e in log],
            )
            db.executemany(
                "INSERT INTO counts (run_id, pair_key, item_type, outcome, n) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, pair_key, item_type, outcome) DO UPDATE SET n = n + excluded.n",
                [(run_id, pair_key, t, o, n) for (t, o), n in counts.items() if n],
            )

    def sizes(self, run_id: str, pair_key: str) -> dict[str, int]:
        """Bytes per id-map outcome of the items this run recorded last (an item is counted
        under the last run that wrote its row)."""
        rows = self._query(
            "SELECT outcome, COALESCE(SUM(size), 0) FROM items WHERE run_id = ? AND pair_key = ? GROUP BY outcome",
            (run_id, pair_key),
        )
        return {outcome: int(size) for outcome, size in rows}

    def counts(self, run_id: str, pair_key: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for item_type, outcome, n in self._query(
            "SELECT item_type, outcome, n FROM counts WHERE run_id = ? AND pair_key = ?", (run_id, pair_key)
        ):
            out.setdefault(item_type, {})[outcome] = n
        return out

    def log(self, run_id: str, pair_key: str, kinds: Iterable[str] | None = None) -> list[LogEntry]:
        rows = self._query(
            "SELECT kind, item_type, folder, item, message, time FROM log WHERE run_id = ? AND pair_key = ? ORDER BY id",
            (run_id, pair_key),
        )
        wanted = set(kinds) if kinds is not None else None
        return [
            LogEntry(kind, item_type, folder, item, message, _dt(time) or _now())
            for kind, item_type, folder, item, message, time in rows
            if wanted is None or kind in wanted
        ]

    # -- claims, the work list and heartbeats ---------------------------------------------------
    # One process writes a state file, so claims live in this store object: they only keep the
    # threads (or in-process workers) of that one writer from taking the same pair twice.
    def claim_account(self, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
        """Claim the pair for ``owner`` within the run (kept in this store object; see :class:`StateStore`)."""
        return self._claims.claim(run_id, pair_key, owner, lease_seconds)

    def renew_claim(self, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
        return self._claims.renew(run_id, pair_key, owner, lease_seconds)

    def release_claim(self, run_id: str, pair_key: str, owner: str) -> None:
        self._claims.release(run_id, pair_key, owner)

    def enqueue_accounts(self, run_id: str, pair_keys: Iterable[str]) -> None:
        self._claims.enqueue(run_id, list(pair_keys))

    def claim_next(self, run_id: str, owner: str, lease_seconds: float) -> str | None:
        marks = ", ".join("?" for _ in FINISHED_ACCOUNT_STATUSES)

        def finished() -> set[str]:
            return {
                r[0] for r in self._query(
                    f"SELECT pair_key FROM accounts WHERE run_id = ? AND status IN ({marks})",
                    (run_id, *FINISHED_ACCOUNT_STATUSES),
                )
            }  # fmt: skip

        return self._claims.claim_next(run_id, owner, lease_seconds, finished)

    def heartbeat(self, owner: str, info: dict[str, str]) -> None:
        self._claims.heartbeat(owner, info)

    def workers(self) -> list[WorkerRecord]:
        return self._claims.workers()
