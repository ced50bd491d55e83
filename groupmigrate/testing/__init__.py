"""Test doubles that ship with groupmigrate: an EWS test server and a backend conformance suite.

``from groupmigrate.testing import EWSTestServer`` imports the server (and lxml) only when
the name is first used, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from groupmigrate.testing.ews import EWSTestServer, Knobs, Operation, StoredItem

__all__ = ["EWSTestServer", "Knobs", "Operation", "StoredItem"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from groupmigrate.testing import ews

        return getattr(ews, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
