"""Item models: equality, immutability, validation with errors naming the field."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from groupmigrate.items import (
    ALL_ITEM_TYPES, Attachment, Attendee, Contact, Event, Folder, Message, Note, Task,
)  # fmt: skip

UTC = dt.timezone.utc
MIME = (
    b"Message-ID: <abc@example.org>\r\nFrom: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n"
    b"Subject: Hello\r\nDate: Tue, 03 Nov 2026 10:00:00 +0100\r\n\r\nbody\r\n"
)


def test_each_type_knows_its_item_type():
    assert [c.item_type for c in (Message, Contact, Event, Task, Note)] == list(ALL_ITEM_TYPES)


def test_message_from_mime_reads_headers():
    m = Message.from_mime(MIME, is_read=True)
    assert m.message_id == "<abc@example.org>"
    assert m.sender == "Jürgen <j@example.org>"
    assert m.subject == "Hello"
    assert m.sent == dt.datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert m.size == len(MIME) and m.is_read


def test_items_are_frozen_and_compare_by_value_not_source_id():
    a = Note(subject="s", body="b", source_id="1")
    b = Note(subject="s", body="b", source_id="2")
    assert a == b
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.subject = "x"  # type: ignore[misc]
    assert attrs.evolve(a, color="Blue").color == "Blue"


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: Message(importance="Urgent"), "Message.importance"),
        (lambda: Message(flag="Red"), "Message.flag"),
        (lambda: Message(received=dt.datetime(2026, 1, 1)), "Message.received"),
        (lambda: Task(percent_complete=101), "Task.percent_complete"),
        (lambda: Task(status="Done"), "Task.status"),
        (lambda: Note(color="Purple"), "Note.color"),
        (lambda: Event(start=dt.datetime(2026, 1, 2, tzinfo=UTC), end=dt.datetime(2026, 1, 1, tzinfo=UTC)), "Event.end"),
        (lambda: Event(recurrence="every monday"), "Event.recurrence"),
        (lambda: Event(reminder_minutes=-5), "Event.reminder_minutes"),
        (lambda: Attendee("a@b.c", role="boss"), "Attendee.role"),
        (lambda: Folder(()), "Folder.path"),
        (lambda: Folder(("Inbox", "")), "Folder.path"),
        (lambda: Folder(("X",), role="spam"), "Folder.role"),
        (lambda: Folder(("X",), kind="files"), "Folder.kind"),
    ],
)
def test_bad_values_name_the_field(factory, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        factory()


def test_folder_path_may_hold_separator_and_unicode():
    f = Folder(("Inbox", "a/b", "עברית 📁"))
    assert f.name == "עברית 📁" and f.parent_path == ("Inbox", "a/b")
    assert str(f) == "Inbox/a\\/b/עברית 📁"
    assert f.display_name == "עברית 📁"


def test_all_day_event_uses_dates():
    e = Event(subject="Holiday", start=dt.date(2026, 12, 24), end=dt.date(2026, 12, 25), is_all_day=True)
    assert e.start == dt.date(2026, 12, 24)


def test_attachment_repr_has_no_content():
    a = Attachment("a.pdf", b"%PDF secret content", "application/pdf")
    assert "secret" not in repr(a) and a.size == 19


def test_message_attachment_bytes_counts_decoded_attachments():
    mime = (
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=a.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nAAAAAAAA\r\n--XX--\r\n"
    )
    assert Message(mime=mime).attachment_bytes == 6
    assert Message(mime=b"not mime at all").attachment_bytes == 0
