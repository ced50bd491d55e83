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

Many processes on many machines (workers of one large migration) share one PostgreSQL database
instead: :func:`open_state` with a ``postgresql://`` URL returns a
:class:`~groupmigrate.core.state.postgres.PostgresStateStore` (extra ``groupmigrate[postgres]``).
There, the writer lock gives way to claims on accounts with leases, a per-run work list and
worker heartbeats, which every store offers (see :class:`StateStore`).

The package is laid out by concern: ``records`` (what is stored), ``protocol`` (the
:class:`StateStore` interface), ``sqlite`` and ``schema`` (the default store and its tables),
``lock`` (the writer lock), ``claims`` (claims and workers kept in one process), ``postgres``,
``postgres_pool`` and ``postgres_schema`` (the shared store), ``url`` (telling a URL from a
path). Import from :mod:`groupmigrate.core.state` itself.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from groupmigrate.core.state.claims import WorkerRecord
from groupmigrate.core.state.protocol import StateStore
from groupmigrate.core.state.records import (
    MAPPED_OUTCOMES,
    MAPPING_OUTCOMES,
    AccountRecord,
    FolderState,
    ItemMapping,
    LogEntry,
    RunRecord,
)
from groupmigrate.core.state.schema import SCHEMA_VERSION
from groupmigrate.core.state.sqlite import SqliteStateStore
from groupmigrate.core.state.url import is_postgres_url, mask_url
from groupmigrate.errors import StateError

if TYPE_CHECKING:
    from groupmigrate.core.state.postgres import PostgresStateStore

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
    "WorkerRecord",
    "is_postgres_url",
    "open_state",
]


# ``PostgresStateStore`` is not in __all__: ``import *`` must work without psycopg.
def __getattr__(name: str) -> Any:
    if name == "PostgresStateStore":  # imported when asked for: it needs psycopg
        return _postgres_store_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _postgres_store_class() -> type[PostgresStateStore]:
    try:
        from groupmigrate.core.state.postgres import PostgresStateStore
    except ImportError as exc:
        if exc.name is None or not exc.name.startswith("psycopg"):
            raise
        raise StateError(
            "a PostgreSQL state store needs psycopg 3: pip install 'groupmigrate[postgres]'"
        ) from None
    return PostgresStateStore


def open_state(state: str | os.PathLike[str] | StateStore) -> StateStore:
    """A state store from a path (SQLite file), a ``postgresql://`` URL, or an existing store object."""
    if is_postgres_url(state):
        assert isinstance(state, str)
        try:
            return _postgres_store_class()(state)
        except ValueError as exc:  # never shows the URL itself: it may hold a password
            raise StateError(f"state store {mask_url(state)}: {exc}") from None
    if isinstance(state, (str, os.PathLike)):
        return SqliteStateStore(state)
    if not isinstance(state, StateStore):
        raise TypeError(f"state: give the path of a state file or a StateStore, not {state!r}")
    return state
