"""Server profiles of the DAV backend: what each kind of CalDAV/CardDAV server keeps, as data.

Every profile holds calendars, tasks (VTODO), notes (VJOURNAL) and contacts (vCard), one kind
per folder (a calendar collection says which components it takes). Items are whole iCalendar
or vCard resources: organizer, attendees with their responses, resource attendees (CUTYPE),
photos and groups (distribution lists) travel inside them. Provenance: each created resource
is named after its stamp (``<stamp>.ics`` / ``<stamp>.vcf``), and the stamp is also written
into the item, so a lost answer is settled by listing names. Sync states: a sync-collection
token (RFC 6578) where the collection offers one, else a map of ETags.

``radicale``: Radicale 3 (its ``max_resource_size`` is 10 MB by default, ``max_content_length``
100 MB: the smaller bounds an item). ``generic``: any CalDAV/CardDAV server, limits unknown.
What the converters cannot keep is in :data:`UNKEPT_FIELDS`, dropped and counted by the mappers.
"""

from __future__ import annotations

from typing import Any

from groupmigrate.capabilities import Capabilities

__all__ = ["PROFILES", "RADICALE_MAX_RESOURCE", "UNKEPT_FIELDS"]

#: Radicale's default ``[server] max_resource_size``
RADICALE_MAX_RESOURCE = 10 * 1024 * 1024

#: item fields iCalendar / vCard as written by this backend's converters cannot hold
UNKEPT_FIELDS: frozenset[str] = frozenset()


def _capabilities(name: str, **kwargs: Any) -> Capabilities:
    return Capabilities(
        name=name,
        item_types=frozenset({"calendar", "contacts", "tasks", "notes"}),
        body_formats=frozenset({"text", "html"}),
        supports_contact_photo=True,
        supports_distribution_lists=True,
        preserves_organizer=True,
        preserves_attendee_status=True,
        keeps_resource_attendees=True,
        keeps_occurrence_attachments=True,
        supports_note_color=True,
        keeps_note_dates=True,
        supports_sync_state=True,
        supports_provenance=True,
        stores_exact_mime=False,
        allows_mixed_folders=False,
        max_connections=4,
        unsupported_fields=UNKEPT_FIELDS,
        **kwargs,
    )


#: profile name → capabilities
PROFILES: dict[str, Capabilities] = {
    "radicale": _capabilities("radicale", max_item_size=RADICALE_MAX_RESOURCE),
    "generic": _capabilities("generic"),
}
