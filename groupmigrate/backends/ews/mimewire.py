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

Big buffers live in memory of their own. An answer of more than :data:`OWN_MEMORY` bytes is
read into an anonymous ``mmap`` (:func:`read_big_answer`), each big MIME text cut from it is
copied into one of its own, and a request is sent as a :class:`SplicedBody`: its pieces, never
joined. Memory that the C allocator handed out for a big object is often kept by the process
after the object is freed (glibc raises its mmap threshold after the first one and reuses the
heap, which then fragments across threads); an ``mmap`` goes back to the system when the
message that holds it is dropped, so the process's footprint follows the bytes in flight.
"""

from __future__ import annotations

import itertools
import mmap
import re
import threading
from collections.abc import Iterator
from typing import Any

from exchangelib.fields import MimeContentField
from exchangelib.util import create_element, get_xml_attr

from groupmigrate.mime import MimeContent

__all__ = [
    "OWN_MEMORY",
    "MimeCutter",
    "MimeSplicer",
    "PassThroughMimeField",
    "SplicedBody",
    "cut_mime",
    "read_big_answer",
    "splice_mime",
]

#: buffers bigger than this live in memory of their own (an anonymous mmap)
OWN_MEMORY = 1024 * 1024
_READ_BLOCK = 256 * 1024

_local = threading.local()
_serial = itertools.count()
_MARKER = re.compile(rb"gm-mime-[0-9]+-[0-9]+")
_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?MimeContent\b[^>]*>")


def _marker(serial: int, index: int) -> bytes:
    return b"gm-mime-%d-%d" % (serial, index)


def _own_copy(data: Any, start: int, end: int) -> bytes | mmap.mmap:
    """``data[start:end]``, in memory of its own when big."""
    if end - start <= OWN_MEMORY:
        return bytes(data[start:end])
    copy = mmap.mmap(-1, end - start)
    with memoryview(data) as view:
        copy.write(view[start:end])
    copy.seek(0)
    return copy


def cut_mime(body: Any) -> tuple[bytes, dict[bytes, Any]]:
    """``body`` (bytes or a buffer such as an mmap) with the text of each ``MimeContent``
    element replaced by a marker, and the texts by marker (bytes, or an mmap when big).
    Returns ``body`` itself (and no texts) when there is nothing to cut."""
    serial = next(_serial)
    parts: list[bytes] = []
    texts: dict[bytes, Any] = {}
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
        texts[marker] = _own_copy(body, text_start, text_end)
        parts += (body[position:text_start], marker)
        position = search = text_end
    if not texts:
        return body, {}
    parts.append(body[position:])
    return b"".join(parts), texts


class SplicedBody:
    """A request body sent as its pieces (the envelope's bytes and the MIME texts between them).

    requests sends it with its ``Content-Length`` (``len()``) and iterates it afresh for each
    sending (a renewed token, an NTLM handshake), so nothing is joined into one big buffer.
    """

    def __init__(self, parts: list[Any]) -> None:
        self._parts = parts
        self._length = sum(len(p) for p in parts)

    @property
    def prefix(self) -> bytes:
        """The bytes before the first MIME text (the envelope's start, the operation's name)."""
        return bytes(self._parts[0]) if self._parts else b""

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Any]:
        for part in self._parts:
            if len(part):
                yield memoryview(part) if isinstance(part, mmap.mmap) else part

    def __bytes__(self) -> bytes:
        return b"".join(self._parts)

    def __repr__(self) -> str:
        return f"<EWS request of {self._length} bytes, {len(self._parts) // 2} MIME text(s) spliced in>"

    __str__ = __repr__


def splice_mime(body: bytes, texts: dict[bytes, Any]) -> bytes | SplicedBody:
    """``body`` with each marker of ``texts`` replaced by its text (a :class:`SplicedBody`)."""
    if not texts:
        return body
    parts: list[Any] = []
    position = 0
    for match in _MARKER.finditer(body):
        text = texts.get(match.group())
        if text is None:
            continue
        parts += (body[position : match.start()], text)
        position = match.end()
    parts.append(body[position:])
    return SplicedBody(parts)


def read_big_answer(response: Any, *args: Any, **kwargs: Any) -> Any:
    """A requests response hook: read a big, uncompressed answer into memory of its own.

    The hook runs before requests reads the body; an answer of more than :data:`OWN_MEMORY`
    bytes with a ``Content-Length`` and no content coding is read block by block into an
    anonymous mmap that becomes ``response.content``. Other answers are left to requests.
    """
    if kwargs.get("stream") or getattr(response, "_content", False) is not False:
        return response
    headers = response.headers
    try:
        length = int(headers.get("Content-Length") or -1)
    except ValueError:
        return response
    if length <= OWN_MEMORY or (headers.get("Content-Encoding") or "identity").lower() != "identity":
        return response
    raw = response.raw
    buffer = mmap.mmap(-1, length)
    received = 0
    with memoryview(buffer) as view:
        while received < length:
            got = raw.read(min(_READ_BLOCK, length - received))
            if not got:
                break
            view[received : received + len(got)] = got
            received += len(got)
    if received < length:  # cut short: what arrived, as requests would give it
        short = buffer[:received]
        buffer.close()
        response._content = short
    else:
        response._content = buffer
    response._content_consumed = True
    return response


class _Reading:
    """The texts cut from the answer being parsed on this thread."""

    def __init__(self, texts: dict[bytes, Any]) -> None:
        self.texts = texts


class _Writing:
    """The texts to splice into the request being built on this thread."""

    def __init__(self) -> None:
        self.serial = next(_serial)
        self.texts: dict[bytes, Any] = {}

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
        element.text = writing.add(content) if writing is not None else bytes(content.base64())
        return element


class MimeCutter:
    """Mix into an exchangelib service: MimeContent texts are cut from its answers before parsing.

    The texts are kept for the thread that parses the answer (exchangelib parses and reads the
    items on the thread that called the service) until the next answer replaces them.
    """

    @classmethod
    def _get_soap_parts(cls, response: Any) -> Any:
        content = getattr(response, "_content", None)
        if isinstance(content, (bytes, mmap.mmap)) and getattr(response, "_content_consumed", False):
            reduced, texts = cut_mime(content)
            _local.reading = _Reading(texts) if texts else None
            if texts:
                response._content = reduced
                if isinstance(content, mmap.mmap):
                    content.close()
        return super()._get_soap_parts(response)  # type: ignore[misc]


class MimeSplicer:
    """Mix into an exchangelib service: MimeContent texts are spliced into its serialized requests."""

    _mime_texts: dict[bytes, Any] | None = None

    def get_payload(self, *args: Any, **kwargs: Any) -> Any:
        writing = _Writing()
        _local.writing = writing
        try:
            payload = super().get_payload(*args, **kwargs)  # type: ignore[misc]
        finally:
            _local.writing = None
        self._mime_texts = writing.texts
        return payload

    def wrap(self, content: Any, api_version: Any = None) -> bytes | SplicedBody:
        body: bytes = super().wrap(content, api_version=api_version)  # type: ignore[misc]
        return splice_mime(body, self._mime_texts or {})
