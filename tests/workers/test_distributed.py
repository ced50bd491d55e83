"""A migration on several worker processes: Celery workers, a PostgreSQL state store, one Redis
for the broker and the shared server limits, and two EWS test servers.

Twenty mailboxes go from Exchange Online to Exchange through three real ``groupmigrate worker``
processes. While they work, one worker is SIGKILLed with an account in hand and the broker
drops every connection once. The run still ends with the destination equal to the source,
every item once; ``verify`` finds nothing missing, extra or duplicated; the servers never saw
more concurrent requests than the shared limits allow; and the source saw no write.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import groupmigrate as gm
from groupmigrate.celery.coordinator import submit, wait
from groupmigrate.core.state import open_state
from groupmigrate.frontdoors.config import load_config
from groupmigrate.frontdoors.demo import seed_mailbox
from groupmigrate.items import Message
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.redis import RedisServer

pytestmark = pytest.mark.timeout(300)

UTC = dt.timezone.utc
MAILBOXES = 20
TENANT, CLIENT_ID, SECRET = "scale-tenant", "scale-app", "scale-app-secret-value"
ADMIN, ADMIN_PASSWORD = "migration-admin@example.org", "admin-Pa55-value"
SOURCE_SLOTS, DESTINATION_SLOTS = 4, 3


@pytest.fixture
def servers(register_source: Any) -> Iterator[tuple[EWSTestServer, EWSTestServer]]:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    with EWSTestServer(profile="exchange-online") as src, EWSTestServer(profile="exchange") as dst:
        src.add_oauth_app(TENANT, CLIENT_ID, SECRET)
        dst.add_mailbox(ADMIN, password=ADMIN_PASSWORD)
        for n in range(MAILBOXES):
            seed_mailbox(src, f"user{n:02d}", now, oversized=False)
            dst.add_mailbox(f"user{n:02d}@example.org")
            dst.grant_impersonation(ADMIN, f"user{n:02d}@example.org")
        # every request waits a little, so that the workers overlap and the limits are tested
        src.knobs.latency = dst.knobs.latency = 0.02
        register_source(src)
        yield src, dst


def write_config(folder: Path, src: EWSTestServer, dst: EWSTestServer, state: str, redis: RedisServer) -> Path:
    (folder / "accounts.csv").write_text(
        "source,destination\n" + "".join(f"user{n:02d}@contoso.com,user{n:02d}@example.org\n" for n in range(MAILBOXES)),
        encoding="utf-8",
    )
    (folder / "admin-password.txt").write_text(ADMIN_PASSWORD, encoding="utf-8")
    (folder / "app-secret.txt").write_text(SECRET, encoding="utf-8")
    (folder / "redis-password.txt").write_text(redis.password or "", encoding="utf-8")
    where = f"redis://127.0.0.1:{redis.port}"
    config = folder / "migration.toml"
    config.write_text(f"""
[source]
url = "{src.url}"
profile = "exchange-online"
impersonation = true

[source.auth]
type = "oauth2"
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret_file = "app-secret.txt"
token_url = "{src.token_url(TENANT)}"

[destination]
url = "{dst.url}"
profile = "exchange"
impersonation = true

[destination.auth]
type = "basic"
username = "{ADMIN}"
password_file = "admin-password.txt"

[migration]
accounts = "accounts.csv"
state = "{state}"
workers = 2

[workers]
broker = "{where}/0"
broker_password_file = "redis-password.txt"
limits = "{where}/1"
limits_password_file = "redis-password.txt"
source_connections = {SOURCE_SLOTS}
destination_connections = {DESTINATION_SLOTS}
lease = 4
visibility_timeout = 6
""", encoding="utf-8")  # fmt: skip
    return config


def start_worker(config: Path, name: str, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", "groupmigrate.frontdoors.cli", "worker", str(config), "--name", name],
                            cwd=config.parent, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})  # fmt: skip


def inventory(url: str, profile: str, auth: Any, address: str) -> dict[tuple[str, ...], collections.Counter[str]]:
    """What a mailbox holds per folder, as a person recognises each item (read without writing)."""
    mailbox = gm.EWSSource(url=url, profile=profile, impersonation=True, auth=auth).open_mailbox(address)
    try:
        out: dict[tuple[str, ...], collections.Counter[str]] = {}
        for folder in mailbox.folders():
            items = list(mailbox.fetch(folder, list(mailbox.list_items(folder))))
            names = collections.Counter(
                str(Message.from_mime(i.content).message_id if isinstance(i, Message) else
                    getattr(i, "subject", None) or getattr(i, "display_name", None)) for i in items
            )  # fmt: skip
            if names:
                out[folder.path] = names
        return out
    finally:
        mailbox.close()


def test_twenty_mailboxes_on_three_workers_through_a_killed_worker_and_a_dropped_broker(
    servers: tuple[EWSTestServer, EWSTestServer], postgres_server: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    src, dst = servers
    state = postgres_server.new_database()
    config_path = write_config(tmp_path, src, dst, state, redis_server)
    config = load_config(config_path)
    workers = {f"w{i}": start_worker(config_path, f"w{i}@test", tmp_path / f"w{i}.log") for i in range(3)}
    try:
        run_id = submit(config)
        store = open_state(state)
        # 1. kill a worker that holds an account, once every worker has started on one
        deadline = time.monotonic() + 120
        victim = None
        while victim is None and time.monotonic() < deadline:
            for record in store.workers():
                if record.claims and record.pid in {p.pid for p in workers.values()}:
                    victim = next(name for name, p in workers.items() if p.pid == record.pid)
                    break
            time.sleep(0.05)
        assert victim is not None, "no worker took an account: " + (tmp_path / "w0.log").read_text(errors="replace")[-3000:]
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait(timeout=10)
        # 2. the broker drops every connection once
        time.sleep(0.5)
        assert redis_server.kill_clients() > 0
        report = wait(config, run_id, poll=0.5, timeout=240)
        store.close()
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    src.knobs.latency = dst.knobs.latency = 0.0  # the checks below need no overlap
    logs = "\n".join((tmp_path / f"{name}.log").read_text(errors="replace")[-1500:] for name in workers)
    assert report.status == "completed", report.summary() + "\n" + logs
    assert len(report.accounts) == MAILBOXES and all(a.status == "completed" for a in report.accounts), report.summary()

    # the shared limits held across the workers: never more requests at once than slots
    assert 1 <= src.peak_concurrency(caller=f"app:{CLIENT_ID}") <= SOURCE_SLOTS
    assert 1 <= dst.peak_concurrency(caller=ADMIN) <= DESTINATION_SLOTS

    # the destination equals the source, every item once
    app = gm.OAuth2ClientCredentials(TENANT, CLIENT_ID, SECRET, token_url=src.token_url(TENANT))
    admin = gm.BasicAuth(ADMIN, ADMIN_PASSWORD)
    for n in range(MAILBOXES):
        want = inventory(src.url, "exchange-online", app, f"user{n:02d}@contoso.com")
        got = inventory(dst.url, "exchange", admin, f"user{n:02d}@example.org")
        for path, names in want.items():
            assert got.get(path) == names, (n, path, f"missing: {names - got.get(path, collections.Counter())}",
                                             f"extra: {got.get(path, collections.Counter()) - names}")  # fmt: skip

    # verify, in one process, finds nothing missing, extra or duplicated
    verify = gm.Migrator(config.source.build_source(), config.destination.build_destination(), state=state).verify(config.read_accounts())
    totals = verify.totals()
    assert (totals.get("missing", 0), totals.get("extra", 0), totals.get("duplicate", 0)) == (0, 0, 0), verify.summary()

    assert src.write_operations() == []
