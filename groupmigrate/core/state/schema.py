"""The tables of a SQLite state file, and the steps that upgrade an older file."""

from __future__ import annotations

import sqlite3

from groupmigrate.errors import StateError

__all__ = ["SCHEMA_VERSION", "stored_version", "upgrade"]

SCHEMA_VERSION = 2

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

# Each entry upgrades the schema from version N to N + 1; SCHEMA_VERSION == len(_MIGRATIONS).
_MIGRATIONS: list[str] = [_SCHEMA_V1, _SCHEMA_V2]


def stored_version(db: sqlite3.Connection) -> int:
    """The schema version recorded in the file (0 for a new file)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # no meta table: a new file
        return 0
    return int(row[0]) if row else 0


def upgrade(db: sqlite3.Connection, path: str) -> None:
    """Bring the file at ``path`` to :data:`SCHEMA_VERSION`, inside the caller's transaction.

    Raises :class:`~groupmigrate.errors.StateError` for a file newer than this version understands.
    """
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    version = stored_version(db)
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state file {path} has schema version {version}, newer than this "
            f"groupmigrate understands ({SCHEMA_VERSION}); upgrade groupmigrate"
        )
    for step in _MIGRATIONS[version:]:
        for statement in step.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
