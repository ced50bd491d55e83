"""The standalone test server (``python -m groupmigrate.testing.ews``) and ``groupmigrate demo --keep-servers``."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import groupmigrate as gm
from groupmigrate.items import Contact, Event, Message, Note, Task

ENV_SECRET = "Env-Pa55-never-printed-3f9a"
SAMPLES = {"mail": 12, "contacts": 8, "calendar": 8, "tasks": 4, "notes": 3}


class Running:
    """A subprocess whose stdout is read line by line in the background."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.stderr_path = cwd / f"stderr-{time.monotonic_ns()}.txt"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=self._stderr, text=True, cwd=cwd,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, marker: str, timeout: float) -> str:
        """All output up to the first line containing ``marker``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} in the output:\n" + "\n".join(self.lines) + "\n" + self.stderr())
            self.lines.append(line)
            if marker in line:
                return "\n".join(self.lines)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def interrupt(self, timeout: float = 10) -> int:
        """Ctrl-C; the exit code, which must come within ``timeout`` seconds."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        assert time.monotonic() - began < timeout
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Any]:
    started: list[Running] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Running:
        proc = Running(list(args), tmp_path, env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groupmigrate.frontdoors.cli", *args], capture_output=True, text=True, timeout=240,
        cwd=cwd, env={**os.environ, **(env or {})},
    )  # fmt: skip


def snippet(output: str) -> tuple[str, dict[str, str]]:
    """The printed [source]/[destination] tables and the exported variables."""
    lines = output.splitlines()
    start = lines.index("[source]")
    tables, exports = [], {}
    for line in lines[start:]:
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            exports[name] = value.strip("'")
        elif line.startswith(("Ready", "(")):
            break
        else:
            tables.append(line)
    return "\n".join(tables) + "\n", exports


def printed_url(output: str, label: str) -> str:
    found = re.search(rf"{label}:\s+(http://\S+)", output)
    assert found, output
    return found.group(1)


def read_all(source: gm.EWSSource, address: str) -> dict[tuple[str, ...], list[Any]]:
    mailbox = source.open_mailbox(address)
    try:
        mailbox.check()
        found: dict[tuple[str, ...], list[Any]] = {}
        for folder in mailbox.folders():
            refs = list(mailbox.list_items(folder))
            if refs:
                found[tuple(folder.path)] = list(mailbox.fetch(folder, refs))
        return found
    finally:
        mailbox.close()


SERVER_ARGS = ("-m", "groupmigrate.testing.ews", "--profile", "exchange-online", "--samples", "2", "--sample-mails", "12",
               "--seed", "3", "--sample-date", "2026-03-02")  # fmt: skip


def test_standalone_server_with_samples_logins_and_a_persistent_store(running: Any, tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {"GM_TEST_SVC_PASSWORD": ENV_SECRET}
    server = running(
        *SERVER_ARGS, "--store", str(store), "--mailbox", "alice@example.org", "--mailbox", "bob@example.org",
        "--user", "admin@contoso.com:Admin-Pa55", "--user-env", "svc@contoso.com:GM_TEST_SVC_PASSWORD",
        "--oauth-app", "tenant-1:app-1:App-S3cret", "--grant", "svc@contoso.com:alice@contoso.com", "--grant-all",
        env=env,
    )  # fmt: skip
    output = server.wait_for("Ready", timeout=120)
    url = printed_url(output, "EWS URL")
    token_url = printed_url(output, "token URL")
    assert url.endswith("/EWS/Exchange.asmx") and token_url.endswith("/tenant-1/oauth2/v2.0/token")
    assert "alice@contoso.com" in output and "bob@contoso.com" in output
    assert ENV_SECRET not in output + server.stderr()

    # the printed tables make a working configuration: this server is both source and destination
    tables, exports = snippet(output)
    parsed = tomllib.loads(tables)
    assert parsed["source"]["auth"]["type"] == "oauth2" and parsed["source"]["url"] == url
    assert parsed["destination"]["auth"]["type"] == "basic"
    assert "GM_TEST_SVC_PASSWORD" not in exports  # the env-var login is never exported with its value
    (tmp_path / "accounts.csv").write_text(
        "source,destination\nalice@contoso.com,alice@example.org\nbob@contoso.com,bob@example.org\n", encoding="utf-8"
    )
    config = tmp_path / "migration.toml"
    config.write_text(tables + '\n[migration]\naccounts = "accounts.csv"\nstate = "migration.db"\n', encoding="utf-8")
    check = cli("check", str(config), cwd=tmp_path, env=exports)
    assert check.returncode == 0, check.stdout + check.stderr
    analyze = cli("analyze", "--json", str(config), cwd=tmp_path, env=exports)
    assert analyze.returncode == 0, analyze.stdout + analyze.stderr
    for account in json.loads(analyze.stdout)["accounts"]:
        assert account["items"] == SAMPLES, account

    # read every sample item with the EWS source: app-only OAuth, and the login from the environment
    source = gm.EWSSource(
        url=url, profile="exchange-online", impersonation=True,
        auth=gm.OAuth2ClientCredentials("tenant-1", "app-1", "App-S3cret", token_url=token_url),
    )  # fmt: skip
    items = read_all(source, "alice@contoso.com")
    every = [item for found in items.values() for item in found]
    assert {type(item) for item in every} == {Message, Contact, Event, Task, Note}
    assert sum(isinstance(i, Message) for i in every) == SAMPLES["mail"]
    assert ("Inbox", "Projects", "Apollo 2026") in items or ("Inbox", "Projects") in items
    assert any(isinstance(i, Message) and b"Content-Disposition: attachment" in i.mime for i in every)
    assert any(isinstance(i, Event) and i.recurrence and i.exceptions and i.deleted_occurrences for i in every)
    assert any(isinstance(i, Contact) and i.photo for i in every)
    sizes = sorted(len(i.mime) for i in every if isinstance(i, Message))
    assert sizes[0] < 10_000 and sizes[-1] > 500_000  # a realistic mix, small to large
    service = gm.EWSSource(url=url, profile="exchange-online", impersonation=True,
                           auth=gm.BasicAuth("svc@contoso.com", ENV_SECRET))  # fmt: skip
    assert len(read_all(service, "bob@contoso.com")) == len(read_all(source, "bob@contoso.com"))

    assert server.interrupt() == 0
    assert server.lines[-1] == "stopped"

    # a restart over the same store: same mailboxes, items, logins, apps and grants; nothing seeded twice
    again = running(*SERVER_ARGS, "--store", str(store), "--port", "0")
    output = again.wait_for("Ready", timeout=60)
    assert "kept from the store" in output and "seeding" not in output
    url = printed_url(output, "EWS URL")
    restarted = gm.EWSSource(
        url=url, profile="exchange-online", impersonation=True,
        auth=gm.OAuth2ClientCredentials("tenant-1", "app-1", "App-S3cret", token_url=printed_url(output, "token URL")),
    )  # fmt: skip
    again_items = read_all(restarted, "alice@contoso.com")
    assert {path: len(found) for path, found in again_items.items()} == {path: len(found) for path, found in items.items()}
    svc = gm.EWSSource(url=url, profile="exchange-online", impersonation=True, auth=gm.BasicAuth("svc@contoso.com", ENV_SECRET))
    assert read_all(svc, "alice@contoso.com")
    assert again.interrupt() == 0


def test_the_same_seed_gives_the_same_samples() -> None:
    import datetime as dt

    from groupmigrate.testing import EWSTestServer
    from groupmigrate.testing.ews.samples import mailbox_counts, seed_sample_mailbox

    def content(seed: int) -> list[tuple[Any, ...]]:
        with EWSTestServer(profile="generic") as server:
            summary = seed_sample_mailbox(server, "alice@contoso.com", seed=seed, mails=10, today=dt.date(2026, 3, 2))
            assert mailbox_counts(server, "alice@contoso.com") == dict(summary.counts)
            found = [(path, item.mime, item.text("Subject"))
                     for path in server.folder_paths("alice@contoso.com")
                     for item in server.folder_items("alice@contoso.com", path)]  # fmt: skip
            return sorted(found, key=repr)

    assert content(1) == content(1)
    assert content(1) != content(2)


def test_usage_errors_name_the_problem_and_never_a_secret(tmp_path: Path) -> None:
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "groupmigrate.testing.ews", *args], capture_output=True, text=True,
                              timeout=60, env={**os.environ, **(env or {})})  # fmt: skip

    no_password = run("--user", "admin@example.org")
    assert no_password.returncode == 2 and "--user-env" in no_password.stderr
    unset = run("--user-env", "admin@example.org:GM_TEST_UNSET_VARIABLE", env={"GM_TEST_UNSET_VARIABLE": ""})
    assert unset.returncode == 2 and "GM_TEST_UNSET_VARIABLE" in unset.stderr
    no_login = run("--grant-all")
    assert no_login.returncode == 2 and "--grant-all" in no_login.stderr


def test_demo_keep_servers_leaves_both_servers_up_with_a_configuration(running: Any, tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    demo = running("-m", "groupmigrate.frontdoors.cli", "demo", "--no-progress", "--keep-servers", "--keep-dir", str(kept),
                   "--report", str(tmp_path / "report.html"))  # fmt: skip
    output = demo.wait_for("groupmigrate migrate --delta", timeout=300)
    assert "demo OK" in output
    config = kept / "migration.toml"
    assert config.exists() and (kept / "accounts.csv").exists()
    assert "demo-admin-password" not in config.read_text()  # secrets sit in files beside it
    verify = cli("verify", str(config), cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "0 missing" in verify.stdout
    delta = cli("migrate", "--delta", "--no-progress", str(config), cwd=tmp_path)
    assert delta.returncode == 0, delta.stdout + delta.stderr
    assert demo.interrupt() == 0, demo.stderr()
