"""EWS backends (exchangelib): :class:`EWSSource` reads mailboxes, :class:`EWSDestination` writes them.

Example::

    from groupmigrate.backends.ews import EWSSource, EWSDestination
    src = EWSSource(url="https://outlook.office365.com/EWS/Exchange.asmx",
                    auth=OAuth2ClientCredentials(tenant_id=..., client_id=..., client_secret=...),
                    impersonation=True, profile="exchange-online")
    mailbox = src.open_mailbox("alice@contoso.com")
    mailbox.check()

Arguments of both: ``url`` (None: autodiscover, Exchange profiles only), ``auth``,
``impersonation``, ``profile`` (``generic``, ``exchange``, ``exchange-online``,
``workmail``), ``verify_tls``, ``max_connections``, ``timeout``.
The corrections this backend makes to exchangelib are listed in :mod:`.fixes` and
:mod:`.retry`; they live on the backend's own subclasses and objects, so exchangelib used
directly elsewhere in the process behaves as shipped. Every server call is made once and its failure classified (see
:mod:`.retry`); the migrator's executor owns retries. :class:`EWSDestinationMailbox` writes a
provenance stamp with each item where the profile keeps it and finds items by it
(:class:`~groupmigrate.protocols.SupportsProvenance`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from groupmigrate.backends.ews.profiles import PROFILES, EWSProfile

if TYPE_CHECKING:
    from groupmigrate.backends.ews.destination import EWSDestination, EWSDestinationMailbox
    from groupmigrate.backends.ews.source import EWSSource, EWSSourceMailbox

__all__ = ["PROFILES", "EWSDestination", "EWSDestinationMailbox", "EWSProfile", "EWSSource", "EWSSourceMailbox"]

# exchangelib is imported when a class that needs it is first used, so that listing the
# installed backends (``groupmigrate backends``) and reading profiles stay light.
_LAZY = {
    "EWSDestination": "destination", "EWSDestinationMailbox": "destination",
    "EWSSource": "source", "EWSSourceMailbox": "source",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
