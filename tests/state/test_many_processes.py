"""Many worker processes on one PostgreSQL state store: claims, dead workers, concurrent batches."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time

from groupmigrate.testing.postgres import import_psycopg

import_psycopg()  # without it this module is skipped (a failure on CI)

from groupmigrate.core.state import PostgresStateStore  # noqa: E402  (needs psycopg)

from .procs import claim_until_empty, commit_batches, hold_a_claim  # noqa: E402

SPAWN = multiprocessing.get_context("spawn")


def _collect(results: "multiprocessing.Queue[object]", count: int, processes: list) -> list:
    found = []
    deadline = time.monotonic() + 60
    while len(found) < count:
        try:
            found.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
        except queue.Empty:
            raise AssertionError(f"{count - len(found)} process(es) did not report; exit codes "
                                 f"{[p.exitcode for p in processes]}") from None  # fmt: skip
    for p in processes:
        p.join(timeout=30)
        assert p.exitcode == 0
    return found


def test_eight_processes_take_every_pair_of_the_work_list_exactly_once(pg_url: str) -> None:
    store = PostgresStateStore(pg_url)
    run = store.start_run("full", None, ["mail"])
    keys = [f"user{n:03}@contoso.com -> user{n:03}@example.org" for n in range(200)]
    store.enqueue_accounts(run, keys)
    start, results, ready = SPAWN.Event(), SPAWN.Queue(), SPAWN.Queue()
    processes = [
        SPAWN.Process(target=claim_until_empty, args=(pg_url, run, f"worker-{n}", start, results, ready)) for n in range(8)
    ]
    for p in processes:
        p.start()
    for _ in processes:  # every process connected and waiting: they start together
        ready.get(timeout=60)
    start.set()
    reports = dict(_collect(results, 8, processes))
    taken = [key for keys_of in reports.values() for key in keys_of]
    assert sorted(taken) == sorted(keys)  # every pair, none twice
    assert sum(1 for keys_of in reports.values() if keys_of) >= 2  # the work was shared
    assert {a.status for a in store.accounts(run)} == {"completed"} and len(store.accounts(run)) == 200
    assert store.claim_next(run, "late", 30) is None  # finished pairs are never handed out again
    assert sorted(w.owner for w in store.workers()) == [f"worker-{n}" for n in range(8)]
    store.close()


def test_a_killed_workers_claim_is_taken_again_after_its_lease_and_not_before(pg_url: str) -> None:
    lease = 2.0
    store = PostgresStateStore(pg_url)
    run = store.start_run("full", None, ["mail"])
    store.enqueue_accounts(run, ["only"])
    results = SPAWN.Queue()
    holder = SPAWN.Process(target=hold_a_claim, args=(pg_url, run, lease, results))
    holder.start()
    try:
        pair_key, before, after = results.get(timeout=60)
        assert pair_key == "only"
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(timeout=10)
        assert holder.exitcode == -signal.SIGKILL
        assert not store.claim_account(run, "only", "rescuer", 30)
        while (taken := store.claim_next(run, "rescuer", 30)) is None:
            assert time.time() < after + lease + 5, "the claim was never taken again"
            time.sleep(0.05)
        now = time.time()
        assert taken == "only"
        assert now >= before + lease  # not before the lease ran out
        assert now <= after + lease + 1.0  # soon after it
        assert store.claim_next(run, "another", 30) is None
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join()
    store.close()


def test_four_processes_committing_batches_to_one_run_store_each_mapping_once_with_exact_counts(pg_url: str) -> None:
    store = PostgresStateStore(pg_url)
    run = store.start_run("full", None, ["mail", "contacts"])
    processes_n, batches, size = 4, 25, 20
    start, results = SPAWN.Event(), SPAWN.Queue()
    processes = [
        SPAWN.Process(target=commit_batches, args=(pg_url, run, n, batches, size, start, results))
        for n in range(processes_n)
    ]
    for p in processes:
        p.start()
    start.set()
    assert sorted(_collect(results, processes_n, processes)) == list(range(processes_n))
    mappings = list(store.mappings("pair"))
    ids = [m.source_id for m in mappings]
    assert len(ids) == len(set(ids)) == processes_n * batches * size + batches  # shared items once each
    assert len(store.mapped_source_ids("pair", "inbox")) == processes_n * batches * size
    assert store.counts(run, "pair") == {
        "mail": {"migrated": processes_n * batches * size},
        "contacts": {"present": processes_n * batches},
    }
    assert len(store.log(run, "pair")) == processes_n * batches
    assert store.sizes(run, "pair") == {"migrated": processes_n * batches * size * 10 + batches}
    store.close()
