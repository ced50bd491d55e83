"""Suite-wide test setup: the ``--run-slow`` option and the source immutability guard.

The guard holds every source-side EWS test server a test registers. At the end of the
session (or earlier, when a fixture calls :meth:`SourceRegistry.release`) it asserts that no
such server answered a write operation after it was registered and that the content of each
of its mailboxes is unchanged. Register a server once it is seeded::

    def test_something(register_source):
        with EWSTestServer() as src:
            seed(src)
            register_source(src)      # snapshot: content hash per mailbox, writes so far
            ... migrate from src ...

Seeding more into a registered source later (e.g. mail arriving for a delta run) is a test
acting as the outside world, not the migration: call ``register_source(src)`` again after it
to take a new snapshot. Writes answered before the new snapshot are still reported (seeding
goes straight to the server's store, never through an EWS write operation); only the
content hashes start afresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run the heavier variants (tests marked 'slow')",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="heavier variant: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@attrs.define
class _Watched:
    server: Any
    label: str
    writes_before: int
    hashes: dict[str, str]


def _mailboxes(server: Any) -> list[str]:
    with server.store.lock:
        return sorted(server.store.mailboxes)


def _writes(server: Any) -> list[Any]:
    return list(server.write_operations())


class SourceRegistry:
    """Source-side test servers whose mailboxes must never change."""

    def __init__(self) -> None:
        self._watched: dict[int, _Watched] = {}
        self.problems: list[str] = []
        #: How many servers and mailboxes were checked, for the record.
        self.servers_checked = 0
        self.mailboxes_checked = 0

    def register(self, server: Any, label: str | None = None) -> None:
        """Snapshot ``server`` now: the content hash of each mailbox and the writes answered so far.

        Registering a server again takes a new snapshot (after the test seeded more into it);
        the write operations answered since the previous snapshot are reported first.
        """
        previous = self._watched.get(id(server))
        if previous is not None:
            self.problems.extend(self._check(previous, hashes=False))
        self._watched[id(server)] = _Watched(
            server=server,
            label=label or repr(server),
            writes_before=len(_writes(server)),
            hashes={address: server.content_hash(address) for address in _mailboxes(server)},
        )

    def check(self, server: Any) -> list[str]:
        """What changed on ``server`` since it was registered (empty when nothing did)."""
        watched = self._watched.get(id(server))
        if watched is None:
            return []
        return self._check(watched)

    def release(self, server: Any) -> None:
        """Check ``server`` now and stop watching it (frees its memory before the session ends)."""
        watched = self._watched.pop(id(server), None)
        if watched is not None:
            self.problems.extend(self._check(watched))

    def _check(self, watched: _Watched, hashes: bool = True) -> list[str]:
        problems = []
        writes = _writes(watched.server)[watched.writes_before :]
        if writes:
            shown = ", ".join(f"{op.operation} on {op.mailbox}" for op in writes[:5])
            problems.append(f"{watched.label}: the source answered {len(writes)} write operation(s): {shown}")
        for address, digest in watched.hashes.items() if hashes else ():
            try:
                now = watched.server.content_hash(address)
            except KeyError:
                now = "<mailbox gone>"
            if now != digest:
                problems.append(f"{watched.label}: source mailbox {address} changed")
        self.servers_checked += 1
        self.mailboxes_checked += len(watched.hashes) if hashes else 0
        return problems

    def finish(self) -> list[str]:
        for key in list(self._watched):
            self.problems.extend(self._check(self._watched.pop(key)))
        return self.problems


@pytest.fixture(scope="session", autouse=True)
def source_registry() -> Iterator[SourceRegistry]:
    """The session's :class:`SourceRegistry`; its teardown fails the session on any source change."""
    registry = SourceRegistry()
    yield registry
    problems = registry.finish()
    assert not problems, "the migration wrote to a source:\n  " + "\n  ".join(problems)


@pytest.fixture(scope="session")
def register_source(source_registry: SourceRegistry) -> Any:
    """``register_source(server, label=None)``: watch a seeded source-side server (see the module docstring)."""
    return source_registry.register
