"""Planning: check and analyze accounts, map folders, list items, and decide per folder what
is to be done.

"Already migrated" is decided by provenance: the state's id map (source mailbox + source id →
destination id), checked against what the destination folder holds now, and the provenance
stamps the destination keeps. An id map entry whose copy is gone is copied again; an item
the map does not know but whose stamp is on the destination (a lost answer, a fresh state
file) is recorded without creating anything. Items that failed or stayed ambiguous in an
earlier run are tried again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from groupmigrate.accounts import AccountPair
from groupmigrate.capabilities import Capabilities
from groupmigrate.core.combined import RouteCapabilities, for_kind
from groupmigrate.core.dedup import fingerprint
from groupmigrate.core.executor import Cancelled, Executor
from groupmigrate.core.identity import provenance_stamp
from groupmigrate.core.analysis import AccountAnalysis, Analysis, CheckResult, analyze, check
from groupmigrate.core.pipeline import BatchOutcome
from groupmigrate.errors import AccessError, GroupmigrateError, SourceRenumbered, StateError, TransientError
from groupmigrate.items import ALL_ITEM_TYPES, Folder, Item, ItemRef, ItemType
from groupmigrate.core.mappers import MapContext
from groupmigrate.protocols import (
    Destination, DestinationMailbox, Source, SourceMailbox, SupportsAddressResolution, SupportsFolderRename,
    SupportsProvenance, SupportsSyncState,
)  # fmt: skip
from groupmigrate.core.sanitize import Sanitizer
from groupmigrate.core.state import FolderState, ItemMapping, StateStore

__all__ = [
    "AccountAnalysis", "AccountWork", "Analysis", "CheckResult", "DELTA_OVERLAP", "FolderJob", "FolderPlan",
    "TRIAL_DAYS", "analyze", "check", "delta_start", "destination_items", "plan_folder", "prepare_account",
]  # fmt: skip

log = logging.getLogger("groupmigrate")

#: A trial run copies what arrived in this many days.
TRIAL_DAYS = 10
#: A delta run lists each folder from this long before the previous listing of it, so mail
#: that arrived while that listing ran is not missed; provenance keeps the overlap from duplicating.
DELTA_OVERLAP = dt.timedelta(minutes=10)


# --- accounts and folders ---------------------------------------------------------------------------


@attrs.define
class FolderJob:
    pair: AccountPair
    source_folder: Folder
    destination_folder: Folder
    refs: list[ItemRef]
    folder_key: str
    #: the source's sync state after this listing, saved when the folder is done (None: no sync)
    sync_state: str | None = None
    #: when this listing started: the next delta lists from here (minus the overlap)
    listed_at: dt.datetime | None = None
    #: the listing shows every item of the folder (not only what changed since a date or state)
    complete: bool = False


@attrs.define
class AccountWork:
    pair: AccountPair
    source: SourceMailbox | None = None
    destination: DestinationMailbox | None = None
    context: MapContext | None = None
    sanitizer: Sanitizer | None = None
    jobs: list[FolderJob] = attrs.field(factory=list)
    items_total: int = 0
    bytes_total: int = 0
    items_done: int = 0
    bytes_done: int = 0
    failed: int = 0
    error: str | None = None
    cancelled: bool = False
    notices: list[str] = attrs.field(factory=list)
    #: the run's executor (and with it the run's cancel flag): bound when the account starts
    executor: Any = None
    lock: threading.Lock = attrs.field(factory=threading.Lock)


def delta_start(state: StateStore, pair: AccountPair) -> dt.datetime:
    """When the account's last migration run started; refuses a delta that would miss items.

    Raises:
        StateError: no migration of the account finished yet, or the latest one that covered
            more than new mail was a trial (which copied only the last days).
    """
    runs = state.last_finished_account_runs(pair.key, kind="migration")
    if not runs:
        raise StateError(
            f"{pair}: a delta run needs a previous migration of this account that finished; "
            "run a full migration first (or finish the interrupted one by running it again)"
        )
    for run, _ in runs:
        if run.mode == "delta":
            continue
        if run.mode == "trial":
            raise StateError(
                f"{pair}: the last migration of this account before any delta was a trial, which copied only "
                f"the last {TRIAL_DAYS} days; run a full migration (without --delta/--trial): it copies "
                "everything the trial did not, and nothing twice"
            )
        break
    return runs[0][0].started


def _destination_folder(
    state: StateStore, executor: Executor, work: AccountWork, folder: Folder, key: str, by_id: dict[str, Folder],
    placed: dict[tuple[str, ...], Folder],
) -> Folder:
    """The destination folder of ``folder``: the one it was mapped to before (found by the
    source folder's id, so a rename on the source keeps it), else by role and path.

    A folder new to the migration whose parent went elsewhere on the destination (``placed``:
    source path → destination folder, this run; a localized "Gesendete Elemente" placed on
    the destination's Sent folder) goes under that parent's destination folder."""
    destination = work.destination
    assert destination is not None
    previous = state.folder_state(work.pair.key, key)
    if previous is not None and previous.destination_id in by_id:
        known = by_id[previous.destination_id]
        if previous.path != folder.path:
            was, now = "/".join(previous.path), str(folder)
            if previous.path[:-1] == folder.path[:-1] and isinstance(destination, SupportsFolderRename):
                try:
                    known = executor.read(executor.destination, str(work.pair), destination.rename_folder, known, folder.name)
                    work.notices.append(f"folder {was} was renamed on the source to {now}; renamed on the destination too")
                except GroupmigrateError as exc:
                    work.notices.append(f"folder {was} was renamed on the source to {now}; the destination folder {known} "
                                        f"keeps its name ({exc})")  # fmt: skip
            else:
                work.notices.append(
                    f"folder {was} was renamed or moved on the source to {now}; its items stay in destination folder "
                    f"{known} (this destination cannot rename or move folders)"
                )
        return attrs.evolve(known, kind=folder.kind, role=folder.role)
    parent = placed.get(folder.parent_path) if folder.parent_path else None
    if parent is not None and folder.role is None and parent.path != folder.parent_path:
        folder = attrs.evolve(folder, path=(*parent.path, folder.name), folder_id=None)
    return executor.read(executor.destination, str(work.pair), destination.ensure_folder, folder)


def prepare_account(
    state: StateStore,
    executor: Executor,
    source: Source,
    destination: Destination,
    work: AccountWork,
    *,
    item_types: Sequence[ItemType],
    since: dt.datetime | None,
    mode: str,
    address_map: dict[str, str],
    caps: RouteCapabilities,
    on_job: Callable[[FolderJob], None] | None = None,
) -> None:
    """Open both mailboxes, map every folder and list what each holds (``work.jobs``).

    ``on_job`` is called with each folder's job as soon as that folder is listed, so that its
    copying may start while the next folders are listed.
    """
    pair = work.pair
    what = str(pair)
    work.source = executor.read(executor.source, what, source.open_mailbox, pair.source, pair.source_auth)
    work.destination = executor.read(executor.destination, what, destination.open_mailbox, pair.destination, pair.destination_auth)
    executor.read(executor.source, what, work.source.check)
    executor.read(executor.destination, what, work.destination.check)
    work.context = MapContext(owner=pair.destination)
    resolver = None
    if isinstance(work.source, SupportsAddressResolution):
        resolve = work.source.resolve_addresses

        def resolver(addresses: Iterable[str]) -> dict[str, str | None]:
            # a call to the source like any other: within its connection limits, retried when transient
            return executor.read(executor.source, what, resolve, list(addresses))

    work.sanitizer = Sanitizer(resolver=resolver, mapping=address_map)
    by_id = {f.folder_id: f for f in executor.read(executor.destination, str(pair), work.destination.folders) if f.folder_id}
    placed: dict[tuple[str, ...], Folder] = {}
    for folder in executor.read(executor.source, str(pair), work.source.folders):
        if executor.cancel.is_set():
            raise Cancelled("cancelled")
        strays: list[ItemRef] | None = None
        if folder.kind not in item_types:
            # a folder of a type not migrated may still hold items of a migrated type (a mail
            # filed in Contacts): those are copied, or skipped with a reason, like any stray item
            listed_refs = executor.read(executor.source, what, lambda f=folder: list(work.source.list_items(f)))  # type: ignore[union-attr]
            strays = [r for r in listed_refs if r.item_type in item_types]
            if not strays:
                continue
        key = folder.folder_id or str(folder)
        target = _destination_folder(state, executor, work, folder, key, by_id, placed)
        placed[folder.path] = target
        previous = state.folder_state(pair.key, key)
        state.save_folder(
            FolderState(pair.key, key, folder.path, folder.kind, target.folder_id,
                        previous.watermark if previous else None, previous.sync_state if previous else None)
        )  # fmt: skip
        listed_at = dt.datetime.now(dt.timezone.utc)
        folder_since = since
        if mode == "delta":
            # from this folder's own watermark; a folder no earlier migration finished (created
            # since, or new to the item types) is listed whole: its old mail is new to the destination
            watermark = previous.watermark if previous is not None else None
            folder_since = watermark - DELTA_OVERLAP if watermark is not None else None
        if strays is not None:
            refs, sync_state, complete = strays, None, True
        else:
            refs, sync_state, whole = _list(executor, work, folder, folder_since, mode, previous, for_kind(caps, folder.kind))
            complete = whole or (folder_since is None and not (mode == "delta" and previous is not None and previous.sync_state))
        job = FolderJob(pair, folder, target, refs, key, sync_state, listed_at, complete)
        work.jobs.append(job)
        with work.lock:
            work.items_total += len(refs)
            work.bytes_total += sum(r.size for r in refs)
        if on_job is not None:
            on_job(job)


def _list(
    executor: Executor,
    work: AccountWork,
    folder: Folder,
    since: dt.datetime | None,
    mode: str,
    previous: FolderState | None,
    caps: Capabilities,
) -> tuple[list[ItemRef], str | None, bool]:
    """The folder's items to look at, the sync state to keep once they are done, and whether
    the folder was listed whole although ``since`` or a sync state asked for less.

    A source with sync states lists a whole folder through them, so that the next delta run
    asks only for what changed since; otherwise (and for trial runs, ``since``, or a sync
    state the server no longer accepts) items are listed by date. A folder the source
    renumbered (:class:`~groupmigrate.errors.SourceRenumbered`) is listed whole through a
    fresh sync: its earlier copies are then found again by content, not by id.
    """
    source = work.source
    assert source is not None
    what = str(work.pair)
    if isinstance(source, SupportsSyncState) and caps.supports_sync_state:
        start: str | None = None
        if mode == "delta" and previous is not None and previous.sync_state:
            start = previous.sync_state
        if start is not None or since is None:
            try:
                result = executor.read(executor.source, what, source.sync_items, folder, start)
            except (AccessError, TransientError, Cancelled):
                raise
            except SourceRenumbered as exc:
                work.notices.append(f"{exc}; the folder is listed whole and earlier copies are recognised by content")
                result = executor.read(executor.source, what, source.sync_items, folder, None)
                unique = {ref.id: ref for ref in result.refs}
                return list(unique.values()), result.state, True
            except GroupmigrateError as exc:
                log.info("%s: sync state of %s not usable (%s); listing by date", work.pair, folder, exc)
            else:
                unique = {ref.id: ref for ref in result.refs}
                return list(unique.values()), result.state, False
    refs = executor.read(executor.source, what, lambda: list(source.list_items(folder, since)))
    return refs, None, False


# --- per folder: what is to be done -------------------------------------------------------------------


@attrs.define
class FolderPlan:
    """What a folder needs: items to send, and what was settled without sending anything."""

    todo: list[ItemRef]
    settled: BatchOutcome
    #: candidate key → destination ids of items this migration did not create (by hand, another tool)
    foreign: dict[str, list[str]]
    #: destination id → the item as listed, for the foreign ones
    foreign_items: dict[str, Item]
    repaired: set[str]
    #: id → label of items an earlier run left failed or ambiguous that this listing did not show
    retried: dict[str, str] = attrs.field(factory=dict)


def plan_folder(
    state: StateStore, executor: Executor, work: AccountWork, job: FolderJob, caps: Capabilities
) -> FolderPlan:
    """Decide for every listed item, and every item an earlier run left failed or ambiguous,
    whether it is done, was created by an earlier run (its stamp is there), or is to be sent."""
    destination = work.destination
    assert destination is not None
    folder = job.source_folder
    what = str(work.pair)
    settled = BatchOutcome(work.pair, str(folder), job.folder_key, folder.kind)
    mappings = {m.source_id: m for m in state.mappings(work.pair.key, job.folder_key)}
    if not job.refs and not any(m.outcome in ("failed", "ambiguous") for m in mappings.values()):
        return FolderPlan([], settled, {}, {}, set())  # nothing listed, nothing to retry: nothing to look up
    kinds = {folder.kind, *(r.item_type for r in job.refs), *(_item_type(m) for m in mappings.values())}
    listed = destination_items(executor, what, destination, job.destination_folder, kinds)
    present_ids = {item.source_id for item in listed if item.source_id}
    stamps: dict[str, list[str]] = {}
    if caps.supports_provenance and isinstance(destination, SupportsProvenance):
        stamps = executor.read(executor.destination, what, destination.find_stamps, job.destination_folder, None)
    stamped_ids = {i for ids in stamps.values() for i in ids}
    refs = {r.id: r for r in job.refs}
    retried: dict[str, str] = {}
    gone = "no longer in the source (deleted or moved since an earlier run); nothing to copy"
    for earlier in mappings.values():  # retry what an earlier run could not settle, even when not listed again
        if earlier.outcome in ("failed", "ambiguous") and earlier.source_id not in refs:
            ref = ItemRef(earlier.source_id, earlier.size, None, _item_type(earlier))
            if job.complete:  # the whole folder was listed: the item is gone
                settled.skipped(ref, earlier.label or earlier.source_id, gone)
                continue
            refs[earlier.source_id] = ref
            retried[earlier.source_id] = earlier.label or earlier.source_id
    todo: list[ItemRef] = []
    repaired: set[str] = set()
    already = already_bytes = 0
    for ref in refs.values():
        m = mappings.get(ref.id)
        found = stamps.get(provenance_stamp(work.pair.source, ref.id))
        if m is not None and m.outcome in ("migrated", "present"):
            if m.destination_id is None or m.destination_id in present_ids:
                already += 1
                already_bytes += ref.size
                continue
            if found:
                settled.adopted(ref, m.label or ref.id, found[0], "its destination id changed; found again by its provenance stamp")
                continue
            repaired.add(ref.id)
            settled.log("repaired", m.label or ref.id, "its copy is no longer on the destination; copying it again")
        elif found:
            settled.adopted(ref, m.label if m and m.label else ref.id, found[0], "created by an earlier run (found by its provenance stamp); not created again")
            continue
        todo.append(ref)
    if already:
        settled.count("duplicate", already)
        settled.log("duplicate", None, f"{already} item(s) already migrated by an earlier run")
    # The copies of items a whole listing no longer shows (deleted on the source, or renumbered)
    # are claimed by nobody: a listed item with the same content is recorded as present there
    # instead of being copied again.
    unlisted = set(mappings) - set(refs) if job.complete else set()
    claimed = stamped_ids | {m.destination_id for m in mappings.values() if m.destination_id and m.source_id not in unlisted}
    foreign: dict[str, list[str]] = {}
    foreign_items: dict[str, Item] = {}
    for item in listed:
        if item.source_id and item.source_id not in claimed:
            foreign.setdefault(fingerprint(item), []).append(item.source_id)
            foreign_items[item.source_id] = item
    return FolderPlan(todo, settled, foreign, foreign_items, repaired, retried)


def destination_items(
    executor: Executor, what: str, destination: DestinationMailbox, folder: Folder, kinds: Iterable[str]
) -> list[Item]:
    """The items of a destination folder of each type in ``kinds`` (a folder may hold items of
    another type than its own: a mail filed in Contacts)."""
    items: dict[str, Item] = {}
    for kind in sorted(set(kinds) & set(ALL_ITEM_TYPES)):
        for item in executor.read(executor.destination, what, lambda k=kind: list(destination.existing(folder, k))):
            items.setdefault(item.source_id or str(id(item)), item)
    return list(items.values())


def _item_type(m: ItemMapping) -> Any:
    return m.item_type if m.item_type in ALL_ITEM_TYPES else "mail"
