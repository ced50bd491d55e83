"""The ``groupmigrate`` command.

Exit codes:
    0  everything done (or the check passed)
    1  the run finished but some items or accounts failed, or verify found items missing
    2  usage or configuration error
    3  check failed: an account cannot be opened on one side
    4  the state file is in use by another process (the message names it: pid, host, since when)
    5  a file the run writes cannot be written: the state file (disk full, read-only) or the
       report (the message names it; the summary is printed anyway; run again to resume)
    130 cancelled with Ctrl-C (run the same command again to resume); a second Ctrl-C aborts
       at once
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from groupmigrate.errors import GroupmigrateError

__all__ = ["main"]

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_CHECK, EXIT_LOCKED, EXIT_OUTPUT, EXIT_CANCELLED = 0, 1, 2, 3, 4, 5, 130


def _version() -> str:
    from groupmigrate import __version__

    return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="groupmigrate",
        description="Move whole mailboxes between groupware servers (see 'groupmigrate backends' for the routes installed).",
        epilog=(
            "Exit codes: 0 done, 1 some items failed, 2 usage/config error, 3 check failed, "
            "5 state or report file cannot be written, "
            "4 state file in use by another process, 130 cancelled."
        ),
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"groupmigrate {_version()}")
    # -v is accepted after the command too: ``groupmigrate migrate -v config.toml``
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, dest="verbose_after",
                        help="more log output: -v one line per folder and batch, -vv protocol detail")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", parents=[common], help="migrate sample mailboxes between two built-in test servers (EWS by default)")
    demo.add_argument("--report", default="report.html", help="where to write the HTML report (default: report.html)")
    demo.add_argument("--state", default=None, help="state file (default: a temporary file)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.add_argument("--source", default="ews", metavar="BACKEND",
                      help="the source's backend (default: ews, an Exchange Online test server; imap: a real Dovecot; dav: a real Radicale; "
                           "imap+dav: a hosting account, mail in Dovecot and the rest in Radicale; memory); any that offers a demo server")  # fmt: skip
    demo.add_argument("--destination", default="ews", metavar="BACKEND",
                      help="the destination's backend (default: ews, a WorkMail test server; imap: a real Dovecot; dav: a real Radicale; "
                           "imap+dav: mail in Dovecot and the rest in Radicale; memory)")  # fmt: skip
    demo.add_argument("--keep-servers", action="store_true",
                      help="after the demo, keep both test servers up until Ctrl-C and write a configuration for them")  # fmt: skip
    demo.add_argument("--keep-dir", default="groupmigrate-demo", metavar="DIR",
                      help="where --keep-servers writes migration.toml, accounts.csv and the demo's state file "
                           "(default: groupmigrate-demo)")  # fmt: skip

    for name, text in (
        ("check", "check credentials and permissions of every account on both sides"),
        ("analyze", "count items and bytes per account and item type"),
        ("migrate", "migrate the accounts of the configuration"),
        ("verify", "recount both sides and list what is missing on the destination"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("config", help="configuration file (TOML)")
        cmd.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        if name == "migrate":
            mode = cmd.add_mutually_exclusive_group()
            mode.add_argument("--trial", action="store_true", help="only the last 10 days")
            mode.add_argument("--delta", action="store_true", help="only what arrived since the previous run")
            cmd.add_argument("--no-progress", action="store_true", help="no progress bars")
            cmd.add_argument("--queue", choices=("local", "celery"), default="local",
                             help="local: migrate in this process (default); celery: hand each account to the "
                                  "workers of [workers] broker (groupmigrate worker) and follow them")  # fmt: skip
            cmd.add_argument("--no-wait", action="store_true", help="with --queue celery: print the run id and return")

    worker = sub.add_parser("worker", parents=[common], help="work on migrations handed out with 'migrate --queue celery'")
    worker.add_argument("config", help="configuration file (TOML), the same as the coordinator's")
    worker.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="accounts migrated at once, each in a process of its own (default 1)")  # fmt: skip
    worker.add_argument("--name", default=None, help="the worker's name (default: groupmigrate@<host>-<pid>)")

    report = sub.add_parser("report", parents=[common], help="print or write the report of a run from a state file")
    report.add_argument("state", help="state file (e.g. migration.db)")
    report.add_argument(
        "--run", default=None, metavar="RUN_ID",
        help="run id, as listed by 'groupmigrate runs' (default: the latest migration run)",
    )  # fmt: skip
    report.add_argument("--json", action="store_true", help="print JSON")
    report.add_argument("--html", metavar="FILE", help="write a self-contained HTML page")

    backends = sub.add_parser(
        "backends", parents=[common], help="list the installed backends, their options, profiles and capabilities"
    )
    backends.add_argument("name", nargs="?", help="show only this backend, with every capability of each profile")
    backends.add_argument("--json", action="store_true", help="print JSON")

    runs = sub.add_parser("runs", parents=[common], help="list the runs recorded in a state file, one per line")
    runs.add_argument("state", help="state file (e.g. migration.db)")
    runs.add_argument("--kind", choices=("migration", "verify"), default=None, help="only runs of this kind")
    runs.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    verbose = args.verbose + getattr(args, "verbose_after", 0)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "demo":
            from groupmigrate.frontdoors.demo import run_demo

            return run_demo(report_path=args.report, state_path=args.state, progress=not args.no_progress, as_json=args.json,
                            keep_servers=args.keep_servers, keep_dir=args.keep_dir,
                            source=args.source, destination=args.destination)  # fmt: skip
        if args.command == "report":
            return _report(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "backends":
            return _backends(args)
        if args.command == "worker":
            return _worker(args)
        return _with_config(args)
    except GroupmigrateError as exc:
        print(f"groupmigrate: error: {exc}", file=sys.stderr)
        from groupmigrate.errors import AccessError, AccountsFileError, ConfigError, OutputError, StateError, StateLocked

        if isinstance(exc, StateLocked):
            return EXIT_LOCKED
        if isinstance(exc, OutputError):
            return EXIT_OUTPUT
        return EXIT_USAGE if isinstance(exc, (ConfigError, AccountsFileError, StateError)) else (
            EXIT_CHECK if isinstance(exc, AccessError) else EXIT_FAILURES
        )  # fmt: skip
    except KeyboardInterrupt:
        print("groupmigrate: cancelled", file=sys.stderr)
        return EXIT_CANCELLED


def _open_existing_state(path: str) -> Any:
    from groupmigrate.errors import StateError
    from groupmigrate.core.state import SqliteStateStore, open_state
    from groupmigrate.core.state.url import is_postgres_url

    if is_postgres_url(path):
        return open_state(path)
    if not Path(path).exists():
        raise StateError(f"state file {path} does not exist")
    return SqliteStateStore(path)


def _shown(state: Any) -> str:
    """A state file's path, or a database URL with its password hidden."""
    from groupmigrate.core.state.url import is_postgres_url, mask_url

    return mask_url(str(state)) if is_postgres_url(str(state)) else str(state)


def _report(args: argparse.Namespace) -> int:
    from groupmigrate.core.report import Report

    store = _open_existing_state(args.state)
    try:
        report = Report.from_state(store, args.run)
    finally:
        store.close()
    if args.html:
        Path(args.html).write_text(report.to_html(), encoding="utf-8")
    print(report.to_json() if args.json else report.summary())
    return EXIT_OK if report.ok else EXIT_FAILURES


def _runs(args: argparse.Namespace) -> int:
    from groupmigrate.core.report import list_runs

    store = _open_existing_state(args.state)
    try:
        summaries = list_runs(store, args.kind)
        workers = store.workers()
    finally:
        store.close()
    if args.json:
        print(json.dumps([s.to_dict() for s in summaries], indent=2))
    elif not summaries:
        print(f"no runs in {_shown(args.state)}")
    else:
        for summary in summaries:
            print(summary.line())
    if workers and not args.json:
        print("workers (last heartbeat, host, pid, accounts held):")
        for w in workers:
            held = ", ".join(pair for _, pair in w.claims) or "-"
            print(f"  {w.owner}: {w.last_seen:%Y-%m-%d %H:%M:%S} UTC, {w.host or '?'}, pid {w.pid or '?'}, {held}")
    return EXIT_OK


def _backends(args: argparse.Namespace) -> int:
    from groupmigrate.plugins import available_backends, get_backend

    found = {args.name: get_backend(args.name)} if args.name else available_backends()
    described: dict[str, dict[str, Any]] = {
        name: {
            "summary": b.summary,
            "source": b.source is not None,
            "destination": b.destination is not None,
            "credentials": list(b.credentials),
            "options": [{"name": o.name, "kind": o.kind, "required": o.required, "help": o.help} for o in b.options],
            "default_profile": b.default_profile,
            "profiles": {p: caps.describe() for p, caps in b.profiles.items()},
        }
        for name, b in sorted(found.items())
    }
    if args.json:
        print(json.dumps(described, indent=2, default=str))
        return EXIT_OK
    for name, info in described.items():
        sides = " and ".join(s for s in ("source", "destination") if info[s])
        print(f"{name}: {info['summary']} ({sides})")
        print(f"  options: {', '.join(o['name'] + ('*' if o['required'] else '') for o in info['options']) or '-'}")
        print(f"  credentials: {', '.join(info['credentials']) or '-'}")
        for profile, caps in info["profiles"].items():
            marker = " (default)" if profile == info["default_profile"] else ""
            if args.name:
                print(f"  profile {profile}{marker}:")
                for key, value in caps.items():
                    print(f"    {key} = {value}")
            else:
                kinds = ", ".join(caps["item_types"])
                print(f"  profile {profile}{marker}: {kinds}; provenance stamps {'yes' if caps['supports_provenance'] else 'no'}")
    return EXIT_OK


def _with_config(args: argparse.Namespace) -> int:
    from groupmigrate.frontdoors.config import load_config
    from groupmigrate.core.migrator import Migrator
    from groupmigrate.core.state import open_state
    from groupmigrate.core.state.url import is_postgres_url

    config = load_config(args.config)
    pairs = config.read_accounts()
    if args.command == "migrate" and args.queue == "celery":
        mode = "trial" if args.trial else "delta" if args.delta else config.migration.mode
        return _migrate_on_workers(config, pairs, mode, args)
    in_database = is_postgres_url(str(config.migration.state))
    if args.command in ("migrate", "verify") and not in_database:
        _check_writable(config.migration.state, "state file")
        if args.command == "migrate" and getattr(config.migration, "report", None):
            _check_writable(config.migration.report, "report")
    on_event = None
    if args.command == "migrate" and not args.no_progress and not args.json:
        from groupmigrate.events import TqdmSink

        on_event = TqdmSink(file=sys.stderr, workers=config.migration.workers)
    # One store object for the command: migrate and verify hold its writer lock from start to
    # end (before any notification goes out), and the migrator's own use of it is re-entrant.
    store = open_state(str(config.migration.state))
    migrator = Migrator(
        source=config.source.build_source(),
        destination=config.destination.build_destination(),
        state=store,
        item_types=config.migration.item_types,
        since=config.migration.since,
        workers=config.migration.workers,
        on_event=on_event,
    )
    if args.command == "check":
        results = migrator.check(pairs)
        if args.json:
            print(json.dumps([{"account": str(r.pair), "side": r.side, "ok": r.ok, "message": r.message} for r in results], indent=2))
        else:
            for r in results:
                print(f"{'OK  ' if r.ok else 'FAIL'} {r.side:<11} {r.message}")
            ready = sum(1 for p in pairs if all(r.ok for r in results if r.pair.key == p.key))
            print(f"total: {ready} of {len(pairs)} account(s) ready on both sides, {sum(not r.ok for r in results)} problem(s)")
        return EXIT_OK if all(r.ok for r in results) else EXIT_CHECK
    if args.command == "analyze":
        analysis = migrator.analyze(pairs)
        if args.json:
            print(json.dumps(_analysis_dict(analysis), indent=2))
        else:
            print(analysis.summary())
        return EXIT_OK if all(a.error is None for a in analysis.accounts) else EXIT_CHECK
    if args.command == "verify":
        with store.writer():
            report = migrator.verify(pairs)
        print(report.to_json() if args.json else report.summary())
        if not args.json:
            t = report.totals()
            print(f"total: {len(report.accounts)} account(s); {t.get('source', 0)} items in the source, "
                  f"{t.get('migrated', 0) + t.get('present', 0)} on the destination, {t.get('missing', 0)} missing, "
                  f"{t.get('extra', 0)} extra, {t.get('duplicate', 0)} duplicated")  # fmt: skip
        return EXIT_OK if report.ok else EXIT_FAILURES
    mode = "trial" if args.trial else "delta" if args.delta else config.migration.mode
    with store.writer():
        return _migrate(migrator, pairs, mode, config, as_json=args.json)


def _worker(args: argparse.Namespace) -> int:
    import socket

    from groupmigrate.frontdoors.config import load_config

    config = load_config(args.config)
    if config.workers is None:
        from groupmigrate.errors import ConfigError

        raise ConfigError("the [workers] table (the Celery broker) is required to start a worker", key="workers")
    from groupmigrate.celery.worker import QUEUE, context, make_app

    context(args.config)  # the configuration, accounts and state store are checked before any task is taken
    app = make_app(config.workers)
    name = args.name or f"groupmigrate@{socket.gethostname()}-{os.getpid()}"
    pool = ["--pool=solo"] if args.concurrency <= 1 else ["--pool=prefork", f"--concurrency={args.concurrency}"]
    level = "INFO" if args.verbose else "WARNING"
    app.worker_main(["worker", f"--loglevel={level}", "-Q", QUEUE, "-n", name, "--without-gossip", "--without-mingle", *pool])
    return EXIT_OK


def _migrate_on_workers(config: Any, pairs: Any, mode: str, args: argparse.Namespace) -> int:
    from groupmigrate.celery.coordinator import submit, wait

    run_id = submit(config, mode, pairs)
    print(f"run {run_id}: {len(pairs)} account(s) handed to the workers", file=sys.stderr, flush=True)
    if args.no_wait:
        print(run_id)
        return EXIT_OK

    def tell(event: Any) -> None:
        from groupmigrate import events as ev

        if isinstance(event, ev.AccountFinished) and not args.no_progress:
            print(f"  {event.pair}: {event.status}" + (f" ({event.error})" if event.error else ""), file=sys.stderr, flush=True)

    report = wait(config, run_id, pairs=pairs, on_event=tell)
    if getattr(config.migration, "report", None):
        try:
            Path(config.migration.report).write_text(report.to_html(), encoding="utf-8")
        except OSError as exc:
            print(f"groupmigrate: error: the report could not be written to {config.migration.report}: {exc.strerror or exc}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_OUTPUT
    print(report.to_json() if args.json else report.summary())
    return EXIT_OK if report.ok else EXIT_FAILURES


def _migrate(migrator: Any, pairs: Any, mode: str, config: Any, as_json: bool) -> int:
    from groupmigrate.frontdoors.notify import RunInfo, notify_all

    notifiers = list(config.notifiers)
    run_info = RunInfo(
        mode=mode, item_types=tuple(config.migration.item_types), since=config.migration.since,
        source=config.source.describe(), destination=config.destination.describe(),
    )  # fmt: skip
    notify_all(notifiers, "submitted", pairs, run_info=run_info)
    notify_all(notifiers, "started", pairs, run_info=run_info)
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: object) -> None:
        print("\ngroupmigrate: stopping: no new work is started (Ctrl-C again to abort at once)...", file=sys.stderr)
        migrator.cancel()
        signal.signal(signal.SIGINT, abort)

    def abort(signum: int, frame: object) -> None:
        # Every batch is committed atomically: what was saved stays, a run again resumes from it.
        print("\ngroupmigrate: aborted; run the same command again to resume", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(EXIT_CANCELLED)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        report = migrator.run(pairs, mode=mode)
    finally:
        signal.signal(signal.SIGINT, previous)
    location = None
    unwritten: str | None = None
    if getattr(config.migration, "report", None):
        try:
            Path(config.migration.report).write_text(report.to_html(), encoding="utf-8")
            location = str(config.migration.report)
        except OSError as exc:
            unwritten = f"the report could not be written to {config.migration.report}: {exc.strerror or exc}"
    notify_all(notifiers, "finished", report, report_location=location)
    print(report.to_json() if as_json else report.summary())
    if unwritten:
        print(f"groupmigrate: error: {unwritten}; 'groupmigrate report {_shown(config.migration.state)} --html FILE' "
              "writes it again from the state file", file=sys.stderr)  # fmt: skip
        return EXIT_OUTPUT
    if report.status == "cancelled":
        print("groupmigrate: cancelled; run the same command again to resume where it stopped", file=sys.stderr)
        _leave_now_if_calls_are_still_waiting(EXIT_CANCELLED)
        return EXIT_CANCELLED
    return EXIT_OK if report.ok else EXIT_FAILURES


def _check_writable(path: Any, what: str) -> None:
    """Refuse before anything runs when ``path`` cannot be written (its folder is missing or read-only)."""
    from groupmigrate.errors import OutputError

    target = Path(path)
    folder = target.parent
    if target.exists() and target.is_dir():
        raise OutputError(f"{what} {target} is a directory", path=str(target))
    if not folder.is_dir():
        raise OutputError(f"{what} {target}: the folder {folder} does not exist", path=str(target))
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise OutputError(f"{what} {target} cannot be written (no permission)", path=str(target))


def _leave_now_if_calls_are_still_waiting(code: int) -> None:
    """A cancelled run has reported; calls still waiting on a server must not hold the process."""
    import threading

    if any(t is not threading.main_thread() and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _analysis_dict(analysis: Any) -> dict[str, Any]:
    return {
        "total_items": analysis.total_items,
        "total_bytes": analysis.total_bytes,
        "accounts": [
            {
                "source": a.pair.source, "destination": a.pair.destination, "items": a.items, "bytes": a.bytes,
                "destination_free": a.destination_free, "error": a.error,
            }
            for a in analysis.accounts
        ],
    }  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
