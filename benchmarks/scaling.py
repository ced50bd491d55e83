"""Scaling: time per item and peak memory of the Migrator on one mailbox of 1k, 10k (and 100k)
small items.

    .venv/bin/python benchmarks/scaling.py [--sizes 1000,10000] [--full]

Each size is its own source mailbox of small mails (2-10 KB, mix ``small``), all in the Inbox:
one folder is the worst case for anything kept per folder (the listing, the id map and
the provenance stamps). Each is migrated twice into fresh destination mailboxes with fresh state files:

1. timed: wall time, client CPU, peak RSS (VmHWM, reset before the run), and the Migrator's
   Progress events, from which come the time to the first batch (listing, destination scan)
   and the time per item in the first and the last tenth of the items - a step that grows with
   the mailbox shows up as a last tenth slower than the first;
2. with ``tracemalloc`` (which slows Python down, so it is not timed): the peak of memory
   allocated by Python.

Target: time per item at the largest size within 1.2 x that at the smallest.
Results: a table on stdout and benchmarks/results/scaling.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import tracemalloc
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


class _Timeline:
    """Progress events as (seconds since start, items done)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.points: list[tuple[float, int]] = []
        self.first_folder: float | None = None
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        name = type(event).__name__
        now = time.perf_counter() - self.t0
        with self._lock:
            if name == "FolderStarted" and self.first_folder is None:
                self.first_folder = now
            elif name == "Progress":
                self.points.append((now, event.items_done))

    def per_item_ms(self, lo: float, hi: float, total: int) -> float | None:
        """ms per item between the moments ``lo`` and ``hi`` (fractions of ``total``) were reached."""
        def reached(frac: float) -> tuple[float, int] | None:
            return next(((t, n) for t, n in self.points if n >= frac * total), None)

        a, b = reached(lo), reached(hi)
        if a is None or b is None or b[1] <= a[1]:
            return None
        return 1000 * (b[0] - a[0]) / (b[1] - a[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=None, help="mailbox sizes (default 1000,10000; with --full also 100000)")
    ap.add_argument("--full", action="store_true", help="add the 100,000-item mailbox")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mix", default="small")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc runs")
    ap.add_argument("--profile", default=None, help="cProfile the timed run of this size into results/")
    ap.add_argument("--what-if", action="append", default=None, metavar="FIX",
                    help="apply a proposed fix to this process first (see _common.WHAT_IFS), e.g. mmap-threshold")
    ap.add_argument("--name", default="scaling")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in (args.sizes or ("1000,10000,100000" if args.full else "1000,10000")).split(",")]

    warm_up()
    apply_what_ifs(args.what_if)
    rows: list[dict[str, Any]] = []
    with Servers() as servers, tempfile.TemporaryDirectory(prefix="gm-bench-") as tmp:
        for n in sizes:
            source = f"scale{n}@contoso.com"
            log(f"seeding {n} items ({args.mix}) into {source} ...")
            seeded = servers.add_source_mailbox(source, args.seed, n, args.mix)
            stats = seeded["stats"]
            log(f"seeded {stats['items']} items, {stats['bytes'] / MB:.0f} MB in {seeded['seconds']:.0f} s")

            destination = f"scale{n}@example.org"
            servers.add_destination_mailbox(destination)
            timeline = _Timeline()
            prof = ThreadProfiler() if args.profile == str(n) else None
            log(f"{n}: timed run ...")
            with Meter(servers) as meter:
                timeline.t0 = time.perf_counter()
                if prof:
                    prof.__enter__()
                try:
                    report = run_migrator(servers, [(source, destination)], str(Path(tmp) / f"s{n}.db"), args.workers,
                                          on_event=timeline)  # fmt: skip
                finally:
                    if prof:
                        prof.__exit__()
            if prof:
                prof.dump(f"{args.name}-{n}")
            m = meter.result
            counts = report_counts(report)
            items = counts.get("migrated", 0)
            row: dict[str, Any] = {
                "size": n, "items": items, "bytes": stats["bytes"], **m, "outcomes": counts,
                "ms_per_item": 1000 * m["wall_s"] / max(items, 1),
                "client_cpu_ms_per_item": 1000 * m["client_cpu_s"] / max(items, 1),
                "seconds_to_first_folder": timeline.first_folder,
                "seconds_to_first_batch": timeline.points[0][0] if timeline.points else None,
                "ms_per_item_first_tenth": timeline.per_item_ms(0.0, 0.1, items),
                "ms_per_item_last_tenth": timeline.per_item_ms(0.9, 1.0, items),
                "rss_growth_bytes": (m["peak_rss_bytes"] or 0) - (m["rss_start_bytes"] or 0),
            }  # fmt: skip
            log(f"{n}: {items} items in {m['wall_s']:.1f} s ({row['ms_per_item']:.2f} ms/item), "
                f"peak RSS {mib(m['peak_rss_bytes']):.0f} MiB")
            if not args.no_tracemalloc:
                destination = f"scale{n}-tracemalloc@example.org"
                servers.add_destination_mailbox(destination)
                log(f"{n}: run with tracemalloc ...")
                tracemalloc.start()
                tracemalloc.reset_peak()
                began = time.perf_counter()
                run_migrator(servers, [(source, destination)], str(Path(tmp) / f"s{n}-tm.db"), args.workers)
                current, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                row["tracemalloc_peak_bytes"] = peak
                row["tracemalloc_wall_s"] = time.perf_counter() - began
                log(f"{n}: tracemalloc peak {peak / 2**20:.1f} MiB")
            rows.append(row)

    base = rows[0]
    for row in rows:
        row["ms_per_item_vs_smallest"] = row["ms_per_item"] / base["ms_per_item"]
        tm = row.get("tracemalloc_peak_bytes")
        row["tracemalloc_bytes_per_item"] = tm / row["items"] if tm and row["items"] else None
    print()
    print_table(
        ["items", "wall s", "ms/item", "x smallest", "CPU ms/item", "to 1st batch s", "ms/item 1st 10%",
         "ms/item last 10%", "peak RSS MiB", "RSS growth MiB", "tracemalloc peak MiB", "traced B/item"],
        [[r["size"], r["wall_s"], r["ms_per_item"], r["ms_per_item_vs_smallest"], r["client_cpu_ms_per_item"],
          r["seconds_to_first_batch"], r["ms_per_item_first_tenth"], r["ms_per_item_last_tenth"],
          mib(r["peak_rss_bytes"]), mib(r["rss_growth_bytes"]), mib(r.get("tracemalloc_peak_bytes")),
          r.get("tracemalloc_bytes_per_item")] for r in rows],
        title=f"scaling: one mailbox, {args.mix} mix, workers {args.workers}",
    )  # fmt: skip
    met = rows[-1]["ms_per_item_vs_smallest"] <= 1.2 if len(rows) > 1 else None
    print(f"\ntarget time per item at {rows[-1]['size']:,} within 1.2 x that at {rows[0]['size']:,}: "
          f"{'-' if met is None else ('met' if met else 'MISSED')} ({rows[-1]['ms_per_item_vs_smallest']:.2f} x)")
    path = write_json(args.name, {"parameters": vars(args), "runs": rows, "targets": {"per_item_within_1.2x": met}})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
