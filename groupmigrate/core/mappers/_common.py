"""Rules every mapper applies: route checks and fields the destination does not store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Item
from groupmigrate.core.mappers._base import (
    DROPPED,
    NOTICE,
    SKIPPED,
    Change,
    MapContext,
    MapResult,
    default_of,
    format_size,
)

__all__ = ["drop_fields", "notice_once", "route_skip", "skip"]

#: attributes that identify an item rather than describe it; never dropped
_NEVER_DROPPED = frozenset({"source_id", "mime"})


def skip(ctx: MapContext, field: str | None, reason: str) -> MapResult:
    """A skipped result, counted in ``ctx`` under ``("skipped", field)``."""
    ctx.count(SKIPPED, field, label=f"items skipped ({field or 'item'})")
    return MapResult(None, reason)


def route_skip(item: Item, caps: Capabilities, ctx: MapContext) -> MapResult | None:
    """Skip what no destination of this route can take: its item type, or its size."""
    if item.item_type not in caps.item_types:
        return skip(ctx, "item_type", f"item type {item.item_type!r} is not supported by the destination")
    limit = caps.max_item_size
    if limit is not None and item.size > limit:
        return skip(
            ctx,
            "size",
            f"item size {format_size(item.size, limit)} is over the destination limit of {format_size(limit, item.size)}",
        )
    return None


def notice_once(ctx: MapContext, key: str, change: Change) -> list[Change]:
    """``[change]`` the first time ``key`` comes up for the account, ``[]`` afterwards."""
    return [change] if ctx.once(key) else []


def unsupported_fields(item: Item, caps: Capabilities, ctx: MapContext, also: Iterable[str] = ()) -> list[str]:
    """The attributes of ``item`` the route cannot store: ``also`` plus those the context names."""
    names = [f.alias for f in attrs.fields(type(item)) if f.alias not in _NEVER_DROPPED]
    wanted = set(also)
    return [n for n in names if n in wanted or ctx.is_unsupported(item.item_type, n, caps)]


def drop_fields(
    item: Item,
    fields: Iterable[str],
    ctx: MapContext,
    messages: dict[str, str] | None = None,
) -> tuple[Item, list[Change]]:
    """Reset each of ``fields`` that holds a value to its default; count it; notice it once.

    The notice (one per account and field) names the field; ``messages`` may give a better
    sentence per field. Fields already at their default are left alone and not counted.
    """
    changes: list[Change] = []
    updates: dict[str, object] = {}
    for name in fields:
        default = default_of(type(item), name)
        if getattr(item, name) == default:
            continue
        updates[name] = default
        label = (messages or {}).get(name) or f"{item.item_type} field {name!r} is not stored by the destination"
        ctx.count(DROPPED, name, label=f"{label}; dropped")
        changes += notice_once(
            ctx,
            f"dropped:{item.item_type}.{name}",
            Change(NOTICE, name, f"{label}; it is dropped from every item of this account that has it"),
        )
    if not updates:
        return item, changes
    return cast(Item, attrs.evolve(cast(Any, item), **updates)), changes
