"""Source behaviours: one GetItem per fetch, paging, roles from ids, names, sync states, throttling."""

from __future__ import annotations

import datetime as dt

from groupmigrate.backends.ews import EWSSource
from groupmigrate.testing.conformance import sample_message

from .servers import endpoint_kwargs, served

ADDR = "alice@contoso.com"


def _ops(server, since: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [op.operation for op in server.operations[since:]]


def test_a_fetch_is_one_getitem_whatever_the_caller_bounds() -> None:
    with served("exchange-online", ADDR) as server:
        for i in range(50):
            server.seed_message(ADDR, ("inbox",), sample_message(i, body=b"b" * 100_000).mime)
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        inbox = next(f for f in mailbox.folders() if f.role == "inbox")
        refs = list(mailbox.list_items(inbox))
        assert len(refs) == 50 and all(r.size > 100_000 for r in refs)
        # the caller batches by bytes: ~1 MB per call
        batches, batch, size = [], [], 0
        for ref in refs:
            if batch and size + ref.size > 1_000_000:
                batches.append(batch)
                batch, size = [], 0
            batch.append(ref)
            size += ref.size
        batches.append(batch)
        mark = len(server.operations)
        fetched = [m for b in batches for m in mailbox.fetch(inbox, b)]
        assert len(fetched) == 50 and len({m.message_id for m in fetched}) == 50
        assert _ops(server, mark) == ["GetItem"] * len(batches)


def test_listing_pages() -> None:
    with served("generic", ADDR) as server:  # FindItem pages of 100
        for i in range(230):
            server.seed_message(ADDR, ("inbox",), sample_message(i).mime)
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        inbox = next(f for f in mailbox.folders() if f.role == "inbox")
        mark = len(server.operations)
        refs = list(mailbox.list_items(inbox))
        assert len({r.id for r in refs}) == 230
        assert _ops(server, mark) == ["FindItem"] * 3


def test_roles_come_from_ids_not_names_and_system_folders_are_left_out() -> None:
    with served("exchange-online", ADDR) as server:
        inbox = server.find_folder(ADDR, ("inbox",))
        inbox.display_name = "Posteingang"
        server.store.touch_folder(inbox)
        server.seed_folder(ADDR, ("Posteingang", "Calendar"), kind="mail")  # a user folder with a role-like name
        folders = {f.path: f for f in EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR).folders()}
        assert folders[("Posteingang",)].role == "inbox"
        assert folders[("Posteingang", "Calendar")].role is None
        assert folders[("Posteingang", "Calendar")].kind == "mail"
        roles = {f.role for f in folders.values() if f.role}
        assert roles >= {"inbox", "sent", "drafts", "deleted", "junk", "calendar", "contacts", "tasks", "notes"}
        assert not any(p[0] in ("Sync Issues", "Conversation History", "Recoverable Items") for p in folders)


def test_resolve_x500_and_imceaex_addresses() -> None:
    x500 = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=bob.b"
    with served("exchange-online", ADDR) as server:
        server.add_resolvable(x500, "bob@contoso.com")
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        imcea = "IMCEAEX-_o=ExchangeLabs_ou=Exchange+20Administrative+20Group+20+28FYDIBOHF23SPDLT+29_cn=Recipients_cn=bob+2Eb@contoso.com"
        unknown = "/o=Nowhere/cn=ghost"
        assert mailbox.resolve_addresses([x500, imcea, unknown]) == {
            x500: "bob@contoso.com",
            imcea: "bob@contoso.com",
            unknown: None,
        }
        assert [op.operation for op in server.operations[-3:]] == ["ResolveNames"] * 3


def test_sync_state_reports_new_and_deleted_items() -> None:
    with served("exchange-online", ADDR) as server:
        first_id = server.seed_message(ADDR, ("inbox",), sample_message(1).mime)
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        inbox = next(f for f in mailbox.folders() if f.role == "inbox")
        initial = mailbox.sync_items(inbox, None)
        assert [r.id for r in initial.refs] == [first_id]
        server.seed_message(ADDR, ("inbox",), sample_message(2).mime)
        with server.store.lock:
            server.store.delete_item(server.store.items[first_id])
            server.store.commit()
        later = mailbox.sync_items(inbox, initial.state)
        assert len(later.refs) == 1 and later.deleted == (first_id,)
        assert [m.message_id for m in mailbox.fetch(inbox, list(later.refs))] == [sample_message(2).message_id]


def test_each_read_is_one_attempt_and_its_failure_is_classified() -> None:
    from groupmigrate.errors import ConnectionFailed, OutcomeUnknown, Throttled

    with served("exchange-online", ADDR) as server:
        for i in range(10):
            server.seed_message(ADDR, ("inbox",), sample_message(i).mime)
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        inbox = next(f for f in mailbox.folders() if f.role == "inbox")
        refs = list(mailbox.list_items(inbox))
        server.knobs.fault_seed = 3
        server.knobs.throttle_rate = 0.3
        server.knobs.backoff_ms = 50
        server.knobs.http503_rate = 0.2
        server.knobs.retry_after = 1
        server.knobs.reset_rate = 0.1
        got, throttled, broken = [], 0, 0
        for ref in refs:
            try:
                got += list(mailbox.fetch(inbox, [ref]))
            except Throttled as e:
                throttled += 1
                assert e.retry_after in (0.05, 1)
            except ConnectionFailed as e:
                assert not isinstance(e, OutcomeUnknown)  # a read is never "maybe applied"
                broken += 1
        assert throttled and broken and len(got) + throttled + broken == 10


def test_since_uses_the_received_date() -> None:
    with served("workmail", ADDR) as server:
        server.seed_message(ADDR, ("inbox",), sample_message(1).mime, received=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
        server.seed_message(ADDR, ("inbox",), sample_message(2).mime, received=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        inbox = next(f for f in mailbox.folders() if f.role == "inbox")
        recent = list(mailbox.list_items(inbox, since=dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)))
        assert [m.message_id for m in mailbox.fetch(inbox, recent)] == [sample_message(2).message_id]


def test_the_backends_satisfy_the_protocols() -> None:
    from groupmigrate.backends.ews import EWSDestination
    from groupmigrate.protocols import Destination, DestinationMailbox, Source, SourceMailbox, SupportsSyncState

    with served("exchange", ADDR) as server:
        source = EWSSource(**endpoint_kwargs(server))
        destination = EWSDestination(**endpoint_kwargs(server))
        assert isinstance(source, Source) and isinstance(destination, Destination)
        mailbox = source.open_mailbox(ADDR)
        assert isinstance(mailbox, SourceMailbox) and isinstance(mailbox, SupportsSyncState)
        assert isinstance(destination.open_mailbox(ADDR), DestinationMailbox)
        assert mailbox.address == ADDR


def test_a_missing_folder_is_an_error_not_an_empty_list() -> None:
    import pytest

    from groupmigrate.errors import GroupmigrateError
    from groupmigrate.items import Folder

    with served("exchange", ADDR) as server:
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        gone = Folder(("Gone",), folder_id="AAMkAGone" + "A" * 30)
        with pytest.raises(GroupmigrateError):
            list(mailbox.list_items(gone))
