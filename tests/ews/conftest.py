"""Fixtures for the EWS backend tests: test servers per profile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from groupmigrate.testing import EWSTestServer

from .servers import served


@pytest.fixture
def online() -> Iterator[EWSTestServer]:
    with served("exchange-online", "alice@contoso.com", "bob@contoso.com") as server:
        yield server


@pytest.fixture
def workmail() -> Iterator[EWSTestServer]:
    with served("workmail", "alice@example.org") as server:
        yield server


@pytest.fixture
def exchange() -> Iterator[EWSTestServer]:
    with served("exchange", "alice@contoso.com") as server:
        yield server

