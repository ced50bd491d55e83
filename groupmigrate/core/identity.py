"""Who an item is: its provenance stamp, and a label a person recognises it by.

An item's identity is where it came from: the source mailbox and the source item id. The
state's id map records it; where the destination keeps it, the stamp below travels with the
created item, so a write whose answer was lost, or a migration re-run with a fresh state
file, finds the copy again without looking at content.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from groupmigrate.items import Contact, Event, Item, Message, Note, Task

__all__ = ["item_label", "provenance_stamp"]


def provenance_stamp(source_mailbox: str, source_id: str) -> str:
    """32 hex digits naming (source mailbox, source item id); the same in every process.

    The mailbox address is compared case-insensitively; the item id exactly.
    """
    data = f"{source_mailbox.strip().lower()}\x1f{source_id}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16, person=b"gm-provenance").hexdigest()


def _when(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def item_label(item: Item) -> str:
    """How a person recognises ``item`` in a log: subject, sender and date; a contact's name.

    Never the body, never only a hash; the source id only when nothing else is known.
    """
    parts: list[str] = []
    if isinstance(item, Message):
        if item.content and (item.subject is None or item.sender is None):
            item = Message.from_mime(item.content, source_id=item.source_id)  # the header block only
        parts = [f'"{item.subject}"' if item.subject else "(no subject)"]
        if item.sender:
            parts.append(f"from {item.sender}")
        if item.sent or item.received:
            parts.append(_when(item.sent or item.received))
    elif isinstance(item, Contact):
        name = item.display_name or " ".join(p for p in (item.given_name, item.surname) if p) or item.company
        parts = [name or "(no name)"]
        if item.emails:
            parts.append(f"<{item.emails[0]}>")
    elif isinstance(item, Event):
        parts = [f'"{item.subject}"' if item.subject else "(no subject)", _when(item.start)]
    elif isinstance(item, Task):
        parts = [f'"{item.subject}"' if item.subject else "(no subject)"]
        if item.due:
            parts.append(f"due {_when(item.due)}")
    elif isinstance(item, Note):
        parts = [f'"{item.subject}"' if item.subject else "(untitled note)"]
    label = ", ".join(p for p in parts if p)
    if label in ("(no subject)", "(no name)", "(untitled note)") and item.source_id:
        label = f"{label} [{item.source_id[-12:]}]"
    return label
