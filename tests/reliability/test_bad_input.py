"""Bad input: odd items, odd folders, odd servers, wrong credentials, rights lost mid-run.

Each case ends with a clear error or a logged skip, and nothing else of the mailbox lost:
every test checks that the rest arrived, straight from the destination server's store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from groupmigrate import events as ev
from groupmigrate.accounts import AccountPair
from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.errors import (
    AccessDenied,
    AuthenticationError,
    ConnectionFailed,
    GroupmigrateError,
    MailboxNotFound,
)
from groupmigrate.items import Attachment, Contact, Event
from groupmigrate.core.migrator import Migrator
from groupmigrate.core.report import Report

from .support import (
    ADMIN,
    ADMIN_PASSWORD,
    CLIENT_ID,
    NOW,
    TENANT,
    Route,
    differences,
    inventory,
    item_key,
    mail,
    open_route,
    seed_mails,
    self_signed_certificate,
    total,
    TLSProxy,
)


@pytest.fixture(scope="module")
def route(tmp_path_factory: pytest.TempPathFactory, register_source: Any) -> Iterator[Route]:
    """Servers shared by the tests of this module; each test uses mailboxes of its own."""
    with open_route(tmp_path_factory.mktemp("bad-input"), register=register_source) as shared:
        yield shared


def migrate(route: Route, pair: Any, tmp_path: Path, **kwargs: Any) -> Report:
    route.register_source()
    return route.migrator(state=str(tmp_path / "migration.db"), **kwargs).run([pair])


def assert_copied(route: Route, pair: Any) -> None:
    """The destination holds exactly what the source holds, folder by folder."""
    source = inventory(route.source_server, pair.source)
    assert total(source) > 0
    assert differences(source, inventory(route.destination_server, pair.destination)) == []


def assert_accounted(report: Report, source_items: int) -> None:
    """Every source item has an outcome, and every one not migrated has a log entry."""
    account = report.accounts[0]
    counts = {o: account.total(o) for o in ("migrated", "duplicate", "skipped", "failed")}
    assert sum(counts.values()) == source_items, counts
    logged = [e for e in account.log if e.kind in ("skipped", "failed", "duplicate") and e.item]
    assert len(logged) >= counts["skipped"] + counts["failed"], (counts, logged)


# --- odd items ------------------------------------------------------------------------------------

MALFORMED = {
    "headers only, no body": b"From: a@fabrikam.example\r\nSubject: headers only\r\nMessage-ID: <hdr@fabrikam.example>",
    "unterminated multipart, bad base64": (
        b"From: a@fabrikam.example\r\nSubject: broken multipart\r\nMessage-ID: <mp@fabrikam.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\n'
        b"Content-Type: text/plain\r\n\r\nhi\r\n--zz\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=x.bin\r\n\r\n@@@ not base64 @@@\r\n"
    ),
    "raw 8-bit headers": b"From: Andr\xe9 <a@fabrikam.example>\r\nSubject: caf\xe9 \xff\xfe\r\nMessage-ID: <l1@fabrikam.example>\r\n\r\nbody \xe9\r\n",
    "unknown charset": (
        b"From: a@fabrikam.example\r\nSubject: =?x-unknown?q?abc?=\r\nMessage-ID: <cs@fabrikam.example>\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\n\xc3\x28 invalid utf-8\r\n"
    ),
    "garbage before the headers": b"This is not a header\r\nSubject: garbage first\r\n\r\nbody\r\n",
    "100 KB unfolded header": b"From: a@fabrikam.example\r\nSubject: " + b"x" * 100_000 + b"\r\nMessage-ID: <long@fabrikam.example>\r\n\r\nb\r\n",
    "bad date, no Message-ID": b"From: a@fabrikam.example\r\nDate: the day after tomorrow\r\nSubject: bad date\r\n\r\nbody\r\n",
}


def test_malformed_mime(route, tmp_path):
    pair = route.add_user("malformed")
    for mime in MALFORMED.values():
        route.source_server.seed_message(pair.source, ("Inbox",), mime)
    seed_mails(route.source_server, pair.source, ("Inbox",), range(5), "malformed")
    report = migrate(route, pair, tmp_path)
    account = report.accounts[0]
    assert account.status == "completed", (account.error, [e.message for e in account.log])
    assert_accounted(report, len(MALFORMED) + 5)
    assert_copied(route, pair)


def test_messages_without_message_id(route, tmp_path):
    """Mail without Message-ID arrives, even two that differ only in their body
    (alerts a system sends at the same second), and a second run copies none again."""
    pair = route.add_user("noid")
    when = NOW - dt.timedelta(days=1)
    common = {"user": "noid", "when": when, "message_id": None, "subject": "Disk space alert", "sender": "monitor@fabrikam.example"}
    route.source_server.seed_message(pair.source, ("Inbox",), mail(1, body="disk /var at 91 %", **common))
    route.source_server.seed_message(pair.source, ("Inbox",), mail(2, body="disk /home at 97 %", **common))
    route.source_server.seed_message(pair.source, ("Inbox",), mail(3, user="noid", message_id=None, subject="Other"))
    seed_mails(route.source_server, pair.source, ("Inbox",), range(10, 13), "noid")
    report = migrate(route, pair, tmp_path)
    assert report.accounts[0].status == "completed", report.accounts[0].error
    assert report.totals()["migrated"] == 6, report.summary()
    assert_copied(route, pair)
    again = migrate(route, pair, tmp_path)
    assert again.totals()["migrated"] == 0
    assert_copied(route, pair)


def test_two_different_mails_sharing_a_message_id_both_arrive(route, tmp_path):
    """Some mailers reuse Message-IDs: two different mails with one ID are two mails. A true
    copy of a mail (same ID, same content) is copied too: the destination mirrors the source."""
    pair = route.add_user("sharedid")
    shared = "<reused-1@mailer.example>"
    first = mail(1, user="sharedid", message_id=shared, subject="Invoice March", body="amount 120 EUR")
    second = mail(2, user="sharedid", message_id=shared, subject="Invoice April", body="amount 95 EUR")
    for mime in (first, second):
        route.source_server.seed_message(pair.source, ("Inbox",), mime)
    route.source_server.seed_message(pair.source, ("Inbox",), first)  # the same mail twice
    seed_mails(route.source_server, pair.source, ("Inbox",), range(10, 13), "sharedid")
    report = migrate(route, pair, tmp_path)
    account = report.accounts[0]
    assert account.counts["mail"] == {"migrated": 6}, account.counts
    held = inventory(route.destination_server, pair.destination)[("@inbox",)]
    subjects = sorted(k[2] for k in held.elements() if k[1] == shared)
    assert subjects == ["Invoice April", "Invoice March", "Invoice March"], f"on the destination: {subjects}"
    assert sum(held.values()) == 6
    again = migrate(route, pair, tmp_path)
    assert again.totals()["migrated"] == 0 and sum(inventory(route.destination_server, pair.destination)[("@inbox",)].values()) == 6


def test_item_over_the_destination_limit_is_skipped_and_logged_with_its_size(route, tmp_path):
    """The destination server refuses items over a size the profile did not predict:
    the item is logged with its size and the others arrive."""
    pair = route.add_user("oversize")
    big = mail(1, user="oversize", subject="Scan of the contract", attachment=("contract.pdf", bytes(range(256)) * 400))
    route.source_server.seed_message(pair.source, ("Inbox",), big)
    seed_mails(route.source_server, pair.source, ("Inbox",), range(10, 15), "oversize")
    limit = len(big) // 2
    previous = route.destination_server.knobs.max_item_size
    route.destination_server.knobs.max_item_size = limit
    try:
        report = migrate(route, pair, tmp_path)
    finally:
        route.destination_server.knobs.max_item_size = previous
    account = report.accounts[0]
    assert account.status != "failed", account.error
    entries = [e for e in account.log if e.kind in ("skipped", "failed") and "Scan of the contract" in (e.item or "")]
    assert len(entries) == 1, account.log
    assert "size" in entries[0].message.lower() or "large" in entries[0].message.lower(), entries[0].message
    assert _mentions_size(entries[0].message, len(big)), f"the log does not say how big the item is: {entries[0].message!r}"
    held = inventory(route.destination_server, pair.destination)[("@inbox",)]
    assert sum(held.values()) == 5 and not any("Scan of the contract" in k[2] for k in held)


def _mentions_size(message: str, size: int) -> bool:
    from groupmigrate.core.mappers import format_size

    return any(text in message for text in (str(size), f"{size:,}", format_size(size), f"{size / 1e6:.1f} MB", f"{size / 1024:.1f} KB"))


@pytest.mark.slow
def test_item_over_the_workmail_limit_is_skipped_by_the_profile(route, tmp_path):
    """A 26 MB mail: the WorkMail profile knows the 25 MB limit and skips it without trying."""
    pair = route.add_user("huge")
    huge = mail(1, user="huge", subject="Holiday video", attachment=("video.bin", b"\x00" * (26 * 1024 * 1024)))
    route.source_server.seed_message(pair.source, ("Inbox",), huge)
    seed_mails(route.source_server, pair.source, ("Inbox",), range(10, 13), "huge")
    report = migrate(route, pair, tmp_path)
    account = report.accounts[0]
    skipped = [e for e in account.log if e.kind == "skipped" and "Holiday video" in (e.item or "")]
    assert len(skipped) == 1 and "MB" in skipped[0].message, account.log
    assert account.counts["mail"] == {"migrated": 3, "skipped": 1} or account.counts["mail"].get("migrated") == 3
    assert sum(inventory(route.destination_server, pair.destination)[("@inbox",)].values()) == 3


def test_zero_byte_attachments(route, tmp_path):
    pair = route.add_user("zerobyte")
    route.source_server.seed_message(
        pair.source, ("Inbox",), mail(1, user="zerobyte", subject="Empty file attached", attachment=("empty.txt", b""))
    )
    start = (NOW + dt.timedelta(days=3)).replace(minute=0, second=0)
    route.source_server.seed_item(
        pair.source,
        Event(subject="Review with empty agenda", start=start, end=start + dt.timedelta(hours=1),
              attachments=(Attachment("agenda.txt", b"", "text/plain"), Attachment("notes.txt", b"some notes", "text/plain"))),
    )  # fmt: skip
    route.source_server.seed_item(
        pair.source, Contact(display_name="Zero Byte", emails=("zero@fabrikam.example",), attachments=(Attachment("blank.vcf", b""),))
    )
    seed_mails(route.source_server, pair.source, ("Inbox",), range(10, 12), "zerobyte")
    report = migrate(route, pair, tmp_path)
    assert report.accounts[0].status == "completed", (report.accounts[0].error, report.accounts[0].log)
    assert_copied(route, pair)
    for path, title, names in (
        (("Inbox",), "Empty file attached", {"empty.txt"}),
        (("Calendar",), "Review with empty agenda", {"agenda.txt", "notes.txt"}),
        (("Contacts",), "Zero Byte", {"blank.vcf"}),
    ):
        item = next(i for i in route.destination_server.folder_items(pair.destination, path) if title in " ".join(item_key(i)))
        got = {a.name: a.size for a in item.attachments}
        assert names <= set(got), f"{title}: attachments on the destination: {got}"
        assert all(got[n] == 0 for n in names if n != "notes.txt"), got


# --- odd folders ----------------------------------------------------------------------------------

UNICODE_FOLDERS = [
    ("Входящие – архив",),
    ("مجلد العملاء",),  # right-to-left
    ("📁 Projekte 🚀",),
    ("日本語のフォルダ",),
    ("Ünïcödé", "Ωμέγα ✓"),
    ("Inbox", "עברית"),
]


def test_non_ascii_rtl_and_emoji_folder_names(route, tmp_path):
    pair = route.add_user("unicode")
    for i, path in enumerate(UNICODE_FOLDERS):
        route.source_server.seed_folder(pair.source, path, "mail")
        seed_mails(route.source_server, pair.source, path, range(i * 10, i * 10 + 2), "unicode")
    report = migrate(route, pair, tmp_path)
    assert report.accounts[0].status == "completed", report.accounts[0].error
    paths = set(route.destination_server.folder_paths(pair.destination))
    assert set(UNICODE_FOLDERS) <= paths, sorted(p for p in paths if p not in UNICODE_FOLDERS)
    assert_copied(route, pair)


def test_folder_names_containing_the_path_separator(route, tmp_path):
    """"A/B" is one folder; "A" with a child "B" is another: both keep their shape."""
    pair = route.add_user("slashes")
    folders = [("A/B",), ("A", "B"), ("Inbox", "Q1/Q2 reports"), ("Clients", "North/South", "2026/01")]
    for i, path in enumerate(folders):
        route.source_server.seed_folder(pair.source, path, "mail")
        seed_mails(route.source_server, pair.source, path, range(i * 10, i * 10 + 2), "slashes")
    report = migrate(route, pair, tmp_path)
    assert report.accounts[0].status == "completed", report.accounts[0].error
    paths = set(route.destination_server.folder_paths(pair.destination))
    assert set(folders) <= paths, sorted(paths)
    assert ("A", "B") in paths and ("A/B",) in paths and ("Inbox", "Q1", "Q2 reports") not in paths
    assert_copied(route, pair)


def test_twenty_levels_of_nesting(route, tmp_path):
    pair = route.add_user("deep")
    deepest = tuple(f"Level {i:02d}" for i in range(1, 21))
    route.source_server.seed_folder(pair.source, deepest, "mail")
    seed_mails(route.source_server, pair.source, deepest, range(0, 3), "deep")
    seed_mails(route.source_server, pair.source, deepest[:10], range(10, 12), "deep")
    report = migrate(route, pair, tmp_path)
    assert report.accounts[0].status == "completed", report.accounts[0].error
    assert deepest in set(route.destination_server.folder_paths(pair.destination))
    assert_copied(route, pair)


# --- odd calendar items and contacts ---------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    ["FREQ=MONTHLY;INTERVAL=0", "FREQ=WEEKLY;BYDAY=XX;COUNT=3", "FREQ=WEEKLY;COUNT=-3", "FREQ=YEARLY;UNTIL=20200101T000000Z"],
)
def test_calendar_item_with_an_invalid_recurrence(route, tmp_path, rule):
    """One calendar item with a recurrence the destination cannot take costs that item at most
    (logged), never the other calendar items or the account."""
    user = "recur-" + hashlib.sha1(rule.encode()).hexdigest()[:6]
    pair = route.add_user(user)
    start = (NOW + dt.timedelta(days=5)).replace(minute=0, second=0)
    route.source_server.seed_item(
        pair.source, Event(subject=f"Broken series {rule}", start=start, end=start + dt.timedelta(hours=1), recurrence=rule)
    )
    for n in range(4):
        s = start + dt.timedelta(days=n + 1)
        route.source_server.seed_item(pair.source, Event(subject=f"Fine meeting {n}", start=s, end=s + dt.timedelta(minutes=30)))
    seed_mails(route.source_server, pair.source, ("Inbox",), range(0, 3), user)
    report = migrate(route, pair, tmp_path)
    account = report.accounts[0]
    assert account.status != "failed", f"the whole account failed: {account.error}"
    held = inventory(route.destination_server, pair.destination)
    fine = {k[1] for k in held.get(("@calendar",), {}) if k[1].startswith("Fine meeting")}
    assert fine == {f"Fine meeting {n}" for n in range(4)}, held
    assert sum(held[("@inbox",)].values()) == 3
    broken_there = any(k[1].startswith("Broken series") for k in held.get(("@calendar",), {}))
    broken_logged = [e for e in account.log if e.kind in ("skipped", "failed", "changed") and "Broken series" in (e.item or "")]
    assert broken_there or broken_logged, account.log
    assert_accounted(report, 8)


def test_contact_with_fifty_email_addresses(route, tmp_path):
    """EWS holds three addresses per contact: the first three arrive. The backend itself never
    drops data silently: written directly, the 50-address contact is refused, naming what would
    be lost (the migrator's mapper cuts to the destination's limit and logs each address dropped,
    see tests/unit/test_exactly_once.py)."""
    pair = route.add_user("manymails")
    addresses = tuple(f"person.{i:02d}@fabrikam.example" for i in range(50))
    contact = Contact(display_name="Fifty Addresses", emails=addresses, company="Fabrikam")
    route.source_server.seed_item(pair.source, contact)
    route.source_server.seed_item(pair.source, Contact(display_name="Ordinary", emails=("ordinary@fabrikam.example",)))
    report = migrate(route, pair, tmp_path)
    assert report.accounts[0].status == "completed", report.accounts[0].error
    assert_copied(route, pair)
    stored = next(i for i in route.destination_server.folder_items(pair.destination, ("Contacts",)) if "Fifty" in (i.text("DisplayName") or ""))
    entries = [e.text for e in stored.element.iter() if isinstance(e.tag, str) and e.tag.endswith("}Entry") and e.text and "@" in e.text]
    assert entries == list(addresses[:3]), entries
    mailbox = route.destination.open_mailbox(pair.destination)
    try:
        folder = next(f for f in mailbox.folders() if f.role == "contacts")
        result = mailbox.create_items(folder, [contact])[0]
    finally:
        mailbox.close()
    assert not result.ok and result.code == "Unsupported" and addresses[49] in (result.error or "")


# --- odd servers ----------------------------------------------------------------------------------


@pytest.fixture
def lone_route(tmp_path: Path, register_source: Any) -> Iterator[Route]:
    """Servers of this test alone (for behaviours switched on server-wide), with one seeded user."""
    with open_route(tmp_path, register=register_source, timeout=3) as fresh:
        pair = fresh.add_user("alice")
        seed_mails(fresh.source_server, pair.source, ("Inbox",), range(0, 5), "alice")
        fresh.register_source()
        yield fresh


def _check_error(endpoint: Any, address: str) -> GroupmigrateError:
    mailbox = endpoint.open_mailbox(address)
    try:
        with pytest.raises(GroupmigrateError) as caught:
            mailbox.check()
    finally:
        mailbox.close()
    return caught.value


@pytest.mark.parametrize("knob", ["answer_invalid_xml", "answer_html"])
@pytest.mark.parametrize("side", ["source", "destination"])
def test_server_answering_something_else_than_ews(lone_route, tmp_path, knob, side):
    route = lone_route
    source_address, destination_address = "alice@contoso.com", "alice@example.org"
    server = route.source_server if side == "source" else route.destination_server
    setattr(server.knobs, knob, True)
    started = time.monotonic()
    endpoint, address = (route.source, source_address) if side == "source" else (route.destination, destination_address)
    error = _check_error(endpoint, address)
    assert isinstance(error, ConnectionFailed), repr(error)
    text = str(error)
    assert "XML" in text or "HTML" in text, text
    assert server.url in text or "127.0.0.1" in text, text
    assert time.monotonic() - started < 10
    results = route.migrator(state=str(tmp_path / "m.db")).check([AccountPair(source_address, destination_address)])
    by_side = {r.side: r for r in results}
    assert not by_side[side].ok and ("XML" in by_side[side].message or "HTML" in by_side[side].message)
    other = "destination" if side == "source" else "source"
    assert by_side[other].ok, by_side[other].message


def test_server_that_hangs_is_given_up_within_the_timeout(lone_route):
    """A server that accepts requests and never answers: the client gives up after its
    timeout (here 1 s, and a few reconnects) with a ConnectionFailed saying so."""
    route = lone_route
    route.destination_server.knobs.hang = True
    destination = EWSDestination(url=route.destination_server.url, profile="workmail", auth=BasicAuth(ADMIN, ADMIN_PASSWORD), timeout=1)
    started = time.monotonic()
    try:
        error = _check_error(destination, "alice@example.org")
    finally:
        destination.close()
    elapsed = time.monotonic() - started
    assert isinstance(error, ConnectionFailed), repr(error)
    assert "in time" in str(error) or "timed out" in str(error).lower(), str(error)
    assert route.destination_server.url in str(error) or "127.0.0.1" in str(error), str(error)
    # one try and three reconnects of 1 s each, plus short pauses between them
    assert elapsed < 8, f"gave up only after {elapsed:.1f} s"


@pytest.mark.parametrize("knob", ["hang", "answer_html"])
def test_run_against_a_broken_destination_ends_with_a_clear_account_error(lone_route, tmp_path, knob):
    """Without a check first: the run gives up on the account in bounded time (every call
    is retried a few times, each try bounded by the 1 s timeout) and says why."""
    route = lone_route
    destination = EWSDestination(url=route.destination_server.url, profile="workmail", auth=BasicAuth(ADMIN, ADMIN_PASSWORD), timeout=1)
    setattr(route.destination_server.knobs, knob, True)
    started = time.monotonic()
    try:
        report = Migrator(route.source, destination, state=str(tmp_path / "m.db")).run([AccountPair("alice@contoso.com", "alice@example.org")])
    finally:
        destination.close()
    elapsed = time.monotonic() - started
    account = report.accounts[0]
    assert account.status == "failed", account.status
    assert account.error and ("in time" in account.error or "HTML" in account.error or "XML" in account.error), account.error
    assert elapsed < 30, f"the account failed only after {elapsed:.0f} s"


def test_wrong_password_and_other_access_failures_have_distinct_messages(lone_route, tmp_path):
    route = lone_route
    dst = route.destination_server
    dst.add_mailbox("nogrant@example.org")
    refused = TLSProxy(dst.port, *self_signed_certificate(tmp_path))
    try:
        cases = {
            "wrong password": (EWSDestination(url=dst.url, profile="workmail", auth=BasicAuth(ADMIN, "not-the-password")), "alice@example.org", AuthenticationError),
            "unknown mailbox": (route.destination, "nobody@example.org", MailboxNotFound),
            "no impersonation right": (route.destination, "nogrant@example.org", AccessDenied),
            "TLS failure": (EWSDestination(url=f"{refused.base_url}/EWS/Exchange.asmx", profile="workmail", auth=BasicAuth(ADMIN, ADMIN_PASSWORD)), "alice@example.org", ConnectionFailed),
            "unreachable": (EWSDestination(url=f"http://127.0.0.1:{_free_port()}/EWS/Exchange.asmx", profile="workmail", auth=BasicAuth(ADMIN, ADMIN_PASSWORD), timeout=3), "alice@example.org", ConnectionFailed),
            "wrong client secret": (
                EWSSource(url=route.source_server.url, profile="exchange-online",
                          auth=OAuth2ClientCredentials(TENANT, CLIENT_ID, "not-the-secret", token_url=route.source_server.token_url(TENANT))),
                "alice@contoso.com", AuthenticationError,
            ),
        }  # fmt: skip
        messages = {}
        for name, (endpoint, address, expected) in cases.items():
            error = _check_error(endpoint, address)
            assert type(error) is expected or isinstance(error, expected), f"{name}: {error!r}"
            messages[name] = str(error)
        assert len(set(messages.values())) == len(messages), messages
        assert "credential" in messages["wrong password"].lower() or "password" in messages["wrong password"].lower()
        assert "TLS" in messages["TLS failure"] or "certificate" in messages["TLS failure"]
        assert "imperson" in messages["no impersonation right"].lower()
        for text in messages.values():
            assert "not-the-password" not in text and "not-the-secret" not in text and ADMIN_PASSWORD not in text
    finally:
        refused.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- credentials and rights changing mid-run ---------------------------------------------------------


def test_expired_oauth_token_mid_run_is_renewed(route, tmp_path):
    """The source's tokens are invalidated twice during the run: the client fetches new ones
    and the migration completes without an error."""
    pair = route.add_user("tokens")
    folders = [("Inbox",), ("Inbox", "Later"), ("Inbox", "Even later")]
    for i, folder in enumerate(folders):
        seed_mails(route.source_server, pair.source, folder, range(i * 100, i * 100 + 100), "tokens")
    expired_at: list[dt.datetime] = []
    seen: set[str] = set()

    def on_event(event: ev.Event) -> None:
        # on the first item of each of the first two folders
        if isinstance(event, ev.ItemMigrated) and event.folder not in seen and len(seen) < 2:
            seen.add(event.folder)
            route.source_server.expire_tokens()
            expired_at.append(dt.datetime.now(dt.timezone.utc))

    report = migrate(route, pair, tmp_path, on_event=on_event, workers=1)
    assert len(expired_at) == 2, "the migration did not get far enough"
    assert report.accounts[0].status == "completed", report.accounts[0].error
    assert report.totals()["migrated"] == 300
    for moment in expired_at:
        later = [op for op in route.source_server.operations if op.mailbox == pair.source and op.time > moment]
        assert later, f"no source request was answered after the tokens expired at {moment}"
    assert_copied(route, pair)


def test_impersonation_revoked_mid_run_fails_that_account_only(route, tmp_path):
    pairs = {user: route.add_user(user) for user in ("revoke-a", "revoke-b", "revoke-c")}
    for user, pair in pairs.items():
        seed_mails(route.source_server, pair.source, ("Inbox",), range(0, 220), user)
    victim = pairs["revoke-b"]
    revoked: list[str] = []

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.ItemMigrated) and event.account == victim.key and not revoked:
            route.destination_server.revoke_impersonation(ADMIN, victim.destination)
            revoked.append(event.item)

    route.register_source()
    report = route.migrator(state=str(tmp_path / "migration.db"), workers=3, on_event=on_event).run(list(pairs.values()))
    assert revoked
    by_user = {a.pair.source.split("@")[0]: a for a in report.accounts}
    failed = by_user["revoke-b"]
    assert failed.status == "failed", failed.status
    assert failed.error and ("imperson" in failed.error.lower() or "denied" in failed.error.lower()), failed.error
    assert any(e.kind == "error" and e.message == failed.error for e in failed.log)
    for user in ("revoke-a", "revoke-c"):
        assert by_user[user].status == "completed", by_user[user].error
        assert_copied(route, pairs[user])
    route.destination_server.grant_impersonation(ADMIN, victim.destination)



def test_raw_8bit_attachment_file_name(route, tmp_path):
    """Raw UTF-8 in a Content-Disposition header (common in the wild, RFC 2231 aside):
    the mail arrives with its attachment, or is logged; the rest arrives in any case."""
    pair = route.add_user("rawname")
    mime = (
        b'From: a@fabrikam.example\r\nSubject: raw file name\r\nMessage-ID: <raw-name@fabrikam.example>\r\n'
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        b'see attached\r\n--b\r\nContent-Type: application/pdf\r\n'
        b'Content-Disposition: attachment; filename="r\xc3\xa9sum\xc3\xa9.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"JVBERi0=\r\n--b--\r\n"
    )
    route.source_server.seed_message(pair.source, ("Inbox",), mime)
    seed_mails(route.source_server, pair.source, ("Inbox",), range(0, 3), "rawname")
    report = migrate(route, pair, tmp_path)
    account = report.accounts[0]
    assert account.status == "completed", account.error
    assert_copied(route, pair)


def test_mime_with_control_characters(route, tmp_path):
    """A NUL and other control characters in a header and the body (spam does this): the
    source holds such mail; it arrives or is logged, and the rest arrives."""
    pair = route.add_user("controlchars")
    mime = b"From: a@fabrikam.example\r\nSubject: nul\x00 and bell\x07\r\nMessage-ID: <ctl@fabrikam.example>\r\n\r\nbody\x00\x1b[0m\r\n"
    route.source_server.seed_message(pair.source, ("Inbox",), mime)
    seed_mails(route.source_server, pair.source, ("Inbox",), range(0, 3), "controlchars")
    report = migrate(route, pair, tmp_path)
    assert report.accounts[0].status != "failed", report.accounts[0].error
    assert_accounted(report, 4)
    held = inventory(route.destination_server, pair.destination)[("@inbox",)]
    assert sum(n for k, n in held.items() if k[1] != "<ctl@fabrikam.example>") == 3
