"""MIME on the wire: a message's base64 text goes from GetItem's answer to CreateItem's request
as bytes, never through the XML tree.

exchangelib reads every ``MimeContent`` into its XML tree, copies the text out, decodes it, and
on writing encodes it again, copies it into a new tree and serializes that tree (scanning the
text for characters to escape): for a 20 MB message, several passes over 27 MB of text that
change nothing. Here:

* **Reading** (:class:`MimeCutter`, used by the GetItem service): before the answer is parsed,
  each ``MimeContent`` element's text is cut out of the response bytes and replaced by a short
  marker; the XML parser sees a small document. :class:`PassThroughMimeField` turns a marker
  back into a :class:`~groupmigrate.mime.MimeContent` holding the cut bytes.
* **Writing** (:class:`MimeSplicer`, used by the CreateItem service): while the request is
  built, :class:`PassThroughMimeField` writes a marker instead of the text; once exchangelib
  has serialized the envelope, each marker is replaced by its base64 bytes.

The request and the answer are byte for byte what exchangelib would send and parse; its
connection, authentication, retry policy, version handling and error parsing all stay in
place. A text that is not plain base64 (an entity, a CDATA section) is left to the parser.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

from exchangelib.fields import MimeContentField
from exchangelib.util import create_element, get_xml_attr

from groupmigrate.mime import MimeContent

__all__ = ["MimeCutter", "MimeSplicer", "PassThroughMimeField", "cut_mime", "splice_mime"]

_local = threading.local()
_serial = itertools.count()
_MARKER = re.compile(rb"gm-mime-[0-9]+-[0-9]+")
_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?MimeContent\b[^>]*>")


def _marker(serial: int, index: int) -> bytes:
    return b"gm-mime-%d-%d" % (serial, index)


def cut_mime(body: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """``body`` with the text of each ``MimeContent`` element replaced by a marker, and the
    texts by marker. Returns ``body`` itself (and no texts) when there is nothing to cut."""
    serial = next(_serial)
    parts: list[bytes] = []
    texts: dict[bytes, bytes] = {}
    position = 0
    search = 0
    while True:
        found = body.find(b"MimeContent", search)
        if found < 0:
            break
        search = found + 11
        start = body.rfind(b"<", 0, found)
        if start < 0 or found - start > 64:
            continue
        opening = _OPEN.match(body, start)
        if opening is None or opening.group().endswith(b"/>"):
            continue
        text_start = opening.end()
        text_end = body.find(b"<", text_start)
        if text_end < 0:
            break
        if body[text_end + 1 : text_end + 2] != b"/" or body.find(b"&", text_start, text_end) >= 0:
            continue  # not plain base64 (an entity, a CDATA section): the parser reads it
        marker = _marker(serial, len(texts))
        texts[marker] = body[text_start:text_end]
        parts += (body[position:text_start], marker)
        position = search = text_end
    if not texts:
        return body, {}
    parts.append(body[position:])
    return b"".join(parts), texts


def splice_mime(body: bytes, texts: dict[bytes, bytes]) -> bytes:
    """``body`` with each marker of ``texts`` replaced by its text."""
    if not texts:
        return body
    parts: list[bytes] = []
    position = 0
    for match in _MARKER.finditer(body):
        text = texts.get(match.group())
        if text is None:
            continue
        parts += (body[position : match.start()], text)
        position = match.end()
    parts.append(body[position:])
    return b"".join(parts)


class _Reading:
    """The texts cut from the answer being parsed on this thread."""

    def __init__(self, texts: dict[bytes, bytes]) -> None:
        self.texts = texts


class _Writing:
    """The texts to splice into the request being built on this thread."""

    def __init__(self) -> None:
        self.serial = next(_serial)
        self.texts: dict[bytes, bytes] = {}

    def add(self, content: MimeContent) -> str:
        marker = _marker(self.serial, len(self.texts))
        self.texts[marker] = content.base64()
        return marker.decode("ascii")


class PassThroughMimeField(MimeContentField):  # type: ignore[misc]
    """exchangelib's MimeContentField, holding the MIME as the base64 text on the wire.

    Reads give a :class:`~groupmigrate.mime.MimeContent` (nothing decoded); writes take one
    (or raw bytes) and send its base64 text as it is.
    """

    value_cls = MimeContent

    def clean(self, value: Any, version: Any = None) -> Any:
        if isinstance(value, (bytes, bytearray)):
            value = MimeContent(bytes(value))
        return super().clean(value, version=version)

    def from_xml(self, elem: Any, account: Any) -> Any:
        text = get_xml_attr(elem, self.response_tag())
        if not text:
            return self.default
        reading: _Reading | None = getattr(_local, "reading", None)
        if reading is not None and text.startswith("gm-mime-"):
            cut = reading.texts.pop(text.encode("ascii"), None)
            if cut is not None:
                return MimeContent.from_base64(cut)
        return MimeContent.from_base64(text)

    def to_xml(self, value: Any, version: Any) -> Any:
        element = create_element(self.request_tag())
        content = MimeContent.of(value)
        writing: _Writing | None = getattr(_local, "writing", None)
        element.text = writing.add(content) if writing is not None else content.base64()
        return element


class MimeCutter:
    """Mix into an exchangelib service: MimeContent texts are cut from its answers before parsing.

    The texts are kept for the thread that parses the answer (exchangelib parses and reads the
    items on the thread that called the service) until the next answer replaces them.
    """

    @classmethod
    def _get_soap_parts(cls, response: Any) -> Any:
        content = getattr(response, "_content", None)
        if isinstance(content, bytes) and getattr(response, "_content_consumed", False):
            reduced, texts = cut_mime(content)
            _local.reading = _Reading(texts) if texts else None
            if texts:
                response._content = reduced
        return super()._get_soap_parts(response)  # type: ignore[misc]


class MimeSplicer:
    """Mix into an exchangelib service: MimeContent texts are spliced into its serialized requests."""

    _mime_texts: dict[bytes, bytes] | None = None

    def get_payload(self, *args: Any, **kwargs: Any) -> Any:
        writing = _Writing()
        _local.writing = writing
        try:
            payload = super().get_payload(*args, **kwargs)  # type: ignore[misc]
        finally:
            _local.writing = None
        self._mime_texts = writing.texts
        return payload

    def wrap(self, content: Any, api_version: Any = None) -> bytes:
        body: bytes = super().wrap(content, api_version=api_version)  # type: ignore[misc]
        return splice_mime(body, self._mime_texts or {})
