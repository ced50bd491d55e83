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

The package is laid out by concern: ``records`` (what is stored), ``protocol`` (the
:class:`StateStore` interface), ``sqlite`` and ``schema`` (the default store and its tables),
``lock`` (the writer lock). Import from :mod:`groupmigrate.core.state` itself.
"""

from __future__ import annotations

import os

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


def open_state(state: str | os.PathLike[str] | StateStore) -> StateStore:
    """A state store from a path (SQLite file) or an existing store object."""
    if isinstance(state, (str, os.PathLike)):
        return SqliteStateStore(state)
    if not isinstance(state, StateStore):
        raise TypeError(f"state: give the path of a state file or a StateStore, not {state!r}")
    return state
