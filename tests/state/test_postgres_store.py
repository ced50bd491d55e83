"""The PostgreSQL state store's own promises: opening by URL, its schema, passwords, writers
that do not lock each other out, and what a dead worker leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from groupmigrate.core.state import ItemMapping, LogEntry, SqliteStateStore, open_state
from groupmigrate.errors import StateError
from groupmigrate.testing.postgres import PostgresServer, import_psycopg

psycopg = import_psycopg()  # without it this module is skipped (a failure on CI)

from groupmigrate.core.state import PostgresStateStore  # noqa: E402  (needs psycopg)
from groupmigrate.core.state.postgres_schema import SCHEMA_VERSION  # noqa: E402

PASSWORD = "Pg-S3cret!pass#w0rd"


def admin(url: str):
    return psycopg.connect(url, autocommit=True)


def test_open_state_takes_a_url_and_keeps_paths_for_sqlite(pg_url: str, tmp_path: Path) -> None:
    for url in (pg_url, pg_url.replace("postgresql://", "postgres://", 1)):
        store = open_state(url)
        assert isinstance(store, PostgresStateStore) and store.url == url
        store.close()
    for path in (tmp_path / "a.db", str(tmp_path / "b.db")):
        store = open_state(path)
        assert isinstance(store, SqliteStateStore)
        store.close()


def test_the_schema_is_created_once_by_stores_opening_it_together(pg_url: str) -> None:
    stores: list[PostgresStateStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_one() -> None:
        try:
            start.wait(timeout=10)
            stores.append(PostgresStateStore(pg_url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(stores) == 8
    assert {s.schema_version for s in stores} == {SCHEMA_VERSION}
    with admin(pg_url) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == list(
            range(1, SCHEMA_VERSION + 1)
        )
    for s in stores:
        s.close()
    again = PostgresStateStore(pg_url)  # an up-to-date database: nothing to do
    assert again.schema_version == SCHEMA_VERSION
    again.close()


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    PostgresStateStore(pg_url).close()
    with admin(pg_url) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    with pytest.raises(StateError, match=rf"schema version 999, newer than this groupmigrate understands \({SCHEMA_VERSION}\)"):
        PostgresStateStore(pg_url)


@pytest.fixture
def owned_database(postgres_server: PostgresServer) -> tuple[str, str]:
    """A database owned by a role that logs in with PASSWORD: (its name, the role)."""
    role = f"migrator_{os.urandom(3).hex()}"
    postgres_server.add_role(role, PASSWORD)
    url = postgres_server.new_database(owner=role)
    return url.rsplit("/", 1)[1], role


def test_the_password_is_never_shown_nor_stored(postgres_server: PostgresServer, owned_database: tuple[str, str]) -> None:
    database, role = owned_database
    url = postgres_server.url_for(database, role, PASSWORD)
    store = open_state(url)
    assert PASSWORD not in repr(store) and PASSWORD not in store.url and ":***@" in store.url
    with store.writer():
        run = store.start_run("full", None, ["mail"])
        store.start_account(run, "a -> b", "a@x.org", "b@y.org")
        store.commit_batch(run, "a -> b", [ItemMapping("s1", "d1", "mail", "F", label="hello")],
                           [LogEntry("notice", message="first")], {("mail", "migrated"): 1})  # fmt: skip
        store.heartbeat("w1", {"role": "test"})
        store.finish_account(run, "a -> b", "completed")
        store.finish_run(run, "completed")
        with pytest.raises(StateError) as caught:
            store.get_run("nope")
        assert PASSWORD not in str(caught.value)
    store.close()
    dump = []
    with admin(postgres_server.url_for(database)) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert {"runs", "accounts", "items", "log", "counts", "claims", "workers", "schema_version"} <= set(tables)
        for table in tables:
            dump += [str(r[0]) for r in conn.execute(f'SELECT t::text FROM "{table}" t')]
    assert any("hello" in row for row in dump)  # the dump holds the data ...
    assert not any(PASSWORD in row for row in dump)  # ... and never the password


def test_a_wrong_password_and_an_unreachable_server_are_clear_errors_without_the_password(
    postgres_server: PostgresServer, owned_database: tuple[str, str]
) -> None:
    database, role = owned_database
    wrong = postgres_server.url_for(database, role, PASSWORD + "-wrong")
    with pytest.raises(StateError) as caught:
        open_state(wrong)
    message = str(caught.value)
    assert "password authentication failed" in message and "cannot connect to the state store" in message
    assert PASSWORD not in message and ":***@" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    closed = f"postgresql://{role}:{PASSWORD}@127.0.0.1:1/{database}?password={PASSWORD}&connect_timeout=2"
    with pytest.raises(StateError) as caught:
        open_state(closed)
    assert PASSWORD not in str(caught.value) and "password=***" in str(caught.value)


def test_the_password_may_come_from_pgpassword_or_a_password_file(
    postgres_server: PostgresServer, owned_database: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, role = owned_database
    url = postgres_server.url_for(database, role)  # no password in it
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(StateError, match="password"):
        open_state(url)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    store = open_state(url)
    assert store.latest_run() is None
    store.close()
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_server.port}:{database}:{role}:{PASSWORD}\n", encoding="utf-8")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    store = open_state(url)
    assert store.runs() == []
    store.close()


def test_writers_do_not_lock_each_other_out(pg_url: str) -> None:
    first, second = PostgresStateStore(pg_url), PostgresStateStore(pg_url)
    with first.writer(), second.writer():
        assert first.is_writer and second.is_writer
        one = first.start_run("full", None, ["mail"])
        two = second.start_run("full", None, ["mail"])
        first.start_account(one, "a", "a@x.org", "a@y.org")
        second.start_account(two, "b", "b@x.org", "b@y.org")
        with first.writer():  # re-entrant
            pass
        assert first.is_writer
        # each sees the other's work as running, not as interrupted
        assert [(r.run_id, r.status) for r in first.runs()] == [(one, "running"), (two, "running")]
        assert [a.status for a in first.accounts(two)] == ["running"]
        for store, run, key in ((first, one, "a"), (second, two, "b")):
            store.finish_account(run, key, "completed")
            store.finish_run(run, "completed")
    assert not first.is_writer
    assert [r.status for r in first.runs()] == ["completed", "completed"]
    first.close()
    second.close()


def test_a_writer_session_keeps_its_work_alive_and_leaves_unfinished_work_interrupted(pg_url: str) -> None:
    writer = PostgresStateStore(pg_url, writer_lease=0.6)
    reader = PostgresStateStore(pg_url)
    with writer.writer():
        run = writer.start_run("full", None, ["mail"])
        writer.start_account(run, "a", "a@x.org", "a@y.org")
        time.sleep(1.3)  # two leases: renewed in the background meanwhile
        assert reader.get_run(run).status == "running"
        assert [a.status for a in reader.accounts(run)] == ["running"]
        assert [(w.owner, w.claims) for w in reader.workers()] == [(writer.owner, ((run, "a"),))]
    # the block ended with the run unfinished: it reads as interrupted at once ...
    assert reader.get_run(run).status == "interrupted"
    assert [a.status for a in reader.accounts(run)] == ["interrupted"]
    with admin(pg_url) as conn:
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "running"
    # ... and the next writer records it so
    with reader.writer():
        pass
    with admin(pg_url) as conn:
        assert conn.execute("SELECT status, finished IS NOT NULL FROM runs").fetchone() == ("interrupted", True)
        assert conn.execute("SELECT status FROM accounts").fetchone()[0] == "interrupted"
    writer.close()
    reader.close()


WORKER = textwrap.dedent(
    """
    import sys, time
    from groupmigrate.core.state import PostgresStateStore
    store = PostgresStateStore(sys.argv[1], writer_lease=float(sys.argv[2]))
    with store.writer():
        run = store.start_run("full", None, ["mail"])
        store.start_account(run, "dies", "a@x.org", "a@y.org")
        print(run, flush=True)
        time.sleep(60)
    """
)


def test_only_the_accounts_of_a_killed_worker_become_interrupted(pg_url: str) -> None:
    lease = 1.0
    proc = subprocess.Popen([sys.executable, "-c", WORKER, pg_url, str(lease)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        run = proc.stdout.readline().strip()
        assert run, "the worker did not start"
        store = PostgresStateStore(pg_url)
        # another worker of the same run, alive
        assert store.claim_account(run, "lives", "w2", 60)
        store.start_account(run, "lives", "b@x.org", "b@y.org")
        proc.kill()
        proc.wait(timeout=10)
        killed = time.monotonic()
        with store.writer():  # a writer coming now interrupts nothing: the lease still runs
            assert {a.pair_key: a.status for a in store.accounts(run)} == {"dies": "running", "lives": "running"}
        time.sleep(max(0.0, lease + 0.2 - (time.monotonic() - killed)))
        assert {a.pair_key: a.status for a in store.accounts(run)} == {"dies": "interrupted", "lives": "running"}
        assert store.get_run(run).status == "running"  # a live worker still works on it
        with store.writer():
            pass
        with admin(pg_url) as conn:
            rows = dict(conn.execute("SELECT pair_key, status FROM accounts").fetchall())
        assert rows == {"dies": "interrupted", "lives": "running"}
        store.finish_account(run, "lives", "completed")
        store.release_claim(run, "lives", "w2")
        assert store.get_run(run).status == "interrupted"  # nobody works on it any more
        store.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_failed_batch_leaves_nothing_behind_and_text_with_nul_is_kept(pg_url: str) -> None:
    store = PostgresStateStore(pg_url)
    run = store.start_run("full", None, ["mail"])
    store.commit_batch(run, "p", [ItemMapping("s1", "d1", "mail", "F", label="a\x00b")],
                       [LogEntry("changed", "mail", "In\x00box", "it\x00em", "mess\x00age")], {("mail", "migrated"): 1})  # fmt: skip
    with pytest.raises(StateError):  # an id PostgreSQL cannot hold: the whole batch is refused
        store.commit_batch(run, "p", [ItemMapping("s2", "d2", "mail", "F"), ItemMapping("bad\x00id", "d3", "mail", "F")],
                           [LogEntry("notice", message="second")], {("mail", "migrated"): 2})  # fmt: skip
    assert [(m.source_id, m.label) for m in store.mappings("p")] == [("s1", "a\ufffdb")]
    assert store.counts(run, "p") == {"mail": {"migrated": 1}}
    [entry] = store.log(run, "p")
    assert (entry.folder, entry.item, entry.message) == ("In\ufffdbox", "it\ufffdem", "mess\ufffdage")
    store.close()


def test_the_configuration_takes_a_url_as_the_state_store(tmp_path: Path) -> None:
    from groupmigrate.frontdoors.config import InsecureConfigWarning, load_config

    (tmp_path / "accounts.csv").write_text("source,destination\na@x.org,a@y.org\n", encoding="utf-8")
    base = (
        '[source]\nbackend = "memory"\n[destination]\nbackend = "memory"\n'
        '[migration]\naccounts = "accounts.csv"\nstate = "{}"\n'
    )
    path = tmp_path / "migration.toml"
    path.write_text(base.format("postgresql://gm@db.example.org/migration?sslmode=require"), encoding="utf-8")
    config = load_config(path)
    assert config.migration.state == "postgresql://gm@db.example.org/migration?sslmode=require"
    path.write_text(base.format(f"postgres://gm:{PASSWORD}@db.example.org/migration"), encoding="utf-8")
    with pytest.warns(InsecureConfigWarning, match="PGPASSWORD"):
        config = load_config(path)
    assert config.migration.state == f"postgres://gm:{PASSWORD}@db.example.org/migration"
    assert PASSWORD not in repr(config) and "gm:***@db.example.org" in repr(config.migration)
    path.write_text(base.format("state/migration.db"), encoding="utf-8")
    assert load_config(path).migration.state == tmp_path / "state" / "migration.db"
