"""The neutral vocabularies in EWS's words: every member both ways, every schema value known."""

from __future__ import annotations

import datetime as dt
import enum
from pathlib import Path

import pytest
from lxml import etree

import groupmigrate.testing.ews
from groupmigrate.backends.ews.convert import calendar, mail, notes, tasks
from groupmigrate.backends.ews.convert.vocabulary import (
    FLAG_STATUS, IMPORTANCE, MESSAGE_KIND, NOTE_COLOR, RESPONSE, SENSITIVITY, SHOW_AS, TASK_STATUS, Vocabulary,
)  # fmt: skip
from groupmigrate.items import (
    Attendee, Event, FlagStatus, Importance, Message, MessageKind, Note, NoteColor, Response, Sensitivity, ShowAs,
    Task, TaskStatus,
)  # fmt: skip

UTC = dt.timezone.utc
XS = "{http://www.w3.org/2001/XMLSchema}"
SCHEMA = Path(groupmigrate.testing.ews.__file__).parent / "schema" / "types.xsd"

VOCABULARIES = {
    "importance": (IMPORTANCE, "ImportanceChoicesType"),
    "flag": (FLAG_STATUS, "FlagStatusType"),
    "task status": (TASK_STATUS, "TaskStatusType"),
    "show as": (SHOW_AS, "LegacyFreeBusyType"),
    "sensitivity": (SENSITIVITY, "SensitivityChoicesType"),
    "response": (RESPONSE, "ResponseTypeType"),
    "note colour": (NOTE_COLOR, None),
}


def _enumeration(type_name: str) -> set[str]:
    tree = etree.parse(str(SCHEMA))
    (simple,) = tree.getroot().findall(f"{XS}simpleType[@name='{type_name}']")
    return {e.get("value") for e in simple.iter(f"{XS}enumeration")}


@pytest.mark.parametrize("name", VOCABULARIES)
def test_every_member_round_trips_through_ews(name):
    vocabulary, _ = VOCABULARIES[name]
    for member in vocabulary.neutral:
        ews = vocabulary.to_ews(member)
        assert ews != member.value, f"{member!r} is not translated"
        assert vocabulary.from_ews(ews, default=next(iter(vocabulary.neutral))) is member
        assert vocabulary.read(ews) is member
        assert vocabulary.to_ews(member.value) == ews  # the value string works as the member does


@pytest.mark.parametrize("name", [n for n, (_, t) in VOCABULARIES.items() if t])
def test_ews_values_are_exactly_the_schema_enumeration(name):
    vocabulary, type_name = VOCABULARIES[name]
    assert set(vocabulary.ews_values) == _enumeration(type_name)


def test_unknown_ews_values_read_as_the_default():
    assert SHOW_AS.from_ews("SomethingNew", ShowAs.BUSY) is ShowAs.BUSY
    assert SHOW_AS.from_ews(None, ShowAs.BUSY) is ShowAs.BUSY
    assert RESPONSE.read("SomethingNew") is None and RESPONSE.read(None) is None


def test_a_table_must_cover_every_member_once():
    class Tri(enum.StrEnum):
        A = "a"
        B = "b"
        C = "c"

    with pytest.raises(ValueError, match="no EWS value for c"):
        Vocabulary(Tri, {Tri.A: "A", Tri.B: "B"})
    with pytest.raises(ValueError, match="share"):
        Vocabulary(Tri, {Tri.A: "A", Tri.B: "B", Tri.C: "B"})
    with pytest.raises(ValueError):
        IMPORTANCE.to_ews("High")  # an EWS word is not a neutral value


@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_message_kind_round_trips_through_item_class(kind):
    assert MESSAGE_KIND.from_ews(MESSAGE_KIND.to_ews(kind)) is kind


@pytest.mark.parametrize(
    ("item_class", "kind"),
    [
        (None, MessageKind.MAIL),
        ("", MessageKind.MAIL),
        ("IPM.Note", MessageKind.MAIL),
        ("ipm.note", MessageKind.MAIL),
        ("IPM.Note.SMIME", MessageKind.MAIL),
        ("IPM.Note.SMIME.MultipartSigned", MessageKind.MAIL),
        ("IPM.Schedule.Meeting.Request", MessageKind.MEETING_REQUEST),
        ("IPM.Schedule.Meeting.Resp.Pos", MessageKind.MEETING_RESPONSE),
        ("IPM.Schedule.Meeting.Resp.Neg", MessageKind.MEETING_RESPONSE),
        ("IPM.Schedule.Meeting.Resp.Tent", MessageKind.MEETING_RESPONSE),
        ("IPM.Schedule.Meeting.Canceled", MessageKind.MEETING_CANCELLATION),
        ("REPORT.IPM.Note.NDR", MessageKind.REPORT),
        ("REPORT.IPM.Note.DR", MessageKind.REPORT),
        ("REPORT.IPM.Note.IPNRN", MessageKind.REPORT),
        ("REPORT.IPM.Schedule.Meeting.Request.NDR", MessageKind.REPORT),
        ("IPM.StickyNote", MessageKind.STICKY_NOTE),
        ("IPM.Notification.Meeting.Forward", MessageKind.OTHER),
        ("IPM.Noteworthy", MessageKind.OTHER),
        ("IPM.Post", MessageKind.OTHER),
        ("IPM.Outlook.Recall", MessageKind.OTHER),
    ],
)
def test_item_classes_read_as_message_kinds(item_class, kind):
    assert MESSAGE_KIND.from_ews(item_class) is kind


# Through the converters: a neutral item written as an exchangelib item and read back.


@pytest.mark.parametrize("flag", list(FlagStatus))
@pytest.mark.parametrize("importance", list(Importance))
def test_mail_flag_and_importance_survive_the_converter(flag, importance):
    item, _ = mail.to_ews(Message(mime=b"Subject: x\r\n\r\nbody\r\n", flag=flag, importance=importance))
    assert item.importance == IMPORTANCE.to_ews(importance)
    back = mail.to_neutral(item, "id")
    assert (back.flag, back.importance, back.kind) == (flag, importance, MessageKind.MAIL)


@pytest.mark.parametrize("status", list(TaskStatus))
@pytest.mark.parametrize("importance", list(Importance))
def test_task_status_and_importance_survive_the_converter(status, importance):
    item, _ = tasks.to_ews(Task(subject="t", status=status, importance=importance))
    assert (item.status, item.importance) == (TASK_STATUS.to_ews(status), IMPORTANCE.to_ews(importance))
    back = tasks.to_neutral(item, "id")
    assert (back.status, back.importance) == (status, importance)


@pytest.mark.parametrize("color", [*NoteColor, None])
def test_note_colour_survives_the_converter(color):
    item, _ = notes.to_ews(Note(subject="n", color=color))
    assert notes.to_neutral(item, "id").color == color


def test_event_vocabularies_survive_the_converter():
    start = dt.datetime(2026, 3, 2, 9, tzinfo=UTC)
    for show_as, sensitivity in zip(list(ShowAs), [*Sensitivity, *Sensitivity]):
        event = Event(
            subject="e", start=start, end=start + dt.timedelta(hours=1), timezone="UTC",
            show_as=show_as, sensitivity=sensitivity,
            attendees=tuple(Attendee(f"{r.value}@example.org", response=r) for r in Response),
        )  # fmt: skip
        item, _ = calendar.to_ews(event)
        assert (item.legacy_free_busy_status, item.sensitivity) == (SHOW_AS.to_ews(show_as), SENSITIVITY.to_ews(sensitivity))
        back = calendar.to_neutral(item, "id")
        assert (back.show_as, back.sensitivity) == (show_as, sensitivity)
        assert [(a.address, a.response) for a in back.attendees] == [(a.address, a.response) for a in event.attendees]
