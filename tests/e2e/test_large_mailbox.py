"""A full-size mailbox copied between each profile pair and compared item by item.

500 mails (with a 30 MB one where the destination takes it), 100 contacts with photos, 50
calendar items (recurring ones with exceptions and deleted occurrences), 30 tasks and 20
notes, in nested folders with non-ASCII names.
"""

from __future__ import annotations

import datetime as dt
import random
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

import groupmigrate as gm
from groupmigrate.core.dedup import fingerprint
from groupmigrate.items import Attendee, Contact, Event, Message, Note, Task
from groupmigrate.testing import EWSTestServer

UTC = dt.timezone.utc
from groupmigrate.frontdoors.demo import PHOTO as PNG

FOLDERS = [("Inbox",), ("Inbox", "Kunden", "Österreich"), ("Проекты",), ("Archive 2025", "Q4 / Year end"), ("Sent Items",)]


def mail(n: int, rng: random.Random, now: dt.datetime, size: int | None = None) -> tuple[bytes, dt.datetime]:
    received = now - dt.timedelta(hours=7 * n + 1)
    msg = EmailMessage()
    msg["From"] = f"Sender {n} <s{n}@fabrikam.example>"
    msg["To"] = "owner@contoso.com"
    msg["Subject"] = f"Message {n} {'€' if n % 7 == 0 else ''}"
    msg["Date"] = format_datetime(received)
    msg["Message-ID"] = f"<large-{n}@fabrikam.example>"
    msg.set_content("line of text\n" * rng.randint(5, 400))
    if size is not None:
        msg.add_attachment(rng.randbytes(size), maintype="application", subtype="zip", filename="big.zip")
    elif n % 9 == 0:
        msg.add_attachment(rng.randbytes(rng.randint(1_000, 200_000)), maintype="application", subtype="pdf", filename=f"doc{n}.pdf")
    return msg.as_bytes(), received


def seed(server: EWSTestServer, address: str, with_huge: bool) -> dict[str, int]:
    rng = random.Random(20261125)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    server.add_mailbox(address, password="pw")
    for path in FOLDERS:
        server.seed_folder(address, path, kind="mail")
    for n in range(500):
        size = 30 * 1024 * 1024 if (n == 0 and with_huge) else None
        mime, received = mail(n, rng, now, size)
        server.seed_message(address, FOLDERS[n % len(FOLDERS)], mime, received=received, is_read=n % 3 == 0)
    for n in range(100):
        server.seed_item(address, Contact(display_name=f"Contact {n:03}", given_name="C", surname=f"{n:03}",
                                          emails=(f"c{n}@northwind.example",), company="Northwind", photo=PNG))  # fmt: skip
    base = (now + dt.timedelta(days=1)).replace(hour=10, minute=0, second=0)
    for n in range(50):
        start = base + dt.timedelta(days=n)
        recurring = n % 5 == 0
        server.seed_item(address, Event(
            subject=f"Meeting {n:02}", start=start, end=start + dt.timedelta(hours=1), timezone="Europe/Berlin",
            uid=f"meeting-{n}@contoso", attendees=(Attendee("x@fabrikam.example", "X", "required"),),
            recurrence="FREQ=WEEKLY;COUNT=6" if recurring else None,
            exceptions=(Event(subject=f"Meeting {n:02} (moved)", start=start + dt.timedelta(days=7, hours=1),
                              end=start + dt.timedelta(days=7, hours=2), recurrence_id=start + dt.timedelta(days=7)),)
            if recurring else (),
            deleted_occurrences=(start + dt.timedelta(days=14),) if recurring else (),
        ))  # fmt: skip
    for n in range(30):
        server.seed_item(address, Task(subject=f"Task {n:02}", status="in_progress" if n % 2 else "not_started",
                                       percent_complete=(n * 3) % 100, due=(now + dt.timedelta(days=n)).date()))  # fmt: skip
    for n in range(20):
        server.seed_item(address, Note(subject=f"Note {n:02}", body=f"remember {n}", color="yellow"))
    return {"mail": 500, "contacts": 100, "calendar": 50, "tasks": 30, "notes": 20}


def read_all(source: gm.EWSSource, address: str) -> dict[str, list]:
    by_type: dict[str, list] = {}
    mailbox = source.open_mailbox(address)
    try:
        for folder in mailbox.folders():
            refs = list(mailbox.list_items(folder))
            for i in range(0, len(refs), 50):
                by_type.setdefault(folder.kind, []).extend(mailbox.fetch(folder, refs[i : i + 50]))
    finally:
        mailbox.close()
    return by_type


PAIRS = [
    pytest.param("exchange-online", "workmail", id="exchange-online->workmail"),
    pytest.param("exchange", "exchange-online", id="exchange->exchange-online", marks=pytest.mark.slow),
    pytest.param("workmail", "exchange", id="workmail->exchange", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("source_profile", "destination_profile"), PAIRS)
def test_large_mailbox_arrives_complete(tmp_path, register_source, source_profile, destination_profile):
    with EWSTestServer(profile=source_profile) as src, EWSTestServer(profile=destination_profile) as dst:
        huge_fits = destination_profile != "workmail"
        expected = seed(src, "owner@contoso.com", with_huge=True)
        digest = src.content_hash("owner@contoso.com")
        register_source(src)
        dst.add_mailbox("owner@example.org", password="pw")
        source = gm.EWSSource(url=src.url, profile=source_profile, auth=gm.BasicAuth("owner@contoso.com", "pw"))
        destination = gm.EWSDestination(url=dst.url, profile=destination_profile, auth=gm.BasicAuth("owner@example.org", "pw"))
        report = gm.Migrator(source, destination, state=str(tmp_path / "m.db"), workers=4).run(
            [gm.AccountPair("owner@contoso.com", "owner@example.org")]
        )
        acc = report.accounts[0]
        assert acc.status == "completed", acc.error
        for item_type, n in expected.items():
            counts = acc.counts[item_type]
            assert counts.get("migrated", 0) + counts.get("skipped", 0) == n, (item_type, counts)
        assert acc.counts["mail"].get("skipped", 0) == (0 if huge_fits else 1)

        before = read_all(source, "owner@contoso.com")
        reader = gm.EWSSource(url=dst.url, profile=destination_profile, auth=gm.BasicAuth("owner@example.org", "pw"))
        after = read_all(reader, "owner@example.org")
        for item_type in expected:
            want = sorted(fingerprint(i) for i in before[item_type])
            got = sorted(fingerprint(i) for i in after.get(item_type, []))
            if item_type == "mail" and not huge_fits:
                want.remove(fingerprint(next(m for m in before["mail"] if m.message_id == "<large-0@fabrikam.example>")))
            assert got == want, item_type
        mails = {m.message_id: m for m in after["mail"]}
        for original in before["mail"]:
            if original.message_id in mails:
                copy: Message = mails[original.message_id]
                assert (copy.is_read, copy.received, copy.subject) == (original.is_read, original.received, original.subject)
        events = {e.subject: e for e in after["calendar"]}
        assert len(events["Meeting 00"].exceptions) == 1 and len(events["Meeting 00"].deleted_occurrences) == 1
        assert events["Meeting 00"].start == next(e for e in before["calendar"] if e.subject == "Meeting 00").start
        contact = next(c for c in after["contacts"] if c.display_name == "Contact 007")
        assert contact.photo == PNG or any(a.content == PNG for a in contact.attachments)
        assert src.write_operations() == [] and src.content_hash("owner@contoso.com") == digest
