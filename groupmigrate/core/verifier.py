"""Verification: per folder, source, destination and the state's id map reconciled.

For each source folder the numbers add up: every source item is counted once as migrated
(its copy is on the destination), already present (it was there before, not created by this
migration), skipped (with its reason), failed, ambiguous, or missing. Destination items that
no source item accounts for are listed as extra, and items this migration created more than
once (two copies with one provenance stamp) as duplicated. Items are named by subject,
sender and date (or a contact's name), never by a hash alone. Verification never writes to
either mailbox, and never changes the id map.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from groupmigrate.accounts import AccountPair
from groupmigrate.core.executor import Executor
from groupmigrate.core.identity import item_label, provenance_stamp
from groupmigrate.core.pipeline import BatchOutcome
from groupmigrate.core.planner import destination_items
from groupmigrate.errors import GroupmigrateError
from groupmigrate.items import Folder, Item, ItemRef
from groupmigrate.protocols import DestinationMailbox, SourceMailbox, SupportsProvenance, Unreadable
from groupmigrate.core.state import StateStore

__all__ = ["verify_account"]

_BATCH = 50


def _labels(
    executor: Executor, what: str, src: SourceMailbox, folder: Folder, refs: list[ItemRef]
) -> tuple[dict[str, str], dict[str, str]]:
    """Subject, sender and date (or a name) of source items, read in batches (the id when
    they cannot be read); and the source's reason for each item it could not read."""
    labels: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for start in range(0, len(refs), _BATCH):
        batch = refs[start : start + _BATCH]
        try:
            items = executor.read(executor.source, what, lambda b=batch: list(src.fetch(folder, b)))
        except GroupmigrateError:
            items = []
        found: dict[str | None, str] = {}
        for item in items:
            if isinstance(item, Unreadable):
                found[item.source_id] = item.label
                reasons[item.source_id] = item.reason
            else:
                found[item.source_id] = item_label(item)
        labels.update({ref.id: found.get(ref.id) or ref.id for ref in batch})
    return labels, reasons


def verify_account(
    state: StateStore,
    executor: Executor,
    run_id: str,
    pair: AccountPair,
    src: SourceMailbox,
    dst: DestinationMailbox,
    item_types: tuple[str, ...],
    use_stamps: bool | Mapping[str, bool],
) -> str:
    """Verify every folder of one account; returns the account's status."""
    what = str(pair)
    folder_states = {f.folder_key: f for f in state.folders(pair.key)}
    destination_folders = executor.read(executor.destination, what, dst.folders)
    by_id = {f.folder_id: f for f in destination_folders if f.folder_id}
    bad = 0
    for folder in executor.read(executor.source, what, src.folders):
        key = folder.folder_id or str(folder)
        known = folder_states.get(key)
        target = by_id.get(known.destination_id) if known is not None and known.destination_id else None
        if target is None:
            target = next(
                (f for f in destination_folders if (folder.role is not None and f.role == folder.role) or f.path == folder.path),
                None,
            )
        stamped = use_stamps if isinstance(use_stamps, bool) else use_stamps.get(folder.kind, False)
        bad += _verify_folder(state, executor, run_id, pair, src, dst, folder, key, target, stamped, item_types)
    return "completed" if bad == 0 else "completed_with_errors"


def _verify_folder(
    state: StateStore,
    executor: Executor,
    run_id: str,
    pair: AccountPair,
    src: SourceMailbox,
    dst: DestinationMailbox,
    folder: Folder,
    key: str,
    target: Folder | None,
    use_stamps: bool,
    item_types: tuple[str, ...],
) -> int:
    what = str(pair)
    out = BatchOutcome(pair, str(folder), key, folder.kind)
    # the items of the migrated types, whatever the folder's own (a mail filed in Contacts)
    refs = [r for r in executor.read(executor.source, what, lambda: list(src.list_items(folder))) if r.item_type in item_types]
    if folder.kind not in item_types and not refs:
        return 0
    mapping = {m.source_id: m for m in state.mappings(pair.key, key)}
    listed: list[Item] = []
    stamps: dict[str, list[str]] = {}
    if target is not None:
        kinds = {folder.kind, *(r.item_type for r in refs), *(m.item_type for m in mapping.values())} & set(item_types)
        listed = destination_items(executor, what, dst, target, kinds)
        if use_stamps and isinstance(dst, SupportsProvenance):
            stamps = executor.read(executor.destination, what, dst.find_stamps, target, None)
    on_destination = {item.source_id: item for item in listed if item.source_id}
    accounted: set[str] = set()
    outcomes: Counter[tuple[str, str]] = Counter()  # (item type, outcome): strays count as what they are
    unlabelled = []
    missing_labels: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for ref in refs:
        m = mapping.get(ref.id)
        found = [i for i in stamps.get(provenance_stamp(pair.source, ref.id), []) if i in on_destination]
        accounted.update(found)
        if m is not None and m.outcome in ("skipped", "failed", "ambiguous"):
            outcomes[(ref.item_type, m.outcome)] += 1
        elif m is not None and m.destination_id in on_destination:
            accounted.add(m.destination_id)
            outcomes[(ref.item_type, "migrated" if m.outcome == "migrated" else "present")] += 1
        elif found:
            outcomes[(ref.item_type, "migrated")] += 1
        elif m is not None and m.label:
            missing_labels[ref.id] = m.label
        else:
            unlabelled.append(ref)
    if unlabelled:  # not in the id map: fetch them for a name a person recognises
        labels, unreadable = _labels(executor, what, src, folder, unlabelled)
        missing_labels.update(labels)
    for source_id, label in missing_labels.items():
        m = mapping.get(source_id)
        if m is not None and m.outcome in ("migrated", "present"):
            reason = "migrated earlier, but its copy is no longer on the destination; the next run copies it again"
        elif source_id in unreadable:
            reason = f"not on the destination; the source cannot read it ({unreadable[source_id]}); the next run tries again"
        else:
            reason = "not on the destination; the next run copies it"
        out.log("missing", label, reason)
    types = {r.id: r.item_type for r in refs}
    for source_id in missing_labels:
        outcomes[(types[source_id], "missing")] += 1
    duplicated = 0
    for stamp, ids in stamps.items():
        copies = [i for i in ids if i in on_destination]
        if len(copies) > 1:
            duplicated += len(copies) - 1
            out.log("duplicated", item_label(on_destination[copies[1]]), f"created {len(copies)} times by this migration")
    extra = [item for item_id, item in on_destination.items() if item_id not in accounted]
    for item in extra:
        out.log("extra", item_label(item), "on the destination, but no source item of this folder accounts for it")
    for ref in refs:
        outcomes[(ref.item_type, "source")] += 1
    for item in on_destination.values():
        outcomes[(item.item_type, "destination")] += 1
    for item in extra:
        outcomes[(item.item_type, "extra")] += 1
    counts: dict[tuple[str, str], int] = {(folder.kind, "extra"): 0, (folder.kind, "duplicate"): duplicated, **outcomes}
    state.commit_batch(run_id, pair.key, [], out.entries, counts)
    return len(missing_labels) + duplicated
