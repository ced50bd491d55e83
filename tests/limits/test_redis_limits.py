"""Shared limits in a real Redis: exact capacity across processes, leases, shared pauses, cancel, outages."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time

import pytest

from groupmigrate.core.limits import SharedLimit, SharedLimitUnavailable, SlotCancelled
from groupmigrate.errors import ConfigError
from groupmigrate.testing.redis import RedisServer

from .conftest import worker_command

KEY = "source:Server(url='https://mail.example/EWS/Exchange.asmx')"


def _start(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        worker_command(*args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_capacity_holds_exactly_across_six_processes_of_eight_threads(redis_server: RedisServer, prefix: str) -> None:
    capacity, rounds = 5, 12
    args = {"url": redis_server.url, "prefix": prefix, "key": KEY, "capacity": capacity, "threads": 8, "rounds": rounds}
    workers = [_start("hammer", json.dumps(args)) for _ in range(6)]
    try:
        time.sleep(0.3)  # most have started; the others join in while the first ones run
        redis_server.command("SET", prefix + "go", "1")
        for proc in workers:
            assert _finish(proc).strip() == "done"
    finally:
        for proc in workers:
            proc.kill()
    assert int(redis_server.command("GET", prefix + "rounds")) == 6 * 8 * rounds
    peak = int(redis_server.command("GET", prefix + "peak"))
    assert peak == capacity  # never more, and the capacity was used
    assert int(redis_server.command("GET", prefix + "now")) == 0
    assert redis_server.command("ZCARD", prefix + "{" + KEY + "}:slots") == 0  # every slot given back


def test_a_killed_workers_slots_come_back_after_the_lease_and_not_before(redis_server: RedisServer, prefix: str, make_limits) -> None:  # type: ignore[no-untyped-def]
    lease = 1.5
    limits = make_limits({"source": 2}, lease=lease)
    worker = _start("hold", json.dumps({"url": redis_server.url, "prefix": prefix, "key": KEY, "capacity": 2, "lease": lease, "slots": 2}))
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "holding"
        time.sleep(lease * 1.4)  # longer than a lease: the living worker renews its slots
        assert limits.usage(KEY).held == 2
        with pytest.raises(SharedLimitUnavailable, match="no slot free"):
            with limits.slot(KEY, timeout=0):
                pass
        os.kill(worker.pid, signal.SIGKILL)
        killed = time.monotonic()
        worker.wait()
        time.sleep(0.4)
        with pytest.raises(SharedLimitUnavailable, match="no slot free"):  # not before the lease ends
            with limits.slot(KEY, timeout=0.1):
                pass
        with limits.slot(KEY, timeout=lease + 1):
            back = time.monotonic() - killed
            with limits.slot(KEY, timeout=0.5):  # both came back
                pass
    finally:
        worker.kill()
        worker.wait()
    # renewed every third of the lease: expired between two thirds of it and all of it after the kill
    assert lease * 2 / 3 - 0.15 <= back <= lease + 0.4, back


def test_a_throttled_server_pauses_every_worker(redis_server: RedisServer, prefix: str, make_limits) -> None:  # type: ignore[no-untyped-def]
    limits = make_limits({"source": 4})
    assert limits.usage(KEY).limit == 4
    out = _finish(_start("throttle", json.dumps({"url": redis_server.url, "prefix": prefix, "key": KEY, "capacity": 4, "seconds": 1.0})))
    published = json.loads(out)
    usage = limits.usage(KEY)
    assert usage.limit == 2 and 0.5 < usage.paused <= 1.0  # halved for everyone, and paused
    started: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        with limits.slot(KEY):
            with lock:
                started.append(time.time())

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert len(started) == 3
    waits = sorted(s - published for s in started)
    assert 0.95 <= waits[0] and waits[-1] <= 1.6, waits


def test_throttling_halves_once_per_episode_and_successes_grow_it_back(make_limits) -> None:  # type: ignore[no-untyped-def]
    limits, other = make_limits({"source": 8}), make_limits({"source": 8})
    limits.throttled(KEY, 0.3)
    other.throttled(KEY, 0.2)  # the same episode: no second halving, the longer pause stays
    usage = limits.usage(KEY)
    assert usage.limit == 4 and usage.paused > 0.2
    time.sleep(0.35)
    other.throttled(KEY, 0.05)  # a new episode
    assert limits.usage(KEY).limit == 2
    time.sleep(0.1)
    with limits.slot(KEY):  # learns that the limit is reduced
        pass
    for _ in range(20):
        limits.succeeded(KEY)
    assert limits.usage(KEY).limit == 3
    for _ in range(100):
        limits.succeeded(KEY)
    assert limits.usage(KEY).limit == 8
    limits.succeeded(KEY)  # back at capacity: nothing more is counted
    assert limits.usage(KEY).limit == 8


def test_a_reduced_limit_holds_new_callers_until_enough_slots_are_given_back(make_limits) -> None:  # type: ignore[no-untyped-def]
    limits = make_limits({"source": 4})
    with limits.slot(KEY), limits.slot(KEY), limits.slot(KEY):
        limits.throttled(KEY, 0.0)  # limit 2, no pause: three held already
        with pytest.raises(SharedLimitUnavailable, match="no slot free"):
            with limits.slot(KEY, timeout=0.2):
                pass
    with limits.slot(KEY), limits.slot(KEY, timeout=0.2):
        pass


def test_cancel_wakes_a_waiter_for_a_slot_and_one_in_a_pause(make_limits) -> None:  # type: ignore[no-untyped-def]
    limits = make_limits({"source": 1})
    outcome: list[tuple[str, float]] = []

    def wait(cancel: threading.Event) -> None:
        started = time.monotonic()
        try:
            with limits.slot(KEY, cancel):
                outcome.append(("held", time.monotonic() - started))
        except SlotCancelled:
            outcome.append(("cancelled", time.monotonic() - started))

    with limits.slot(KEY):
        cancel = threading.Event()
        waiter = threading.Thread(target=wait, args=(cancel,))
        waiter.start()
        time.sleep(0.3)
        cancel.set()
        waiter.join(timeout=2)
    assert outcome and outcome[0][0] == "cancelled" and outcome[0][1] < 0.3 + limits.poll + 0.2, outcome

    limits.throttled(KEY, 30)
    cancel = threading.Event()
    waiter = threading.Thread(target=wait, args=(cancel,))
    waiter.start()
    time.sleep(0.2)
    cancel.set()
    waiter.join(timeout=2)
    assert outcome[1][0] == "cancelled" and outcome[1][1] < 0.5, outcome
    already = threading.Event()
    already.set()
    with pytest.raises(SlotCancelled):
        with limits.slot("source:elsewhere", already):
            pass


def test_redis_down_is_a_clear_error_at_once(redis_factory, make_limits) -> None:  # type: ignore[no-untyped-def]
    server = redis_factory(password="pw-not-in-messages")
    url = server.url
    server.stop()
    limits = make_limits({"source": 2}, url=url)
    started = time.monotonic()
    with pytest.raises(SharedLimitUnavailable) as info:
        with limits.slot(KEY):
            pass
    assert time.monotonic() - started < 2
    message = str(info.value)
    assert f"redis://127.0.0.1:{server.port}/0" in message and "pw-not-in-messages" not in message
    assert "pw-not-in-messages" not in repr(limits)
    limits.throttled(KEY, 1.0)  # never raises: a warning
    limits.succeeded(KEY)


def test_a_frozen_redis_fails_the_wait_within_the_timeouts(redis_factory, make_limits) -> None:  # type: ignore[no-untyped-def]
    server = redis_factory()
    limits = make_limits({"source": 1}, url=server.url, timeout=0.5, connect_timeout=0.5, poll=0.2)
    with limits.slot(KEY):
        pass
    with server.frozen():
        started = time.monotonic()
        with pytest.raises(SharedLimitUnavailable, match="Timeout"):
            with limits.slot(KEY):
                pass
        assert time.monotonic() - started < 2.5  # a timeout, one retry, another timeout
    # Redis answers again, and ran the attempt whose answer was lost: that slot is given back
    # at the next attempt, not held until its lease (30 s) ends
    started = time.monotonic()
    with limits.slot(KEY, timeout=5):
        pass
    assert time.monotonic() - started < 1


def test_a_slot_given_back_during_an_outage_expires_and_never_raises(redis_factory, make_limits, caplog) -> None:  # type: ignore[no-untyped-def]
    server = redis_factory()
    limits = make_limits({"source": 1}, url=server.url, lease=1.0)
    caplog.set_level(logging.WARNING, "groupmigrate")
    with limits.slot(KEY):
        server.stop()
    assert "could not be given back" in caplog.text


def test_waiters_survive_dropped_connections(redis_server: RedisServer, make_limits) -> None:  # type: ignore[no-untyped-def]
    limits = make_limits({"source": 1}, poll=1.0)
    got: list[float] = []

    def wait() -> None:
        with limits.slot(KEY):
            got.append(time.monotonic())

    with limits.slot(KEY):
        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.2)  # blocked in BLPOP
        assert redis_server.kill_clients() >= 1
        time.sleep(0.2)
        released = time.monotonic()
    waiter.join(timeout=3)
    assert got and got[0] - released < 1.2


def test_per_mailbox_scopes_count_each_mailbox(make_limits) -> None:  # type: ignore[no-untyped-def]
    limits = make_limits({"destination": 1}, per_mailbox={"destination"})
    assert isinstance(limits, SharedLimit)
    assert limits.key("source", "srv", "a@x") is None  # not limited on that side
    alice, bob = limits.key("destination", "srv", "Alice@X"), limits.key("destination", "srv", "bob@x")
    assert (alice, bob) == ("destination:srv:alice@x", "destination:srv:bob@x")
    assert limits.key("destination", "srv", None) == "destination:srv"
    with limits.slot(alice), limits.slot(bob, timeout=0.2):
        with pytest.raises(SharedLimitUnavailable):
            with limits.slot(alice, timeout=0.1):
                pass


def test_a_forked_process_takes_slots_of_its_own(make_limits) -> None:  # type: ignore[no-untyped-def]
    limits = make_limits({"source": 2}, lease=1.0)
    with limits.slot(KEY):
        pid = os.fork()
        if pid == 0:  # the child: its parent's slot is not its own; it takes the other one
            try:
                with limits.slot(KEY, timeout=1):
                    code = 0 if limits.usage(KEY).held == 2 else 1
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert limits.usage(KEY).held == 1


@pytest.mark.parametrize(
    ("url", "capacities", "options", "key"),
    [
        ("http://:secret@redis.internal:6379/0", {"source": 2}, {}, "url"),
        ("redis://:secret@redis.internal:6379/0", {"sources": 2}, {}, "capacities"),
        ("redis://:secret@redis.internal:6379/0", {"source": 0}, {}, "capacities"),
        ("redis://:secret@redis.internal:6379/0", {"source": 2}, {"per_mailbox": {"target"}}, "capacities"),
        ("redis://:secret@redis.internal:6379/0", {"source": 2}, {"lease": 0}, "lease"),
        ("redis://:secret@redis.internal:6379/0", {"source": 2}, {"poll": 5, "timeout": 5}, "poll"),
    ],
)
def test_the_configuration_is_checked_and_the_password_never_shown(url, capacities, options, key) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("redis")
    from groupmigrate.celery.redis_limits import RedisLimits, redacted

    with pytest.raises(ConfigError) as info:
        RedisLimits(url, capacities, **options)
    assert info.value.key == key and "secret" not in str(info.value)
    assert redacted("rediss://user:secret@[::1]:6380/2") == "rediss://[::1]:6380/2"
    assert redacted("redis://:secret@cache") == "redis://cache:6379/0"
    assert redacted("unix:///run/redis.sock") == "unix:///run/redis.sock"
