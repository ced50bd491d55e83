"""MIME as it travels (:class:`MimeContent`) and small, tolerant helpers over raw MIME bytes
and bodies (never rewrite a message)."""

from __future__ import annotations

import binascii
import email.header
import mmap
import email.parser
import email.policy
import html
import re
from collections.abc import Iterator

__all__ = ["MimeContent", "attachment_sizes", "decode_base64", "decode_header", "html_to_text"]

_HTML_DROP = re.compile(r"<(head|style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_BREAK = re.compile(r"<(?:br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")
#: tags inside a line of text: removed without a space ("<b>budget</b>," stays "budget,")
_HTML_INLINE = re.compile(
    r"</?(?:a|abbr|b|big|cite|code|em|font|i|mark|q|s|small|span|strike|strong|sub|sup|u)\b[^>]*>", re.IGNORECASE
)


_LINE_BREAKS = (b"\n", b"\r")


def decode_base64(text: bytes | mmap.mmap) -> bytes:
    """The bytes of a whitespace-free, padded base64 text (the one place MIME is decoded)."""
    return binascii.a2b_base64(text)


class MimeContent:
    """A message's MIME, held the way it arrived: raw bytes, or the base64 text a server sent.

    A message read from an EWS server arrives as base64 text and, when nothing in it needs
    changing, leaves for the destination as that same text: its body is never decoded, hashed
    or encoded again. What the library needs to know about it is read without decoding the
    whole: :attr:`size` comes from the text's length and :meth:`header_block` decodes only as
    much of the start as holds the header block. :meth:`raw` decodes (each time it is called:
    the decoded bytes are not kept, so a big message is held once, as text).
    """

    __slots__ = ("_header", "_raw", "_text")

    def __init__(self, raw: bytes | None = None, *, base64: bytes | str | mmap.mmap | None = None) -> None:
        if (raw is None) == (base64 is None):
            raise TypeError("MimeContent takes either raw bytes or base64 text")
        text: bytes | mmap.mmap | None = None
        if isinstance(base64, mmap.mmap):
            # a big text in memory of its own (see groupmigrate.backends.ews.mimewire)
            text = base64
            if text.find(b"\n") >= 0 or text.find(b"\r") >= 0 or len(text) % 4:
                text = bytes(text)
                text = b"".join(text.split())
                text += b"=" * (-len(text) % 4)
        elif base64 is not None:
            if isinstance(base64, str):
                try:
                    text = base64.encode("ascii")
                except UnicodeEncodeError:
                    raise ValueError("MIME base64 text holds a character that is not ASCII") from None
            elif isinstance(base64, (bytes, bytearray, memoryview)):
                text = bytes(base64)
            else:
                raise TypeError(f"MimeContent base64 text must be bytes or str, not {type(base64).__name__}")
            if any(brk in text for brk in _LINE_BREAKS):
                text = b"".join(text.split())
            if len(text) % 4:
                text += b"=" * (-len(text) % 4)
        elif raw is not None and not isinstance(raw, bytes):
            raw = bytes(raw)  # bytearray, memoryview
        self._raw = raw
        self._text = text
        self._header: bytes | None = None

    @classmethod
    def of(cls, value: object) -> MimeContent:
        """``value`` as a MimeContent (itself, or raw bytes wrapped)."""
        if isinstance(value, MimeContent):
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            return cls(bytes(value))
        if value is None:
            return cls(b"")
        raise TypeError(f"MIME must be bytes or MimeContent, not {type(value).__name__}")

    @classmethod
    def from_base64(cls, text: bytes | str) -> MimeContent:
        """The MIME whose base64 encoding is ``text`` (line breaks and missing padding allowed;
        no other white space)."""
        return cls(base64=text)

    @property
    def is_encoded(self) -> bool:
        """Whether the MIME is held as base64 text (as it arrived)."""
        return self._text is not None

    @property
    def size(self) -> int:
        """The size of the raw MIME in bytes (computed, never decoded)."""
        if self._raw is not None:
            return len(self._raw)
        text = self._text if self._text is not None else b""
        tail = text[-2:]
        padding = 2 if tail == b"==" else 1 if tail[-1:] == b"=" else 0
        return len(text) // 4 * 3 - padding

    def raw(self) -> bytes:
        """The raw MIME bytes (decoded now when held as text)."""
        if self._raw is not None:
            return self._raw
        return decode_base64(self._text if self._text is not None else b"")

    def base64(self) -> bytes | mmap.mmap:
        """The base64 text of the MIME (ASCII, no line breaks; encoded now when held raw).

        A big text may be held in memory of its own (an anonymous ``mmap``), returned to the
        system as soon as the message is dropped: it reads like bytes (slicing, ``len``, the
        buffer protocol); ``bytes()`` copies it."""
        if self._text is not None:
            return self._text
        return binascii.b2a_base64(self._raw or b"", newline=False)

    def head(self, size: int) -> bytes:
        """The first ``size`` raw bytes (or fewer), decoding only what they need."""
        if self._raw is not None:
            return self._raw[:size]
        text = self._text if self._text is not None else b""
        return decode_base64(text[: -(-size // 3) * 4])[:size]

    def header_block(self) -> bytes:
        """The header block, up to and including the first empty line (all of it when none).

        Kept once read: identity, labels and the sanitizer all read it."""
        if self._header is not None:
            return self._header
        want = 6144
        while True:
            head = self.head(want)
            block = _header_block(head)
            if len(block) < len(head) or len(head) < want:
                self._header = block
                return block
            want *= 4

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (bytes, bytearray)):
            other = MimeContent(bytes(other))
        if not isinstance(other, MimeContent):
            return NotImplemented
        if self.size != other.size:
            return False
        if self._text is not None and other._text is not None:
            return memoryview(self._text) == memoryview(other._text)
        return self.raw() == other.raw()

    def __hash__(self) -> int:
        return hash(bytes(self.base64()))

    def __getstate__(self) -> tuple[bytes | None, bytes | None]:
        return self._raw, None if self._text is None else bytes(self._text)

    def __setstate__(self, state: tuple[bytes | None, bytes | None]) -> None:
        self._raw, self._text = state
        self._header = None

    def __repr__(self) -> str:
        held = "base64" if self._text is not None else "raw"
        return f"MimeContent({self.size} bytes, {held})"


def _header_block(mime: bytes) -> bytes:
    """The header block of a message, up to and including the first empty line."""
    crlf = mime.find(b"\r\n\r\n")
    lf = mime.find(b"\n\n", 0, crlf if crlf >= 0 else len(mime))
    if lf >= 0:
        return mime[: lf + 2]
    return mime[: crlf + 4] if crlf >= 0 else mime


def html_to_text(value: str) -> str:
    """The text of an HTML body: head, style and script dropped, tags removed, entities
    decoded, a line break where a paragraph, break or row ended."""
    text = _HTML_BREAK.sub("\n", _HTML_DROP.sub(" ", value))
    return html.unescape(_HTML_TAG.sub(" ", _HTML_INLINE.sub("", text))).strip()


def decode_header(value: object) -> str:
    """A header value with its RFC 2047 encoded words decoded; never raises.

    Unknown charsets fall back to Latin-1 and undecodable bytes become U+FFFD; a header that
    cannot be split into words at all is returned as written. ``None`` gives ``""``.
    """
    if value is None:
        return ""
    try:
        parts = email.header.decode_header(str(value))
    except Exception:  # noqa: BLE001 - a broken header is kept as written
        return str(value)
    out = []
    for text, charset in parts:
        if isinstance(text, bytes):
            try:
                out.append(text.decode(charset or "ascii", errors="replace"))
            except LookupError:
                out.append(text.decode("latin-1"))
        else:
            out.append(text)
    return "".join(out)


def attachment_sizes(mime: bytes) -> Iterator[int]:
    """Yield the decoded size of each attachment part of a message.

    A part counts as an attachment when it has a Content-Disposition of ``attachment`` or a
    file name. Malformed messages yield what can be read and never raise.
    """
    if not mime:
        return
    try:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(mime)
    except Exception:  # noqa: BLE001 - the caller treats unreadable MIME as attachment-free
        return
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = str(part.get("Content-Disposition") or "").lower()
        try:
            filename = part.get_filename()
        except Exception:  # noqa: BLE001 - a malformed parameter still leaves the part countable
            filename = None
        if "attachment" in disposition or filename:
            try:
                payload = part.get_payload(decode=True)
            except Exception:  # noqa: BLE001
                payload = None
            yield len(payload) if isinstance(payload, bytes) else len(str(part.get_payload()))
