"""Fixtures of the reliability tests, and the figures they report at the end of the run."""

from __future__ import annotations

import json
from typing import Any

import pytest

#: Figures the tests record (faults injected, items checked, kills survived, ...), printed
#: in the terminal summary so that a run documents what it proved.
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="session")
def figures() -> dict[str, Any]:
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {json.dumps(value, sort_keys=True, default=str)}")

