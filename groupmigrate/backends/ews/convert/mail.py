"""Mail: exchangelib ``Message`` <-> :class:`~groupmigrate.items.Message`.

The MIME is the message; read state, flag, categories, importance, sensitivity and the
reminder travel beside it. Received and sent dates are kept through PR_MESSAGE_DELIVERY_TIME /
PR_CLIENT_SUBMIT_TIME (DateTimeReceived and DateTimeSent are read-only in EWS), and
PR_MESSAGE_FLAGS marks the created item as delivered rather than as an unsent draft. The
follow-up flag's start, due and completion dates and its text travel as the MAPI properties
behind EWS's Flag element (which Exchange 2010 SP2, WorkMail's version, does not have), so
they are read and written the same way on every server.
"""

from __future__ import annotations

import email.utils
from typing import Any

import attrs

from groupmigrate.backends.ews.convert.common import categories, ews_categories, ews_datetime, utc
from groupmigrate.backends.ews.convert.vocabulary import FLAG_STATUS, IMPORTANCE, MESSAGE_KIND, SENSITIVITY
from groupmigrate.backends.ews.models import FLAG_VALUES, MSGFLAG_READ, MailItem
from groupmigrate.items import FlagStatus, Importance, Message, Sensitivity
from groupmigrate.mime import MimeContent

__all__ = ["FIELDS", "LIGHT_FIELDS", "to_ews", "to_neutral", "light_to_neutral"]

#: Fields a full fetch asks for.
FIELDS = (
    "mime_content", "is_read", "categories", "importance", "datetime_received", "datetime_sent",
    "size", "item_class", "flag_status", "sensitivity", "reminder_is_set", "reminder_due_by", "flag_start",
    "flag_due", "flag_completed", "flag_request",
)  # fmt: skip
#: Fields enough for a duplicate fingerprint (no MIME).
LIGHT_FIELDS = ("message_id", "subject", "author", "datetime_sent", "datetime_received", "size", "item_class")

#: PidTagFlagStatus number -> EWS flag status
_FLAG_NAMES = {value: name for name, value in FLAG_VALUES.items()}


def _flag(number: Any) -> FlagStatus:
    return FLAG_STATUS.from_ews(_FLAG_NAMES.get(number or 0), FlagStatus.NONE)


def to_neutral(item: Any, item_id: str) -> Message:
    """A neutral message from a fetched exchangelib message (MIME included)."""
    mime = MimeContent.of(item.mime_content)
    message = Message.from_mime(
        mime,
        is_read=bool(item.is_read),
        flag=_flag(getattr(item, "flag_status", None)),
        categories=categories(item.categories),
        importance=IMPORTANCE.from_ews(item.importance, Importance.NORMAL),
        received=utc(item.datetime_received),
        size=item.size or mime.size,
        kind=MESSAGE_KIND.from_ews(item.item_class),
        sensitivity=SENSITIVITY.from_ews(getattr(item, "sensitivity", None), Sensitivity.NORMAL),
        flag_start=utc(getattr(item, "flag_start", None)),
        flag_due=utc(getattr(item, "flag_due", None)),
        flag_completed=utc(getattr(item, "flag_completed", None)),
        flag_request=getattr(item, "flag_request", None) or None,
        reminder=utc(item.reminder_due_by) if getattr(item, "reminder_is_set", False) else None,
        source_id=item_id,
    )
    if message.sent is None and item.datetime_sent is not None:
        message = attrs.evolve(message, sent=utc(item.datetime_sent))
    return message


def _address(mailbox: Any) -> str | None:
    if mailbox is None:
        return None
    name: str | None = mailbox.name
    address: str | None = mailbox.email_address
    if name and address:
        return email.utils.formataddr((name, address))
    return address or name


def light_to_neutral(item: Any, item_id: str) -> Message:
    """A neutral message without MIME, from a listing (for duplicate detection)."""
    return Message(
        message_id=item.message_id,
        subject=item.subject,
        sender=_address(getattr(item, "author", None)),
        sent=utc(item.datetime_sent),
        received=utc(item.datetime_received),
        size=item.size or 0,
        kind=MESSAGE_KIND.from_ews(item.item_class),
        source_id=item_id,
    )


def to_ews(message: Message) -> tuple[MailItem, list[str]]:
    """An exchangelib message to create from a neutral one (never sent: SaveOnly is the caller's job)."""
    item = MailItem(
        mime_content=message.content,
        is_read=message.is_read,
        categories=ews_categories(message.categories),
        importance=IMPORTANCE.to_ews(message.importance),
        flag_status=FLAG_VALUES[FLAG_STATUS.to_ews(message.flag)] if message.flag != FlagStatus.NONE else None,
        delivery_time=ews_datetime(message.received),
        submit_time=ews_datetime(message.sent),
        message_flags=MSGFLAG_READ if message.is_read else 0,
        sensitivity=SENSITIVITY.to_ews(message.sensitivity),
        flag_start=ews_datetime(message.flag_start),
        flag_due=ews_datetime(message.flag_due),
        flag_completed=ews_datetime(message.flag_completed),
        flag_request=message.flag_request or None,
    )
    if message.reminder is not None:
        item.reminder_is_set = True
        item.reminder_due_by = ews_datetime(message.reminder)
    return item, []
