"""The IMAP backend: any IMAP4rev1 server (Dovecot first) as a source and a destination, mail only.

``IMAPSource`` reads without a single write (EXAMINE, ``BODY.PEEK[]``, a connection guard that
refuses anything else); ``IMAPDestination`` writes with APPEND / MULTIAPPEND and settles lost
answers itself. IMAPClient is imported when one of them is first used; importing this package
(or its plug-in declaration, :mod:`groupmigrate.backends.imap.plugin`) does not need it.
See ``docs/howto/imap.rst``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from groupmigrate.backends.imap.destination import IMAPDestination
    from groupmigrate.backends.imap.source import IMAPSource

__all__ = ["IMAPDestination", "IMAPSource"]


def __getattr__(name: str) -> Any:
    if name == "IMAPSource":
        from groupmigrate.backends.imap.source import IMAPSource

        return IMAPSource
    if name == "IMAPDestination":
        from groupmigrate.backends.imap.destination import IMAPDestination

        return IMAPDestination
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
