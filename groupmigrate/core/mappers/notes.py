"""Notes: kept whole; the colour only where the destination stores one."""

from __future__ import annotations

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Note
from groupmigrate.core.mappers._base import MapContext, MapResult
from groupmigrate.core.mappers._common import drop_fields, unsupported_fields

__all__ = ["map_note"]

_MESSAGES = {
    "color": "the destination does not store note colours",
    "created": "the destination sets a note's created time itself",
    "modified": "the destination sets a note's modified time itself",
}


def map_note(note: Note, caps: Capabilities, ctx: MapContext) -> MapResult:
    """Map one note.

    The colour is kept where ``caps.supports_note_color``; elsewhere it is dropped, counted
    for every note, and noticed once per account.

    Args:
        note: the source note.
        caps: the route's capabilities.
        ctx: the account's mapping context.

    Returns:
        The note to create.
    """
    also = (() if caps.supports_note_color else ("color",)) + (() if caps.keeps_note_dates else ("created", "modified"))
    item, changes = drop_fields(note, unsupported_fields(note, caps, ctx, also), ctx, _MESSAGES)
    return MapResult(item, changes=changes)
