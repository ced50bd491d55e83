"""The item pipeline's pure steps: map → sanitize → identity, and what a batch did.

Nothing here talks to a server except the sanitizer's address resolution, which is
prefetched once per batch. The result of a batch (:class:`BatchOutcome`) is committed to the
state store in one transaction together with its log and counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

import attrs

from groupmigrate import events as ev
from groupmigrate.accounts import AccountPair
from groupmigrate.capabilities import Capabilities
from groupmigrate.core.dedup import DuplicatePolicy, content_fingerprint, fingerprint
from groupmigrate.core.identity import item_label, provenance_stamp
from groupmigrate.items import Contact, Item, ItemRef, ItemType, Message
from groupmigrate.core.mappers import Change, MapContext, map_item
from groupmigrate.core.mappers.contacts import fit_to_limits
from groupmigrate.core.sanitize import Sanitizer
from groupmigrate.core.state import ItemMapping, LogEntry

__all__ = ["BatchOutcome", "Collapse", "Prepared", "batches", "exact_key", "prepare"]


@attrs.frozen
class Prepared:
    """One source item made ready for the destination, or the reason it is not sent."""

    ref: ItemRef
    label: str
    stamp: str
    changes: tuple[Change, ...] = ()
    item: Item | None = None
    skip_reason: str | None = None

    @property
    def candidate_key(self) -> str:
        assert self.item is not None
        return fingerprint(self.item)

    @property
    def content_key(self) -> str:
        assert self.item is not None
        return content_fingerprint(self.item)


def stray_reason(item: Item, folder_kind: ItemType, item_types: Iterable[ItemType], caps: Capabilities) -> str | None:
    """Why an item of another type than its folder (a mail filed in Contacts) is not copied; None to copy it."""
    if item.item_type == folder_kind:
        return None
    if item.item_type not in set(item_types):
        return f"a {item.item_type} item filed in a {folder_kind} folder; {item.item_type} is not being migrated"
    if not caps.allows_mixed_folders:
        return f"a {item.item_type} item filed in a {folder_kind} folder; the destination keeps only {folder_kind} there"
    return None


def prepare(
    ref: ItemRef,
    item: Item,
    *,
    source_address: str,
    folder_kind: ItemType,
    item_types: Iterable[ItemType],
    caps: Capabilities,
    context: MapContext,
    sanitizer: Sanitizer,
) -> Prepared:
    """Map and sanitize one item under the route's capabilities; stamp and label it.

    The stamp names the source item; the label is what a person recognises it by. Both,
    like every fingerprint, describe the item as the destination will hold it.
    """
    stamp = provenance_stamp(source_address, ref.id)
    label = item_label(item)
    stray = stray_reason(item, folder_kind, item_types, caps)
    if stray is not None:
        return Prepared(ref, label, stamp, skip_reason=stray)
    result = map_item(item, caps, context)
    changes = list(result.changes)
    if result.item is None:
        return Prepared(ref, label, stamp, tuple(changes), skip_reason=result.skip_reason or "not supported by the destination")
    clean, sanitized = sanitizer.sanitize(result.item, caps)
    changes += sanitized
    if isinstance(clean, Contact):
        clean, cut = fit_to_limits(clean, caps)
        changes += cut
    return Prepared(ref, label, stamp, tuple(changes), clean)


class BatchOutcome:
    """What one batch did: the id map rows, log entries, counts and events to commit together."""

    def __init__(self, pair: AccountPair, folder_name: str, folder_key: str, kind: ItemType) -> None:
        self.pair = pair
        self.folder = folder_name
        self.folder_key = folder_key
        self.kind = kind
        self.mappings: list[ItemMapping] = []
        self.entries: list[LogEntry] = []
        self.counts: dict[tuple[str, str], int] = {}
        self.events: list[ev.Event] = []

    def count(self, outcome: str, n: int = 1, kind: str | None = None) -> None:
        key = (kind or self.kind, outcome)
        self.counts[key] = self.counts.get(key, 0) + n

    def log(self, kind: str, label: str | None, message: str) -> None:
        self.entries.append(LogEntry(kind, self.kind, self.folder, label, message))

    def _map(self, ref: ItemRef, destination_id: str | None, outcome: str, label: str, fp: str | None = None) -> None:
        self.mappings.append(ItemMapping(ref.id, destination_id, ref.item_type, self.folder_key, fp, ref.size, outcome, label))

    def changes(self, label: str, changes: Iterable[Change]) -> None:
        for change in changes:
            self.log(change.kind, label, change.message)

    def failed(self, ref: ItemRef, label: str, error: str) -> None:
        self.count("failed", kind=ref.item_type)
        self.log("failed", label, error)
        self._map(ref, None, "failed", label)
        self.events.append(ev.ItemFailed(self.pair, self.folder, self.kind, label, error))

    def ambiguous(self, ref: ItemRef, label: str, error: str) -> None:
        self.count("ambiguous", kind=ref.item_type)
        self.log("ambiguous", label, error)
        self._map(ref, None, "ambiguous", label)
        self.events.append(ev.ItemFailed(self.pair, self.folder, self.kind, label, error))

    def skipped(self, ref: ItemRef, label: str, reason: str) -> None:
        self.count("skipped", kind=ref.item_type)
        self.log("skipped", label, reason)
        self._map(ref, None, "skipped", label)
        self.events.append(ev.ItemSkipped(self.pair, self.folder, self.kind, label, reason))

    def present(self, ref: ItemRef, label: str, destination_id: str | None, reason: str, fp: str | None = None) -> None:
        """The item is on the destination already and was not created by this migration."""
        self.count("duplicate", kind=ref.item_type)
        self.log("duplicate", label, reason)
        self._map(ref, destination_id, "present", label, fp)
        self.events.append(ev.DuplicateSkipped(self.pair, self.folder, self.kind, label, reason))

    def adopted(self, ref: ItemRef, label: str, destination_id: str, reason: str) -> None:
        """A copy made by an earlier run (found by its stamp) is recorded without creating anything."""
        self.count("duplicate", kind=ref.item_type)
        self.log("recovered", label, reason)
        self._map(ref, destination_id, "migrated", label)

    def migrated(self, ref: ItemRef, label: str, destination_id: str | None, warnings: Iterable[str]) -> None:
        self.count("migrated", kind=ref.item_type)
        self._map(ref, destination_id, "migrated", label)
        for warning in warnings:
            self.log("changed", label, warning)
        self.events.append(ev.ItemMigrated(self.pair, self.folder, self.kind, label, ref.size))


def exact_key(prepared: Prepared) -> str:
    """Byte-identical content: the MIME itself for mail, every field for other items."""
    item = prepared.item
    if isinstance(item, Message) and item.content:
        content = item.content  # hashed as held: items of one source arrive alike
        data = content.base64() if content.is_encoded else content.raw()
        return hashlib.blake2b(data, digest_size=16).hexdigest()
    return repr(attrs.evolve(item, source_id=None)) if item is not None else prepared.ref.id


def batches(refs: Sequence[ItemRef], max_items: int, max_bytes: int) -> Iterator[list[ItemRef]]:
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


class Collapse:
    """Exact copies in one source folder under the SKIP and REPORT policies.

    The first copy is sent; later copies wait for its outcome: recorded as present with its
    destination id once it is created, or failed (retried by the next run) when it was not.
    """

    _SKIPPED = "an exact copy of another item in this source folder; not copied (duplicate policy: skip)"

    def __init__(self) -> None:
        self.created: dict[str, str] = {}  # key -> destination id of the first copy
        self._pending: set[str] = set()  # first copies sent in the current batch
        self._waiting: list[tuple[str, Prepared]] = []

    def is_copy(self, key: str, prepared: Prepared, out: BatchOutcome, policy: DuplicatePolicy) -> bool:
        """Whether ``prepared`` is held back as a copy (SKIP); REPORT logs it and lets it go."""
        if key not in self.created and key not in self._pending:
            self._pending.add(key)
            return False
        if policy is DuplicatePolicy.REPORT:
            out.log("duplicate", prepared.label, "an exact copy of another item in this source folder; copied anyway (duplicate policy: report)")
            return False
        if key in self.created:
            out.present(prepared.ref, prepared.label, self.created[key] or None, self._SKIPPED)
        else:
            self._waiting.append((key, prepared))
        return True

    def settle(self, out: BatchOutcome) -> None:
        """After the batch's creates: the waiting copies follow their first copy's outcome."""
        for key, prepared in self._waiting:
            if key in self.created:
                out.present(prepared.ref, prepared.label, self.created[key] or None, self._SKIPPED)
            else:
                out.failed(prepared.ref, prepared.label, "an exact copy of an item that could not be created; the next run tries again")
        self._waiting.clear()
        self._pending.clear()
