"""Fixtures for tests against a real Dovecot IMAP server on loopback.

``dovecot`` is one server for the whole session (:class:`~groupmigrate.testing.dovecot.DovecotServer`);
``imap_user`` adds a fresh user to it for each test, so tests never share a mailbox;
``dovecot_factory`` starts servers of a test's own (other settings), stopped after the test.

Without Dovecot (Debian package ``dovecot-imapd``; ``bash scripts/test.sh`` installs it when
run as root) the tests are skipped, except when the environment variable ``CI`` is ``true`` or
``1``: there a missing server is a failure.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest

from groupmigrate.testing.servers import require_server

from groupmigrate.testing.dovecot import DovecotServer, find_dovecot


class ImapUser(NamedTuple):
    name: str
    password: str


def _require_dovecot() -> None:
    require_server(find_dovecot(), "Dovecot is not installed (Debian: apt-get install dovecot-imapd; "
                                   "bash scripts/test.sh installs it when run as root)")  # fmt: skip


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A started Dovecot for the whole session."""
    _require_dovecot()
    server = DovecotServer()
    try:
        yield server
    finally:
        server.stop()


_numbers = itertools.count(1)


@pytest.fixture
def imap_user(dovecot: DovecotServer) -> ImapUser:
    """A new user on ``dovecot`` with an empty mailbox: ``(name, password)``."""
    user = ImapUser(f"user{next(_numbers)}", f"pw-{secrets.token_urlsafe(12)}")
    dovecot.add_user(user.name, user.password)
    return user


@pytest.fixture
def dovecot_factory() -> Iterator[Callable[..., DovecotServer]]:
    """Start a Dovecot of the test's own: ``dovecot_factory(max_userip_connections=2)``."""
    _require_dovecot()
    servers: list[DovecotServer] = []

    def start(**kwargs: Any) -> DovecotServer:
        server = DovecotServer(**kwargs)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
