"""Whole migrations on the in-memory backend with their state in PostgreSQL: full, verify, delta,
and two migrations of different accounts writing one store at the same time."""

from __future__ import annotations

import datetime as dt
import threading

import groupmigrate as gm
from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.core.report import Report, list_runs
from groupmigrate.core.state import open_state
from groupmigrate.items import Contact, Event, Message, Note, Task
from groupmigrate.testing.postgres import import_psycopg

import_psycopg()  # without it this module is skipped (a failure on CI)

from groupmigrate.core.state import PostgresStateStore  # noqa: E402  (needs psycopg)

NOW = dt.datetime.now(dt.timezone.utc)
PER_ACCOUNT = 20 + 4


def mail(n: int, days_ago: int = 20) -> Message:
    date = (NOW - dt.timedelta(days=days_ago)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return Message.from_mime(
        f"Message-ID: <pg{n}@contoso.com>\r\nFrom: a@contoso.com\r\nTo: b@contoso.com\r\n"
        f"Subject: mail {n}\r\nDate: {date}\r\n\r\nbody {n}\r\n".encode()
    )


def world(names: list[str]) -> tuple[MemoryServer, MemoryServer, list[gm.AccountPair]]:
    source, destination = MemoryServer(), MemoryServer()
    pairs = []
    for name in names:
        address = f"{name}@contoso.com"
        source.add_mailbox(address)
        for n in range(20):
            source.add_item(address, ("Inbox", "Projects") if n % 2 else ("Inbox",), mail(n),
                            changed=NOW - dt.timedelta(days=20))  # fmt: skip
        source.add_item(address, ("Contacts",), Contact(display_name="Bob", emails=("bob@contoso.com",)))
        source.add_item(address, ("Calendar",), Event(subject="Standup", start=NOW, end=NOW + dt.timedelta(hours=1), uid="u1"))
        source.add_item(address, ("Tasks",), Task(subject="File taxes"))
        source.add_item(address, ("Notes",), Note(subject="Wi-Fi", body="guest / guest"))
        destination.add_mailbox(f"{name}@example.org")
        pairs.append(gm.AccountPair(address, f"{name}@example.org"))
    return source, destination, pairs


def on_destination(server: MemoryServer, address: str) -> int:
    return sum(len(items) for items in server.mailbox(address).items.values())


def test_full_verify_and_delta_runs_with_the_state_in_postgresql(pg_url: str) -> None:
    source, destination, pairs = world(["alice", "bob", "carol"])
    migrator = gm.Migrator(MemorySource(source), MemoryDestination(destination), state=pg_url, workers=3)
    assert isinstance(migrator.state, PostgresStateStore)
    report = migrator.run(pairs)
    assert report.status == "completed"
    assert [a.status for a in report.accounts] == ["completed"] * 3
    assert all(a.counts["mail"]["migrated"] == 20 for a in report.accounts)
    assert all(on_destination(destination, p.destination) == PER_ACCOUNT for p in pairs)
    assert source.writes() == []

    verify = migrator.verify(pairs)
    assert verify.totals()["missing"] == 0 and verify.totals()["duplicate"] == 0

    source.add_item("alice@contoso.com", ("Inbox",), mail(999, days_ago=0))
    delta = migrator.run(pairs, mode="delta")
    assert delta.status == "completed" and delta.mode == "delta"
    assert {a.pair.source: a.total("migrated") for a in delta.accounts} == {
        "alice@contoso.com": 1, "bob@contoso.com": 0, "carol@contoso.com": 0
    }  # fmt: skip
    assert on_destination(destination, "alice@example.org") == PER_ACCOUNT + 1

    again = gm.Migrator(MemorySource(source), MemoryDestination(destination), state=pg_url).run(pairs)
    assert again.totals()["migrated"] == 0  # the id map in PostgreSQL says everything is there
    migrator.state.close()

    reader = open_state(pg_url)  # another process would see the same
    assert [(s.run.mode, s.run.status) for s in list_runs(reader)] == [
        ("full", "completed"), ("verify", "completed"), ("delta", "completed"), ("full", "completed")
    ]
    assert Report.from_state(reader, report.run_id).to_json() == report.to_json()
    reader.close()


def test_two_migrations_of_different_accounts_write_one_store_at_once(pg_url: str) -> None:
    source, destination, pairs = world(["dana", "erik", "fay", "gus"])
    reports: dict[int, Report] = {}
    errors: list[BaseException] = []

    def migrate(half: int) -> None:
        try:
            m = gm.Migrator(MemorySource(source), MemoryDestination(destination), state=pg_url, workers=2)
            reports[half] = m.run(pairs[half * 2 : half * 2 + 2])
            m.state.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(half,)) for half in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert reports[0].run_id != reports[1].run_id
    assert [r.status for r in reports.values()] == ["completed", "completed"]
    assert all(on_destination(destination, p.destination) == PER_ACCOUNT for p in pairs)
