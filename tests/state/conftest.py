"""Fixtures for the state-store tests, run against a real PostgreSQL on loopback.

``postgres_server`` is one server for the whole session
(:class:`~groupmigrate.testing.postgres.PostgresServer`); ``pg_url`` is the URL of a fresh,
empty database on it for each test, dropped after it, so tests never share state. Both come
from :mod:`groupmigrate.testing.postgres`; another test directory gets them the same way,
by importing them into its ``conftest.py``.

``store`` is a state store of each kind in turn: a SQLite file, then a PostgreSQL database.

Without PostgreSQL (Debian package ``postgresql``; ``bash scripts/test.sh`` installs it when
run as root) or psycopg the PostgreSQL tests are skipped, except when the environment
variable ``CI`` is ``true`` or ``1``: there a missing server is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from groupmigrate.core.state import StateStore, open_state
from groupmigrate.testing.postgres import pg_url, postgres_server  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[StateStore]:
    """A new state store of each kind in turn."""
    s = open_state(tmp_path / "state.db" if request.param == "sqlite" else request.getfixturevalue("pg_url"))
    yield s
    s.close()
