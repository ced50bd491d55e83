"""The migrator's flow on the in-memory backend: modes, resume, cancel, events, reports.

The EWS route is proven end to end in tests/e2e; here the same migrator runs against
in-memory mailboxes so that every path of the flow is fast to exercise.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading

import attrs
import pytest

import groupmigrate as gm
from groupmigrate import events as ev
from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.items import Contact, Event, Message, Note, Task
from groupmigrate.core.report import Report
from groupmigrate.core.state import SqliteStateStore

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)


def mime(n: int, days_ago: int = 30) -> bytes:
    date = (NOW - dt.timedelta(days=days_ago)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return (
        f"Message-ID: <m{n}@contoso.com>\r\nFrom: a@contoso.com\r\nTo: b@contoso.com\r\n"
        f"Subject: mail {n}\r\nDate: {date}\r\n\r\nbody {n}\r\n"
    ).encode()


def seed(server: MemoryServer, address: str, mails: int = 30, recent: int = 5) -> int:
    server.add_mailbox(address)
    for n in range(mails):
        days = 2 if n < recent else 30
        server.add_item(address, ("Inbox", "Projects") if n % 3 else ("Inbox",), Message.from_mime(mime(n, days)),
                        changed=NOW - dt.timedelta(days=days))  # fmt: skip
    server.add_item(address, ("Contacts",), Contact(display_name="Bob", emails=("bob@contoso.com",)))
    server.add_item(address, ("Calendar",), Event(subject="Standup", start=NOW, end=NOW + dt.timedelta(hours=1), uid="u1"))
    server.add_item(address, ("Tasks",), Task(subject="File taxes", status="in_progress", percent_complete=50))
    server.add_item(address, ("Notes",), Note(subject="Wi-Fi", body="guest / guest", color="yellow"))
    return mails + 4


@pytest.fixture
def world(tmp_path):
    src_server, dst_server = MemoryServer(), MemoryServer()
    pairs = []
    for name in ("alice", "bob", "carol"):
        seed(src_server, f"{name}@contoso.com")
        dst_server.add_mailbox(f"{name}@example.org")
        pairs.append(gm.AccountPair(f"{name}@contoso.com", f"{name}@example.org"))
    return src_server, dst_server, pairs, tmp_path / "state.db"


def migrator(world, **kwargs):
    src_server, dst_server, _, state = world
    return gm.Migrator(MemorySource(src_server), MemoryDestination(dst_server), state=str(state), **kwargs)


def dest_count(dst_server: MemoryServer, address: str) -> int:
    mbx = dst_server.mailbox(address)
    return sum(len(items) for items in mbx.items.values())


def test_full_run_copies_everything_and_never_writes_the_source(world):
    src_server, dst_server, pairs, _ = world
    report = migrator(world, workers=3).run(pairs)
    assert report.status == "completed"
    for acc in report.accounts:
        assert acc.status == "completed"
        assert acc.counts["mail"]["migrated"] == 30
        assert {t: c["migrated"] for t, c in acc.counts.items()} == {"mail": 30, "contacts": 1, "calendar": 1, "tasks": 1, "notes": 1}
        assert dest_count(dst_server, acc.pair.destination) == 34
    assert [i.subject for i in dst_server.items("alice@example.org", ("Notes",))] == ["Wi-Fi"]
    assert dst_server.items("alice@example.org", ("Inbox", "Projects"))
    assert src_server.writes() == []


def test_rerun_copies_nothing_and_reports_duplicates(world):
    _, dst_server, pairs, _ = world
    migrator(world).run(pairs)
    again = migrator(world).run(pairs)
    for acc in again.accounts:
        assert acc.total("migrated") == 0
        assert acc.total("duplicate") == 34
        assert dest_count(dst_server, acc.pair.destination) == 34


def test_a_new_state_file_still_does_not_duplicate(world, tmp_path):
    src_server, dst_server, pairs, _ = world
    migrator(world).run(pairs)
    fresh = gm.Migrator(MemorySource(src_server), MemoryDestination(dst_server), state=str(tmp_path / "other.db"))
    report = fresh.run(pairs)
    assert report.totals()["migrated"] == 0 and report.totals()["duplicate"] == 3 * 34
    assert all("already on the destination" in e.message for e in report.accounts[0].log if e.kind == "duplicate")


def test_trial_copies_only_the_last_ten_days(world):
    _, dst_server, pairs, _ = world
    report = migrator(world, item_types=["mail"]).run(pairs[:1], mode="trial")
    assert report.accounts[0].counts["mail"]["migrated"] == 5
    assert dest_count(dst_server, "alice@example.org") == 5


def test_delta_needs_a_finished_run_then_copies_only_new_mail(world):
    src_server, dst_server, pairs, _ = world
    with pytest.raises(gm.StateError, match="delta run needs a previous migration"):
        migrator(world).run(pairs[:1], mode="delta")
    migrator(world).run(pairs[:1])
    src_server.add_item("alice@contoso.com", ("Inbox",), Message.from_mime(mime(999, 0)))
    report = migrator(world).run(pairs[:1], mode="delta")
    assert report.accounts[0].total("migrated") == 1
    assert dest_count(dst_server, "alice@example.org") == 35


class FlakyDestination(MemoryDestination):
    """Fails the whole run after a number of successful batches (a crash between batches)."""

    def __init__(self, server, fail_after: int) -> None:
        super().__init__(server)
        self.left = fail_after

    def open_mailbox(self, address, auth=None):
        mailbox = super().open_mailbox(address, auth)
        create = mailbox.create_items

        def create_items(folder, items, stamps=None):
            if self.left <= 0:
                raise RuntimeError("simulated crash")
            self.left -= 1
            return create(folder, items, stamps)

        mailbox.create_items = create_items  # type: ignore[method-assign]
        return mailbox


def test_interrupted_run_resumes_without_duplicates_or_losses(world):
    src_server, dst_server, pairs, state = world
    caps = gm.Capabilities(name="small-batches", max_batch_items=4)
    flaky = gm.Migrator(MemorySource(src_server, caps), FlakyDestination(dst_server, fail_after=3), state=str(state), workers=1)
    first = flaky.run(pairs[:1])
    assert first.accounts[0].status == "failed"
    assert 0 < dest_count(dst_server, "alice@example.org") < 34
    second = gm.Migrator(MemorySource(src_server, caps), MemoryDestination(dst_server), state=str(state)).run(pairs[:1])
    assert second.accounts[0].status == "completed"
    assert dest_count(dst_server, "alice@example.org") == 34
    verify = migrator(world).verify(pairs[:1])
    assert verify.totals()["missing"] == 0 and verify.totals()["duplicate"] == 0


def test_cancel_stops_at_a_batch_boundary_and_resume_finishes(world):
    src_server, dst_server, pairs, state = world
    caps = gm.Capabilities(name="small-batches", max_batch_items=2)
    seen: list[ev.Event] = []
    m = gm.Migrator(MemorySource(src_server, caps), MemoryDestination(dst_server), state=str(state), workers=1,
                    on_event=seen.append)  # fmt: skip

    def cancel_on_third_item(event):
        seen.append(event)
        if sum(isinstance(e, ev.ItemMigrated) for e in seen) == 3:
            m.cancel()

    m._on_event = cancel_on_third_item
    report = m.run(pairs[:1])
    assert report.status == "cancelled" and report.accounts[0].status == "cancelled"
    copied = dest_count(dst_server, "alice@example.org")
    assert copied == report.accounts[0].total("migrated") < 34
    resumed = gm.Migrator(MemorySource(src_server, caps), MemoryDestination(dst_server), state=str(state)).run(pairs[:1])
    assert resumed.accounts[0].total("migrated") == 34 - copied
    assert dest_count(dst_server, "alice@example.org") == 34


def test_events_order_and_progress_add_up(world):
    _, _, pairs, _ = world
    seen: list[ev.Event] = []
    report = migrator(world, workers=4, on_event=seen.append).run(pairs)
    assert isinstance(seen[0], ev.RunStarted) and isinstance(seen[-1], ev.RunFinished)
    for pair in pairs:
        mine = [e for e in seen if getattr(e, "account", None) == pair.key]
        assert isinstance(mine[0], ev.AccountStarted) and isinstance(mine[-1], ev.AccountFinished)
        first_folder = next(i for i, e in enumerate(mine) if isinstance(e, ev.FolderStarted))
        first_item = next(i for i, e in enumerate(mine) if isinstance(e, ev.ItemMigrated))
        assert first_folder < first_item
        last = [e for e in mine if isinstance(e, ev.Progress)][-1]
        acc = next(a for a in report.accounts if a.pair.key == pair.key)
        assert last.items_done == last.items_total == sum(acc.total(o) for o in ("migrated", "duplicate", "skipped", "failed"))
        assert sum(isinstance(e, ev.ItemMigrated) for e in mine) == acc.total("migrated")


def test_report_from_a_new_process_equals_the_returned_one(world):
    _, _, pairs, state = world
    report = migrator(world).run(pairs)
    code = (
        "import sys; from groupmigrate.core.report import Report; from groupmigrate.core.state import SqliteStateStore\n"
        f"print(Report.from_state(SqliteStateStore({str(state)!r})).to_json())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == json.loads(report.to_json())
    html = report.to_html()
    assert "alice@contoso.com" in html and "filterLog" in html and html.startswith("<!DOCTYPE html>")


def test_skips_are_logged_and_verify_counts_them_as_skipped(world):
    src_server, dst_server, pairs, _ = world
    big = Message.from_mime(
        b"Message-ID: <big@x>\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\n\r\n"
        + b"x" * 5000 + b"\r\n--B--\r\n"
    )
    src_server.add_item("alice@contoso.com", ("Inbox",), big)
    caps = gm.Capabilities(name="tiny", max_attachment_size=1000)
    m = gm.Migrator(MemorySource(src_server), MemoryDestination(dst_server, caps), state=str(world[3]))
    report = m.run(pairs[:1])
    acc = report.accounts[0]
    assert acc.counts["mail"]["skipped"] == 1 and acc.counts["mail"]["migrated"] == 30
    [entry] = [e for e in acc.log if e.kind == "skipped"]
    assert "big" in (entry.item or "") and "attachment" in entry.message
    verify = m.verify(pairs[:1])
    assert verify.totals()["missing"] == 0 and verify.totals()["skipped"] == 1


def test_verify_finds_items_missing_on_the_destination(world):
    src_server, dst_server, pairs, _ = world
    m = migrator(world)
    m.run(pairs[:1])
    inbox = next(f for f in dst_server.mailbox("alice@example.org").folders.values() if f.role == "inbox")
    victim = next(iter(dst_server.mailbox("alice@example.org").items[inbox.folder_id]))
    del dst_server.mailbox("alice@example.org").items[inbox.folder_id][victim]
    verify = m.verify(pairs[:1])
    assert verify.totals()["missing"] == 1
    assert verify.accounts[0].status == "completed_with_errors"


def test_failed_account_does_not_stop_the_others(world):
    src_server, dst_server, pairs, _ = world
    pairs = [*pairs[:2], gm.AccountPair("nobody@contoso.com", "nobody@example.org")]
    report = migrator(world).run(pairs)
    statuses = {a.pair.source: a.status for a in report.accounts}
    assert statuses == {"alice@contoso.com": "completed", "bob@contoso.com": "completed", "nobody@contoso.com": "failed"}
    failed = next(a for a in report.accounts if a.status == "failed")
    assert "nobody@contoso.com" in (failed.error or "")


def test_bad_arguments_are_clear():
    server = MemoryServer()
    with pytest.raises(ValueError, match="item_types"):
        gm.Migrator(MemorySource(server), MemoryDestination(server), state=":memory:", item_types=["faxes"])
    with pytest.raises(ValueError, match="since"):
        gm.Migrator(MemorySource(server), MemoryDestination(server), state=":memory:", since=dt.datetime(2026, 1, 1))
    m = gm.Migrator(MemorySource(server), MemoryDestination(server), state=":memory:")
    with pytest.raises(ValueError, match="mode"):
        m.run([], mode="everything")
