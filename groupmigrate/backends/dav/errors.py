"""How the DAV backend names and classifies what goes wrong.

An HTTP exchange ends in one of a few ways, and each has its place in the project's error
tree (:mod:`groupmigrate.errors`):

==========================================  =================================================
nothing could be sent (refused, DNS)        :class:`ConnectionFailed`: nothing was applied
TLS certificate not trusted                 :class:`ConfigError` (``ca_file``): retrying cannot help
401                                         :class:`AuthenticationError` naming the login
403 (no precondition named)                 :class:`AccessDenied`
404 on a principal or home                  :class:`MailboxNotFound`
429, or 503 with ``Retry-After``            :class:`Throttled` (the server's wait when it gives one)
a read: timeout, reset, 5xx                 :class:`ConnectionFailed` (a read may be repeated)
a write: timeout or reset after sending,    :class:`OutcomeUnknown`: it may have been applied
502/503/504, a 500 that is not the DAV
server's own XML error
anything else                               :class:`DavRefused` (with the status and the
                                            precondition the server named, e.g.
                                            ``no-uid-conflict``)
==========================================  =================================================

No message built here holds a password or a token: URLs are shown without user info and
query, and server texts are masked (:func:`mask`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re

from groupmigrate.auth import redact_url
from groupmigrate.errors import GroupmigrateError

__all__ = ["DavRefused", "SyncStateUnusable", "mask", "parse_retry_after", "where"]

_MASKS = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[^\s'\"<>,;]+"), r"\1 ********"),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{6,}(\.[A-Za-z0-9_\-=]*){0,2}"), "********"),
    (re.compile(r"(?i)((?:https?)://)[^/\s@'\"<>]+@"), r"\1"),
)


def mask(text: str, *secrets: str | None) -> str:
    """``text`` without credentials: Authorization values, JWTs, URL user info and ``secrets``."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "********")
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def where(url: str) -> str:
    """A URL as messages show it (no user info, no query)."""
    return redact_url(url)


class DavRefused(GroupmigrateError):
    """The server answered a request with an error status that is not one of the transient or
    access failures (see the module docstring).

    Attributes:
        status: the HTTP status.
        condition: the precondition or postcondition the server named in its ``DAV:error``
            body (``no-uid-conflict``, ``valid-calendar-data``, ``valid-sync-token``...), or None.
        method: the request's method; ``url`` its target (shown without user info).
    """

    def __init__(self, method: str, url: str, status: int, reason: str, condition: str | None = None, text: str = "") -> None:
        self.method = method
        self.url = where(url)
        self.status = status
        self.condition = condition
        self.reason = reason
        detail = f" ({condition})" if condition else (f": {text}" if text else "")
        super().__init__(f"{method} {self.url}: the server answered {status} {reason}{detail}")


class SyncStateUnusable(GroupmigrateError):
    """A folder's sync state is not one this backend wrote (or not for this folder): the caller
    lists the folder again instead."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (a number of seconds or an HTTP date); None without."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
