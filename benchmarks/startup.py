"""Start-up: how long the ``groupmigrate`` command takes before it does anything.

    .venv/bin/python benchmarks/startup.py [--runs 10] [--items 300]

Each command runs ``--runs`` times in a fresh process (after two runs to warm the page cache);
the table gives the median, min and max of the wall time from launch to exit:

- ``python -c pass``: the interpreter alone, the floor;
- ``groupmigrate --help``, ``groupmigrate backends``, ``groupmigrate runs STATE`` (an empty
  state file): commands that talk to no server;
- ``groupmigrate -v migrate --no-progress`` between two files of the in-memory backend (two
  accounts of ``--items`` small mails each, reset before every run): launch to the first
  "item(s) listed" log line (the accounts checked, the first folder listed) and to exit.

Results: a table on stdout and benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import log, print_table, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
COMMAND = [PYTHON, "-m", "groupmigrate.frontdoors.cli"]

CONFIG = """\
[source]
backend = "memory"
file = "source.mem"

[destination]
backend = "memory"
file = "destination.mem"

[migration]
accounts = "accounts.csv"
item_types = ["mail"]
workers = 2
state = "migration.db"
"""

SEED = """\
import sys
from pathlib import Path
from groupmigrate.backends.memory import MemoryServer
from groupmigrate.items import Message
folder, items = Path(sys.argv[1]), int(sys.argv[2])
for name in ("source.mem", "destination.mem", "migration.db", "migration.db-wal", "migration.db-shm"):
    (folder / name).unlink(missing_ok=True)
src, dst = MemoryServer(folder / "source.mem"), MemoryServer(folder / "destination.mem")
for user in ("a", "b"):
    src.add_mailbox(f"{user}@contoso.com")
    dst.add_mailbox(f"{user}@example.org")
    for i in range(items):
        mime = (f"From: x@contoso.com\\r\\nSubject: msg {i}\\r\\nMessage-ID: <{user}{i}@x>\\r\\n"
                f"Date: Mon, 1 Jun 2026 10:00:00 +0000\\r\\n\\r\\n{'body ' * 200}\\r\\n").encode()
        src.add_item(f"{user}@contoso.com", ("Inbox",) if i % 3 else ("Sent Items",), Message.from_mime(mime))
src.save()
dst.save()
"""


def timed(command: list[str], runs: int, before: Callable[[], None] | None = None) -> list[float]:
    """Wall seconds from launch to exit of ``command``, ``runs`` times (after two unmeasured runs)."""
    times = []
    for n in range(runs + 2):
        if before:
            before()
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, cwd=ROOT)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-2000:]}")
        if n >= 2:
            times.append(elapsed)
    return times


def first_listing(config: Path, runs: int, before: Callable[[], None]) -> tuple[list[float], list[float]]:
    """Launch to the first "item(s) listed" line of ``migrate -v``, and launch to exit."""
    firsts, totals = [], []
    for n in range(runs + 2):
        before()
        start = time.perf_counter()
        proc = subprocess.Popen([*COMMAND, "-v", "migrate", "--no-progress", str(config)], cwd=ROOT, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        first = None
        assert proc.stderr is not None
        for line in proc.stderr:
            if first is None and " item(s) listed" in line:
                first = time.perf_counter() - start
        proc.wait()
        total = time.perf_counter() - start
        if proc.returncode != 0 or first is None:
            raise SystemExit(f"migrate failed (exit {proc.returncode}) or listed nothing")
        if n >= 2:
            firsts.append(first)
            totals.append(total)
    return firsts, totals


def summary(times: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(times) * 1000, "min_ms": min(times) * 1000, "max_ms": max(times) * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="measured runs per command (default 10)")
    ap.add_argument("--items", type=int, default=300, help="mails per account of the memory migration (default 300)")
    args = ap.parse_args()

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="gm-startup-") as tmp:
        folder = Path(tmp)
        state = folder / "empty.db"
        subprocess.run([PYTHON, "-c", "import sys; from groupmigrate.core.state import SqliteStateStore; "
                                      "SqliteStateStore(sys.argv[1]).close()", str(state)], check=True, cwd=ROOT)  # fmt: skip
        (folder / "migration.toml").write_text(CONFIG, encoding="utf-8")
        (folder / "accounts.csv").write_text(
            "source,destination\na@contoso.com,a@example.org\nb@contoso.com,b@example.org\n", encoding="utf-8"
        )

        def reset() -> None:
            subprocess.run([PYTHON, "-c", SEED, str(folder), str(args.items)], check=True, cwd=ROOT)

        for name, command in (
            ("python -c pass", [PYTHON, "-c", "pass"]),
            ("groupmigrate --help", [*COMMAND, "--help"]),
            ("groupmigrate backends", [*COMMAND, "backends"]),
            ("groupmigrate runs STATE", [*COMMAND, "runs", str(state)]),
        ):
            log(f"{name} ...")
            results[name] = summary(timed(command, args.runs))
        log("migrate (memory backend) ...")
        firsts, totals = first_listing(folder / "migration.toml", args.runs, reset)
        results["migrate: first folder listed"] = summary(firsts)
        results["migrate: whole run"] = summary(totals)

    print()
    print_table(["command", "median ms", "min ms", "max ms"],
                [[name, f"{r['median_ms']:.0f}", f"{r['min_ms']:.0f}", f"{r['max_ms']:.0f}"] for name, r in results.items()],
                title=f"start-up: median of {args.runs} runs; migrate: memory backend, 2 accounts x {args.items} mails")  # fmt: skip
    path = write_json("startup", {"parameters": vars(args), "results": results})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
