"""Fixtures for migrations on several worker processes: a real PostgreSQL (the shared state
store) and a real Redis (the Celery broker and the shared server limits), one of each per
session. Without them the tests skip, except under CI (``CI`` is ``true`` or ``1``), where a
missing server fails the test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from groupmigrate.testing.servers import require_server

from groupmigrate.testing.postgres import pg_url, postgres_server  # noqa: F401  (fixtures)
from groupmigrate.testing.redis import RedisServer, find_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A started Redis with a password, for the whole session."""
    require_server(find_redis(), "Redis is not installed (Debian: apt-get install redis-server; bash scripts/test.sh installs it as root)")
    server = RedisServer(password=f"pw-{secrets.token_hex(8)}")
    try:
        yield server
    finally:
        server.stop()
