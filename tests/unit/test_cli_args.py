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


def test_verbose_shows_one_line_per_folder_and_batch(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    import groupmigrate as gm
    from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
    from groupmigrate.items import Message

    src, dst = MemoryServer(), MemoryServer()
    src.add_mailbox("a@contoso.com")
    dst.add_mailbox("a@example.org")
    for n in range(3):
        src.add_item("a@contoso.com", ("Inbox",), Message.from_mime(f"Subject: {n}\r\nMessage-ID: <{n}@x>\r\n\r\nb\r\n".encode()))
    with caplog.at_level(logging.INFO, logger="groupmigrate"):
        gm.Migrator(MemorySource(src), MemoryDestination(dst), state=str(tmp_path / "s.db"), item_types=["mail"]).run(
            [gm.AccountPair("a@contoso.com", "a@example.org")]
        )
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.endswith("Inbox: 3 item(s) listed, 3 to copy") for line in lines)
    assert any(line.endswith("Inbox: batch of 3: migrated 3") for line in lines)
