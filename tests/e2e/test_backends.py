"""Backends as plug-ins, through the command line: a backend shipped in another package works
with no change to groupmigrate, and the in-tree memory backend registers the same way.

The third-party package (tests/e2e/plugin/gm_dirmail) is installed the way pip leaves a
package: the module plus a ``.dist-info`` directory with its entry point, on the path of the
``groupmigrate`` process.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from groupmigrate.backends.memory import MemoryServer
from groupmigrate.items import Message

PLUGIN = Path(__file__).parent / "plugin" / "gm_dirmail"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site directory holding the installed third-party backend."""
    site = tmp_path / "site"
    shutil.copytree(PLUGIN, site / "gm_dirmail")
    info = site / "gm_dirmail-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gm-dirmail\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text('[groupmigrate.backends]\ndirmail = gm_dirmail:BACKEND\n')
    return site


def cli(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    code = "import sys; from groupmigrate.frontdoors.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def mail(n: int, cc: str = "") -> bytes:
    return (f"From: a{n}@contoso.com\r\nTo: alice@contoso.com\r\n{cc}Subject: note {n}\r\n"
            f"Message-ID: <same@contoso.com>\r\nDate: Mon, 02 Mar 2026 12:00:0{n % 10} +0000\r\n\r\nbody {n}\r\n").encode()  # fmt: skip


def test_a_backend_from_another_package_is_listed_and_migrated_through(site: Path, tmp_path: Path) -> None:
    listed = cli(site, tmp_path, "backends")
    assert listed.returncode == 0, listed.stderr
    assert "dirmail: mail as .eml files" in listed.stdout and "memory:" in listed.stdout and "ews:" in listed.stdout

    source = MemoryServer(tmp_path / "source.mem")
    source.add_mailbox("alice@contoso.com")
    sent = [mail(n) for n in range(3)] + [mail(3, cc="Cc: boss@contoso.com\r\n"), mail(0)]  # look-alikes, an exact copy
    for raw in sent:
        source.add_item("alice@contoso.com", ("Inbox", "Projects"), Message.from_mime(raw))
    source.save()
    untouched = (tmp_path / "source.mem").read_bytes()
    (tmp_path / "dest" / "alice@example.org").mkdir(parents=True)
    (tmp_path / "accounts.csv").write_text("source,destination\nalice@contoso.com,alice@example.org\n")
    (tmp_path / "migration.toml").write_text(
        '[source]\nbackend = "memory"\nfile = "source.mem"\n\n'
        '[destination]\nbackend = "dirmail"\nroot = "dest"\n\n'
        '[migration]\naccounts = "accounts.csv"\nitem_types = ["mail"]\nstate = "state.db"\n'
    )
    for command in ("check", "analyze", "migrate", "verify"):
        done = cli(site, tmp_path, command, "migration.toml")
        assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    assert (tmp_path / "source.mem").read_bytes() == untouched  # the source saw no write
    copies = sorted((tmp_path / "dest" / "alice@example.org" / "Inbox" / "Projects").glob("*.eml"))
    assert sorted(p.read_bytes() for p in copies) == sorted(sent)  # every one, byte for byte, none merged
    again = cli(site, tmp_path, "migrate", "migration.toml")
    assert again.returncode == 0 and "migrated 0" in again.stdout
    report = cli(site, tmp_path, "report", "state.db")  # the latest migration: nothing left to copy
    assert report.returncode == 0 and "migrated 0, duplicate 5" in report.stdout, report.stdout
    runs = cli(site, tmp_path, "runs", "state.db").stdout.splitlines()
    assert [line.split()[1:3] for line in runs] == [["migration", "full"], ["verify", "verify"], ["migration", "full"]], runs
    assert email.message_from_bytes(copies[0].read_bytes())["Message-ID"] == "<same@contoso.com>"


def test_a_backend_that_is_not_installed_is_named_with_what_is(site: Path, tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_text("source,destination\na@b.org,a@c.org\n")
    (tmp_path / "bad.toml").write_text(
        '[source]\nbackend = "pop3"\n\n[destination]\nbackend = "dirmail"\nroot = "d"\n\n[migration]\naccounts = "accounts.csv"\n'
    )
    done = cli(site, tmp_path, "check", "bad.toml")
    assert done.returncode == 2
    assert "source.backend: no backend 'pop3' is installed (installed: 'dav', 'dirmail', 'ews', 'imap', 'memory')" in done.stderr
