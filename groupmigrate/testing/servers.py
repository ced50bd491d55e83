"""The rule for tests that need a real server (Dovecot, Radicale, PostgreSQL, Redis, Chromium).

Without the server a test is skipped, naming what to install, except in CI (the environment
variable ``CI`` is ``true`` or ``1``): there a missing server is a failure, never a silent skip.
"""

from __future__ import annotations

import os

__all__ = ["on_ci", "require_server"]


def on_ci() -> bool:
    """Whether the tests run in CI, where every server must be there."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def require_server(found: object, message: str) -> None:
    """Skip the calling test unless ``found`` (fail it instead in CI); ``message`` says what is
    missing and how to install it."""
    if found:
        return
    import pytest

    if on_ci():
        pytest.fail(f"CI: {message}", pytrace=False)
    pytest.skip(message)
