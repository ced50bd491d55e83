"""Latency: the Migrator with 20 ms and 80 ms added to every EWS request, 1, 4 and 8 mailboxes
migrated in parallel (workers = mailboxes).

    .venv/bin/python benchmarks/latency.py [--latencies 20,80] [--mailboxes 1,4,8] [--items 250]

Both test servers sleep ``latency`` seconds before answering each request (``knobs.latency``),
as a server across a WAN would. Each source mailbox holds ``--items`` generated items (mix
``small-mixed`` by default: the item types of ``throughput`` with mails of 5-100 KB, so that the
two test servers' CPU on this 2-core machine is not what limits the parallel runs). Every run
migrates into fresh destination mailboxes with a fresh state file.

Reported: aggregate items/s and MB/s per (latency, mailboxes), and the speed-up over one mailbox
at the same latency. Target: at 80 ms, 8 workers reach at least 6 x the items/s of 1 worker.
Results: a table on stdout and benchmarks/results/latency.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MB,
    Meter,
    Servers,
    apply_what_ifs,
    ThreadProfiler,
    log,
    mib,
    print_table,
    report_counts,
    run_migrator,
    warm_up,
    write_json,
)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def widen_connections(limit: int) -> None:
    """Experiment: let the route use ``limit`` connections per server (profiles cap it at 4 on
    WorkMail); patches this process's copy of the profiles only."""
    import attrs

    from groupmigrate.backends.ews import profiles

    for name, profile in list(profiles.PROFILES.items()):
        caps = attrs.evolve(profile.capabilities, max_connections=max(limit, profile.capabilities.max_connections))
        profiles.PROFILES[name] = attrs.evolve(profile, capabilities=caps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latencies", default="20,80", help="milliseconds per request (default 20,80)")
    ap.add_argument("--mailboxes", default="1,4,8", help="mailboxes in parallel = workers (default 1,4,8)")
    ap.add_argument("--items", type=int, default=250, help="items per source mailbox (default 250)")
    ap.add_argument("--mix", default="small-mixed", help="generator mix (default small-mixed)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--naive-seconds", type=float, default=15,
                    help="also run throughput.py's naive loop on one mailbox this long per latency (0: no)")
    ap.add_argument("--connections", type=int, default=None,
                    help="experiment: raise every profile's max_connections to this many")
    ap.add_argument("--profile", default=None, help="cProfile the run LATENCY:MAILBOXES (e.g. 80:8) into results/")
    ap.add_argument("--what-if", action="append", default=None, metavar="FIX",
                    help="apply a proposed fix to this process first (see _common.WHAT_IFS), e.g. mmap-threshold")
    ap.add_argument("--name", default="latency", help="results file name (default latency)")
    args = ap.parse_args(argv)
    latencies, counts = _ints(args.latencies), _ints(args.mailboxes)

    warm_up()
    apply_what_ifs(args.what_if)
    if args.connections:
        widen_connections(args.connections)
    rows: list[dict[str, Any]] = []
    naive: list[dict[str, Any]] = []
    with Servers() as servers, tempfile.TemporaryDirectory(prefix="gm-bench-") as tmp:
        sources = [f"user{i}@contoso.com" for i in range(max(counts))]
        seeded: dict[str, Any] = {}
        for i, address in enumerate(sources):
            log(f"seeding {args.items} items ({args.mix}) into {address} ...")
            seeded[address] = servers.add_source_mailbox(address, args.seed + i, args.items, args.mix)["stats"]
        run = 0
        for latency in latencies:
            servers.set_latency(latency / 1000)
            for n in counts:
                run += 1
                pairs = [(sources[i], f"user{i}.run{run}@example.org") for i in range(n)]
                for _, destination in pairs:
                    servers.add_destination_mailbox(destination)
                expected = sum(seeded[s]["items"] for s, _ in pairs)
                size = sum(seeded[s]["bytes"] for s, _ in pairs)
                log(f"latency {latency} ms, {n} mailbox(es), {n} worker(s): {expected} items ...")
                servers.source.clear_operations()
                servers.destination.clear_operations()
                prof = ThreadProfiler() if args.profile == f"{latency}:{n}" else None
                with Meter(servers) as meter:
                    if prof:
                        prof.__enter__()
                    try:
                        report = run_migrator(servers, pairs, str(Path(tmp) / f"run{run}.db"), workers=n)
                    finally:
                        if prof:
                            prof.__exit__()
                if prof:
                    prof.dump(f"{args.name}-{latency}ms-{n}")
                counts_ = report_counts(report)
                m = meter.result
                ops = {"source": servers.source.operation_counts(), "destination": servers.destination.operation_counts()}
                requests = sum(ops["source"].values()) + sum(ops["destination"].values())
                items = counts_.get("migrated", 0)
                rows.append({
                    "latency_ms": latency, "mailboxes": n, "workers": n, "items": items, "expected_items": expected,
                    "bytes": size, **m, "items_per_s": items / m["wall_s"], "mb_per_s": size / MB / m["wall_s"],
                    "outcomes": counts_, "status": report.status, "requests": requests,
                    "requests_per_mailbox": requests / n, "operations": ops,
                })  # fmt: skip
                log(f"  {items} items in {m['wall_s']:.1f} s = {items / m['wall_s']:.0f} items/s ({report.status})")
            if args.naive_seconds > 0:
                from throughput import naive_copy

                run += 1
                destination = f"user0.naive{run}@example.org"
                servers.add_destination_mailbox(destination)
                log(f"latency {latency} ms, naive loop on {sources[0]} for {args.naive_seconds:.0f} s ...")
                with Meter(servers) as meter:
                    out = naive_copy(servers, sources[0], destination, args.items, args.naive_seconds)
                m = meter.result
                naive.append({"latency_ms": latency, **out, **m, "items_per_s": out["items"] / m["wall_s"],
                              "mb_per_s": out["bytes"] / MB / m["wall_s"]})  # fmt: skip
                log(f"  naive: {out['items']} items in {m['wall_s']:.1f} s = {out['items'] / m['wall_s']:.1f} items/s")
        servers.set_latency(0)

    for row in rows:
        base = next((r for r in rows if r["latency_ms"] == row["latency_ms"] and r["mailboxes"] == min(counts)), None)
        row["speedup"] = row["items_per_s"] / base["items_per_s"] if base else None
    print()
    print_table(
        ["latency ms", "mailboxes=workers", "items", "requests", "wall s", "items/s", "MB/s", "speed-up", "client CPU s",
         "src srv CPU s", "dst srv CPU s", "peak RSS MiB"],
        [[str(r["latency_ms"]), r["mailboxes"], r["items"], r["requests"], r["wall_s"], r["items_per_s"], r["mb_per_s"], r["speedup"],
          r["client_cpu_s"], r["source_server_cpu_s"], r["destination_server_cpu_s"], mib(r["peak_rss_bytes"])]
         for r in rows],
        title=f"latency: {args.items} items per mailbox ({args.mix})"
              + (f", connections raised to {args.connections}" if args.connections else ""),
    )  # fmt: skip
    if naive:
        print()
        print_table(
            ["latency ms", "naive items", "wall s", "naive items/s", "Migrator 1 mailbox items/s", "ratio",
             f"Migrator {max(counts)} mailboxes items/s", "ratio"],
            [[str(nv["latency_ms"]), nv["items"], nv["wall_s"], nv["items_per_s"], one["items_per_s"],
              one["items_per_s"] / nv["items_per_s"] if nv["items_per_s"] else None, many["items_per_s"],
              many["items_per_s"] / nv["items_per_s"] if nv["items_per_s"] else None]
             for nv in naive
             for one in [next(r for r in rows if r["latency_ms"] == nv["latency_ms"] and r["mailboxes"] == min(counts))]
             for many in [next(r for r in rows if r["latency_ms"] == nv["latency_ms"] and r["mailboxes"] == max(counts))]],
            title="the naive loop (one GetItem + one CreateItem per item, exchangelib as shipped) at the same latency",
        )  # fmt: skip
    target = next((r for r in rows if r["latency_ms"] == 80 and r["mailboxes"] == 8), None)
    met = None if target is None or min(counts) != 1 else target["speedup"] >= 6
    print(f"\ntarget 80 ms: 8 workers >= 6 x 1 worker: {'-' if met is None else ('met' if met else 'MISSED')}"
          + (f" ({target['speedup']:.2f} x)" if target and target.get("speedup") else ""))
    path = write_json(args.name, {"parameters": vars(args), "runs": rows, "naive": naive,
                                  "targets": {"80ms_8_workers_6x": met}})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
