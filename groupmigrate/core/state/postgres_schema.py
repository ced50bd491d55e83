"""The tables of a PostgreSQL state store, and the steps that create and upgrade them.

The table ``schema_version`` has one row per step applied (``version``, ``applied``); the
store's version is the highest. The first process to open an empty database creates the
tables; processes opening it at the same time wait for each other (a transaction-level
advisory lock), so each step is applied exactly once.
"""

from __future__ import annotations

from typing import Any

from groupmigrate.errors import StateError

__all__ = ["SCHEMA_VERSION", "stored_version", "upgrade"]

# Each entry upgrades the schema from version N to N + 1; SCHEMA_VERSION == len(_MIGRATIONS).
# ``seq`` columns keep the order rows were written in (SQLite's rowid); an id map row written
# again takes a new ``seq``, as SQLite's INSERT OR REPLACE gives it a new rowid.
_SCHEMA_V1 = (
    """CREATE TABLE runs (
        seq bigserial NOT NULL UNIQUE, run_id text PRIMARY KEY, mode text NOT NULL, since timestamptz,
        item_types text[] NOT NULL, started timestamptz NOT NULL, finished timestamptz, status text NOT NULL,
        owner text, lease_until timestamptz
    )""",
    "CREATE INDEX runs_by_start ON runs (started, seq)",
    """CREATE TABLE accounts (
        seq bigserial NOT NULL, run_id text NOT NULL, pair_key text NOT NULL, source text NOT NULL,
        destination text NOT NULL, status text NOT NULL, error text, started timestamptz, finished timestamptz,
        PRIMARY KEY (run_id, pair_key)
    )""",
    "CREATE INDEX accounts_by_pair ON accounts (pair_key, status)",
    "CREATE INDEX accounts_running ON accounts (run_id) WHERE status = 'running'",
    """CREATE TABLE folders (
        seq bigserial NOT NULL, pair_key text NOT NULL, folder_key text NOT NULL, path text[] NOT NULL,
        kind text NOT NULL, destination_id text, watermark timestamptz, sync_state text,
        PRIMARY KEY (pair_key, folder_key)
    )""",
    """CREATE TABLE items (
        seq bigserial NOT NULL, pair_key text NOT NULL, source_id text NOT NULL, destination_id text,
        item_type text NOT NULL, folder_key text NOT NULL, fingerprint text, size bigint NOT NULL DEFAULT 0,
        run_id text NOT NULL, outcome text NOT NULL DEFAULT 'migrated', label text,
        PRIMARY KEY (pair_key, source_id)
    )""",
    "CREATE INDEX items_by_folder ON items (pair_key, folder_key)",
    "CREATE INDEX items_by_run ON items (pair_key, run_id)",
    "CREATE INDEX items_in_order ON items (pair_key, seq)",
    """CREATE TABLE counts (
        run_id text NOT NULL, pair_key text NOT NULL, item_type text NOT NULL, outcome text NOT NULL,
        n bigint NOT NULL, PRIMARY KEY (run_id, pair_key, item_type, outcome)
    )""",
    """CREATE TABLE log (
        id bigserial PRIMARY KEY, run_id text NOT NULL, pair_key text NOT NULL, kind text NOT NULL,
        item_type text, folder text, item text, message text NOT NULL, time timestamptz NOT NULL
    )""",
    "CREATE INDEX log_by_account ON log (run_id, pair_key, id)",
    # Claims and the work list: one row per (run, pair) that was claimed or queued. ``done``
    # mirrors "the account is finished for the run" on the row that claim_next locks, so that a
    # pair finished while another worker looked is seen finished when that worker locks it.
    """CREATE TABLE claims (
        run_id text NOT NULL, pair_key text NOT NULL, seq bigserial NOT NULL,
        queued boolean NOT NULL DEFAULT false, done boolean NOT NULL DEFAULT false,
        owner text, lease_until timestamptz, claimed_at timestamptz,
        PRIMARY KEY (run_id, pair_key)
    )""",
    "CREATE INDEX claims_queue ON claims (run_id, seq) WHERE queued",
    "CREATE INDEX claims_by_owner ON claims (owner) WHERE owner IS NOT NULL",
    """CREATE TABLE workers (
        owner text PRIMARY KEY, host text, pid integer, info jsonb NOT NULL DEFAULT '{}',
        first_seen timestamptz NOT NULL, last_seen timestamptz NOT NULL
    )""",
)

_MIGRATIONS: list[tuple[str, ...]] = [_SCHEMA_V1]
SCHEMA_VERSION = len(_MIGRATIONS)

# pg_advisory_xact_lock key serialising schema changes ("gm-state" in ASCII)
_SCHEMA_LOCK = 0x676D2D7374617465

_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
)


def stored_version(conn: Any) -> int:
    """The schema version recorded in the database (0 for a new one); ``conn`` is a psycopg connection."""
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def _refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state store {where} has schema version {version}, newer than this "
            f"groupmigrate understands ({SCHEMA_VERSION}); upgrade groupmigrate"
        )


def upgrade(conn: Any, where: str) -> None:
    """Bring the database to :data:`SCHEMA_VERSION` (``where`` names it in errors, without a password).

    ``conn`` is a psycopg connection in autocommit mode. Raises
    :class:`~groupmigrate.errors.StateError` for a database newer than this version understands.
    """
    version = stored_version(conn)
    _refuse_newer(version, where)
    if version == SCHEMA_VERSION:
        return  # nothing to do, no lock taken
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute(_VERSION_TABLE)
        version = stored_version(conn)  # another process may have upgraded meanwhile
        _refuse_newer(version, where)
        for number, step in enumerate(_MIGRATIONS[version:], start=version + 1):
            for statement in step:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
