"""Cancelling a run on workers: tasks not started return at once, a worker in the middle of an
account stops at its next batch, what was committed stays, and a new run finishes the job."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import groupmigrate as gm
from groupmigrate.celery.coordinator import cancel, submit, wait
from groupmigrate.core.state import open_state
from groupmigrate.frontdoors.config import load_config
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.redis import RedisServer

from .test_distributed import MAILBOXES, servers, start_worker, write_config  # noqa: F401  (fixture)


def test_a_cancelled_run_stops_and_a_new_run_finishes_it(
    servers: tuple[EWSTestServer, EWSTestServer], postgres_server: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    src, dst = servers
    src.knobs.latency = dst.knobs.latency = 0.05  # slow enough to cancel in the middle
    state = postgres_server.new_database()
    config = load_config(write_config(tmp_path, src, dst, state, redis_server))
    worker = start_worker(config.path, "w@cancel", tmp_path / "w.log")
    try:
        run_id = submit(config)
        store = open_state(state)
        deadline = time.monotonic() + 60
        while not any(a.status == "running" for a in store.accounts(run_id)) and time.monotonic() < deadline:
            time.sleep(0.05)
        cancel(config, run_id)
        began = time.monotonic()
        report = wait(config, run_id, poll=0.2, timeout=60)
        assert report.status == "cancelled"
        # the worker stops the account in hand at its next batch and takes no other
        while any(a.status == "running" for a in store.accounts(run_id)) and time.monotonic() - began < 30:
            time.sleep(0.1)
        accounts = store.accounts(run_id)
        assert not any(a.status == "running" for a in accounts), [(a.pair_key, a.status) for a in accounts]
        assert sum(1 for a in accounts if a.status == "completed") < MAILBOXES
        store.close()

        # a new run copies the rest, and nothing twice
        src.knobs.latency = dst.knobs.latency = 0.0
        second = wait(config, submit(config), poll=0.2, timeout=120)
        assert second.status == "completed", second.summary()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    verify = gm.Migrator(config.source.build_source(), config.destination.build_destination(), state=state).verify(config.read_accounts())
    totals = verify.totals()
    assert (totals.get("missing", 0), totals.get("extra", 0), totals.get("duplicate", 0)) == (0, 0, 0), verify.summary()
