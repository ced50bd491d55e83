"""The closed vocabularies of the item models, in the models' own words.

Importance, follow-up flag, task status, free/busy (show as), sensitivity, attendee response,
note colour and message kind are :class:`enum.StrEnum` types: a field accepts a member or its
value string (``"high"``), and the values are plain strings in JSON, the state file and logs.
Each backend translates them to and from its protocol's words.
"""

from __future__ import annotations

import enum
from typing import TypeVar

import attrs

__all__ = [
    "FlagStatus", "Importance", "MessageKind", "NoteColor", "Response", "Sensitivity", "ShowAs", "TaskStatus",
]  # fmt: skip


class Importance(enum.StrEnum):
    """How important a message or task is."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class FlagStatus(enum.StrEnum):
    """A message's follow-up flag: none, flagged, or flagged and marked complete."""

    NONE = "none"
    FLAGGED = "flagged"
    COMPLETE = "complete"


class TaskStatus(enum.StrEnum):
    """Where a task stands."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    #: waiting on someone else
    WAITING = "waiting"
    DEFERRED = "deferred"


class ShowAs(enum.StrEnum):
    """How an event shows in free/busy lookups."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    #: out of office
    AWAY = "away"
    WORKING_ELSEWHERE = "working_elsewhere"
    #: no free/busy information
    UNKNOWN = "unknown"


class Sensitivity(enum.StrEnum):
    """Who may see an event's details."""

    NORMAL = "normal"
    PERSONAL = "personal"
    PRIVATE = "private"
    CONFIDENTIAL = "confidential"


class Response(enum.StrEnum):
    """An attendee's answer to a meeting request."""

    UNKNOWN = "unknown"
    #: the attendee is the organizer
    ORGANIZER = "organizer"
    TENTATIVE = "tentative"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    #: the request was sent and not answered
    NONE = "none"


class NoteColor(enum.StrEnum):
    """The colour of a sticky note."""

    BLUE = "blue"
    GREEN = "green"
    PINK = "pink"
    YELLOW = "yellow"
    WHITE = "white"


class MessageKind(enum.StrEnum):
    """What a message in a mail folder is; the MIME is copied the same way for each."""

    #: an ordinary mail (also signed or encrypted mail)
    MAIL = "mail"
    MEETING_REQUEST = "meeting_request"
    #: an answer to a meeting request (accepted, tentative or declined)
    MEETING_RESPONSE = "meeting_response"
    MEETING_CANCELLATION = "meeting_cancellation"
    #: a delivery or read report: a non-delivery report, delivery or read receipt
    REPORT = "report"
    #: a sticky note that sits in a mail folder
    STICKY_NOTE = "sticky_note"
    #: anything else (posts, recall messages, forms ...)
    OTHER = "other"


_E = TypeVar("_E", bound=enum.StrEnum)


def _member(cls: type[_E], value: object) -> _E:
    """``value`` as a member of ``cls`` (a member or its value string); else unchanged, for
    :func:`_member_of` to refuse with the field's name."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            pass
    return value  # type: ignore[return-value]


def _importance(value: Importance | str) -> Importance:
    return _member(Importance, value)


def _flag_status(value: FlagStatus | str) -> FlagStatus:
    return _member(FlagStatus, value)


def _task_status(value: TaskStatus | str) -> TaskStatus:
    return _member(TaskStatus, value)


def _show_as(value: ShowAs | str) -> ShowAs:
    return _member(ShowAs, value)


def _sensitivity(value: Sensitivity | str) -> Sensitivity:
    return _member(Sensitivity, value)


def _response(value: Response | str | None) -> Response | None:
    return None if value is None else _member(Response, value)


def _note_color(value: NoteColor | str | None) -> NoteColor | None:
    return None if value is None else _member(NoteColor, value)


def _message_kind(value: MessageKind | str) -> MessageKind:
    return _member(MessageKind, value)


def _member_of(cls: type[enum.StrEnum]):  # type: ignore[no-untyped-def]
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:  # type: ignore[type-arg]
        if value is not None and not isinstance(value, cls):
            raise ValueError(
                f"{type(instance).__name__}.{attribute.name}: {value!r} is not one of "
                f"{', '.join(m.value for m in cls)}"
            )

    return check
