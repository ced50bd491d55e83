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

Two different messages can share a Message-ID (some mailers reuse them). The *strong*
fingerprint, :func:`strong_fingerprint`, appends a digest of the Date, From, To and Subject
headers and of the body (``"mail:<32 hex>:<16 hex>"``); it needs the MIME, so it exists
on the source side only. Give it to :meth:`DuplicateIndex.check` and the index tells two
such messages apart instead of taking the second for a duplicate of the first.
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
from collections.abc import Iterable

import attrs

from groupmigrate.items import Contact, Event, Item, Message, Note, Task
from groupmigrate.mime import html_to_text
from groupmigrate.headers import HeaderBlock, collapse, decode_words

__all__ = [
    "DuplicateIndex",
    "DuplicatePolicy",
    "Match",
    "content_fingerprint",
    "MatchKind",
    "fingerprint",
    "normalize_message_id",
    "primary_fingerprint",
    "strong_fingerprint",
]

_SEP = "\x1f"  # between hashed fields, so ("ab", "c") and ("a", "bc") differ
_PRIMARY_HEX = 32
_DETAIL_HEX = 16
_BOUNDARY_VALUE = re.compile(rb'\s*=\s*(?:"([^"\r\n]+)"|([^\s;"]+))')
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


def strong_fingerprint(item: Item) -> str:
    """The fingerprint of ``item`` refined by the content only the source has.

    For a message with MIME: :func:`fingerprint` + ``":"`` + 16 hex digits of the Date,
    From, To and Subject headers (unfolded, decoded, white space collapsed) and of the body
    (line endings normalized, MIME boundaries masked, so a re-fetch that renames boundaries
    or refolds headers gives the same value). For everything else: :func:`fingerprint`.
    """
    primary = fingerprint(item)
    if not isinstance(item, Message) or not item.mime:
        return primary
    return f"{primary}:{_mail_detail(item.mime)}"


def primary_fingerprint(fp: str) -> str:
    """The fingerprint part of a strong fingerprint (any fingerprint as it is otherwise)."""
    head, _, detail = fp.rpartition(":")
    if head.count(":") == 1 and len(detail) == _DETAIL_HEX and len(head) - head.index(":") - 1 == _PRIMARY_HEX:
        return head
    return fp


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
    return f"{kind}:{hashlib.blake2b(data, digest_size=_PRIMARY_HEX // 2, person=kind.encode()).hexdigest()}"


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
        self._mime = message.mime
        self._parsed: email.message.Message | None = None

    def get(self, name: str) -> str | None:
        if not self._mime:
            return None
        if self._parsed is None:
            self._parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(self._mime)
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


def _mail_detail(mime: bytes) -> str:
    block = HeaderBlock.parse(mime)
    values: dict[str, str] = {}
    for field in block.fields:
        name = HeaderBlock.name_of(field).lower()
        if name in ("date", "from", "to", "subject") and name not in values:
            values[name] = HeaderBlock.value_of(field)
    date = _parse_date(values.get("date"))
    to = sorted(a.casefold() for a in _ADDR_SPEC.findall(decode_words(values.get("to", ""))))
    parts = [
        _date(date) if date else collapse(values.get("date", "")),
        _address(decode_words(values.get("from", ""))),
        ",".join(to),
        _text(decode_words(values.get("subject", ""))),
        _raw_body_digest(mime, block.rest),
    ]
    data = _SEP.join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=_DETAIL_HEX // 2).hexdigest()


def _raw_body_digest(mime: bytes, body: bytes) -> str:
    # Servers may regenerate MIME boundaries and line endings on each fetch; neither is
    # content. Boundaries are masked (longest first, as one may contain another).
    text = body.replace(b"\r\n", b"\n").rstrip()
    for boundary in sorted(_boundaries(mime), key=len, reverse=True):
        text = text.replace(boundary, b"\x00boundary\x00")
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _boundaries(mime: bytes) -> set[bytes]:
    """The ``boundary=`` parameter values anywhere in the message."""
    # bytes.find on a lower-cased copy is several times faster than a case-insensitive
    # regular expression over the whole message.
    lowered = mime.lower()
    found: set[bytes] = set()
    position = lowered.find(b"boundary")
    while position != -1:
        match = _BOUNDARY_VALUE.match(mime, position + 8)
        if match is not None:
            value = (match.group(1) or match.group(2)).strip()
            if value:
                found.add(value)
        position = lowered.find(b"boundary", position + 8)
    return found


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
        if not item.mime:
            return fingerprint(item) + ":nomime"
        return _digest("mail", "content", *_mail_content(item.mime))
    if isinstance(item, Contact):
        name = item.display_name or " ".join(p for p in (item.given_name, item.middle_name, item.surname) if p)
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
            text = payload.decode(part.get_content_charset() or "utf-8", "replace")
            fields.append(f"{kind}:{_body(text) if kind == 'text/html' else _text(text)}")
        else:
            fields.append(f"{kind}:{collapse(decode_words(part.get_filename() or ''))}:{hashlib.blake2b(payload, digest_size=16).hexdigest()}")
    return fields


# --- the index -----------------------------------------------------------------------------------


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


class MatchKind(enum.Enum):
    """How a source item relates to what is known: see :meth:`DuplicateIndex.check`."""

    #: not on the destination, and the first of its kind in the source
    NEW = "new"
    #: already on the destination (from an earlier run, or put there otherwise)
    EXISTING = "existing"
    #: the same item as one seen earlier in the source during this run
    SOURCE_DUPLICATE = "source_duplicate"


@attrs.frozen
class Match:
    """The verdict of :meth:`DuplicateIndex.check` on one source item.

    Attributes:
        kind: see :class:`MatchKind`.
        fingerprint: the item's (primary) fingerprint.
        destination_id: the destination item it matches, when ``EXISTING`` and the id was
            given to :meth:`DuplicateIndex.add`.
        first_source_id: the source item it duplicates, when ``SOURCE_DUPLICATE`` and that
            item's id was given to :meth:`DuplicateIndex.check`.
        id_collision: another, different source item has the same fingerprint (two
            messages sharing one Message-ID, told apart by their strong fingerprints).
    """

    kind: MatchKind
    fingerprint: str
    destination_id: str | None = None
    first_source_id: str | None = None
    id_collision: bool = False

    @property
    def is_duplicate(self) -> bool:
        """True unless the item is new."""
        return self.kind is not MatchKind.NEW

    def create(self, policy: DuplicatePolicy = DuplicatePolicy.SKIP) -> bool:
        """Whether to create the item under ``policy``."""
        if self.kind is MatchKind.NEW:
            return True
        if self.kind is MatchKind.EXISTING:
            return False
        return policy is not DuplicatePolicy.SKIP

    def report(self, policy: DuplicatePolicy = DuplicatePolicy.SKIP) -> bool:
        """Whether to log the item as a duplicate under ``policy``."""
        if self.kind is MatchKind.SOURCE_DUPLICATE:
            return policy is not DuplicatePolicy.COPY
        return self.kind is MatchKind.EXISTING


class DuplicateIndex:
    """The fingerprints of one destination folder, and of what the source gave this run.

    Build it from the folder's existing items (:meth:`add`), then call :meth:`check` once
    per source item, in source order; :meth:`check` remembers the source item itself, so
    items created after it are not :meth:`add`-ed (call :meth:`forget_source` when a
    creation fails). A caller that does not use :meth:`check` may instead test
    ``fp in index`` and :meth:`add` each item it creates (:meth:`discard` on failure), at
    the cost of taking two messages that share a Message-ID for duplicates. Each lookup is O(1); digests are kept as 16-byte
    ``bytes`` (about 100 bytes per destination item in all; see ``benchmarks/dedup.py``).

    Destination fingerprints are counted, not merely recorded: a folder holding two copies
    of a message matches two source copies, so re-running a migration made with
    :attr:`DuplicatePolicy.COPY` creates nothing, while a third source copy is reported.

    Not thread-safe: use one index per folder, from one worker at a time.

    Args:
        fingerprints: destination fingerprints to :meth:`add` at once.
    """

    __slots__ = ("_claimed", "_dest", "_dest_ids", "_dest_more", "_details", "_source", "_source_ids")

    def __init__(self, fingerprints: Iterable[str] = ()) -> None:
        self._dest: set[bytes] = set()
        self._dest_more: dict[bytes, int] = {}  # copies beyond the first, rare
        self._dest_ids: dict[bytes, str] = {}
        self._claimed: dict[bytes, int] = {}
        self._source: dict[bytes, bytes] = {}  # primary -> first strong detail (b"" if none)
        self._details: dict[bytes, set[bytes]] = {}  # primary -> every detail, on collisions only
        self._source_ids: dict[bytes, str] = {}
        for fp in fingerprints:
            self.add(fp)

    # -- destination side ------------------------------------------------------------------

    def add(self, fp: str, item_id: str | None = None) -> None:
        """Record one item already on the destination.

        Args:
            fp: its fingerprint (a strong one counts as its primary).
            item_id: its destination id, reported in :attr:`Match.destination_id`
                (kept only when given: ids are long).
        """
        key, _ = _key(fp)
        if key in self._dest:
            self._dest_more[key] = self._dest_more.get(key, 0) + 1
        else:
            self._dest.add(key)
        if item_id is not None:
            self._dest_ids.setdefault(key, item_id)

    def __contains__(self, fp: object) -> bool:
        """True when an item with this fingerprint is on the destination."""
        return isinstance(fp, str) and _key(fp)[0] in self._dest

    def __len__(self) -> int:
        """The number of distinct fingerprints on the destination."""
        return len(self._dest)

    def count(self, fp: str) -> int:
        """How many destination items have this fingerprint."""
        return self._count(_key(fp)[0])

    def _count(self, key: bytes) -> int:
        return (key in self._dest) + self._dest_more.get(key, 0)

    def destination_id(self, fp: str) -> str | None:
        """The id given with the first destination item of this fingerprint, if any."""
        return self._dest_ids.get(_key(fp)[0])

    def get(self, fp: str, default: str | None = None) -> str | None:
        """Like :meth:`destination_id`, mapping style: ``default`` when no id is known."""
        item_id = self._dest_ids.get(_key(fp)[0])
        return default if item_id is None else item_id

    def discard(self, fp: str) -> None:
        """Forget one destination item with this fingerprint (e.g. added, then not created).

        Does nothing when there is none.
        """
        key, _ = _key(fp)
        more = self._dest_more.get(key, 0)
        if more > 1:
            self._dest_more[key] = more - 1
        elif more == 1:
            del self._dest_more[key]
        elif key in self._dest:
            self._dest.discard(key)
            self._dest_ids.pop(key, None)

    # -- source side -----------------------------------------------------------------------

    def seen_in_source(self, fp: str) -> bool:
        """True when :meth:`check` already had an item with this (primary) fingerprint."""
        return _key(fp)[0] in self._source

    def check(self, fp: str, source_id: str | None = None) -> Match:
        """Classify one source item and remember it.

        Args:
            fp: the item's fingerprint; for messages preferably :func:`strong_fingerprint`,
                so that two different messages sharing a Message-ID are told apart.
            source_id: the item's source id, reported as :attr:`Match.first_source_id` of
                later duplicates (kept only when given).

        Returns:
            ``EXISTING`` while the destination holds unmatched items with the fingerprint
            (each destination item matches one source item); else ``SOURCE_DUPLICATE`` when
            an equal item came earlier in the source; else ``NEW`` (with ``id_collision``
            when an earlier source item shared only the primary fingerprint).
        """
        key, detail = _key(fp)
        seen, same = self._remember(key, detail)
        collision = seen and not same
        if source_id is not None and not (seen and same):
            self._source_ids.setdefault(key + detail, source_id)
        primary = primary_fingerprint(fp)
        claimed = self._claimed.get(key, 0)
        if claimed < self._count(key):
            self._claimed[key] = claimed + 1
            return Match(MatchKind.EXISTING, primary, self._dest_ids.get(key), id_collision=collision)
        if seen and same:
            first = self._source_ids.get(key + detail) or self._source_ids.get(key)
            return Match(MatchKind.SOURCE_DUPLICATE, primary, first_source_id=first)
        return Match(MatchKind.NEW, primary, id_collision=collision)

    def _remember(self, key: bytes, detail: bytes) -> tuple[bool, bool]:
        """Record ``key``/``detail``; return (seen before, with the same detail)."""
        first = self._source.get(key)
        if first is None:
            self._source[key] = detail
            return False, True
        if not first or not detail:
            return True, True  # without a strong fingerprint the two cannot be told apart
        details = self._details.get(key)
        if details is None:
            if first == detail:
                return True, True
            self._details[key] = {first, detail}
            return True, False
        if detail in details:
            return True, True
        details.add(detail)
        return True, False

    def forget_source(self, fp: str) -> None:
        """Forget that :meth:`check` saw this fingerprint, e.g. when creating the item failed,
        so that a later copy in the source is not taken for a duplicate of an item that was
        never created. Matches already made with destination items stay made.
        """
        key, detail = _key(fp)
        details = self._details.get(key)
        if details is not None and detail in details and len(details) > 1:
            details.discard(detail)  # the other messages sharing the id stay known
            if self._source.get(key) == detail:
                self._source[key] = next(iter(details))
            return
        self._source.pop(key, None)
        self._details.pop(key, None)

    @property
    def source_count(self) -> int:
        """The number of distinct (primary) fingerprints :meth:`check` has seen."""
        return len(self._source)

    def missing(self, fps: Iterable[str]) -> list[str]:
        """The source fingerprints with no destination item left to match them.

        For verification: counts multiplicity, so three source copies against two
        destination copies list the fingerprint once. Does not change the index.
        """
        used: dict[bytes, int] = {}
        out: list[str] = []
        for fp in fps:
            key, _ = _key(fp)
            used[key] = used.get(key, 0) + 1
            if used[key] > self._count(key):
                out.append(primary_fingerprint(fp))
        return out


def _key(fp: str) -> tuple[bytes, bytes]:
    """(16-byte primary digest, 8-byte detail or b"") of a fingerprint."""
    # Split and fromhex rather than a regular expression: this runs once per lookup.
    parts = fp.split(":")
    try:
        if len(parts) == 2 and len(parts[1]) == _PRIMARY_HEX:
            key, detail = bytes.fromhex(parts[1]), b""
        elif len(parts) == 3 and len(parts[1]) == _PRIMARY_HEX and len(parts[2]) == _DETAIL_HEX:
            key, detail = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        else:
            key = detail = b""
        if len(key) == _PRIMARY_HEX // 2:
            return key, detail
    except ValueError:
        pass
    # Not one of ours: still usable, keyed by a digest of the whole string.
    return hashlib.blake2b(fp.encode("utf-8", "surrogatepass"), digest_size=16).digest(), b""
