"""The migrator: check, analyze, run and verify a list of account pairs.

It wires the engine together (:mod:`groupmigrate.core`): the planner decides per folder
what is to be done, the pipeline maps and sanitizes each item, the executor creates items
exactly once (it alone retries and reconciles), and each batch is committed to the state
store with its log before the next one starts. It knows only the protocols
(:mod:`groupmigrate.protocols`) and capability data, never a concrete backend.

Work overlaps where it does not depend on itself, so that a server far away is kept busy:
a folder is copied as soon as it is listed and planned while the account's next folders are
listed, and a folder's next batch is fetched while the current one is written (when the
shared budget of bytes in flight allows it). Calls to each server stay within its
connection limit (the executor's).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import attrs

from groupmigrate import events as ev
from groupmigrate.accounts import AccountPair
from groupmigrate.capabilities import Capabilities
from groupmigrate.core.dedup import DuplicatePolicy, content_fingerprint
from groupmigrate.core import planner
from groupmigrate.core.combined import route_capabilities
from groupmigrate.core.executor import Cancelled, Executor
from groupmigrate.core.limits import SharedLimit, server_identity
from groupmigrate.core.pipeline import BatchOutcome, Collapse, Prepared, batches, exact_key, prepare
from groupmigrate.core.planner import (
    TRIAL_DAYS, AccountAnalysis, AccountWork, Analysis, CheckResult, FolderJob, FolderPlan,
)  # fmt: skip
from groupmigrate.core.verifier import verify_account
from groupmigrate.errors import GroupmigrateError
from groupmigrate.items import ALL_ITEM_TYPES, Item, ItemRef, ItemType
from groupmigrate.protocols import Destination, Source, SupportsReadNotes, Unreadable
from groupmigrate.core.report import Report
from groupmigrate.core.state import LogEntry, open_state

__all__ = ["AccountAnalysis", "Analysis", "CheckResult", "Migrator", "TRIAL_DAYS"]

log = logging.getLogger("groupmigrate")

#: Seconds a cancelled run waits for calls in flight before it reports.
CANCEL_GRACE = 1.5


class Migrator:
    """Migrates account pairs from a source to a destination.

    Args:
        source: the server mailboxes are read from (e.g. :class:`~groupmigrate.EWSSource`).
        destination: the server they are written to.
        state: path of the SQLite state file, or a :class:`~groupmigrate.core.state.StateStore`.
        item_types: which item types to migrate (default: all).
        since: in ``full`` mode, only items received or changed at or after this time.
        workers: threads working on accounts and folders at the same time.
        on_event: callable receiving each :mod:`~groupmigrate.events` event.
        duplicate_policy: what to do when the source holds the same item more than once
            (default: copy each, so the destination mirrors the source).
        address_map: X500/EX address → SMTP address, used before asking the source.
        max_throttle_wait: seconds one call may spend waiting on a throttling server before
            the account fails.
        shared_limits: limits shared with every other worker migrating against the same
            servers (e.g. :class:`groupmigrate.celery.redis_limits.RedisLimits`): each call to
            a server also holds a slot of that server's shared scope, and throttling pauses
            every worker. None: this migrator's own connection limits only.
    """

    _fetching: ThreadPoolExecutor  # a run's pool fetching batches ahead

    def __init__(
        self,
        source: Source,
        destination: Destination,
        state: Any = "migration.db",
        item_types: Iterable[str] = ALL_ITEM_TYPES,
        since: dt.datetime | None = None,
        workers: int = 4,
        on_event: Callable[[ev.Event], None] | None = None,
        duplicate_policy: DuplicatePolicy = DuplicatePolicy.COPY,
        address_map: dict[str, str] | None = None,
        max_throttle_wait: float = 600.0,
        shared_limits: SharedLimit | None = None,
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
        self.shared_limits = shared_limits
        #: the servers' names in the shared limits' keys (told now: a bad endpoint fails here)
        self._servers = None if shared_limits is None else (server_identity(source), server_identity(destination))
        self.state = open_state(state)
        self.item_types: tuple[ItemType, ...] = tuple(t for t in ALL_ITEM_TYPES if t in set(item_types))
        self.since = since
        self.workers = workers
        self.duplicate_policy = duplicate_policy
        self.address_map = dict(address_map or {})
        self.max_throttle_wait = max_throttle_wait
        self._on_event = on_event
        self._event_lock = threading.Lock()
        self._sink_failures = 0
        self._cancelled_at: float | None = None
        self.capabilities: Capabilities = source.capabilities.intersect(destination.capabilities)
        #: per item type: what holds on the route (differs by type when a side is a combination)
        self.route: dict[ItemType, Capabilities] = route_capabilities(source, destination)
        self._fresh_run()

    def _fresh_run(self) -> None:
        """A cancel flag and an executor of this run's own: work a cancelled earlier run left
        behind keeps the old, set flag and stops; it never joins the new run."""
        self._cancel = threading.Event()
        self._cancelled_at = None
        self.executor = Executor(
            source_connections=self.source.capabilities.max_connections,
            destination_connections=self.destination.capabilities.max_connections,
            batch_bytes=self.capabilities.max_batch_bytes,
            max_throttle_wait=self.max_throttle_wait,
            cancel=self._cancel,
            shared=self.shared_limits,
            servers=self._servers,
        )

    def __repr__(self) -> str:
        return f"Migrator(source={self.source!r}, destination={self.destination!r}, state={self.state!r})"

    # -- public stages -----------------------------------------------------------------------------
    def check(self, pairs: Iterable[AccountPair]) -> list[CheckResult]:
        """Try to open every account on both sides; one result per pair and side."""
        return planner.check(self.source, self.destination, _pairs(pairs), self.workers)

    def analyze(self, pairs: Iterable[AccountPair]) -> Analysis:
        """Count items and bytes per account and item type, and the destination's free space."""
        return planner.analyze(
            self.source, self.destination, _pairs(pairs), workers=self.workers, item_types=self.item_types,
            since=self.since, caps=self.route,
        )  # fmt: skip

    def cancel(self) -> None:
        """Stop starting new work; what was committed stays, the rest waits for the next run.

        :meth:`run` returns its report within about :data:`CANCEL_GRACE` seconds, even when a
        server call is still waiting for an answer.
        """
        self._cancel.set()

    def run(self, pairs: Iterable[AccountPair], mode: str = "full") -> Report:
        """Migrate ``pairs``; ``mode`` is ``full``, ``trial`` (last 10 days) or ``delta``.

        Raises:
            StateLocked: another process is writing the same state file.
            StateError: for ``delta`` when an account has no finished previous migration, or
                its last one was a trial.
        """
        if mode not in ("full", "trial", "delta"):
            raise ValueError(f"mode: {mode!r} is not one of full, trial, delta")
        pairs = _pairs(pairs)
        with self.state.writer():
            since_by_pair = {p.key: self._since_for(p, mode) for p in pairs}
            run_since = self.since if mode == "full" else min((s for s in since_by_pair.values() if s), default=None)
            run_id = self.state.start_run(mode, run_since, self.item_types)
            self._emit(ev.RunStarted(run_id, mode, len(pairs)))
            statuses: list[str] = []
            try:
                statuses = list(self._run_in(run_id, pairs, since_by_pair, mode).values())
            finally:
                status = "cancelled" if self._cancel.is_set() else (
                    "completed" if statuses and all(s == "completed" for s in statuses) or not pairs else "completed_with_errors"
                )  # fmt: skip
                self.state.finish_run(run_id, status)
                self._emit(ev.RunFinished(run_id, status))
            return Report.from_state(self.state, run_id)

    def run_accounts(self, run_id: str, pairs: Iterable[AccountPair], mode: str = "full") -> dict[str, str]:
        """Migrate ``pairs`` as part of run ``run_id``, started elsewhere (by a coordinator that
        hands accounts to many workers); the run itself is neither started nor finished here.

        Returns each pair's status by its key (``completed``, ``completed_with_errors``,
        ``failed``, ``cancelled``).
        """
        if mode not in ("full", "trial", "delta"):
            raise ValueError(f"mode: {mode!r} is not one of full, trial, delta")
        pairs = _pairs(pairs)
        with self.state.writer():
            since_by_pair = {p.key: self._since_for(p, mode) for p in pairs}
            return self._run_in(run_id, pairs, since_by_pair, mode)

    def _run_in(
        self, run_id: str, pairs: list[AccountPair], since_by_pair: dict[str, dt.datetime | None], mode: str
    ) -> dict[str, str]:
        self._fresh_run()
        accounts = {p.key: AccountWork(p, executor=self.executor) for p in pairs}
        try:
            self._run_accounts(run_id, accounts, since_by_pair, mode)
        finally:
            statuses = {key: self._finish_account(run_id, a) for key, a in accounts.items()}
        return statuses

    def verify(self, pairs: Iterable[AccountPair]) -> Report:
        """Reconcile source, destination and the id map per folder; list what is missing or extra.

        Items the migration skipped on purpose (logged with their reason) are counted as
        ``skipped``, not ``missing``. Nothing is written to either mailbox.
        """
        pairs = _pairs(pairs)
        with self.state.writer():
            run_id = self.state.start_run("verify", None, self.item_types)
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                statuses = list(pool.map(lambda p: self._verify_pair(run_id, p), pairs))
            self.state.finish_run(run_id, "completed" if all(s == "completed" for s in statuses) else "completed_with_errors")
            return Report.from_state(self.state, run_id)

    # -- events ------------------------------------------------------------------------------------
    def _emit(self, event: ev.Event) -> None:
        if self._on_event is None:
            return
        with self._event_lock:
            try:
                self._on_event(event)
            except Exception:  # a broken sink must not break a migration, nor flood the log
                self._sink_failures += 1
                if self._sink_failures == 1:
                    log.exception("on_event callback %r failed (on %s); later failures are counted, not logged",
                                  self._on_event, type(event).__name__)  # fmt: skip
                elif isinstance(event, ev.RunFinished):
                    log.warning("on_event callback %r failed %d times in this run", self._on_event, self._sink_failures)

    # -- accounts ------------------------------------------------------------------------------------
    def _since_for(self, pair: AccountPair, mode: str) -> dt.datetime | None:
        if mode == "full":
            return self.since
        if mode == "trial":
            return dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=TRIAL_DAYS)
        return planner.delta_start(self.state, pair) - planner.DELTA_OVERLAP

    def _run_accounts(
        self, run_id: str, accounts: dict[str, AccountWork], since: dict[str, dt.datetime | None], mode: str
    ) -> None:
        # Accounts are listed on one pool and their folders copied on another, so that copying
        # starts with the first folder listed; a third fetches each folder's next batch.
        listing = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="groupmigrate-list")
        copying = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="groupmigrate")
        self._fetching = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="groupmigrate-fetch")
        running: dict[Future[Any], tuple[str, AccountWork]] = {}
        lock = threading.Lock()

        def submit_folder(work: AccountWork, job: FolderJob) -> None:
            if self._cancel.is_set() or work.cancelled:
                raise Cancelled("cancelled")
            plan = self._plan(work, job)  # on the listing thread: it overlaps the copying too
            with lock:
                running[copying.submit(self._migrate_folder, run_id, work, job, plan)] = ("folder", work)

        try:
            with lock:
                for work in accounts.values():
                    task = listing.submit(self._prepare_account, run_id, work, since[work.pair.key], mode, submit_folder)
                    running[task] = ("prepare", work)
            while True:
                with lock:
                    if not running:
                        break
                    waiting = list(running)
                done, _ = wait(waiting, timeout=0.25, return_when=FIRST_COMPLETED)
                with lock:
                    for fut in done:
                        _, work = running.pop(fut)
                        _settle(fut, work)
                if self._cancel.is_set():
                    with lock:
                        if self._stopped_waiting(running):
                            break
        finally:
            # After cancel(), calls still waiting on a server are not waited for beyond
            # CANCEL_GRACE: what they finish is still committed; the run reports now.
            for pool in (listing, copying, self._fetching):
                pool.shutdown(wait=not self._cancel.is_set(), cancel_futures=True)

    def _stopped_waiting(self, running: dict[Future[Any], tuple[str, AccountWork]]) -> bool:
        """After a cancel: give the calls in flight CANCEL_GRACE seconds, then stop waiting for them."""
        if self._cancelled_at is None:
            self._cancelled_at = time.monotonic()
        if time.monotonic() - self._cancelled_at < CANCEL_GRACE:
            return False
        for _, work in running.values():
            work.cancelled = True
        log.warning("cancelled: %d task(s) still waiting on a server are left to finish on their own", len(running))
        return True

    def _prepare_account(
        self, run_id: str, work: AccountWork, since: dt.datetime | None, mode: str,
        on_job: Callable[[AccountWork, FolderJob], None],
    ) -> None:  # fmt: skip
        pair = work.pair
        self.state.start_account(run_id, pair.key, pair.source, pair.destination)
        self._emit(ev.AccountStarted(run_id, pair))
        planner.prepare_account(
            self.state, work.executor, self.source, self.destination, work, item_types=self.item_types,
            since=since, mode=mode, address_map=self.address_map, caps=self.route,
            on_job=lambda job: on_job(work, job),
        )  # fmt: skip
        self._progress(work)

    def _plan(self, work: AccountWork, job: FolderJob) -> FolderPlan | BaseException:
        """The folder's plan; an error is handed to the folder's task, as if it had planned."""
        try:
            return planner.plan_folder(self.state, work.executor, work, job, self.route[job.source_folder.kind])
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - raised again by the folder's task
            return exc

    def _finish_account(self, run_id: str, work: AccountWork) -> str:
        if work.error is not None:
            status = "failed"
        elif work.cancelled or self._cancel.is_set():
            status = "cancelled"
        elif work.failed:
            status = "completed_with_errors"
        else:
            status = "completed"
        for mailbox in (work.source, work.destination):
            if mailbox is not None:
                try:
                    mailbox.close()
                except GroupmigrateError:
                    pass
        summary = [LogEntry("notice", None, None, None, c.message) for c in (work.context.summary() if work.context else [])]
        summary += [LogEntry("notice", None, None, None, text) for text in work.notices]
        if work.error is not None:
            summary.append(LogEntry("error", None, None, None, work.error))
        if summary:
            self.state.commit_batch(run_id, work.pair.key, [], summary, {})
        self.state.finish_account(run_id, work.pair.key, status, work.error)
        self._emit(ev.AccountFinished(run_id, work.pair, status, work.error))
        return status

    # -- folders and batches ---------------------------------------------------------------------------
    def _migrate_folder(self, run_id: str, work: AccountWork, job: FolderJob, plan: FolderPlan | BaseException) -> None:
        folder = job.source_folder
        self._emit(ev.FolderStarted(work.pair, str(folder), folder.kind, len(job.refs)))
        ex = work.executor
        if isinstance(plan, BaseException):
            raise plan
        log.info("%s: %s: %d item(s) listed, %d to copy", work.pair, folder, len(job.refs), len(plan.todo))
        self._commit(run_id, work, plan.settled)
        todo_ids = {r.id for r in plan.todo}
        done = [r for r in job.refs if r.id not in todo_ids]
        self._advance(work, len(done), sum(r.size for r in done))
        collapse = Collapse()
        caps = self.route[job.source_folder.kind]
        todo = list(batches(plan.todo, caps.max_batch_items, caps.max_batch_bytes))
        ahead: tuple[Future[list[Item | Unreadable]], int] | None = None  # the next batch, being fetched
        try:
            for index, batch in enumerate(todo):
                if ex.cancel.is_set():
                    raise Cancelled("cancelled")
                if ahead is not None:
                    fetching, held = ahead
                    ahead = None
                else:
                    fetching, held = None, ex.bytes_in_flight.acquire(sum(r.size for r in batch))
                try:
                    if index + 1 < len(todo):
                        ahead = self._fetch_ahead(work, job, todo[index + 1])
                    fetched = fetching.result() if fetching is not None else self._fetch(work, job, batch)
                    self._migrate_batch(run_id, work, job, batch, plan, collapse, fetched)
                finally:
                    ex.bytes_in_flight.release(held)
        finally:
            if ahead is not None:  # stopped early: let the fetch end, then give its bytes back
                if not ahead[0].cancel():
                    _wait_quietly(ahead[0])
                ex.bytes_in_flight.release(ahead[1])
        self._finish_folder(work, job)

    def _fetch(self, work: AccountWork, job: FolderJob, batch: list[ItemRef]) -> list[Item | Unreadable]:
        source, ex = work.source, work.executor
        assert source is not None
        fetched: list[Item | Unreadable] = ex.read(ex.source, str(work.pair), lambda: list(source.fetch(job.source_folder, batch)))
        return fetched

    def _fetch_ahead(
        self, work: AccountWork, job: FolderJob, batch: list[ItemRef]
    ) -> tuple[Future[list[Item | Unreadable]], int] | None:
        """Start fetching ``batch`` now, when its bytes fit the budget at once (else it is
        fetched in its turn: waiting here could hold up the batch in hand)."""
        held = work.executor.bytes_in_flight.try_acquire(sum(r.size for r in batch))
        if held is None:
            return None
        return self._fetching.submit(self._fetch, work, job, batch), held

    def _migrate_batch(
        self, run_id: str, work: AccountWork, job: FolderJob, batch: list[ItemRef], plan: FolderPlan, collapse: Collapse,
        fetched: list[Item | Unreadable],
    ) -> None:  # fmt: skip
        """One batch, fetched: map → sanitize → identity → create (exactly once) → commit.

        An item the source could not read (:class:`~groupmigrate.protocols.Unreadable`) is
        recorded as failed with the source's reason, so the next run tries it again."""
        source, destination = work.source, work.destination
        assert source is not None and destination is not None and work.sanitizer is not None and work.context is not None
        folder, what = job.source_folder, str(work.pair)
        out = BatchOutcome(work.pair, str(folder), job.folder_key, folder.kind)
        ex = work.executor
        by_id = {item.source_id: item for item in fetched if not isinstance(item, Unreadable)}
        unreadable = {u.source_id: u for u in fetched if isinstance(u, Unreadable)}
        # what the source had to leave out when it read an item is named for that item
        read_notes = source.read_notes([i for i in by_id if i]) if isinstance(source, SupportsReadNotes) else {}
        caps = self.route[folder.kind]
        work.sanitizer.prefetch(by_id.values(), caps)
        to_send: list[Prepared] = []
        for ref in batch:
            item = by_id.get(ref.id)
            if item is None and ref.id in unreadable:
                out.failed(ref, unreadable[ref.id].label, unreadable[ref.id].reason)
                continue
            if item is None and ref.id in plan.retried:  # left failed by an earlier run, gone since
                out.skipped(ref, plan.retried[ref.id], "no longer in the source (deleted or moved since an earlier run); nothing to copy")
                continue
            if item is None:
                out.failed(ref, ref.id, "the source could not return this item (deleted or moved since it was listed?)")
                continue
            prepared = prepare(
                ref, item, source_address=work.pair.source, folder_kind=folder.kind, item_types=self.item_types,
                caps=caps, context=work.context, sanitizer=work.sanitizer,
            )  # fmt: skip
            for note in read_notes.get(ref.id, ()):
                out.log("changed", prepared.label, f"as read from the source: {note}")
            out.changes(prepared.label, prepared.changes)
            if prepared.item is None:
                out.skipped(ref, prepared.label, prepared.skip_reason or "not supported by the destination")
            elif not self._already_there(work, job, plan, prepared, out, collapse):
                to_send.append(prepared)
        results = ex.create(
            what, destination, job.destination_folder, [p.item for p in to_send],
            [p.stamp for p in to_send], use_stamps=caps.supports_provenance,
        )  # fmt: skip
        for prepared, written in zip(to_send, results):
            if written.status == "created":
                out.migrated(prepared.ref, prepared.label, written.item_id, written.warnings)
                if self.duplicate_policy is not DuplicatePolicy.COPY:
                    collapse.created.setdefault(exact_key(prepared), written.item_id or "")
            elif written.status == "ambiguous":
                out.ambiguous(prepared.ref, prepared.label, written.error or "outcome unknown")
            else:
                out.failed(prepared.ref, prepared.label, written.error or "refused by the destination")
        collapse.settle(out)
        self._commit(run_id, work, out)
        log.info("%s: %s: batch of %d: %s", work.pair, folder, len(batch),
                 ", ".join(f"{outcome} {n}" for (_, outcome), n in sorted(out.counts.items())) or "nothing to do")  # fmt: skip
        self._advance(work, len(batch), sum(r.size for r in batch))

    def _already_there(
        self, work: AccountWork, job: FolderJob, plan: FolderPlan, prepared: Prepared, out: BatchOutcome,
        collapse: Collapse,
    ) -> bool:  # fmt: skip
        """Whether the item needs no creating: the same content is on the destination from
        elsewhere (each such item matches one source item), or the duplicate policy collapses
        an exact copy of an item created in this folder."""
        if self.duplicate_policy is not DuplicatePolicy.COPY and collapse.is_copy(exact_key(prepared), prepared, out, self.duplicate_policy):
            return True
        if prepared.ref.id in plan.repaired or not plan.foreign:
            return False
        candidates = plan.foreign.get(prepared.candidate_key)
        if not candidates:
            return False
        destination = work.destination
        assert destination is not None
        wanted = content_fingerprint(prepared.item) if prepared.item is not None else ""
        full = work.executor.read(
            work.executor.destination, str(work.pair), lambda: list(destination.fetch_existing(job.destination_folder, candidates))
        )
        for item in full:
            if item.source_id in candidates and content_fingerprint(item) == wanted:
                candidates.remove(item.source_id)
                out.present(prepared.ref, prepared.label, item.source_id, "already on the destination with the same content (not created by this migration); not copied again")
                return True
        return False

    def _commit(self, run_id: str, work: AccountWork, out: BatchOutcome) -> None:
        if not (out.mappings or out.entries or out.counts):
            return
        self.state.commit_batch(run_id, work.pair.key, out.mappings, out.entries, out.counts)
        for event in out.events:
            self._emit(event)
        with work.lock:
            work.failed += sum(n for (_, outcome), n in out.counts.items() if outcome in ("failed", "ambiguous"))

    def _advance(self, work: AccountWork, items: int, size: int) -> None:
        with work.lock:
            work.items_done += items
            work.bytes_done += size
        self._progress(work)

    def _progress(self, work: AccountWork) -> None:
        self._emit(ev.Progress(work.pair, work.items_done, work.items_total, work.bytes_done, work.bytes_total))

    def _finish_folder(self, work: AccountWork, job: FolderJob) -> None:
        previous = self.state.folder_state(work.pair.key, job.folder_key)
        if previous is not None:
            done = attrs.evolve(previous, watermark=job.listed_at or dt.datetime.now(dt.timezone.utc))
            if job.sync_state is not None:
                done = attrs.evolve(done, sync_state=job.sync_state)
            self.state.save_folder(done)

    # -- verification ------------------------------------------------------------------------------
    def _verify_pair(self, run_id: str, pair: AccountPair) -> str:
        self.state.start_account(run_id, pair.key, pair.source, pair.destination)
        what, ex = str(pair), self.executor
        try:
            src = ex.read(ex.source, what, self.source.open_mailbox, pair.source, pair.source_auth)
            dst = ex.read(ex.destination, what, self.destination.open_mailbox, pair.destination, pair.destination_auth)
        except GroupmigrateError as exc:
            self.state.finish_account(run_id, pair.key, "failed", str(exc))
            return "failed"
        try:
            status = verify_account(
                self.state, self.executor, run_id, pair, src, dst, self.item_types,
                {t: c.supports_provenance for t, c in self.route.items()},
            )
        except GroupmigrateError as exc:
            self.state.finish_account(run_id, pair.key, "failed", str(exc))
            return "failed"
        finally:
            src.close()
            dst.close()
        self.state.finish_account(run_id, pair.key, status)
        return status


def _wait_quietly(fut: Future[Any]) -> None:
    try:
        fut.result()
    except BaseException:  # noqa: BLE001 - the batch it fetched is not used
        pass


def _settle(fut: Future[Any], work: AccountWork) -> None:
    """Record how a worker's task ended on its account."""
    try:
        fut.result()
    except Cancelled:
        work.cancelled = True
    except GroupmigrateError as exc:
        work.error = work.error or str(exc)
    except Exception as exc:  # a bug or an unexpected library error: fail the account, not the run
        log.exception("%s: unexpected error", work.pair)
        work.error = work.error or f"unexpected error: {type(exc).__name__}: {exc}"


def _pairs(pairs: Iterable[AccountPair]) -> list[AccountPair]:
    """``pairs`` as a list (a generator is read once, here), each an AccountPair, none twice."""
    if isinstance(pairs, (str, bytes, AccountPair)) or not isinstance(pairs, Iterable):
        raise TypeError(f"pairs: give a list of AccountPair (e.g. from read_accounts_csv), not {type(pairs).__name__}")
    listed = list(pairs)
    seen: set[str] = set()
    for index, pair in enumerate(listed):
        if not isinstance(pair, AccountPair):
            raise TypeError(f"pairs[{index}]: not an AccountPair but {type(pair).__name__}")
        if pair.key in seen:
            raise ValueError(f"pairs: {pair} appears twice")
        seen.add(pair.key)
    return listed
