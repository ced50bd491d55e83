"""Exchange Online into a hosting account: mail into a real Dovecot, the rest into a real Radicale.

Three mailboxes with every item type move through the command line, configured as hosting
panels run it (``[destination] mail = "imap"``, ``calendar = contacts = tasks = notes =
"dav"``, each account logging in with its own password). The first run is SIGKILLed while it
writes; the second run with the same state file finishes the job; ``verify`` finds nothing
missing, extra or duplicated; a delta run copies only what arrived since. What each server
holds is compared with the source item by item, and the source saw no write.
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

from groupmigrate.testing.servers import require_server

import groupmigrate as gm
from groupmigrate.auth import BasicAuth
from groupmigrate.backends.dav import DavSource
from groupmigrate.backends.imap import IMAPSource
from groupmigrate.frontdoors.demo import seed_mailbox
from groupmigrate.items import Contact, Event, Message, Task
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.dovecot import DovecotServer, find_dovecot
from groupmigrate.testing.radicale import RadicaleServer

pytestmark = pytest.mark.timeout(240)

UTC = dt.timezone.utc
USERS = ("alice", "bob", "carol")
TENANT, CLIENT_ID, SECRET = "hosting-tenant", "hosting-app", "hosting-app-secret-value"
#: extra items per mailbox, so that the first run is still writing when it is killed
BULK = 24


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    require_server(find_dovecot(), "Dovecot is not installed (Debian: dovecot-imapd; bash scripts/test.sh installs it as root)")
    server = DovecotServer()
    try:
        yield server
    finally:
        server.stop()


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "GM_EWS_SECRET": SECRET}
    return subprocess.Popen([sys.executable, "-m", "groupmigrate.frontdoors.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def finish(process: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


def write_config(folder: Path, src: EWSTestServer, dovecot: DovecotServer, radicale: RadicaleServer,
                 accounts: list[tuple[str, str, str]]) -> Path:  # fmt: skip
    rows = "".join(f"{s},{d},,,{d},{pw}\n" for s, d, pw in accounts)
    (folder / "accounts.csv").write_text(
        "source,destination,source_username,source_password,destination_username,destination_password\n" + rows, encoding="utf-8"
    )
    config = folder / "migration.toml"
    config.write_text(f"""
[source]
backend = "ews"
url = "{src.url}"
profile = "exchange-online"
impersonation = true

[source.auth]
type = "oauth2"
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret_env = "GM_EWS_SECRET"
token_url = "{src.token_url(TENANT)}"

[destination]
mail = "imap"
calendar = "dav"
contacts = "dav"
tasks = "dav"
notes = "dav"

[destination.imap]
host = "{dovecot.host}"
port = {dovecot.tls_port}
profile = "dovecot"
ca_file = "{dovecot.ca_file}"

[destination.dav]
url = "{radicale.url}"
profile = "radicale"
principal_url = "/{{user}}/"

[migration]
accounts = "accounts.csv"
state = "state.db"
workers = 3
""", encoding="utf-8")  # fmt: skip
    return config


def seed(src: EWSTestServer, user: str, now: dt.datetime) -> None:
    address = f"{user}@contoso.com"
    seed_mailbox(src, user, now, oversized=False)
    for n in range(BULK):
        src.seed_item(address, Contact(display_name=f"{user} contact {n}", given_name="Contact", surname=f"{user}{n}",
                                       emails=(f"c{n}.{user}@fabrikam.example",)))  # fmt: skip
        start = (now + dt.timedelta(days=n + 1)).replace(minute=0, second=0)
        src.seed_item(address, Event(subject=f"{user} meeting {n}", start=start, end=start + dt.timedelta(hours=1),
                                     timezone="Europe/Berlin", uid=f"bulk-{n}-{user}@contoso"))  # fmt: skip


def source_inventory(source: gm.EWSSource, address: str) -> dict[str, collections.Counter[str]]:
    """Per item type, the multiset of what a person recognises each item by."""
    mailbox = source.open_mailbox(address)
    try:
        out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for folder in mailbox.folders():
            for item in mailbox.fetch(folder, list(mailbox.list_items(folder))):
                out[item.item_type][recognise(item)] += 1
        return out
    finally:
        mailbox.close()


def recognise(item: Any) -> str:
    if isinstance(item, Message):
        return str(item.message_id or Message.from_mime(item.content).message_id)
    if isinstance(item, Contact):
        return str(item.display_name)
    if isinstance(item, (Event, Task)):
        return str(item.subject)
    return str(getattr(item, "subject", None))


def destination_inventory(dovecot: DovecotServer, radicale: RadicaleServer, address: str, password: str) -> dict[str, collections.Counter[str]]:
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    auth = BasicAuth(address, password)
    for endpoint in (IMAPSource(dovecot.host, dovecot.tls_port, profile="dovecot", ca_file=dovecot.ca_file),
                     DavSource(radicale.url, profile="radicale", principal_url="/{user}/")):  # fmt: skip
        mailbox = endpoint.open_mailbox(address, auth)
        try:
            for folder in mailbox.folders():
                for item in mailbox.fetch(folder, list(mailbox.list_items(folder))):
                    out[item.item_type][recognise(item)] += 1
        finally:
            mailbox.close()
    return out


def dav_writes(radicale: RadicaleServer, addresses: list[str], mark: int) -> int:
    return sum(len(radicale.write_operations(a, since=mark)) for a in addresses)


def test_exchange_online_into_imap_and_dav_killed_resumed_verified_then_delta(
    dovecot: DovecotServer, radicale: RadicaleServer, tmp_path: Path, register_source: Any
) -> None:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    accounts = [(f"{u}@contoso.com", f"{u}.{tmp_path.name[-6:]}@example.org", f"{u}-hosting-Pa55") for u in USERS]
    for _, address, password in accounts:
        dovecot.add_user(address, password)
        radicale.add_user(address, password)
    with EWSTestServer(profile="exchange-online") as src:
        src.add_oauth_app(TENANT, CLIENT_ID, SECRET)
        for user in USERS:
            seed(src, user, now)
        register_source(src)
        source = gm.EWSSource(url=src.url, profile="exchange-online", impersonation=True,
                              auth=gm.OAuth2ClientCredentials(TENANT, CLIENT_ID, SECRET, token_url=src.token_url(TENANT)))  # fmt: skip
        expected = {s: source_inventory(source, s) for s, _, _ in accounts}
        config = write_config(tmp_path, src, dovecot, radicale, accounts)
        addresses = [d for _, d, _ in accounts]
        mark = radicale.log_mark()

        # 1. killed while it writes: the servers hold part of the copies, the state file less
        first = cli("migrate", str(config), "--no-progress", cwd=tmp_path)
        deadline = time.monotonic() + 120
        while dav_writes(radicale, addresses, mark) < 40 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.poll() is None, "the first run ended before it could be killed:\n" + finish(first)[1][-3000:]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        written = dav_writes(radicale, addresses, mark)
        assert 40 <= written < sum(sum(c.values()) for inv in expected.values() for k, c in inv.items() if k != "mail")

        # 2. the same command again finishes the job
        code, output = finish(cli("migrate", str(config), "--no-progress", cwd=tmp_path))
        assert code == 0, output[-4000:]
        for (s, d, pw) in accounts:
            held = destination_inventory(dovecot, radicale, d, pw)
            for kind, want in expected[s].items():
                got = held.get(kind, collections.Counter())
                assert got == want, (d, kind, f"missing: {want - got}", f"extra: {got - want}")

        # 3. verify: every item accounted for, nothing missing, extra or duplicated
        code, output = finish(cli("verify", str(config), cwd=tmp_path))
        assert code == 0, output[-4000:]
        assert output.count("missing 0, extra 0, duplicate 0") == len(accounts), output[-4000:]

        # 4. a delta run copies only what arrived since: one mail, one event, one contact per mailbox
        later = now + dt.timedelta(minutes=5)
        for s, _, _ in accounts:
            src.seed_message(s, ("Inbox",), (f"From: Late <late@fabrikam.example>\r\nTo: {s}\r\nSubject: late\r\n"
                                               f"Message-ID: <late.{s}>\r\nDate: {later.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n\r\n"
                                               "after the MX switch\r\n").encode(), received=later)  # fmt: skip
            src.seed_item(s, Event(subject="late meeting", start=later + dt.timedelta(days=1),
                                   end=later + dt.timedelta(days=1, hours=1), uid=f"late-{s}"))  # fmt: skip
            src.seed_item(s, Contact(display_name="Late Contact", emails=("late@fabrikam.example",)))
        register_source(src)
        code, output = finish(cli("migrate", str(config), "--delta", "--no-progress", cwd=tmp_path))
        assert code == 0, output[-4000:]
        assert output.count("completed; migrated 3, duplicate 0, skipped 0, failed 0") == len(accounts), output[-4000:]
        for (s, d, pw) in accounts:
            want = source_inventory(source, s)
            held = destination_inventory(dovecot, radicale, d, pw)
            for kind in want:
                assert held.get(kind, collections.Counter()) == want[kind], (d, kind)
        assert src.write_operations() == []
