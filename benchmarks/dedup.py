"""Benchmark of duplicate detection: fingerprint rates, index build and lookup rates, memory.

Run: ``.venv/bin/python benchmarks/dedup.py [--items 100000]``. Prints a table and writes
``benchmarks/results/dedup.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any
from pathlib import Path

from groupmigrate.core.dedup import DuplicateIndex, fingerprint, strong_fingerprint
from groupmigrate.items import Message

RESULTS = Path(__file__).parent / "results" / "dedup.json"


def _rate(count: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(operations per second, seconds) of ``fn``, which performs ``count`` operations."""
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    return count / elapsed, elapsed


def _traced(fn: Callable[[], object]) -> tuple[object, int]:
    """The result of ``fn`` and the bytes it left allocated."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = fn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return result, after - before


def _sample_mime(n: int) -> bytes:
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 150).encode()
    return (
        f"Message-ID: <{n}.bench@example.com>\r\nDate: Mon, 01 Apr 2024 10:00:00 +0200\r\n"
        f"From: Bob <bob@example.com>\r\nTo: alice@example.org\r\nSubject: Report {n}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b1"\r\n\r\n'
    ).encode() + b"--b1\r\nContent-Type: text/plain\r\n\r\n" + body + b"\r\n--b1--\r\n"


def run(items: int) -> dict[str, Any]:
    listed = [Message(message_id=f"<{i}.{i * 7919}@mail.example.com>", subject=f"s{i}") for i in range(items)]
    fps: list[str] = []
    fp_rate, _ = _rate(items, lambda: fps.extend(fingerprint(m) for m in listed))
    del listed

    mimes = [Message.from_mime(_sample_mime(i)) for i in range(2000)]
    strong_rate, _ = _rate(len(mimes), lambda: [strong_fingerprint(m) for m in mimes])
    mime_bytes = len(mimes[0].mime)
    del mimes

    index_box: list[DuplicateIndex] = []

    def build() -> DuplicateIndex:
        index = DuplicateIndex()
        for fp in fps:
            index.add(fp)
        index_box.append(index)
        return index

    build_rate, build_seconds = _rate(items, build)
    index_box.clear()
    index, dest_memory = _traced(build)
    assert isinstance(index, DuplicateIndex) and len(index) == items

    misses = [fp[:-8] + "ffffffff" for fp in fps]
    hit_rate, _ = _rate(items, lambda: sum(fp in index for fp in fps))
    miss_rate, _ = _rate(items, lambda: sum(fp in index for fp in misses))

    # a re-run: every source item checked against the full destination folder
    def check_first_half() -> None:
        for fp in fps[: items // 2]:
            index.check(fp)

    _, source_memory = _traced(check_first_half)
    check_rate, _ = _rate(items - items // 2, lambda: [index.check(fp) for fp in fps[items // 2 :]])

    fps_memory = sum(sys.getsizeof(fp) for fp in fps) + sys.getsizeof(fps)
    return {
        "items": items,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "fingerprint_per_s": round(fp_rate),
        "strong_fingerprint_per_s": round(strong_rate),
        "strong_fingerprint_mime_bytes": mime_bytes,
        "build_per_s": round(build_rate),
        "build_seconds": round(build_seconds, 3),
        "lookup_hit_per_s": round(hit_rate),
        "lookup_miss_per_s": round(miss_rate),
        "check_per_s": round(check_rate),
        "destination_index_bytes": dest_memory,
        "destination_bytes_per_item": round(dest_memory / items, 1),
        "source_side_bytes_per_item": round(source_memory / (items // 2), 1),
        "fingerprint_strings_bytes_per_item": round(fps_memory / items, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    result = run(args.items)
    rows = [
        ("items", f"{result['items']:,}"),
        ("fingerprint (properties)", f"{result['fingerprint_per_s']:,} /s"),
        (f"strong fingerprint ({result['strong_fingerprint_mime_bytes']:,} B MIME)", f"{result['strong_fingerprint_per_s']:,} /s"),
        ("index build (add)", f"{result['build_per_s']:,} /s ({result['build_seconds']} s)"),
        ("lookup, hit (in)", f"{result['lookup_hit_per_s']:,} /s"),
        ("lookup, miss (in)", f"{result['lookup_miss_per_s']:,} /s"),
        ("check() against full folder", f"{result['check_per_s']:,} /s"),
        ("index memory, destination side", f"{result['destination_index_bytes'] / 2**20:.1f} MiB ({result['destination_bytes_per_item']} B/item)"),
        ("index memory, source side (check)", f"{result['source_side_bytes_per_item']} B/item"),
        ("for comparison: fingerprint str", f"{result['fingerprint_strings_bytes_per_item']} B/item"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 30}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
