"""Whole migrations with IMAP on one side or both: what a hosting migration runs.

Exchange Online (EWS test server) → Dovecot, Dovecot → WorkMail (EWS test server), and
Dovecot → Dovecot (full, then delta), each verified; a corpus of odd messages arrives byte
for byte. The source never sees a write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

import groupmigrate as gm
from groupmigrate.auth import BasicAuth
from groupmigrate.backends.imap.destination import IMAPDestination
from groupmigrate.backends.imap.source import IMAPSource
from groupmigrate.frontdoors.demo import MAILS_PER_BOX, expected_counts, seed_mailbox
from groupmigrate.items import FlagStatus, Message
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.dovecot import WRITE_COMMANDS, DovecotServer

from .test_imap_conformance import DovecotMail

pytestmark = pytest.mark.timeout(120)

UTC = dt.timezone.utc
NON_MAIL = ("contacts", "calendar", "tasks", "notes")


def imap_source(dovecot: DovecotServer) -> IMAPSource:
    """Every source mailbox opened by Dovecot's master user (``user*master``) over IMAPS."""
    return IMAPSource(dovecot.host, dovecot.tls_port, profile="dovecot", ca_file=dovecot.ca_file,
                      auth=BasicAuth(dovecot.master_user, dovecot.master_password), admin_login="master-separator")  # fmt: skip


def imap_destination(dovecot: DovecotServer) -> IMAPDestination:
    """Every destination mailbox opened by the master user with SASL PLAIN and an authorization id."""
    return IMAPDestination(dovecot.host, dovecot.port, profile="dovecot", tls="starttls", ca_file=dovecot.ca_file,
                           auth=BasicAuth(dovecot.master_user, dovecot.master_password), admin_login="plain-authzid")  # fmt: skip


def adds_up(verify: gm.Report) -> None:
    """Every source item is counted once; nothing is missing, extra or duplicated."""
    totals = verify.totals()
    accounted = sum(totals.get(k, 0) for k in ("migrated", "present", "skipped", "failed", "ambiguous", "missing"))
    assert accounted == totals.get("source", 0), totals
    assert (totals.get("missing", 0), totals.get("extra", 0), totals.get("duplicate", 0)) == (0, 0, 0), verify.summary()
    assert all(a.status == "completed" for a in verify.accounts), verify.summary()


def mime(n: int, subject: str, received: dt.datetime, folder: str = "") -> bytes:
    return (f"From: Partner {n} <partner{n}@fabrikam.example>\r\nTo: alice@old-host.example\r\nSubject: {subject}\r\n"
            f"Message-ID: <route-{n}-{folder}@fabrikam.example>\r\nDate: {received.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"Figures for item {n}. Grüße\r\n").encode()  # fmt: skip


def seed_imap_mailbox(mail: DovecotMail, now: dt.datetime) -> dict[tuple[str, ...], list[tuple[bytes, list[str], dt.datetime]]]:
    """A hosted mailbox: Inbox with a subfolder tree, Sent, a folder with non-ASCII letters."""
    layout: dict[tuple[str, ...], list[tuple[bytes, list[str], dt.datetime]]] = {
        ("INBOX",): [], ("INBOX", "Projects", "2026"): [], ("Sent",): [], ("Entwürfe – Ärger & Öl",): [],
    }  # fmt: skip
    paths = list(layout)
    for n in range(12):
        path = paths[n % len(paths)]
        received = (now - dt.timedelta(days=n, hours=n)).replace(microsecond=0)
        flags = (["\\Seen"] if n % 2 else []) + (["\\Flagged"] if n % 3 == 0 else []) + (["Finance"] if n % 4 == 0 else [])
        layout[path].append((mime(n, f"Quarterly figures #{n} – Übersicht", received, "/".join(path)), flags, received))
    for path, messages in layout.items():
        if path != ("INBOX",) and path != ("Sent",):
            mail.create(path)
        for data, flags, received in messages:
            mail.append(path, data, flags=flags, received=received)
    return layout


# --- Exchange Online → Dovecot ---------------------------------------------------------------------


def test_exchange_online_to_dovecot(dovecot: DovecotServer, tmp_path: Any, register_source: Callable[..., None]) -> None:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    dovecot.add_user("alice@example.org", "alice-new-password")
    with EWSTestServer(profile="exchange-online") as src:
        src.add_oauth_app("tenant", "app", "app-secret-value")
        expected = seed_mailbox(src, "alice", now, oversized=False)
        register_source(src)
        source = gm.EWSSource(url=src.url, profile="exchange-online", impersonation=True,
                              auth=gm.OAuth2ClientCredentials("tenant", "app", "app-secret-value", token_url=src.token_url("tenant")))  # fmt: skip
        destination = imap_destination(dovecot)
        pairs = [gm.AccountPair("alice@contoso.com", "alice@example.org")]
        migrator = gm.Migrator(source, destination, state=str(tmp_path / "state.db"), workers=2)
        report = migrator.run(pairs)
        account = report.accounts[0]
        assert account.status == "completed", account.error
        assert expected_counts(account.counts, {"mail": expected["mail"]}) == []
        # what IMAP cannot hold is reported per type, with the reason, not lost silently
        for kind in NON_MAIL:
            assert account.counts[kind].get("skipped", 0) == expected[kind]["migrated"], (kind, account.counts)
            assert any(e.kind == "skipped" and f"item type {kind!r} is not supported by the destination" in e.message
                       for e in account.log), kind  # fmt: skip
        adds_up(gm.Migrator(source, destination, state=str(tmp_path / "state.db")).verify(pairs))
        assert src.write_operations() == []
        originals: dict[str | None, list[Message]] = {}
        for original in _ews_messages(source, "alice@contoso.com"):
            originals.setdefault(original.message_id, []).append(original)

    box = DovecotMail(dovecot, "alice@example.org", "alice-new-password")
    assert box.read(("Sent Items",)) == [], "a second Sent folder was created"
    copies: dict[str | None, list[Message]] = {}
    for path in (("INBOX",), ("INBOX", "Projects", "2026"), ("Archiv – Ärger & Öl",), ("Sent",)):
        for copy in box.messages(path):
            copies.setdefault(copy.message_id, []).append(copy)
    assert sum(len(c) for c in copies.values()) == MAILS_PER_BOX + 1  # the exact copy in the source arrives too
    def seen(m: Message) -> tuple[Any, ...]:
        return m.subject, m.is_read, m.flag, sorted(m.categories), m.received

    assert set(copies) == set(originals)
    for message_id, same_id in originals.items():
        assert sorted(map(seen, copies[message_id])) == sorted(map(seen, same_id)), message_id


def _ews_messages(source: gm.EWSSource, address: str) -> list[Message]:
    mailbox = source.open_mailbox(address)
    try:
        out = []
        for folder in mailbox.folders():
            if folder.kind == "mail":
                out += [m for m in mailbox.fetch(folder, list(mailbox.list_items(folder))) if isinstance(m, Message)]
        return out
    finally:
        mailbox.close()


# --- Dovecot → WorkMail ------------------------------------------------------------------------------


def test_dovecot_to_workmail(dovecot: DovecotServer, tmp_path: Any) -> None:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    dovecot.add_user("bob@old-host.example", "bob-old-password")
    old = DovecotMail(dovecot, "bob@old-host.example", "bob-old-password")
    layout = seed_imap_mailbox(old, now)
    seeded = dovecot.commands("bob@old-host.example")
    with EWSTestServer(profile="workmail") as dst:
        dst.add_mailbox("admin@example.org", password="admin-password-value")
        dst.add_mailbox("bob@example.org", password="bob-password-value")
        dst.grant_impersonation("admin@example.org", "bob@example.org")
        destination = gm.EWSDestination(url=dst.url, profile="workmail", impersonation=True,
                                        auth=gm.BasicAuth("admin@example.org", "admin-password-value"))  # fmt: skip
        source = imap_source(dovecot)
        pairs = [gm.AccountPair("bob@old-host.example", "bob@example.org")]
        report = gm.Migrator(source, destination, state=str(tmp_path / "state.db"), workers=2).run(pairs)
        account = report.accounts[0]
        assert account.status == "completed", account.error
        assert account.counts["mail"]["migrated"] == 12 and report.totals()["failed"] == 0
        adds_up(gm.Migrator(source, destination, state=str(tmp_path / "state.db")).verify(pairs))
        reader = gm.EWSSource(url=dst.url, profile="workmail", impersonation=True,
                              auth=gm.BasicAuth("admin@example.org", "admin-password-value"))  # fmt: skip
        mailbox = reader.open_mailbox("bob@example.org")
        try:
            by_path = {f.path: f for f in mailbox.folders()}
            sent = next(f for f in by_path.values() if f.role == "sent")
            assert sent.path == ("Sent Items",)  # IMAP's \Sent went to WorkMail's Sent Items
            arrived = {}
            for path, messages in layout.items():
                target = sent if path == ("Sent",) else by_path[("Inbox", *path[1:])] if path[0] == "INBOX" else by_path[path]
                got = {m.message_id: m for m in mailbox.fetch(target, list(mailbox.list_items(target))) if isinstance(m, Message)}
                assert len(got) == len(messages), path
                arrived.update(got)
        finally:
            mailbox.close()
    for messages in layout.values():
        for data, flags, received in messages:
            copy = arrived[Message.from_mime(data).message_id]
            assert copy.is_read == ("\\Seen" in flags) and (copy.flag is FlagStatus.FLAGGED) == ("\\Flagged" in flags)
            assert copy.categories == (("Finance",) if "Finance" in flags else ()) and copy.received == received
    assert [c for c in dovecot.commands("bob@old-host.example")[len(seeded):] if c in WRITE_COMMANDS] == []


# --- Dovecot → Dovecot ---------------------------------------------------------------------------------


def test_dovecot_to_dovecot_full_then_delta(dovecot: DovecotServer, tmp_path: Any) -> None:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    dovecot.add_user("carol@old-host.example", "carol-old-password")
    dovecot.add_user("carol@new-host.example", "carol-new-password")
    old = DovecotMail(dovecot, "carol@old-host.example", "carol-old-password")
    new = DovecotMail(dovecot, "carol@new-host.example", "carol-new-password")
    layout = seed_imap_mailbox(old, now)
    seeded = dovecot.commands("carol@old-host.example")
    pairs = [gm.AccountPair("carol@old-host.example", "carol@new-host.example")]
    state = str(tmp_path / "state.db")
    source, destination = imap_source(dovecot), imap_destination(dovecot)

    full = gm.Migrator(source, destination, state=state).run(pairs)
    assert full.accounts[0].status == "completed", full.accounts[0].error
    assert full.totals()["migrated"] == 12
    adds_up(gm.Migrator(source, destination, state=state).verify(pairs))
    for path, messages in layout.items():
        assert sorted(d["mime"] for _, d in new.read(path)) == sorted(m for m, _, _ in messages), path
        assert {d["mime"]: (sorted(d["flags"]), d["internaldate"]) for _, d in new.read(path)} == \
            {m: (sorted(f), r) for m, f, r in messages}, path  # fmt: skip

    # the MX points to the new host only later: one more mail arrives at the old one
    late = mime(99, "arrived after the full run", now, "late")
    old.append(("INBOX",), late, received=now)
    delta = gm.Migrator(source, destination, state=state).run(pairs, mode="delta")
    assert delta.accounts[0].status == "completed", delta.accounts[0].error
    assert delta.totals()["migrated"] == 1
    assert delta.totals().get("duplicate", 0) == 0  # listed from the sync state: only the new UID was looked at
    inbox = [d["mime"] for _, d in new.read(("INBOX",))]
    assert inbox.count(late) == 1 and len(inbox) == len(layout[("INBOX",)]) + 1
    adds_up(gm.Migrator(source, destination, state=state).verify(pairs))
    again = gm.Migrator(source, destination, state=state).run(pairs)
    assert again.totals()["migrated"] == 0 and again.totals()["duplicate"] == 13
    writes = [c for c in dovecot.commands("carol@old-host.example")[len(seeded):] if c in WRITE_COMMANDS]
    assert writes == ["APPEND"], "the source saw a write other than the late delivery"


def _odd_corpus() -> list[bytes]:
    """Messages real mailboxes hold and careless copying changes."""
    eight_bit = ("From: Jürgen Müller <jm@example.de>\r\nTo: Zoë <z@example.org>\r\nSubject: Grüße aus Köln – ½ Preis\r\n"
                 "Message-ID: <odd-8bit@example.de>\r\nDate: Tue, 03 Mar 2026 09:00:00 +0100\r\n\r\nKäse\r\n").encode()  # fmt: skip
    broken = (b"From: =?utf-8?B?broken!!?= <x@example.org>\r\nSubject: =?x-unknown?Q?caf=E9?= =?utf-8?Q?=FF=FE?=\r\n"
              b"Message-ID: <odd-broken@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"no-such-charset\"\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\nthis is not base64 at all ***\r\n\xff\xfe\xfd\r\n")
    bare_lf = b"From: lf@example.org\nSubject: bare line feeds\nMessage-ID: <odd-lf@example.org>\n\nfirst\nsecond\n\n"
    received = "".join(f"Received: from relay{i}.example.net (relay{i}.example.net [192.0.2.{i % 250}]) by mx.example.org "
                       f"with ESMTPS id {i:08x}; Tue, 03 Mar 2026 09:{i % 60:02d}:00 +0000\r\n" for i in range(1700))  # fmt: skip
    huge_header = (received + "From: many-hops@example.org\r\nSubject: a 200 KB header\r\nMessage-ID: <odd-header@example.org>\r\n\r\nbody\r\n").encode()
    assert len(huge_header) > 200_000
    inner = EmailMessage()
    inner["Subject"], inner["From"] = "forwarded inside", "inner@example.org"
    inner.set_content("inner text")
    inner.add_alternative("<p>inner <b>html</b></p>", subtype="html")
    outer = EmailMessage()
    outer["Subject"], outer["From"], outer["Message-ID"] = "nested parts", "nest@example.org", "<odd-nested@example.org>"
    outer.set_content("plain")
    outer.add_alternative("<p>html with a picture</p>", subtype="html")
    outer.get_payload()[1].add_related(b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image", "png", cid="<pic@x>")
    outer.add_attachment(inner)
    outer.add_attachment(bytes(range(256)) * 40, maintype="application", subtype="octet-stream", filename="data.bin")
    nested = outer.as_bytes()
    twin_a = b"From: a@example.org\r\nSubject: twin\r\nMessage-ID: <odd-twin@example.org>\r\n\r\nfirst twin\r\n"
    twin_b = b"From: a@example.org\r\nSubject: twin\r\nMessage-ID: <odd-twin@example.org>\r\n\r\nsecond twin, other body\r\n"
    no_id = b"From: alert@example.org\r\nSubject: no message id\r\n\r\nalert\r\n"
    return [eight_bit, broken, bare_lf, huge_header, nested, twin_a, twin_b, no_id, no_id]


def test_odd_messages_arrive_byte_for_byte(dovecot: DovecotServer, tmp_path: Any) -> None:
    dovecot.add_user("dave@old-host.example", "dave-old-password")
    dovecot.add_user("dave@new-host.example", "dave-new-password")
    old = DovecotMail(dovecot, "dave@old-host.example", "dave-old-password")
    old.create(("Odd",))
    for n, data in enumerate(_odd_corpus()):
        old.append(("Odd",), data, received=dt.datetime(2026, 3, 3, 9, n, tzinfo=UTC))
    pairs = [gm.AccountPair("dave@old-host.example", "dave@new-host.example")]
    source, destination = imap_source(dovecot), imap_destination(dovecot)
    report = gm.Migrator(source, destination, state=str(tmp_path / "state.db")).run(pairs)
    assert report.accounts[0].status == "completed", report.accounts[0].error
    assert report.totals()["migrated"] == 9 and report.totals()["failed"] == 0
    served = sorted(d["mime"] for _, d in old.read(("Odd",)))
    copied = sorted(d["mime"] for _, d in DovecotMail(dovecot, "dave@new-host.example", "dave-new-password").read(("Odd",)))
    assert copied == served  # what the new server hands out is what the old one did, byte for byte
    adds_up(gm.Migrator(source, destination, state=str(tmp_path / "state.db")).verify(pairs))
