"""The migrator: check, analyze, run and verify a list of account pairs.

It knows only the protocols (:mod:`groupmigrate.protocols`): data flows one way, source →
mapper → sanitizer → duplicate check → destination, and each batch is committed to the
state store together with its log before the next one starts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import attrs

from groupmigrate import events as ev
from groupmigrate.accounts import AccountPair
from groupmigrate.capabilities import Capabilities
from groupmigrate.dedup import (
    DuplicateIndex, DuplicatePolicy, MatchKind, fingerprint, primary_fingerprint, strong_fingerprint,
)  # fmt: skip
from groupmigrate.errors import AccessError, GroupmigrateError, StateError, Throttled, TransientError
from groupmigrate.items import ALL_ITEM_TYPES, Folder, Item, ItemRef, ItemType
from groupmigrate.mappers import MapContext, map_item
from groupmigrate.mappers import Change
from groupmigrate.protocols import (
    CreateResult, Destination, DestinationMailbox, Source, SourceMailbox, SupportsSyncState,
)  # fmt: skip
from groupmigrate.report import Report
from groupmigrate.sanitize import Sanitizer
from groupmigrate.state import FolderState, ItemMapping, LogEntry, StateStore, open_state

__all__ = ["AccountAnalysis", "Analysis", "CheckResult", "Migrator", "TRIAL_DAYS"]

log = logging.getLogger("groupmigrate")

#: A trial run copies what arrived in this many days.
TRIAL_DAYS = 10
#: A delta run starts this long before the previous run started, so that mail arriving while
#: that run listed its folders is not missed; the id map keeps the overlap from duplicating.
DELTA_OVERLAP = dt.timedelta(minutes=10)

T = TypeVar("T")


@attrs.frozen
class CheckResult:
    """Whether one side of one account pair can be used, and why not."""

    pair: AccountPair
    side: str
    ok: bool
    message: str


@attrs.frozen
class AccountAnalysis:
    pair: AccountPair
    items: dict[str, int]
    bytes: dict[str, int]
    destination_free: int | None
    error: str | None = None


@attrs.frozen
class Analysis:
    accounts: list[AccountAnalysis]

    @property
    def total_items(self) -> int:
        return sum(sum(a.items.values()) for a in self.accounts)

    @property
    def total_bytes(self) -> int:
        return sum(sum(a.bytes.values()) for a in self.accounts)

    def summary(self) -> str:
        lines = [f"{len(self.accounts)} account(s), {self.total_items} items, {self.total_bytes / 1e6:.1f} MB"]
        for a in self.accounts:
            per_type = ", ".join(f"{t} {a.items.get(t, 0)}" for t in ALL_ITEM_TYPES if t in a.items)
            free = "unknown" if a.destination_free is None else f"{a.destination_free / 1e6:.1f} MB"
            lines.append(f"  {a.pair.source}: {per_type}; destination free: {free}" + (f"; error: {a.error}" if a.error else ""))
        return "\n".join(lines)


class Cancelled(GroupmigrateError):
    """Raised inside workers to stop at a batch boundary after :meth:`Migrator.cancel`."""


class _AdaptiveLimit:
    """Concurrency toward one server that halves when throttled and grows back on success."""

    def __init__(self, limit: int) -> None:
        self.max = max(1, limit)
        self.limit = self.max
        self._active = 0
        self._successes = 0
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        with self._cond:
            while self._active >= self.limit:
                self._cond.wait()
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def throttled(self) -> None:
        with self._cond:
            self.limit = max(1, self.limit // 2)
            self._successes = 0

    def succeeded(self) -> None:
        with self._cond:
            self._successes += 1
            if self.limit < self.max and self._successes >= 20:
                self.limit += 1
                self._successes = 0
                self._cond.notify_all()


class _ByteBudget:
    """Bytes of batches in flight across all workers.

    Each batch is bounded by bytes, but every worker holds one (with its copies through
    parsing and serializing) at the same time; one shared budget keeps the process's memory
    bounded whatever the number of workers. A batch bigger than the budget waits until it can
    have the whole budget to itself.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, n: int) -> int:
        n = min(n, self.limit)
        with self._cond:
            while self.used + n > self.limit:
                self._cond.wait()
            self.used += n
        return n

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


@attrs.define
class _FolderJob:
    pair: AccountPair
    source_folder: Folder
    destination_folder: Folder
    refs: list[ItemRef]
    folder_key: str
    #: the source's sync state after this listing, saved when the folder is done (None: no sync)
    sync_state: str | None = None


@attrs.define
class _Account:
    pair: AccountPair
    source: SourceMailbox | None = None
    destination: DestinationMailbox | None = None
    context: MapContext | None = None
    sanitizer: Sanitizer | None = None
    jobs: list[_FolderJob] = attrs.field(factory=list)
    pending: int = 0
    items_total: int = 0
    bytes_total: int = 0
    items_done: int = 0
    bytes_done: int = 0
    failed: int = 0
    error: str | None = None
    cancelled: bool = False
    lock: threading.Lock = attrs.field(factory=threading.Lock)


class _BatchOutcome:
    """What one batch did: the id map rows, log entries, counts and events to commit together."""

    def __init__(self, account: str, job: _FolderJob) -> None:
        self.account = account
        self.job = job
        self.kind = job.source_folder.kind
        self.folder = str(job.source_folder)
        self.mappings: list[ItemMapping] = []
        self.entries: list[LogEntry] = []
        self.counts: dict[tuple[str, str], int] = {}
        self.events: list[ev.Event] = []

    def _count(self, outcome: str) -> None:
        self.counts[(self.kind, outcome)] = self.counts.get((self.kind, outcome), 0) + 1

    def _log(self, kind: str, label: str | None, message: str) -> None:
        self.entries.append(LogEntry(kind, self.kind, self.folder, label, message))

    def _map(self, ref: ItemRef, destination_id: str | None, fp: str | None, outcome: str) -> None:
        self.mappings.append(ItemMapping(ref.id, destination_id, self.kind, self.job.folder_key, fp, ref.size, outcome))

    def changes(self, label: str, changes: Iterable[Change]) -> None:
        for change in changes:
            self._log(change.kind, label, change.message)

    def failed(self, ref: ItemRef, label: str, error: str) -> None:
        self._count("failed")
        self._log("failed", label, error)
        self.events.append(ev.ItemFailed(self.account, self.folder, self.kind, label, error))

    def skipped(self, ref: ItemRef, label: str, reason: str) -> None:
        self._count("skipped")
        self._log("skipped", label, reason)
        self._map(ref, None, None, "skipped")
        self.events.append(ev.ItemSkipped(self.account, self.folder, self.kind, label, reason))

    def duplicate_noted(self, label: str, reason: str) -> None:
        self._log("duplicate", label, reason)
        self.events.append(ev.DuplicateSkipped(self.account, self.folder, self.kind, label, reason))

    def duplicate(self, ref: ItemRef, destination_id: str | None, fp: str) -> None:
        self._count("duplicate")
        self._map(ref, destination_id, fp, "duplicate")

    def migrated(self, ref: ItemRef, label: str, destination_id: str | None, fp: str, warnings: Iterable[str]) -> None:
        self._count("migrated")
        self._map(ref, destination_id, fp, "migrated")
        for warning in warnings:
            self._log("changed", label, warning)
        self.events.append(ev.ItemMigrated(self.account, self.folder, self.kind, label, ref.size))


class Migrator:
    """Migrates account pairs from a source to a destination.

    Args:
        source: the server mailboxes are read from (e.g. :class:`~groupmigrate.EWSSource`).
        destination: the server they are written to.
        state: path of the SQLite state file, or a :class:`~groupmigrate.state.StateStore`.
        item_types: which item types to migrate (default: all).
        since: in ``full`` mode, only items received or changed at or after this time.
        workers: threads working on accounts and folders at the same time.
        on_event: callable receiving each :mod:`~groupmigrate.events` event.
        duplicate_policy: what to do with items already on the destination.
        address_map: X500/EX address → SMTP address, used before asking the source.
        max_throttle_wait: seconds an account may spend waiting on a throttling server in all
            before it fails.
    """

    def __init__(
        self,
        source: Source,
        destination: Destination,
        state: Any = "migration.db",
        item_types: Iterable[str] = ALL_ITEM_TYPES,
        since: dt.datetime | None = None,
        workers: int = 4,
        on_event: Callable[[ev.Event], None] | None = None,
        duplicate_policy: DuplicatePolicy = DuplicatePolicy.SKIP,
        address_map: dict[str, str] | None = None,
        max_throttle_wait: float = 600.0,
    ) -> None:
        unknown = set(item_types) - set(ALL_ITEM_TYPES)
        if unknown:
            raise ValueError(f"item_types: unknown item type(s) {sorted(unknown)}; choose from {ALL_ITEM_TYPES}")
        if workers < 1:
            raise ValueError(f"workers: must be at least 1, got {workers}")
        if since is not None and since.tzinfo is None:
            raise ValueError("since: must carry a time zone (e.g. datetime(..., tzinfo=timezone.utc))")
        self.source = source
        self.destination = destination
        self.state = open_state(state)
        self.item_types: tuple[ItemType, ...] = tuple(t for t in ALL_ITEM_TYPES if t in set(item_types))
        self.since = since
        self.workers = workers
        self.duplicate_policy = duplicate_policy
        self.address_map = dict(address_map or {})
        self.max_throttle_wait = max_throttle_wait
        self._on_event = on_event
        self._event_lock = threading.Lock()
        self._cancel = threading.Event()
        self.capabilities: Capabilities = source.capabilities.intersect(destination.capabilities)
        self._source_limit = _AdaptiveLimit(source.capabilities.max_connections)
        self._destination_limit = _AdaptiveLimit(destination.capabilities.max_connections)
        self._bytes_in_flight = _ByteBudget(2 * self.capabilities.max_batch_bytes)

    def __repr__(self) -> str:
        return f"Migrator(source={self.source!r}, destination={self.destination!r}, state={self.state!r})"

    # -- public stages -----------------------------------------------------------------------------
    def check(self, pairs: Sequence[AccountPair]) -> list[CheckResult]:
        """Try to open every account on both sides; one result per pair and side."""

        def check_pair(pair: AccountPair) -> list[CheckResult]:
            results = []
            for side, endpoint, address, auth in (
                ("source", self.source, pair.source, pair.source_auth),
                ("destination", self.destination, pair.destination, pair.destination_auth),
            ):
                try:
                    mailbox = endpoint.open_mailbox(address, auth)
                    try:
                        mailbox.check()
                    finally:
                        mailbox.close()
                    can = "read" if side == "source" else "written"
                    results.append(CheckResult(pair, side, True, f"{address}: the mailbox can be {can}"))
                except GroupmigrateError as exc:
                    results.append(CheckResult(pair, side, False, f"{address}: {exc}"))
            return results

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return [r for rs in pool.map(check_pair, pairs) for r in rs]

    def analyze(self, pairs: Sequence[AccountPair]) -> Analysis:
        """Count items and bytes per account and item type, and the destination's free space."""

        def analyze_pair(pair: AccountPair) -> AccountAnalysis:
            items: dict[str, int] = {}
            sizes: dict[str, int] = {}
            try:
                src = self.source.open_mailbox(pair.source, pair.source_auth)
                try:
                    for folder in src.folders():
                        if folder.kind not in self.item_types:
                            continue
                        for ref in src.list_items(folder, self.since):
                            items[folder.kind] = items.get(folder.kind, 0) + 1
                            sizes[folder.kind] = sizes.get(folder.kind, 0) + ref.size
                finally:
                    src.close()
                dst = self.destination.open_mailbox(pair.destination, pair.destination_auth)
                try:
                    free = dst.free_space()
                finally:
                    dst.close()
            except GroupmigrateError as exc:
                return AccountAnalysis(pair, items, sizes, None, error=str(exc))
            return AccountAnalysis(pair, items, sizes, free)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return Analysis(list(pool.map(analyze_pair, pairs)))

    def cancel(self) -> None:
        """Stop at the next batch boundary; what was committed stays, the rest waits for the next run."""
        self._cancel.set()

    def run(self, pairs: Sequence[AccountPair], mode: str = "full") -> Report:
        """Migrate ``pairs``; ``mode`` is ``full``, ``trial`` (last 10 days) or ``delta``.

        Raises:
            StateError: for ``delta`` when an account has no finished previous run.
        """
        if mode not in ("full", "trial", "delta"):
            raise ValueError(f"mode: {mode!r} is not one of full, trial, delta")
        _check_pairs(pairs)
        since_by_pair = {p.key: self._since_for(p, mode) for p in pairs}
        run_since = self.since if mode == "full" else (
            min((s for s in since_by_pair.values() if s), default=None)
        )  # fmt: skip
        run_id = self.state.start_run(mode, run_since, self.item_types)
        self._cancel.clear()
        self._emit(ev.RunStarted(run_id, mode, len(pairs)))
        accounts = {p.key: _Account(p) for p in pairs}
        try:
            self._run_accounts(run_id, accounts, since_by_pair, mode)
        finally:
            statuses = [self._finish_account(run_id, a) for a in accounts.values()]
            status = "cancelled" if self._cancel.is_set() else (
                "completed" if all(s == "completed" for s in statuses) else "completed_with_errors"
            )  # fmt: skip
            self.state.finish_run(run_id, status)
            self._emit(ev.RunFinished(run_id, status))
        return Report.from_state(self.state, run_id)

    def verify(self, pairs: Sequence[AccountPair]) -> Report:
        """Recount source and destination per folder and item type and list what is missing.

        Items the migration skipped on purpose (logged with their reason) are counted as
        ``skipped``, not ``missing``.
        """
        _check_pairs(pairs)
        run_id = self.state.start_run("verify", None, self.item_types)
        statuses = []
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for pair, status in zip(pairs, pool.map(lambda p: self._verify_pair(run_id, p), pairs)):
                statuses.append(status)
        self.state.finish_run(run_id, "completed" if all(s == "completed" for s in statuses) else "completed_with_errors")
        return Report.from_state(self.state, run_id)

    # -- events ------------------------------------------------------------------------------------
    def _emit(self, event: ev.Event) -> None:
        if self._on_event is None:
            return
        with self._event_lock:
            try:
                self._on_event(event)
            except Exception:  # a broken sink must not break a migration
                log.exception("on_event callback failed for %r", event)

    # -- planning ----------------------------------------------------------------------------------
    def _since_for(self, pair: AccountPair, mode: str) -> dt.datetime | None:
        if mode == "full":
            return self.since
        if mode == "trial":
            return dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=TRIAL_DAYS)
        previous = self.state.last_finished_account_run(pair.key)
        if previous is None:
            raise StateError(
                f"{pair}: a delta run needs a previous run of this account that finished; "
                "run a full migration first (or finish the interrupted one by running it again)"
            )
        return previous[0].started - DELTA_OVERLAP

    def _run_accounts(
        self, run_id: str, accounts: dict[str, _Account], since: dict[str, dt.datetime | None], mode: str
    ) -> None:
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="groupmigrate") as pool:
            running: dict[Future[Any], tuple[str, _Account]] = {}
            for account in accounts.values():
                fut = pool.submit(self._prepare_account, run_id, account, since[account.pair.key], mode)
                running[fut] = ("prepare", account)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    stage, account = running.pop(fut)
                    try:
                        fut.result()
                    except Cancelled:
                        account.cancelled = True
                    except GroupmigrateError as exc:
                        account.error = account.error or str(exc)
                    except Exception as exc:  # a bug or an unexpected library error: fail the account, not the run
                        log.exception("%s: unexpected error", account.pair)
                        account.error = account.error or f"unexpected error: {type(exc).__name__}: {exc}"
                    if stage == "prepare" and account.error is None and not account.cancelled:
                        account.pending = len(account.jobs)
                        for job in account.jobs:
                            running[pool.submit(self._migrate_folder, run_id, account, job)] = ("folder", account)

    def _prepare_account(self, run_id: str, account: _Account, since: dt.datetime | None, mode: str) -> None:
        pair = account.pair
        self.state.start_account(run_id, pair.key, pair.source, pair.destination)
        self._emit(ev.AccountStarted(run_id, pair.key))
        account.source = self.source.open_mailbox(pair.source, pair.source_auth)
        account.destination = self.destination.open_mailbox(pair.destination, pair.destination_auth)
        account.source.check()
        account.destination.check()
        account.context = MapContext(owner=pair.destination)
        account.sanitizer = Sanitizer(resolver=account.source.resolve_addresses, mapping=self.address_map)
        for folder in account.source.folders():
            if folder.kind not in self.item_types:
                continue
            if self._cancel.is_set():
                raise Cancelled("cancelled")
            destination_folder = self._call(account, self._destination_limit, account.destination.ensure_folder, folder)
            key = folder.folder_id or str(folder)
            previous = self.state.folder_state(pair.key, key)
            self.state.save_folder(
                FolderState(pair.key, key, folder.path, folder.kind, destination_folder.folder_id,
                            previous.watermark if previous else None, previous.sync_state if previous else None)
            )  # fmt: skip
            refs, sync_state = self._list(account, folder, since, mode, previous)
            account.jobs.append(_FolderJob(pair, folder, destination_folder, refs, key, sync_state))
            account.items_total += len(refs)
            account.bytes_total += sum(r.size for r in refs)
        self._progress(account)

    def _list(
        self, account: _Account, folder: Folder, since: dt.datetime | None, mode: str, previous: FolderState | None
    ) -> tuple[list[ItemRef], str | None]:
        """The folder's items to look at, and the sync state to keep once they are done.

        A source with sync states lists a whole folder through them, so that the next delta
        run asks only for what changed since; otherwise (and for trial runs, ``since``, or a
        sync state the server no longer accepts) items are listed by date.
        """
        source = account.source
        assert source is not None
        if isinstance(source, SupportsSyncState) and self.capabilities.supports_sync_state:
            start: str | None = None
            if mode == "delta" and previous is not None and previous.sync_state:
                start = previous.sync_state
            if start is not None or (mode == "full" and since is None):
                try:
                    result = self._call(account, self._source_limit, source.sync_items, folder, start)
                except (AccessError, TransientError):
                    raise
                except GroupmigrateError as exc:
                    log.info("%s: sync state of %s not usable (%s); listing by date", account.pair, folder, exc)
                else:
                    unique = {ref.id: ref for ref in result.refs}
                    return list(unique.values()), result.state
        refs = self._call(account, self._source_limit, lambda: list(source.list_items(folder, since)))
        return refs, None

    # -- the item pipeline -------------------------------------------------------------------------
    def _migrate_folder(self, run_id: str, account: _Account, job: _FolderJob) -> None:
        pair, folder = account.pair, job.source_folder
        assert account.source is not None and account.destination is not None
        self._emit(ev.FolderStarted(pair.key, str(folder), folder.kind, len(job.refs)))
        mapped = self.state.mapped_source_ids(pair.key, job.folder_key)
        todo = [r for r in job.refs if r.id not in mapped]
        already = len(job.refs) - len(todo)
        if already:
            self.state.commit_batch(
                run_id, pair.key, [],
                [LogEntry("duplicate", folder.kind, str(folder), None, f"{already} item(s) already migrated by an earlier run")],
                {(folder.kind, "duplicate"): already},
            )  # fmt: skip
            self._advance(account, already, sum(r.size for r in job.refs if r.id in mapped))
        if not todo:
            self._finish_folder(account, job)
            return
        index = DuplicateIndex()
        for existing in self._call(account, self._destination_limit, lambda: list(account.destination.existing(job.destination_folder, folder.kind))):  # type: ignore[union-attr]
            index.add(fingerprint(existing), item_id=existing.source_id)
        caps = self.capabilities
        for batch in _batches(todo, caps.max_batch_items, caps.max_batch_bytes):
            if self._cancel.is_set():
                raise Cancelled("cancelled")
            held = self._bytes_in_flight.acquire(sum(r.size for r in batch))
            try:
                self._migrate_batch(run_id, account, job, batch, index)
            finally:
                self._bytes_in_flight.release(held)
        self._finish_folder(account, job)

    def _migrate_batch(self, run_id: str, account: _Account, job: _FolderJob, batch: list[ItemRef], index: DuplicateIndex) -> None:
        """One batch through the pipeline: fetch → map → sanitize → duplicate check → create → commit."""
        source, destination = account.source, account.destination
        assert source is not None and destination is not None
        assert account.context is not None and account.sanitizer is not None
        folder = job.source_folder
        out = _BatchOutcome(account.pair.key, job)
        items = self._call(account, self._source_limit, lambda: list(source.fetch(folder, batch)))
        by_id = {item.source_id: item for item in items}

        mapped: list[tuple[ItemRef, Item]] = []
        for ref in batch:
            item = by_id.get(ref.id)
            if item is None:
                out.failed(ref, ref.id, "the source could not return this item")
                continue
            result = map_item(item, self.capabilities, account.context)
            out.changes(_label(item), result.changes)
            if result.item is None:
                out.skipped(ref, _label(item), result.skip_reason or "not supported by the destination")
            else:
                mapped.append((ref, result.item))

        account.sanitizer.prefetch((item for _, item in mapped), self.capabilities)
        to_create: list[tuple[ItemRef, Item, str]] = []
        for ref, item in mapped:
            clean, changes = account.sanitizer.sanitize(item, self.capabilities)
            out.changes(_label(item), changes)
            strong = strong_fingerprint(clean)
            match = index.check(strong, source_id=ref.id)
            if match.report(self.duplicate_policy):
                reason = (
                    "already on the destination" if match.kind is MatchKind.EXISTING
                    else "the same item appears more than once in the source"
                )  # fmt: skip
                if match.create(self.duplicate_policy):
                    reason += "; copied anyway (duplicate policy: report)"
                out.duplicate_noted(_label(clean), reason)
            if match.create(self.duplicate_policy):
                to_create.append((ref, clean, strong))
            else:
                out.duplicate(ref, match.destination_id, match.fingerprint)

        for (ref, item, strong), res in zip(to_create, self._create(account, job, [i for _, i, _ in to_create])):
            if res.ok:
                out.migrated(ref, _label(item), res.item_id, primary_fingerprint(strong), res.warnings)
            else:
                index.forget_source(strong)
                out.failed(ref, _label(item), res.error or "rejected by the destination")
        self.state.commit_batch(run_id, account.pair.key, out.mappings, out.entries, out.counts)
        for event in out.events:
            self._emit(event)
        with account.lock:
            account.failed += out.counts.get((folder.kind, "failed"), 0)
        self._advance(account, len(batch), sum(r.size for r in batch))

    def _create(self, account: _Account, job: _FolderJob, items: list[Item]) -> list[CreateResult]:
        """Create items; those refused for a transient reason are tried again a few times."""
        destination = account.destination
        assert destination is not None
        results: list[CreateResult | None] = [None] * len(items)
        todo = list(range(len(items)))
        for attempt in range(4):
            if not todo:
                break
            if attempt:
                if self._cancel.wait(0.2 * 2**attempt):
                    raise Cancelled("cancelled")
            batch = [items[i] for i in todo]
            answers = self._call(account, self._destination_limit, lambda: destination.create_items(job.destination_folder, batch))
            retry = []
            for i, res in zip(todo, answers):
                results[i] = res
                if not res.ok and res.transient:
                    retry.append(i)
            todo = retry
        return [r if r is not None else CreateResult(ok=False, error="no answer from the destination") for r in results]

    def _call(self, account: _Account, limit: _AdaptiveLimit, fn: Callable[..., T], *args: Any) -> T:
        """Call the backend, waiting out throttling and retrying transient failures within bounds."""
        waited = 0.0
        attempt = 0
        while True:
            try:
                with limit:
                    result = fn(*args)
                limit.succeeded()
                return result
            except Throttled as exc:
                limit.throttled()
                delay = exc.retry_after if exc.retry_after is not None else min(60.0, 2.0**attempt)
            except TransientError as exc:
                attempt += 1
                if attempt > 5:
                    raise
                delay = min(30.0, 0.5 * 2.0**attempt)
                log.info("%s: transient error, retry %d in %.1f s: %s", account.pair, attempt, delay, exc)
            if waited + delay > self.max_throttle_wait:
                raise Throttled(f"{account.pair}: the server kept refusing requests for {waited:.0f} s", delay)
            if self._cancel.wait(delay):
                raise Cancelled("cancelled")
            waited += delay

    def _advance(self, account: _Account, items: int, size: int) -> None:
        with account.lock:
            account.items_done += items
            account.bytes_done += size
        self._progress(account)

    def _progress(self, account: _Account) -> None:
        self._emit(ev.Progress(account.pair.key, account.items_done, account.items_total, account.bytes_done, account.bytes_total))

    def _finish_folder(self, account: _Account, job: _FolderJob) -> None:
        previous = self.state.folder_state(account.pair.key, job.folder_key)
        if previous is not None:
            done = attrs.evolve(previous, watermark=dt.datetime.now(dt.timezone.utc))
            if job.sync_state is not None:
                done = attrs.evolve(done, sync_state=job.sync_state)
            self.state.save_folder(done)

    def _finish_account(self, run_id: str, account: _Account) -> str:
        if account.error is not None:
            status = "failed"
        elif account.cancelled or self._cancel.is_set():
            status = "cancelled"
        elif account.failed:
            status = "completed_with_errors"
        else:
            status = "completed"
        for mailbox in (account.source, account.destination):
            if mailbox is not None:
                try:
                    mailbox.close()
                except GroupmigrateError:
                    pass
        summary = [LogEntry("notice", None, None, None, c.message) for c in (account.context.summary() if account.context else [])]
        if account.error is not None:
            summary.append(LogEntry("error", None, None, None, account.error))
        if summary:
            self.state.commit_batch(run_id, account.pair.key, [], summary, {})
        self.state.finish_account(run_id, account.pair.key, status, account.error)
        self._emit(ev.AccountFinished(run_id, account.pair.key, status, account.error))
        return status

    # -- verification ------------------------------------------------------------------------------
    def _verify_pair(self, run_id: str, pair: AccountPair) -> str:
        self.state.start_account(run_id, pair.key, pair.source, pair.destination)
        try:
            src = self.source.open_mailbox(pair.source, pair.source_auth)
            dst = self.destination.open_mailbox(pair.destination, pair.destination_auth)
        except GroupmigrateError as exc:
            self.state.finish_account(run_id, pair.key, "failed", str(exc))
            return "failed"
        try:
            for folder in src.folders():
                if folder.kind not in self.item_types:
                    continue
                self._verify_folder(run_id, pair, src, dst, folder)
        except GroupmigrateError as exc:
            self.state.finish_account(run_id, pair.key, "failed", str(exc))
            return "failed"
        finally:
            src.close()
            dst.close()
        counts = self.state.counts(run_id, pair.key)
        bad = sum(c.get("missing", 0) + c.get("duplicate", 0) for c in counts.values())
        status = "completed" if bad == 0 else "completed_with_errors"
        self.state.finish_account(run_id, pair.key, status)
        return status

    def _verify_folder(
        self, run_id: str, pair: AccountPair, src: SourceMailbox, dst: DestinationMailbox, folder: Folder
    ) -> None:
        key = folder.folder_id or str(folder)
        kind, name = folder.kind, str(folder)
        refs = list(src.list_items(folder))
        mapping = {m.source_id: m for m in self.state.mappings(pair.key, key)}
        destination_folder = dst.ensure_folder(folder) if _folder_exists(dst, folder) else None
        present: dict[str, int] = {}
        destination_count = 0
        if destination_folder is not None:
            for item in dst.existing(destination_folder, kind):
                destination_count += 1
                fp = fingerprint(item)
                present[fp] = present.get(fp, 0) + 1
        entries: list[LogEntry] = []
        counts: dict[tuple[str, str], int] = {(kind, "source"): len(refs), (kind, "destination"): destination_count}
        unmapped: list[ItemRef] = []
        for ref in refs:
            m = mapping.get(ref.id)
            if m is not None and m.outcome == "skipped":
                counts[(kind, "skipped")] = counts.get((kind, "skipped"), 0) + 1
            elif m is None:
                unmapped.append(ref)
            elif m.fingerprint is not None and m.fingerprint not in present:
                counts[(kind, "missing")] = counts.get((kind, "missing"), 0) + 1
                entries.append(LogEntry("missing", kind, name, m.fingerprint, "migrated earlier but no longer on the destination"))
        for batch in _batches(unmapped, 50, 16 * 1024 * 1024):
            for item in src.fetch(folder, batch):
                fp = fingerprint(item)
                if fp in present:
                    continue  # on the destination already (put there by another tool or an earlier state file)
                counts[(kind, "missing")] = counts.get((kind, "missing"), 0) + 1
                entries.append(LogEntry("missing", kind, name, _label(item), f"not on the destination (fingerprint {fp})"))
        duplicates = sum(n - 1 for n in present.values() if n > 1)
        if duplicates:
            counts[(kind, "duplicate")] = duplicates
            entries.append(LogEntry("duplicate", kind, name, None, f"{duplicates} item(s) are on the destination more than once"))
        self.state.commit_batch(run_id, pair.key, [], entries, counts)


def _folder_exists(dst: DestinationMailbox, folder: Folder) -> bool:
    return any(
        (folder.role is not None and f.role == folder.role) or f.path == folder.path for f in dst.folders()
    )


def _label(item: Item) -> str:
    """A short human description of an item for logs (never its body)."""
    subject = getattr(item, "subject", None) or getattr(item, "display_name", None)
    ident = getattr(item, "message_id", None) or item.source_id
    if subject and ident:
        return f"{subject!s} <{ident}>" if not str(ident).startswith("<") else f"{subject!s} {ident}"
    return str(subject or ident or type(item).__name__)


def _batches(refs: Sequence[ItemRef], max_items: int, max_bytes: int) -> Iterator[list[ItemRef]]:
    """Split refs into batches of at most ``max_items`` items and ``max_bytes`` bytes
    (an item bigger than ``max_bytes`` travels alone)."""
    batch: list[ItemRef] = []
    size = 0
    for ref in refs:
        if batch and (len(batch) >= max_items or size + ref.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(ref)
        size += ref.size
    if batch:
        yield batch


def _check_pairs(pairs: Sequence[AccountPair]) -> None:
    seen: set[str] = set()
    for pair in pairs:
        if pair.key in seen:
            raise ValueError(f"pairs: {pair} appears twice")
        seen.add(pair.key)
