"""Contacts, calendar items (series, exceptions, all-day, attendees, time zones), tasks and notes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from exchangelib import (
    Attendee,
    CalendarItem,
    Contact,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    HTMLBody,
    Mailbox,
    Message,
    Task,
)
from exchangelib.attachments import FileAttachment
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.recurrence import DailyPattern, Recurrence, WeeklyPattern

from groupmigrate import items as gi
from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, make_account

BERLIN = EWSTimeZone("Europe/Berlin")


def test_contact_round_trip_field_by_field(server: EWSTestServer) -> None:
    account = make_account(server)
    contact = Contact(
        account=account,
        folder=account.contacts,
        display_name="Jane Doe",
        given_name="Jane",
        middle_name="Q",
        surname="Doe",
        nickname="JD",
        company_name="ACME",
        department="Sales",
        job_title="CEO",
        email_addresses=[EmailAddress(email="jane@acme.example", label="EmailAddress1"),
                         EmailAddress(email="jd@home.example", label="EmailAddress2")],
        phone_numbers=[PhoneNumber(label="MobilePhone", phone_number="+1 555 0100"),
                       PhoneNumber(label="BusinessPhone", phone_number="+1 555 0101")],
        physical_addresses=[PhysicalAddress(label="Business", street="1 Main St", city="Springfield",
                                            state="IL", zipcode="62701", country="US")],
        business_homepage="https://acme.example/jane",
        birthday=EWSDate(1980, 5, 17),
        categories=["VIP", "Customers"],
        body="Met at the fair",
    )
    contact.save()
    contact.attach(FileAttachment(name="ContactPicture.jpg", content=b"\xff\xd8\xff\xe0photo", is_contact_photo=True))
    [back] = list(account.contacts.all())
    assert (back.display_name, back.given_name, back.middle_name, back.surname) == ("Jane Doe", "Jane", "Q", "Doe")
    assert (back.nickname, back.company_name, back.department, back.job_title) == ("JD", "ACME", "Sales", "CEO")
    assert {(e.label, e.email) for e in back.email_addresses} == {
        ("EmailAddress1", "jane@acme.example"), ("EmailAddress2", "jd@home.example")}
    assert {(p.label, p.phone_number) for p in back.phone_numbers} == {
        ("MobilePhone", "+1 555 0100"), ("BusinessPhone", "+1 555 0101")}
    [addr] = back.physical_addresses
    assert (addr.label, addr.street, addr.city, addr.state, addr.zipcode, addr.country) == (
        "Business", "1 Main St", "Springfield", "IL", "62701", "US")
    assert back.business_homepage == "https://acme.example/jane"
    assert back.birthday == EWSDate(1980, 5, 17)
    assert back.categories == ["VIP", "Customers"]
    assert back.body == "Met at the fair"
    assert back.has_picture is True
    [photo] = back.attachments
    assert photo.is_contact_photo and photo.name == "ContactPicture.jpg"
    photo_content = photo.content  # GetAttachment
    assert photo_content == b"\xff\xd8\xff\xe0photo"
    assert back.item_class == "IPM.Contact"


def test_recurring_series_with_modified_and_deleted_occurrences(server: EWSTestServer) -> None:
    account = make_account(server)
    start = EWSDateTime(2026, 1, 5, 9, 0, tzinfo=BERLIN)  # a Monday
    series = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Standup",
        start=start,
        end=start + dt.timedelta(minutes=30),
        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1, 3]), start=start.date(), number=10),
        location="Room 1",
        reminder_minutes_before_start=15,
        reminder_is_set=True,
        legacy_free_busy_status="Tentative",
        sensitivity="Private",
        body=HTMLBody("<p>Daily sync</p>"),
        required_attendees=[Attendee(mailbox=Mailbox(email_address="bob@contoso.com"), response_type="Accept")],
        optional_attendees=[Attendee(mailbox=Mailbox(email_address="carol@contoso.com"), response_type="Tentative")],
        resources=[Attendee(mailbox=Mailbox(email_address="room1@contoso.com"), response_type="Unknown")],
    )
    series.save()
    third = series.occurrence(index=3)
    third.refresh()
    assert third.type == "Occurrence"
    assert third.start == EWSDateTime(2026, 1, 12, 8, 0, tzinfo=EWSTimeZone("UTC"))  # 09:00 Berlin in winter
    third.subject = "Standup (moved)"
    third.start += dt.timedelta(hours=2)
    third.end += dt.timedelta(hours=2)
    third.save()
    series.occurrence(index=5).delete()
    # UpdateItem straight on an OccurrenceItemId (no GetItem first), as a copying client does
    seventh = series.occurrence(index=7)
    seventh.subject = "Standup (retro)"
    seventh.save(update_fields=["subject"])

    master = account.calendar.get(subject="Standup")
    assert master.type == "RecurringMaster"
    assert master.recurrence.pattern.weekdays == [1, 3]
    assert master.recurrence.boundary.number == 10
    assert master.start.astimezone(BERLIN).hour == 9
    assert master._start_timezone.key == "Europe/Berlin"
    assert (master.location, master.reminder_minutes_before_start, master.legacy_free_busy_status) == (
        "Room 1", 15, "Tentative")
    assert master.sensitivity == "Private" and str(master.body) == "<p>Daily sync</p>"
    assert [(a.mailbox.email_address, a.response_type) for a in master.required_attendees] == [
        ("bob@contoso.com", "Accept")]
    assert [(a.mailbox.email_address, a.response_type) for a in master.optional_attendees] == [
        ("carol@contoso.com", "Tentative")]
    assert [a.mailbox.email_address for a in master.resources] == ["room1@contoso.com"]
    assert master.organizer.email_address == ALICE
    assert master.uid
    modified, retro = master.modified_occurrences
    assert retro.original_start == EWSDateTime(2026, 1, 26, 8, 0, tzinfo=EWSTimeZone("UTC"))
    assert modified.original_start == EWSDateTime(2026, 1, 12, 8, 0, tzinfo=EWSTimeZone("UTC"))
    assert modified.start == EWSDateTime(2026, 1, 12, 10, 0, tzinfo=EWSTimeZone("UTC"))
    [deleted] = master.deleted_occurrences
    assert deleted.start == EWSDateTime(2026, 1, 19, 8, 0, tzinfo=EWSTimeZone("UTC"))
    exception = account.fetch(ids=[modified])
    [exception] = list(exception)
    assert exception.subject == "Standup (moved)" and exception.type == "Exception"
    view = list(account.calendar.view(start=EWSDateTime(2026, 1, 1, tzinfo=BERLIN),
                                      end=EWSDateTime(2026, 3, 1, tzinfo=BERLIN)))
    assert len(view) == 9
    assert [v.subject for v in view].count("Standup (moved)") == 1
    assert [v.subject for v in view].count("Standup (retro)") == 1
    # the series crosses no DST change; all occurrences keep 09:00 local
    assert {v.start.astimezone(BERLIN).hour for v in view if v.subject != "Standup (moved)"} == {9}
    assert exception.original_start == modified.original_start


def test_all_day_event_and_daily_series_over_dst(server: EWSTestServer) -> None:
    account = make_account(server)
    holiday = CalendarItem(account=account, folder=account.calendar, subject="Holiday",
                           start=EWSDate(2026, 3, 27), end=EWSDate(2026, 3, 27), is_all_day=True)
    holiday.save()
    back = account.calendar.get(subject="Holiday")
    assert back.is_all_day is True
    assert (back.start, back.end) == (EWSDate(2026, 3, 27), EWSDate(2026, 3, 27))
    start = EWSDateTime(2026, 3, 27, 8, 0, tzinfo=BERLIN)
    CalendarItem(account=account, folder=account.calendar, subject="Daily", start=start,
                 end=start + dt.timedelta(hours=1),
                 recurrence=Recurrence(pattern=DailyPattern(interval=1), start=start.date(), number=4)).save()
    days = [v for v in account.calendar.view(start=EWSDateTime(2026, 3, 26, tzinfo=BERLIN),
                                             end=EWSDateTime(2026, 4, 2, tzinfo=BERLIN)) if v.subject == "Daily"]
    # local time stays 08:00 across the switch to summer time on 29 March; UTC moves by an hour
    assert [d.start.astimezone(BERLIN).hour for d in days] == [8, 8, 8, 8]
    assert [d.start.hour for d in days] == [7, 7, 6, 6]


def test_task_round_trip(server: EWSTestServer) -> None:
    account = make_account(server)
    Task(account=account, folder=account.tasks, subject="Write report", body="Quarterly",
         start_date=EWSDate(2026, 1, 1), due_date=EWSDate(2026, 1, 10), status="InProgress",
         percent_complete=Decimal(50), importance="High", categories=["Work"]).save()
    Task(account=account, folder=account.tasks, subject="Done", status="Completed",
         percent_complete=Decimal(100), complete_date=EWSDateTime(2026, 1, 9, 12, 0, tzinfo=EWSTimeZone("UTC"))).save()
    tasks = {t.subject: t for t in account.tasks.all()}
    t = tasks["Write report"]
    assert (t.start_date, t.due_date) == (EWSDate(2026, 1, 1), EWSDate(2026, 1, 10))
    assert (t.status, t.percent_complete, t.importance, t.categories) == ("InProgress", Decimal(50), "High", ["Work"])
    assert t.is_complete is False and t.body == "Quarterly"
    done = tasks["Done"]
    assert done.status == "Completed" and done.is_complete is True
    # as Exchange does, the server sets the completion time itself
    assert abs((done.complete_date - EWSDateTime.now(tz=EWSTimeZone("UTC"))).total_seconds()) < 60


class NoteColor(ExtendedProperty):
    property_set_id = "0006200E-0000-0000-C000-000000000046"
    property_id = 0x8B00
    property_type = "Integer"


def test_notes_are_sticky_note_messages(server: EWSTestServer) -> None:
    server.seed_item(ALICE, gi.Note(subject="Groceries", body="milk, eggs", color="yellow", categories=("Home",)))
    account = make_account(server)
    Message.register("note_color", NoteColor)
    try:
        [note] = list(account.notes.all())
    finally:
        Message.deregister("note_color")
    assert isinstance(note, Message)
    assert note.item_class == "IPM.StickyNote"
    assert (note.subject, note.body, note.categories, note.note_color) == ("Groceries", "milk, eggs", ["Home"], 3)


def test_seeded_neutral_items_read_back(server: EWSTestServer) -> None:
    utc = dt.timezone.utc
    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    server.seed_item(ALICE, gi.Contact(display_name="Jane Doe", given_name="Jane", surname="Doe",
                                       emails=("jane@x.example",), phones=(gi.Phone("mobile", "+1 555"),),
                                       birthday=dt.date(1980, 5, 17), websites=("https://x.example",),
                                       photo=b"JPEGDATA"))
    server.seed_item(ALICE, gi.Event(
        subject="Weekly", start=start, end=start + dt.timedelta(hours=1), timezone="Europe/Berlin",
        recurrence="FREQ=WEEKLY;BYDAY=MO;COUNT=5", organizer="bob@contoso.com",
        attendees=(gi.Attendee(ALICE, role="required", response="accepted"),),
        exceptions=(gi.Event(subject="Weekly (late)", start=start + dt.timedelta(days=7, hours=1),
                             end=start + dt.timedelta(days=7, hours=2), recurrence_id=start + dt.timedelta(days=7)),),
        deleted_occurrences=(start + dt.timedelta(days=14),)))
    server.seed_item(ALICE, gi.Task(subject="T", due=dt.date(2026, 1, 10), status="completed", percent_complete=100,
                                    completed=dt.datetime(2026, 1, 9, tzinfo=utc)))
    account = make_account(server)
    [contact] = list(account.contacts.all())
    assert contact.has_picture and contact.birthday == EWSDate(1980, 5, 17)
    assert [p.phone_number for p in contact.phone_numbers] == ["+1 555"]
    [series] = list(account.calendar.all())
    assert series.organizer.email_address == "bob@contoso.com"
    assert series.recurrence.boundary.number == 5
    assert len(series.modified_occurrences) == 1 and len(series.deleted_occurrences) == 1
    [task] = list(account.tasks.all())
    assert task.status == "Completed" and task.due_date == EWSDate(2026, 1, 10)
