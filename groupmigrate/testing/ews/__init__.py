"""The EWS test server: Exchange Web Services on loopback for tests, demos and benchmarks.

Example::

    from groupmigrate.testing import EWSTestServer

    with EWSTestServer(profile="exchange-online") as server:
        server.add_mailbox("alice@contoso.com", password="pw")
        server.seed_message("alice@contoso.com", ("Inbox",), b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
        server.knobs.throttle_rate = 0.1       # real-server behaviours, switchable at any time
        ...                                    # point an EWS client at server.url
        assert server.write_operations("alice@contoso.com") == []

Profiles (``exchange``, ``exchange-online``, ``workmail``, ``generic``) set the reported
version, the accepted RequestServerVersion values, limits and defaults of the knobs; see
:data:`PROFILES` and :class:`Knobs`. ``python -m groupmigrate.testing.ews`` runs a server
from the command line.
"""

from groupmigrate.testing.ews.knobs import PROFILES, Knobs, Profile
from groupmigrate.testing.ews.server import EWSTestServer
from groupmigrate.testing.ews.service import Operation
from groupmigrate.testing.ews.store import StoredAttachment, StoredFolder, StoredItem

__all__ = [
    "EWSTestServer",
    "Knobs",
    "Operation",
    "PROFILES",
    "Profile",
    "StoredAttachment",
    "StoredFolder",
    "StoredItem",
]
