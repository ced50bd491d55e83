"""Fixtures for tests against a real Redis on loopback.

``redis_server`` is one server for the whole session (:class:`~groupmigrate.testing.redis.RedisServer`,
with a password); ``make_limits`` builds :class:`~groupmigrate.celery.redis_limits.RedisLimits`
on it under a key prefix of the test's own, so that tests never share a scope, and closes
them after the test; ``redis_factory`` starts servers of a test's own (to stop, freeze or
restart), stopped after the test.

Without Redis (Debian package ``redis-server``) the tests are skipped, except when the
environment variable ``CI`` is ``true`` or ``1``: there a missing server is a failure.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from groupmigrate.testing.servers import require_server

from groupmigrate.testing.redis import RedisServer, find_redis

WORKER = Path(__file__).with_name("_worker.py")


def _require_redis() -> None:
    require_server(find_redis(), "Redis is not installed (Debian: apt-get install redis-server)")
    pytest.importorskip("redis", reason="the redis client library is not installed (pip install groupmigrate[celery])")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A started Redis for the whole session, with a password."""
    _require_redis()
    server = RedisServer(password=f"pw-{secrets.token_hex(8)}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    """Start a Redis of the test's own: ``redis_factory(password=...)``."""
    _require_redis()
    servers: list[RedisServer] = []

    def start(**kwargs: Any) -> RedisServer:
        server = RedisServer(**kwargs)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own."""
    return f"test-{secrets.token_hex(6)}:"


@pytest.fixture
def make_limits(redis_server: RedisServer, prefix: str) -> Iterator[Callable[..., Any]]:
    """``make_limits(capacities={...}, url=..., **options)``: RedisLimits under the test's prefix."""
    from groupmigrate.celery.redis_limits import RedisLimits

    made: list[RedisLimits] = []

    def make(capacities: dict[str, int] | None = None, *, url: str | None = None, **options: Any) -> RedisLimits:
        options.setdefault("prefix", prefix)
        limits = RedisLimits(url or redis_server.url, capacities or {"source": 2}, **options)
        made.append(limits)
        return limits

    try:
        yield make
    finally:
        for limits in made:
            limits.close()


def worker_command(*args: object) -> list[str]:
    """The command line of a worker process (``_worker.py``) doing ``args``."""
    return [sys.executable, str(WORKER), *map(str, args)]
