"""The SQLite state store: round trips, concurrent writers, crash safety, schema versioning."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from groupmigrate.errors import StateError
from groupmigrate.state import SCHEMA_VERSION, FolderState, ItemMapping, LogEntry, SqliteStateStore


@pytest.fixture
def store(tmp_path):
    s = SqliteStateStore(tmp_path / "state.db")
    yield s
    s.close()


def test_run_and_account_round_trip(store):
    run_id = store.start_run("full", None, ["mail", "notes"])
    store.start_account(run_id, "a -> b", "a@x.org", "b@y.org")
    store.finish_account(run_id, "a -> b", "completed")
    store.finish_run(run_id, "completed")
    run = store.get_run(run_id)
    assert (run.mode, run.status, run.item_types) == ("full", "completed", ("mail", "notes"))
    assert run.finished is not None and run.finished >= run.started
    [account] = store.accounts(run_id)
    assert (account.source, account.destination, account.status) == ("a@x.org", "b@y.org", "completed")
    last = store.last_finished_account_run("a -> b")
    assert last is not None and last[0].run_id == run_id


def test_unfinished_account_is_not_a_base_for_delta(store):
    run_id = store.start_run("full", None, ["mail"])
    store.start_account(run_id, "a -> b", "a@x.org", "b@y.org")
    assert store.last_finished_account_run("a -> b") is None


def test_batch_commit_round_trip(store):
    run_id = store.start_run("full", None, ["mail"])
    store.commit_batch(
        run_id, "p",
        [ItemMapping("s1", "d1", "mail", "inbox", "mail:abc", 10), ItemMapping("s2", None, "mail", "inbox", None, 5, "skipped")],
        [LogEntry("skipped", "mail", "Inbox", "big mail", "too large")],
        {("mail", "migrated"): 1, ("mail", "skipped"): 1},
    )
    store.commit_batch(run_id, "p", [], [], {("mail", "migrated"): 2})
    assert store.counts(run_id, "p") == {"mail": {"migrated": 3, "skipped": 1}}
    assert store.mapped_source_ids("p", "inbox") == {"s1"}  # skipped items are looked at again
    assert [m.outcome for m in store.mappings("p", "inbox")] == ["migrated", "skipped"]
    [entry] = store.log(run_id, "p")
    assert (entry.kind, entry.item, entry.message) == ("skipped", "big mail", "too large")
    assert store.log(run_id, "p", kinds=["failed"]) == []


def test_folder_state_round_trip(store):
    state = FolderState("p", "F1", ("Inbox", "a/b", "Ünïcødé"), "mail", "D1", None, "sync-1")
    store.save_folder(state)
    assert store.folder_state("p", "F1") == state
    assert store.folder_state("p", "nope") is None


def test_four_threads_write_concurrently(store):
    run_id = store.start_run("full", None, ["mail"])

    def writer(n: int) -> None:
        for i in range(100):
            store.commit_batch(
                run_id, "p", [ItemMapping(f"s{n}-{i}", f"d{n}-{i}", "mail", "inbox")],
                [LogEntry("changed", "mail", "Inbox", f"{n}-{i}", "x")], {("mail", "migrated"): 1},
            )  # fmt: skip

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.mapped_source_ids("p", "inbox")) == 400
    assert store.counts(run_id, "p")["mail"]["migrated"] == 400
    assert len(store.log(run_id, "p")) == 400


def test_reopen_after_kill_mid_transaction_keeps_committed_batches(tmp_path):
    path = tmp_path / "state.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        from groupmigrate.state import SqliteStateStore, ItemMapping
        s = SqliteStateStore({str(path)!r})
        run = s.start_run("full", None, ["mail"])
        s.commit_batch(run, "p", [ItemMapping("committed", "d", "mail", "inbox")], [], {{("mail", "migrated"): 1}})
        s._db.execute("BEGIN IMMEDIATE")
        s._db.execute("INSERT INTO items (pair_key, source_id, item_type, folder_key, run_id) VALUES ('p', 'uncommitted', 'mail', 'inbox', ?)", (run,))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    reopened = SqliteStateStore(path)
    assert reopened.mapped_source_ids("p", "inbox") == {"committed"}
    assert reopened.runs()[0].status == "running"
    reopened.close()


def test_schema_version_recorded_and_newer_file_refused(tmp_path):
    path = tmp_path / "state.db"
    s = SqliteStateStore(path)
    assert s.schema_version == SCHEMA_VERSION
    s.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="schema version 999"):
        SqliteStateStore(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot open state file"):
        SqliteStateStore(path)


def test_unknown_run_is_a_clear_error(store):
    with pytest.raises(StateError, match="no run 'nope'"):
        store.get_run("nope")
