"""Fixtures for tests against a real Radicale CalDAV/CardDAV server on loopback.

``radicale`` is one server for the whole session (:class:`~groupmigrate.testing.radicale.RadicaleServer`);
``dav_user`` adds a fresh user to it for each test, so tests never share a collection (and
drops the server's pending faults after the test); ``radicale_factory`` starts servers of a
test's own (TLS, other Radicale settings), stopped after the test.

Without Radicale (the ``radicale`` package, in the ``test`` extra) the tests are skipped,
except when the environment variable ``CI`` is ``true`` or ``1``: there a missing server is a
failure.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest

from groupmigrate.testing.servers import require_server

from groupmigrate.testing.radicale import RadicaleServer, find_radicale


class DavUser(NamedTuple):
    name: str
    password: str
    principal_url: str  # also the calendar and address book home: <server url><name>/


def require_radicale() -> None:
    """Skip the test when Radicale is not installed (fail instead under CI)."""
    require_server(find_radicale(), "Radicale is not installed (pip install -e '.[test]' installs it)")


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    """A started Radicale (plain HTTP) for the whole session."""
    require_radicale()
    server = RadicaleServer()
    try:
        yield server
    finally:
        server.stop()


_numbers = itertools.count(1)


@pytest.fixture
def dav_user(radicale: RadicaleServer) -> Iterator[DavUser]:
    """A new user on ``radicale``, with no collection yet: ``(name, password, principal_url)``."""
    name = f"user{next(_numbers)}"
    user = DavUser(name, f"pw-{secrets.token_urlsafe(12)}", radicale.principal_url(name))
    radicale.add_user(user.name, user.password)
    yield user
    radicale.clear_faults()


@pytest.fixture
def radicale_factory() -> Iterator[Callable[..., RadicaleServer]]:
    """Start a Radicale of the test's own: ``radicale_factory(tls=True)``, ``radicale_factory(config=...)``."""
    require_radicale()
    servers: list[RadicaleServer] = []

    def start(**kwargs: Any) -> RadicaleServer:
        server = RadicaleServer(**kwargs)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
