"""The ``groupmigrate`` command, run in a subprocess against two EWS test servers."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from groupmigrate.testing.servers import require_server

from groupmigrate.frontdoors.demo import seed_mailbox
from groupmigrate.testing import EWSTestServer

SECRETS = ("Cl1ent-S3cret-9d4e", "Adm1n-Pa55-77c1", "Us3r-Pa55-a0b2")


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groupmigrate.frontdoors.cli", *args], capture_output=True, text=True, timeout=timeout,
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
        ["OK", "source"], ["OK", "destination"], ["OK", "source"], ["OK", "destination"], ["total:", "2"]
    ]
    assert check.stdout.splitlines()[-1] == "total: 2 of 2 account(s) ready on both sides, 0 problem(s)"

    analyze = cli("analyze", config, "--json", env=ENV)
    outputs += [analyze.stdout, analyze.stderr]
    assert analyze.returncode == 0, analyze.stderr
    analysis = json.loads(analyze.stdout)
    assert analysis["accounts"][0]["items"]["mail"] == 25 and analysis["total_items"] == 2 * 35

    migrate = cli("-vv", "migrate", config, "--no-progress", env=ENV)
    outputs += [migrate.stdout, migrate.stderr]
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    # the source's duplicate mail is copied too: the destination mirrors the source
    assert "alice@contoso.com -> alice@example.org: completed; migrated 35," in migrate.stdout
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

    runs = cli("runs", str(tmp_path / "migration.db"))
    outputs += [runs.stdout, runs.stderr]
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.splitlines()
    assert [line.split()[1:3] for line in lines] == [["migration", "full"], ["verify", "verify"], ["migration", "delta"]]
    assert all("2 accounts (2 completed)" in line for line in lines), lines
    verify_id = lines[1].split()[0]
    again = cli("report", str(tmp_path / "migration.db"), "--run", verify_id, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["kind"] == "verify"

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


def test_runs_lists_every_run_with_its_kind_and_status(tmp_path):
    from groupmigrate.core.state import SqliteStateStore

    path = tmp_path / "migration.db"
    store = SqliteStateStore(path)
    with store.writer():
        full = store.start_run("full", None, ["mail"])
        for key in ("a", "b"):
            store.start_account(full, key, f"{key}@contoso.com", f"{key}@example.org")
        store.finish_account(full, "a", "completed")
        store.finish_account(full, "b", "failed", "mailbox not found")
        store.finish_run(full, "completed_with_errors")
        verify = store.start_run("verify", None, ["mail"])
        store.finish_run(verify, "completed")
        trial = store.start_run("trial", None, ["mail"])  # never finished: its process died
        store.start_account(trial, "a", "a@contoso.com", "a@example.org")
    store.close()

    result = cli("runs", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:3] == [full, "migration", "full"] and "completed_with_errors" in lines[0]
    assert "2 accounts (1 completed, 1 failed)" in lines[0]
    assert lines[1].split()[:3] == [verify, "verify", "verify"] and "0 accounts" in lines[1]
    assert lines[2].split()[:3] == [trial, "migration", "trial"]
    assert "interrupted" in lines[2] and "1 account (1 interrupted)" in lines[2]

    as_json = json.loads(cli("runs", str(path), "--json").stdout)
    assert [(r["kind"], r["mode"], r["status"]) for r in as_json] == [
        ("migration", "full", "completed_with_errors"), ("verify", "verify", "completed"), ("migration", "trial", "interrupted")
    ]
    only_verify = cli("runs", str(path), "--kind", "verify")
    assert [line.split()[0] for line in only_verify.stdout.splitlines()] == [verify]
    # the default report is the latest migration run, not the verification
    assert json.loads(cli("report", str(path), "--json").stdout)["run_id"] == trial
    missing = cli("runs", str(tmp_path / "nope.db"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_state_file_in_use_exits_4_and_names_the_holder(servers, tmp_path):
    src, dst = servers
    config = str(write_config(tmp_path, src, dst, "source,destination\ncarol@contoso.com,carol@example.org\n"))
    hold = (
        "import sys\nfrom groupmigrate.core.state import SqliteStateStore\n"
        f"with SqliteStateStore({str(tmp_path / 'migration.db')!r}).writer():\n"
        "    print('locked', flush=True)\n    sys.stdin.readline()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        before = len(dst.write_operations("carol@example.org"))
        for command in ("migrate", "verify"):
            result = cli(command, config, "--no-progress" if command == "migrate" else "--json", env=ENV, cwd=tmp_path)
            assert result.returncode == 4, (command, result.stdout, result.stderr)
            assert f"is in use by process {holder.pid} on host " in result.stderr
            assert "wait for it to finish, or stop it" in result.stderr
        assert len(dst.write_operations("carol@example.org")) == before  # refused before any write
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # the holder is gone: the same command runs (its outcome depends on what earlier tests left in carol's mailbox)
    result = cli("migrate", config, "--no-progress", env=ENV, cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    assert "carol@contoso.com -> carol@example.org" in result.stdout


@pytest.mark.parametrize(("source", "destination", "alice_migrated"), [("memory", "memory", 36), ("ews", "memory", 36), ("memory", "ews", 35)])
def test_demo_runs_between_any_backends_that_offer_a_demo_server(tmp_path, source, destination, alice_migrated):
    """The oversized mail is skipped only where the destination has WorkMail's attachment limit."""
    result = cli("demo", "--no-progress", "--source", source, "--destination", destination,
                 "--report", str(tmp_path / "report.html"), cwd=tmp_path, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo OK" in result.stdout and f"alice@contoso.com -> alice@example.org: completed; migrated {alice_migrated}," in result.stdout


def test_demo_names_a_backend_that_is_not_installed(tmp_path):
    result = cli("demo", "--no-progress", "--source", "pop3", cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "no backend 'pop3' is installed" in result.stderr


@pytest.mark.parametrize(("source", "destination", "alice_migrated"), [("ews", "imap", 26), ("imap", "ews", 25), ("imap", "imap", 26)])
def test_demo_runs_routes_through_a_real_dovecot(tmp_path, source, destination, alice_migrated):
    """IMAP carries mail only: from Exchange the other types are skipped with their reason."""
    from groupmigrate.testing.dovecot import find_dovecot

    require_server(find_dovecot(), "Dovecot is not installed (Debian: dovecot-imapd; bash scripts/test.sh installs it as root)")
    result = cli("demo", "--no-progress", "--source", source, "--destination", destination,
                 "--report", str(tmp_path / "report.html"), cwd=tmp_path, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo OK" in result.stdout and "the source saw no write" in result.stdout
    assert f"alice@contoso.com -> alice@example.org: completed; migrated {alice_migrated}," in result.stdout
    if source == "ews":
        assert "skipped 10," in result.stdout  # contacts, calendar, tasks and notes: not IMAP


@pytest.mark.parametrize(("source", "destination", "alice_migrated"),
                         [("ews", "imap+dav", 36), ("imap+dav", "ews", 35), ("ews", "dav", 10)])  # fmt: skip
def test_demo_runs_routes_into_and_out_of_hosting(tmp_path, source, destination, alice_migrated):
    """Mail in a real Dovecot, everything else in a real Radicale, as one account per user."""
    from groupmigrate.testing.dovecot import find_dovecot
    from groupmigrate.testing.radicale import find_radicale

    missing = [name for name, found in (("Dovecot (dovecot-imapd)", find_dovecot()), ("Radicale", find_radicale())) if not found]
    require_server(not missing, f"not installed: {', '.join(missing)}; bash scripts/test.sh installs them")
    result = cli("demo", "--no-progress", "--source", source, "--destination", destination,
                 "--report", str(tmp_path / "report.html"), cwd=tmp_path, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo OK" in result.stdout and "the source saw no write" in result.stdout
    assert f"alice@contoso.com -> alice@example.org: completed; migrated {alice_migrated}," in result.stdout
    assert "missing 0, extra 0, duplicate 0" in result.stdout
    if destination == "dav":
        assert "skipped 26," in result.stdout and "over the destination's size limit" not in result.stdout
