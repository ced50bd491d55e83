"""A migration killed with SIGKILL at five points and restarted from the same state file.

The migration runs in its own process (``crash_worker.py``) against two EWS test servers this
test runs with their stores on disk; the destination server is even stopped and started
again from its store between two runs. After every kill the state file must open cleanly
and never claim an item the destination does not hold; at the end the destination must
equal the source folder by folder: every item once, none twice.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from groupmigrate.core.report import Report
from groupmigrate.core.state import SqliteStateStore
from groupmigrate.testing import EWSTestServer

from .support import TENANT, differences, inventory, open_route, seed_workload, total

WORKER = Path(__file__).with_name("crash_worker.py")
ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """One run of crash_worker.py, its output lines arriving on a queue."""

    def __init__(self, route: Any, pairs: list[Any], state: str, log: Path) -> None:
        args = [
            sys.executable, str(WORKER),
            "--source-url", route.source_server.url,
            "--token-url", route.source_server.token_url(TENANT),
            "--destination-url", route.destination_server.url,
            "--state", state, "--workers", "2",
        ]  # fmt: skip
        for pair in pairs:
            args += ["--pair", f"{pair.source}={pair.destination}"]
        self.log = log
        self._stderr = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr, cwd=ROOT, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.migrated = 0
        self.done: str | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _take(self, line: str | None) -> str | None:
        if line is not None and line.startswith("MIGRATED "):
            self.migrated = int(line.split()[1])
        if line is not None and line.startswith("DONE "):
            self.done = line
        return line

    def next_line(self, deadline: float) -> str | None:
        """The next line, None at the end of output; fails the test at ``deadline``."""
        try:
            return self._take(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            self.kill()
            pytest.fail(f"the migration process made no progress in time; stderr:\n{self.stderr()}")

    def run_until(self, kind: str, value: float, timeout: float = 120) -> bool:
        """Kill the process after ``value`` migrated items (``events``) or ``value`` seconds
        after the run started (``delay``); True when the kill landed before the run ended."""
        deadline = time.monotonic() + timeout
        kill_at: float | None = None
        while True:
            until = deadline if kill_at is None else min(deadline, kill_at)
            try:
                line = self._take(self.lines.get(timeout=max(0.0, until - time.monotonic())))
            except queue.Empty:
                if kill_at is not None and time.monotonic() >= kill_at:
                    break
                self.kill()
                pytest.fail(f"the migration process made no progress in time; stderr:\n{self.stderr()}")
            if line is None or self.done:
                return False
            if kind == "delay" and line.startswith("STARTED"):
                kill_at = time.monotonic() + value
            if kind == "events" and self.migrated >= value:
                break
        if self.proc.poll() is not None:
            return False
        self.kill()
        return self.proc.returncode == -signal.SIGKILL

    def finish(self, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while self.next_line(deadline) is not None:
            pass
        self.proc.wait(timeout=10)
        self._stderr.close()
        assert self.proc.returncode == 0 and self.done, f"exit {self.proc.returncode}; stderr:\n{self.stderr()}"
        return self.done

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._stderr.close()

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def check_state_after_kill(state: str, destination_server: EWSTestServer) -> dict[str, Any]:
    """The state file of a killed process opens cleanly and holds only what the destination has."""
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = SqliteStateStore(state)
    try:
        report = Report.from_state(store)
        assert report.status == "interrupted", report.status  # killed: shown as interrupted, not running
        assert report.to_json() and report.to_html()
        claimed = set()
        for account in report.accounts:
            for mapping in store.mappings(account.pair.key):
                if mapping.outcome == "migrated":
                    claimed.add(mapping.destination_id)
        held = set(destination_server.store.items)
        assert claimed <= held, f"{len(claimed - held)} item(s) recorded as migrated are not on the destination"
        return {"run": report.run_id, "items_recorded": len(claimed), "totals": report.totals()}
    finally:
        store.close()


def restart(server: EWSTestServer, store_dir: Path) -> EWSTestServer:
    """Stop ``server`` and start a new one over the same store, on the same port."""
    profile, port = server.profile.name, server.port
    server.stop()
    return EWSTestServer(profile=profile, store_dir=store_dir, port=port)


def test_killed_five_times_resumes_to_an_exact_copy(tmp_path, register_source, figures):
    with open_route(tmp_path, register=register_source, source_dir=tmp_path / "source-store",
                    destination_dir=tmp_path / "destination-store") as route:  # fmt: skip
        first = route.add_user("crash1")
        second = route.add_user("crash2")
        seed_workload(route.source_server, first.source, mails=400, contacts=20, events=10, tasks=5, notes=5, seed=1)
        seed_workload(route.source_server, second.source, mails=200, seed=2)
        route.register_source()
        try:
            run_and_kill(route, [first, second], tmp_path, figures)
        finally:
            route.destination_server.stop()


def run_and_kill(route: Any, pairs: list[Any], tmp_path: Path, figures: dict[str, Any]) -> None:
    rng = random.Random(20260302)
    plan = [("events", rng.randint(10, 90)) if i % 2 == 0 else ("delay", round(rng.uniform(0.2, 0.8), 2)) for i in range(5)]
    state = str(tmp_path / "migration.db")

    kills = []
    for i, (kind, value) in enumerate(plan):
        worker = Worker(route, pairs, state, tmp_path / f"run-{i}.log")
        landed = worker.run_until(kind, value)
        assert landed, f"run {i} ended before the kill ({kind} {value}): {worker.done}\n{worker.stderr()}"
        kills.append({"after": f"{value} {'items' if kind == 'events' else 's'}", "items_in_run": worker.migrated,
                      **check_state_after_kill(state, route.destination_server)})  # fmt: skip
        if i == 2:  # the destination server goes down and comes back from its store on disk
            route.destination_server = restart(route.destination_server, tmp_path / "destination-store")

    final = Worker(route, pairs, state, tmp_path / "run-final.log").finish()
    status, totals = final.split(" ", 2)[1], json.loads(final.split(" ", 2)[2])
    assert status == "completed", final
    assert totals["failed"] == 0, final

    verify = route.migrator(state=state).verify(pairs)
    assert verify.totals()["missing"] == 0 and verify.totals()["duplicate"] == 0, verify.summary()
    checked = 0
    for pair in pairs:
        source_inventory = inventory(route.source_server, pair.source)
        assert differences(source_inventory, inventory(route.destination_server, pair.destination)) == []
        checked += total(source_inventory)
    figures["crash/resume"] = {"kills_survived": len(kills), "kills": kills, "items_compared": checked}
