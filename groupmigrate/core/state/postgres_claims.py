"""Claims, the work list, leases, heartbeats and writer sessions of the PostgreSQL state store.

Every function runs on a psycopg connection the caller got from the store's pool (in the
caller's transaction, if any). Leases are measured on the database server's clock
(``now()``), never on a worker's.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence

from psycopg.types.json import Jsonb

from groupmigrate.core.state.claims import FINISHED_ACCOUNT_STATUSES, WorkerRecord, worker_identity
from groupmigrate.core.state.postgres_pool import Connection, Database
from groupmigrate.errors import GroupmigrateError

__all__ = [
    "ACCOUNT_STATUS", "LEASE", "RUN_STATUS", "claim", "claim_next", "end_session", "enqueue", "heartbeat",
    "mark_interrupted", "mark_started", "mark_finished", "release", "renew", "renew_session", "workers",
    "WriterSession",
]  # fmt: skip

log = logging.getLogger("groupmigrate")

#: SQL: the end of a lease of ``%s`` seconds from now.
LEASE = "now() + %s::float8 * interval '1 second'"
_LIVE = "c.owner IS NOT NULL AND c.lease_until > now()"
#: SQL: a run's status as read: ``interrupted`` for a writer session's run whose lease ran out
#: while nobody holds a live claim on any of its pairs.
RUN_STATUS = (
    "CASE WHEN r.status = 'running' AND r.owner IS NOT NULL AND r.lease_until <= now() AND NOT EXISTS "
    f"(SELECT 1 FROM claims c WHERE c.run_id = r.run_id AND {_LIVE}) THEN 'interrupted' ELSE r.status END"
)
#: SQL: an account's status as read: ``interrupted`` when left ``running`` without a live claim.
ACCOUNT_STATUS = (
    "CASE WHEN a.status = 'running' AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.run_id = a.run_id "
    f"AND c.pair_key = a.pair_key AND {_LIVE}) THEN 'interrupted' ELSE a.status END"
)
_CLAIM = (
    "INSERT INTO claims AS c (run_id, pair_key, owner, lease_until, claimed_at) "
    f"VALUES (%s, %s, %s, {LEASE}, now()) ON CONFLICT (run_id, pair_key) DO UPDATE SET owner = excluded.owner, "
    "lease_until = excluded.lease_until, claimed_at = CASE WHEN c.owner = excluded.owner AND c.lease_until > now() "
    "THEN c.claimed_at ELSE excluded.claimed_at END "
    "WHERE c.owner IS NULL OR c.owner = excluded.owner OR c.lease_until <= now() RETURNING 1"
)
_FINISHED = list(FINISHED_ACCOUNT_STATUSES)


def claim(conn: Connection, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
    """Claim the pair: free, expired, or ``owner``'s already (row-locked upsert)."""
    return bool(conn.execute(_CLAIM, (run_id, pair_key, owner, lease_seconds)).fetchall())


def renew(conn: Connection, run_id: str, pair_key: str, owner: str, lease_seconds: float) -> bool:
    return conn.execute(
        f"UPDATE claims SET lease_until = {LEASE} WHERE run_id = %s AND pair_key = %s AND owner = %s",
        (lease_seconds, run_id, pair_key, owner),
    ).rowcount == 1  # fmt: skip


def release(conn: Connection, run_id: str, pair_key: str, owner: str) -> None:
    conn.execute(
        "UPDATE claims SET owner = NULL, lease_until = NULL WHERE run_id = %s AND pair_key = %s AND owner = %s",
        (run_id, pair_key, owner),
    )


def enqueue(conn: Connection, run_id: str, pair_keys: Sequence[str]) -> None:
    """Queue the pairs in order (``seq``); a pair already finished for the run is queued as done."""
    conn.execute(
        "INSERT INTO claims (run_id, pair_key, queued, done) SELECT %s, k, true, EXISTS (SELECT 1 FROM accounts a "
        "WHERE a.run_id = %s AND a.pair_key = k AND a.status = ANY(%s)) FROM unnest(%s::text[]) "
        "WITH ORDINALITY AS t(k, n) ORDER BY n ON CONFLICT (run_id, pair_key) DO UPDATE SET queued = true, "
        "done = claims.done OR excluded.done",
        (run_id, run_id, _FINISHED, list(pair_keys)),
    )


def claim_next(conn: Connection, run_id: str, owner: str, lease_seconds: float) -> str | None:
    """Claim the first queued pair that is neither claimed nor done.

    ``FOR UPDATE SKIP LOCKED`` passes over rows another worker is claiming right now; a row
    that changed since this statement began is checked again once locked (``done`` and the
    claim live on the locked row itself), so two workers never get the same pair.
    """
    rows = conn.execute(
        f"UPDATE claims c SET owner = %s, lease_until = {LEASE}, claimed_at = now() "
        "WHERE (c.run_id, c.pair_key) = (SELECT q.run_id, q.pair_key FROM claims q "
        "WHERE q.run_id = %s AND q.queued AND NOT q.done AND (q.owner IS NULL OR q.lease_until <= now()) "
        "AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.run_id = q.run_id AND a.pair_key = q.pair_key "
        "AND a.status = ANY(%s)) ORDER BY q.seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING c.pair_key",
        (owner, lease_seconds, run_id, _FINISHED),
    ).fetchall()
    return str(rows[0][0]) if rows else None


def mark_started(conn: Connection, run_id: str, pair_key: str) -> None:
    """The account runs (again): its pair is no longer done."""
    conn.execute("UPDATE claims SET done = false WHERE run_id = %s AND pair_key = %s AND done", (run_id, pair_key))


def mark_finished(conn: Connection, run_id: str, pair_key: str, status: str) -> None:
    """The account ended with ``status``: its pair is done unless it may be taken up again (cancelled...)."""
    conn.execute(
        "UPDATE claims SET done = %s WHERE run_id = %s AND pair_key = %s",
        (status in FINISHED_ACCOUNT_STATUSES, run_id, pair_key),
    )


def mark_interrupted(conn: Connection) -> None:
    """Record what :data:`ACCOUNT_STATUS` and :data:`RUN_STATUS` read as ``interrupted``."""
    conn.execute(
        "UPDATE accounts a SET status = 'interrupted', finished = now() WHERE a.status = 'running' AND NOT EXISTS "
        f"(SELECT 1 FROM claims c WHERE c.run_id = a.run_id AND c.pair_key = a.pair_key AND {_LIVE})"
    )
    conn.execute(
        "UPDATE runs r SET status = 'interrupted', finished = now() WHERE r.status = 'running' "
        "AND r.owner IS NOT NULL AND r.lease_until <= now() AND NOT EXISTS "
        f"(SELECT 1 FROM claims c WHERE c.run_id = r.run_id AND {_LIVE})"
    )


def renew_session(conn: Connection, owner: str, lease_seconds: float) -> None:
    """Extend every claim ``owner`` holds, and the lease of its running runs."""
    conn.execute(f"UPDATE claims SET lease_until = {LEASE} WHERE owner = %s", (lease_seconds, owner))
    conn.execute(
        f"UPDATE runs SET lease_until = {LEASE} WHERE owner = %s AND status = 'running'", (lease_seconds, owner)
    )


def end_session(conn: Connection, owner: str) -> None:
    """Give up ``owner``'s claims, and end the lease of its runs still running."""
    conn.execute("UPDATE claims SET owner = NULL, lease_until = NULL WHERE owner = %s", (owner,))
    conn.execute("UPDATE runs SET lease_until = now() WHERE owner = %s AND status = 'running'", (owner,))


def heartbeat(conn: Connection, owner: str, info: dict[str, str]) -> None:
    host, pid, full = worker_identity(info)
    conn.execute(
        "INSERT INTO workers (owner, host, pid, info, first_seen, last_seen) VALUES (%s, %s, %s, %s, now(), now()) "
        "ON CONFLICT (owner) DO UPDATE SET host = excluded.host, pid = excluded.pid, info = excluded.info, "
        "last_seen = excluded.last_seen",
        (owner, host, pid, Jsonb(full)),
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc)


def workers(conn: Connection) -> list[WorkerRecord]:
    rows = conn.execute(
        "SELECT w.owner, w.host, w.pid, w.first_seen, w.last_seen, w.info, "
        f"ARRAY(SELECT ARRAY[c.run_id, c.pair_key] FROM claims c WHERE c.owner = w.owner AND {_LIVE} "
        "ORDER BY c.claimed_at, c.seq) FROM workers w ORDER BY w.first_seen, w.owner"
    ).fetchall()
    return [
        WorkerRecord(owner, host, pid, _utc(first), _utc(last), {str(k): str(v) for k, v in (info or {}).items()},
                     tuple((c[0], c[1]) for c in claims))
        for owner, host, pid, first, last, info, claims in rows
    ]  # fmt: skip


class WriterSession:
    """While a store is inside ``writer()``: ``owner``'s claims and runs kept alive from a
    background thread (every third of ``lease_seconds``), given up by :meth:`stop`."""

    def __init__(self, db: Database, owner: str, lease_seconds: float) -> None:
        self._db = db
        self._owner = owner
        self._lease = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_alive, name="groupmigrate-state-lease", daemon=True)

    def start(self) -> None:
        self._db.run(lambda conn: heartbeat(conn, self._owner, {"role": "writer"}))
        self._thread.start()

    def _keep_alive(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                self._db.run(lambda conn: renew_session(conn, self._owner, self._lease))
                self._db.run(lambda conn: heartbeat(conn, self._owner, {"role": "writer"}))
            except GroupmigrateError as exc:  # the database is away: try again at the next turn
                log.warning("cannot renew the state store's writer lease: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        try:
            self._db.run(lambda conn: end_session(conn, self._owner))
        except GroupmigrateError as exc:  # the leases run out by themselves: nothing is lost
            log.warning("cannot give up the state store's writer session: %s", exc)
