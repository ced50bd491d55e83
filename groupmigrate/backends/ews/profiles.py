"""Server profiles: what each kind of EWS server supports, as data.

A profile names a kind of server (``generic``, ``exchange``, ``exchange-online``,
``workmail``) and carries its :class:`~groupmigrate.capabilities.Capabilities` plus the few
connection facts the backend needs (EWS version pin, FindItem page size, autodiscover).
"""

from __future__ import annotations

from typing import Any

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError

__all__ = ["PROFILES", "EWSProfile", "get_profile"]

_MB = 1024 * 1024

# EWS cannot set a calendar item's Organizer on any server: CreateItem makes the mailbox
# owner the organizer. Every profile says so, so the mapper can log it.
#
# What every EWS server shares: a folder may hold items of any type (a mail filed among
# contacts), a contact holds three e-mail and three IM addresses and one web page, and the server keeps
# a message's content rather than its bytes (it re-encodes the MIME). Named extended
# properties (the provenance stamp) are kept by Exchange, Exchange Online and WorkMail;
# the generic profile does not count on them. Files attached to one modified occurrence of a
# series cannot be written (UpdateItem cannot add attachments), and an unknown (generic) server
# may store resource attendees as required ones.


def _capabilities(**kwargs: Any) -> Capabilities:
    """Capabilities with what every EWS server shares, and ``kwargs``."""
    return Capabilities(
        allows_mixed_folders=True, max_contact_emails=3, max_contact_websites=1, max_contact_addresses=3,
        max_contact_im_addresses=3, keeps_occurrence_attachments=False,
        stores_exact_mime=False, keeps_note_dates=False,
        # a series on Exchange is its rule: occurrences added outside it (iCalendar RDATE) have no place
        unsupported_fields=frozenset({"calendar.recurrence_dates"}) | kwargs.pop("unsupported_fields", frozenset()),
        **kwargs
    )


@attrs.frozen
class EWSProfile:
    """Connection facts and capabilities of one kind of EWS server.

    Attributes:
        name: the profile name users pass as ``profile=``.
        capabilities: what the server supports and its limits.
        pinned_version: the RequestServerVersion to send (None: ask the server).
        pinned_build: the server build that goes with ``pinned_version`` (major, minor).
        page_size: items per FindItem/FindFolder page (Exchange Online allows up to 1000).
        autodiscover: whether autodiscover may be used when no URL is given.
    """

    name: str
    capabilities: Capabilities
    pinned_version: str | None = None
    pinned_build: tuple[int, int] | None = None
    page_size: int = 1000
    autodiscover: bool = True


PROFILES: dict[str, EWSProfile] = {
    "generic": EWSProfile(
        name="generic",
        # an unknown server may fold resources into the required attendees, as a real one does
        capabilities=_capabilities(
            name="generic", preserves_organizer=False, supports_provenance=False, keeps_resource_attendees=False
        ),
        page_size=100,
        autodiscover=False,  # an unknown server: give its URL
    ),
    "exchange": EWSProfile(
        name="exchange",
        capabilities=_capabilities(
            name="exchange",
            supports_provenance=True,
            max_item_size=150 * _MB,
            preserves_organizer=False,
            supports_sync_state=True,
            max_connections=8,
        ),
    ),
    "exchange-online": EWSProfile(
        name="exchange-online",
        capabilities=_capabilities(
            name="exchange-online",
            supports_provenance=True,
            max_item_size=150 * _MB,
            preserves_organizer=False,
            supports_sync_state=True,
            # EWSMaxConcurrency is 27 per mailbox; the default stays lower so that several
            # migrations of one tenant do not starve each other.
            max_connections=27,
        ),
    ),
    "workmail": EWSProfile(
        name="workmail",
        capabilities=_capabilities(
            name="workmail",
            supports_provenance=True,
            max_item_size=25 * _MB,
            max_attachment_size=23 * _MB,
            supports_contact_photo=False,
            supports_distribution_lists=False,
            preserves_organizer=False,
            preserves_attendee_status=False,
            rejects_invalid_urls=True,
            rejects_x500_addresses=True,
            max_batch_bytes=25 * _MB,
        ),
        pinned_version="Exchange2010_SP2",
        pinned_build=(14, 2),
        autodiscover=False,
    ),
}


def get_profile(name: str) -> EWSProfile:
    """The profile called ``name``.

    Raises:
        ConfigError: when no profile has that name.
    """
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}; choose one of {', '.join(sorted(PROFILES))}", key="profile") from None
