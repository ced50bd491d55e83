"""Claims, the work list and heartbeats: the same promises from both kinds of store, in one process."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from groupmigrate.core.state import StateStore, WorkerRecord


def test_a_claim_is_held_against_others_and_extended_for_its_owner(store: StateStore) -> None:
    assert isinstance(store, StateStore)  # both kinds offer the whole protocol
    run = store.start_run("full", None, ["mail"])
    assert store.claim_account(run, "a", "w1", 30)
    assert store.claim_account(run, "a", "w1", 30)  # already its own: extended
    assert not store.claim_account(run, "a", "w2", 30)
    assert store.claim_account(run, "b", "w2", 30)  # another pair is free
    other = store.start_run("full", None, ["mail"])
    assert store.claim_account(other, "a", "w2", 30)  # claims are per run
    assert store.renew_claim(run, "a", "w1", 30)
    assert not store.renew_claim(run, "a", "w2", 30)
    store.release_claim(run, "a", "w2")  # not the holder: nothing happens
    assert not store.claim_account(run, "a", "w2", 30)
    store.release_claim(run, "a", "w1")
    assert store.claim_account(run, "a", "w2", 30)
    assert not store.renew_claim(run, "a", "w1", 30)


def test_an_expired_claim_can_be_taken_and_its_old_owner_cannot_renew_it(store: StateStore) -> None:
    run = store.start_run("full", None, ["mail"])
    assert store.claim_account(run, "a", "w1", 0.3)
    assert not store.claim_account(run, "a", "w2", 30)
    time.sleep(0.4)
    assert store.claim_account(run, "a", "w2", 30)
    assert not store.renew_claim(run, "a", "w1", 30)


def test_the_work_list_hands_out_pairs_in_order_once_each(store: StateStore) -> None:
    run = store.start_run("full", None, ["mail"])
    store.enqueue_accounts(run, ["p1", "p2", "p3"])
    store.enqueue_accounts(run, ["p2", "p4"])  # p2 keeps its place
    assert store.claim_account(run, "p2", "w9", 30)  # claimed directly: not handed out
    taken = [store.claim_next(run, f"w{i}", 30) for i in range(4)]
    assert taken == ["p1", "p3", "p4", None]
    assert store.claim_next(store.start_run("full", None, ["mail"]), "w1", 30) is None  # another run: nothing queued


def test_finished_pairs_are_not_handed_out_again_unfinished_ones_are(store: StateStore) -> None:
    run = store.start_run("full", None, ["mail"])
    store.enqueue_accounts(run, ["done", "failed", "errors", "dropped", "expired"])
    for key, status in (("done", "completed"), ("failed", "failed"), ("errors", "completed_with_errors")):
        assert store.claim_next(run, "w1", 30) == key
        store.start_account(run, key, f"{key}@x.org", f"{key}@y.org")
        store.finish_account(run, key, status)
        store.release_claim(run, key, "w1")
    assert store.claim_next(run, "w1", 30) == "dropped"
    store.start_account(run, "dropped", "d@x.org", "d@y.org")
    store.finish_account(run, "dropped", "cancelled")
    store.release_claim(run, "dropped", "w1")  # released unfinished: handed out again
    assert store.claim_next(run, "w2", 0.3) == "dropped"
    assert store.claim_next(run, "w3", 30) == "expired"
    assert store.claim_next(run, "w3", 30) is None  # "dropped" is held by w2
    time.sleep(0.4)
    assert store.claim_next(run, "w3", 30) == "dropped"  # w2 stopped renewing
    assert store.claim_next(run, "w4", 30) is None


def test_threads_claiming_from_one_work_list_never_share_a_pair(store: StateStore) -> None:
    run = store.start_run("full", None, ["mail"])
    keys = [f"pair-{n:03}" for n in range(60)]
    store.enqueue_accounts(run, keys)
    taken: dict[str, list[str]] = {}

    def work(owner: str) -> None:
        mine = taken.setdefault(owner, [])
        while (key := store.claim_next(run, owner, 30)) is not None:
            mine.append(key)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [k for keys_of in taken.values() for k in keys_of]
    assert sorted(everything) == keys


def test_heartbeats_list_workers_with_host_pid_and_their_claims(store: StateStore) -> None:
    run = store.start_run("full", None, ["mail"])
    store.heartbeat("w1", {"queue": "fast"})
    store.heartbeat("w2", {"host": "node-7", "pid": "4242"})
    assert store.claim_account(run, "a", "w1", 30)
    assert store.claim_account(run, "b", "w1", 30)
    assert store.claim_account(run, "c", "w2", 0.2)
    time.sleep(0.3)  # w2's claim ran out
    first = store.workers()[0].last_seen
    store.heartbeat("w1", {"queue": "slow"})
    w1, w2 = store.workers()
    assert isinstance(w1, WorkerRecord)
    assert (w1.owner, w1.host, w1.pid) == ("w1", socket.gethostname(), os.getpid())
    assert w1.info == {"host": socket.gethostname(), "pid": str(os.getpid()), "queue": "slow"}
    assert w1.claims == ((run, "a"), (run, "b")) and w1.pair_key == "b"
    assert w1.last_seen >= first and w1.started <= w1.last_seen
    assert (w2.owner, w2.host, w2.pid, w2.claims, w2.pair_key) == ("w2", "node-7", 4242, (), None)


def test_claims_do_not_need_the_writer(store: StateStore) -> None:
    """A coordinator starts the run; workers claim and write its accounts."""
    run = store.start_run("full", None, ["mail"])
    store.enqueue_accounts(run, ["a"])
    key = store.claim_next(run, "w1", 30)
    assert key == "a"
    store.start_account(run, key, "a@x.org", "a@y.org")
    store.finish_account(run, key, "completed")
    store.release_claim(run, key, "w1")
    store.finish_run(run, "completed")
    assert [a.status for a in store.accounts(run)] == ["completed"]


@pytest.mark.parametrize("lease", [0.0, -1.0])
def test_a_lease_that_is_already_over_holds_nothing(store: StateStore, lease: float) -> None:
    run = store.start_run("full", None, ["mail"])
    assert store.claim_account(run, "a", "w1", lease)
    assert store.claim_account(run, "a", "w2", 30)
