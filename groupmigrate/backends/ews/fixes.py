"""Narrow corrections to exchangelib, carried by this backend's own classes and each covered by a test.

exchangelib is never edited in place, and nothing here changes it for the rest of the process:
an embedder that uses exchangelib itself next to groupmigrate (a hosting panel, a notebook)
gets exchangelib exactly as shipped. What is changed for this backend's connections, and why:

* **Response parsing in large chunks** (:func:`large_chunk_hook`). exchangelib parses every
  SOAP response with ``to_xml(response.iter_content())``; ``iter_content()`` defaults to a
  chunk size of one byte, so lxml is fed one byte per Python call (50 x 1 MB MIME took 25 s).
  A requests response hook on *our* sessions gives non-streamed responses a 64 KiB default
  chunk. Streamed responses (exchangelib's notification reader scans them byte by byte) are
  left alone, and sessions not created by this backend are untouched.
* **Timestamps with fractional seconds** (:class:`FractionalDateTimeField` and its siblings,
  :func:`with_fractional_times`). exchangelib parses only ``YYYY-MM-DDTHH:MM:SSZ``;
  ``2026-01-02T03:04:05.123Z`` (what Exchange Online sends) made received, created and task
  dates None. The item and attachment models of :mod:`.models` read their date fields with
  these field types, which parse any number of fraction digits and leave every other input
  to exchangelib's own parsing. exchangelib's classes and ``EWSDateTime`` are not touched.
* **Refusing writes on read-only connections** (:data:`READ_OPERATIONS`). The HTTP session
  of a source connection (:class:`~groupmigrate.backends.ews.connection.EWSProtocol`)
  refuses to POST any EWS operation that is not on this list of reads and raises
  :class:`~groupmigrate.errors.SourceIsReadOnly`, whatever path the request took through
  exchangelib.
* **MIME passed through as base64 text**: see :mod:`.mimewire`.
* **No secrets in exchangelib's DEBUG log** (:class:`MaskingSession`). exchangelib logs the
  headers of the request a response answers, which hold ``Authorization: Basic ...`` or a
  bearer token. Our sessions mask those headers on the finished exchange, before exchangelib
  reads them for its log; no logger or filter of the process is changed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import MutableMapping
from typing import Any

import requests
from exchangelib.ewsdatetime import UTC, EWSDateTime
from exchangelib.fields import DateOrDateTimeField, DateTimeBackedDateField, DateTimeField, EWSElementField, Field
from exchangelib.properties import Fields

__all__ = [
    "CHUNK_SIZE",
    "READ_OPERATIONS",
    "FractionalDateOrDateTimeField",
    "FractionalDateTimeBackedDateField",
    "FractionalDateTimeField",
    "MaskingSession",
    "ews_datetime",
    "fractional_reader",
    "large_chunk_hook",
    "mask_secrets",
    "parse_ews_datetime",
    "retyped",
    "with_fractional_times",
]

#: Bytes handed to the XML parser per call when reading a response.
CHUNK_SIZE = 64 * 1024

#: EWS operations that never change a mailbox; a read-only connection sends nothing else.
READ_OPERATIONS = frozenset(
    {
        "ConvertId", "ExpandDL", "ExportItems", "FindFolder", "FindItem", "FindPeople",
        "GetAttachment", "GetDelegate", "GetFolder", "GetItem", "GetMailTips", "GetPersona",
        "GetRoomLists", "GetRooms", "GetSearchableMailboxes", "GetServerTimeZones",
        "GetUserAvailability", "GetUserOofSettings", "ResolveNames", "SyncFolderHierarchy",
        "SyncFolderItems",
    }
)  # fmt: skip


# --- 1. response parsing in large chunks -------------------------------------------------


def large_chunk_hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """A requests response hook: make ``iter_content()`` default to :data:`CHUNK_SIZE` bytes.

    Only non-streamed responses are changed; their body is already in memory, so a larger
    chunk costs nothing but saves one Python call per byte.
    """
    # The class is swapped rather than a closure attached: a closure referring back to its
    # response is a reference cycle that keeps every response body (and, through
    # ``response.request``, every request body) alive until the cyclic collector runs.
    if not kwargs.get("stream") and type(response) is requests.Response:
        response.__class__ = _LargeChunkResponse
    return response


class _LargeChunkResponse(requests.Response):
    def iter_content(self, chunk_size: int | None = CHUNK_SIZE, decode_unicode: bool = False) -> Any:
        return super().iter_content(chunk_size, decode_unicode)  # type: ignore[call-overload]


# --- 2. timestamps with fractional seconds -----------------------------------------------

_FRACTIONAL = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d+)(Z|[+-]\d{2}:\d{2})$"
)


def parse_ews_datetime(text: str) -> dt.datetime | None:
    """Parse an xs:dateTime with a fraction of a second (any number of digits) into an aware UTC datetime.

    Returns None when ``text`` has no fraction (those are left to exchangelib).
    """
    match = _FRACTIONAL.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int(match.group(7)[:6].ljust(6, "0"))
    zone = match.group(8)
    if zone == "Z":
        tz = dt.timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    value = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    return value.astimezone(dt.timezone.utc)


def ews_datetime(text: str | None) -> EWSDateTime | None:
    """The UTC ``EWSDateTime`` for an xs:dateTime with a fraction of a second; None for any other input."""
    parsed = parse_ews_datetime(text) if isinstance(text, str) else None
    if parsed is None:
        return None
    return EWSDateTime(
        parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second,
        parsed.microsecond, tzinfo=UTC,
    )  # fmt: skip


class FractionalDateTimeField(DateTimeField):  # type: ignore[misc]
    """exchangelib's DateTimeField, reading timestamps with fractional seconds too."""

    def from_xml(self, elem: Any, account: Any) -> Any:
        value = ews_datetime(self._get_val_from_elem(elem))
        return value if value is not None else super().from_xml(elem=elem, account=account)


class FractionalDateOrDateTimeField(DateOrDateTimeField):  # type: ignore[misc]
    """exchangelib's DateOrDateTimeField (calendar start/end), reading fractional seconds too."""

    def from_xml(self, elem: Any, account: Any) -> Any:
        value = ews_datetime(self._get_val_from_elem(elem))
        return value if value is not None else super().from_xml(elem=elem, account=account)


class FractionalDateTimeBackedDateField(DateTimeBackedDateField):  # type: ignore[misc]
    """exchangelib's DateTimeBackedDateField (task start/due dates), reading fractional seconds too."""

    def from_xml(self, elem: Any, account: Any) -> Any:
        value = ews_datetime(self._get_val_from_elem(elem))
        return value.date() if value is not None else super().from_xml(elem=elem, account=account)


#: exchangelib's date field types and the ones that replace them in our models
_FRACTIONAL_TYPES: dict[type, type] = {
    DateTimeField: FractionalDateTimeField,
    DateOrDateTimeField: FractionalDateOrDateTimeField,
    DateTimeBackedDateField: FractionalDateTimeBackedDateField,
}


def with_fractional_times(field: Field) -> Field:
    """``field`` itself, or for one of exchangelib's date field types a copy that also reads fractions.

    The copy keeps every setting of the original (name, URI, version support, read-only...);
    only its ``from_xml`` differs, so writing and filtering behave as before. A field holding
    nested elements with timestamps of their own (an attendee's LastResponseTime, the start
    of a modified or deleted occurrence) reads them with :func:`fractional_reader`.
    """
    replacement = _FRACTIONAL_TYPES.get(type(field))
    if replacement is not None:
        return retyped(field, replacement)
    if isinstance(field, EWSElementField):
        value_cls = field.value_cls
        reader = fractional_reader(value_cls)
        if reader is not value_cls:
            return retyped(field, _element_reader_field(type(field), reader))
    return field


_READERS: dict[type, type] = {}
_READER_FIELDS: dict[tuple[type, type], type] = {}


def fractional_reader(cls: type) -> type:
    """A subclass of the exchangelib element class ``cls`` whose timestamps (at any depth) read
    fractional seconds; ``cls`` itself when it holds none. Instances are still ``cls`` instances."""
    if cls in _READERS:
        return _READERS[cls]
    _READERS[cls] = cls  # a self-referencing element class ends here
    fields = getattr(cls, "FIELDS", None)
    if fields is None:
        return cls
    replaced = [with_fractional_times(f) for f in fields]
    if all(a is b for a, b in zip(replaced, fields)):
        return cls
    reader = type(cls.__name__, (cls,), {"FIELDS": Fields(*replaced), "__module__": __name__})
    _READERS[cls] = reader
    return reader


def _element_reader_field(field_cls: type, reader: Any) -> type:
    key = (field_cls, reader)
    if key not in _READER_FIELDS:

        def from_xml(self: Any, elem: Any, account: Any) -> Any:
            if self.is_list:
                container = elem.find(self.response_tag())
                if container is None:
                    return self.default
                return [reader.from_xml(elem=e, account=account) for e in container.findall(reader.response_tag())]
            sub = elem.find(reader.response_tag() if self.field_uri is None else self.response_tag())
            return self.default if sub is None else reader.from_xml(elem=sub, account=account)

        _READER_FIELDS[key] = type(field_cls.__name__, (field_cls,), {"from_xml": from_xml, "__module__": __name__})
    return _READER_FIELDS[key]


def retyped(field: Field, cls: type) -> Field:
    """A copy of ``field`` (all its settings) as an instance of ``cls``, a subclass of its type.

    Built by hand rather than with :func:`copy.copy`, which would cache ``__slotnames__`` on
    exchangelib's field classes.
    """
    copied: Field = object.__new__(cls)
    copied.__dict__.update(vars(field))
    return copied


# --- 3. no secrets in exchangelib's log --------------------------------------------------

_MASK = "********"
_SECRET_REQUEST_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")
_SECRET_RESPONSE_HEADERS = ("Set-Cookie",)


def _mask(headers: MutableMapping[str, Any] | None, names: tuple[str, ...]) -> None:
    if headers is None:
        return
    for name in names:
        if name in headers:
            headers[name] = _MASK


def mask_secrets(response: requests.Response) -> requests.Response:
    """Mask the credential headers of a finished exchange, in the request it answers and in its history.

    Called once the response (and every hook on it, a token renewal included) is complete; the
    request was sent, so what is masked is only what later readers (exchangelib's log) see.
    """
    for answer in (*response.history, response):
        request = answer.request
        if request is not None:
            _mask(request.headers, _SECRET_REQUEST_HEADERS)
        _mask(answer.headers, _SECRET_RESPONSE_HEADERS)
    return response


class MaskingSession(requests.Session):
    """A requests session whose responses carry no credential headers (see :func:`mask_secrets`)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        return mask_secrets(super().request(method, url, *args, **kwargs))  # type: ignore[arg-type]
