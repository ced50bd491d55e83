"""Workers: one migration on 1, 2 and 4 Celery worker processes with 80 ms added to every EWS
request (throughput and speed-up), and the coordinator's overhead per item against the same
migration in one process.

    .venv/bin/python benchmarks/workers.py [--workers 1,2,4] [--mailboxes 12] [--items 120]
                                           [--latency 0.08] [--threads 4] [--repeat 3]

The setup is that of ``tests/workers/test_distributed.py``, scaled up: an Exchange Online-like
source (app-only OAuth, impersonation) and an Exchange-like destination (an admin with
impersonation grants), both EWS test servers in processes of their own (``_common``), each
sleeping ``--latency`` seconds before every answer; a real PostgreSQL
(``groupmigrate.testing.postgres``) as the shared state store and a real Redis
(``groupmigrate.testing.redis``) as the Celery broker. ``--mailboxes`` source mailboxes of
``--items`` generated items each (mix ``small-mixed``: mail of 5-100 KB in nine folders,
contacts, calendar items, tasks and notes).

For each worker count k: a fresh destination server, a fresh PostgreSQL database, an emptied
broker, and k ``groupmigrate worker`` processes (solo pool: one account at a time each), started
and answering a ping before the clock starts; then ``submit`` and ``wait``. ``[migration]
workers`` (the threads inside one worker) is ``--threads`` for every k, and in the in-process
runs. ``[workers]`` has no ``limits`` (unless ``--limits SOURCE,DESTINATION`` gives shared limits
in Redis): nothing is shared across workers but the broker and the state store, so no shared
server limit caps the scaling (each worker keeps its own connection limit, ``max_connections`` = 4
per server, the EWS endpoint's default).

The same data are also migrated in this process by one plain ``Migrator`` (SQLite state, the
same threads, endpoints built from the same configuration), twice: one account after another
(``run_accounts`` per account in one run: what one Celery worker does, without Celery,
PostgreSQL, the claims and the coordinator) and all accounts in one ``Migrator.run`` (what a
one-process migration does; its threads then overlap accounts too). The coordinator's overhead
per item is (time on 1 worker - time in process, one account after another) / items.

Wall time runs from just before ``submit`` (or the in-process call) to the last account's end
as recorded in the state store. Checked after every run: the run completed, every account
completed, ``migrated`` equals the items of the source, and every destination folder holds
exactly as many items as its source folder (nothing missing, nothing twice).

CPU: the whole machine's busy time (``/proc/stat``) over each run, against the cores x wall
time, and its parts: this process (``os.times``), each EWS test server, the workers, PostgreSQL
and Redis (``/proc/<pid>/stat`` of each process tree, reaped children included). The workers'
whole lives (start-up and shut-down included) are ``getrusage(RUSAGE_CHILDREN)`` around
reaping them.

Target: at 80 ms, 4 workers reach at least 3.2 x the items/s of 1 worker.
Results: a table on stdout and benchmarks/results/workers.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ADMIN,
    ADMIN_PASSWORD,
    CLIENT_ID,
    CLIENT_SECRET,
    MB,
    TENANT,
    USER_PASSWORD,
    ServerProcess,
    log,
    RESULTS,
    print_table,
    warm_up,
)

SOURCE_PROFILE, DESTINATION_PROFILE = "exchange-online", "exchange"
TICK = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count() or 1


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


# --------------------------------------------------------------------------------------------
# CPU accounting from /proc
# --------------------------------------------------------------------------------------------


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores; /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of the children it reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(rest[1]), sum(int(x) for x in rest[11:15]) / TICK


def tree_cpu(roots: list[int]) -> dict[int, float]:
    """CPU seconds so far of each root's process tree: every live process in it, plus what its
    processes reaped (a PostgreSQL backend that ended is counted in the postmaster's)."""
    stats: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = _stat(int(name))
            if found is not None:
                stats[int(name)] = found
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for root in roots:
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                total += stats[pid][1]
                todo.extend(children.get(pid, ()))
        out[root] = total
    return out


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


class CpuMeter:
    """CPU seconds over a window: the machine, this process, and named process trees."""

    def __init__(self, trees: dict[str, list[int]]) -> None:
        self.trees = trees

    def _sample(self) -> tuple[float, float, dict[str, float]]:
        pids = [p for ps in self.trees.values() for p in ps]
        cpu = tree_cpu(pids)
        return machine_busy(), self_cpu(), {name: sum(cpu[p] for p in ps) for name, ps in self.trees.items()}

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._s0 = self._sample()

    def stop(self) -> dict[str, Any]:
        s1 = self._sample()
        wall = time.perf_counter() - self._t0
        machine, own = s1[0] - self._s0[0], s1[1] - self._s0[1]
        parts = {"benchmark_process": own, **{k: s1[2][k] - self._s0[2][k] for k in self.trees}}
        return {
            "window_s": wall,
            "machine_busy_s": machine,
            "machine_utilization": machine / (wall * CPUS) if wall > 0 else None,
            "parts_s": parts,
            "other_s": machine - sum(parts.values()),
        }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """``results/<name>.json`` as ``_common.write_json`` writes it, without asking version
    control for the commit (left ``null``: the caller records it)."""
    import json
    import platform

    cpu_model = None
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    versions = {}
    for module in ("exchangelib", "lxml", "requests", "celery", "kombu", "redis", "psycopg"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001
            versions[module] = None
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {
        "benchmark": name,
        "command": " ".join([".venv/bin/python", os.path.relpath(sys.argv[0], RESULTS.parent.parent)] + sys.argv[1:]),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "load_average_at_end": os.getloadavg(), "cpus": CPUS, "cpu_model": cpu_model,
            "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "python": sys.version.split()[0], "platform": platform.platform(), "versions": versions,
            "git_commit": None,
        },
        **payload,
    }  # fmt: skip
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# The setup: servers, configuration, workers
# --------------------------------------------------------------------------------------------


def source_server(mailboxes: int, items: int, mix: str, seed: int) -> tuple[ServerProcess, list[str], dict[str, Any]]:
    server = ServerProcess(SOURCE_PROFILE)
    server.add_oauth_app(TENANT, CLIENT_ID, CLIENT_SECRET)
    addresses, stats = [], {}
    for i in range(mailboxes):
        address = f"user{i:02d}@contoso.com"
        server.add_mailbox(address, password=USER_PASSWORD)
        server.seed_generated(address, seed + i, items, mix)
        stats[address] = server.mailbox_stats(address)
        addresses.append(address)
    return server, addresses, stats


def destination_server(addresses: list[str], latency: float) -> ServerProcess:
    server = ServerProcess(DESTINATION_PROFILE)
    server.add_mailbox(ADMIN, password=ADMIN_PASSWORD)
    for address in addresses:
        server.add_mailbox(address, password=USER_PASSWORD)
        server.grant_impersonation(ADMIN, address)
    server.set_knob("latency", latency)
    return server


def write_config(folder: Path, source: ServerProcess, destination: ServerProcess, pairs: list[tuple[str, str]],
                 state: str, threads: int, broker: str | None, broker_password: str | None,
                 limits: tuple[int, int] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text("source,destination\n" + "".join(f"{s},{d}\n" for s, d in pairs), encoding="utf-8")
    (folder / "admin-password.txt").write_text(ADMIN_PASSWORD, encoding="utf-8")
    (folder / "app-secret.txt").write_text(CLIENT_SECRET, encoding="utf-8")
    workers = ""
    if broker is not None:
        (folder / "redis-password.txt").write_text(broker_password or "", encoding="utf-8")
        workers = f'\n[workers]\nbroker = "{broker}"\nbroker_password_file = "redis-password.txt"\n'
        if limits is not None:  # else no ``limits``: no shared server limit across the workers
            workers += (f'limits = "{broker.rsplit("/", 1)[0]}/1"\nlimits_password_file = "redis-password.txt"\n'
                        f"source_connections = {limits[0]}\ndestination_connections = {limits[1]}\n")
    config = folder / "migration.toml"
    config.write_text(f"""
[source]
url = "{source.url}"
profile = "{SOURCE_PROFILE}"
impersonation = true

[source.auth]
type = "oauth2"
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret_file = "app-secret.txt"
token_url = "{source.token_url(TENANT)}"

[destination]
url = "{destination.url}"
profile = "{DESTINATION_PROFILE}"
impersonation = true

[destination.auth]
type = "basic"
username = "{ADMIN}"
password_file = "admin-password.txt"

[migration]
accounts = "accounts.csv"
state = "{state}"
workers = {threads}
{workers}""", encoding="utf-8")  # fmt: skip
    return config


def start_worker(config: Path, name: str, logfile: Path, verbose: bool) -> subprocess.Popen[bytes]:
    out = logfile.open("wb")
    command = [sys.executable, "-m", "groupmigrate.frontdoors.cli", *(["-v"] if verbose else []), "worker", str(config),
               "--name", name]  # fmt: skip
    try:
        return subprocess.Popen(command, cwd=config.parent, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
    finally:
        out.close()


def wait_ready(config: Any, procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 90) -> float:
    """Wait until every worker answers a ping; returns the seconds it took."""
    from groupmigrate.celery.worker import make_app

    began = time.perf_counter()
    app = make_app(config.workers)
    try:
        while True:
            for proc, logfile in zip(procs, logs):
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.returncode}:\n{logfile.read_text(errors='replace')[-3000:]}")
            answers = app.control.ping(timeout=0.5) or []
            if len(answers) >= len(procs):
                return time.perf_counter() - began
            if time.perf_counter() - began > timeout:
                raise RuntimeError(f"only {len(answers)} of {len(procs)} workers answer after {timeout:.0f} s")
    finally:
        app.close()


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> float:
    """Stop the workers (SIGTERM: Celery's warm shutdown) and reap them; returns their whole
    lives' CPU seconds (getrusage(RUSAGE_CHILDREN) around reaping them)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# --------------------------------------------------------------------------------------------
# Checks and figures of one run
# --------------------------------------------------------------------------------------------


def check(report: Any, pairs: list[tuple[str, str]], source: ServerProcess, destination: ServerProcess,
          stats: dict[str, Any]) -> dict[str, Any]:
    """The run completed and the destination holds every item once; raises otherwise."""
    totals = {k: int(v) for k, v in report.totals().items()}
    expected = sum(stats[s]["items"] for s, _ in pairs)
    problems = []
    if report.status != "completed":
        problems.append(f"run status {report.status}")
    bad = [f"{a.pair}: {a.status} {a.error or ''}" for a in report.accounts if a.status != "completed"]
    if bad or len(report.accounts) != len(pairs):
        problems.append(f"{len(report.accounts)} accounts reported, not completed: {bad[:5]}")
    if totals.get("migrated") != expected:
        problems.append(f"migrated {totals.get('migrated')} of {expected} items ({totals})")
    for s, d in pairs:
        want = {path: f["items"] for path, f in stats[s]["folders"].items()}
        got = {path: f["items"] for path, f in destination.mailbox_stats(d)["folders"].items()}
        if got != want:
            diff = {p: (want.get(p, 0), got.get(p, 0)) for p in set(want) | set(got) if want.get(p, 0) != got.get(p, 0)}
            problems.append(f"{d}: items per folder (source, destination) differ: {diff}")
    if problems:
        raise RuntimeError("run check failed:\n  " + "\n  ".join(problems) + "\n" + report.summary())
    return {"expected_items": expected, "outcomes": totals, "destination_equals_source": True}


def timeline(report: Any, began: float) -> dict[str, Any]:
    """Per-account start/end (seconds after ``began``, a ``time.time()``) from the state store."""
    rows = sorted(
        ((a.started.timestamp() - began, a.finished.timestamp() - began) for a in report.accounts if a.started and a.finished),
    )  # fmt: skip
    if not rows:
        return {}
    durations = [end - start for start, end in rows]
    return {
        "first_account_started_s": rows[0][0],
        "last_account_finished_s": max(end for _, end in rows),
        "account_seconds_sum": sum(durations),
        "account_seconds_median": statistics.median(durations),
        "accounts": [{"started_s": s, "finished_s": e} for s, e in rows],
    }


def gaps_one_worker(tl: dict[str, Any]) -> float:
    """One account at a time: seconds between an account's end and the next one's start, summed."""
    rows = tl.get("accounts") or []
    return float(sum(max(0.0, b["started_s"] - a["finished_s"]) for a, b in zip(rows, rows[1:])))


# --------------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------------


def run_in_process(kind: str, folder: Path, source: ServerProcess, destination: ServerProcess,
                   pairs: list[tuple[str, str]], threads: int, trees: dict[str, list[int]]) -> tuple[Any, dict[str, Any]]:
    """One Migrator in this process, SQLite state: ``sequential`` (one account after another,
    as one worker does) or ``together`` (all accounts in one ``run``)."""
    from groupmigrate.core.migrator import Migrator
    from groupmigrate.core.report import Report
    from groupmigrate.frontdoors.config import load_config

    config = load_config(write_config(folder, source, destination, pairs, str(folder / "state.db"), threads, None, None))
    accounts = config.read_accounts()
    migrator = Migrator(config.source.build_source(), config.destination.build_destination(), state=config.migration.state,
                        workers=config.migration.workers, item_types=config.migration.item_types,
                        since=config.migration.since)  # fmt: skip
    store = migrator.state
    meter = CpuMeter(trees)
    try:
        meter.start()
        began, t0 = time.time(), time.perf_counter()
        if kind == "together":
            report = migrator.run(accounts)
        else:
            with store.writer():
                run_id = store.start_run("full", None, migrator.item_types)
                statuses = [migrator.run_accounts(run_id, [pair], "full")[pair.key] for pair in accounts]
                store.finish_run(run_id, "completed" if all(s == "completed" for s in statuses) else "completed_with_errors")
            report = Report.from_state(store, run_id)
        returned = time.perf_counter() - t0
        cpu = meter.stop()
    finally:
        store.close()
    return report, {"returned_s": returned, "began": began, "cpu": cpu}


def run_on_workers(k: int, folder: Path, source: ServerProcess, destination: ServerProcess, pairs: list[tuple[str, str]],
                   threads: int, postgres: Any, redis: Any, trees: dict[str, list[int]], verbose: bool,
                   timeout: float, limits: tuple[int, int] | None = None) -> tuple[Any, dict[str, Any]]:
    from groupmigrate.celery.coordinator import submit, wait
    from groupmigrate.frontdoors.config import load_config

    state = postgres.new_database()
    redis.command("FLUSHALL")
    path = write_config(folder, source, destination, pairs, state, threads, f"redis://127.0.0.1:{redis.port}/0",
                        redis.password, limits)  # fmt: skip
    config = load_config(path)
    logs = [folder / f"worker{i}.log" for i in range(k)]
    procs = [start_worker(path, f"w{i}@bench", logs[i], verbose) for i in range(k)]
    try:
        ready = wait_ready(config, procs, logs)
        meter = CpuMeter({**trees, "workers": [p.pid for p in procs]})
        meter.start()
        began, t0 = time.time(), time.perf_counter()
        run_id = submit(config)
        submitted = time.perf_counter() - t0
        report = wait(config, run_id, poll=0.05, timeout=timeout)
        returned = time.perf_counter() - t0
        cpu = meter.stop()
    except BaseException:
        for logfile in logs:
            log(f"{logfile.name}: " + logfile.read_text(errors="replace")[-2000:])
        raise
    finally:
        whole_life = stop_workers(procs)
    return report, {"returned_s": returned, "submit_s": submitted, "began": began, "cpu": cpu,
                    "workers_ready_s": ready, "workers_cpu_whole_life_s": whole_life}  # fmt: skip


def summarize(label: str, k: int | None, report: Any, info: dict[str, Any], checked: dict[str, Any],
              size: int) -> dict[str, Any]:
    tl = timeline(report, info.pop("began"))
    wall = tl["last_account_finished_s"]
    items = checked["outcomes"].get("migrated", 0)
    cpu = info["cpu"]
    return {
        "variant": label, "workers": k, "wall_s": wall, "items": items, "bytes": size,
        "items_per_s": items / wall, "mb_per_s": size / MB / wall, **checked, **info, "timeline": tl,
        "cpu_ms_per_item": {name: 1000 * v / items for name, v in cpu["parts_s"].items()},
        "machine_cpu_ms_per_item": 1000 * cpu["machine_busy_s"] / items,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2,4", help="worker processes per run (default 1,2,4)")
    ap.add_argument("--mailboxes", type=int, default=12, help="source mailboxes, one account each (default 12)")
    ap.add_argument("--items", type=int, default=120, help="generated items per source mailbox (default 120)")
    ap.add_argument("--latency", type=float, default=0.08, help="seconds each server waits before answering (default 0.08)")
    ap.add_argument("--threads", type=int, default=4,
                    help="[migration] workers: threads inside each worker and in the in-process runs (default 4)")
    ap.add_argument("--mix", default="small-mixed", help="generator mix (default small-mixed)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3,
                    help="run the whole series this many times, interleaved; medians are reported (default 3)")
    ap.add_argument("--limits", default=None, metavar="SOURCE,DESTINATION",
                    help="give [workers] shared server limits (Redis) of these many requests at once; default none")
    ap.add_argument("--no-in-process", action="store_true", help="skip the in-process runs (no overhead figure)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds one run may take at most")
    ap.add_argument("--verbose", action="store_true", help="workers log at INFO into their log files")
    ap.add_argument("--name", default="workers", help="results file name (default workers)")
    args = ap.parse_args(argv)
    counts = _ints(args.workers)
    limits = tuple(_ints(args.limits)) if args.limits else None
    if limits is not None and len(limits) != 2:
        ap.error("--limits: give SOURCE,DESTINATION")

    from groupmigrate.testing.postgres import PostgresServer
    from groupmigrate.testing.redis import RedisServer

    warm_up()
    import groupmigrate.celery.coordinator  # noqa: F401  (imported before measuring)

    rows: list[dict[str, Any]] = []
    postgres = PostgresServer()
    redis = RedisServer(password=f"pw-{secrets.token_hex(8)}")
    source = None
    try:
        with tempfile.TemporaryDirectory(prefix="gm-bench-workers-") as tmp:
            log(f"seeding {args.mailboxes} mailboxes of {args.items} items ({args.mix}) ...")
            source, addresses, stats = source_server(args.mailboxes, args.items, args.mix, args.seed)
            source.set_knob("latency", args.latency)
            size = sum(s["bytes"] for s in stats.values())
            variants: list[tuple[str, int | None]] = []
            if not args.no_in_process:
                variants += [("in process, one account after another", None), ("in process, all accounts in one run", None)]
            variants += [(f"{k} worker(s)", k) for k in counts]
            run = 0
            for rep in range(args.repeat):
                for label, k in variants:
                    run += 1
                    pairs = [(a, a.replace("@contoso.com", "@example.org")) for a in addresses]
                    destination = destination_server([d for _, d in pairs], args.latency)
                    trees: dict[str, list[int]] = {
                        "source_server": [source.process.pid or 0], "destination_server": [destination.process.pid or 0],
                        "postgres": [postgres.pid or 0], "redis": [redis.pid],
                    }  # fmt: skip
                    folder = Path(tmp) / f"run{run}"
                    log(f"[{rep + 1}/{args.repeat}] {label}: {args.mailboxes} accounts ...")
                    try:
                        if k is None:
                            kind = "sequential" if "after" in label else "together"
                            report, info = run_in_process(kind, folder, source, destination, pairs, args.threads, trees)
                        else:
                            report, info = run_on_workers(k, folder, source, destination, pairs, args.threads, postgres,
                                                          redis, trees, args.verbose, args.timeout, limits)  # fmt: skip
                        checked = check(report, pairs, source, destination, stats)
                    finally:
                        destination.close()
                    row = summarize(label, k, report, info, checked, size)
                    row["repeat"] = rep
                    rows.append(row)
                    cpu = row["cpu"]
                    log(f"  {row['items']} items in {row['wall_s']:.1f} s = {row['items_per_s']:.1f} items/s; machine "
                        f"CPU {100 * cpu['machine_utilization']:.0f} % of {CPUS} cores; "
                        + ", ".join(f"{n} {v:.1f}" for n, v in cpu["parts_s"].items()) + " s")  # fmt: skip
    finally:
        if source is not None:
            source.close()
        redis.stop()
        postgres.stop()

    # medians over the repeats
    def median_of(label: str, key: str) -> float:
        return float(statistics.median(r[key] for r in rows if r["variant"] == label))

    labels = list(dict.fromkeys(r["variant"] for r in rows))
    by_label = {label: [r for r in rows if r["variant"] == label] for label in labels}
    one = next((lbl for lbl in labels if by_label[lbl][0]["workers"] == 1), None)
    base = median_of(one, "items_per_s") if one else None
    summary = []
    for label in labels:
        first = by_label[label][0]
        rate = median_of(label, "items_per_s")
        parts = {n: statistics.median(r["cpu"]["parts_s"][n] for r in by_label[label]) for n in first["cpu"]["parts_s"]}
        summary.append({
            "variant": label, "workers": first["workers"], "wall_s": median_of(label, "wall_s"), "items": first["items"],
            "items_per_s": rate, "speedup_vs_1_worker": rate / base if base and first["workers"] else None,
            "first_account_started_s": statistics.median(r["timeline"]["first_account_started_s"] for r in by_label[label]),
            "machine_utilization": statistics.median(r["cpu"]["machine_utilization"] for r in by_label[label]),
            "machine_busy_s": statistics.median(r["cpu"]["machine_busy_s"] for r in by_label[label]),
            "cpu_parts_s": parts, "runs": len(by_label[label]),
            # each repeat's own ratio (against the 1-worker run of the same repeat)
            "speedups_per_repeat": [
                r["items_per_s"] / one_rate for r in by_label[label] if first["workers"]
                for one_rate in [next((o["items_per_s"] for o in by_label.get(one, []) if o["repeat"] == r["repeat"]), None)]
                if one_rate
            ],
            "workers_ready_s": statistics.median(r["workers_ready_s"] for r in by_label[label]) if first["workers"] else None,
        })  # fmt: skip
    noisy = [r for r in rows if r["cpu"]["other_s"] > 0.2 * max(r["cpu"]["machine_busy_s"], 1e-9)]

    print()
    print_table(
        ["variant", "seconds", "items", "items/s", "speed-up vs 1 worker", "start s", "machine CPU %"],
        [[s["variant"], s["wall_s"], s["items"], s["items_per_s"], s["speedup_vs_1_worker"], s["first_account_started_s"],
          100 * s["machine_utilization"]] for s in summary],
        title=f"workers: {args.mailboxes} mailboxes x {args.items} items ({args.mix}), {args.latency * 1000:.0f} ms per "
              f"request, [migration] workers = {args.threads}, "
              + (f"shared limits {limits[0]} source / {limits[1]} destination" if limits else "no shared limits")
              + (f", median of {args.repeat}" if args.repeat > 1 else ""),
    )  # fmt: skip
    print()
    for s in summary:
        s["cpu_parts_s"].setdefault("workers", 0.0)
    names = list(dict.fromkeys(n for s in summary for n in s["cpu_parts_s"]))
    print_table(
        ["variant", "machine busy s", *[f"{n} s" for n in names], "other s"],
        [[s["variant"], s["machine_busy_s"], *[s["cpu_parts_s"].get(n) for n in names],
          s["machine_busy_s"] - sum(s["cpu_parts_s"].values())] for s in summary],
        title=f"CPU seconds over each run ({CPUS} cores; 'benchmark process' is the in-process Migrator and the "
              "coordinator's wait)",
    )  # fmt: skip

    overhead: dict[str, Any] = {}
    sequential = next((s for s in summary if s["variant"].startswith("in process, one")), None)
    together = next((s for s in summary if s["variant"].startswith("in process, all")), None)
    one_row = next((s for s in summary if s["workers"] == 1), None)
    if one_row and sequential:
        items = one_row["items"]
        one_runs = [r for r in rows if r["workers"] == 1]
        seq_runs = [r for r in rows if r["variant"] == sequential["variant"]]
        overhead = {
            "ms_per_item_vs_one_account_after_another": 1000 * (one_row["wall_s"] - sequential["wall_s"]) / items,
            "ms_per_item_vs_all_accounts_in_one_run": (
                1000 * (one_row["wall_s"] - together["wall_s"]) / items if together else None),
            "start_up_s": one_row["first_account_started_s"],
            "start_up_in_process_s": sequential["first_account_started_s"],
            "gaps_between_accounts_s": statistics.median(gaps_one_worker(r["timeline"]) for r in one_runs),
            "gaps_between_accounts_in_process_s": statistics.median(gaps_one_worker(r["timeline"]) for r in seq_runs),
            "account_seconds_sum": statistics.median(r["timeline"]["account_seconds_sum"] for r in one_runs),
            "account_seconds_sum_in_process": statistics.median(r["timeline"]["account_seconds_sum"] for r in seq_runs),
            "ms_per_item_per_repeat": [1000 * (o["wall_s"] - q["wall_s"]) / items for o in one_runs for q in seq_runs
                                       if o["repeat"] == q["repeat"]],
        }  # fmt: skip
        print(f"\ncoordinator's overhead, 1 worker vs in process one account after another: "
              f"{overhead['ms_per_item_vs_one_account_after_another']:.2f} ms per item "
              f"({one_row['wall_s']:.1f} s vs {sequential['wall_s']:.1f} s for {items} items; each repeat: "
              + ", ".join(f"{x:.2f}" for x in overhead["ms_per_item_per_repeat"]) + ")")
        if together:
            print(f"  vs all accounts in one in-process run: {overhead['ms_per_item_vs_all_accounts_in_one_run']:.2f} ms per item"
                  f" ({together['wall_s']:.1f} s)")
        print(f"  start-up (submit to first account started): {overhead['start_up_s']:.2f} s "
              f"(in process: {overhead['start_up_in_process_s']:.2f} s)")
        print(f"  between accounts: {overhead['gaps_between_accounts_s']:.2f} s in all "
              f"(in process: {overhead['gaps_between_accounts_in_process_s']:.2f} s); accounts' own time "
              f"{overhead['account_seconds_sum']:.1f} s (in process: {overhead['account_seconds_sum_in_process']:.1f} s)")
    if noisy:
        print(f"\nnote: in {len(noisy)} run(s) other processes used more than a fifth of the machine's busy CPU "
              "(the 'other s' column): the machine was not quiet")
    four = next((s for s in summary if s["workers"] == 4), None)
    met = None if four is None or one_row is None else four["speedup_vs_1_worker"] >= 3.2
    verdict = "-" if met is None else ("met" if met else "MISSED")
    print(f"\ntarget {args.latency * 1000:.0f} ms: 4 workers >= 3.2 x 1 worker: {verdict}"
          + (f" ({four['speedup_vs_1_worker']:.2f} x)" if four and four.get("speedup_vs_1_worker") else ""))
    shared = {"source_connections": limits[0], "destination_connections": limits[1]} if limits else None
    path = write_results(args.name, {"parameters": vars(args), "shared_limits": shared, "summary": summary, "runs": rows,
                                     "overhead": overhead, "noisy_runs": len(noisy),
                                     "targets": {"80ms_4_workers_3.2x": met}})  # fmt: skip
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
