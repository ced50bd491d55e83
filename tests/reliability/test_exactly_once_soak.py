"""Exactly once under everything at once: look-alike items, faults of every kind, and kills.

About 2,000 items over several folders, among them mails sharing a Message-ID with another
mail, mails without one (alerts sharing Date, From and Subject), Cc-only variants,
byte-identical copies and look-alike contacts. The destination is reached through a fault
proxy that injects, at a seeded rate of about one request in ten, every kind of fault a
network can produce (a 504 or an HTML 500 after the server applied the request, an answer
lost after it was applied, a reset before it was forwarded), while both test servers inject
their own faults (throttling, 503, 500, resets, partial batch failures, lost answers where
the server offers them). The migration process is killed with SIGKILL five times (twice while
a CreateItem is held before the server, once while its answer is held after the server applied
it, twice at random moments) and each time started again.

At the end the destination must hold, per folder, exactly the multiset of full item content the
source holds; verify finds nothing missing and nothing extra; and a full run with a fresh state
file (nothing in its id map) sends not a single CreateItem: every item is recognised by its
provenance stamp.
"""

from __future__ import annotations

import random
import sqlite3
import signal
import time
from typing import Any

import pytest

from groupmigrate.core.migrator import Migrator
from groupmigrate.core.report import Report

from .support import (
    ClientProcess,
    FaultProxy,
    content_inventory,
    creates,
    destination_through,
    differences,
    faults_injected,
    inject_faults,
    open_route,
    seed_lookalikes,
    total,
)

#: Proxy faults on every request to the destination (about one in ten in all).
PROXY_RATES = {"504_after": 0.025, "html500_after": 0.025, "drop_answer": 0.025, "reset_before": 0.025}
DESTINATION_KNOBS = {"throttle_rate": 0.02, "http503_rate": 0.015, "http500_rate": 0.01, "reset_rate": 0.012,
                     "partial_batch_rate": 0.1}  # fmt: skip
SOURCE_KNOBS = {"throttle_rate": 0.01, "http503_rate": 0.0075, "reset_rate": 0.008}
#: Runs with faults before the final clean one.
FAULT_RUNS = 6


def _no_duplicates(route: Any, pair: Any, when: str) -> None:
    extra = [
        d
        for d in differences(content_inventory(route.source_server, pair.source), content_inventory(route.destination_server, pair.destination))
        if "extra" in d
    ]
    assert extra == [], f"{when}: items were created more than once:\n  " + "\n  ".join(extra)


def _state_is_sound(state: str) -> None:
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def soak(tmp_path: Any, register_source: Any, figures: dict[str, Any], *, mails: int, contacts: int, seed: int, name: str) -> None:
    started = time.monotonic()
    rng = random.Random(seed)
    with open_route(tmp_path, register=register_source) as route:
        pair = route.add_user("once")
        kinds = seed_lookalikes(route.source_server, pair.source, mails=mails, contacts=contacts, seed=seed)
        route.register_source()
        source_inventory = content_inventory(route.source_server, pair.source)
        assert total(source_inventory) == mails + contacts

        inject_faults(route.destination_server, seed=seed, **DESTINATION_KNOBS)
        if hasattr(route.destination_server.knobs, "lost_answer_rate"):
            inject_faults(route.destination_server, seed=seed, **DESTINATION_KNOBS, lost_answer_rate=0.08)  # of write requests
        inject_faults(route.source_server, seed=seed + 1, **SOURCE_KNOBS)

        with FaultProxy(route.destination_server.port, seed=seed) as proxy:
            for kind, rate in PROXY_RATES.items():
                proxy.add(kind, b"Envelope", rate=rate)  # any EWS request

            # five kills, each followed by a new run with the same state file
            plan = ["hold", "events", "hold_after", "delay", "hold"]
            kills = []
            early_ends: list[list[str]] = []
            for i, how in enumerate(plan):
                hold = None
                if how in ("hold", "hold_after"):
                    proxy.rearm()
                    hold = proxy.add(how, b"CreateItem", nth={rng.randint(2, 3)}, first=True)
                for attempt in range(3):  # under this many faults a run may end early: start another
                    log = tmp_path / f"run-{i}-{attempt}.log"
                    client = ClientProcess(route, [pair], route.state, log, destination_url=proxy.url)
                    if how in ("hold", "hold_after"):
                        landed = client.wait_for(proxy.holding.is_set, timeout=90)
                    elif how == "events":
                        target = rng.randint(40, 160)
                        landed = client.wait_for(lambda: client.migrated >= target, timeout=90)
                    else:
                        client.wait_for(lambda: any(line.startswith("STARTED") for line in client.output), timeout=90)
                        time.sleep(rng.uniform(0.3, 1.2))
                        landed = client.proc.poll() is None
                    if landed and client.kill():
                        break
                    client.kill()
                    ended = [line for line in client.output if line.startswith(("ACCOUNT", "DONE"))]
                    if hold is not None:  # what the hold rule saw, to tell why it never held
                        ended.append(f"hold rule: seen {hold.seen}, hits {hold.hits}, nth {sorted(hold.nth)}")
                    early_ends.append(ended)
                    if any('"migrated": 0,' in line for line in ended):
                        break  # nothing was left to copy: another attempt cannot be killed while it copies
                else:
                    pytest.fail(f"run {i} ended before the kill ({how}) three times: {early_ends[-3:]}")
                if hold is not None:
                    proxy.remove(hold)
                    proxy.release()
                _state_is_sound(route.state)
                _no_duplicates(route, pair, f"after kill {i + 1} ({how})")
                if client.proc.returncode == -signal.SIGKILL:
                    kills.append({"how": how, "items_in_run": client.migrated})
            # the runs that ended on their own (all was copied) still had to leave no duplicate;
            # most of the plan's kills must have landed for the soak to say anything
            assert len(kills) >= 3, f"only {len(kills)} of {len(plan)} kills landed: {early_ends}"

            # runs under faults until nothing fails
            runs: list[Report] = []
            for _ in range(FAULT_RUNS):
                destination = destination_through(proxy)
                try:
                    report = Migrator(route.source, destination, state=route.state, workers=2).run([pair])
                finally:
                    destination.close()
                runs.append(report)
                _no_duplicates(route, pair, f"after fault run {len(runs)}")
                if report.accounts[0].status == "completed" and report.totals()["failed"] == 0:
                    break
            proxy_stats = dict(proxy.stats)

        destination_faults = faults_injected(route.destination_server)
        source_faults = faults_injected(route.source_server)
        inject_faults(route.destination_server, seed=0, **{k: 0.0 for k in DESTINATION_KNOBS})
        if hasattr(route.destination_server.knobs, "lost_answer_rate"):
            inject_faults(route.destination_server, seed=0, lost_answer_rate=0.0)
        inject_faults(route.source_server, seed=0, **{k: 0.0 for k in SOURCE_KNOBS})

        # a run to completion
        final = route.migrator(workers=4).run([pair])
        assert final.accounts[0].status == "completed" and final.totals()["failed"] == 0, (final.totals(), final.accounts[0].error)

        destination_inventory = content_inventory(route.destination_server, pair.destination)
        problems = differences(source_inventory, destination_inventory)
        assert problems == [], "the destination does not mirror the source:\n  " + "\n  ".join(problems)
        verify = route.migrator(workers=4).verify([pair])
        assert verify.totals()["missing"] == 0 and verify.totals()["duplicate"] == 0, verify.totals()
        for item_type, counts in verify.accounts[0].counts.items():
            assert counts.get("source", 0) == counts.get("destination", 0), (item_type, counts)

        # a fresh state file knows nothing; the provenance stamps on the destination say it all
        before = creates(route.destination_server)
        fresh = route.migrator(state=str(tmp_path / "fresh.db"), workers=4).run([pair])
        assert fresh.accounts[0].status == "completed", (fresh.totals(), fresh.accounts[0].error)
        created = creates(route.destination_server) - before
        assert created == 0, f"a run with a fresh state file sent {created} CreateItem request(s): {fresh.totals()}"
        assert content_inventory(route.destination_server, pair.destination) == destination_inventory
        assert route.source_server.write_operations() == []

        assert sum(v for k, v in proxy_stats.items() if k != "forwarded") >= 10, proxy_stats
        figures[name] = {
            "items": mails + contacts,
            "lookalikes": dict(kinds),
            "kills": kills,
            "runs_ended_before_their_kill": early_ends,
            "fault_runs": len(runs),
            "proxy": proxy_stats,
            "destination_faults": dict(destination_faults),
            "source_faults": dict(source_faults),
            "seconds": round(time.monotonic() - started, 1),
        }


def test_exactly_once_soak_2000_items(tmp_path, register_source, figures):
    soak(tmp_path, register_source, figures, mails=1960, contacts=40, seed=11, name="exactly-once soak (2,000 items)")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [31, 47])
def test_exactly_once_soak_more_items(tmp_path, register_source, figures, seed):
    soak(tmp_path, register_source, figures, mails=7900, contacts=100, seed=seed,
         name=f"exactly-once soak (8,000 items, seed {seed})")  # fmt: skip
