"""Small, tolerant helpers over raw MIME bytes and bodies (never rewrite a message)."""

from __future__ import annotations

import email.header
import email.parser
import email.policy
import html
import re
from collections.abc import Iterator

__all__ = ["attachment_sizes", "decode_header", "html_to_text"]

_HTML_DROP = re.compile(r"<(head|style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_BREAK = re.compile(r"<(?:br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")


def html_to_text(value: str) -> str:
    """The text of an HTML body: head, style and script dropped, tags removed, entities
    decoded, a line break where a paragraph, break or row ended."""
    text = _HTML_BREAK.sub("\n", _HTML_DROP.sub(" ", value))
    return html.unescape(_HTML_TAG.sub(" ", text)).strip()


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
