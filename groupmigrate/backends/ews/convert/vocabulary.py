"""The neutral vocabularies (:mod:`groupmigrate.items` enums) in EWS's words, both ways.

One table per vocabulary; every member of each enum has exactly one EWS value, and reading
an EWS value this table does not know gives the field's default (EWS schemas grow: a value
added by a newer server must not fail a whole item). These tables are the only place the
EWS words for these values are known on the client side.

Message kinds are not a closed set in EWS: ItemClass is an open string (``IPM.Note.SMIME``,
``REPORT.IPM.Note.NDR`` ...), so :data:`MESSAGE_KIND` reads it by prefix.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar

from groupmigrate.items import (
    FlagStatus,
    Importance,
    MessageKind,
    NoteColor,
    Response,
    Sensitivity,
    ShowAs,
    TaskStatus,
)

__all__ = [
    "FLAG_STATUS",
    "IMPORTANCE",
    "MESSAGE_KIND",
    "NOTE_COLOR",
    "RESPONSE",
    "SENSITIVITY",
    "SHOW_AS",
    "TASK_STATUS",
    "MessageKinds",
    "Vocabulary",
]

E = TypeVar("E", bound=enum.StrEnum)


class Vocabulary(Generic[E]):
    """One neutral enum and its EWS values.

    Args:
        neutral: the enum.
        ews: the EWS value of each member; every member must be there, each value once.
    """

    def __init__(self, neutral: type[E], ews: Mapping[E, str]) -> None:
        missing = [m for m in neutral if m not in ews]
        if missing:
            raise ValueError(f"{neutral.__name__}: no EWS value for {', '.join(missing)}")
        if len(set(ews.values())) != len(ews):
            raise ValueError(f"{neutral.__name__}: two members share an EWS value")
        self.neutral = neutral
        self._to_ews = dict(ews)
        self._from_ews = {value: member for member, value in ews.items()}

    def to_ews(self, value: E | str) -> str:
        """The EWS value of a member (or of its value string)."""
        return self._to_ews[self.neutral(value)]

    def from_ews(self, value: str | None, default: E) -> E:
        """The member for an EWS value; ``default`` for None or a value this table does not know."""
        if value is None:
            return default
        return self._from_ews.get(value, default)

    def read(self, value: str | None) -> E | None:
        """The member for an EWS value; None for None or a value this table does not know."""
        return None if value is None else self._from_ews.get(value)

    @property
    def ews_values(self) -> tuple[str, ...]:
        return tuple(self._to_ews.values())


#: Message/Importance, Task/Importance
IMPORTANCE = Vocabulary(Importance, {
    Importance.LOW: "Low",
    Importance.NORMAL: "Normal",
    Importance.HIGH: "High",
})  # fmt: skip

#: FlagType/FlagStatus (PidTagFlagStatus holds the same states as numbers)
FLAG_STATUS = Vocabulary(FlagStatus, {
    FlagStatus.NONE: "NotFlagged",
    FlagStatus.FLAGGED: "Flagged",
    FlagStatus.COMPLETE: "Complete",
})  # fmt: skip

#: Task/Status
TASK_STATUS = Vocabulary(TaskStatus, {
    TaskStatus.NOT_STARTED: "NotStarted",
    TaskStatus.IN_PROGRESS: "InProgress",
    TaskStatus.COMPLETED: "Completed",
    TaskStatus.WAITING: "WaitingOnOthers",
    TaskStatus.DEFERRED: "Deferred",
})  # fmt: skip

#: CalendarItem/LegacyFreeBusyStatus
SHOW_AS = Vocabulary(ShowAs, {
    ShowAs.FREE: "Free",
    ShowAs.TENTATIVE: "Tentative",
    ShowAs.BUSY: "Busy",
    ShowAs.AWAY: "OOF",
    ShowAs.WORKING_ELSEWHERE: "WorkingElsewhere",
    ShowAs.UNKNOWN: "NoData",
})  # fmt: skip

#: Item/Sensitivity
SENSITIVITY = Vocabulary(Sensitivity, {
    Sensitivity.NORMAL: "Normal",
    Sensitivity.PERSONAL: "Personal",
    Sensitivity.PRIVATE: "Private",
    Sensitivity.CONFIDENTIAL: "Confidential",
})  # fmt: skip

#: Attendee/ResponseType
RESPONSE = Vocabulary(Response, {
    Response.UNKNOWN: "Unknown",
    Response.ORGANIZER: "Organizer",
    Response.TENTATIVE: "Tentative",
    Response.ACCEPTED: "Accept",
    Response.DECLINED: "Decline",
    Response.NONE: "NoResponseReceived",
})  # fmt: skip

#: the sticky-note colours, by the names of their PidLidNoteColor numbers (``models.NOTE_COLOR_VALUES``)
NOTE_COLOR = Vocabulary(NoteColor, {
    NoteColor.BLUE: "Blue",
    NoteColor.GREEN: "Green",
    NoteColor.PINK: "Pink",
    NoteColor.YELLOW: "Yellow",
    NoteColor.WHITE: "White",
})  # fmt: skip


class MessageKinds:
    """Item/ItemClass <-> :class:`~groupmigrate.items.MessageKind`.

    Reading goes by prefix, case-insensitively (``IPM.Note.SMIME`` is a mail,
    ``IPM.Schedule.Meeting.Resp.Tent`` a meeting response, ``REPORT.IPM.Note.IPNRN`` a read
    receipt); a message without a class is a mail. Writing gives the base class of each kind
    (servers set a mail's class from its MIME, so creating mail never needs it).
    """

    #: (class prefix, kind), most specific first
    _PREFIXES: tuple[tuple[str, MessageKind], ...] = (
        ("ipm.schedule.meeting.request", MessageKind.MEETING_REQUEST),
        ("ipm.schedule.meeting.resp.", MessageKind.MEETING_RESPONSE),
        ("ipm.schedule.meeting.canceled", MessageKind.MEETING_CANCELLATION),
        ("report.", MessageKind.REPORT),
        ("ipm.stickynote", MessageKind.STICKY_NOTE),
        ("ipm.note", MessageKind.MAIL),
    )
    _CLASSES: Mapping[MessageKind, str] = {
        MessageKind.MAIL: "IPM.Note",
        MessageKind.MEETING_REQUEST: "IPM.Schedule.Meeting.Request",
        MessageKind.MEETING_RESPONSE: "IPM.Schedule.Meeting.Resp.Pos",
        MessageKind.MEETING_CANCELLATION: "IPM.Schedule.Meeting.Canceled",
        MessageKind.REPORT: "REPORT.IPM.Note.NDR",
        MessageKind.STICKY_NOTE: "IPM.StickyNote",
        MessageKind.OTHER: "IPM.Post",
    }

    def to_ews(self, kind: MessageKind | str) -> str:
        """The base ItemClass of a kind."""
        return self._CLASSES[MessageKind(kind)]

    def from_ews(self, item_class: str | None) -> MessageKind:
        """The kind of a message with ItemClass ``item_class``."""
        if not item_class:
            return MessageKind.MAIL
        lowered = item_class.lower()
        for prefix, kind in self._PREFIXES:
            if lowered == prefix.rstrip(".") or lowered.startswith(prefix if prefix.endswith(".") else prefix + "."):
                return kind
        return MessageKind.OTHER


MESSAGE_KIND = MessageKinds()
