"""Destination behaviours: dropped attachments repaired, one attempt per batch with each outcome
classified (partial batches, lost answers, throttling), rejections."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo

import pytest

from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.errors import ConnectionFailed, GroupmigrateError, OutcomeUnknown, Throttled
from groupmigrate.items import Attachment, Attendee, Contact, Event, Folder, Message
from groupmigrate.testing.conformance import sample_message

from .servers import endpoint_kwargs, make_server, served

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


def test_partial_batch_failures_are_reported_per_item_and_not_retried() -> None:
    with served("exchange", ADDR) as server:
        server.knobs.partial_batch_rate = 1.0  # every CreateItem batch loses one item to a transient error
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Batch",), kind="mail"))
        server.clear_operations()
        results = mailbox.create_items(folder, [sample_message(i) for i in range(6)])
        ok = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        assert len(ok) == 5 and len(failed) == 1 and failed[0].transient and failed[0].code
        assert not failed[0].maybe_applied
        assert [op.operation for op in server.write_operations(ADDR)] == ["CreateItem"]  # one attempt
        assert mailbox.count(folder) == 5
        server.knobs.partial_batch_rate = 0.0
        assert all(r.ok for r in mailbox.create_items(folder, [sample_message(7), sample_message(8)]))


@pytest.mark.parametrize("status", [None, 502, 504])
def test_an_answer_lost_after_the_server_created_the_items_raises_outcome_unknown(status: int | None) -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Lost",), kind="mail"))
        server.knobs.lost_answer_rate = 1.0
        server.knobs.lost_answer_status = status
        stamps = [f"{i:032x}" for i in range(3)]
        server.clear_operations()
        with pytest.raises(OutcomeUnknown):
            mailbox.create_items(folder, [sample_message(i) for i in range(3)], stamps)
        server.knobs.lost_answer_rate = 0.0
        assert [op.operation for op in server.write_operations(ADDR)] == ["CreateItem"]  # not repeated
        # the backend does not look for the items itself; the stamps tell what was applied
        assert mailbox.count(folder) == 3
        found = mailbox.find_stamps(folder, stamps)
        assert sorted(found) == stamps and all(len(ids) == 1 for ids in found.values())
        fetched = list(mailbox.fetch_existing(folder, [ids[0] for ids in found.values()]))
        assert sorted(m.message_id or "" for m in fetched) == sorted(sample_message(i).message_id or "" for i in range(3))
        assert all(isinstance(m, Message) and m.mime for m in fetched)


@pytest.mark.parametrize(
    ("knobs", "error"),
    [
        ({"reset_rate": 1.0}, OutcomeUnknown),  # reset after the request was written
        ({"http500_rate": 1.0}, OutcomeUnknown),  # a 500 page that is not a SOAP fault
        ({"http503_rate": 1.0, "retry_after": 2}, OutcomeUnknown),  # a 503 page after sending
        ({"throttle_rate": 1.0, "backoff_ms": 700}, Throttled),  # SOAP ErrorServerBusy: not applied
    ],
)
def test_a_whole_create_request_is_classified_once(knobs: dict[str, object], error: type[Exception]) -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Faults",), kind="mail"))
        for name, value in knobs.items():
            setattr(server.knobs, name, value)
        started = time.monotonic()
        with pytest.raises(error) as caught:
            mailbox.create_items(folder, [sample_message(1), sample_message(2)])
        assert time.monotonic() - started < 2  # no waiting, no second attempt
        if error is Throttled:
            assert caught.value.retry_after == pytest.approx(0.7)  # type: ignore[attr-defined]
            assert not isinstance(caught.value, OutcomeUnknown)
        for name in knobs:
            setattr(server.knobs, name, 0.0 if name.endswith("rate") else getattr(type(server.knobs)(), name))
        assert mailbox.count(folder) == 0


def test_a_request_that_was_never_sent_is_connection_failed_not_unknown() -> None:
    server = make_server("exchange", ADDR)
    mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
    folder = mailbox.ensure_folder(Folder(("Gone",), kind="mail"))
    server.stop()  # connection refused from now on
    with pytest.raises(ConnectionFailed) as caught:
        mailbox.create_items(folder, [sample_message(1)])
    assert not isinstance(caught.value, OutcomeUnknown)


def test_an_unknown_outcome_after_part_of_a_split_batch_was_answered_is_per_item() -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Split lost",), kind="mail"))
        real_send = mailbox._send
        poison = sample_message(1)
        sends: list[int] = []

        def send(pending, target):  # type: ignore[no-untyped-def]
            sends.append(len(pending))
            if any(p.item is poison for p in pending):
                raise GroupmigrateError("ErrorSchemaValidation: the request failed schema validation")
            if any(p.item is batch[2] for p in pending):  # the second half: sent, then the answer is lost
                real_send(pending, target)
                raise OutcomeUnknown("the connection was reset after the request was sent")
            return real_send(pending, target)

        mailbox._send = send  # type: ignore[method-assign]
        batch = [sample_message(0), poison, sample_message(2), sample_message(3)]
        results = mailbox.create_items(folder, batch)
        assert sends == [4, 2, 1, 1, 2]
        assert [r.ok for r in results] == [True, False, False, False]
        assert results[1].code == "RequestRefused" and not results[1].maybe_applied
        assert all(r.maybe_applied and not r.ok for r in results[2:])
        assert mailbox.count(folder) == 3


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
