"""Where a migration remembers what it has done: runs, folders, the item id map, counts, the log.

The default store is one SQLite file (WAL journal). Every batch is committed in one
transaction together with its log entries and counts, so a process killed at any moment
leaves the file at the last committed batch and the next run continues from there.
The store never holds credentials: only addresses, ids, fingerprints, sizes and messages.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

from groupmigrate.errors import StateError

__all__ = [
    "SCHEMA_VERSION",
    "AccountRecord",
    "FolderState",
    "ItemMapping",
    "LogEntry",
    "RunRecord",
    "SqliteStateStore",
    "StateStore",
    "open_state",
]

SCHEMA_VERSION = 1


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ts(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat() if value is not None else None


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@attrs.frozen
class RunRecord:
    run_id: str
    mode: str
    started: dt.datetime
    finished: dt.datetime | None
    status: str
    since: dt.datetime | None = None
    item_types: tuple[str, ...] = ()


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
    #: ``migrated``, ``duplicate`` (an equal item was already there) or ``skipped`` (not
    #: migrated on purpose; such items are looked at again by the next run)
    outcome: str = "migrated"


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

    def start_run(self, mode: str, since: dt.datetime | None, item_types: Sequence[str]) -> str: ...
    def finish_run(self, run_id: str, status: str) -> None: ...
    def runs(self) -> list[RunRecord]: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def start_account(self, run_id: str, pair_key: str, source: str, destination: str) -> None: ...
    def finish_account(self, run_id: str, pair_key: str, status: str, error: str | None = None) -> None: ...
    def accounts(self, run_id: str) -> list[AccountRecord]: ...
    def last_finished_account_run(self, pair_key: str) -> tuple[RunRecord, AccountRecord] | None: ...
    def folder_state(self, pair_key: str, folder_key: str) -> FolderState | None: ...
    def save_folder(self, state: FolderState) -> None: ...
    def mapped_source_ids(self, pair_key: str, folder_key: str) -> set[str]: ...
    def mappings(self, pair_key: str, folder_key: str | None = None) -> Iterator[ItemMapping]: ...
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

_MAPPING_SELECT = "SELECT source_id, destination_id, item_type, folder_key, fingerprint, size, outcome FROM items"

# Each entry upgrades the schema from version N to N + 1; SCHEMA_VERSION == len(_MIGRATIONS).
_MIGRATIONS: list[str] = [_SCHEMA_V1]


class SqliteStateStore:
    """A :class:`StateStore` in one SQLite file, safe to share between worker threads.

    Args:
        path: the database file; created when missing. ``":memory:"`` for a throwaway store.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
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

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:  # type: ignore[type-arg]
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _upgrade(self) -> None:
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
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
        with self._lock:
            self._db.close()

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
    def _run(row: tuple) -> RunRecord:  # type: ignore[type-arg]
        return RunRecord(
            run_id=row[0], mode=row[1], since=_dt(row[2]), item_types=tuple(json.loads(row[3])),
            started=_dt(row[4]) or _now(), finished=_dt(row[5]), status=row[6],
        )  # fmt: skip

    def runs(self) -> list[RunRecord]:
        rows = self._query("SELECT run_id, mode, since, item_types, started, finished, status FROM runs ORDER BY started, rowid")
        return [self._run(r) for r in rows]

    def get_run(self, run_id: str) -> RunRecord:
        rows = self._query(
            "SELECT run_id, mode, since, item_types, started, finished, status FROM runs WHERE run_id = ?", (run_id,)
        )
        if not rows:
            raise StateError(f"no run {run_id!r} in {self.path}")
        return self._run(rows[0])

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
        rows = self._query(
            "SELECT run_id, pair_key, source, destination, status, error, started, finished "
            "FROM accounts WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        )
        return [AccountRecord(r[0], r[1], r[2], r[3], r[4], r[5], _dt(r[6]), _dt(r[7])) for r in rows]

    def last_finished_account_run(self, pair_key: str) -> tuple[RunRecord, AccountRecord] | None:
        """The latest run in which this account finished (with or without item errors)."""
        rows = self._query(
            "SELECT a.run_id FROM accounts a JOIN runs r ON r.run_id = a.run_id WHERE a.pair_key = ? "
            "AND a.status IN ('completed', 'completed_with_errors') ORDER BY r.started DESC, r.rowid DESC LIMIT 1",
            (pair_key,),
        )
        if not rows:
            return None
        run = self.get_run(rows[0][0])
        account = next(a for a in self.accounts(run.run_id) if a.pair_key == pair_key)
        return run, account

    # -- folders ------------------------------------------------------------------------------
    def folder_state(self, pair_key: str, folder_key: str) -> FolderState | None:
        rows = self._query(
            "SELECT path, kind, destination_id, watermark, sync_state FROM folders WHERE pair_key = ? AND folder_key = ?",
            (pair_key, folder_key),
        )
        if not rows:
            return None
        path, kind, dest, watermark, sync_state = rows[0]
        return FolderState(pair_key, folder_key, tuple(json.loads(path)), kind, dest, _dt(watermark), sync_state)

    def save_folder(self, state: FolderState) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO folders (pair_key, folder_key, path, kind, destination_id, watermark, sync_state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    state.pair_key, state.folder_key, json.dumps(list(state.path)), state.kind,
                    state.destination_id, _ts(state.watermark), state.sync_state,
                ),
            )  # fmt: skip

    # -- items, counts and log -------------------------------------------------------------------
    def mapped_source_ids(self, pair_key: str, folder_key: str) -> set[str]:
        """Source ids of the folder that are done: migrated, or found on the destination already."""
        rows = self._query(
            "SELECT source_id FROM items WHERE pair_key = ? AND folder_key = ? AND outcome != 'skipped'",
            (pair_key, folder_key),
        )
        return {r[0] for r in rows}

    def mappings(self, pair_key: str, folder_key: str | None = None) -> Iterator[ItemMapping]:
        if folder_key is None:
            sql, args = f"{_MAPPING_SELECT} WHERE pair_key = ?", (pair_key,)
        else:
            sql = f"{_MAPPING_SELECT} WHERE pair_key = ? AND folder_key = ?"
            args = (pair_key, folder_key)  # type: ignore[assignment]
        for row in self._query(sql, args):
            yield ItemMapping(*row)

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
                "size, run_id, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (pair_key, m.source_id, m.destination_id, m.item_type, m.folder_key, m.fingerprint, m.size, run_id, m.outcome)
                    for m in mappings
                ],
            )
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
