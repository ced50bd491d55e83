"""The ``groupmigrate`` command, run in a subprocess against two EWS test servers."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from groupmigrate.demo import seed_mailbox
from groupmigrate.testing import EWSTestServer

SECRETS = ("Cl1ent-S3cret-9d4e", "Adm1n-Pa55-77c1", "Us3r-Pa55-a0b2")


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groupmigrate.cli", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def servers(register_source):
    with EWSTestServer(profile="exchange-online") as src, EWSTestServer(profile="workmail") as dst:
        src.add_oauth_app("tenant-1", "app-1", SECRETS[0])
        dst.add_mailbox("admin@example.org", password=SECRETS[1])
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        for user in ("alice", "bob", "carol"):
            seed_mailbox(src, user, now, oversized=False)
            dst.add_mailbox(f"{user}@example.org", password=SECRETS[2])
        dst.grant_impersonation("admin@example.org", "alice@example.org")
        dst.grant_impersonation("admin@example.org", "carol@example.org")
        hashes = {a: src.content_hash(a) for a in ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com")}
        register_source(src)
        yield src, dst
        assert src.write_operations() == []
        assert {a: src.content_hash(a) for a in hashes} == hashes


def write_config(tmp_path: Path, src: EWSTestServer, dst: EWSTestServer, accounts: str) -> Path:
    (tmp_path / "accounts.csv").write_text(accounts, encoding="utf-8")
    config = tmp_path / "migration.toml"
    config.write_text(
        f"""
[source]
url = "{src.url}"
profile = "exchange-online"
impersonation = true

[source.auth]
type = "oauth2"
tenant_id = "tenant-1"
client_id = "app-1"
client_secret_env = "GM_TEST_SOURCE_SECRET"
token_url = "{src.token_url('tenant-1')}"

[destination]
url = "{dst.url}"
profile = "workmail"
impersonation = true

[destination.auth]
type = "basic"
username = "admin@example.org"
password_env = "GM_TEST_DEST_PASSWORD"

[migration]
accounts = "accounts.csv"
workers = 2
state = "migration.db"
report = "report.html"
""",
        encoding="utf-8",
    )
    return config


ENV = {"GM_TEST_SOURCE_SECRET": SECRETS[0], "GM_TEST_DEST_PASSWORD": SECRETS[1]}
# alice through the admin's impersonation; bob with his own destination password
ACCOUNTS = (
    "source;destination;destination_username;destination_password\n"
    f"alice@contoso.com;alice@example.org;;\nbob@contoso.com;bob@example.org;bob@example.org;{SECRETS[2]}\n"
)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_every_command_end_to_end(servers, tmp_path):
    src, dst = servers
    config = str(write_config(tmp_path, src, dst, ACCOUNTS))
    outputs = []

    check = cli("check", config, env=ENV)
    outputs += [check.stdout, check.stderr]
    assert check.returncode == 0, check.stdout + check.stderr
    assert [line.split()[:2] for line in check.stdout.splitlines()] == [
        ["OK", "source"], ["OK", "destination"], ["OK", "source"], ["OK", "destination"]
    ]

    analyze = cli("analyze", config, "--json", env=ENV)
    outputs += [analyze.stdout, analyze.stderr]
    assert analyze.returncode == 0, analyze.stderr
    analysis = json.loads(analyze.stdout)
    assert analysis["accounts"][0]["items"]["mail"] == 25 and analysis["total_items"] == 2 * 35

    migrate = cli("-vv", "migrate", config, "--no-progress", env=ENV)
    outputs += [migrate.stdout, migrate.stderr]
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    assert "alice@contoso.com -> alice@example.org: completed; migrated 34, duplicate 1" in migrate.stdout
    assert (tmp_path / "report.html").exists()

    verify = cli("verify", config, "--json", env=ENV)
    outputs += [verify.stdout, verify.stderr]
    assert verify.returncode == 0, verify.stdout[-3000:]
    assert json.loads(verify.stdout)["totals"]["missing"] == 0

    delta = cli("migrate", config, "--delta", "--json", env=ENV)
    outputs += [delta.stdout, delta.stderr]
    assert delta.returncode == 0, delta.stderr[-3000:]
    assert json.loads(delta.stdout)["totals"]["migrated"] == 0

    report = cli("report", str(tmp_path / "migration.db"), "--json", "--html", str(tmp_path / "again.html"))
    outputs += [report.stdout, report.stderr]
    assert report.returncode == 0
    assert json.loads(report.stdout)["mode"] == "delta"
    assert (tmp_path / "again.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    state_bytes = (tmp_path / "migration.db").read_bytes().decode("latin-1")
    assert_no_secret(*outputs, state_bytes, (tmp_path / "report.html").read_text(encoding="utf-8"))


def test_check_failure_exits_3(servers, tmp_path):
    src, dst = servers
    accounts = "source,destination,destination_username,destination_password\nbob@contoso.com,bob@example.org,bob@example.org,Wrong-Password-1\n"
    config = str(write_config(tmp_path, src, dst, accounts))
    result = cli("check", config, env=ENV)
    assert result.returncode == 3
    assert "FAIL destination" in result.stdout and "bob@example.org" in result.stdout
    assert "Wrong-Password-1" not in result.stdout + result.stderr


def test_configuration_errors_exit_2_and_name_the_key(servers, tmp_path):
    src, dst = servers
    config = write_config(tmp_path, src, dst, ACCOUNTS)
    result = cli("check", str(config), env={"GM_TEST_DEST_PASSWORD": SECRETS[1]})
    assert result.returncode == 2
    assert "source.auth.client_secret_env" in result.stderr
    config.write_text(config.read_text() + "\nworkers_typo = 3\n")
    result = cli("check", str(config), env=ENV)
    assert result.returncode == 2 and "workers_typo" in result.stderr
    assert cli("migrate").returncode == 2  # usage error: no configuration given


def test_failed_items_exit_1(servers, tmp_path):
    src, dst = servers
    config = str(write_config(tmp_path, src, dst, "source,destination\ncarol@contoso.com,carol@example.org\n"))
    dst.knobs.max_item_size = 2000  # every mail is bigger: the destination refuses them
    try:
        result = cli("migrate", config, "--no-progress", env={**ENV}, cwd=tmp_path)
    finally:
        dst.knobs.max_item_size = None
    assert result.returncode == 1, result.stdout + result.stderr
    assert "completed_with_errors" in result.stdout


def test_demo_runs_and_checks_itself(tmp_path):
    result = cli("demo", "--no-progress", "--report", str(tmp_path / "report.html"), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo OK" in result.stdout
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "alice@contoso.com" in html and "over the destination limit" in html
