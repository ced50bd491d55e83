"""Heavier fault soak: large migrations under injected faults, each compared item by item.

The CI variant (``tests/reliability/test_fault_soak.py``) migrates 2,000 items; this one runs
as many as asked, over several seeds. Per round: two EWS test servers on loopback, a mailbox
of ``--mails`` generated mails plus contacts, calendar items, tasks and notes; faults on
both sides (destination about 10 % of requests, source about 5 %); runs until nothing is
left (at most ``--max-runs``), a re-run that must create nothing, ``verify``, and a folder by
folder comparison of both servers' stores. Any difference fails the round.

Run: ``.venv/bin/python benchmarks/soak.py [--mails 20000] [--rounds 3] [--seed 1] [--workers 4]``.
Prints one line per round and writes ``benchmarks/results/soak.json``; exits 1 when a round
found anything missing or duplicated.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from reliability.support import (  # noqa: E402
    differences,
    faults_injected,
    inject_faults,
    inventory,
    open_route,
    seed_workload,
    total,
)

DESTINATION_FAULTS = {"throttle_rate": 0.03, "http503_rate": 0.025, "reset_rate": 0.026, "http500_rate": 0.02, "partial_batch_rate": 0.3}
SOURCE_FAULTS = {"throttle_rate": 0.015, "http503_rate": 0.0125, "reset_rate": 0.0126, "http500_rate": 0.01}


def soak_round(mails: int, seed: int, workers: int, max_runs: int) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="groupmigrate-soak-") as tmp, open_route(Path(tmp)) as route:
        pair = route.add_user("soak")
        extra = max(10, mails // 40)
        seed_workload(route.source_server, pair.source, mails=mails, contacts=extra, events=extra, tasks=extra // 2,
                      notes=extra // 4, seed=seed)  # fmt: skip
        before = route.source_server.content_hash(pair.source)
        source_inventory = inventory(route.source_server, pair.source)
        seeded = time.monotonic()
        inject_faults(route.destination_server, seed=seed, **DESTINATION_FAULTS)
        inject_faults(route.source_server, seed=seed + 1, **SOURCE_FAULTS)
        runs = []
        for _ in range(max_runs):
            report = route.migrator(workers=workers).run([pair])
            runs.append(report.totals())
            if report.accounts[0].status == "failed" or report.totals()["failed"] == 0:
                break
        migrated_at = time.monotonic()
        again = route.migrator(workers=workers).run([pair]).totals()
        verify = route.migrator(workers=workers).verify([pair]).totals()
        problems = differences(source_inventory, inventory(route.destination_server, pair.destination))
        if again["migrated"]:
            problems.append(f"the re-run created {again['migrated']} item(s)")
        if verify["missing"] or verify["duplicate"]:
            problems.append(f"verify: {verify}")
        if route.source_server.content_hash(pair.source) != before or route.source_server.write_operations():
            problems.append("the source was written to")
        return {
            "seed": seed,
            "items": total(source_inventory),
            "runs": runs,
            "rerun": again,
            "verify": verify,
            "destination_faults": dict(faults_injected(route.destination_server)),
            "destination_requests_answered": len(route.destination_server.operations),
            "source_faults": dict(faults_injected(route.source_server)),
            "source_requests_answered": len(route.source_server.operations),
            "migrate_seconds": round(migrated_at - seeded, 1),
            "items_per_second": round(total(source_inventory) / max(migrated_at - seeded, 1e-9), 1),
            "total_seconds": round(time.monotonic() - started, 1),
            "problems": problems,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mails", type=int, default=20_000, help="generated mails per round (default 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each with its own seed (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first round (default 1)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-runs", type=int, default=3, help="runs allowed for transient failures to clear")
    args = parser.parse_args()
    results = []
    for n in range(args.rounds):
        result = soak_round(args.mails, args.seed + n, args.workers, args.max_runs)
        results.append(result)
        state = "OK" if not result["problems"] else "FAILED: " + "; ".join(result["problems"][:5])
        print(
            f"seed {result['seed']}: {result['items']} items, {len(result['runs'])} run(s), "
            f"{sum(result['destination_faults'].values())} destination / {sum(result['source_faults'].values())} source "
            f"faults, {result['items_per_second']} items/s, {result['total_seconds']} s: {state}",
            flush=True,
        )
    out = ROOT / "benchmarks" / "results" / "soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"python": platform.python_version(), "args": vars(args), "rounds": results}, indent=2) + "\n")
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
