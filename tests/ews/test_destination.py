"""Destination behaviours: dropped attachments repaired, partial batches, lost answers, rejections."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.errors import ConnectionFailed
from groupmigrate.items import Attachment, Attendee, Contact, Event, Folder
from groupmigrate.testing.conformance import sample_message

from .servers import endpoint_kwargs, served

ADDR = "alice@contoso.com"


def _listed(source: EWSSource, path: tuple[str, ...]) -> list:  # type: ignore[type-arg]
    mailbox = source.open_mailbox(ADDR)
    folder = next(f for f in mailbox.folders() if f.path == path)
    return list(mailbox.fetch(folder, list(mailbox.list_items(folder))))


def test_dropped_inline_attachments_are_added_again() -> None:
    with served("exchange-online", ADDR) as server:
        server.knobs.drop_inline_attachments = True
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        contacts = mailbox.ensure_folder(Folder(("Contacts",), kind="contacts", role="contacts"))
        calendar = mailbox.ensure_folder(Folder(("Calendar",), kind="calendar", role="calendar"))
        card = Attachment("card.txt", b"business card", "text/plain")
        contact = Contact(display_name="Carol", emails=("carol@example.org",), photo=b"\xff\xd8\xffphoto", attachments=(card,))
        event = Event(subject="Review", start=dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc),
                      end=dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone.utc), attachments=(card,))  # fmt: skip
        for folder, item in ((contacts, contact), (calendar, event)):
            (result,) = mailbox.create_items(folder, [item])
            assert result.ok and any("re-added" in w for w in result.warnings), result
        (read_contact,) = _listed(EWSSource(**endpoint_kwargs(server)), ("Contacts",))
        assert read_contact.photo == contact.photo and [a.content for a in read_contact.attachments] == [b"business card"]
        (read_event,) = _listed(EWSSource(**endpoint_kwargs(server)), ("Calendar",))
        assert [a.name for a in read_event.attachments] == ["card.txt"]
        assert [op.operation for op in server.write_operations(ADDR)].count("CreateAttachment") == 2


def test_partial_batch_failures_are_retried_once_created_items_are_not() -> None:
    with served("exchange", ADDR) as server:
        server.knobs.partial_batch_rate = 1.0  # every CreateItem batch loses one item to a transient error
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Batch",), kind="mail"))
        results = mailbox.create_items(folder, [sample_message(i) for i in range(6)])
        ok = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        assert len(ok) == 5 and len(failed) == 1 and failed[0].transient and failed[0].code
        assert mailbox.count(folder) == 5  # nothing created twice
        server.knobs.partial_batch_rate = 0.0
        assert all(r.ok for r in mailbox.create_items(folder, [sample_message(7), sample_message(8)]))


def test_lost_answers_never_duplicate() -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Lossy",), kind="mail"))
        server.knobs.fault_seed = 7
        server.knobs.reset_rate = 0.3
        results = []
        for batch in range(8):
            results += mailbox.create_items(folder, [sample_message(batch * 4 + i) for i in range(4)])
        server.knobs.reset_rate = 0.0
        ids = [m.message_id for m in mailbox.existing(folder, "mail")]
        assert len(ids) == len(set(ids)) == sum(r.ok for r in results)
        assert sum(r.ok for r in results) >= 30


def test_an_answer_lost_after_the_server_created_the_items_is_recovered() -> None:
    # The test server resets connections before it processes a request; a real server may
    # process it and then lose the answer. Simulate that on the client side.
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Lost",), kind="mail"))
        real_send = mailbox._send
        calls = []

        def send_then_lose(pending, target):  # type: ignore[no-untyped-def]
            calls.append(len(pending))
            answers = real_send(pending, target)
            if len(calls) == 1:
                lost = ConnectionFailed("answer lost")
                lost.maybe_applied = True  # type: ignore[attr-defined]
                raise lost
            return answers

        mailbox._send = send_then_lose  # type: ignore[method-assign]
        results = mailbox.create_items(folder, [sample_message(i) for i in range(3)])
        assert all(r.ok and r.item_id for r in results)
        assert all(any("found on the destination" in w for w in r.warnings) for r in results)
        assert calls == [3] and mailbox.count(folder) == 3


def test_workmail_rejections_are_per_item() -> None:
    with served("workmail", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        contacts = mailbox.ensure_folder(Folder(("Contacts",), kind="contacts", role="contacts"))
        results = mailbox.create_items(
            contacts,
            [
                Contact(display_name="Good", emails=("good@example.org",)),
                Contact(display_name="Bad URL", websites=("not a url",)),
                Contact(display_name="Team", is_distribution_list=True, members=("a@example.org",)),
            ],
        )
        assert [r.ok for r in results] == [True, False, False]
        assert results[1].code and results[2].code == "Unsupported"
        calendar = mailbox.ensure_folder(Folder(("Calendar",), kind="calendar", role="calendar"))
        x500 = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=bob"
        start = dt.datetime(2026, 3, 2, 9, tzinfo=zoneinfo.ZoneInfo("UTC"))
        event = Event(subject="X500", start=start, end=start + dt.timedelta(hours=1), attendees=(Attendee(x500),))
        (result,) = mailbox.create_items(calendar, [event])
        assert not result.ok and result.code


def test_roles_map_to_the_destinations_own_folders_whatever_their_names() -> None:
    with served("exchange", ADDR) as server:
        inbox = server.find_folder(ADDR, ("inbox",))
        inbox.display_name = "Posteingang"
        server.store.touch_folder(inbox)
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        found = mailbox.ensure_folder(Folder(("Inbox",), kind="mail", role="inbox"))
        assert found.folder_id == inbox.folder_id and found.path == ("Posteingang",)
        child = mailbox.ensure_folder(Folder(("Inbox", "Projekte"), kind="mail"))
        assert child.path == ("Posteingang", "Projekte")
        assert ("Posteingang", "Projekte") in server.folder_paths(ADDR)
        assert ("Inbox",) not in server.folder_paths(ADDR)


def test_existing_mail_is_listed_without_mime() -> None:
    with served("exchange-online", ADDR) as server:
        for i in range(3):
            server.seed_message(ADDR, ("inbox",), sample_message(i).mime)
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        inbox = mailbox.ensure_folder(Folder(("Inbox",), kind="mail", role="inbox"))
        listed = list(mailbox.existing(inbox, "mail"))
        assert sorted(m.message_id or "" for m in listed) == sorted(sample_message(i).message_id or "" for i in range(3))
        assert all(m.mime == b"" and m.subject and m.sender and m.sent for m in listed)
        assert [op.operation for op in server.operations[-1:]] == ["FindItem"]
        assert mailbox.free_space() is None


def test_a_request_refused_as_a_whole_is_split_until_the_culprit_stands_alone() -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Split",), kind="mail"))
        real_send = mailbox._send
        poison = sample_message(3)

        def refuse_poison(pending, target):  # type: ignore[no-untyped-def]
            if any(p.item is poison for p in pending):
                from groupmigrate.errors import GroupmigrateError

                raise GroupmigrateError("ErrorSchemaValidation: the request failed schema validation")
            return real_send(pending, target)

        mailbox._send = refuse_poison  # type: ignore[method-assign]
        batch = [sample_message(i) for i in range(3)] + [poison] + [sample_message(i) for i in range(4, 8)]
        results = mailbox.create_items(folder, batch)
        assert [r.ok for r in results] == [True] * 3 + [False] + [True] * 4
        assert results[3].code == "RequestRefused" and "schema" in (results[3].error or "")
        assert mailbox.count(folder) == 7
