"""What a backend (under a given profile) supports, as data the migrator reads."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from groupmigrate.items import ALL_ITEM_TYPES, ItemType

__all__ = ["Capabilities"]


def _item_types(value: Iterable[ItemType]) -> frozenset[ItemType]:
    return frozenset(value)


@attrs.frozen
class Capabilities:
    """Features and limits of one side of a migration.

    Sizes are in bytes, None meaning no limit. The migrator intersects the source's and the
    destination's capabilities (:meth:`intersect`) and mappers decide from the result.
    """

    name: str = "generic"
    item_types: frozenset[ItemType] = attrs.field(default=frozenset(ALL_ITEM_TYPES), converter=_item_types)
    max_item_size: int | None = None
    #: messages whose attachments reach this total are not accepted (WorkMail: 23 MB)
    max_attachment_size: int | None = None
    supports_contact_photo: bool = True
    supports_distribution_lists: bool = True
    preserves_organizer: bool = True
    preserves_attendee_status: bool = True
    supports_note_color: bool = True
    supports_sync_state: bool = False
    rejects_invalid_urls: bool = False
    rejects_x500_addresses: bool = False
    #: EWS RequestServerVersion the server insists on, None when any is accepted
    pinned_version: str | None = None
    supports_autodiscover: bool = True
    max_batch_items: int = 100
    max_batch_bytes: int = 32 * 1024 * 1024
    max_connections: int = 4
    #: the destination keeps a provenance stamp written with each created item and finds items
    #: by it (EWS: a named extended property); without it a write whose outcome is unknown can
    #: be reconciled only by exact content, or is logged as ambiguous
    supports_provenance: bool = False
    #: the destination stores a message's bytes exactly as given (IMAP), so a digest of the
    #: MIME as sent identifies the copy
    stores_exact_mime: bool = False
    #: a folder may hold items of another type (a mail filed in Contacts), as Exchange allows
    allows_mixed_folders: bool = False
    #: most email addresses / web pages a contact keeps (None: no limit)
    max_contact_emails: int | None = None
    max_contact_websites: int | None = None
    max_contact_addresses: int | None = None

    @property
    def needs_pinned_version(self) -> bool:
        return self.pinned_version is not None

    def intersect(self, other: Capabilities) -> Capabilities:
        """What holds on a route from ``self`` (source) to ``other`` (destination).

        Features are those both sides have; size limits and version pins are the
        destination's; batch sizes and connection counts the smaller of both.
        """
        return Capabilities(
            name=f"{self.name}->{other.name}",
            item_types=self.item_types & other.item_types,
            # what the source already holds is readable; only the destination limits what is written
            max_item_size=other.max_item_size,
            max_attachment_size=other.max_attachment_size,
            supports_contact_photo=self.supports_contact_photo and other.supports_contact_photo,
            supports_distribution_lists=self.supports_distribution_lists and other.supports_distribution_lists,
            preserves_organizer=self.preserves_organizer and other.preserves_organizer,
            preserves_attendee_status=self.preserves_attendee_status and other.preserves_attendee_status,
            supports_note_color=self.supports_note_color and other.supports_note_color,
            supports_sync_state=self.supports_sync_state,
            rejects_invalid_urls=self.rejects_invalid_urls or other.rejects_invalid_urls,
            rejects_x500_addresses=self.rejects_x500_addresses or other.rejects_x500_addresses,
            pinned_version=other.pinned_version,
            supports_autodiscover=other.supports_autodiscover,
            max_batch_items=min(self.max_batch_items, other.max_batch_items),
            max_batch_bytes=min(self.max_batch_bytes, other.max_batch_bytes),
            max_connections=min(self.max_connections, other.max_connections),
            supports_provenance=other.supports_provenance,
            stores_exact_mime=other.stores_exact_mime,
            allows_mixed_folders=other.allows_mixed_folders,
            max_contact_emails=other.max_contact_emails,
            max_contact_websites=other.max_contact_websites,
            max_contact_addresses=other.max_contact_addresses,
        )
