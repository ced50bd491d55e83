"""Narrow corrections to exchangelib, applied at our boundary and each covered by a test.

exchangelib is never edited in place. What is changed, and why:

* **Response parsing in large chunks** (:func:`large_chunk_hook`). exchangelib parses every
  SOAP response with ``to_xml(response.iter_content())``; ``iter_content()`` defaults to a
  chunk size of one byte, so lxml is fed one byte per Python call (50 x 1 MB MIME took 25 s).
  A requests response hook on *our* sessions gives non-streamed responses a 64 KiB default
  chunk. Streamed responses (exchangelib's notification reader scans them byte by byte) are
  left alone, and sessions not created by this backend are untouched.
* **Timestamps with fractional seconds** (:func:`parse_ews_datetime`). exchangelib parses only
  ``YYYY-MM-DDTHH:MM:SSZ``; ``2026-01-02T03:04:05.123Z`` (what Exchange Online sends) made
  received, created and task dates None. ``EWSDateTime.from_string`` is wrapped so that only
  strings with a fraction take the new path; every other input behaves exactly as before.
* **Refusing writes on read-only connections** (:func:`install_write_guard`). Before any EWS
  operation is sent, a connection marked ``refuses_writes`` raises
  :class:`~groupmigrate.errors.SourceIsReadOnly` unless the operation is on a list of reads.
  Other protocols are unaffected (the wrapper checks an attribute only ours carry).
* **No secrets in exchangelib's DEBUG log** (:class:`RedactingFilter`). exchangelib logs the
  prepared request headers, which hold ``Authorization: Basic ...`` or a bearer token. A
  filter on its loggers masks those headers before any handler sees them.

:func:`apply` installs the process-wide parts once; calling it again does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

import requests

from groupmigrate.errors import SourceIsReadOnly

__all__ = [
    "CHUNK_SIZE",
    "READ_OPERATIONS",
    "RedactingFilter",
    "apply",
    "large_chunk_hook",
    "parse_ews_datetime",
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

_lock = threading.Lock()
_applied = False


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
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{1,9})(Z|[+-]\d{2}:\d{2})$"
)


def parse_ews_datetime(text: str) -> dt.datetime | None:
    """Parse an xs:dateTime with a fraction of a second into an aware UTC datetime.

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


def _install_fractional_seconds() -> None:
    from exchangelib.ewsdatetime import UTC, EWSDateTime

    original = EWSDateTime.__dict__["from_string"]
    if getattr(original, "_groupmigrate", False):
        return
    plain = original.__func__

    def from_string(cls: type[EWSDateTime], date_string: str) -> EWSDateTime:
        parsed = parse_ews_datetime(date_string) if isinstance(date_string, str) else None
        if parsed is None:
            return plain(cls, date_string)
        return cls(
            parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second,
            parsed.microsecond, tzinfo=UTC,
        )  # fmt: skip

    from_string._groupmigrate = True  # type: ignore[attr-defined]
    from_string._original = plain  # type: ignore[attr-defined]
    EWSDateTime.from_string = classmethod(from_string)


# --- 3. refusing writes on read-only connections -----------------------------------------


def _install_write_guard() -> None:
    from exchangelib.services.common import EWSService

    original = EWSService._get_response
    if getattr(original, "_groupmigrate", False):
        return

    def _get_response(self: EWSService, payload: Any, api_version: Any) -> Any:
        if getattr(self.protocol, "refuses_writes", False) and self.SERVICE_NAME not in READ_OPERATIONS:
            raise SourceIsReadOnly(
                f"{self.SERVICE_NAME} refused: this connection is a migration source and never writes"
            )
        return original(self, payload, api_version)

    _get_response._groupmigrate = True  # type: ignore[attr-defined]
    EWSService._get_response = _get_response


# --- 4. no secrets in exchangelib's log --------------------------------------------------

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_HEADER_IN_TEXT = re.compile(r"(?i)((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)([^'\",}\r\n]+)")


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: ("********" if isinstance(k, str) and k.lower() in _SECRET_HEADERS else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (tuple, list)):
        return type(value)(_redact(v) for v in value)
    if isinstance(value, str) and "uthorization" in value:
        return _HEADER_IN_TEXT.sub(r"\1********", value)
    return value


class RedactingFilter(logging.Filter):
    """Masks Authorization, Cookie and similar headers in log records of the loggers it guards."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = _redact(record.args)
        if isinstance(record.msg, str) and "uthorization" in record.msg:
            record.msg = _redact(record.msg)
        return True


_GUARDED_LOGGERS = (
    "exchangelib.util",
    "exchangelib.transport",
    "exchangelib.protocol",
    "exchangelib.services.common",
    "exchangelib.autodiscover.discovery",
    "exchangelib.autodiscover.protocol",
)


def _install_log_redaction() -> None:
    for name in _GUARDED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def apply() -> None:
    """Install the process-wide corrections (idempotent, thread-safe)."""
    global _applied
    if _applied:
        return
    with _lock:
        if _applied:
            return
        _install_fractional_seconds()
        _install_write_guard()
        _install_log_redaction()
        _applied = True
