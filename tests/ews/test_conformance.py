"""The backend conformance suite on the EWS backend, for each pair of server profiles."""

from collections.abc import Iterator

import pytest

from groupmigrate.testing.conformance import BackendConformance
from groupmigrate.testing.conformance.ews import EWSHarness

#: (source profile, destination profile, the source reached with OAuth)
PAIRS = [("exchange-online", "workmail", True), ("exchange", "exchange-online", False),
         ("workmail", "exchange", False), ("generic", "generic", False)]  # fmt: skip


class TestEWSConformance(BackendConformance):
    @pytest.fixture(params=PAIRS, ids=[f"{a}->{b}" for a, b, _ in PAIRS])
    def harness(self, request: pytest.FixtureRequest) -> Iterator[EWSHarness]:
        source, destination, oauth = request.param
        with EWSHarness.serve(source, destination, oauth=oauth) as harness:
            yield harness
