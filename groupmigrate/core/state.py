"""Where a migration remembers what it has done: runs, folders, the item id map, counts, the log.

The default store is one SQLite file (WAL journal). Every batch is committed in one
transaction together with its log entries and counts, so a process killed at any moment
leaves the file at the last committed batch and the next run continues from there.
The store never holds credentials: only addresses, ids, fingerprints, sizes, labels and messages.

One process writes a state file at a time: :meth:`SqliteStateStore.writer` takes an exclusive
lock on ``<state file>.lock`` (which names the holder: pid, host, start time) and refuses with
:class:`~groupmigrate.errors.StateLocked` while another process holds it. The operating system
releases the lock when its holder exits, even when killed, and the next writer marks the runs
the dead holder left ``running`` as ``interrupted``. Readers (reports, ``groupmigrate runs``) take
no lock; they show such a run as ``interrupted`` as soon as nobody holds the lock.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from groupmigrate.errors import StateError, StateLocked

__all__ = [
    "SCHEMA_VERSION",
    "AccountRecord",
    "FolderState",
    "ItemMapping",
    "LogEntry",
    "MAPPED_OUTCOMES",
    "MAPPING_OUTCOMES",
    "RunRecord",
    "SqliteStateStore",
    "StateStore",
    "open_state",
]

SCHEMA_VERSION = 2

#: What became of a source item, as recorded in the id map (see :class:`ItemMapping`).
MAPPING_OUTCOMES = ("migrated", "present", "skipped", "failed", "ambiguous")
#: The outcomes that make an item "done": later runs do not write it again.
MAPPED_OUTCOMES = ("migrated", "present")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ts(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat() if value is not None else None


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@attrs.frozen
class RunRecord:
    """One run: a migration (``mode`` ``full``, ``trial`` or ``delta``) or a verification.

    ``status`` is ``running``, ``completed``, ``completed_with_errors``, ``failed``,
    ``cancelled`` or ``interrupted`` (its process died; run again to resume). A run still
    marked ``running`` in the file is read as ``interrupted`` when no process holds the
    state file's writer lock.
    """

    run_id: str
    mode: str
    started: dt.datetime
    finished: dt.datetime | None
    status: str
    since: dt.datetime | None = None
    item_types: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``verify`` for a verification, ``migration`` for every other mode."""
        return _kind(self.mode)


def _kind(mode: str) -> str:
    return "verify" if mode == "verify" else "migration"


def _kind_filter(kind: str | None, column: str = "mode") -> tuple[str, tuple[str, ...]]:
    """A SQL condition (empty, or starting with AND) selecting runs of ``kind`` (any kind when None)."""
    if kind is None:
        return "", ()
    if kind == "verify":
        return f" AND {column} = ?", ("verify",)
    if kind == "migration":
        return f" AND {column} != ?", ("verify",)
    raise ValueError(f"unknown run kind {kind!r}; expected 'migration' or 'verify'")


@attrs.frozen
class AccountRecord:
    run_id: str
    pair_key: str
    source: str
    destination: str
    status: str
    error: str | None
    started: dt.datetime | None
    finished: dt.datetime | None


@attrs.frozen
class FolderState:
    pair_key: str
    folder_key: str
    path: tuple[str, ...]
    kind: str
    destination_id: str | None = None
    watermark: dt.datetime | None = None
    sync_state: str | None = None


@attrs.frozen
class ItemMapping:
    """One source item and what became of it on the destination."""

    source_id: str
    destination_id: str | None
    item_type: str
    folder_key: str
    fingerprint: str | None = None
    size: int = 0
    #: ``migrated`` (created by this migration), ``present`` (the same content was already on
    #: the destination, not created by this migration), ``skipped`` (not migrated on purpose),
    #: ``failed``, or ``ambiguous`` (a write whose outcome could not be determined). Only
    #: ``migrated`` and ``present`` items count as done; the others are looked at again by
    #: the next run.
    outcome: str = "migrated"
    #: a human label of the item: subject, sender and date of a message, a contact's name
    label: str | None = None


@attrs.frozen
class LogEntry:
    """One line of an account's detailed log.

    ``kind`` is one of ``duplicate``, ``skipped``, ``failed`` (per item), ``changed`` (a
    mapper or the sanitizer altered an item), ``notice`` (once per account), ``missing``
    (found by verify) or ``error`` (the account itself failed).
    """

    kind: str
    item_type: str | None = None
    folder: str | None = None
    item: str | None = None
    message: str = ""
    time: dt.datetime = attrs.field(factory=_now)


@runtime_checkable
class StateStore(Protocol):
    """What the migrator needs from a state store; :class:`SqliteStateStore` is the default."""

    def writer(self) -> AbstractContextManager[None]: ...
    def start_run(self, mode: str, since: dt.datetime | None, item_types: Sequence[str]) -> str: ...
    def finish_run(self, run_id: str, status: str) -> None: ...
    def runs(self, kind: str | None = None) -> list[RunRecord]: ...
    def latest_run(self, kind: str | None = "migration") -> RunRecord | None: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def start_account(self, run_id: str, pair_key: str, source: str, destination: str) -> None: ...
    def finish_account(self, run_id: str, pair_key: str, status: str, error: str | None = None) -> None: ...
    def accounts(self, run_id: str) -> list[AccountRecord]: ...
    def last_finished_account_run(
        self, pair_key: str, kind: str | None = "migration"
    ) -> tuple[RunRecord, AccountRecord] | None: ...
    def last_finished_account_runs(
        self, pair_key: str, kind: str | None = "migration"
    ) -> list[tuple[RunRecord, AccountRecord]]: ...
    def folder_state(self, pair_key: str, folder_key: str) -> FolderState | None: ...
    def folders(self, pair_key: str) -> list[FolderState]: ...
    def save_folder(self, state: FolderState) -> None: ...
    def mapped_source_ids(self, pair_key: str, folder_key: str) -> set[str]: ...
    def mappings(
        self, pair_key: str, folder_key: str | None = None, outcomes: Iterable[str] | None = None
    ) -> Iterator[ItemMapping]: ...
    def forget_mappings(self, pair_key: str, source_ids: Iterable[str]) -> None: ...
    def commit_batch(
        self,
        run_id: str,
        pair_key: str,
        mappings: Sequence[ItemMapping],
        log: Sequence[LogEntry],
        counts: dict[tuple[str, str], int],
    ) -> None: ...
    def counts(self, run_id: str, pair_key: str) -> dict[str, dict[str, int]]: ...
    def log(self, run_id: str, pair_key: str, kinds: Iterable[str] | None = None) -> list[LogEntry]: ...
    def close(self) -> None: ...


_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, mode TEXT NOT NULL, since TEXT, item_types TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    run_id TEXT NOT NULL, pair_key TEXT NOT NULL, source TEXT NOT NULL, destination TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, started TEXT, finished TEXT,
    PRIMARY KEY (run_id, pair_key)
);
CREATE TABLE IF NOT EXISTS folders (
    pair_key TEXT NOT NULL, folder_key TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL,
    destination_id TEXT, watermark TEXT, sync_state TEXT,
    PRIMARY KEY (pair_key, folder_key)
);
CREATE TABLE IF NOT EXISTS items (
    pair_key TEXT NOT NULL, source_id TEXT NOT NULL, destination_id TEXT, item_type TEXT NOT NULL,
    folder_key TEXT NOT NULL, fingerprint TEXT, size INTEGER NOT NULL DEFAULT 0, run_id TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'migrated',
    PRIMARY KEY (pair_key, source_id)
);
CREATE INDEX IF NOT EXISTS items_by_folder ON items (pair_key, folder_key);
CREATE TABLE IF NOT EXISTS counts (
    run_id TEXT NOT NULL, pair_key TEXT NOT NULL, item_type TEXT NOT NULL, outcome TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY (run_id, pair_key, item_type, outcome)
);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, pair_key TEXT NOT NULL,
    kind TEXT NOT NULL, item_type TEXT, folder TEXT, item TEXT, message TEXT NOT NULL, time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_by_account ON log (run_id, pair_key);
"""

# v1 -> v2: a human label per id map row; "duplicate" (an equal item was already on the
# destination) is now called "present".
_SCHEMA_V2 = """
ALTER TABLE items ADD COLUMN label TEXT;
UPDATE items SET outcome = 'present' WHERE outcome = 'duplicate';
CREATE INDEX IF NOT EXISTS accounts_by_pair ON accounts (pair_key, status)
"""

_MAPPING_SELECT = "SELECT source_id, destination_id, item_type, folder_key, fingerprint, size, outcome, label FROM items"
_RUN_SELECT = "SELECT run_id, mode, since, item_types, started, finished, status FROM runs"

# Each entry upgrades the schema from version N to N + 1; SCHEMA_VERSION == len(_MIGRATIONS).
_MIGRATIONS: list[str] = [_SCHEMA_V1, _SCHEMA_V2]

#: How long a writer keeps trying when the lock is taken only for an instant (a reader's probe).
_LOCK_GRACE = 0.25


def _lock_time(value: str | None) -> str:
    """``2026-12-01 14:02:11 UTC`` from an ISO time (as written in the lock file)."""
    if not value:
        return "an unknown time"
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


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
        self._lock_fd: int | None = None
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
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _stored_version(self, db: sqlite3.Connection) -> int:
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table: a new file
            return 0
        return int(row[0]) if row else 0

    def _upgrade(self) -> None:
        with self._lock:
            if self._stored_version(self._db) == SCHEMA_VERSION:
                return  # nothing to do: readers need not take SQLite's write lock
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            version = self._stored_version(db)
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state file {self.path} has schema version {version}, newer than this "
                    f"groupmigrate understands ({SCHEMA_VERSION}); upgrade groupmigrate"
                )
            for step in _MIGRATIONS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    @property
    def schema_version(self) -> int:
        return int(self._query("SELECT value FROM meta WHERE key = 'schema_version'")[0][0])

    def close(self) -> None:
        with self._writer_guard:
            if self._lock_fd is not None:
                self._release_lock_file()
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
                if self.lock_path is not None:
                    self._acquire_lock_file()
                try:
                    self._mark_interrupted()
                except BaseException:
                    if self.lock_path is not None:
                        self._release_lock_file()
                    raise
            self._writer_depth += 1
        try:
            yield
        finally:
            with self._writer_guard:
                self._writer_depth -= 1
                if self._writer_depth == 0 and self._lock_fd is not None:
                    self._release_lock_file()

    @property
    def is_writer(self) -> bool:
        """True while this store object holds the writer lock."""
        return self._writer_depth > 0

    def _acquire_lock_file(self) -> None:
        assert self.lock_path is not None
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StateError(f"cannot open the lock file {self.lock_path}: {exc.strerror or exc}") from exc
        deadline = time.monotonic() + _LOCK_GRACE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # Readers probe the lock for an instant; only a lock held longer is a writer.
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise self._locked_error() from None
                time.sleep(0.01)
            except OSError as exc:
                os.close(fd)
                raise StateError(f"cannot lock {self.lock_path}: {exc.strerror or exc}") from exc
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": _ts(_now())}
        data = json.dumps(holder).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self._lock_fd = fd

    def _release_lock_file(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # the file names no holder while nobody holds it
            # Unlock explicitly: a child forked meanwhile shares the descriptor, and closing
            # ours alone would leave the lock held until the child exits.
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _read_holder(self) -> dict[str, str]:
        assert self.lock_path is not None
        for _ in range(20):  # the holder writes its name right after taking the lock
            try:
                raw = Path(self.lock_path).read_text(encoding="utf-8")
                data = json.loads(raw)
                if isinstance(data, dict) and data:
                    return {str(k): str(v) for k, v in data.items()}
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        return {}

    def _locked_error(self) -> StateLocked:
        holder = self._read_holder()
        where = os.path.abspath(self.path)
        if holder:
            who = (
                f"process {holder.get('pid', '?')} on host {holder.get('host', '?')} "
                f"since {_lock_time(holder.get('started'))}"
            )
        else:
            who = f"another process (its lock file {self.lock_path} does not name it)"
        return StateLocked(f"state file {where} is in use by {who}; wait for it to finish, or stop it", holder)

    def _lock_is_free(self) -> bool:
        """Whether no process holds the writer lock (probed without waiting, released at once)."""
        if self.lock_path is None:
            return False  # process-local: nothing to probe; trust the file
        if self._writer_depth:
            return False
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return False
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        finally:
            os.close(fd)

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

    def _interrupted_view(self, status: str) -> bool:
        """Whether a ``running`` status read from the file belongs to a dead process."""
        return status == "running" and self._lock_is_free()

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


def open_state(state: str | os.PathLike[str] | StateStore) -> StateStore:
    """A state store from a path (SQLite file) or an existing store object."""
    if isinstance(state, (str, os.PathLike)):
        return SqliteStateStore(state)
    return state
