"""A source connection cannot write: refused in code before any request, proven by the server's log."""

from __future__ import annotations

import pytest
from exchangelib.items import SAVE_ONLY, SEND_TO_NONE

from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.backends.ews.models import MailItem
from groupmigrate.backends.ews.services import AnyErrorCreateItem, CreateFolderRecords, folder_id
from groupmigrate.errors import SourceIsReadOnly
from groupmigrate.items import Folder
from groupmigrate.testing.conformance import sample_message

from .servers import endpoint_kwargs, served

ADDR = "alice@contoso.com"


def test_source_refuses_writes_before_sending() -> None:
    with served("exchange", ADDR) as server:
        server.seed_message(ADDR, ("inbox",), sample_message(1).mime)
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        inbox = next(f for f in mailbox.folders() if f.role == "inbox")
        list(mailbox.fetch(inbox, list(mailbox.list_items(inbox))))
        account = mailbox._account
        answered = len(server.operations)

        # 1. through exchangelib's services (the path every backend call takes)
        with pytest.raises(SourceIsReadOnly, match="CreateItem"):
            list(
                AnyErrorCreateItem(account=account).create(
                    items=[MailItem(mime_content=sample_message(2).mime)], folder=folder_id(inbox.folder_id or ""),
                    message_disposition=SAVE_ONLY, send_meeting_invitations=SEND_TO_NONE,
                )
            )  # fmt: skip
        with pytest.raises(SourceIsReadOnly, match="CreateFolder"):
            list(CreateFolderRecords(account=account).call(parent_folder=folder_id(inbox.folder_id or ""), folders=[("X", "IPF.Note")]))
        # 2. through exchangelib's own high-level API (item.save(), folder.empty() ...)
        with pytest.raises(SourceIsReadOnly):
            MailItem(account=account, folder=account.inbox, subject="nope").save()
        # 3. a raw POST on the source's HTTP session
        session = account.protocol.create_session()
        body = b'<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><m:DeleteItem DeleteType="HardDelete"/></s:Body></s:Envelope>'
        with pytest.raises(SourceIsReadOnly, match="DeleteItem"):
            session.post(server.url, data=body)

        reads_only = server.operations[answered:]
        assert all(not op.is_write for op in reads_only)
        assert server.write_operations(ADDR) == []


def test_destination_may_write() -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("New",), kind="mail"))
        assert mailbox.create_items(folder, [sample_message(1)])[0].ok
        assert [op.operation for op in server.write_operations(ADDR)] == ["CreateFolder", "CreateItem"]
