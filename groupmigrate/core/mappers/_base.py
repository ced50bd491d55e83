"""Result and context types shared by the mappers and the sanitizer."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from typing import Any

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Item

__all__ = [
    "CHANGED",
    "DROPPED",
    "NOTICE",
    "SKIPPED",
    "Change",
    "MapContext",
    "MapResult",
    "format_size",
]

#: a value was rewritten (the item keeps an equivalent of it)
CHANGED = "changed"
#: a value was removed from the item
DROPPED = "dropped"
#: a rule that holds for a whole account, reported once per account
NOTICE = "notice"
#: the item is not created (only counted in :meth:`MapContext.summary`)
SKIPPED = "skipped"


@attrs.frozen
class Change:
    """One thing a mapper or the sanitizer did to an item.

    Attributes:
        kind: ``"changed"`` (rewritten), ``"dropped"`` (removed), ``"notice"`` (an
            account-wide rule, reported the first time it applies) or ``"skipped"``
            (only in :meth:`MapContext.summary`).
        field: the item attribute concerned (``"organizer"``, ``"attendees.response"``,
            ``"photo"``, ``"websites"``) or a MIME header name (``"From"``); None when the
            change concerns the item as a whole.
        message: a sentence for the report, naming the values concerned.
        count: how many values the change concerns (e.g. three responses dropped).
    """

    kind: str
    field: str | None
    message: str
    count: int = 1


@attrs.define
class MapResult:
    """What :func:`~groupmigrate.core.mappers.map_item` decided for one item.

    Attributes:
        item: the item to create (a new frozen item when something changed, the input item
            itself otherwise), or None when the item is skipped.
        skip_reason: why the item is not created, with the sizes or names concerned;
            None unless ``item`` is None.
        changes: what was changed or dropped on the way, in the order it happened.
    """

    item: Item | None
    skip_reason: str | None = None
    changes: list[Change] = attrs.field(factory=list)

    @property
    def skipped(self) -> bool:
        """True when the item is not to be created."""
        return self.item is None


def _frozen(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@attrs.define
class MapContext:
    """Per-account state of the mappers for one run.

    Create one per account and run; pass it to every :func:`map_item` call of that account
    (it is safe to share between worker threads). It remembers which account-wide notices
    were already returned, so that e.g. "the mailbox owner becomes organizer" is logged once
    per account rather than once per appointment, while every occurrence is still counted.

    Attributes:
        owner: the destination mailbox address; it becomes the organizer of appointments
            where the destination cannot keep the original one.
        unsupported_fields: fields the destination does not store beyond what
            :class:`~groupmigrate.capabilities.Capabilities` describes, as
            ``"<item type>.<attribute>"`` (``"contacts.nickname"``); they are dropped and
            counted like the fields the capabilities rule out.
    """

    owner: str
    unsupported_fields: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen)
    _noticed: set[str] = attrs.field(factory=set, init=False, repr=False)
    _items: dict[tuple[str, str | None], int] = attrs.field(factory=dict, init=False, repr=False)
    _values: dict[tuple[str, str | None], int] = attrs.field(factory=dict, init=False, repr=False)
    _labels: dict[tuple[str, str | None], str] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def count(self, kind: str, field: str | None, values: int = 1, label: str | None = None) -> None:
        """Count one affected item (and ``values`` affected values) under ``(kind, field)``.

        ``label`` describes the change for :meth:`summary` (first one wins).
        """
        key = (kind, field)
        with self._lock:
            self._items[key] = self._items.get(key, 0) + 1
            self._values[key] = self._values.get(key, 0) + values
            if label is not None:
                self._labels.setdefault(key, label)

    def once(self, key: str) -> bool:
        """True the first time ``key`` is seen in this context, False afterwards."""
        with self._lock:
            if key in self._noticed:
                return False
            self._noticed.add(key)
            return True

    def counted(self, kind: str, field: str | None) -> tuple[int, int]:
        """``(items, values)`` counted so far under ``(kind, field)``."""
        with self._lock:
            key = (kind, field)
            return self._items.get(key, 0), self._values.get(key, 0)

    def summary(self) -> list[Change]:
        """Totals of everything counted for the account, one :class:`Change` per kind and field.

        ``count`` is the number of affected values; the message also gives the number of
        items when it differs, e.g. ``"attendee responses dropped: 57 on 20 item(s)"``,
        ``"mailbox owner made organizer: 20 item(s)"``.
        """
        with self._lock:
            keys = sorted(self._items, key=lambda k: (k[0], k[1] or ""))
            return [self._total(key) for key in keys]

    def _total(self, key: tuple[str, str | None]) -> Change:
        kind, field = key
        label = self._labels.get(key) or f"{kind} {field or 'item'}"
        values, items = self._values[key], self._items[key]
        amount = f"{items} item(s)" if values == items else f"{values} on {items} item(s)"
        return Change(kind, field, f"{label}: {amount}", values)

    def is_unsupported(self, item_type: str, field: str, caps: Capabilities) -> bool:
        """True when the route cannot store ``field`` of ``item_type`` items."""
        name = f"{item_type}.{field}"
        extra: Collection[str] = getattr(caps, "unsupported_fields", ()) or ()
        return name in self.unsupported_fields or name in extra


def format_size(size: int, other: int | None = None) -> str:
    """A size for people: ``"24.1 MB"`` (1 MB = 1024 × 1024 bytes), ``"9.8 KB"``, ``"512 bytes"``.

    ``other`` is the size it is compared with (a limit, or the size compared with the
    limit): when both would print alike yet differ, the exact byte count follows, so a
    message never reads "2.0 KB is over the limit of 2.0 KB" without showing the difference.
    """
    text = _human(size)
    if other is not None and other != size and _human(other) == text:
        text += f" ({size:,} bytes)"
    return text


def _human(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def default_of(cls: type, field: str) -> Any:
    """The default value of an attrs ``field`` of ``cls``."""
    default: object = attrs.fields_dict(cls)[field].default
    factory = getattr(default, "factory", None)
    if callable(factory) and getattr(default, "takes_self", None) is False:
        return factory()  # an attrs.Factory default
    return default
