"""The state stores: round trips and concurrent writers on both (SQLite, and PostgreSQL on a
real server: skipped without one, except on CI); crash safety and schema versioning of SQLite.

PostgreSQL's own promises (many processes, claims, its schema, passwords) are in tests/state.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import attrs
import pytest

from groupmigrate.errors import StateError
from groupmigrate.core.report import Report, list_runs
from groupmigrate.core.state import SCHEMA_VERSION, FolderState, ItemMapping, LogEntry, SqliteStateStore, open_state
from groupmigrate.testing.postgres import pg_url, postgres_server  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """Each test using it runs once per kind of store."""
    s = open_state(tmp_path / "state.db" if request.param == "sqlite" else request.getfixturevalue("pg_url"))
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
    assert [m.label for m in store.mappings("p", "inbox")] == [None, None]
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
        from groupmigrate.core.state import SqliteStateStore, ItemMapping
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
    # Nobody holds the writer lock: the run left "running" reads as interrupted ...
    assert reopened.runs()[0].status == "interrupted"
    assert sqlite3.connect(path).execute("SELECT status FROM runs").fetchone()[0] == "running"
    # ... and the next writer records it so.
    with reopened.writer():
        assert reopened.runs()[0].status == "interrupted"
    assert sqlite3.connect(path).execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
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


def finished_run(store, mode, pair_key="a -> b", status="completed"):
    run_id = store.start_run(mode, None, ["mail"])
    store.start_account(run_id, pair_key, "a@x.org", "b@y.org")
    store.finish_account(run_id, pair_key, status)
    store.finish_run(run_id, status)
    return run_id


def test_run_kinds_and_latest_run(store):
    assert store.latest_run() is None and store.latest_run(None) is None
    full = finished_run(store, "full")
    verify = finished_run(store, "verify")
    delta = finished_run(store, "delta")
    verify2 = finished_run(store, "verify")
    assert [(r.run_id, r.kind) for r in store.runs()] == [
        (full, "migration"), (verify, "verify"), (delta, "migration"), (verify2, "verify")
    ]
    assert [r.run_id for r in store.runs("migration")] == [full, delta]
    assert [r.run_id for r in store.runs(kind="verify")] == [verify, verify2]
    assert store.latest_run().run_id == delta
    assert store.latest_run("verify").run_id == verify2
    assert store.latest_run(None).run_id == verify2
    with pytest.raises(ValueError, match="unknown run kind"):
        store.runs("sideways")


def test_verify_runs_are_never_a_base_for_delta(store):
    trial = finished_run(store, "trial")
    finished_run(store, "verify")
    last = store.last_finished_account_run("a -> b")
    assert last is not None and last[0].run_id == trial and last[0].mode == "trial"
    assert store.last_finished_account_run("a -> b", kind="verify")[0].mode == "verify"
    full = finished_run(store, "full", status="completed_with_errors")
    finished_run(store, "verify")
    unfinished = store.start_run("delta", None, ["mail"])
    store.start_account(unfinished, "a -> b", "a@x.org", "b@y.org")
    history = store.last_finished_account_runs("a -> b")
    assert [(run.run_id, account.status) for run, account in history] == [
        (full, "completed_with_errors"), (trial, "completed")
    ]
    assert [run.mode for run, _ in store.last_finished_account_runs("a -> b", kind=None)] == [
        "verify", "full", "verify", "trial"
    ]
    assert store.last_finished_account_runs("someone else") == []


def test_outcomes_labels_and_the_mappings_filter(store):
    run_id = store.start_run("full", None, ["mail"])
    outcomes = ["migrated", "present", "skipped", "failed", "ambiguous"]
    store.commit_batch(
        run_id, "p",
        [ItemMapping(f"s-{o}", f"d-{o}" if o in ("migrated", "present") else None, "mail", "inbox", None, 1, o, f"label {o}")
         for o in outcomes],
        [], {("mail", o): 1 for o in outcomes},
    )  # fmt: skip
    store.commit_batch(run_id, "p", [ItemMapping("other", "d", "contacts", "contacts", label="Ann Example")], [], {})
    assert store.mapped_source_ids("p", "inbox") == {"s-migrated", "s-present"}
    assert [m.source_id for m in store.mappings("p", "inbox", outcomes=["failed", "ambiguous"])] == ["s-failed", "s-ambiguous"]
    assert [m.label for m in store.mappings("p", outcomes=("migrated",))] == ["label migrated", "Ann Example"]
    assert list(store.mappings("p", outcomes=[])) == []
    assert len(list(store.mappings("p"))) == 6
    # the next run writes what it found; INSERT OR REPLACE keeps one row per source item
    store.commit_batch(run_id, "p", [ItemMapping("s-ambiguous", "d-x", "mail", "inbox", None, 1, "migrated", "now known")], [], {})
    [row] = [m for m in store.mappings("p", "inbox") if m.source_id == "s-ambiguous"]
    assert (row.outcome, row.destination_id, row.label) == ("migrated", "d-x", "now known")
    store.forget_mappings("p", ["s-ambiguous", "s-failed", "not there"])
    assert {m.source_id for m in store.mappings("p", "inbox")} == {"s-migrated", "s-present", "s-skipped"}


def test_folders_lists_an_accounts_folders_in_order(store):
    a = FolderState("p", "F1", ("Inbox",), "mail", "D1", None, "s1")
    b = FolderState("p", "F2", ("Contacts",), "contacts")
    store.save_folder(a)
    store.save_folder(b)
    store.save_folder(FolderState("q", "F9", ("Inbox",), "mail"))
    store.save_folder(attrs.evolve(a, sync_state="s2"))  # an update keeps the folder's place
    assert store.folders("p") == [attrs.evolve(a, sync_state="s2"), b]
    assert store.folders("nobody") == []


# The schema of version 1, as groupmigrate 1.x created it (kept verbatim: files made with it
# must keep opening).
V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, mode TEXT NOT NULL, since TEXT, item_types TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL
);
CREATE TABLE accounts (
    run_id TEXT NOT NULL, pair_key TEXT NOT NULL, source TEXT NOT NULL, destination TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, started TEXT, finished TEXT,
    PRIMARY KEY (run_id, pair_key)
);
CREATE TABLE folders (
    pair_key TEXT NOT NULL, folder_key TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL,
    destination_id TEXT, watermark TEXT, sync_state TEXT,
    PRIMARY KEY (pair_key, folder_key)
);
CREATE TABLE items (
    pair_key TEXT NOT NULL, source_id TEXT NOT NULL, destination_id TEXT, item_type TEXT NOT NULL,
    folder_key TEXT NOT NULL, fingerprint TEXT, size INTEGER NOT NULL DEFAULT 0, run_id TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'migrated',
    PRIMARY KEY (pair_key, source_id)
);
CREATE INDEX items_by_folder ON items (pair_key, folder_key);
CREATE TABLE counts (
    run_id TEXT NOT NULL, pair_key TEXT NOT NULL, item_type TEXT NOT NULL, outcome TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY (run_id, pair_key, item_type, outcome)
);
CREATE TABLE log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, pair_key TEXT NOT NULL,
    kind TEXT NOT NULL, item_type TEXT, folder TEXT, item TEXT, message TEXT NOT NULL, time TEXT NOT NULL
);
CREATE INDEX log_by_account ON log (run_id, pair_key);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO runs VALUES ('r1', 'full', NULL, '["mail"]', '2026-01-01T10:00:00+00:00', '2026-01-01T11:00:00+00:00', 'completed');
INSERT INTO runs VALUES ('r2', 'verify', NULL, '["mail"]', '2026-01-02T10:00:00+00:00', '2026-01-02T10:05:00+00:00', 'completed');
INSERT INTO accounts VALUES ('r1', 'p', 'a@x.org', 'b@y.org', 'completed', NULL, '2026-01-01T10:00:00+00:00', '2026-01-01T11:00:00+00:00');
INSERT INTO accounts VALUES ('r2', 'p', 'a@x.org', 'b@y.org', 'completed', NULL, '2026-01-02T10:00:00+00:00', '2026-01-02T10:05:00+00:00');
INSERT INTO folders VALUES ('p', 'F1', '["Inbox"]', 'mail', 'D1', NULL, 'sync-9');
INSERT INTO items VALUES ('p', 's1', 'd1', 'mail', 'F1', 'mail:aa', 10, 'r1', 'migrated');
INSERT INTO items VALUES ('p', 's2', 'd2', 'mail', 'F1', 'mail:bb', 20, 'r1', 'duplicate');
INSERT INTO items VALUES ('p', 's3', NULL, 'mail', 'F1', NULL, 30, 'r1', 'skipped');
INSERT INTO counts VALUES ('r1', 'p', 'mail', 'migrated', 1);
INSERT INTO log (run_id, pair_key, kind, item_type, folder, item, message, time)
    VALUES ('r1', 'p', 'skipped', 'mail', 'Inbox', 'big', 'too large', '2026-01-01T10:30:00+00:00');
"""


def test_a_version_1_file_is_upgraded_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(V1_DDL)
    db.commit()
    db.close()
    store = SqliteStateStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert [(m.source_id, m.outcome, m.label) for m in store.mappings("p")] == [
            ("s1", "migrated", None), ("s2", "present", None), ("s3", "skipped", None)
        ]
        assert store.mapped_source_ids("p", "F1") == {"s1", "s2"}
        assert [(r.run_id, r.kind) for r in store.runs()] == [("r1", "migration"), ("r2", "verify")]
        assert store.last_finished_account_run("p")[0].run_id == "r1"
        assert store.folder_state("p", "F1").sync_state == "sync-9"
        assert store.counts("r1", "p") == {"mail": {"migrated": 1}}
        assert [e.message for e in store.log("r1", "p")] == ["too large"]
        run_id = store.start_run("delta", None, ["mail"])
        store.commit_batch(run_id, "p", [ItemMapping("s4", "d4", "mail", "F1", label="Hello")], [], {})
        assert [m.label for m in store.mappings("p", outcomes=["migrated"])] == [None, "Hello"]
    finally:
        store.close()
    again = SqliteStateStore(path)  # opening an up-to-date file changes nothing
    assert again.schema_version == 2 and len(list(again.mappings("p"))) == 4
    again.close()


def test_report_defaults_to_the_latest_migration_run(store):
    assert_no_run = pytest.raises(StateError, match="no run yet")
    with assert_no_run:
        Report.from_state(store)
    verify_first = finished_run(store, "verify")
    assert Report.from_state(store).run_id == verify_first  # no migration yet: the latest run
    full = finished_run(store, "full")
    finished_run(store, "verify")
    report = Report.from_state(store)
    assert (report.run_id, report.kind, report.mode) == (full, "migration", "full")
    verify_report = Report.from_state(store, verify_first)
    assert (verify_report.kind, verify_report.mode) == ("verify", "verify")


def test_list_runs_summarizes_accounts(store):
    full = store.start_run("full", None, ["mail"])
    for key, status in (("a", "completed"), ("b", "completed"), ("c", "failed")):
        store.start_account(full, key, f"{key}@x.org", f"{key}@y.org")
        store.finish_account(full, key, status)
    store.finish_run(full, "completed_with_errors")
    finished_run(store, "verify")
    summaries = list_runs(store)
    assert [s.accounts for s in summaries] == [{"completed": 2, "failed": 1}, {"completed": 1}]
    line = summaries[0].line()
    assert line.startswith(full) and "migration" in line and "full" in line
    assert "completed_with_errors" in line and "3 accounts (2 completed, 1 failed)" in line
    assert summaries[1].to_dict()["kind"] == "verify"
    assert [s.run.mode for s in list_runs(store, "verify")] == ["verify"]
