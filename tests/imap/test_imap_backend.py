"""The IMAP backend against a real Dovecot: what an administrator relies on.

A source is read without a single write command; folders keep their roles and names; flags,
keywords and dates survive; every copy gets its id; lost answers never make duplicates;
refusals are named for what they are; secrets never show.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import logging
import re
from pathlib import Path

import pytest

import groupmigrate as gm
from groupmigrate.auth import BasicAuth, TokenProvider
from groupmigrate.backends.imap.destination import IMAPDestination, IMAPDestinationMailbox
from groupmigrate.backends.imap.errors import SyncStateUnusable
from groupmigrate.errors import SourceRenumbered
from groupmigrate.backends.imap.source import IMAPSource, IMAPSourceMailbox
from groupmigrate.backends.imap.testing import FaultyProxy
from groupmigrate.errors import (
    AccessDenied,
    AuthenticationError,
    ConfigError,
    SourceIsReadOnly,
    Throttled,
)
from groupmigrate.frontdoors.config import load_config
from groupmigrate.items import FlagStatus, Folder, Message
from groupmigrate.testing.dovecot import WRITE_COMMANDS, DovecotServer

from .conftest import ImapUser
from .test_imap_conformance import DovecotMail

pytestmark = pytest.mark.timeout(60)

UTC = dt.timezone.utc


def mail(n: int, *, subject: str | None = None, message_id: bool = True, body: bytes = b"Hello there.") -> bytes:
    head = f"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: {subject or f'Note {n}'}\r\n"
    if message_id:
        head += f"Message-ID: <note-{n}@example.org>\r\n"
    head += f"Date: Mon, 02 Mar 2026 10:{n % 60:02d}:00 +0000\r\n\r\n"
    return head.encode() + body + b"\r\n"


def message(n: int, **fields: object) -> Message:
    fields.setdefault("received", dt.datetime(2026, 3, 2, 10, n % 60, 30, tzinfo=UTC))
    return Message.from_mime(mail(n), **fields)  # type: ignore[arg-type]


@pytest.fixture
def box(dovecot: DovecotServer, imap_user: ImapUser) -> DovecotMail:
    """The user's mailbox, as the user sees it (plain imaplib, the user's own login)."""
    return DovecotMail(dovecot, imap_user.name, imap_user.password)


def own_source(dovecot: DovecotServer, user: ImapUser) -> IMAPSourceMailbox:
    """The user's mailbox read with the user's own password over implicit TLS."""
    source = IMAPSource(dovecot.host, dovecot.tls_port, profile="dovecot", ca_file=dovecot.ca_file)
    return source.open_mailbox(user.name, BasicAuth(user.name, user.password))


def admin_destination(dovecot: DovecotServer, host: str | None = None, port: int | None = None, **options: object) -> IMAPDestination:
    """The destination opened by Dovecot's master user with SASL PLAIN and an authorization id."""
    if host is None:
        return IMAPDestination(dovecot.host, dovecot.port, auth=BasicAuth(dovecot.master_user, dovecot.master_password),
                               profile="dovecot", tls="starttls", ca_file=dovecot.ca_file, **options)  # type: ignore[arg-type]  # fmt: skip
    return IMAPDestination(host, port, auth=BasicAuth(dovecot.master_user, dovecot.master_password),
                           profile="dovecot", tls="none", **options)  # type: ignore[arg-type]  # fmt: skip


def folder(mailbox: IMAPSourceMailbox | IMAPDestinationMailbox, path: tuple[str, ...]) -> Folder:
    return next(f for f in mailbox.folders() if f.path == path)


# --- the source never writes ---------------------------------------------------------------------


def test_reading_a_whole_mailbox_sends_no_write_command(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    box.append(("INBOX",), mail(1), flags=["\\Seen"])
    box.append(("INBOX",), mail(2))  # unread: reading it must not mark it read
    box.seed(("Projects", "2026"), [message(3), message(4, is_read=True, flag=FlagStatus.FLAGGED)])
    box.append(("Sent",), mail(5), flags=["\\Seen", "\\Answered"])
    before = {path: [(uid, sorted(d["flags"])) for uid, d in box.read(path)] for path in (("INBOX",), ("Projects", "2026"), ("Sent",))}
    seeded = dovecot.commands(imap_user.name)  # the user's own sessions, putting the mail there

    mailbox = own_source(dovecot, imap_user)
    mailbox.check()
    read: dict[tuple[str, ...], list[bytes]] = {}
    for f in mailbox.folders():
        refs = list(mailbox.list_items(f))
        read[f.path] = [m.mime for m in mailbox.fetch(f, refs) if isinstance(m, Message)]
        state = mailbox.sync_items(f, None).state
        mailbox.sync_items(f, state)
        mailbox.count(f)
    mailbox.close()

    commands = dovecot.commands(imap_user.name)[len(seeded):]
    assert [c for c in commands if c in WRITE_COMMANDS] == []
    assert "EXAMINE" in commands and "UID FETCH" in commands and "SELECT" not in commands
    after = {path: [(uid, sorted(d["flags"])) for uid, d in box.read(path)] for path in before}
    assert after == before, "reading changed flags on the source"
    assert read[("Inbox",)] == [mail(1), mail(2)]  # byte for byte
    assert sorted(read[("Projects", "2026")]) == sorted([mail(3), mail(4)])


def test_a_source_connection_refuses_write_commands_before_sending_them(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    box.append(("INBOX",), mail(1))
    seeded = dovecot.commands(imap_user.name)
    mailbox = own_source(dovecot, imap_user)
    with mailbox.pool.connection() as conn:
        attempts = {
            "CREATE": lambda: conn.create("Stolen"),
            "APPEND": lambda: conn.append("INBOX", []),
            "SELECT": lambda: conn.client.select_folder("INBOX"),  # read-write: must be EXAMINE
            "STORE": lambda: (conn.examine("INBOX"), conn.client.add_flags([1], [b"\\Seen"])),
            "FETCH BODY[]": lambda: conn.client.fetch([1], ["BODY[]"]),  # would set \Seen
            "EXPUNGE": lambda: conn.client.expunge(),
        }
        for what, attempt in attempts.items():
            with pytest.raises(SourceIsReadOnly, match=re.escape(what.split()[0])):
                attempt()
        conn.noop()  # the connection is still fine: nothing was sent
    mailbox.close()
    assert [c for c in dovecot.commands(imap_user.name)[len(seeded):] if c in WRITE_COMMANDS] == []
    assert [f for _, d in box.read(("INBOX",)) for f in d["flags"] if f == "\\Seen"] == []


# --- folders -------------------------------------------------------------------------------------------


def test_special_use_folders_are_roles_and_no_second_sent_is_created(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    source = own_source(dovecot, imap_user)
    roles = {f.role: f.path for f in source.folders() if f.role}
    assert roles == {"inbox": ("Inbox",), "sent": ("Sent",), "drafts": ("Drafts",), "deleted": ("Trash",),
                     "junk": ("Junk",), "archive": ("Archive",)}  # fmt: skip
    source.close()

    dst = admin_destination(dovecot).open_mailbox(imap_user.name)
    exchange_names = {"sent": ("Sent Items",), "deleted": ("Deleted Items",), "junk": ("Junk Email",), "drafts": ("Drafts",), "inbox": ("Inbox",)}
    placed = {role: dst.ensure_folder(Folder(path, role=role)).path for role, path in exchange_names.items()}
    assert placed == {"sent": ("Sent",), "deleted": ("Trash",), "junk": ("Junk",), "drafts": ("Drafts",), "inbox": ("Inbox",)}
    assert dovecot.write_commands(imap_user.name) == []  # nothing created for them
    child = dst.ensure_folder(Folder(("Sent Items", "2025")))  # a subfolder follows its parent
    inbox_child = dst.ensure_folder(Folder(("Inbox", "Projects")))
    assert (child.path, inbox_child.path) == (("Sent", "2025"), ("Inbox", "Projects"))
    names = {f.path for f in dst.folders()}
    assert ("Sent Items",) not in names and ("Sent", "2025") in names
    dst.close()


def test_folder_names_in_modified_utf7_round_trip(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    dst = admin_destination(dovecot).open_mailbox(imap_user.name)
    made = dst.ensure_folder(Folder(("Entwürfe", "Ünïcödé")))
    assert made.path == ("Entwürfe", "Ünïcödé")
    assert dst.ensure_folder(Folder(("Entwürfe", "Ünïcödé"))).folder_id == made.folder_id  # found, not created again
    (result,) = dst.create_items(made, [message(7)])
    assert result.ok
    dst.close()
    raw = box.connect()
    try:
        typ, listing = raw.list('""', '"*"')
        lsub = raw.lsub('""', '"*"')[1]
    finally:
        raw.logout()
    assert any(line.endswith(b' Entw&APw-rfe/&ANw-n&AO8-c&APY-d&AOk-') for line in listing), listing  # what IMAP clients see
    assert any(b"Entw&APw-rfe/&ANw-n&AO8-c&APY-d&AOk-" in line for line in lsub), "created folders are subscribed"
    source = own_source(dovecot, imap_user)
    (copy,) = source.fetch(folder(source, ("Entwürfe", "Ünïcödé")), list(source.list_items(folder(source, ("Entwürfe", "Ünïcödé")))))
    assert isinstance(copy, Message) and copy.mime == mail(7)
    source.close()


# --- messages ---------------------------------------------------------------------------------------


def test_flags_keywords_and_internal_date_round_trip(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    sent = [
        message(1, is_read=True, flag=FlagStatus.FLAGGED, categories=("Red", "Blue category", "Kündigung")),
        message(2, is_read=False, flag=FlagStatus.COMPLETE, categories=("A&B", "(weird) \"quoted\" \\ ]")),
        message(3, is_read=True, received=dt.datetime(2019, 12, 31, 23, 59, 58, tzinfo=dt.timezone(dt.timedelta(hours=5)))),
    ]
    dst = admin_destination(dovecot).open_mailbox(imap_user.name)
    target = dst.ensure_folder(Folder(("Flags",)))
    results = dst.create_items(target, sent)
    assert all(r.ok for r in results), results
    dst.close()

    stored = dict(box.read(("Flags",)))
    flags = [sorted(stored[uid]["flags"]) for uid in sorted(stored)]
    assert "\\Seen" in flags[0] and "\\Flagged" in flags[0] and "Red" in flags[0]
    assert "$Completed" in flags[1] and "\\Flagged" not in flags[1] and "\\Seen" not in flags[1]
    assert all(re.fullmatch(r"[\\$]?[!#-'+-~&,]+", f) for fs in flags for f in fs), flags  # atoms: every IMAP client can keep them
    assert [stored[uid]["internaldate"] for uid in sorted(stored)] == [m.received for m in sent]

    box.append(("Flags",), mail(4), flags=["\\Answered", "\\Draft", "$Forwarded", "$MDNSent", "NonJunk", "Project-X"])
    source = own_source(dovecot, imap_user)
    f = folder(source, ("Flags",))
    read = {m.message_id: m for m in source.fetch(f, list(source.list_items(f))) if isinstance(m, Message)}
    for original in sent:
        copy = read[original.message_id]
        assert (copy.is_read, copy.flag, sorted(copy.categories), copy.received) == (
            original.is_read, original.flag, sorted(original.categories), original.received)  # fmt: skip
    # system flags and keywords with a meaning of their own are not categories
    assert read["<note-4@example.org>"].categories == ("Project-X",)
    source.close()


def test_each_copy_gets_its_appenduid_id_and_a_batch_is_one_multiappend(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    dst = admin_destination(dovecot).open_mailbox(imap_user.name)
    target = dst.ensure_folder(Folder(("Batch",)))
    before = dovecot.commands(imap_user.name).count("APPEND")
    results = dst.create_items(target, [message(n) for n in range(5)])
    assert dovecot.commands(imap_user.name).count("APPEND") == before + 1  # MULTIAPPEND: one command for five
    raw = box.connect()
    try:
        uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", raw.status('"Batch"', "(UIDVALIDITY)")[1][0]).group(1))  # type: ignore[union-attr]
    finally:
        raw.logout()
    uids = [uid for uid, _ in box.read(("Batch",))]
    assert [r.item_id for r in results] == [f"{uidvalidity}.{uid}" for uid in uids]
    assert [m.message_id for m in dst.fetch_existing(target, [r.item_id or "" for r in reversed(results)])] == \
        [f"<note-{n}@example.org>" for n in reversed(range(5))]  # fmt: skip
    listed = list(dst.existing(target, "mail"))
    assert [m.source_id for m in listed] == [r.item_id for r in results] and all(not m.mime for m in listed)
    assert dst.count(target) == 5
    dst.close()


def _without_uidplus(line: bytes) -> bytes:
    line = re.sub(rb" (?:UIDPLUS|MULTIAPPEND)(?=[ \]\r])", b"", line)
    return re.sub(rb"\[APPENDUID [^\]]*\] ?", b"", line)


def test_without_uidplus_or_multiappend_each_message_is_appended_and_found_again(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    with FaultyProxy(dovecot.host, dovecot.port, rewrite=_without_uidplus) as proxy:
        dst = admin_destination(dovecot, proxy.host, proxy.port).open_mailbox(imap_user.name)
        target = dst.ensure_folder(Folder(("Plain",)))
        before = dovecot.commands(imap_user.name).count("APPEND")
        no_id = Message.from_mime(mail(9, message_id=False))
        results = dst.create_items(target, [message(1), message(2), no_id])
        assert dovecot.commands(imap_user.name).count("APPEND") == before + 3
        # the second APPEND's answer is lost: the first is identified all the same, the second
        # found again, the third not sent (the executor sends it again)
        proxy.fail_next_append("lose_answer", skip=1)
        later = dst.create_items(target, [message(3), message(4), message(5)])
        assert proxy.fired.is_set()
        dst.close()
    stored = [uid for uid, _ in box.read(("Plain",))]
    assert [r.item_id.rsplit(".", 1)[1] if r.item_id else None for r in results + later[:2]] == [str(u) for u in stored]
    assert later[1].ok and "found in the folder afterwards" in later[1].warnings[0]
    assert not later[2].ok and later[2].transient and not later[2].maybe_applied


def test_appendlimit_refuses_a_message_too_large_before_it_is_sent(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    def announce(line: bytes) -> bytes:
        return line.replace(b" IMAP4rev1 ", b" IMAP4rev1 APPENDLIMIT=2000 ", 1)

    with FaultyProxy(dovecot.host, dovecot.port, rewrite=announce) as proxy:
        dst = admin_destination(dovecot, proxy.host, proxy.port).open_mailbox(imap_user.name)
        target = dst.ensure_folder(Folder(("Limited",)))
        big = Message.from_mime(mail(2, body=b"x" * 3000))
        small, too_big, other = dst.create_items(target, [message(1), big, message(3)])
        dst.close()
    assert small.ok and other.ok
    assert not too_big.ok and not too_big.transient and too_big.code == "TooLarge"
    assert "APPENDLIMIT" in (too_big.error or "") and "2,000 bytes" in (too_big.error or "")
    assert [d["mime"] for _, d in box.read(("Limited",))] == [mail(1), mail(3)]


def test_over_quota_is_a_permanent_refusal_named_over_quota(dovecot: DovecotServer) -> None:
    dovecot.add_user("full@example.org", "full-password-1", quota_bytes=4000)
    dst = admin_destination(dovecot).open_mailbox("full@example.org")
    target = dst.ensure_folder(Folder(("Inbox",), role="inbox"))
    fits, too_much = dst.create_items(target, [message(1), Message.from_mime(mail(2, body=b"y" * 6000))])
    assert fits.ok
    assert not too_much.ok and too_much.code == "OverQuota" and not too_much.transient and not too_much.maybe_applied
    assert "quota" in (too_much.error or "").lower()
    assert dst.free_space() is not None and dst.free_space() < 4000  # type: ignore[operator]
    dst.close()


def test_too_many_connections_is_throttling_not_a_bad_password(dovecot_factory) -> None:  # type: ignore[no-untyped-def]
    server: DovecotServer = dovecot_factory(max_userip_connections=2)
    server.add_user("busy@example.org", "busy-password-1")
    held = [imaplib.IMAP4(server.host, server.port) for _ in range(2)]
    for imap in held:
        imap.login("busy@example.org", "busy-password-1")
    source = IMAPSource(server.host, server.port, tls="none", auth=BasicAuth(server.master_user, server.master_password),
                        admin_login="master-separator")  # fmt: skip
    mailbox = source.open_mailbox("busy@example.org")
    with pytest.raises(Throttled) as raised:
        mailbox.check()
    assert "max_connections" in str(raised.value) and "Maximum number of connections" in str(raised.value)
    for imap in held:
        imap.logout()
    mailbox.check()  # a free slot: it works again
    mailbox.close()


# --- lost answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lose_answer", "drop_before_server"])
def test_a_lost_append_answer_is_settled_without_a_duplicate(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail, mode: str) -> None:
    with FaultyProxy(dovecot.host, dovecot.port) as proxy:
        dst = admin_destination(dovecot, proxy.host, proxy.port).open_mailbox(imap_user.name)
        target = dst.ensure_folder(Folder(("Lost",)))
        proxy.fail_next_append(mode)
        results = dst.create_items(target, [message(n) for n in range(3)])
        assert proxy.fired.is_set()
        held = box.read(("Lost",))
        if mode == "lose_answer":  # the server stored them: found, with their ids, not sent again
            assert all(r.ok for r in results), results
            assert [r.item_id.rsplit(".", 1)[1] for r in results if r.item_id] == [str(uid) for uid, _ in held]
            assert all("found in the folder afterwards" in r.warnings[0] for r in results)
        else:  # never stored: certainly absent, so the executor may send them again
            assert held == [] and all(r.transient and not r.maybe_applied for r in results), results
        again = dst.create_items(target, [message(n) for n in range(3)]) if mode != "lose_answer" else []
        assert all(r.ok for r in again)
        dst.close()
    assert sorted(d["mime"] for _, d in box.read(("Lost",))) == sorted(mail(n) for n in range(3))  # each exactly once


def test_an_append_without_an_answer_in_time_is_found_afterwards(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    with FaultyProxy(dovecot.host, dovecot.port) as proxy:
        dst = admin_destination(dovecot, proxy.host, proxy.port, read_timeout=1).open_mailbox(imap_user.name)
        target = dst.ensure_folder(Folder(("Slow",)))
        proxy.fail_next_append("hang")
        (result,) = dst.create_items(target, [message(1)])
        dst.close()
    assert result.ok and result.item_id and "lost" in result.warnings[0]
    assert [d["mime"] for _, d in box.read(("Slow",))] == [mail(1)]


def test_a_migration_through_a_lost_answer_copies_every_message_once(dovecot: DovecotServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dovecot.add_user("lost-src@example.org", "src-password-1")
    dovecot.add_user("lost-dst@example.org", "dst-password-1")
    src = DovecotMail(dovecot, "lost-src@example.org", "src-password-1")
    src.seed(("INBOX",), [message(n) for n in range(6)])
    seeded = dovecot.commands("lost-src@example.org")
    with FaultyProxy(dovecot.host, dovecot.port) as proxy:
        source = IMAPSource(dovecot.host, dovecot.port, tls="starttls", ca_file=dovecot.ca_file, profile="dovecot",
                            auth=BasicAuth(dovecot.master_user, dovecot.master_password), admin_login="master-separator")  # fmt: skip
        destination = admin_destination(dovecot, proxy.host, proxy.port)
        pairs = [gm.AccountPair("lost-src@example.org", "lost-dst@example.org")]
        proxy.fail_next_append("lose_answer")
        report = gm.Migrator(source, destination, state=str(tmp_path / "state.db"), item_types=["mail"]).run(pairs)
        assert proxy.fired.is_set()
        verify = gm.Migrator(source, destination, state=str(tmp_path / "state.db"), item_types=["mail"]).verify(pairs)
    account = report.accounts[0]
    assert account.status == "completed", account.error
    assert account.counts["mail"]["migrated"] == 6
    copies = DovecotMail(dovecot, "lost-dst@example.org", "dst-password-1").read(("INBOX",))
    assert sorted(d["mime"] for _, d in copies) == sorted(mail(n) for n in range(6))  # none twice
    assert any("found in the folder afterwards" in e.message for e in account.log), [e.message for e in account.log]
    assert verify.totals()["missing"] == 0 and verify.totals()["extra"] == 0, verify.summary()
    assert [c for c in dovecot.commands("lost-src@example.org")[len(seeded):] if c in WRITE_COMMANDS] == []


# --- logins -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("admin_login", ["master-separator", "plain-authzid"])
def test_an_admin_opens_a_users_mailbox(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail, admin_login: str) -> None:
    box.append(("INBOX",), mail(1))
    source = IMAPSource(dovecot.host, dovecot.tls_port, ca_file=dovecot.ca_file, admin_login=admin_login,
                        auth=BasicAuth(dovecot.master_user, dovecot.master_password))  # fmt: skip
    mailbox = source.open_mailbox(imap_user.name)
    mailbox.check()
    inbox = folder(mailbox, ("Inbox",))
    assert [m.mime for m in mailbox.fetch(inbox, list(mailbox.list_items(inbox))) if isinstance(m, Message)] == [mail(1)]
    mailbox.close()
    assert "EXAMINE" in dovecot.commands(imap_user.name)  # the session opened the user's mailbox
    assert dovecot.commands(dovecot.master_user) == []


def test_an_admin_refused_for_a_mailbox_is_named_with_it(dovecot: DovecotServer) -> None:
    wrong = IMAPSource(dovecot.host, dovecot.port, tls="starttls", ca_file=dovecot.ca_file, admin_login="master-separator",
                       auth=BasicAuth(dovecot.master_user, "not-the-master-password"))  # fmt: skip
    with pytest.raises(AuthenticationError) as refused:
        wrong.open_mailbox("nobody-here@example.org").check()
    assert "master" in str(refused.value) and "not-the-master-password" not in str(refused.value)
    admin = IMAPSource(dovecot.host, dovecot.port, tls="starttls", ca_file=dovecot.ca_file, admin_login="master-separator",
                       auth=BasicAuth(dovecot.master_user, dovecot.master_password))  # fmt: skip
    with pytest.raises(AccessDenied) as denied:
        admin.open_mailbox("nobody-here@example.org").check()
    assert "nobody-here@example.org" in str(denied.value) and "does not exist" in str(denied.value)


def test_a_wrong_password_is_an_authentication_error_that_never_shows_it(
    dovecot: DovecotServer, imap_user: ImapUser, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "Wrong-Secret-Value-42"
    caplog.set_level(logging.DEBUG)
    for mechanism in ("login", "plain"):
        source = IMAPSource(dovecot.host, dovecot.port, tls="starttls", ca_file=dovecot.ca_file, auth_mechanism=mechanism,
                            admin_login="none")  # fmt: skip
        mailbox = source.open_mailbox(imap_user.name, BasicAuth(imap_user.name, secret))
        with pytest.raises(AuthenticationError) as raised:
            mailbox.check()
        assert imap_user.name in str(raised.value) and "AUTHENTICATIONFAILED" in str(raised.value)
        for text in (str(raised.value), repr(raised.value), repr(source), repr(mailbox), repr(mailbox._login)):
            assert secret not in text
    # a good login, read at DEBUG level: neither password shows in any log line or on stderr
    good = own_source(dovecot, imap_user)
    good.check()
    good.folders()
    with good.pool.connection() as conn:
        assert conn.client._imap.debug == 0  # imaplib's debug output (IMAPClient turns it on) is off
    good.close()
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err):
        assert secret not in text and imap_user.password not in text


def test_bearer_tokens_are_sent_with_xoauth2_and_never_shown(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    """Dovecot here offers no XOAUTH2: the refusal names the user, never the token."""
    token = "ya29.secret-token-value"
    source = IMAPSource(dovecot.host, dovecot.port, tls="starttls", ca_file=dovecot.ca_file, auth=TokenProvider(lambda: token))
    with pytest.raises(AuthenticationError) as raised:
        source.open_mailbox(imap_user.name).check()
    assert imap_user.name in str(raised.value) and token not in str(raised.value)


def test_an_untrusted_certificate_is_named_by_check(dovecot: DovecotServer, imap_user: ImapUser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    untrusting = IMAPSource(dovecot.host, dovecot.tls_port, auth=BasicAuth(imap_user.name, imap_user.password), admin_login="none")
    with pytest.raises(ConfigError) as raised:
        untrusting.open_mailbox(imap_user.name).check()
    assert raised.value.key == "ca_file" and "TLS" in str(raised.value) and "certificate" in str(raised.value)
    destination = admin_destination(dovecot)
    results = gm.Migrator(untrusting, destination, state=str(tmp_path / "s.db")).check([gm.AccountPair(imap_user.name, imap_user.name)])
    by_side = {r.side: r for r in results}
    assert not by_side["source"].ok and "TLS" in by_side["source"].message and by_side["destination"].ok


# --- listing and delta ---------------------------------------------------------------------------------


def test_since_lists_by_internal_date(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    box.append(("INBOX",), mail(1), received=dt.datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
    box.append(("INBOX",), mail(2), received=dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    box.append(("INBOX",), mail(3), received=dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    mailbox = own_source(dovecot, imap_user)
    inbox = folder(mailbox, ("Inbox",))
    since = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 07:00 UTC
    assert [m.message_id for m in mailbox.fetch(inbox, list(mailbox.list_items(inbox, since=since)))] == \
        ["<note-2@example.org>", "<note-3@example.org>"]  # fmt: skip
    mailbox.close()


def test_sync_state_lists_new_and_changed_messages_and_refuses_another_uidvalidity(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    box.create(("Synced",))
    first_uids = [box.append(("Synced",), mail(n)) for n in (1, 2)]
    mailbox = own_source(dovecot, imap_user)
    synced = folder(mailbox, ("Synced",))
    first = mailbox.sync_items(synced, None)
    assert len(first.refs) == 2 and '"modseq"' in first.state  # CONDSTORE: flag changes are seen too
    assert mailbox.sync_items(synced, first.state).refs == ()
    box.append(("Synced",), mail(3))
    raw = box.connect()
    try:
        raw.select('"Synced"')
        raw.uid("STORE", str(first_uids[0]), "+FLAGS", "(\\Seen)")  # the user reads an old one
    finally:
        raw.logout()
    later = mailbox.sync_items(synced, first.state)
    got = [m.message_id for m in mailbox.fetch(synced, list(later.refs))]
    assert got == ["<note-1@example.org>", "<note-3@example.org>"]
    # the folder is deleted and made again (a restore): its UIDVALIDITY changes, every id with it
    raw = box.connect()
    try:
        raw.delete('"Synced"')
    finally:
        raw.logout()
    box.create(("Synced",))
    box.append(("Synced",), mail(4))
    with pytest.raises(SourceRenumbered, match="UIDVALIDITY changed"):
        mailbox.sync_items(folder(mailbox, ("Synced",)), later.state)
    with pytest.raises(SyncStateUnusable, match="not an IMAP sync state"):
        mailbox.sync_items(folder(mailbox, ("Synced",)), '{"v": 0}')
    assert isinstance(SyncStateUnusable("x"), gm.GroupmigrateError) and not isinstance(SyncStateUnusable("x"), (gm.AccessError, gm.TransientError))
    mailbox.close()
    assert dovecot.write_commands(imap_user.name).count("APPEND") == 4  # only the user's own, none by the source


# --- configuration ------------------------------------------------------------------------------------


def test_a_configuration_file_builds_imap_endpoints(dovecot: DovecotServer, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "accounts.csv").write_text("source,destination\nalice@old.example,alice@new.example\n")
    (tmp_path / "ca.pem").write_bytes(Path(dovecot.ca_file).read_bytes())
    monkeypatch.setenv("MASTER_PW", dovecot.master_password)
    (tmp_path / "migration.toml").write_text(
        f'[source]\nbackend = "imap"\nprofile = "generic"\nhost = "{dovecot.host}"\nport = {dovecot.tls_port}\nca_file = "ca.pem"\n'
        'admin_login = "master-separator"\n\n[source.auth]\ntype = "basic"\nusername = "master"\npassword_env = "MASTER_PW"\n\n'
        f'[destination]\nbackend = "imap"\nprofile = "dovecot"\nhost = "{dovecot.host}"\nport = {dovecot.port}\ntls = "starttls"\n'
        'ca_file = "ca.pem"\nmax_connections = 3\n\n[destination.auth]\ntype = "basic"\nusername = "master"\npassword_env = "MASTER_PW"\n\n'
        '[migration]\naccounts = "accounts.csv"\nitem_types = ["mail"]\n'
    )
    config = load_config(tmp_path / "migration.toml")
    source, destination = config.source.build_source(), config.destination.build_destination()
    assert isinstance(source, IMAPSource) and isinstance(destination, IMAPDestination)
    assert destination.capabilities.max_connections == 3 and destination.capabilities.item_types == {"mail"}
    assert dovecot.master_password not in repr(config.source) + repr(source)
    (tmp_path / "bad.toml").write_text(
        '[source]\nbackend = "imap"\nhost = "imap.example.org"\ntls = "none"\n\n[destination]\nbackend = "memory"\n\n'
        '[migration]\naccounts = "accounts.csv"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "bad.toml")
    assert raised.value.key == "source.tls" and "clear text" in str(raised.value)



def test_check_names_what_failed_for_each_account(dovecot: DovecotServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    dovecot.add_user("ok-src@example.org", "ok-src-password")
    dovecot.add_user("ok-dst@example.org", "ok-dst-password")
    dovecot.add_user("ok-dst2@example.org", "ok-dst-password")
    dovecot.add_user("ok-src2@example.org", "ok-src-password")
    dovecot.add_user("wrong-src@example.org", "the-real-password")
    (tmp_path / "accounts.csv").write_text(
        "source,destination,source_username,source_password\n"
        "ok-src@example.org,ok-dst@example.org,ok-src@example.org,ok-src-password\n"
        "wrong-src@example.org,ok-dst2@example.org,wrong-src@example.org,Not-The-Password-9\n"
        "ok-src2@example.org,missing@example.org,ok-src2@example.org,ok-src-password\n"
    )
    endpoint = f'backend = "imap"\nprofile = "dovecot"\nhost = "{dovecot.host}"\nport = {dovecot.port}\ntls = "starttls"\n'
    trusted = f'ca_file = "{dovecot.ca_file}"\n'
    destination = (f'[destination]\n{endpoint}{trusted}\n[destination.auth]\ntype = "basic"\nusername = "{dovecot.master_user}"\n'
                   f'password_env = "MASTER_PW"\n\n[migration]\naccounts = "accounts.csv"\nitem_types = ["mail"]\n')  # fmt: skip
    env = {**__import__("os").environ, "MASTER_PW": dovecot.master_password}

    def check(source_tls: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "migration.toml").write_text(f"[source]\n{endpoint}{source_tls}\n{destination}")
        return subprocess.run([sys.executable, "-m", "groupmigrate.frontdoors.cli", "check", "migration.toml"],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)  # fmt: skip

    done = check(trusted)
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("OK   source") and lines[1].startswith("OK   destination")
    assert "FAIL source      wrong-src@example.org: user 'wrong-src@example.org': the server did not accept the credentials" in done.stdout
    assert "FAIL destination missing@example.org: admin 'master' opening mailbox 'missing@example.org'" in done.stdout
    assert "may not open this mailbox, or it does not exist" in done.stdout
    assert "Not-The-Password-9" not in done.stdout + done.stderr and dovecot.master_password not in done.stdout + done.stderr
    untrusted = check("")
    assert untrusted.returncode == 3
    assert untrusted.stdout.count("TLS: the certificate of the IMAP server") == 3, untrusted.stdout  # every source account


def test_a_message_whose_keyword_the_server_refuses_is_stored_without_it(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    """Dovecot refuses keywords over 50 characters (mail_max_keyword_length): the mail still arrives."""
    long_category = "Project " + "x" * 60
    dst = admin_destination(dovecot).open_mailbox(imap_user.name)
    target = dst.ensure_folder(Folder(("Keywords",)))
    plain, odd = dst.create_items(target, [message(1, categories=("Red",)), message(2, is_read=True, categories=("Blue", long_category))])
    dst.close()
    assert plain.ok and plain.warnings == ()
    assert odd.ok and odd.item_id and "stored without its keywords" in odd.warnings[0] and "Keyword length" in odd.warnings[0]
    stored = {d["mime"]: sorted(d["flags"]) for _, d in box.read(("Keywords",))}
    assert stored == {mail(1): ["Red"], mail(2): ["\\Seen"]}  # read state kept, the refused keywords not


# --- pieces that need no server ----------------------------------------------------------------------


def test_refusals_are_classified_by_their_response_code() -> None:
    from groupmigrate.backends.imap.errors import CommandRefused, login_error, refusal, retry_after, server_text

    busy = refusal("APPEND", "NO", "[THROTTLED] Request is throttled. Suggested Backoff Time: 12000 milliseconds", "INBOX")
    assert isinstance(busy, Throttled) and busy.retry_after == 12.0
    assert isinstance(refusal("EXAMINE", "NO", "[UNAVAILABLE] Backend down", "x"), gm.TransientError)
    gone = refusal("EXAMINE", "NO", "[NONEXISTENT] Mailbox doesn't exist: Old", "Old")
    assert isinstance(gone, CommandRefused) and gone.code == "NONEXISTENT" and "'Old'" in str(gone)
    assert retry_after("try again in 2 minutes") == 120.0 and retry_after("Quota exceeded") is None
    assert isinstance(login_error("[ALERT] Too many simultaneous connections. (Failure)", "user 'a'", ()), Throttled)
    refused = login_error("[AUTHENTICATIONFAILED] Invalid credentials (Failure) hunter2", "user 'a'", ("hunter2",))
    assert isinstance(refused, AuthenticationError) and "hunter2" not in str(refused) and "user 'a'" in str(refused)
    assert isinstance(login_error("[PRIVACYREQUIRED] Use TLS", "user 'a'", ()), ConfigError)
    assert server_text(imaplib.IMAP4.error(b"[LIMIT] Maximum number (0.001 + 0.000 secs).")) == "[LIMIT] Maximum number."
    assert server_text(imaplib.IMAP4.error("select failed: [NONEXISTENT] gone")) == "select failed: [NONEXISTENT] gone"


def test_categories_travel_as_keywords_any_client_can_keep() -> None:
    from groupmigrate.backends.imap.convert import category_for, keyword_for

    for category in ("Red", "Blue category", "Kündigung", "A&B", '(x) "y" \\ ] % *', "日本語", "$label1"):
        keyword = keyword_for(category)
        assert keyword is not None and re.fullmatch(r"[!#$&'+-\[^-~]+", keyword), keyword  # an IMAP atom
        assert category_for(keyword) == category
    assert keyword_for("Red") == "Red" and keyword_for("Blue category") == "Blue&ACA-category"
    assert category_for("\\Answered") is None and category_for("$Forwarded") is None and category_for("NonJunk") is None


def test_folder_paths_leave_the_namespace_prefix_out() -> None:
    from groupmigrate.backends.imap.folders import FolderTree

    courier = FolderTree([((b"\\HasChildren",), ".", "INBOX"), ((), ".", "INBOX.Sent Messages"), ((), ".", "INBOX.Trash"),
                          ((b"\\Noselect",), ".", "INBOX.Archiv"), ((), ".", "INBOX.Archiv.2019"), ((), "/", "#shared.team")],
                         prefix="INBOX.", delimiter=".", others=("#shared",))  # fmt: skip
    listed = {f.path: f.role for f in courier.folders()}
    assert listed == {("Inbox",): "inbox", ("Sent Messages",): "sent", ("Trash",): "deleted", ("Archiv",): "archive",
                      ("Archiv", "2019"): None}  # fmt: skip
    assert courier.name_of(("Projects", "2026")) == "INBOX.Projects.2026" and courier.name_of(("Inbox",)) == "INBOX"
    assert not courier.at(("Archiv",)).selectable  # type: ignore[union-attr]
    flat = FolderTree([((b"\\Sent",), "/", "Gesendet"), ((), "/", "a/b/c")])
    assert [f.path for f in flat.folders()] == [("Gesendet",), ("a",), ("a", "b"), ("a", "b", "c")]


def test_bearer_tokens_log_in_with_xoauth2_and_oauthbearer_and_are_renewed_once() -> None:
    import base64
    import socket
    import threading

    seen: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with sock, sock.makefile("rb") as reader:
                sock.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 AUTH=OAUTHBEARER] fake\r\n")
                while line := reader.readline():
                    tag, command = line.split()[0], line.split()[1].upper()
                    if command == b"AUTHENTICATE":
                        sock.sendall(b"+ \r\n")
                        payload = base64.b64decode(reader.readline().strip())
                        seen.append(payload)
                        if b"Bearer expired" in payload:
                            sock.sendall(b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n")
                            reader.readline()  # the client's empty answer to the error challenge
                            sock.sendall(tag + b" NO [AUTHENTICATIONFAILED] Invalid token\r\n")
                        else:
                            sock.sendall(tag + b" OK [CAPABILITY IMAP4rev1] Logged in\r\n")
                    elif command == b"CAPABILITY":
                        sock.sendall(b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 AUTH=OAUTHBEARER\r\n" + tag + b" OK done\r\n")
                    elif command == b"STATUS":
                        sock.sendall(b"* STATUS INBOX (MESSAGES 0)\r\n" + tag + b" OK done\r\n")
                    elif command == b"LOGOUT":
                        sock.sendall(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                        break
                    else:
                        sock.sendall(tag + b" BAD not here\r\n")

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    tokens = iter(["expired", "fresh-token-1", "fresh-token-2"])
    provider = TokenProvider(lambda: next(tokens))
    try:
        for mechanism in ("auto", "xoauth2"):
            source = IMAPSource("127.0.0.1", port, tls="none", auth=provider, auth_mechanism=mechanism)
            for _ in range(2):  # a second mailbox of the endpoint: the same token, not a new one
                mailbox = source.open_mailbox("alice@example.org")
                mailbox.check()
                mailbox.close()
    finally:
        listener.close()
    assert seen[0] == b"n,a=alice@example.org,\x01auth=Bearer expired\x01\x01"  # auto: OAUTHBEARER where offered
    assert seen[1] == b"n,a=alice@example.org,\x01auth=Bearer fresh-token-1\x01\x01"  # renewed once, on a new connection
    assert seen[2] == seen[1]  # the good token is kept
    assert seen[3] == seen[4] == b"user=alice@example.org\x01auth=Bearer fresh-token-2\x01\x01"  # XOAUTH2


def test_a_destination_folder_deleted_during_the_run_is_made_again(dovecot: DovecotServer, imap_user: ImapUser, box: DovecotMail) -> None:
    dst = admin_destination(dovecot).open_mailbox(imap_user.name)
    target = dst.ensure_folder(Folder(("Vanishing",)))
    raw = box.connect()
    try:
        raw.delete('"Vanishing"')  # the user deletes it meanwhile
    finally:
        raw.logout()
    (first,) = dst.create_items(target, [message(1)])
    assert first.ok
    dst.close()
    assert [d["mime"] for _, d in box.read(("Vanishing",))] == [mail(1)]
