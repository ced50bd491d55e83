"""Backend-neutral models of what a mailbox holds.

Sources produce these, mappers transform them, destinations consume them. They are frozen
attrs classes: a mapper that changes an item returns a new one (``attrs.evolve``). Values
are validated on construction, and a bad value raises :class:`ValueError` naming the field.

Every item carries ``source_id``: the id the source backend gave it (opaque to the core),
used to record which source item became which destination item.

Closed vocabularies (importance, flag, task status, free/busy, sensitivity, attendee
response, note colour, message kind) are :class:`enum.StrEnum` types in the models' own
words: fields accept a member or its value string (``"high"``), and the values are plain
strings in JSON, state and logs. Each backend translates them to and from its protocol.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import email.utils
import enum
from typing import Any, ClassVar, Literal, Union

import attrs

from groupmigrate.mime import MimeContent, decode_header
from groupmigrate.vocabulary import (
    FlagStatus, Importance, MessageKind, NoteColor, Response, Sensitivity, ShowAs, TaskStatus, _flag_status,
    _importance, _member_of, _message_kind, _note_color, _response, _sensitivity, _show_as, _task_status,
)  # fmt: skip

__all__ = [
    "ALL_ITEM_TYPES",
    "Attachment",
    "Attendee",
    "Contact",
    "Event",
    "FlagStatus",
    "Folder",
    "Importance",
    "Item",
    "ItemRef",
    "ItemType",
    "Mailbox",
    "Message",
    "MessageKind",
    "Note",
    "NoteColor",
    "Phone",
    "PostalAddress",
    "Response",
    "Sensitivity",
    "ShowAs",
    "Task",
    "TaskStatus",
    "folder_color",
]

ItemType = Literal["mail", "contacts", "calendar", "tasks", "notes"]
ALL_ITEM_TYPES: tuple[ItemType, ...] = ("mail", "contacts", "calendar", "tasks", "notes")

#: Well-known folder roles, the same on every server whatever the folder is called there.
FOLDER_ROLES = frozenset(
    {
        "inbox", "sent", "drafts", "deleted", "junk", "outbox", "archive",
        "calendar", "contacts", "tasks", "notes",
    }
)  # fmt: skip
ATTENDEE_ROLES = ("required", "optional", "resource")


def _one_of(choices: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:  # type: ignore[type-arg]
        if value is not None and value not in choices:
            raise ValueError(
                f"{type(instance).__name__}.{attribute.name}: {value!r} is not one of {', '.join(choices)}"
            )

    return check


def _aware(instance: object, attribute: attrs.Attribute, value: object) -> None:  # type: ignore[type-arg]
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise ValueError(f"{type(instance).__name__}.{attribute.name}: datetime must carry a time zone")


def _non_negative(instance: object, attribute: attrs.Attribute, value: object) -> None:  # type: ignore[type-arg]
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{type(instance).__name__}.{attribute.name}: must not be negative, got {value}")


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    return tuple(value)


def _names(value: Any) -> tuple[str, ...]:
    """Display names aligned with a list of addresses: None becomes "", and no name at all ()."""
    names = tuple("" if v is None else str(v) for v in _tuple(value))
    return names if any(names) else ()


@attrs.frozen
class Mailbox:
    """A mailbox address on one server."""

    address: str


_HEX = frozenset("0123456789ABCDEF")


def folder_color(value: object) -> str | None:
    """A folder colour as ``#RRGGBB`` or ``#RRGGBBAA`` (upper case); None for anything else.

    Accepts those forms in any case, with or without the ``#`` and surrounding blanks, and
    the short forms ``#RGB`` / ``#RGBA``. Never raises: a colour read from a server that is
    not one is simply no colour.
    """
    if not isinstance(value, str):
        return None
    digits = value.strip().removeprefix("#").upper()
    if not digits or not set(digits) <= _HEX:
        return None
    if len(digits) in (3, 4):
        digits = "".join(d * 2 for d in digits)
    return f"#{digits}" if len(digits) in (6, 8) else None


@attrs.frozen
class Folder:
    """A folder of a mailbox.

    ``path`` is the tuple of folder names from the top of the mailbox (so a name may contain
    ``/``); ``kind`` is the item type the folder holds; ``role`` the well-known role (inbox,
    sent, ..., calendar) or None; ``folder_id`` the backend's id, opaque to the core.
    ``color`` is the colour a client shows the folder in (calendars and address books), as
    ``#RRGGBB`` or ``#RRGGBBAA``; any other value becomes None (see :func:`folder_color`).
    Like ``folder_id`` it is not part of a folder's identity: two folders that differ only
    in colour (or id) are equal.
    """

    path: tuple[str, ...] = attrs.field(converter=_tuple)
    kind: ItemType = attrs.field(default="mail", validator=_one_of(ALL_ITEM_TYPES))
    role: str | None = attrs.field(default=None, validator=_one_of(tuple(sorted(FOLDER_ROLES))))
    folder_id: str | None = attrs.field(default=None, eq=False)
    display_name: str = attrs.field(default="")
    color: str | None = attrs.field(default=None, converter=folder_color, eq=False)

    def __attrs_post_init__(self) -> None:
        if not self.path:
            raise ValueError("Folder.path: must hold at least one name")
        if any(not name for name in self.path):
            raise ValueError(f"Folder.path: empty folder name in {self.path!r}")
        if not self.display_name:
            object.__setattr__(self, "display_name", self.path[-1])

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def parent_path(self) -> tuple[str, ...]:
        return self.path[:-1]

    def __str__(self) -> str:
        return "/".join(p.replace("/", "\\/") for p in self.path)


@attrs.frozen
class ItemRef:
    """A listed item before it is fetched: enough to plan byte-bounded batches."""

    id: str
    size: int = attrs.field(default=0, validator=_non_negative)
    changed: dt.datetime | None = None
    item_type: ItemType = "mail"


@attrs.frozen(repr=False)
class Attachment:
    """A file attached to an item; ``content`` holds its bytes."""

    name: str
    content: bytes = attrs.field(default=b"")
    content_type: str = "application/octet-stream"
    is_inline: bool = False
    content_id: str | None = None
    is_contact_photo: bool = False

    @property
    def size(self) -> int:
        return len(self.content)

    def __repr__(self) -> str:
        return f"Attachment(name={self.name!r}, content_type={self.content_type!r}, size={self.size})"


_NO_MIME = MimeContent(b"")


def _mime_content(value: object) -> MimeContent:
    return MimeContent.of(value)


@attrs.frozen(repr=False)
class Message:
    """A mail: the raw MIME as the source holds it, plus the properties MIME does not carry.

    ``kind`` says what the message is (a mail, a meeting request, a delivery report ...), as
    far as the source can tell; it is informational: the MIME is copied the same way for each.
    """

    item_type: ClassVar[ItemType] = "mail"

    #: the MIME as it arrived (see :attr:`mime` and :attr:`content`); ``Message(mime=...)``
    #: takes raw bytes or a :class:`~groupmigrate.mime.MimeContent`
    _mime: MimeContent = attrs.field(default=_NO_MIME, converter=_mime_content, alias="mime")
    is_read: bool = False
    flag: FlagStatus = attrs.field(default=FlagStatus.NONE, converter=_flag_status, validator=_member_of(FlagStatus))
    categories: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    importance: Importance = attrs.field(
        default=Importance.NORMAL, converter=_importance, validator=_member_of(Importance)
    )
    received: dt.datetime | None = attrs.field(default=None, validator=_aware)
    sent: dt.datetime | None = attrs.field(default=None, validator=_aware)
    size: int = attrs.field(default=0, validator=_non_negative)
    message_id: str | None = None
    subject: str | None = None
    sender: str | None = None
    kind: MessageKind = attrs.field(
        default=MessageKind.MAIL, converter=_message_kind, validator=_member_of(MessageKind)
    )
    #: who may see the message (Outlook's Normal / Personal / Private / Confidential)
    sensitivity: Sensitivity = attrs.field(
        default=Sensitivity.NORMAL, converter=_sensitivity, validator=_member_of(Sensitivity)
    )
    #: the follow-up flag's start and due dates and when it was marked complete
    flag_start: dt.datetime | None = attrs.field(default=None, validator=_aware)
    flag_due: dt.datetime | None = attrs.field(default=None, validator=_aware)
    flag_completed: dt.datetime | None = attrs.field(default=None, validator=_aware)
    #: the follow-up text shown with the flag ("Follow up", "Call", "Reply to all" ...)
    flag_request: str | None = None
    #: when the message's reminder fires; None when no reminder is set
    reminder: dt.datetime | None = attrs.field(default=None, validator=_aware)
    source_id: str | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.flag_start is not None and self.flag_due is not None and self.flag_due < self.flag_start:
            raise ValueError(f"Message.flag_due: {self.flag_due} is before flag_start {self.flag_start}")
        if not self.size and self._mime:
            object.__setattr__(self, "size", self._mime.size)

    @property
    def mime(self) -> bytes:
        """The raw MIME bytes. Decoded on each access when the MIME arrived as base64 text:
        code on the copying path reads :attr:`content` instead."""
        return self._mime.raw()

    @property
    def content(self) -> MimeContent:
        """The MIME as it arrived, readable without decoding it whole (size, header block)."""
        return self._mime

    @classmethod
    def from_mime(cls, mime: bytes | MimeContent, **kwargs: object) -> Message:
        """Build a message from MIME (raw bytes, or as a server sent it), taking Message-ID,
        subject, sender and date from its headers."""
        content = MimeContent.of(mime)
        # Only the header block is parsed: a 20 MB message costs no more than a 2 KB one here.
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(content.header_block())
        values: dict[str, object] = {}
        if headers.get("Message-ID"):
            values["message_id"] = str(headers["Message-ID"]).strip()
        if headers.get("Subject") is not None:
            values["subject"] = decode_header(headers["Subject"])
        if headers.get("From"):
            values["sender"] = decode_header(headers["From"])
        if headers.get("Date"):
            try:
                sent = email.utils.parsedate_to_datetime(str(headers["Date"]))
                if sent.tzinfo is not None:
                    values["sent"] = sent
            except (TypeError, ValueError, IndexError):
                pass
        values.update(kwargs)
        return cls(mime=content, **values)  # type: ignore[arg-type]

    @property
    def attachment_bytes(self) -> int:
        """Total size of the attachments in the MIME, as decoded bytes (0 when none)."""
        from groupmigrate.mime import attachment_sizes

        if not self._mime:
            return 0
        return sum(attachment_sizes(self._mime.raw()))

    def __repr__(self) -> str:
        return f"Message(subject={self.subject!r}, message_id={self.message_id!r}, size={self.size})"


@attrs.frozen
class Phone:
    label: str
    number: str


@attrs.frozen
class PostalAddress:
    """A postal address; ``mailing`` marks the one letters go to (at most one per contact)."""

    label: str = "home"
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    mailing: bool = False


@attrs.frozen(repr=False)
class Contact:
    """A contact, or a distribution list when ``is_distribution_list`` is set."""

    item_type: ClassVar[ItemType] = "contacts"

    display_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    surname: str | None = None
    nickname: str | None = None
    emails: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    phones: tuple[Phone, ...] = attrs.field(default=(), converter=_tuple)
    addresses: tuple[PostalAddress, ...] = attrs.field(default=(), converter=_tuple)
    company: str | None = None
    department: str | None = None
    job_title: str | None = None
    birthday: dt.date | None = None
    websites: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    notes: str | None = None
    photo: bytes | None = None
    categories: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=_tuple)
    is_distribution_list: bool = False
    members: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    source_id: str | None = attrs.field(default=None, eq=False)
    #: the display name of each address in ``emails`` ("Anna Meier (Privat)"), "" where it
    #: has none; empty, or exactly as long as ``emails``
    email_names: tuple[str, ...] = attrs.field(default=(), converter=_names)
    #: the display name of each address in ``members``, like ``email_names``
    member_names: tuple[str, ...] = attrs.field(default=(), converter=_names)
    initials: str | None = None
    #: the name suffix ("Jr.", "III")
    generation: str | None = None
    #: what the contact is filed (sorted) as, e.g. "Meier, Anna" or a company name
    file_as: str | None = None
    manager: str | None = None
    assistant_name: str | None = None
    spouse_name: str | None = None
    children: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    profession: str | None = None
    office_location: str | None = None
    #: the personal home page; ``websites`` are the business home pages
    personal_homepage: str | None = None
    #: instant-messaging addresses (``sip:anna@example.org``)
    im_addresses: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    wedding_anniversary: dt.date | None = None

    def __attrs_post_init__(self) -> None:
        for names, values, what in ((self.email_names, self.emails, "emails"), (self.member_names, self.members, "members")):
            if names and len(names) != len(values):
                raise ValueError(
                    f"Contact.{'email' if what == 'emails' else 'member'}_names: {len(names)} name(s) for "
                    f"{len(values)} {what}; give one per value (\"\" for none) or none at all"
                )
        if sum(1 for a in self.addresses if a.mailing) > 1:
            raise ValueError("Contact.addresses: more than one address is marked as the mailing address")

    @property
    def size(self) -> int:
        return len(self.photo or b"") + sum(a.size for a in self.attachments) + 1024

    @property
    def named_emails(self) -> tuple[tuple[str, str], ...]:
        """``(address, display name)`` pairs; the name is "" where the address has none."""
        return tuple(zip(self.emails, self.email_names or ("",) * len(self.emails)))

    def __repr__(self) -> str:
        return f"Contact(display_name={self.display_name!r}, emails={len(self.emails)})"


@attrs.frozen
class Attendee:
    address: str
    name: str | None = None
    role: str = attrs.field(default="required", validator=_one_of(ATTENDEE_ROLES))
    response: Response | None = attrs.field(default=None, converter=_response, validator=_member_of(Response))


@attrs.frozen(repr=False)
class Event:
    """A calendar item: a single appointment, a recurring master, or one modified occurrence.

    ``recurrence`` is an RFC 5545 RRULE value (``FREQ=WEEKLY;BYDAY=MO;COUNT=10``) with the
    series starting at ``start``; ``exceptions`` are modified occurrences (each an Event with
    ``recurrence_id`` set to the original start) and ``deleted_occurrences`` the original
    starts of removed ones. ``timezone`` is the IANA name the times were entered in.
    """

    item_type: ClassVar[ItemType] = "calendar"

    subject: str | None = None
    start: dt.datetime | dt.date | None = attrs.field(default=None, validator=_aware)
    end: dt.datetime | dt.date | None = attrs.field(default=None, validator=_aware)
    timezone: str | None = None
    is_all_day: bool = False
    body: str | None = None
    body_is_html: bool = False
    location: str | None = None
    organizer: str | None = None
    attendees: tuple[Attendee, ...] = attrs.field(default=(), converter=_tuple)
    recurrence: str | None = None
    exceptions: tuple[Event, ...] = attrs.field(default=(), converter=_tuple)
    deleted_occurrences: tuple[dt.datetime, ...] = attrs.field(default=(), converter=_tuple)
    #: extra occurrences outside the rule (iCalendar RDATE), as their starts
    recurrence_dates: tuple[dt.datetime | dt.date, ...] = attrs.field(default=(), converter=_tuple)
    recurrence_id: dt.datetime | None = attrs.field(default=None, validator=_aware)
    uid: str | None = None
    reminder_minutes: int | None = attrs.field(default=None, validator=attrs.validators.optional(_non_negative))
    #: whether the reminder is on; None (the default) means "on when ``reminder_minutes`` is set"
    reminder_is_set: bool | None = None
    show_as: ShowAs = attrs.field(default=ShowAs.BUSY, converter=_show_as, validator=_member_of(ShowAs))
    sensitivity: Sensitivity = attrs.field(
        default=Sensitivity.NORMAL, converter=_sensitivity, validator=_member_of(Sensitivity)
    )
    categories: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=_tuple)
    importance: Importance = attrs.field(
        default=Importance.NORMAL, converter=_importance, validator=_member_of(Importance)
    )
    #: the address people join an online meeting at
    online_meeting_url: str | None = None
    meeting_workspace_url: str | None = None
    source_id: str | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.reminder_is_set is None:
            object.__setattr__(self, "reminder_is_set", self.reminder_minutes is not None)
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"Event.end: {self.end} is before start {self.start}")
        if self.recurrence is not None and "FREQ=" not in self.recurrence.upper():
            raise ValueError(f"Event.recurrence: {self.recurrence!r} is not an RRULE (no FREQ=)")

    @property
    def size(self) -> int:
        return len(self.body or "") + sum(a.size for a in self.attachments) + 1024

    def __repr__(self) -> str:
        return f"Event(subject={self.subject!r}, start={self.start!s}, recurring={self.recurrence is not None})"


@attrs.frozen(repr=False)
class Task:
    item_type: ClassVar[ItemType] = "tasks"

    subject: str | None = None
    body: str | None = None
    start: dt.date | None = None
    due: dt.date | None = None
    completed: dt.datetime | dt.date | None = None
    status: TaskStatus = attrs.field(
        default=TaskStatus.NOT_STARTED, converter=_task_status, validator=_member_of(TaskStatus)
    )
    percent_complete: int = attrs.field(default=0)
    importance: Importance = attrs.field(
        default=Importance.NORMAL, converter=_importance, validator=_member_of(Importance)
    )
    recurrence: str | None = None
    categories: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: when the reminder fires; ``reminder_is_set`` None (the default) means "on when ``reminder_at`` is set"
    reminder_at: dt.datetime | None = attrs.field(default=None, validator=_aware)
    reminder_is_set: bool | None = None
    #: the task's owner as the server shows it (a display name)
    owner: str | None = None
    #: total and actual work, in minutes
    total_work: int | None = attrs.field(default=None, validator=attrs.validators.optional(_non_negative))
    actual_work: int | None = attrs.field(default=None, validator=attrs.validators.optional(_non_negative))
    mileage: str | None = None
    billing_information: str | None = None
    companies: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    source_id: str | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.reminder_is_set is None:
            object.__setattr__(self, "reminder_is_set", self.reminder_at is not None)

    @percent_complete.validator
    def _check_percent(self, attribute: attrs.Attribute, value: int) -> None:  # type: ignore[type-arg]
        if not 0 <= value <= 100:
            raise ValueError(f"Task.percent_complete: must be between 0 and 100, got {value}")

    @property
    def size(self) -> int:
        return len(self.body or "") + 512

    def __repr__(self) -> str:
        return f"Task(subject={self.subject!r}, status={str(self.status)!r})"


@attrs.frozen(repr=False)
class Note:
    """A sticky note."""

    item_type: ClassVar[ItemType] = "notes"

    subject: str | None = None
    body: str | None = None
    color: NoteColor | None = attrs.field(default=None, converter=_note_color, validator=_member_of(NoteColor))
    categories: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    created: dt.datetime | None = attrs.field(default=None, validator=_aware)
    modified: dt.datetime | None = attrs.field(default=None, validator=_aware)
    #: the note window's size in pixels, as Outlook keeps it (None: the client's default)
    width: int | None = attrs.field(default=None, validator=attrs.validators.optional(_non_negative))
    height: int | None = attrs.field(default=None, validator=attrs.validators.optional(_non_negative))
    source_id: str | None = attrs.field(default=None, eq=False)

    @property
    def size(self) -> int:
        return len(self.body or "") + 256

    def __repr__(self) -> str:
        return f"Note(subject={self.subject!r})"


Item = Union[Message, Contact, Event, Task, Note]

ITEM_CLASSES: dict[ItemType, type] = {
    "mail": Message,
    "contacts": Contact,
    "calendar": Event,
    "tasks": Task,
    "notes": Note,
}
