"""Command-line arguments people type: --version, -v before or after the command."""

from __future__ import annotations

import logging

import pytest

import groupmigrate
from groupmigrate.frontdoors.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"groupmigrate {groupmigrate.__version__}"


@pytest.mark.parametrize("argv", [["-vv", "backends", "memory"], ["backends", "-vv", "memory"], ["backends", "memory", "-v", "-v"]])
def test_verbose_is_accepted_before_and_after_the_command(argv: list[str], capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    levels: list[int] = []
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: levels.append(kw["level"]))
    assert main(argv) == 0
    assert levels == [logging.DEBUG] and "memory:" in capsys.readouterr().out
