"""Content identity of items this migration did not create.

Whether an item was already migrated is decided by provenance (the state's id map and the
stamps a destination keeps), never here. Content identity serves one purpose: recognising an
item that is already on the destination because someone put it there (by hand, with another
tool, or with a state file that was thrown away on a destination that keeps no stamps).

Two levels:

- :func:`fingerprint` is a cheap *candidate* key computed from what a destination lists
  without the MIME (defined per item type below). Distinct items can share it.
- :func:`content_fingerprint` covers everything a user sees (for mail: every header a
  server does not rewrite, and the body), so distinct items never match. A candidate is
  taken as "already there" only when its content fingerprint matches too.

Candidate keys:

Fingerprints are short strings, ``"<item type>:<32 hex digits>"`` (a 128-bit BLAKE2b
digest of normalized fields), the same in every process and on every run:

============  ===================================================================================
mail          the normalized Message-ID (white space removed, ``<>`` stripped, domain part
              lower-cased); without one: Date (UTC, to the second), the From address and the
              Subject (decoded, white space collapsed, case-folded)
contacts      display name (or given + middle + surname) and the sorted email addresses;
              the sorted phone numbers only when there is no email address; distribution
              lists: name and sorted members
calendar      UID, recurrence id and start (UTC; all-day events: the date); without a UID:
              subject, start and end
tasks         subject, due date and a digest of the body text
notes         subject and a digest of the body text
============  ===================================================================================

The mail fingerprint uses only what a destination returns without the MIME (Message-ID,
subject, sender, sent), so ``fingerprint(Message.from_mime(mime))`` equals the fingerprint
of the same message listed from the destination. Fingerprint items as they are created
(after mapping and sanitizing): that is what the destination will hold.

Two different messages can share a Message-ID (some mailers reuse them): their candidate keys
are equal, their content fingerprints are not, so neither is taken for the other.

:class:`DuplicatePolicy` says what to do with exact copies of an item within the source.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.parser
import email.policy
import email.utils
import enum
import hashlib
import re
import unicodedata
from typing import Any

import attrs

from groupmigrate.items import Contact, Event, Item, Message, Note, Task
from groupmigrate.mime import html_to_text
from groupmigrate.headers import collapse, decode_words

__all__ = [
    "DuplicatePolicy",
    "content_fingerprint",
    "fingerprint",
    "normalize_message_id",
]

_SEP = "\x1f"  # between hashed fields, so ("ab", "c") and ("a", "bc") differ
_DIGEST_HEX = 32  # hex digits of a fingerprint's digest
_WHITESPACE = re.compile(r"\s+")
_ANGLE_ADDRESS = re.compile(r"<([^<>]*@[^<>]*)>")
# addr-specs in an address list; display names and comments never hold an unquoted "@"
_ADDR_SPEC = re.compile(r'[^\s<>,;:"()]+@[^\s<>,;:"()]+')


# --- fingerprints -------------------------------------------------------------------------------


def fingerprint(item: Item) -> str:
    """The fingerprint of ``item`` (see the module docstring for each item type).

    Args:
        item: a message, contact, calendar item, task or note.

    Returns:
        ``"<item type>:<32 hex digits>"``.

    Raises:
        TypeError: ``item`` is not a neutral item.
    """
    if isinstance(item, Message):
        return _mail(item)
    if isinstance(item, Contact):
        return _contact(item)
    if isinstance(item, Event):
        return _event(item)
    if isinstance(item, Task):
        return _digest("tasks", _text(item.subject), _date(item.due), _body(item.body))
    if isinstance(item, Note):
        return _digest("notes", _text(item.subject), _body(item.body))
    raise TypeError(f"fingerprint: not an item: {type(item).__name__}")


def normalize_message_id(value: str | None) -> str | None:
    """A Message-ID as compared: white space removed, ``<>`` stripped, domain lower-cased.

    The local part keeps its case (RFC 5322 leaves it case-sensitive). Returns None for an
    empty or missing value.
    """
    if not value:
        return None
    text = _WHITESPACE.sub("", value)
    bracketed = re.search(r"<([^<>]*)>", text)
    text = (bracketed.group(1) if bracketed else text).strip("<>")
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}" if at else text


def _digest(kind: str, *fields: str) -> str:
    data = _SEP.join(fields).encode("utf-8", "surrogatepass")
    return f"{kind}:{hashlib.blake2b(data, digest_size=_DIGEST_HEX // 2, person=kind.encode()).hexdigest()}"


def _text(value: str | None) -> str:
    """Text as compared: Unicode NFC, white space collapsed, case-folded."""
    return collapse(unicodedata.normalize("NFC", value or "")).casefold()


def _date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat()
    return value.isoformat()


def _body(value: str | None) -> str:
    """A digest of the text of a body, the same for HTML and its re-rendering by a server."""
    text = value or ""
    if "<" in text and ">" in text:
        text = html_to_text(text)
    return hashlib.blake2b(_text(text).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _address(value: str | None) -> str:
    """The address of ``Name <address>`` (or the value itself), lower-cased."""
    if not value:
        return ""
    bracketed = _ANGLE_ADDRESS.search(value)
    address = bracketed.group(1) if bracketed else email.utils.parseaddr(value)[1]
    return (address.strip() if "@" in address else collapse(value)).casefold()


# --- mail ---


def _mail(message: Message) -> str:
    headers = _HeaderSource(message)
    message_id = normalize_message_id(message.message_id or headers.get("Message-ID"))
    if message_id is not None:
        return _digest("mail", "id", message_id)
    sent = message.sent if message.sent is not None else headers.date()
    subject = message.subject if message.subject is not None else decode_words(headers.get("Subject") or "")
    sender = message.sender if message.sender is not None else decode_words(headers.get("From") or "")
    return _digest("mail", "headers", _date(sent), _address(sender), _text(subject))


class _HeaderSource:
    """The MIME headers of a message, parsed only if a property is missing."""

    def __init__(self, message: Message) -> None:
        self._mime = message.content
        self._parsed: email.message.Message | None = None

    def get(self, name: str) -> str | None:
        if not self._mime:
            return None
        if self._parsed is None:
            self._parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(self._mime.header_block())
        value = self._parsed.get(name)
        return None if value is None else str(value)

    def date(self) -> dt.datetime | None:
        return _parse_date(self.get("Date"))


def _parse_date(value: str | None) -> dt.datetime | None:
    # Parsed as Message.from_mime does, so both sides agree on which dates count.
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


# --- contacts, events ---


def _contact(contact: Contact) -> str:
    name = contact.display_name or " ".join(
        p for p in (contact.given_name, contact.middle_name, contact.surname) if p
    )
    if contact.is_distribution_list:
        return _digest("contacts", "list", _text(name), ",".join(sorted(_address(m) for m in contact.members)))
    emails = sorted(_address(e) for e in contact.emails)
    if emails:
        return _digest("contacts", "emails", _text(name), ",".join(emails))
    # Destinations store fewer phone fields than some sources, so phone numbers would make
    # the same contact look different after the trip; they only tell apart contacts that
    # have nothing else.
    phones = sorted(re.sub(r"[^0-9+]", "", p.number) for p in contact.phones)
    return _digest("contacts", "phones", _text(name), ",".join(phones))


def _event(event: Event) -> str:
    start = _event_time(event.start, event.is_all_day)
    if event.uid:
        return _digest("calendar", "uid", event.uid.strip(), _date(event.recurrence_id), start)
    end = _event_time(event.end, event.is_all_day)
    return _digest("calendar", "nouid", _text(event.subject), start, end)


def _event_time(value: dt.date | dt.datetime | None, all_day: bool) -> str:
    if all_day and isinstance(value, dt.datetime):
        return value.date().isoformat()  # all-day: the date as entered, not shifted to UTC
    return _date(value)


# --- content identity ------------------------------------------------------------------------------

#: Headers a user sees or a client threads by. Servers rewrite transport headers (Received,
#: Return-Path, X-*), encodings and MIME boundaries, never these.
#: the contact fields reset before digesting the rest (see :func:`content_fingerprint`)
_NO_EXTRAS: dict[str, Any] = {
    "initials": None, "generation": None, "manager": None, "assistant_name": None, "spouse_name": None,
    "children": (), "profession": None, "office_location": None, "personal_homepage": None,
    "im_addresses": (), "wedding_anniversary": None,
}  # fmt: skip

_CONTENT_HEADERS = (
    "message-id", "date", "from", "sender", "reply-to", "to", "cc", "bcc", "subject",
    "in-reply-to", "references", "importance", "priority",
)  # fmt: skip


def content_fingerprint(item: Item) -> str:
    """A digest of everything a user sees of ``item``: equal only for the same content.

    Mail: the headers in ``_CONTENT_HEADERS`` (decoded, unfolded, white space collapsed, each
    address list sorted) and the text of every MIME part with the names and sizes of its
    attachments; a message without MIME (as listed without it) has no content fingerprint
    beyond its candidate key. Other items: every field a user sees, normalized as a server
    stores it (text collapsed, HTML compared as text, phone numbers as digits).
    """
    if isinstance(item, Message):
        if not item.content:
            return fingerprint(item) + ":nomime"
        return _digest("mail", "content", *_mail_content(item.mime))
    if isinstance(item, Contact):
        name = item.display_name or " ".join(p for p in (item.given_name, item.middle_name, item.surname) if p)
        more = [
            _text(item.initials), _text(item.generation), _text(item.manager), _text(item.assistant_name),
            _text(item.spouse_name), ",".join(sorted(_text(c) for c in item.children)), _text(item.profession),
            _text(item.office_location), _text(item.personal_homepage),
            ",".join(sorted(_text(a).casefold() for a in item.im_addresses)), _date(item.wedding_anniversary),
        ]  # fmt: skip
        if any(more):  # contacts without these fields keep the digest they always had
            return _digest("contacts", "content+", content_fingerprint(attrs.evolve(item, **_NO_EXTRAS)), *more)
        return _digest(
            "contacts", "content", _text(name), _text(item.given_name), _text(item.surname), _text(item.company),
            _text(item.job_title), _text(item.department),
            ",".join(sorted(_address(e) for e in item.emails)),
            ",".join(sorted(re.sub(r"[^0-9+]", "", p.number) for p in item.phones)),
            ",".join(sorted(_text(" ".join(filter(None, (a.street, a.city, a.postal_code, a.country)))) for a in item.addresses)),
            _date(item.birthday), _body(item.notes), ",".join(sorted(_address(m) for m in item.members)),
        )  # fmt: skip
    if isinstance(item, Event):
        return _digest(
            "calendar", "content", fingerprint(item), _text(item.subject), _text(item.location),
            _event_time(item.end, item.is_all_day), _body(item.body), item.recurrence or "",
            ",".join(sorted(_address(a.address) for a in item.attendees)),
        )  # fmt: skip
    if isinstance(item, Task):
        return _digest(
            "tasks", "content", _text(item.subject), _date(item.start), _date(item.due), item.status,
            str(item.percent_complete), _body(item.body),
        )  # fmt: skip
    if isinstance(item, Note):
        return _digest("notes", "content", _text(item.subject), _body(item.body))
    raise TypeError(f"content_fingerprint: not an item: {type(item).__name__}")


def _mail_content(mime: bytes) -> list[str]:
    parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(mime)
    fields: list[str] = []
    for name in _CONTENT_HEADERS:
        values = [collapse(decode_words(str(v))) for v in parsed.get_all(name) or ()]
        if name in ("from", "sender", "reply-to", "to", "cc", "bcc"):
            values = [",".join(sorted(a.casefold() for a in _ADDR_SPEC.findall(v)) or [v.casefold()]) for v in values]
        elif name == "date":
            values = [_date(_parse_date(v)) or v for v in values]
        elif name == "message-id":
            values = [normalize_message_id(v) or "" for v in values]
        fields.append(f"{name}={'|'.join(values)}")
    for part in parsed.walk():
        if part.is_multipart():
            continue
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        kind = part.get_content_type()
        if kind.startswith("text/"):
            text = _decode(payload, part.get_content_charset() or "utf-8")
            fields.append(f"{kind}:{_body(text) if kind == 'text/html' else _text(text)}")
        else:
            fields.append(f"{kind}:{collapse(decode_words(part.get_filename() or ''))}:{hashlib.blake2b(payload, digest_size=16).hexdigest()}")
    return fields


def _decode(payload: bytes, charset: str) -> str:
    """``payload`` as text; as UTF-8 when ``charset`` names no usable text encoding."""
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError):  # unknown, not a text codec, or refusing "replace"
        return payload.decode("utf-8", "replace")


# --- exact copies in the source ------------------------------------------------------------------


class DuplicatePolicy(enum.Enum):
    """What to do when the source holds exact copies of an item (in one folder).

    Items are never merged because they look alike: only byte-identical copies (the same
    MIME; for other items every field the same) are candidates.

    - ``COPY`` (default): create every copy, so the destination mirrors the source.
    - ``REPORT``: create every copy, and log each exact copy for the user to review.
    - ``SKIP``: create the first, record the others as present; each is logged.
    """

    SKIP = "skip"
    COPY = "copy"
    REPORT = "report"
