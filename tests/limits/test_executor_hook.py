"""The executor's hook for shared limits, with a recording limit in memory (no Redis needed)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator

import pytest

import groupmigrate as gm
from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.core.executor import Cancelled, Executor
from groupmigrate.core.limits import SharedLimit, SharedLimitUnavailable, Side, SlotCancelled, scope_key, server_identity
from groupmigrate.errors import ConfigError, Throttled
from groupmigrate.items import Folder, Message

PAIR = "alice@contoso.com -> alice@example.org"


class RecordingLimit:
    """A SharedLimit that records what the executor does, and fails on demand."""

    def __init__(self, per_mailbox: bool = True) -> None:
        self.per_mailbox = per_mailbox
        self.events: list[tuple[str, str]] = []
        self.holding: dict[str, int] = {}
        self.fail_enter: list[BaseException] = []
        self.fail_exit = False
        self.lock = threading.Lock()

    def key(self, side: Side, server: str, mailbox: str | None) -> str | None:
        return scope_key(side, server, mailbox if self.per_mailbox else None)

    @contextlib.contextmanager
    def slot(self, key: str, cancel: threading.Event | None = None) -> Iterator[None]:
        with self.lock:
            self.events.append(("enter", key))
            if self.fail_enter:
                raise self.fail_enter.pop(0)
            self.holding[key] = self.holding.get(key, 0) + 1
        try:
            yield
        finally:
            with self.lock:
                self.holding[key] -= 1
                self.events.append(("exit", key))
            if self.fail_exit:
                raise SharedLimitUnavailable("Redis went away")

    def throttled(self, key: str, retry_after: float | None) -> None:
        self.events.append((f"throttled {retry_after}", key))

    def succeeded(self, key: str) -> None:
        self.events.append(("succeeded", key))


def executor(limit: RecordingLimit | None, cancel: threading.Event | None = None) -> Executor:
    return Executor(
        source_connections=2, destination_connections=2, batch_bytes=1 << 20, max_throttle_wait=5,
        cancel=cancel or threading.Event(), shared=limit, servers=("SRC", "DST"),
    )  # fmt: skip


def test_the_recording_limit_is_a_shared_limit() -> None:
    assert isinstance(RecordingLimit(), SharedLimit)


def test_a_read_holds_its_sides_slot_inside_the_local_limit() -> None:
    limit = RecordingLimit()
    ex = executor(limit)
    seen = []

    def call() -> str:
        seen.append((dict(limit.holding), ex.source._active))
        return "answer"

    assert ex.read(ex.source, PAIR, call) == "answer"
    assert seen == [({"source:SRC:alice@contoso.com": 1}, 1)]
    assert limit.events == [("enter", "source:SRC:alice@contoso.com"), ("exit", "source:SRC:alice@contoso.com"),
                            ("succeeded", "source:SRC:alice@contoso.com")]  # fmt: skip
    limit.events.clear()
    ex.read(ex.destination, "a call for no account", lambda: None)
    assert limit.events[0] == ("enter", "destination:DST")


def test_throttling_is_published_with_the_pause_the_executor_takes() -> None:
    limit = RecordingLimit(per_mailbox=False)
    ex = executor(limit)
    answers = [Throttled("busy", retry_after=0.05), "ok"]

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert ex.read(ex.source, PAIR, call) == "ok"
    assert ("throttled 0.05", "source:SRC") in limit.events
    assert ex.source.limit == 1 and ex.stats["throttled"] == 1  # the local limit halves too


def test_creates_hold_the_destinations_slot_and_report_throttling() -> None:
    server = MemoryServer()
    server.add_mailbox("alice@example.org")
    mailbox = MemoryDestination(server).open_mailbox("alice@example.org")
    folder = mailbox.ensure_folder(Folder(("Inbox",), role="inbox"))
    server.inject("create_items", Throttled("busy", retry_after=0.01))
    limit = RecordingLimit()
    ex = executor(limit)
    message = Message(subject="hello", received=dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc))
    written = ex.create(PAIR, mailbox, folder, [message], ["stamp-1"], use_stamps=True)
    assert [w.status for w in written] == ["created"]
    key = "destination:DST:alice@example.org"
    assert limit.events == [("enter", key), ("exit", key), ("throttled 0.01", key), ("enter", key), ("exit", key), ("succeeded", key)]


def test_an_unusable_shared_limit_is_a_transient_failure_and_retried() -> None:
    limit = RecordingLimit()
    limit.fail_enter = [SharedLimitUnavailable("Redis at redis://127.0.0.1:1/0 cannot be used")] * 2
    ex = executor(limit)
    calls = []
    assert ex.read(ex.source, PAIR, lambda: calls.append(1) or "ok") == "ok"
    assert calls == [1] and ex.stats["retries"] == 2  # the call was made once, when a slot was held

    limit.fail_enter = [SharedLimitUnavailable("Redis at redis://127.0.0.1:1/0 cannot be used")] * 10
    with pytest.raises(SharedLimitUnavailable, match="redis://127.0.0.1:1/0"):
        ex.read(ex.source, PAIR, lambda: "never")


def test_waiting_for_a_slot_ends_with_the_runs_cancel() -> None:
    limit = RecordingLimit()
    limit.fail_enter = [SlotCancelled("cancelled while waiting")]
    ex = executor(limit)
    with pytest.raises(Cancelled):
        ex.read(ex.source, PAIR, lambda: "never")


def test_a_slot_that_cannot_be_given_back_does_not_change_the_calls_outcome(caplog) -> None:  # type: ignore[no-untyped-def]
    limit = RecordingLimit()
    limit.fail_exit = True
    ex = executor(limit)
    caplog.set_level(logging.WARNING, "groupmigrate")
    assert ex.read(ex.source, PAIR, lambda: "done") == "done"
    assert "could not be given back" in caplog.text


def test_without_shared_limits_nothing_changes_and_servers_are_required_with_them() -> None:
    ex = Executor(source_connections=1, destination_connections=1, batch_bytes=10, max_throttle_wait=1, cancel=threading.Event())
    assert ex.shared is None and ex.read(ex.source, PAIR, lambda: 7) == 7
    with pytest.raises(ValueError, match="servers"):
        Executor(source_connections=1, destination_connections=1, batch_bytes=10, max_throttle_wait=1,
                 cancel=threading.Event(), shared=RecordingLimit())  # fmt: skip


def test_every_call_of_a_migration_holds_a_slot_of_its_account(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src, dst = MemoryServer(), MemoryServer()
    pairs = []
    for name in ("alice", "bob"):
        src.add_mailbox(f"{name}@contoso.com")
        for n in range(5):
            src.add_item(f"{name}@contoso.com", ("Inbox",), Message(subject=f"{name} {n}", message_id=f"<{name}{n}@x>"))
        dst.add_mailbox(f"{name}@example.org")
        pairs.append(gm.AccountPair(f"{name}@contoso.com", f"{name}@example.org"))
    limit = RecordingLimit()
    outside: list[tuple[str, str]] = []
    for side, server, endpoint in (("source", src, "MemorySource('memory')"), ("destination", dst, "MemoryDestination('memory')")):
        def log(address: str, operation: str, is_write: bool, side=side, server=server, endpoint=endpoint, log=server._log) -> None:  # type: ignore[no-untyped-def]
            if limit.holding.get(f"{side}:{endpoint}:{address.lower()}", 0) < 1:
                outside.append((address, operation))
            log(address, operation, is_write)

        server._log = log  # type: ignore[method-assign]
    migrator = gm.Migrator(MemorySource(src), MemoryDestination(dst), state=str(tmp_path / "s.db"), shared_limits=limit)
    report = migrator.run(pairs)
    assert [a.status for a in report.accounts] == ["completed", "completed"]
    keys = {key for event, key in limit.events if event == "enter"}
    assert keys == {
        "source:MemorySource('memory'):alice@contoso.com", "source:MemorySource('memory'):bob@contoso.com",
        "destination:MemoryDestination('memory'):alice@example.org",
        "destination:MemoryDestination('memory'):bob@example.org",
    }  # fmt: skip
    assert src.operations and dst.operations and outside == []  # every server call held its account's slot
    assert all(n == 0 for n in limit.holding.values())


def test_the_servers_identity_comes_from_the_endpoint() -> None:
    assert server_identity(MemorySource(MemoryServer())) == "MemorySource('memory')"

    class Named:
        limit_scope = "exchange-online/contoso"

    assert server_identity(Named()) == "exchange-online/contoso"
    with pytest.raises(ConfigError, match="limit_scope"):
        server_identity(object())
    with pytest.raises(ConfigError, match="shared_limits"):
        gm.Migrator(object(), MemoryDestination(MemoryServer()), state=":memory:", shared_limits=RecordingLimit())  # type: ignore[arg-type]
