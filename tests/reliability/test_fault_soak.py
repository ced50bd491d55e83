"""A 2,000-item migration while both servers misbehave: nothing lost, nothing duplicated.

The destination answers about one request in ten with a fault (ErrorServerBusy with a
20 ms back-off, HTTP 503, HTTP 500, a reset connection) and fails one item in three of its
CreateItem batches; the source answers about one request in twenty with a fault. The faults come from the servers' seeded
generators, so a run is repeatable. Afterwards the destination is compared with the source
folder by folder, straight from the servers' stores, and the library's own verify must agree.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from groupmigrate.auth import BasicAuth
from groupmigrate.backends.ews import EWSDestination
from groupmigrate.core.migrator import Migrator
from groupmigrate.core.report import Report

from .support import (
    ADMIN,
    ADMIN_PASSWORD,
    LostAnswerProxy,
    differences,
    faults_injected,
    inject_faults,
    inventory,
    open_route,
    seed_workload,
    total,
)

DESTINATION_FAULTS = {
    "throttle_rate": 0.03,  # ErrorServerBusy, BackOffMilliseconds 20
    "http503_rate": 0.025,
    "reset_rate": 0.026,
    "http500_rate": 0.02,
    "partial_batch_rate": 0.3,  # of CreateItem batches: one item of the batch fails
}
SOURCE_FAULTS = {"throttle_rate": 0.015, "http503_rate": 0.0125, "reset_rate": 0.0126, "http500_rate": 0.01}

#: Runs allowed for items that failed transiently to arrive (the state file remembers the rest).
MAX_RUNS = 3


def _failed_entries(report: Report) -> list[Any]:
    return [e for a in report.accounts for e in a.log if e.kind == "failed"]


def soak(tmp_path: Any, register_source: Any, figures: dict[str, Any], *, mails: int, seed: int, name: str) -> None:
    started = time.monotonic()
    with open_route(tmp_path, register=register_source) as route:
        pair = route.add_user("soak")
        expected = seed_workload(
            route.source_server, pair.source, mails=mails, contacts=40, events=30, tasks=20, notes=10, seed=seed
        )
        route.register_source()
        source_inventory = inventory(route.source_server, pair.source)
        assert total(source_inventory) == sum(expected.values())

        inject_faults(route.destination_server, seed=seed, **DESTINATION_FAULTS)
        inject_faults(route.source_server, seed=seed + 1, **SOURCE_FAULTS)

        runs: list[Report] = []
        for _ in range(MAX_RUNS):
            report = route.migrator(workers=4).run([pair])
            runs.append(report)
            account = report.accounts[0]
            assert account.status in ("completed", "completed_with_errors"), account.error
            failed = account.total("failed")
            # every item that failed is in the log with its error
            entries = _failed_entries(report)
            assert len(entries) == failed, (failed, entries[:5])
            assert all(e.item and e.message for e in entries), entries[:5]
            if failed == 0:
                break
        else:
            pytest.fail(f"still {failed} failed item(s) after {MAX_RUNS} runs: {[e.message for e in entries][:5]}")

        migrated = sum(r.totals()["migrated"] for r in runs)
        assert migrated == sum(expected.values()), [r.totals() for r in runs]

        # Running again under the same faults creates nothing.
        again = route.migrator(workers=4).run([pair])
        assert again.totals()["migrated"] == 0 and again.totals()["failed"] == 0, again.totals()

        verify = route.migrator(workers=4).verify([pair])
        assert verify.totals()["missing"] == 0 and verify.totals()["duplicate"] == 0, verify.summary()
        assert verify.ok, verify.summary()

        # The destination, read from the server's own store, equals the source folder by folder.
        destination_inventory = inventory(route.destination_server, pair.destination)
        assert differences(source_inventory, destination_inventory) == []
        per_folder = {"/".join(f): sum(c.values()) for f, c in destination_inventory.items()}

        destination_faults = faults_injected(route.destination_server)
        source_faults = faults_injected(route.source_server)
        # With four workers, which request meets which fault varies from run to run; each
        # kind alone is covered deterministically by test_each_fault_kind_is_survived.
        assert sum(destination_faults.values()) >= 5 and destination_faults["partial_batch_rate"] >= 1, destination_faults
        figures[f"{name}"] = {
            "items": sum(expected.values()),
            "items_checked_per_folder": per_folder,
            "runs_until_complete": len(runs),
            "failed_in_first_run": runs[0].totals()["failed"],
            "destination_faults": dict(destination_faults),
            "destination_requests_answered": len(route.destination_server.operations),
            "source_faults": dict(source_faults),
            "source_requests_answered": len(route.source_server.operations),
            "seconds": round(time.monotonic() - started, 1),
        }


def test_fault_soak_2000_items(tmp_path, register_source, figures):
    soak(tmp_path, register_source, figures, mails=1900, seed=7, name="fault soak (2,000 items)")


@pytest.fixture(scope="module")
def shared_route(tmp_path_factory: pytest.TempPathFactory, register_source: Any) -> Any:
    with open_route(tmp_path_factory.mktemp("fault-kinds"), register=register_source) as route:
        yield route


RATE_MAILS = 60
FAULT_KINDS = [("destination", kind) for kind in DESTINATION_FAULTS] + [("source", kind) for kind in SOURCE_FAULTS]


@pytest.mark.parametrize(("side", "kind"), FAULT_KINDS, ids=[f"{s}-{k.removesuffix('_rate')}" for s, k in FAULT_KINDS])
def test_each_fault_kind_is_survived(shared_route, tmp_path, side, kind, figures):
    """One kind of fault at a time, one worker: the same requests meet the same faults on
    every run, so each kind is certain to happen; the copy must still be exact, in one run
    (an item failing transiently in a CreateItem batch is retried, not left for later)."""
    route = shared_route
    pair = route.add_user(f"{side}-{kind.removesuffix('_rate').replace('_', '-')}")
    seed_workload(route.source_server, pair.source, mails=RATE_MAILS, contacts=5, seed=17)
    route.register_source()
    server = route.destination_server if side == "destination" else route.source_server
    before = faults_injected(server)[kind]
    inject_faults(server, seed=23, **{kind: 0.25 if kind == "partial_batch_rate" else 0.12})
    try:
        report = route.migrator(state=str(tmp_path / "migration.db"), workers=1).run([pair])
    finally:
        inject_faults(server, seed=0, **{kind: 0.0})
    hits = faults_injected(server)[kind] - before
    assert hits >= 1, f"no {kind} fault happened: choose another seed"
    assert report.accounts[0].status == "completed", (report.accounts[0].error, report.totals())
    assert report.totals()["failed"] == 0 and report.totals()["migrated"] == RATE_MAILS + 5
    assert differences(inventory(route.source_server, pair.source), inventory(route.destination_server, pair.destination)) == []
    figures.setdefault("fault kinds, one at a time (faults injected)", {})[f"{side} {kind}"] = hits


def test_lost_answer_to_a_create_does_not_duplicate(tmp_path, register_source, figures):
    """The destination applies a CreateItem but the answer never reaches the client (the
    connection breaks on the way back). The retry must not create the items a second time."""
    with open_route(tmp_path, register=register_source) as route:
        pair = route.add_user("lost")
        seed_workload(route.source_server, pair.source, mails=300, contacts=10, seed=5)
        route.register_source()
        with LostAnswerProxy(route.destination_server.port, b"CreateItem", drop_numbers={1, 3, 4}) as proxy:
            destination = EWSDestination(url=f"{proxy.base_url}/EWS/Exchange.asmx", profile="workmail",
                                         impersonation=True, auth=BasicAuth(ADMIN, ADMIN_PASSWORD))  # fmt: skip
            try:
                report = Migrator(route.source, destination, state=route.state).run([pair])
            finally:
                destination.close()
        assert proxy.dropped == 3
        account = report.accounts[0]
        assert account.status in ("completed", "completed_with_errors"), account.error
        source_inventory = inventory(route.source_server, pair.source)
        destination_inventory = inventory(route.destination_server, pair.destination)
        extra = [d for d in differences(source_inventory, destination_inventory) if "extra" in d]
        assert extra == [], extra
        if account.total("failed"):  # a lost answer may leave items for the next run, never copies
            route.migrator().run([pair])
        assert differences(source_inventory, inventory(route.destination_server, pair.destination)) == []
        figures["lost CreateItem answers"] = {"answers_dropped": proxy.dropped, "items": total(source_inventory)}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [101, 202, 303])
def test_fault_soak_more_seeds(tmp_path, register_source, figures, seed):
    soak(tmp_path, register_source, figures, mails=4900, seed=seed, name=f"fault soak (5,000 items, seed {seed})")


