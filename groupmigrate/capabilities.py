"""What a backend (under a given profile) supports, as data the core reads.

Every field says, in its metadata, how a source's and a destination's values meet on a route
(the model is rclone's ``Features.Mask``):

===============  ==================================================================================
``both``         a feature the route has only if both sides have it (booleans: and; sets: intersection)
``either``       a restriction that holds if either side has it (booleans: or)
``destination``  what is written decides: the destination's value (size limits, what it keeps)
``source``       what is read decides: the source's value (e.g. sync states for delta runs)
``min``          the smaller of both; None means no limit
===============  ==================================================================================

:meth:`Capabilities.intersect` applies the rules; a backend adding a field adds its rule with
it. Mappers apply the limits and lossy rules and log each change; backend converters are
lossless or refuse an item. Connection facts (a server's API version, discovery) belong to
the backend, not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from groupmigrate.items import ALL_ITEM_TYPES, ItemType

__all__ = ["BODY_FORMATS", "MEET_RULES", "Capabilities"]

#: How two sides' values of one field meet; see the module docstring.
MEET_RULES = ("both", "either", "destination", "source", "min")
#: Body formats an item's text may be stored in.
BODY_FORMATS = ("text", "html")


def _item_types(value: Iterable[ItemType]) -> frozenset[ItemType]:
    return frozenset(value)


def _formats(value: Iterable[str]) -> frozenset[str]:
    formats = frozenset(value)
    unknown = formats - set(BODY_FORMATS)
    if unknown:
        raise ValueError(f"body_formats: unknown format(s) {sorted(unknown)}; choose from {BODY_FORMATS}")
    return formats


def _meet(rule: str, default: Any, **kwargs: Any) -> Any:
    assert rule in MEET_RULES
    return attrs.field(default=default, metadata={"meet": rule, **kwargs.pop("metadata", {})}, **kwargs)


@attrs.frozen
class Capabilities:
    """Features and limits of one side of a migration.

    Sizes are in bytes and counts are per item; None means no limit.
    """

    name: str = "generic"
    #: item types the side can hold
    item_types: frozenset[ItemType] = _meet("both", frozenset(ALL_ITEM_TYPES), converter=_item_types)
    #: largest item accepted
    max_item_size: int | None = _meet("destination", None)
    #: messages whose attachments reach this total are not accepted (WorkMail: 23 MB)
    max_attachment_size: int | None = _meet("destination", None)
    #: formats a body may be stored in; HTML arriving where only text is kept becomes text
    body_formats: frozenset[str] = _meet("both", frozenset(BODY_FORMATS), converter=_formats)
    #: a contact photo is shown as the contact's picture (else it is kept as an attachment)
    supports_contact_photo: bool = _meet("both", True)
    supports_distribution_lists: bool = _meet("both", True)
    #: the organizer of an appointment can be set on create (what the destination can write)
    preserves_organizer: bool = _meet("destination", True)
    #: attendees' responses can be set on create (what the destination can write)
    preserves_attendee_status: bool = _meet("destination", True)
    #: resource attendees (rooms, equipment) stay resources (else they become required attendees)
    keeps_resource_attendees: bool = _meet("destination", True)
    #: a modified occurrence of a series keeps files attached to it (EWS: UpdateItem cannot add them)
    keeps_occurrence_attachments: bool = _meet("destination", True)
    supports_note_color: bool = _meet("both", True)
    #: notes keep their created / modified times (else the destination sets them)
    keeps_note_dates: bool = _meet("destination", True)
    #: the side lists what changed since an opaque sync state (delta runs)
    supports_sync_state: bool = _meet("source", False)
    rejects_invalid_urls: bool = _meet("either", False)
    rejects_x500_addresses: bool = _meet("either", False)
    max_batch_items: int = _meet("min", 100)
    max_batch_bytes: int = _meet("min", 32 * 1024 * 1024)
    #: concurrent requests the server accepts from one client
    max_connections: int = _meet("min", 4)
    #: the destination keeps a provenance stamp written with each created item and finds items
    #: by it; without it a write whose outcome is unknown can be settled only by content
    supports_provenance: bool = _meet("destination", False)
    #: the destination stores a message's bytes exactly as given (IMAP)
    stores_exact_mime: bool = _meet("destination", False)
    #: a folder may hold items of another type (a mail filed in Contacts), as Exchange allows
    allows_mixed_folders: bool = _meet("destination", False)
    #: most email addresses / web pages / postal addresses / phone numbers a contact keeps
    max_contact_emails: int | None = _meet("destination", None)
    max_contact_websites: int | None = _meet("destination", None)
    max_contact_addresses: int | None = _meet("destination", None)
    max_contact_phones: int | None = _meet("destination", None)
    #: most instant-messaging addresses a contact keeps
    max_contact_im_addresses: int | None = _meet("destination", None)
    #: item fields the side does not keep, as ``"<item type>.<field>"`` (``"contacts.manager"``):
    #: the mappers drop them and log each item that loses a value
    unsupported_fields: frozenset[str] = _meet("destination", frozenset(), converter=frozenset)

    def intersect(self, other: Capabilities) -> Capabilities:
        """What holds on a route from ``self`` (source) to ``other`` (destination), by each
        field's rule (see the module docstring)."""
        values: dict[str, Any] = {"name": f"{self.name}->{other.name}"}
        for field in attrs.fields(Capabilities):
            rule = field.metadata.get("meet")
            if rule is None:
                continue
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            values[field.name] = _apply(rule, mine, theirs)
        return Capabilities(**values)

    def describe(self) -> dict[str, Any]:
        """Every field as plain data (for ``groupmigrate backends`` and reports)."""
        out: dict[str, Any] = {}
        for field in attrs.fields(Capabilities):
            value = getattr(self, field.name)
            out[field.name] = sorted(value) if isinstance(value, frozenset) else value
        return out


def _apply(rule: str, mine: Any, theirs: Any) -> Any:
    if rule == "both":
        return mine & theirs if isinstance(mine, frozenset) else (mine and theirs)
    if rule == "either":
        return mine or theirs
    if rule == "destination":
        return theirs
    if rule == "source":
        return mine
    if mine is None or theirs is None:  # "min": None is no limit
        return theirs if mine is None else mine
    return min(mine, theirs)
