"""Mail and note fidelity on every EWS route: each field a user sees arrives, or its loss is
logged for the item and listed in the limitations table.

A mail and a note with every field populated are created in the source mailbox by a plain
exchangelib client (with groupmigrate's item model, which names the MAPI properties behind
the flag dates, the follow-up text and a note's size), migrated by :class:`groupmigrate.Migrator`,
and read back from the destination three ways: through the EWS backend (every field),
through a plain exchangelib ``Account`` (the fields exchangelib knows) and from the
destination server's store (the Flag element a 2013+ client sees).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, FailFast, Version
from exchangelib.ewsdatetime import UTC as EWS_UTC
from exchangelib.properties import Body

import groupmigrate as gm
from groupmigrate.backends.ews.convert.common import ews_datetime
from groupmigrate.backends.ews.models import MailItem
from groupmigrate.items import Message, Note
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.ews.render import set_prop

from .conftest import route_endpoints

UTC = dt.timezone.utc
SRC, DST = "alice@contoso.com", "alice@example.org"
PASSWORD = "alice-Pa55-word"

#: every (source, destination) profile pair the project migrates between
ROUTES = [("exchange-online", "workmail"), ("exchange", "exchange-online"), ("workmail", "exchange"),
          ("generic", "generic")]  # fmt: skip

#: the fields a user sees, per item type (a mail's body is compared as the body of its MIME)
MAIL_FIELDS = (
    "subject", "sender", "message_id", "sent", "received", "is_read", "flag", "categories", "importance",
    "sensitivity", "flag_start", "flag_due", "flag_completed", "flag_request", "reminder", "kind", "body",
)  # fmt: skip
NOTE_FIELDS = ("subject", "body", "color", "categories", "width", "height", "created", "modified")

#: losses documented for a route: (item type, field) -> what the item's log entry and the
#: limitations table say; ``None`` as route: every EWS destination
DOCUMENTED: dict[tuple[str, str], tuple[str, str]] = {
    ("notes", "created"): ("created time itself", "created / modified"),
    ("notes", "modified"): ("modified time itself", "created / modified"),
}

SENT = dt.datetime(2026, 2, 2, 9, 15, tzinfo=UTC)
MIME = (
    "From: Bob Sender <bob@example.org>\r\nTo: Alice <alice@contoso.com>\r\nSubject: Quarterly numbers\r\n"
    f"Message-ID: <fidelity-1@example.org>\r\nDate: {SENT.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease check the numbers.\r\n"
).encode()


def _plain_account(server: EWSTestServer, address: str) -> Account:
    """A plain exchangelib client of ``address`` (Basic auth, Exchange 2010 SP2 as WorkMail speaks)."""
    config = Configuration(
        service_endpoint=server.url, credentials=Credentials(address, PASSWORD), auth_type="basic",
        retry_policy=FailFast(), version=Version(build=Build(14, 2), api_version="Exchange2010_SP2"),
    )  # fmt: skip
    return Account(address, config=config, access_type=DELEGATE, autodiscover=False, default_timezone=EWS_UTC)


def _seed(server: EWSTestServer) -> None:
    """A mail and a sticky note with every field populated, created by a client as Outlook would."""
    account = _plain_account(server, SRC)
    mail = MailItem(
        account=account, folder=account.inbox, mime_content=MIME, is_read=True, categories=["Finance", "Red"],
        importance="High", sensitivity="Private", flag_status=1,  # PidTagFlagStatus: complete
        flag_start=ews_datetime(SENT + dt.timedelta(days=1)), flag_due=ews_datetime(SENT + dt.timedelta(days=3)),
        flag_completed=ews_datetime(SENT + dt.timedelta(days=2, hours=4)), flag_request="Call",
        reminder_is_set=True, reminder_due_by=ews_datetime(SENT + dt.timedelta(days=3, hours=-1)),
        delivery_time=ews_datetime(SENT + dt.timedelta(minutes=2)), submit_time=ews_datetime(SENT),
        message_flags=0x1,  # read, delivered (not an unsent draft)
    )  # fmt: skip
    mail.save()
    note = MailItem(
        account=account, folder=account.notes, item_class="IPM.StickyNote", subject="Door code",
        body=Body("Door code\n4711"), categories=["Home"], note_color=2, note_width=320, note_height=180,
    )  # fmt: skip
    note.save()
    # the note was written last year (a client cannot set these times; the server keeps them)
    (stored,) = server.folder_items(SRC, ("Notes",))
    with server.store.lock:
        set_prop(stored.element, "DateTimeCreated", "2025-03-04T10:00:00Z")
        set_prop(stored.element, "LastModifiedTime", "2025-03-05T11:30:00Z")
        server.store.save_item(stored)
        server.store.commit()


def _read(server: EWSTestServer, profile: str, address: str, password: str) -> dict[str, Any]:
    """The mail and the note of ``address``, read through the EWS backend."""
    source = gm.EWSSource(url=server.url, profile=profile, auth=gm.BasicAuth(address, password))
    mailbox = source.open_mailbox(address)
    found: dict[str, Any] = {}
    for folder in mailbox.folders():
        if folder.role in ("inbox", "notes"):
            for item in mailbox.fetch(folder, list(mailbox.list_items(folder))):
                found[item.item_type] = item
    return found


def _value(item: Any, name: str) -> Any:
    if name == "body" and isinstance(item, Message):
        return item.mime.split(b"\r\n\r\n", 1)[-1].replace(b"\r\n", b"\n").strip()
    value = getattr(item, name)
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(microsecond=0)
    if isinstance(value, str) and name == "body":
        return value.replace("\r\n", "\n").strip()
    if isinstance(value, tuple):
        return sorted(value)
    return value


def _populated(item: Any, name: str) -> bool:
    value = _value(item, name)
    return value not in (None, "", b"", [], False) and str(value) not in ("none", "normal")


#: the column of the limitations table for each destination profile
COLUMNS = {"workmail": 1, "exchange-online": 2, "exchange": 2, "generic": 3}


def _limitations() -> list[list[str]]:
    """The rows of the README's limitations table (a grid table), each as its cells' text."""
    text = (Path(__file__).parents[2] / "README.rst").read_text(encoding="utf-8")
    rows: list[list[str]] = []
    cells: list[list[str]] = []
    for line in text.split(".. limitations-start", 1)[1].split(".. limitations-end", 1)[0].splitlines():
        if line.startswith("|"):
            parts = [p.strip() for p in line.strip().strip("|").split("|")]
            cells = cells or [[] for _ in parts]
            for cell, part in zip(cells, parts):
                cell.append(part)
        elif line.startswith("+") and cells:
            rows.append([" ".join(" ".join(c).split()) for c in cells])
            cells = []
    return rows


@pytest.fixture(params=ROUTES, ids=["->".join(r) for r in ROUTES])
def migrated(request: pytest.FixtureRequest, tmp_path: Path, register_source: Any) -> Iterator[dict[str, Any]]:
    source_profile, destination_profile = request.param
    with EWSTestServer(profile=source_profile) as src, EWSTestServer(profile=destination_profile) as dst:
        src.add_mailbox(SRC, password=PASSWORD)
        src.add_oauth_app("tenant", "app", "app-secret-value")
        dst.add_mailbox("admin@example.org", password="admin-password-value")
        dst.add_mailbox(DST, password=PASSWORD)
        dst.grant_impersonation("admin@example.org", DST)
        _seed(src)
        src.clear_operations()  # the seeding client is the outside world, not the migration
        register_source(src)
        before = _read(src, source_profile, SRC, PASSWORD)
        src.clear_operations()
        source, destination = route_endpoints(src, dst, source_profile, destination_profile)
        migrator = gm.Migrator(source, destination, state=str(tmp_path / "state.db"), item_types=("mail", "notes"))
        report = migrator.run([gm.AccountPair(SRC, DST)])
        yield {
            "route": request.param, "before": before, "after": _read(dst, destination_profile, DST, PASSWORD),
            "report": report, "dst": dst,
        }  # fmt: skip
        assert src.write_operations() == [], src.write_operations()[:5]


def test_every_field_kept_or_its_loss_logged_and_documented(migrated: dict[str, Any]) -> None:
    report, before, after = migrated["report"], migrated["before"], migrated["after"]
    (account,) = report.accounts
    assert account.status == "completed", account.log
    assert account.counts["mail"]["migrated"] == account.counts["notes"]["migrated"] == 1, account.counts
    assert isinstance(before["mail"], Message) and isinstance(before["notes"], Note)
    limitations = _limitations()
    figures = []
    for kind, names in (("mail", MAIL_FIELDS), ("notes", NOTE_FIELDS)):
        source, copied = before[kind], after[kind]
        populated = [n for n in names if _populated(source, n)]
        assert populated == list(names), f"{kind}: the seeded item leaves {set(names) - set(populated)} empty"
        kept, lost = [], []
        for name in populated:
            if _value(source, name) == _value(copied, name):
                kept.append(name)
                continue
            lost.append(name)
            assert (kind, name) in DOCUMENTED, f"{kind}.{name}: {_value(source, name)!r} became {_value(copied, name)!r}"
            said, table = DOCUMENTED[(kind, name)]
            entries = [e.message for e in account.log
                       if e.item_type == kind and e.kind in ("dropped", "changed") and source.subject in (e.item or "")]
            assert any(said in m for m in entries), f"{kind}.{name}: no log entry says {said!r}: {entries}"
            row = next((r for r in limitations if table in r[0]), None)
            assert row is not None, f"{kind}.{name}: the limitations table has no row for {table!r}"
            column = COLUMNS[migrated["route"][1]]
            cell = next(c for c in reversed(row[1 : column + 1]) if c != "same")
            assert cell != "kept", f"{kind}.{name}: the limitations table says {cell!r} for this route"
        figures.append(f"{kind} {len(kept)}/{len(populated)} kept" + (f" (lost, logged: {', '.join(lost)})" if lost else ""))
    print(f"{' -> '.join(migrated['route'])}: " + "; ".join(figures))


def test_plain_exchangelib_and_the_store_see_the_fields(migrated: dict[str, Any]) -> None:
    """What other clients see of the copied mail: exchangelib's own fields, and the Flag
    element (Exchange 2013+) with the dates written through their MAPI properties."""
    migrated["dst"].knobs.fractional_seconds = False  # plain exchangelib reads no fractions of a second
    account = _plain_account(migrated["dst"], DST)
    (mail,) = account.inbox.all().only(
        "subject", "is_read", "importance", "sensitivity", "categories", "reminder_is_set", "reminder_due_by",
        "datetime_received",
    )  # fmt: skip
    assert (mail.subject, mail.is_read, mail.importance, mail.sensitivity) == ("Quarterly numbers", True, "High", "Private")
    assert sorted(mail.categories) == ["Finance", "Red"]
    assert mail.reminder_is_set and mail.reminder_due_by == SENT + dt.timedelta(days=3, hours=-1)
    assert mail.datetime_received == SENT + dt.timedelta(minutes=2)
    (stored,) = migrated["dst"].folder_items(DST, ("Inbox",))
    flag = stored.element.find("{http://schemas.microsoft.com/exchange/services/2006/types}Flag")
    assert flag is not None
    text = {re.sub(r"^\{.*\}", "", child.tag): child.text for child in flag}
    assert text["FlagStatus"] == "Complete"
    assert [dt.datetime.fromisoformat(text[k].replace("Z", "+00:00")) for k in ("StartDate", "DueDate", "CompleteDate")] == [
        SENT + dt.timedelta(days=1), SENT + dt.timedelta(days=3), SENT + dt.timedelta(days=2, hours=4)
    ]
