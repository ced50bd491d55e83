"""IMAP messages ↔ :class:`~groupmigrate.items.Message`: flags, keywords and dates.

=====================  =====================================================================
IMAP                   Message
=====================  =====================================================================
``\\Seen``              ``is_read``
``\\Flagged``           ``flag = FLAGGED``
``$Completed``         ``flag = COMPLETE`` (a follow-up flag marked done: not ``\\Flagged``, so
                       IMAP clients show it as done; this backend's own keyword)
other keywords         ``categories``; a category that is not an IMAP atom (a space, a
                       non-ASCII letter, ``(`` ...) is written in modified UTF-7 (RFC 3501's
                       mailbox-name encoding, applied to every character an atom cannot hold)
                       and read back the same way
INTERNALDATE           ``received``
RFC822.SIZE            ``ItemRef.size``
BODY.PEEK[]            the MIME, byte for byte
=====================  =====================================================================

Not carried (``Message`` has no field for them): ``\\Answered``, ``\\Draft``, ``\\Deleted``
and the keywords with a meaning of their own (``$Forwarded``, ``$MDNSent``, ``$Junk``,
``$NotJunk``, ``Junk``, ``NonJunk``, ``$Phishing``, ``$SubmitPending``, ``$Submitted``,
``$HasAttachment``, ``$HasNoAttachment``): they are neither categories nor written.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import hashlib
from collections.abc import Iterable
from typing import Any

import attrs
from imapclient.imap_utf7 import base64_utf7_encode
from imapclient.imap_utf7 import decode as decode_utf7

from groupmigrate.items import FlagStatus, Message

__all__ = [
    "COMPLETED",
    "canonical",
    "category_for",
    "digest",
    "fields_from_flags",
    "flags_for",
    "header_message_id",
    "item_id",
    "keyword_for",
    "message_from_fetch",
    "parse_item_id",
]

UTC = dt.timezone.utc
#: the keyword a completed follow-up flag is kept as
COMPLETED = "$Completed"
#: keywords (lower-case) that mean something else than a category
SYSTEM_KEYWORDS = frozenset(
    k.lower()
    for k in (
        "$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "Junk", "NonJunk", "$Phishing", "$SubmitPending",
        "$Submitted", "$HasAttachment", "$HasNoAttachment", COMPLETED,
    )
)  # fmt: skip
_ATOM_SPECIALS = frozenset('(){%*"\\]')


# --- ids ---------------------------------------------------------------------------------------


def item_id(uidvalidity: int, uid: int) -> str:
    """A message's id: ``"<uidvalidity>.<uid>"`` (stable while the mailbox keeps its UIDVALIDITY)."""
    return f"{uidvalidity}.{uid}"


def parse_item_id(value: str) -> tuple[int, int] | None:
    """``(uidvalidity, uid)`` of an id, or None for an id that is not one of ours."""
    head, dot, tail = value.partition(".")
    if not dot or not head.isdigit() or not tail.isdigit():
        return None
    return int(head), int(tail)


# --- flags and keywords ------------------------------------------------------------------------


def keyword_for(category: str) -> str | None:
    """The IMAP keyword for a category (None for an empty one)."""
    if not category:
        return None
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            out.append("&" + base64_utf7_encode(pending).decode("ascii") + "-")
            pending.clear()

    for ch in category:
        if 0x21 <= ord(ch) <= 0x7E and ch not in _ATOM_SPECIALS:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def category_for(keyword: str) -> str | None:
    """The category a keyword stands for; None for system flags and keywords with a meaning."""
    if not keyword or keyword.startswith("\\") or keyword.lower() in SYSTEM_KEYWORDS:
        return None
    if "&" not in keyword:
        return keyword
    try:
        return str(decode_utf7(keyword.encode("ascii")))
    except (UnicodeError, ValueError):
        return keyword


def flags_for(message: Message) -> tuple[str, ...]:
    """The flags and keywords to APPEND a message with."""
    flags: list[str] = []
    if message.is_read:
        flags.append("\\Seen")
    if message.flag is FlagStatus.FLAGGED:
        flags.append("\\Flagged")
    elif message.flag is FlagStatus.COMPLETE:
        flags.append(COMPLETED)
    for category in message.categories:
        keyword = keyword_for(category)
        if keyword is not None and keyword not in flags:
            flags.append(keyword)
    return tuple(flags)


def fields_from_flags(flags: Iterable[Any]) -> dict[str, Any]:
    """``is_read``, ``flag`` and ``categories`` from a FLAGS answer."""
    names = [f.decode("utf-8", "replace") if isinstance(f, (bytes, bytearray)) else str(f) for f in flags]
    lowered = {n.lower() for n in names}
    if "\\flagged" in lowered:
        flag = FlagStatus.FLAGGED
    elif COMPLETED.lower() in lowered:
        flag = FlagStatus.COMPLETE
    else:
        flag = FlagStatus.NONE
    categories = [c for c in (category_for(n) for n in names) if c is not None]
    return {"is_read": "\\seen" in lowered, "flag": flag, "categories": tuple(dict.fromkeys(categories))}


# --- messages ----------------------------------------------------------------------------------


def _aware(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    moment: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def message_from_fetch(source_id: str, data: dict[bytes, Any], *, with_body: bool = True) -> Message:
    """A Message from a FETCH answer (``BODY[]``, or only header fields without ``with_body``)."""
    fields = fields_from_flags(data.get(b"FLAGS", ()))
    received = _aware(data.get(b"INTERNALDATE"))
    size = data.get(b"RFC822.SIZE")
    if with_body:
        raw = data.get(b"BODY[]") or b""
    else:
        raw = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"") or b""
    extra: dict[str, Any] = {"received": received, "source_id": source_id, **fields}
    if isinstance(size, int):
        extra["size"] = size
    try:
        message = Message.from_mime(bytes(raw), **extra)
    except (ValueError, TypeError):  # headers too broken to read: the bytes still travel
        message = Message(mime=bytes(raw), **extra)
    if not with_body:
        message = attrs.evolve(message, mime=b"")
    return message


def header_message_id(mime: bytes) -> str | None:
    """The Message-ID header as written in the MIME (for searching the server), or None."""
    block = mime
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = mime.find(separator)
        if end >= 0:
            block = mime[: end + len(separator)]
            break
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(block)
        value = headers.get("Message-ID")
    except Exception:  # noqa: BLE001 - a broken header block has no usable Message-ID
        return None
    text = str(value).strip() if value is not None else ""
    return text if text and text.isascii() and "\n" not in text and "\r" not in text else None


def canonical(mime: bytes) -> bytes:
    """The message as an IMAP server hands it out: every line ending (bare LF, bare CR) CRLF."""
    return mime.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def digest(mime: bytes) -> str:
    """SHA-256 of the canonical form (what a server holding these bytes returns)."""
    return hashlib.sha256(canonical(mime)).hexdigest()
