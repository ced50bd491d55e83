"""Two worker processes migrate different accounts from one EWS server; a shared limit of 2 holds there."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.redis import RedisServer

from .conftest import worker_command

USERS = ("alice", "bob", "carol", "dave")
MAILS = 6


def _mime(user: str, n: int) -> bytes:
    return (
        f"Message-ID: <{user}-{n}@contoso.com>\r\nFrom: Bob <bob@fabrikam.example>\r\nTo: {user}@contoso.com\r\n"
        f"Subject: {user} mail {n}\r\nDate: Mon, 05 Jan 2026 10:{n:02d}:00 +0000\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nbody {n}\r\n"
    ).encode()


@pytest.fixture(scope="module")
def ews() -> EWSTestServer:
    with EWSTestServer(profile="exchange-online") as server:
        server.add_oauth_app("tenant", "app", "app-secret-value")
        received = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
        for user in USERS:
            address = f"{user}@contoso.com"
            server.add_mailbox(address)
            server.seed_folder(address, ("Inbox", "Projects"))
            for n in range(MAILS):
                server.seed_message(address, ("Inbox",) if n % 2 else ("Inbox", "Projects"), _mime(user, n), received=received)
        server.knobs.latency = 0.03  # every request takes a while: requests of the two workers overlap
        yield server


def _run_two_workers(ews: EWSTestServer, redis_server: RedisServer, prefix: str, tmp_path, capacity: int) -> dict:  # type: ignore[no-untyped-def]
    workers = []
    for index, accounts in enumerate((USERS[:2], USERS[2:])):
        args = {
            "ews_url": ews.url, "token_url": ews.token_url("tenant"), "url": redis_server.url, "prefix": prefix,
            "capacity": capacity, "accounts": [f"{u}@contoso.com" for u in accounts],
            "state": str(tmp_path / f"worker{index}-{capacity}.db"),
        }  # fmt: skip
        workers.append(subprocess.Popen(worker_command("migrate", json.dumps(args)), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    try:
        for proc in workers:  # both have imported everything and built their Migrator
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]  # type: ignore[union-attr]
        ews.reset_peaks()
        for proc in workers:  # start together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results: dict = {}
        for proc in workers:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err[-3000:]
            results.update(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in workers:
            proc.kill()
            proc.wait()
    for user in USERS:
        status, error, counts = results[f"{user}@contoso.com"]
        assert status == "completed", error
        assert counts["mail"]["migrated"] == MAILS
    return results


def test_two_workers_keep_within_the_shared_limit_of_the_source(ews, redis_server, prefix, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # without a shared limit, the two workers together use more than 2 connections at once
    _run_two_workers(ews, redis_server, prefix, tmp_path, capacity=0)
    unlimited = ews.peak_concurrency()
    assert unlimited > 2, unlimited

    _run_two_workers(ews, redis_server, prefix, tmp_path, capacity=2)
    assert ews.peak_concurrency() == 2  # never more, and used
    assert ews.peak_concurrency(caller="app:app") == 2
    source_key = "{source:EWSSource(url='" + ews.url + "', profile='exchange-online')}"
    assert redis_server.command("ZCARD", f"{prefix}{source_key}:slots") == 0  # every slot given back
    assert ews.write_operations() == []  # the source is only read
