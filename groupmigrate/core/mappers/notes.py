"""Notes: kept whole; the colour only where the destination stores one, the dates only where
the destination lets them be set."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Note
from groupmigrate.core.mappers._base import DROPPED, Change, MapContext, MapResult, default_of
from groupmigrate.core.mappers._common import drop_fields, unsupported_fields

__all__ = ["map_note"]

_MESSAGES = {
    "color": "the destination does not store note colours",
    "created": "the destination sets a note's created time itself",
    "modified": "the destination sets a note's modified time itself",
}


def map_note(note: Note, caps: Capabilities, ctx: MapContext) -> MapResult:
    """Map one note.

    The colour is kept where ``caps.supports_note_color`` and the created / modified times
    where ``caps.keeps_note_dates``; elsewhere each is dropped, and every note that loses a
    value is logged with it (and counted). Other fields the route cannot store are dropped,
    counted for every note and noticed once per account.

    Args:
        note: the source note.
        caps: the route's capabilities.
        ctx: the account's mapping context.

    Returns:
        The note to create.
    """
    lost = (() if caps.supports_note_color else ("color",)) + (() if caps.keeps_note_dates else ("created", "modified"))
    note, changes = _drop_logged(note, lost, ctx)
    others = [name for name in unsupported_fields(note, caps, ctx) if name not in lost]
    item, more = drop_fields(note, others, ctx, _MESSAGES)
    return MapResult(item, changes=changes + more)


def _drop_logged(note: Note, names: tuple[str, ...], ctx: MapContext) -> tuple[Note, list[Change]]:
    """Drop each of ``names`` that holds a value; one change on this note per value lost."""
    changes: list[Change] = []
    updates: dict[str, object] = {}
    for name in names:
        value = getattr(note, name)
        default = default_of(Note, name)
        if value == default:
            continue
        updates[name] = default
        ctx.count(DROPPED, name, label=f"{_MESSAGES[name]}; dropped")
        changes.append(Change(DROPPED, name, f"{_MESSAGES[name]}; {_shown(value)} not kept"))
    if not updates:
        return note, changes
    return cast(Note, attrs.evolve(cast(Any, note), **updates)), changes


def _shown(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return repr(str(value))
