"""Claims on accounts, the per-run work list and worker health: the record, and the in-process book.

A *claim* says which worker (its ``owner`` name) migrates an account pair within a run, until
its *lease* runs out. :class:`LocalClaims` keeps claims in the memory of one process: that is
all a SQLite state file needs, since one process writes it at a time. The PostgreSQL store
keeps them in tables shared by every process (see :mod:`groupmigrate.core.state.postgres`).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable

import attrs

from groupmigrate.core.state.records import _now

__all__ = ["FINISHED_ACCOUNT_STATUSES", "LocalClaims", "WorkerRecord", "worker_identity"]

#: Account statuses after which a pair is done for its run: the work list never hands it out again.
FINISHED_ACCOUNT_STATUSES = ("completed", "completed_with_errors", "failed")


@attrs.frozen
class WorkerRecord:
    """A worker as its last :meth:`~groupmigrate.core.state.StateStore.heartbeat` described it.

    ``claims`` are the ``(run_id, pair_key)`` pairs it holds a live claim on, oldest first;
    ``info`` is everything the heartbeat gave (``host`` and ``pid`` included).
    """

    owner: str
    host: str | None
    pid: int | None
    started: dt.datetime
    last_seen: dt.datetime
    info: dict[str, str] = attrs.field(factory=dict)
    claims: tuple[tuple[str, str], ...] = ()

    @property
    def pair_key(self) -> str | None:
        """The pair the worker claimed last and still holds, if any."""
        return self.claims[-1][1] if self.claims else None


def worker_identity(info: dict[str, str]) -> tuple[str, int | None, dict[str, str]]:
    """``(host, pid, info)`` of a heartbeat: ``host`` and ``pid`` default to this process's."""
    full = {"host": socket.gethostname(), "pid": str(os.getpid()), **{str(k): str(v) for k, v in info.items()}}
    pid = full["pid"]
    return full["host"], int(pid) if pid.isdigit() else None, full


@attrs.define
class _Claim:
    owner: str
    expires: float  # time.monotonic()
    since: float


class LocalClaims:
    """Claims, work lists and heartbeats kept in this process (thread-safe), for a SQLite store.

    Leases are measured on this process's monotonic clock. Nothing survives the process,
    which is right for a store that only one process writes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, str], _Claim] = {}
        self._queues: dict[str, dict[str, None]] = {}
        self._workers: dict[str, tuple[dt.datetime, dt.datetime, dict[str, str]]] = {}

    def _live(self, key: tuple[str, str], now: float) -> _Claim | None:
        claim = self._claims.get(key)
        return claim if claim is not None and claim.expires > now else None

    def claim(self, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            held = self._live((run_id, pair_key), now)
            if held is not None and held.owner != owner:
                return False
            since = held.since if held is not None else now
            self._claims[(run_id, pair_key)] = _Claim(owner, now + lease_seconds, since)
            return True

    def renew(self, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
        with self._lock:
            claim = self._claims.get((run_id, pair_key))
            if claim is None or claim.owner != owner:
                return False
            claim.expires = time.monotonic() + lease_seconds
            return True

    def release(self, run_id: str, pair_key: str, owner: str) -> None:
        with self._lock:
            claim = self._claims.get((run_id, pair_key))
            if claim is not None and claim.owner == owner:
                del self._claims[(run_id, pair_key)]

    def enqueue(self, run_id: str, pair_keys: Iterable[str]) -> None:
        with self._lock:
            queue = self._queues.setdefault(run_id, {})
            for key in pair_keys:
                queue.setdefault(key, None)

    def claim_next(
        self, run_id: str, owner: str, lease_seconds: float, finished: Callable[[], set[str]]
    ) -> str | None:
        """The first queued pair neither claimed nor ``finished()`` (asked under the lock, so that
        a pair finished and released meanwhile is seen finished), now claimed for ``owner``."""
        with self._lock:
            if not self._queues.get(run_id):
                return None
            done = finished()
            now = time.monotonic()
            for pair_key in self._queues[run_id]:
                if pair_key in done or self._live((run_id, pair_key), now) is not None:
                    continue
                self._claims[(run_id, pair_key)] = _Claim(owner, now + lease_seconds, now)
                return pair_key
        return None

    def heartbeat(self, owner: str, info: dict[str, str]) -> None:
        _, _, full = worker_identity(info)
        now = _now()
        with self._lock:
            started = self._workers[owner][0] if owner in self._workers else now
            self._workers[owner] = (started, now, full)

    def workers(self) -> list[WorkerRecord]:
        now = time.monotonic()
        with self._lock:
            found = []
            for owner, (started, seen, info) in sorted(self._workers.items(), key=lambda w: w[1][0]):
                held = sorted(
                    ((c.since, key) for key, c in self._claims.items() if c.owner == owner and c.expires > now)
                )
                host, pid, _ = worker_identity(info)
                found.append(WorkerRecord(owner, host, pid, started, seen, dict(info), tuple(k for _, k in held)))
            return found
