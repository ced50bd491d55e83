"""The shared backend conformance suite, run against the EWS backends for three profile pairs."""

from groupmigrate.testing.conformance import BackendConformance


class TestEWSConformance(BackendConformance):
    """Every test runs for exchange-online -> workmail, exchange -> exchange-online and workmail -> exchange
    (the ``harness`` fixture in conftest.py)."""
