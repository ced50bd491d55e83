"""Events and the progress sink, on real migrations between in-memory mailboxes."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest

import groupmigrate as gm
from groupmigrate import events as ev
from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.items import Message


def world(accounts: int = 3, mails: int = 12) -> tuple[MemoryServer, MemoryServer, list[gm.AccountPair]]:
    src, dst = MemoryServer(), MemoryServer()
    pairs = []
    for n in range(accounts):
        src.add_mailbox(f"user{n}@contoso.com")
        dst.add_mailbox(f"user{n}@example.org")
        for m in range(mails):
            raw = f"From: a@b.org\r\nSubject: mail {m}\r\nMessage-ID: <{n}.{m}@b.org>\r\n\r\nbody {m}\r\n".encode()
            src.add_item(f"user{n}@contoso.com", ("Inbox",), Message.from_mime(raw))
        pairs.append(gm.AccountPair(f"user{n}@contoso.com", f"user{n}@example.org"))
    return src, dst, pairs


def run(tmp_path, on_event, workers: int = 2, accounts: int = 3) -> gm.Report:
    src, dst, pairs = world(accounts)
    return gm.Migrator(MemorySource(src), MemoryDestination(dst), state=str(tmp_path / "s.db"), workers=workers,
                       on_event=on_event).run(pairs)  # fmt: skip


def test_account_events_carry_the_account_pair_itself(tmp_path):
    seen: list[ev.Event] = []
    run(tmp_path, seen.append)
    per_account = [e for e in seen if isinstance(e, (ev.AccountStarted, ev.Progress, ev.ItemMigrated, ev.AccountFinished))]
    assert per_account and all(isinstance(e.pair, gm.AccountPair) for e in per_account)
    started = [e.pair for e in seen if isinstance(e, ev.AccountStarted)]
    assert {p.source for p in started} == {"user0@contoso.com", "user1@contoso.com", "user2@contoso.com"}
    assert all(e.account == e.pair.key for e in per_account)


def test_a_callback_that_raises_is_logged_once_and_the_run_completes(tmp_path, caplog):
    def broken(event: ev.Event) -> None:
        raise RuntimeError("sink is broken")

    with caplog.at_level(logging.WARNING, logger="groupmigrate"):
        report = run(tmp_path, broken)
    assert report.status == "completed"
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "later failures are counted" in tracebacks[0].getMessage()
    assert any("failed" in r.getMessage() and "times in this run" in r.getMessage() for r in caplog.records)


def test_progress_without_a_terminal_is_plain_lines(tmp_path):
    out = io.StringIO()
    sink = ev.TqdmSink(file=out, workers=2, interval=0.0)
    run(tmp_path, sink)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines and all(line.startswith("progress: ") for line in lines)
    assert "36/36 items" in lines[-1] and "run completed" in lines[-1] and "3/3 accounts done" in lines[-1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Watched(ev.TqdmSink):
    most = 0

    def __call__(self, event: ev.Event) -> None:
        super().__call__(event)
        self.most = max(self.most, len(self._bars))


def test_progress_in_a_terminal_shows_one_overall_bar_and_at_most_workers_account_bars(tmp_path):
    out = _Terminal()
    sink = _Watched(file=out, workers=2)
    run(tmp_path, sink, workers=2, accounts=4)
    assert not sink.plain
    assert 1 <= sink.most <= 2  # never more account bars than workers
    assert sink._bars == {} and sink._overall is None  # nothing left open after the run
    assert "all accounts" in out.getvalue() and "48/48" in out.getvalue()


def test_pairs_may_be_a_generator_and_bad_input_is_refused_before_anything_is_written(tmp_path):
    src, dst, pairs = world(accounts=2)
    m = gm.Migrator(MemorySource(src), MemoryDestination(dst), state=str(tmp_path / "s.db"))
    report = m.run(p for p in pairs)  # a generator is read once, as a list
    assert report.totals()["migrated"] == 24
    with pytest.raises(TypeError, match=r"pairs\[1\]: not an AccountPair but str"):
        m.run([pairs[0], "user1@contoso.com"])
    with pytest.raises(TypeError, match="give a list of AccountPair"):
        m.run(pairs[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="state: give the path of a state file or a StateStore, not None"):
        gm.Migrator(MemorySource(src), MemoryDestination(dst), state=None)
    assert len(m.state.runs()) == 1  # nothing was started by the refused calls


class _Hanging(MemoryDestination):
    """A destination whose create call never answers (until released)."""

    def __init__(self, server, release):
        super().__init__(server)
        self.release = release

    def open_mailbox(self, address, auth=None):
        mailbox = super().open_mailbox(address, auth)
        create = mailbox.create_items

        def create_items(folder, items, stamps=None):
            self.release.wait(30)
            return create(folder, items, stamps)

        mailbox.create_items = create_items
        return mailbox


def test_cancel_reports_within_seconds_while_a_server_call_hangs(tmp_path):
    src, dst, pairs = world(accounts=1)
    release = threading.Event()
    m = gm.Migrator(MemorySource(src), _Hanging(dst, release), state=str(tmp_path / "s.db"), workers=1)
    threading.Timer(0.5, m.cancel).start()
    began = time.monotonic()
    try:
        report = m.run(pairs)
    finally:
        release.set()
    assert time.monotonic() - began < 4
    assert report.status == "cancelled" and report.accounts[0].status == "cancelled"
