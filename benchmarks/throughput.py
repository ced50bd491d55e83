"""Throughput: one generated mailbox copied three ways between two EWS test servers on loopback.

    .venv/bin/python benchmarks/throughput.py [--items 2000] [--workers 4] [--profile migrator]

The default of 2,000 items (about 430 MB) keeps a run near five minutes on a 2-core machine,
where the two test servers, not the client, set the pace; ``--items 5000`` is the full-size run.

Variants, each into a fresh destination mailbox on the same two servers:

a. ``floor``    - exchangelib with groupmigrate's connection (large-chunk response parsing) doing
                  bulk GetItem (<= 100 ids with MimeContent) + bulk CreateItem of the same MIME, in
                  batches bounded like the Migrator's, no migration logic (see :func:`raw_floor`);
b. ``migrator`` - groupmigrate's Migrator, EWSSource -> EWSDestination, a fresh state file;
c. ``naive``    - exchangelib as shipped, one GetItem and one CreateItem per item, on a sample
                  of the mailbox stratified by size (``--naive-items``, ``--naive-seconds``),
                  whose rate stands for the whole mailbox.

The servers run in their own processes; client CPU is getrusage(RUSAGE_SELF) of this process.
Results: a table on stdout and benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ADMIN,
    ADMIN_PASSWORD,
    CLIENT_ID,
    CLIENT_SECRET,
    DESTINATION_PROFILE,
    MB,
    SOURCE_PROFILE,
    TENANT,
    USER_PASSWORD,
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

SOURCE = "alice@contoso.com"

#: Folder classes of the item types migrated.
FOLDER_CLASSES = ("IPF.Note", "IPF.Contact", "IPF.Appointment", "IPF.Task", "IPF.StickyNote")

# --------------------------------------------------------------------------------------------
# Reference copies (exchangelib only)
# --------------------------------------------------------------------------------------------


def _kind(folder_class: str | None) -> str | None:
    if not folder_class:
        return None
    for cls in FOLDER_CLASSES:
        if folder_class == cls or folder_class.startswith(cls + "."):
            return cls
    return None


def _folders(account: Any) -> dict[tuple[str, ...], Any]:
    """Folders under the top of the mailbox by path, as exchangelib folder objects."""
    top = account.msg_folder_root
    out = {}
    for folder in top.walk():
        out[tuple(folder.absolute[len(top.absolute) :].strip("/").split("/"))] = folder
    return out


class _Folders:
    """Destination folders by path, created on first use."""

    def __init__(self, account: Any) -> None:
        self.account = account
        self.by_path = _folders(account)
        self.lock = threading.Lock()

    def get(self, path: tuple[str, ...], folder_class: str) -> Any:
        with self.lock:
            return self._get(path, folder_class)

    def _get(self, path: tuple[str, ...], folder_class: str) -> Any:
        from exchangelib import Folder

        if path in self.by_path:
            return self.by_path[path]
        parent = self.account.msg_folder_root if len(path) == 1 else self._get(path[:-1], folder_class)
        folder = Folder(parent=parent, name=path[-1], folder_class=folder_class)
        folder.save()
        self.by_path[path] = folder
        return folder


def _batches(refs: list[Any], max_items: int, max_bytes: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    size = 0
    for ref in refs:
        if batch and (len(batch) >= max_items or size + (ref.size or 0) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(ref)
        size += ref.size or 0
    if batch:
        yield batch


def _list_refs(folder: Any) -> list[Any]:
    qs = folder.all().only("id", "changekey", "size")
    qs.page_size = 1000
    return list(qs)


#: The fields the reference copies fetch and write per folder class (mail: MIME + read flag).
COPY_FIELDS = {
    "IPF.Note": ["mime_content", "is_read"],
    "IPF.StickyNote": ["mime_content", "is_read"],
    "IPF.Contact": ["display_name", "given_name", "middle_name", "surname", "nickname", "company_name", "department",
                    "job_title", "email_addresses", "phone_numbers", "physical_addresses", "birthday",
                    "business_homepage", "body", "categories"],
    "IPF.Appointment": ["subject", "body", "start", "end", "is_all_day", "location", "legacy_free_busy_status",
                        "required_attendees", "optional_attendees", "uid",
                        "reminder_minutes_before_start", "categories", "sensitivity"],
    "IPF.Task": ["subject", "body", "due_date", "start_date", "status", "percent_complete", "categories", "importance"],
}  # fmt: skip


def _copies(fetched: list[Any], kind: str, dst: Any) -> list[Any]:
    """exchangelib items to create on ``dst``: mail as MIME (+ read flag), other types as a new
    item with the fields of :data:`COPY_FIELDS` (no attachments: contact photos and event
    files would need GetAttachment first)."""
    from exchangelib import Message

    out = []
    for item in fetched:
        if isinstance(item, Exception):
            continue
        if COPY_FIELDS[kind][0] == "mime_content":
            out.append(Message(account=dst, mime_content=item.mime_content, is_read=item.is_read))
        else:
            values = {name: getattr(item, name, None) for name in COPY_FIELDS[kind]}
            out.append(type(item)(account=dst, **{k: v for k, v in values.items() if v is not None}))
    return out


def batch_limits() -> tuple[int, int]:
    """(items, bytes) per batch the Migrator uses on the benchmark route."""
    from groupmigrate.backends.ews.profiles import get_profile

    caps = get_profile(SOURCE_PROFILE).capabilities.intersect(get_profile(DESTINATION_PROFILE).capabilities)
    return caps.max_batch_items, caps.max_batch_bytes


def raw_floor(servers: Servers, source: str, destination: str, workers: int) -> dict[str, Any]:
    """Bulk fetch + bulk create with no migration logic, on groupmigrate's connections
    (large-chunk parsing, same auth and impersonation as the Migrator), ``workers`` threads
    over folders. Non-mail items are fetched and created with the fields of :data:`COPY_FIELDS`."""
    from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
    from groupmigrate.backends.ews.connection import Connection, Settings
    from groupmigrate.backends.ews.profiles import get_profile

    src_auth = OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=servers.source.token_url(TENANT))
    dst_auth = BasicAuth(ADMIN, ADMIN_PASSWORD)
    src_conn = Connection(Settings(url=servers.source.url, auth=src_auth, profile=get_profile(SOURCE_PROFILE),
                                   read_only=True, max_connections=workers), src_auth, servers.source.url)  # fmt: skip
    dst_conn = Connection(Settings(url=servers.destination.url, auth=dst_auth, profile=get_profile(DESTINATION_PROFILE),
                                   max_connections=workers), dst_auth, servers.destination.url)  # fmt: skip
    src = src_conn.account(source, impersonation=True)
    dst = dst_conn.account(destination, impersonation=True)
    max_items, max_bytes = batch_limits()
    totals = {"items": 0, "bytes": 0, "failed": 0}
    lock = threading.Lock()
    try:
        targets = _Folders(dst)

        def work(path: tuple[str, ...], folder: Any) -> None:
            kind = _kind(folder.folder_class)
            refs = _list_refs(folder)
            if not refs:
                return
            target = targets.get(path, kind)
            only = COPY_FIELDS[kind]
            for batch in _batches(refs, max_items, max_bytes):
                fetched = list(src.fetch(ids=batch, only_fields=only, chunk_size=len(batch)))
                created = dst.bulk_create(folder=target, items=_copies(fetched, kind, dst), chunk_size=len(batch))
                failed = sum(isinstance(x, Exception) for x in fetched) + sum(isinstance(x, Exception) for x in created)
                with lock:
                    totals["items"] += len(batch) - failed
                    totals["bytes"] += sum(r.size or 0 for r in batch)
                    totals["failed"] += failed

        jobs = [(p, f) for p, f in _folders(src).items() if _kind(f.folder_class) and (f.total_count or 0) > 0]
        jobs.sort(key=lambda j: -(j[1].total_count or 0))  # biggest folders first
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for fut in [pool.submit(work, p, f) for p, f in jobs]:
                fut.result()
        return totals
    finally:
        src_conn.close()
        dst_conn.close()


def naive_copy(servers: Servers, source: str, destination: str, max_items: int, max_seconds: float,
               progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """One GetItem and one CreateItem per item with exchangelib as shipped (its own protocol and
    sessions, Basic auth as the user, default retry policy, the WorkMail version pinned as its
    documentation requires). Copies a sample of the mailbox stratified by size (every k-th item
    in size order, then shuffled so that any prefix is representative) until ``max_items``
    items or ``max_seconds``; listing every id is part of the measured time."""
    from exchangelib import BASIC, DELEGATE, UTC, Account, Configuration, Credentials
    from exchangelib.version import Build, Version

    from groupmigrate.backends.ews.profiles import get_profile

    started = time.perf_counter()
    src = Account(source, config=Configuration(service_endpoint=servers.source.url, auth_type=BASIC,
                                               credentials=Credentials(source, USER_PASSWORD)),
                  autodiscover=False, access_type=DELEGATE, default_timezone=UTC)  # fmt: skip
    pin = get_profile(DESTINATION_PROFILE)
    version = Version(build=Build(*pin.pinned_build), api_version=pin.pinned_version) if pin.pinned_version else None
    dst = Account(destination, config=Configuration(service_endpoint=servers.destination.url, auth_type=BASIC,
                                                    credentials=Credentials(destination, USER_PASSWORD), version=version),
                  autodiscover=False, access_type=DELEGATE, default_timezone=UTC)  # fmt: skip
    try:
        refs = []
        for path, folder in _folders(src).items():
            if _kind(folder.folder_class) and (folder.total_count or 0) > 0:
                refs.extend((path, folder, r) for r in _list_refs(folder))
        step = max(1, -(-len(refs) // max_items))
        # every k-th item by size, so that the sample has the mailbox's size distribution
        sample = sorted(refs, key=lambda r: (r[2].size or 0, r[2].id))[step // 2 :: step]
        random.Random(0).shuffle(sample)
        done = {"items": 0, "bytes": 0, "failed": 0, "listed": len(refs), "sample": len(sample), "step": step}
        targets = _Folders(dst)
        for path, folder, ref in sample:
            if time.perf_counter() - started > max_seconds:
                break
            kind = _kind(folder.folder_class)
            target = targets.get(path, kind)
            only = COPY_FIELDS[kind]
            [item] = list(src.fetch(ids=[ref], only_fields=only))
            copies = _copies([item], kind, dst)
            if not copies:
                done["failed"] += 1
                continue
            copies[0].folder = target
            try:
                copies[0].save()
            except Exception:  # noqa: BLE001 - counted; the loop goes on
                done["failed"] += 1
                continue
            done["items"] += 1
            done["bytes"] += ref.size or 0
            if progress is not None:
                progress(done["items"])
        return done
    finally:
        src.protocol.close()
        dst.protocol.close()


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def _row(name: str, items: int, size: int, m: dict[str, Any], note: str = "") -> dict[str, Any]:
    wall, cpu = m["wall_s"], m["client_cpu_s"]
    return {
        "variant": name,
        "items": items,
        "bytes": size,
        **m,
        "items_per_s": items / wall if wall else None,
        "mb_per_s": size / MB / wall if wall else None,
        "client_cpu_s_per_gb": cpu / (size / 1e9) if size else None,
        "client_cpu_ms_per_item": 1000 * cpu / items if items else None,
        "note": note,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=2000, help="items in the generated mailbox (default 2000)")
    ap.add_argument("--mix", default="mail-heavy", help="generator mix (default mail-heavy)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=4, help="Migrator workers = floor threads (default 4)")
    ap.add_argument("--variants", default="floor,migrator,naive")
    ap.add_argument("--naive-items", type=int, default=200, help="sample size of the naive loop (default 200)")
    ap.add_argument("--naive-seconds", type=float, default=45, help="time budget of the naive loop (default 45)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run floor and migrator this many times, alternating; ratios use the fastest of each")
    ap.add_argument("--kinds", default=None, help="seed only these item types (comma separated)")
    ap.add_argument("--profile", default=None, help="cProfile this variant's client threads into results/")
    ap.add_argument("--what-if", action="append", default=None, metavar="FIX",
                    help="apply a proposed fix to this process first (see _common.WHAT_IFS), e.g. mmap-threshold")
    ap.add_argument("--name", default="throughput", help="results file name (default throughput)")
    ap.add_argument("--pin", default=None, metavar="CLIENT:SERVERS",
                    help="pin the client and the two servers to CPUs, e.g. 0:1 (taskset-like)")
    args = ap.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    kinds = tuple(args.kinds.split(",")) if args.kinds else None

    warm_up()
    apply_what_ifs(args.what_if)
    rows: list[dict[str, Any]] = []
    with Servers() as servers, tempfile.TemporaryDirectory(prefix="gm-bench-") as tmp:
        log(f"seeding {args.items} items ({args.mix}, seed {args.seed}) into {SOURCE} ...")
        seeded = servers.add_source_mailbox(SOURCE, args.seed, args.items, args.mix, kinds=kinds)
        pinned = servers.pin(args.pin)
        if pinned:
            log(f"pinned: {pinned}")
        stats = seeded["stats"]
        log(f"seeded {stats['items']} items, {stats['bytes'] / MB:.0f} MB in {seeded['seconds']:.0f} s: {seeded['counts']}")

        runs = [v for r in range(args.repeat) for v in variants if r == 0 or v != "naive"]
        for n_run, variant in enumerate(runs):
            destination = f"{variant}{n_run}@example.org"
            servers.add_destination_mailbox(destination)
            log(f"{variant}: copying into {destination} ...")
            servers.source.clear_operations()
            servers.destination.clear_operations()
            prof = ThreadProfiler() if args.profile == variant else None
            with Meter(servers) as meter:
                if prof:
                    prof.__enter__()
                try:
                    if variant == "floor":
                        out = raw_floor(servers, SOURCE, destination, args.workers)
                        items, size, note = out["items"], out["bytes"], f"{out['failed']} failed"
                    elif variant == "migrator":
                        report = run_migrator(servers, [(SOURCE, destination)], str(Path(tmp) / f"m{n_run}.db"),
                                              args.workers)  # fmt: skip
                        counts = report_counts(report)
                        items, size = counts.get("migrated", 0), stats["bytes"]
                        note = ", ".join(f"{k} {v}" for k, v in counts.items() if v and k != "migrated")
                        if counts.get("migrated", 0) + counts.get("skipped", 0) != stats["items"]:
                            size = int(stats["bytes"] * counts.get("migrated", 0) / max(1, stats["items"]))
                    elif variant == "naive":
                        out = naive_copy(servers, SOURCE, destination, args.naive_items, args.naive_seconds)
                        items, size = out["items"], out["bytes"]
                        note = f"sample of {out['items']}/{out['listed']} (every {out['step']}th by size), {out['failed']} failed"
                    else:
                        raise SystemExit(f"unknown variant {variant!r}")
                finally:
                    if prof:
                        prof.__exit__()
            if prof:
                prof.dump(f"{args.name}-{variant}")
            landed = servers.destination.mailbox_stats(destination)
            row = _row(variant, items, size, meter.result, note)
            row["destination_items"] = landed["items"]
            row["operations"] = {"source": servers.source.operation_counts(),
                                 "destination": servers.destination.operation_counts()}
            row["requests"] = sum(row["operations"]["source"].values()) + sum(row["operations"]["destination"].values())
            rows.append(row)
            log(f"{variant}: {items} items, {size / MB:.0f} MB in {row['wall_s']:.1f} s; "
                f"client CPU {row['client_cpu_s']:.1f} s; destination holds {landed['items']} items")

    by: dict[str, dict[str, Any]] = {}
    for r in rows:  # the fastest run of each variant speaks for it (other loads only slow a run down)
        if r["variant"] not in by or r["wall_s"] < by[r["variant"]]["wall_s"]:
            by[r["variant"]] = r
    ratios = {}
    if "migrator" in by and "floor" in by:
        ratios["migrator_vs_floor_items_per_s"] = by["migrator"]["items_per_s"] / by["floor"]["items_per_s"]
        ratios["migrator_vs_floor_mb_per_s"] = by["migrator"]["mb_per_s"] / by["floor"]["mb_per_s"]
    if "migrator" in by and "naive" in by and by["naive"]["items_per_s"]:
        ratios["migrator_vs_naive_items_per_s"] = by["migrator"]["items_per_s"] / by["naive"]["items_per_s"]
        ratios["migrator_vs_naive_mb_per_s"] = by["migrator"]["mb_per_s"] / by["naive"]["mb_per_s"]
    print()
    print_table(
        ["variant", "items", "MB", "requests", "wall s", "items/s", "MB/s", "client CPU s", "CPU s/GB", "ms CPU/item",
         "src srv CPU s", "dst srv CPU s", "peak RSS MiB", "notes"],
        [[r["variant"], r["items"], r["bytes"] / MB, r["requests"], r["wall_s"], r["items_per_s"], r["mb_per_s"], r["client_cpu_s"],
          r["client_cpu_s_per_gb"], r["client_cpu_ms_per_item"], r["source_server_cpu_s"],
          r["destination_server_cpu_s"], mib(r["peak_rss_bytes"]), r["note"]] for r in rows],
        title=f"throughput: {stats['items']} items, {stats['bytes'] / MB:.0f} MB ({args.mix}), workers {args.workers}",
    )  # fmt: skip
    if ratios:
        print()
        for key, value in ratios.items():
            print(f"{key:34s} {value:8.2f}")
    targets = {
        "migrator >= 1.5 x floor (items/s)": ratios.get("migrator_vs_floor_items_per_s", 0) >= 1.5 if "migrator_vs_floor_items_per_s" in ratios else None,
        "migrator >= 20 x naive (items/s)": ratios.get("migrator_vs_naive_items_per_s", 0) >= 20 if "migrator_vs_naive_items_per_s" in ratios else None,
        "migrator client CPU <= 15 s/GB": by["migrator"]["client_cpu_s_per_gb"] <= 15 if "migrator" in by else None,
    }  # fmt: skip
    print()
    for key, met in targets.items():
        print(f"target {key:40s} {'-' if met is None else ('met' if met else 'MISSED')}")
    path = write_json(args.name, {
        "parameters": vars(args),
        "mailbox": {"items": stats["items"], "bytes": stats["bytes"], "counts": seeded["counts"],
                    "mime_bytes": seeded["mime_bytes"], "folders": stats["folders"]},
        "variants": rows, "best": {k: v["wall_s"] for k, v in by.items()}, "ratios": ratios, "targets": targets,
    })  # fmt: skip
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
