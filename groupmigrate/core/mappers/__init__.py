"""Item mappers: a neutral item -> what the destination accepts under the route's capabilities.

Usage, one context per account and run::

    ctx = MapContext(owner="alice@example.org")
    result = map_item(item, caps, ctx)
    if result.item is None:
        log(result.skip_reason)
    for change in result.changes:
        log(change.kind, change.field, change.message)
    ...
    for total in ctx.summary():   # at the end of the account: every rule with its count
        log(total.message)

Contract of :func:`map_item`:

- It never changes its input (items are frozen); a changed item is a new one
  (``attrs.evolve``), an unchanged one is returned as is.
- A skipped item has ``result.item is None`` and a ``skip_reason`` naming sizes and limits.
- ``result.changes`` lists each change made to this item. Rules that hold for the whole
  account (organizer replaced, attendee responses dropped, a field the destination does not
  store) appear once per account, as a ``"notice"`` on the first item they touch; every
  occurrence is counted in the context (:meth:`MapContext.summary`).
- The MIME of a message is never modified by a mapper.
- Mapping runs before sanitizing (:mod:`groupmigrate.core.sanitize`) and before fingerprinting
  (:mod:`groupmigrate.core.dedup`), so fingerprints describe the item as created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Contact, Event, Item, Message, Note, Task
from groupmigrate.core.mappers._base import (
    CHANGED,
    DROPPED,
    NOTICE,
    SKIPPED,
    Change,
    MapContext,
    MapResult,
    format_size,
)
from groupmigrate.core.mappers._common import route_skip
from groupmigrate.core.mappers.calendar import map_event
from groupmigrate.core.mappers.contacts import map_contact, photo_attachment
from groupmigrate.core.mappers.mail import map_message
from groupmigrate.core.mappers.notes import map_note
from groupmigrate.core.mappers.tasks import map_task

__all__ = [
    "CHANGED",
    "DROPPED",
    "NOTICE",
    "SKIPPED",
    "Change",
    "MapContext",
    "MapResult",
    "format_size",
    "map_contact",
    "map_event",
    "map_item",
    "map_message",
    "map_note",
    "map_task",
    "photo_attachment",
]

_MAPPERS: dict[type, Callable[[Any, Capabilities, MapContext], MapResult]] = {
    Message: map_message,
    Contact: map_contact,
    Event: map_event,
    Task: map_task,
    Note: map_note,
}


def map_item(item: Item, caps: Capabilities, ctx: MapContext) -> MapResult:
    """Map one item to what the route's destination accepts.

    First the rules of every item type (the route must carry the item type; an item over
    ``caps.max_item_size`` is skipped with its size), then those of the item's type
    (see :func:`map_message`, :func:`map_contact`, :func:`map_event`, :func:`map_task`,
    :func:`map_note`).

    Args:
        item: the neutral item read from the source.
        caps: the capabilities of the route (source and destination intersected).
        ctx: the mapping context of the account (one per account and run).

    Returns:
        The item to create with the changes made, or a skip with its reason.

    Raises:
        TypeError: ``item`` is not one of the neutral item classes.
    """
    mapper = _MAPPERS.get(type(item))
    if mapper is None:
        raise TypeError(f"map_item: cannot map {type(item).__name__} objects")
    skipped = route_skip(item, caps, ctx)
    if skipped is not None:
        return skipped
    return mapper(item, caps, ctx)
