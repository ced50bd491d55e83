"""pytest plugin: EWS test server fixtures (see groupmigrate.testing).

``ews_server`` is a running :class:`~groupmigrate.testing.EWSTestServer` (profile
``exchange-online``, in memory), stopped after the test. ``ews_server_factory(**kwargs)``
starts more servers (other profiles, a ``store_dir``...), all stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from groupmigrate.testing.ews import EWSTestServer


@pytest.fixture
def ews_server_factory() -> Iterator[Callable[..., EWSTestServer]]:
    """A function starting EWS test servers: ``ews_server_factory(profile="workmail", store_dir=...)``."""
    from groupmigrate.testing.ews import EWSTestServer

    servers: list[EWSTestServer] = []

    def make(**kwargs: Any) -> EWSTestServer:
        server = EWSTestServer(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def ews_server(ews_server_factory: Callable[..., EWSTestServer]) -> EWSTestServer:
    """A running EWS test server (profile ``exchange-online``, in memory)."""
    return ews_server_factory()
