"""Memory: peak RSS of the migrating process while it copies 40 mails of 20 MB each.

    .venv/bin/python benchmarks/memory.py [--mails 40] [--variants default:default,1:default,100:100]

The two test servers run in their own processes. Each variant migrates the same source
mailbox into a fresh destination mailbox from a *fresh child process* (this script with
``--child``), so that the peak RSS measured - the child's VmHWM, i.e. the kernel's high-water
mark of its resident memory - belongs to that variant alone and includes everything the
migrating process holds (interpreter, libraries, buffers). The child's RSS after imports and
before migrating is reported as the baseline.

A variant is ``ITEMS:BYTES``: the most items and bytes per batch (exchangelib's chunk size and
the Migrator's byte bound), ``default`` meaning the route's capabilities (100 items, 25 MB on
WorkMail). The peak must stay bounded by the byte bound whatever the item count (target:
<= 250 MiB with the defaults, 8 workers, and no allocator setting in the process). ``--layout 4-folders`` deals the mails into four folders so that
four workers hold a batch each at the same time. One variant takes about three minutes here
(the test servers' CPU sets the pace), so the default runs only the route's own bounds.
Results: a table on stdout and benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MB,
    Endpoints,
    Meter,
    Servers,
    apply_what_ifs,
    _proc_status,
    log,
    mib,
    print_table,
    report_counts,
    run_migrator,
    warm_up,
    write_json,
)

TARGET = 250 * 1024 * 1024


def _parse_variant(text: str) -> tuple[int | None, int | None]:
    items, _, size = text.partition(":")
    return (None if items in ("", "default") else int(items),
            None if size in ("", "default") else int(float(size) * 1024 * 1024))  # fmt: skip


def child(args: argparse.Namespace) -> int:
    """Run one migration and print what it cost as one JSON line."""
    spec = json.loads(args.child)
    warm_up()
    apply_what_ifs(spec.get("what_if"))
    endpoints = Endpoints(**spec["endpoints"])
    caps: dict[str, Any] = {}
    if spec["max_items"] is not None:
        caps["max_batch_items"] = spec["max_items"]
    if spec["max_bytes"] is not None:
        caps["max_batch_bytes"] = spec["max_bytes"]
    baseline = _proc_status("VmRSS")
    with Meter() as meter:
        report = run_migrator(endpoints, [(spec["source"], spec["destination"])], spec["state"], spec["workers"],
                              capabilities=caps)  # fmt: skip
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        **meter.result, "baseline_rss_bytes": baseline, "ru_maxrss_bytes": ru.ru_maxrss * 1024,
        "outcomes": report_counts(report), "status": report.status,
    }))  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mails", type=int, default=40, help="20 MB mails in the source mailbox (default 40)")
    ap.add_argument("--variants", default="default:default",
                    help="ITEMS:MiB per batch, comma separated; 'default' = the route's (default default:default)")
    ap.add_argument("--layout", choices=("1-folder", "4-folders"), default="1-folder")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--what-if", action="append", default=None, metavar="FIX",
                    help="apply a proposed fix to this process first (see _common.WHAT_IFS), e.g. mmap-threshold")
    ap.add_argument("--name", default="memory")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    from groupmigrate.backends.ews.profiles import get_profile

    from _common import DESTINATION_PROFILE, SOURCE_PROFILE

    caps = get_profile(SOURCE_PROFILE).capabilities.intersect(get_profile(DESTINATION_PROFILE).capabilities)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    rows: list[dict[str, Any]] = []
    mix = "huge" if args.layout == "1-folder" else "huge-4-folders"
    with Servers() as servers:
        source = "big@contoso.com"
        log(f"seeding {args.mails} mails of 20 MB ({args.layout}) into {source} ...")
        seeded = servers.add_source_mailbox(source, args.seed, args.mails, mix)
        stats = seeded["stats"]
        log(f"seeded {stats['items']} items, {stats['bytes'] / MB:.0f} MB in {seeded['seconds']:.0f} s")
        for i, variant in enumerate(variants):
            max_items, max_bytes = _parse_variant(variant)
            destination = f"big{i}@example.org"
            servers.add_destination_mailbox(destination)
            state = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"gm-bench-memory-{os.getpid()}-{i}.db")
            spec = {"endpoints": servers.endpoints().__dict__, "source": source, "destination": destination,
                    "state": state, "workers": args.workers, "max_items": max_items, "max_bytes": max_bytes,
                    "what_if": args.what_if}  # fmt: skip
            items_label = max_items if max_items is not None else caps.max_batch_items
            bytes_label = max_bytes if max_bytes is not None else caps.max_batch_bytes
            log(f"variant {variant}: <= {items_label} items and <= {bytes_label / 2**20:.0f} MiB per batch ...")
            began = time.perf_counter()
            srv0 = servers.cpu()
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
            srv1 = servers.cpu()
            for suffix in ("", "-wal", "-shm"):
                Path(state + suffix).unlink(missing_ok=True)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"variant {variant} failed")
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            landed = servers.destination.mailbox_stats(destination)
            row = {
                "variant": variant, "max_batch_items": items_label, "max_batch_bytes": bytes_label,
                "workers": args.workers, "layout": args.layout, **out, "elapsed_s": time.perf_counter() - began,
                "source_server_cpu_s": srv1[0] - srv0[0], "destination_server_cpu_s": srv1[1] - srv0[1],
                "destination_items": landed["items"], "mb_per_s": stats["bytes"] / MB / out["wall_s"],
            }  # fmt: skip
            rows.append(row)
            log(f"  peak RSS {mib(out['peak_rss_bytes']):.0f} MiB (baseline {mib(out['baseline_rss_bytes']):.0f} MiB), "
                f"{out['wall_s']:.0f} s, {landed['items']} items on the destination")
    print()
    print_table(
        ["items/batch", "MiB/batch", "workers", "baseline RSS MiB", "peak RSS MiB", "peak - baseline MiB", "wall s",
         "MB/s", "client CPU s", "migrated", "on destination"],
        [[str(r["max_batch_items"]), r["max_batch_bytes"] / 2**20, r["workers"], mib(r["baseline_rss_bytes"]),
          mib(r["peak_rss_bytes"]), mib(r["peak_rss_bytes"] - r["baseline_rss_bytes"]), r["wall_s"], r["mb_per_s"],
          r["client_cpu_s"], r["outcomes"].get("migrated", 0), r["destination_items"]] for r in rows],
        title=f"memory: {stats['items']} mails, {stats['bytes'] / MB:.0f} MB ({args.layout})",
    )  # fmt: skip
    defaults = [r for r in rows if r["max_batch_bytes"] == caps.max_batch_bytes]
    met = all(r["peak_rss_bytes"] <= TARGET for r in defaults) if defaults else None
    print(f"\ntarget peak RSS <= 250 MiB with the route's byte bound: {'-' if met is None else ('met' if met else 'MISSED')}")
    path = write_json(args.name, {"parameters": vars(args), "mailbox": {"items": stats["items"], "bytes": stats["bytes"]},
                                  "variants": rows, "targets": {"peak_rss_le_250MiB": met}})  # fmt: skip
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
