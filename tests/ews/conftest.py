"""Fixtures for the EWS backend tests: test servers per profile and the conformance harness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.testing import EWSTestServer

from .servers import EWSHarness, endpoint_kwargs, served


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


#: (source profile, destination profile, source uses OAuth)
PAIRS = [
    ("exchange-online", "workmail", True),
    ("exchange", "exchange-online", False),
    ("workmail", "exchange", False),
]


@pytest.fixture(params=PAIRS, ids=[f"{a}->{b}" for a, b, _ in PAIRS])
def harness(request: pytest.FixtureRequest) -> Iterator[EWSHarness]:
    source_profile, destination_profile, oauth = request.param
    src_addr, dst_addr = "alice@contoso.com", "alice@example.org"
    with served(source_profile, src_addr) as src_server, served(destination_profile, dst_addr) as dst_server:
        dst_server.knobs.max_item_size = 200_000
        yield EWSHarness(
            source_server=src_server,
            destination_server=dst_server,
            source=EWSSource(**endpoint_kwargs(src_server, oauth=oauth)),
            destination=EWSDestination(**endpoint_kwargs(dst_server)),
            readback=EWSSource(**endpoint_kwargs(dst_server)),
            source_address=src_addr,
            destination_address=dst_addr,
        )
