"""Notes: EWS sticky notes (``IPM.StickyNote`` items, returned as ``Message``) <-> :class:`~groupmigrate.items.Note`.

exchangelib has no note model; notes are read and written as :class:`~.models.MailItem`
with ItemClass ``IPM.StickyNote``, the colour in PidLidNoteColor and the window size in
PidLidNoteWidth / PidLidNoteHeight. Creation and change times are server-set: they are read,
and the mappers drop them for EWS destinations (``keeps_note_dates``).
"""

from __future__ import annotations

from typing import Any

from exchangelib.properties import Body as EWSBody

from groupmigrate.backends.ews.convert.common import body_from_ews, categories, ews_categories, utc
from groupmigrate.backends.ews.convert.vocabulary import NOTE_COLOR
from groupmigrate.backends.ews.models import NOTE_COLOR_VALUES, MailItem
from groupmigrate.items import Note

__all__ = ["FIELDS", "NOTE_CLASS", "to_ews", "to_neutral"]

NOTE_CLASS = "IPM.StickyNote"
FIELDS = (
    "subject", "body", "categories", "datetime_created", "last_modified_time", "note_color", "note_width",
    "note_height", "item_class",
)  # fmt: skip

_COLOR_NAMES = {v: k for k, v in NOTE_COLOR_VALUES.items()}


def to_neutral(item: Any, item_id: str) -> Note:
    body, _ = body_from_ews(item.body)
    number: int | None = getattr(item, "note_color", None)
    return Note(
        subject=item.subject,
        body=body,
        color=NOTE_COLOR.read(_COLOR_NAMES.get(number)) if number is not None else None,
        categories=categories(item.categories),
        created=utc(item.datetime_created),
        modified=utc(item.last_modified_time),
        width=_pixels(getattr(item, "note_width", None)),
        height=_pixels(getattr(item, "note_height", None)),
        source_id=item_id,
    )


def _pixels(value: Any) -> int | None:
    """A stored width or height; None for a value that is no size (negative or not a number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def to_ews(note: Note) -> tuple[MailItem, list[str]]:
    item = MailItem(
        item_class=NOTE_CLASS,
        subject=note.subject or (note.body or "").split("\n", 1)[0][:255] or None,
        body=EWSBody(note.body) if note.body is not None else None,
        categories=ews_categories(note.categories),
        note_color=NOTE_COLOR_VALUES[NOTE_COLOR.to_ews(note.color)] if note.color is not None else None,
        note_width=note.width,
        note_height=note.height,
        is_read=True,
    )
    return item, []
