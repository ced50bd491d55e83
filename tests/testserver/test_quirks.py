"""Knobs that make the test server answer as real servers do where they differ from the documentation."""

from __future__ import annotations


from exchangelib import UTC, Attendee, CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.fields import FieldPath
from exchangelib.items import ALL_PROPERTIES, ID_ONLY, SEND_TO_NONE
from exchangelib.properties import ItemId, OccurrenceItemId
from exchangelib.recurrence import Recurrence, WeeklyPattern
from exchangelib.services import GetItem
from lxml import etree

from groupmigrate.backends.ews.models import CalendarEventItem
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.ews.knobs import Knobs
from groupmigrate.testing.ews.quirks import apply_quirks
from groupmigrate.testing.ews.render import ItemShape
from groupmigrate.testing.ews.xmlns import T

from .conftest import make_account

BERLIN = EWSTimeZone("Europe/Berlin")


def _series(account) -> CalendarItem:  # type: ignore[no-untyped-def]
    item = CalendarItem(
        account=account, folder=account.calendar, subject="Series",
        start=EWSDateTime(2026, 3, 2, 9, tzinfo=BERLIN), end=EWSDateTime(2026, 3, 2, 10, tzinfo=BERLIN),
        required_attendees=[Attendee(mailbox=Mailbox(email_address="bob@example.org"), response_type="Accept",
                                     last_response_time=EWSDateTime(2026, 2, 1, 8, tzinfo=BERLIN))],
        resources=[Attendee(mailbox=Mailbox(email_address="room@example.org"))],
        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]), start=EWSDate(2026, 3, 2), number=4),
    )  # fmt: skip
    item.save(send_meeting_invitations=SEND_TO_NONE)
    return item


def _get(account, item_id: str, names: tuple[str, ...], shape: str = ID_ONLY):  # type: ignore[no-untyped-def]
    paths = [FieldPath(field=CalendarEventItem.get_field_by_fieldname(n)) for n in names]
    [found] = GetItem(account=account).call(items=[ItemId(id=item_id)], additional_fields=paths, shape=shape)
    return found


def test_knobs_are_off_by_default() -> None:
    knobs = Knobs()
    assert not (knobs.long_fractions or knobs.attendees_need_all_properties or knobs.original_start_at_midnight)
    assert not knobs.fold_resources


def test_long_fractions_put_20_digits_in_every_timestamp_at_any_depth() -> None:
    el = etree.Element(T("CalendarItem"))
    etree.SubElement(el, T("Start")).text = "2026-03-02T08:00:00Z"
    attendee = etree.SubElement(etree.SubElement(el, T("RequiredAttendees")), T("Attendee"))
    etree.SubElement(attendee, T("LastResponseTime")).text = "2026-02-01T07:00:00.123Z"
    etree.SubElement(el, T("Subject")).text = "2026-03-02T08:00:00Z"
    apply_quirks(el, ItemShape(), Knobs(long_fractions=True))
    assert el.findtext(T("Start")) == "2026-03-02T08:00:00.00000000000000000000Z"
    assert attendee.findtext(T("LastResponseTime")) == "2026-02-01T07:00:00.12300000000000000000Z"
    assert el.findtext(T("Subject")) == "2026-03-02T08:00:00Z"  # text is left alone


def test_long_fractions_are_read_by_our_models_and_not_by_plain_exchangelib(server: EWSTestServer) -> None:
    account = make_account(server)
    item = _series(account)
    server.knobs.long_fractions = True
    plain = _get(account, item.id, ("start", "required_attendees"))
    assert plain.start is None  # exchangelib reads only whole seconds
    ours = CalendarEventItem.from_xml(
        elem=etree.fromstring(etree.tostring(_raw(server, account, item.id))), account=account
    )
    assert ours.start == EWSDateTime(2026, 3, 2, 8, tzinfo=UTC)
    [bob] = ours.required_attendees
    assert bob.last_response_time == EWSDateTime(2026, 2, 1, 7, tzinfo=UTC)
    [first, *_] = ours.first_occurrence and [ours.first_occurrence]
    assert first.start == EWSDateTime(2026, 3, 2, 8, tzinfo=UTC)


def _raw(server: EWSTestServer, account, item_id: str) -> etree._Element:  # type: ignore[no-untyped-def]
    """The CalendarItem element a GetItem for every property answers."""
    from exchangelib.util import TNS

    names = ("start", "required_attendees", "first_occurrence")
    paths = [FieldPath(field=CalendarEventItem.get_field_by_fieldname(n)) for n in names]
    svc = GetItem(account=account)
    payload = svc.get_payload(items=[ItemId(id=item_id)], additional_fields=paths, shape=ID_ONLY)
    response = svc._get_response_xml(payload=payload)
    return next(iter(response[0].iter(f"{{{TNS}}}CalendarItem")))


def test_attendees_come_back_only_to_a_request_for_every_property(server: EWSTestServer) -> None:
    account = make_account(server)
    item = _series(account)
    server.knobs.attendees_need_all_properties = True
    assert _get(account, item.id, ("subject", "required_attendees")).required_attendees is None
    assert _get(account, item.id, ("required_attendees",), ALL_PROPERTIES).required_attendees
    [everything] = list(account.fetch([item]))  # exchangelib's own fetch names every property
    assert [a.mailbox.email_address for a in everything.required_attendees] == ["bob@example.org"]
    server.knobs.attendees_need_all_properties = False
    assert _get(account, item.id, ("subject", "required_attendees")).required_attendees


def test_original_start_of_a_modified_occurrence_at_local_midnight(server: EWSTestServer) -> None:
    account = make_account(server)
    item = _series(account)
    moved = CalendarItem(account=account, _id=OccurrenceItemId(id=item.id, changekey=item.changekey, instance_index=2))
    moved.subject = "moved"
    account.bulk_update([(moved, ["subject"])], send_meeting_invitations_or_cancellations=SEND_TO_NONE)
    [master] = list(account.fetch([item]))
    [occurrence] = master.modified_occurrences
    assert occurrence.original_start == EWSDateTime(2026, 3, 9, 8, tzinfo=UTC)
    server.knobs.original_start_at_midnight = True
    [master] = list(account.fetch([item]))
    [occurrence] = master.modified_occurrences
    assert occurrence.original_start == EWSDateTime(2026, 3, 8, 23, tzinfo=UTC)  # midnight in Berlin
    [exception] = list(account.fetch([ItemId(id=occurrence.id)]))
    assert exception.original_start == EWSDateTime(2026, 3, 8, 23, tzinfo=UTC)


def test_fold_resources_stores_them_as_required_attendees(server: EWSTestServer) -> None:
    account = make_account(server)
    server.knobs.fold_resources = True
    item = _series(account)
    [back] = list(account.fetch([item]))
    assert sorted(a.mailbox.email_address for a in back.required_attendees) == ["bob@example.org", "room@example.org"]
    assert not back.resources
