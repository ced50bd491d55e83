"""CalDAV and CardDAV servers: calendars, tasks, notes (VJOURNAL) and contacts.

``DavSource`` reads without a single write (its HTTP session refuses every method that could
change the server); ``DavDestination`` writes one resource per item with ``PUT`` and
``If-None-Match: *``, named after the item's provenance stamp. requests, lxml and the
iCalendar and vCard libraries are imported when one of them is first used; importing this
package (or its plug-in declaration, :mod:`groupmigrate.backends.dav.plugin`) does not need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from groupmigrate.backends.dav.destination import DavDestination
    from groupmigrate.backends.dav.source import DavSource

__all__ = ["DavDestination", "DavSource"]


def __getattr__(name: str) -> Any:
    if name == "DavSource":
        from groupmigrate.backends.dav.source import DavSource

        return DavSource
    if name == "DavDestination":
        from groupmigrate.backends.dav.destination import DavDestination

        return DavDestination
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
