"""The backend conformance suite on the in-memory backend: as shipped, and stating every limit."""

import pytest

from groupmigrate.testing.conformance import BackendConformance
from groupmigrate.testing.conformance.memory import LIMITED, MemoryHarness


class TestMemoryConformance(BackendConformance):
    @pytest.fixture(params=[None, LIMITED], ids=["memory", "memory-limited"])
    def harness(self, request: pytest.FixtureRequest) -> MemoryHarness:
        return MemoryHarness(destination_capabilities=request.param)
