"""One writer per state file: the lock, its refusal message, and runs left behind by a dead writer."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from groupmigrate.errors import StateError, StateLocked
from groupmigrate.core.report import Report, list_runs
from groupmigrate.core.state import SqliteStateStore


class Holder:
    """Another process that takes the writer lock, starts a run and waits to be stopped."""

    def __init__(self, path: Path, start_run: bool = True) -> None:
        script = textwrap.dedent(
            f"""
            import sys, time
            from groupmigrate.core.state import SqliteStateStore
            store = SqliteStateStore({str(path)!r})
            with store.writer():
                if {start_run!r}:
                    run = store.start_run("full", None, ["mail"])
                    store.start_account(run, "a -> b", "a@x.org", "b@y.org")
                print("locked", flush=True)
                sys.stdin.readline()
            print("released", flush=True)
            time.sleep(60)
            """
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def holder_factory():
    holders: list[Holder] = []

    def make(path: Path, start_run: bool = True) -> Holder:
        holders.append(Holder(path, start_run))
        return holders[-1]

    yield make
    for h in holders:
        h.kill()


def test_a_second_store_in_the_same_process_is_refused_with_the_holder_named(tmp_path):
    path = tmp_path / "migration.db"
    first, second = SqliteStateStore(path), SqliteStateStore(path)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    with first.writer():
        with pytest.raises(StateLocked) as caught:
            with second.writer():
                pass  # pragma: no cover
    err = caught.value
    assert isinstance(err, StateError)
    assert err.holder["pid"] == str(os.getpid()) and err.holder["host"] == socket.gethostname()
    message = str(err)
    match = re.fullmatch(
        rf"state file {re.escape(str(path))} is in use by process {os.getpid()} on host "
        rf"{re.escape(socket.gethostname())} since (\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d) UTC; "
        r"wait for it to finish, or stop it",
        message,
    )
    assert match, message
    since = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    assert before <= since <= dt.datetime.now(dt.timezone.utc)
    # released at the end of the block: now the second store may write
    with second.writer():
        assert second.is_writer and not first.is_writer
    first.close()
    second.close()


def test_the_lock_is_reentrant_for_one_store_object(tmp_path):
    store = SqliteStateStore(tmp_path / "state.db")
    other = SqliteStateStore(tmp_path / "state.db")
    with store.writer():
        run_id = store.start_run("full", None, ["mail"])
        with store.writer():  # nested: no refusal, and the own running run stays running
            assert store.get_run(run_id).status == "running"
        assert store.is_writer  # still held after the inner block
        with pytest.raises(StateLocked):
            with other.writer():
                pass  # pragma: no cover
        store.finish_run(run_id, "completed")
    assert not store.is_writer
    with other.writer():
        pass
    store.close()
    other.close()


def test_threads_sharing_one_store_share_its_lock(tmp_path):
    store = SqliteStateStore(tmp_path / "state.db")
    errors: list[BaseException] = []
    inside = threading.Barrier(3)

    def work() -> None:
        try:
            with store.writer():
                inside.wait(timeout=10)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and not store.is_writer
    store.close()


def test_another_process_is_refused_while_the_holder_runs(tmp_path, holder_factory):
    path = tmp_path / "migration.db"
    holder = holder_factory(path)
    store = SqliteStateStore(path)
    with pytest.raises(StateLocked) as caught:
        with store.writer():
            pass  # pragma: no cover
    assert caught.value.holder["pid"] == str(holder.proc.pid)
    assert f"in use by process {holder.proc.pid} on host {socket.gethostname()} since " in str(caught.value)
    # readers need no lock and see the holder's run as running
    [run] = store.runs()
    assert run.status == "running"
    assert [a.status for a in store.accounts(run.run_id)] == ["running"]
    holder.release()
    with store.writer():  # the holder released the lock and finished nothing: its run was left running
        assert store.runs()[0].status == "interrupted"
    store.close()


def test_a_killed_holder_releases_the_lock_and_its_run_reads_as_interrupted(tmp_path, holder_factory):
    path = tmp_path / "migration.db"
    holder = holder_factory(path)
    reader = SqliteStateStore(path)
    assert reader.runs()[0].status == "running"
    holder.kill()
    assert holder.proc.returncode == -signal.SIGKILL
    # without any writer yet, readers show the truth
    [run] = reader.runs()
    assert run.status == "interrupted"
    assert [a.status for a in reader.accounts(run.run_id)] == ["interrupted"]
    assert Report.from_state(reader).status == "interrupted"
    assert [s.run.status for s in list_runs(reader)] == ["interrupted"]
    db = sqlite3.connect(path)
    assert db.execute("SELECT status, finished FROM runs").fetchone() == ("running", None)
    # the next writer gets the lock at once and records the interruption
    writer = SqliteStateStore(path)
    with writer.writer():
        [run] = writer.runs()
        assert run.status == "interrupted" and run.finished is not None
        [account] = writer.accounts(run.run_id)
        assert account.status == "interrupted" and account.finished is not None
    assert db.execute("SELECT status FROM runs").fetchone() == ("interrupted",)
    assert db.execute("SELECT status FROM accounts").fetchone() == ("interrupted",)
    db.close()
    reader.close()
    writer.close()


def test_finished_runs_are_left_alone_by_a_new_writer(tmp_path):
    path = tmp_path / "state.db"
    store = SqliteStateStore(path)
    with store.writer():
        run_id = store.start_run("full", None, ["mail"])
        store.start_account(run_id, "p", "a@x.org", "b@y.org")
        store.finish_account(run_id, "p", "completed")
        store.finish_run(run_id, "completed")
    finished = store.get_run(run_id).finished
    with store.writer():
        run = store.get_run(run_id)
        assert (run.status, run.finished) == ("completed", finished)
    store.close()


def test_the_lock_file_names_the_holder_only_while_held(tmp_path):
    path = tmp_path / "state.db"
    store = SqliteStateStore(path)
    lock = Path(str(path) + ".lock")
    with store.writer():
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        dt.datetime.fromisoformat(holder["started"])
    assert lock.read_text() == ""
    store.close()


def test_readers_do_not_get_in_the_way_of_a_writer(tmp_path):
    path = tmp_path / "state.db"
    store = SqliteStateStore(path)
    store.start_run("full", None, ["mail"])  # left running: every read probes the lock
    reader = SqliteStateStore(path)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            reader.runs()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for _ in range(50):
            with store.writer():
                pass
    finally:
        stop.set()
        thread.join()
    store.close()
    reader.close()


def test_memory_stores_have_a_process_local_lock(tmp_path):
    store = SqliteStateStore(":memory:")
    run_id = store.start_run("full", None, ["mail"])
    assert store.get_run(run_id).status == "running"  # nothing to probe: the file is trusted
    with store.writer():
        with store.writer():
            assert store.get_run(run_id).status == "interrupted"  # left running before the writer came
    assert not list(Path(tmp_path).iterdir())
    store.close()


def test_a_writer_waits_out_nothing(tmp_path, holder_factory):
    path = tmp_path / "state.db"
    holder_factory(path, start_run=False)
    store = SqliteStateStore(path)
    started = time.monotonic()
    with pytest.raises(StateLocked):
        with store.writer():
            pass  # pragma: no cover
    assert time.monotonic() - started < 5  # refused at once, not after a long wait
    store.close()


def test_a_full_disk_is_an_output_error_naming_the_state_file_and_the_next_run_resumes(tmp_path):
    """SQLite's own page limit makes the file 'full' exactly as a full disk does."""
    from groupmigrate.errors import OutputError
    from groupmigrate.core.state import ItemMapping, LogEntry, SqliteStateStore

    path = tmp_path / "migration.db"
    store = SqliteStateStore(path)
    run = store.start_run("full", None, ["mail"])
    store.commit_batch(run, "a->b", [ItemMapping("s1", "d1", "mail", "F")], [LogEntry("notice", message="first")], {("mail", "migrated"): 1})
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = [LogEntry("changed", "mail", "Inbox", f"item {i}", "x" * 2000) for i in range(200)]
    with pytest.raises(OutputError, match=rf"state file {path}: the disk is full .* run the same command again") as info:
        store.commit_batch(run, "a->b", [ItemMapping("s2", "d2", "mail", "F")], big, {("mail", "migrated"): 1})
    assert info.value.path == str(path)
    store.close()
    again = SqliteStateStore(path)  # space freed: the file opens and holds the first batch, whole
    assert [m.source_id for m in again.mappings("a->b")] == ["s1"] and again.counts(run, "a->b") == {"mail": {"migrated": 1}}
