"""What the worker processes of tests/state/test_many_processes.py run (imported by name in each
process started with ``spawn``)."""

from __future__ import annotations

import os
import time
from typing import Any

from groupmigrate.core.state import ItemMapping, LogEntry, PostgresStateStore


def claim_until_empty(url: str, run_id: str, owner: str, start: Any, results: Any, ready: Any = None) -> None:
    """Take pairs from the run's work list until it is empty, migrating each (start, a moment of
    work, finish, release)."""
    store = PostgresStateStore(url)
    store.heartbeat(owner, {"role": "test"})
    if ready is not None:
        ready.put(owner)
    start.wait(30)
    taken = []
    while (pair_key := store.claim_next(run_id, owner, 30)) is not None:
        store.start_account(run_id, pair_key, f"{pair_key}@x.org", f"{pair_key}@y.org")
        time.sleep(0.002)
        store.finish_account(run_id, pair_key, "completed")
        store.release_claim(run_id, pair_key, owner)
        taken.append(pair_key)
    store.close()
    results.put((owner, taken))


def hold_a_claim(url: str, run_id: str, lease: float, results: Any) -> None:
    """Claim the first pair of the work list, say when, then wait to be killed."""
    store = PostgresStateStore(url)
    before = time.time()
    pair_key = store.claim_next(run_id, f"holder-{os.getpid()}", lease)
    results.put((pair_key, before, time.time()))
    time.sleep(120)


def commit_batches(url: str, run_id: str, number: int, batches: int, size: int, start: Any, results: Any) -> None:
    """Commit ``batches`` batches of ``size`` items of its own, plus one item every process writes."""
    store = PostgresStateStore(url)
    start.wait(30)
    for b in range(batches):
        mappings = [ItemMapping(f"p{number}-b{b}-i{i}", f"d{number}-{b}-{i}", "mail", "inbox", size=10) for i in range(size)]
        mappings.append(ItemMapping(f"shared-b{b}", f"d-shared-{b}", "contacts", "contacts", size=1))
        store.commit_batch(
            run_id, "pair", mappings, [LogEntry("changed", "mail", "Inbox", f"{number}-{b}", "x")],
            {("mail", "migrated"): size, ("contacts", "present"): 1},
        )  # fmt: skip
    store.close()
    results.put(number)
