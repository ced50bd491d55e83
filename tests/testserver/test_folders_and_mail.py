"""Folder walk, message listing, paging, MIME round trips and the operation log, through exchangelib."""

from __future__ import annotations

import datetime as dt

from exchangelib import EWSDateTime, Message
from exchangelib.extended_properties import Flag
from exchangelib.folders import Calendar, Contacts, Inbox, MsgFolderRoot, Root, SentItems

from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, make_account, mime_message


def test_root_walk_shows_well_known_and_seeded_folders(server: EWSTestServer) -> None:
    server.seed_folder(ALICE, ("Inbox", "Projects", "2026"))
    account = make_account(server)
    assert isinstance(account.root, Root)
    names = {f.absolute for f in account.root.walk()}
    top = account.msg_folder_root
    assert isinstance(top, MsgFolderRoot)
    for name in ("Inbox", "Sent Items", "Drafts", "Deleted Items", "Calendar", "Contacts", "Tasks", "Notes"):
        assert f"{top.absolute}/{name}" in names
    assert f"{top.absolute}/Inbox/Projects/2026" in names
    assert isinstance(account.inbox, Inbox) and isinstance(account.sent, SentItems)
    assert isinstance(account.calendar, Calendar) and isinstance(account.contacts, Contacts)
    assert account.inbox.parent.id == top.id
    # folder classes drive the exchangelib folder type
    projects = account.inbox / "Projects"
    assert projects.folder_class == "IPF.Note" and projects.child_folder_count == 1


def test_create_folder_through_exchangelib(server: EWSTestServer) -> None:
    from exchangelib import Folder

    account = make_account(server)
    f = Folder(parent=account.inbox, name="Created")
    f.save()
    assert ("Inbox", "Created") in server.folder_paths(ALICE)
    assert server.write_operations(ALICE)[-1].operation == "CreateFolder"


def test_list_fetch_and_create_messages(server: EWSTestServer) -> None:
    received = dt.datetime(2025, 12, 24, 8, 30, tzinfo=dt.timezone.utc)
    server.seed_message(ALICE, ("Inbox",), mime_message("seeded"), is_read=True, flag="Flagged",
                        categories=("Red", "Blue"), importance="High", received=received)
    account = make_account(server)
    Message.register("flag", Flag)
    try:
        [msg] = list(account.inbox.all())
    finally:
        Message.deregister("flag")
    assert msg.subject == "seeded"
    assert msg.is_read is True
    assert msg.categories == ["Red", "Blue"]
    assert msg.importance == "High"
    assert msg.flag == 2  # PR_FLAG_STATUS: Flagged
    assert msg.datetime_received == EWSDateTime.from_datetime(received)
    assert msg.sender.email_address == "bob@example.com"
    assert msg.to_recipients[0].email_address == "alice@contoso.com"
    assert msg.message_id.startswith("<")
    assert msg.size == len(mime_message("seeded"))
    assert msg.is_draft is False

    new = Message(account=account, folder=account.inbox, mime_content=mime_message("uploaded"), is_read=False)
    new.save()
    stored = {i.item_id: i for i in server.folder_items(ALICE, ("Inbox",))}
    assert stored[new.id].mime == mime_message("uploaded")
    assert stored[new.id].item_class == "IPM.Note"


def test_paging_over_2500_items(server: EWSTestServer) -> None:
    for i in range(2500):
        server.seed_message(ALICE, ("Inbox", "Bulk"), mime_message(f"bulk {i}", msgid=f"<bulk{i}@x>"),
                            received=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i))
    account = make_account(server)
    folder = account.inbox / "Bulk"
    assert folder.total_count == 2500
    subjects = [s for s in folder.all().order_by("datetime_received").values_list("subject", flat=True)]
    assert len(subjects) == 2500 and len(set(subjects)) == 2500
    assert subjects[0] == "bulk 0" and subjects[-1] == "bulk 2499"
    finds = [op for op in server.operations if op.operation == "FindItem"]
    assert len(finds) == 25  # 100 per page, exchangelib's default page size
    # a date restriction, as a delta run would send it
    since = EWSDateTime(2025, 1, 1, 10, 0, tzinfo=account.default_timezone)
    newer = folder.filter(datetime_received__gte=since).count()
    assert newer == 2500 - 600


def test_default_order_is_newest_first_and_sorting_works(server: EWSTestServer) -> None:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for i, subject in enumerate(["b", "c", "a"]):
        server.seed_message(ALICE, ("Inbox",), mime_message(subject), received=base + dt.timedelta(hours=i))
    account = make_account(server)
    assert list(account.inbox.all().values_list("subject", flat=True)) == ["a", "c", "b"]
    assert list(account.inbox.all().order_by("subject").values_list("subject", flat=True)) == ["a", "b", "c"]
    assert list(account.inbox.all().order_by("-subject").values_list("subject", flat=True)) == ["c", "b", "a"]


def test_operation_log_records_reads_and_writes(server: EWSTestServer) -> None:
    server.seed_message(ALICE, ("Inbox",), mime_message("x"))
    before = server.content_hash(ALICE)
    account = make_account(server)
    list(account.inbox.all())
    assert server.write_operations(ALICE) == []
    assert server.content_hash(ALICE) == before
    ops = {op.operation for op in server.operations}
    assert {"ConvertId", "GetFolder", "FindItem", "GetItem"} <= ops
    assert all(op.mailbox == ALICE for op in server.operations if op.operation != "ConvertId")
    Message(account=account, folder=account.inbox, subject="new", body="b").save()
    [write] = server.write_operations(ALICE)
    assert write.operation == "CreateItem" and write.is_write
    assert server.content_hash(ALICE) != before


def test_restrictions_exchangelib_emits(server: EWSTestServer) -> None:
    from exchangelib import Q

    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(6):
        server.seed_message(ALICE, ("Inbox",), mime_message(f"s{i}", body="x" * (i * 100)), is_read=i % 2 == 0,
                            categories=("Red",) if i < 3 else ("Blue",), received=base + dt.timedelta(days=i))
    account = make_account(server)
    inbox = account.inbox
    tz = account.default_timezone

    def subjects(qs: object) -> set[str]:
        return set(qs.values_list("subject", flat=True))  # type: ignore[attr-defined]

    day2 = EWSDateTime(2026, 1, 3, tzinfo=tz)
    day4 = EWSDateTime(2026, 1, 5, tzinfo=tz)
    assert subjects(inbox.filter(datetime_received__gt=day2)) == {"s3", "s4", "s5"}
    assert subjects(inbox.filter(datetime_received__gte=day2, datetime_received__lt=day4)) == {"s2", "s3"}
    assert subjects(inbox.filter(Q(subject="s0") | Q(subject="s5"))) == {"s0", "s5"}
    assert subjects(inbox.filter(~Q(is_read=True))) == {"s1", "s3", "s5"}
    assert subjects(inbox.filter(categories__contains="Blue")) == {"s3", "s4", "s5"}
    assert subjects(inbox.filter(subject__startswith="s", is_read=True)) == {"s0", "s2", "s4"}
    now = EWSDateTime.now(tz=tz)
    assert len(subjects(inbox.filter(last_modified_time__lt=now + dt.timedelta(minutes=1)))) == 6
    assert subjects(inbox.filter(last_modified_time__gt=now + dt.timedelta(minutes=1))) == set()
    sizes = list(inbox.all().order_by("-size").values_list("subject", flat=True))
    assert sizes[0] == "s5" and sizes[-1] == "s0"
