"""Item models: equality, immutability, validation with errors naming the field."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

import enum
import json

from groupmigrate.items import (
    ALL_ITEM_TYPES, Attachment, Attendee, Contact, Event, FlagStatus, Folder, Importance, Message, MessageKind, Note,
    NoteColor, Response, Sensitivity, ShowAs, Task, TaskStatus,
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
    assert attrs.evolve(a, color="blue").color == "blue"


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
        (lambda: Message(kind="IPM.Note"), "Message.kind"),
        (lambda: Event(show_as="Busy"), "Event.show_as"),
        (lambda: Event(sensitivity=3), "Event.sensitivity"),
        (lambda: Attendee("a@b.c", response="Accept"), "Attendee.response"),
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


#: each vocabulary field: (factory taking the value, attribute, enum, default)
VOCABULARY_FIELDS = [
    (lambda v: Message(importance=v), "importance", Importance, Importance.NORMAL),
    (lambda v: Message(flag=v), "flag", FlagStatus, FlagStatus.NONE),
    (lambda v: Message(kind=v), "kind", MessageKind, MessageKind.MAIL),
    (lambda v: Task(status=v), "status", TaskStatus, TaskStatus.NOT_STARTED),
    (lambda v: Task(importance=v), "importance", Importance, Importance.NORMAL),
    (lambda v: Event(show_as=v), "show_as", ShowAs, ShowAs.BUSY),
    (lambda v: Event(sensitivity=v), "sensitivity", Sensitivity, Sensitivity.NORMAL),
    (lambda v: Attendee("a@b.c", response=v), "response", Response, None),
    (lambda v: Note(color=v), "color", NoteColor, None),
]


@pytest.mark.parametrize(("factory", "name", "vocabulary", "default"), VOCABULARY_FIELDS)
def test_vocabulary_fields_take_the_member_or_its_value(factory, name, vocabulary, default):
    assert issubclass(vocabulary, enum.StrEnum)
    for member in vocabulary:
        assert getattr(factory(member), name) is member
        from_value = getattr(factory(member.value), name)
        assert from_value is member and type(from_value) is vocabulary
    if default is None:
        assert getattr(factory(None), name) is None
    else:
        assert isinstance(getattr(factory(default), name), vocabulary)


@pytest.mark.parametrize(("factory", "name", "vocabulary", "default"), VOCABULARY_FIELDS)
def test_vocabulary_fields_refuse_other_words_naming_the_field(factory, name, vocabulary, default):
    owner = type(factory(next(iter(vocabulary)))).__name__
    for bad in ("", "HIGH", next(iter(vocabulary)).value.title() + "X", "NotFlagged", "OOF", "Accept", 1):
        with pytest.raises(ValueError, match=rf"{owner}\.{name}: .* is not one of {next(iter(vocabulary)).value}, "):
            factory(bad)


def test_vocabulary_defaults():
    assert (Message().importance, Message().flag, Message().kind) == (Importance.NORMAL, FlagStatus.NONE, MessageKind.MAIL)
    assert (Task().status, Task().importance) == (TaskStatus.NOT_STARTED, Importance.NORMAL)
    assert (Event().show_as, Event().sensitivity) == (ShowAs.BUSY, Sensitivity.NORMAL)
    assert Attendee("a@b.c").response is None and Note().color is None


def test_vocabulary_values_are_plain_strings():
    task = Task(subject="t", status=TaskStatus.WAITING, importance="high")
    assert task.status == "waiting" and str(task.status) == "waiting" and f"{task.status}" == "waiting"
    assert json.dumps({"status": task.status, "importance": task.importance}) == '{"status": "waiting", "importance": "high"}'
    assert "'waiting'" in repr(task)
    # the value string and the member are the same item
    assert Task(subject="t", status="waiting", importance=Importance.HIGH) == task
    assert attrs.evolve(task, status="completed").status is TaskStatus.COMPLETED


def test_message_kind_is_kept_by_from_mime():
    m = Message.from_mime(MIME, kind="meeting_request", flag=FlagStatus.FLAGGED)
    assert (m.kind, m.flag, m.subject) == (MessageKind.MEETING_REQUEST, FlagStatus.FLAGGED, "Hello")
