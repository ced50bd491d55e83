"""A test that needs a missing server is skipped, except in CI, where it fails."""

from __future__ import annotations

import pytest

from groupmigrate.testing.servers import require_server


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_missing_server_fails(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI: Redis is not installed"):
        require_server(None, "Redis is not installed")


def test_elsewhere_a_missing_server_skips_and_a_present_one_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Radicale is not installed"):
        require_server(None, "Radicale is not installed")
    require_server("/usr/bin/redis-server", "never shown")
