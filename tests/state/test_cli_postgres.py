"""The command line with the state in PostgreSQL: migrate, verify, runs and report, and the
database password shown nowhere."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from groupmigrate.backends.memory import MemoryServer
from groupmigrate.items import Message


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "groupmigrate.frontdoors.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ, **(env or {})})  # fmt: skip


def test_migrate_verify_runs_and_report_with_the_state_in_postgresql(postgres_server, tmp_path: Path) -> None:
    password = f"Db-{secrets.token_urlsafe(10)}"
    role = f"gm_{secrets.token_hex(4)}"
    postgres_server.add_role(role, password)
    url = postgres_server.new_database(owner=role)  # the URL without the password: libpq takes it from PGPASSWORD
    source = MemoryServer(tmp_path / "source.pickle")
    source.add_mailbox("alice@contoso.com")
    for n in range(3):
        source.add_item("alice@contoso.com", ("Inbox",), Message(mime=f"Subject: {n}\r\nMessage-ID: <{n}@x>\r\n\r\nbody\r\n".encode()))
    source.save()
    destination = MemoryServer(tmp_path / "destination.pickle")
    destination.add_mailbox("alice@example.org")
    destination.save()
    (tmp_path / "accounts.csv").write_text("source,destination\nalice@contoso.com,alice@example.org\n", encoding="utf-8")
    (tmp_path / "migration.toml").write_text(f"""
[source]
backend = "memory"
file = "source.pickle"

[destination]
backend = "memory"
file = "destination.pickle"

[migration]
accounts = "accounts.csv"
state = "{url}"
""", encoding="utf-8")  # fmt: skip
    env = {"PGPASSWORD": password}
    outputs = []
    for args in (("migrate", "migration.toml", "--no-progress"), ("verify", "migration.toml"), ("runs", url), ("report", url)):
        done = _cli(*args, cwd=tmp_path, env=env)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        outputs.append(done.stdout + done.stderr)
    assert "completed; migrated 3," in outputs[0]
    assert "missing 0, extra 0, duplicate 0" in outputs[1]
    assert outputs[2].count("full") >= 1 and "verify" in outputs[2]
    assert all(password not in text for text in outputs)
    # a wrong password is named as such, and the password given is shown nowhere
    wrong = _cli("runs", url.replace(f"{role}@", f"{role}:Not-{password}@"), cwd=tmp_path)
    assert wrong.returncode != 0 and f"Not-{password}" not in wrong.stdout + wrong.stderr
