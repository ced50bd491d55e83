"""The EWS test server: Exchange Web Services on loopback for tests, demos and benchmarks."""

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
