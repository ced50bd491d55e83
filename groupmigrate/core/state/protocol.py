"""The :class:`StateStore` protocol: what the migrator needs from a state store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from groupmigrate.core.state.claims import WorkerRecord
from groupmigrate.core.state.records import AccountRecord, FolderState, ItemMapping, LogEntry, RunRecord

__all__ = ["StateStore"]


@runtime_checkable
class StateStore(Protocol):
    """What the migrator needs from a state store; :class:`SqliteStateStore` is the default.

    **Writers.** Whoever migrates or verifies does so inside :meth:`writer`. With SQLite that
    is the file's one exclusive lock: one process writes at a time. With PostgreSQL
    (:class:`~groupmigrate.core.state.postgres.PostgresStateStore`) many processes on many
    machines write at once, and :meth:`writer` takes no global lock: it marks what dead
    workers left ``running`` as ``interrupted`` and keeps this process's own work alive (see
    below). A coordinator may call :meth:`start_run` and hand the run to workers, which call
    :meth:`start_account`, :meth:`commit_batch`, :meth:`save_folder` and
    :meth:`finish_account` for the pairs they claimed; each of these is one transaction, and
    :meth:`commit_batch` records its id map rows, log entries and counts together or not at
    all.

    **Claims.** A claim says that one worker (``owner``, a name unique to the worker, such as
    ``host:pid:random``) migrates one account pair within one run, until its lease of
    ``lease_seconds`` runs out. Leases are measured on the store's clock (the database
    server's with PostgreSQL), so workers on machines whose clocks disagree still agree.

    * :meth:`claim_account` returns True when ``owner`` now holds the pair: it was free, its
      last holder's lease ran out, or ``owner`` held it already (then the lease is extended);
      False while another owner's lease runs.
    * :meth:`renew_claim` extends the lease; False when ``owner`` no longer holds the pair
      (another worker took it after the lease ran out). A worker that gets False stops
      working on the pair.
    * :meth:`release_claim` gives the pair up at once (nothing happens unless ``owner``
      holds it). Release after :meth:`finish_account`.
    * :meth:`enqueue_accounts` adds pairs to the run's work list (in order; a pair listed
      twice is kept once, in its first place). :meth:`claim_next` claims the first pair of the
      list that nobody holds a live claim on and that is not finished for the run (its
      account is ``completed``, ``completed_with_errors`` or ``failed``), or returns None.
      Workers calling it at the same time never get the same pair; a pair whose worker
      died (its lease ran out) or released it unfinished is handed out again.
    * :meth:`heartbeat` records that ``owner`` is alive, with ``info`` (``host`` and ``pid``
      default to the calling process's); :meth:`workers` lists every worker seen, with when it
      was last seen and the pairs it holds live claims on.

    **Interrupted work.** An account left ``running`` whose claim ran out (or that nobody
    claimed) reads as ``interrupted`` and is recorded so by the next :meth:`writer`; other
    workers' accounts of the same run are left alone. With SQLite, whose one writer does all
    the work, everything left ``running`` is interrupted as soon as nobody holds the lock.
    """

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
    def sizes(self, run_id: str, pair_key: str) -> dict[str, int]:
        """Bytes per id-map outcome (migrated, present, skipped...) of the items this run recorded last."""
        ...
    def log(self, run_id: str, pair_key: str, kinds: Iterable[str] | None = None) -> list[LogEntry]: ...
    def close(self) -> None: ...

    # -- many workers: claims, the work list, heartbeats --------------------------------------
    def claim_account(self, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
        """Claim the pair for ``owner`` within the run; False while another owner's lease runs."""
        ...
    def renew_claim(self, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
        """Extend ``owner``'s claim by ``lease_seconds`` from now; False when ``owner`` no longer holds it."""
        ...
    def release_claim(self, run_id: str, pair_key: str, owner: str) -> None:
        """Give up ``owner``'s claim on the pair (nothing happens when ``owner`` does not hold it)."""
        ...
    def enqueue_accounts(self, run_id: str, pair_keys: Iterable[str]) -> None:
        """Add pairs to the run's work list, in order."""
        ...
    def claim_next(self, run_id: str, owner: str, lease_seconds: float) -> str | None:
        """Claim the next unclaimed, unfinished pair of the run's work list for ``owner``, if any."""
        ...
    def heartbeat(self, owner: str, info: dict[str, str]) -> None:
        """Record that worker ``owner`` is alive, with ``info`` (``host``, ``pid``, anything else)."""
        ...
    def workers(self) -> list[WorkerRecord]:
        """Every worker that sent a heartbeat, first seen first."""
        ...
