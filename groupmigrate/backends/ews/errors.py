"""The one place where exchangelib, requests and socket errors become groupmigrate errors.

:func:`classify` looks at an exception raised anywhere below the backend (exchangelib's
error classes, requests' connection errors, the HTTP status errors of our response policy)
and returns a :class:`Verdict`: the groupmigrate error it means, and what kind of failure it
was (``throttle``: the server asked us to wait; ``connection``: the link broke;
``unavailable``: an error page came back after the request went out). :mod:`.retry` turns
the verdict into the error raised for a read or a write; nothing else in the backend
inspects foreign exceptions. Messages name the login, the mailbox and the server but never a
secret: bearer tokens and Basic credentials are masked in any text passed on, URLs lose their
user info and query string, and errors whose text quotes what was being sent (a header value
Python refuses, a ``UnicodeEncodeError`` with the offending character and its position) are
replaced by a plain sentence.

An Exchange Online tenant that blocks EWS for the app (``EwsEnabled``, ``EwsAllowedAppIDs``,
the user-agent lists of ``EwsApplicationAccessPolicy``) answers HTTP 403, or
``ErrorAccessDenied`` with a text about EWS or the access policy; both become an
:class:`~groupmigrate.errors.AccessDenied` that says so and what the administrator must do.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from typing import Literal

import attrs
import exchangelib.errors as ex
import requests.exceptions
import urllib3.exceptions

from groupmigrate.auth import redact_url
from groupmigrate.errors import (
    AccessDenied,
    AuthenticationError,
    ConfigError,
    ConnectionFailed,
    GroupmigrateError,
    MailboxNotFound,
    Throttled,
)

__all__ = ["ConnectionClosed", "ServerUnavailable", "Verdict", "classify", "ews_blocked_message", "item_error", "mask"]

Kind = Literal["fatal", "throttle", "connection", "unavailable"]


class ServerUnavailable(ex.TransportError):  # type: ignore[misc]
    """The server answered with an HTTP status that means "not now" (503, 502, 504, 429, 500 page)."""

    def __init__(self, status: int, retry_after: float | None = None, closed: bool = False) -> None:
        super().__init__(f"HTTP {status}" + (f", Retry-After {retry_after:g} s" if retry_after else ""))
        self.status = status
        self.retry_after = retry_after
        self.closed = closed


class ConnectionClosed(ex.TransportError):  # type: ignore[misc]
    """The server closed the connection on an error answer; the next request reconnects."""


@attrs.frozen
class Verdict:
    """What to do about an exception.

    Attributes:
        kind: ``fatal`` (nothing a retry cures), ``throttle`` (the server asked to slow down;
            nothing was applied), ``connection`` (the link broke) or ``unavailable`` (the server
            or a gateway answered an HTTP error page after the request went out).
        error: the groupmigrate error it means.
        wait: seconds the server asked us to wait, when it said.
        sent: False when the request certainly never reached the server (safe to repeat a write).
        status: the HTTP status of an ``unavailable`` answer.
    """

    kind: Kind
    error: GroupmigrateError
    wait: float | None = None
    sent: bool = True
    status: int | None = None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_NOT_SENT = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    requests.exceptions.ConnectTimeout,
    ConnectionRefusedError,
)
_TLS = (requests.exceptions.SSLError, ssl.SSLError, urllib3.exceptions.SSLError)
_LINK = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    socket.timeout,
    TimeoutError,
)
_THROTTLE = (
    ex.ErrorServerBusy,
    ex.ErrorTooManyObjectsOpened,
    ex.ErrorExceededConnectionCount,
    ex.ErrorInternalServerTransientError,
    ex.ErrorMailboxStoreUnavailable,
    ex.ErrorMailboxMoveInProgress,
    ex.ErrorMailboxFailover,
    ex.ErrorConnectionFailedTransientError,
    ex.ErrorProxyRequestProcessingFailed,
    ex.RateLimitError,
)
_NOT_FOUND = (ex.ErrorNonExistentMailbox, ex.ErrorInvalidMailbox, ex.ErrorMissingEmailAddress, ex.ErrorNameResolutionNoMailbox)
_DENIED = (
    ex.ErrorImpersonateUserDenied,
    ex.ErrorImpersonationDenied,
    ex.ErrorImpersonationFailed,
    ex.ErrorAccessDenied,
    ex.ErrorAccountDisabled,
    ex.ErrorInvalidLicense,
    ex.ErrorProxyRequestNotAllowed,
)
_VERSION = (
    ex.ErrorInvalidServerVersion,
    ex.ErrorInvalidSchemaVersionForMailboxVersion,
    ex.ErrorIncorrectSchemaVersion,
)
_BAD_ANSWER = (ex.SOAPError, ex.MalformedResponseError)


#: Credentials as they may appear in a text: an Authorization value, a JWT, a URL's user info or query.
_MASKS = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[^\s'\"<>,;]+"), r"\1 ********"),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{6,}(\.[A-Za-z0-9_\-=]*){0,2}"), "********"),
    (re.compile(r"(?i)((?:https?|wss?)://)[^/\s@'\"<>]+@"), r"\1"),
    (re.compile(r"(?i)((?:https?|wss?)://[^\s?#'\"<>]+)\?[^\s#'\"<>]*"), r"\1?…"),
)


def mask(text: str) -> str:
    """``text`` with bearer tokens, Basic credentials and URLs' user info and query strings masked."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return mask(text)[:300]


#: What an answer says when EWS itself is blocked for the caller, not a mailbox right.
_EWS_BLOCKED = re.compile(
    r"(?i)(\bEWS\b.{0,80}\b(disabled|blocked|not (enabled|allowed|permitted)|allow ?list)"
    r"|EwsAllowedAppIDs|EwsEnabled|EwsApplicationAccessPolicy|EwsAllowList"
    r"|application access polic|AppOnly AccessPolicy|access policy)"
)


def ews_blocked_message(server: str, login: str | None, mailbox: str | None, answer: str) -> str:
    """The plain-words message for "EWS is blocked for this app in this tenant"."""
    app = login[4:] if login and login.startswith("app ") else None
    who = f" for {mailbox}" if mailbox else ""
    if app:
        return (
            f"EWS is blocked for this app in this tenant: {server} refused app {app}{who} ({answer}). "
            "Exchange Online blocks EWS by default since 1 October 2026. A tenant administrator must set "
            f"EwsEnabled to $true and add the app's client id {app} to EwsAllowedAppIDs "
            "(Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs '<the current list>,<client id>'; "
            "the list is replaced, not extended), and allow the User-Agent 'groupmigrate/*' if the "
            "tenant enforces an EwsAllowList; changes take up to 24 hours. EWS in Exchange Online ends for good "
            "on 1 April 2027."
        )
    return (
        f"EWS is blocked for {login or 'this login'} on {server}{who} ({answer}): the server's EWS access "
        "settings refuse it. An administrator must allow EWS for this login or application (in Exchange: "
        "EwsEnabled, EwsApplicationAccessPolicy and EwsAllowList of Set-OrganizationConfig / Set-CASMailbox)."
    )


_UNSENDABLE = "cannot be sent: it holds a line break or a character an HTTP header cannot carry (the credential is not shown)"


def _unsendable(chain: list[BaseException]) -> bool:
    """A credential could not be put into a request (the exception's text may quote it)."""
    for e in chain:
        if isinstance(e, UnicodeError):
            return True
        if isinstance(e, requests.exceptions.InvalidHeader):
            return True
        if isinstance(e, ValueError) and "header" in str(e).lower():
            return True
    return False


def classify(
    exc: BaseException, *, server: str = "the server", mailbox: str | None = None, login: str | None = None
) -> Verdict:
    """Decide what an exception from below the backend means.

    Args:
        exc: the exception raised while talking to the server.
        server: the endpoint, for messages.
        mailbox: the mailbox being worked on, for messages.
        login: who logged in (a user name, ``app <client id>``), for messages; it is named in
            authentication and access errors, which concern the login rather than the mailbox.
    """
    server = redact_url(server) if "://" in server else server
    who = f" for {mailbox}" if mailbox else ""
    as_login = f" of {login}" if login else ""
    if isinstance(exc, GroupmigrateError):
        return Verdict("fatal", exc)
    chain = list(_chain(exc))
    if _unsendable(chain):
        return Verdict(
            "fatal", AuthenticationError(f"the credentials{as_login} for {server}{who} {_UNSENDABLE}"), sent=False
        )
    if any(isinstance(e, _TLS) for e in chain):
        return Verdict(
            "fatal", ConnectionFailed(f"TLS failure talking to {server}: the certificate could not be verified or the handshake failed")
        )
    if isinstance(exc, ex.UnauthorizedError):
        opened = f" (opening {mailbox})" if mailbox and mailbox != login else ""
        return Verdict(
            "fatal",
            AuthenticationError(f"{server} rejected the credentials{as_login}{opened} (wrong password, bad or expired token)"),
        )
    if isinstance(exc, ex.CASError):
        cas = mask(str(exc.cas_error))[:200]
        if _EWS_BLOCKED.search(cas):
            return Verdict("fatal", AccessDenied(ews_blocked_message(server, login, mailbox, cas)))
        return Verdict("fatal", AccessDenied(f"{server} refused access{as_login}{who}: {cas}"))
    if isinstance(exc, ex.MalformedResponseError) and re.match(r"unexpected HTTP 403\b", str(exc)):
        return Verdict("fatal", AccessDenied(ews_blocked_message(server, login, mailbox, "HTTP 403 Forbidden")))
    if isinstance(exc, _NOT_FOUND):
        return Verdict("fatal", MailboxNotFound(f"{server} has no mailbox {mailbox or ''}: {_short(exc)}".replace("  ", " ")))
    if isinstance(exc, _DENIED) and _EWS_BLOCKED.search(str(exc)):
        return Verdict("fatal", AccessDenied(ews_blocked_message(server, login, mailbox, f"{type(exc).__name__}: {_short(exc)}")))
    if isinstance(exc, ex.ErrorImpersonateUserDenied | ex.ErrorImpersonationDenied | ex.ErrorImpersonationFailed):
        actor = login or "the account"
        return Verdict("fatal", AccessDenied(f"{actor} may not impersonate {mailbox or 'this mailbox'} on {server}: {_short(exc)}"))
    if isinstance(exc, _DENIED):
        return Verdict("fatal", AccessDenied(f"access denied{as_login}{who} on {server}: {_short(exc)}"))
    if isinstance(exc, _VERSION):
        return Verdict(
            "fatal",
            ConfigError(f"{server} rejected the EWS version requested ({_short(exc)}); check the profile", key="profile"),
        )
    if isinstance(exc, ex.RedirectError):
        return Verdict("fatal", ConfigError(f"{server} redirected to {redact_url(str(exc.url))}; use that EWS URL", key="url"))
    if isinstance(exc, ServerUnavailable):
        if exc.status == 429:  # a rate limiter refused the request before it was processed
            return Verdict(
                "throttle", Throttled(f"{server} answered HTTP 429", retry_after=exc.retry_after), wait=exc.retry_after, sent=False
            )
        return Verdict(
            "unavailable",
            ConnectionFailed(f"{server} answered HTTP {exc.status}" + (f" (Retry-After {exc.retry_after:g} s)" if exc.retry_after else "")),
            wait=exc.retry_after,
            status=exc.status,
        )
    if isinstance(exc, ConnectionClosed):
        return Verdict("connection", ConnectionFailed(f"{server} closed the connection: {_short(exc)}"))
    busy = next((e for e in chain if isinstance(e, _THROTTLE)), None)
    if busy is not None:
        # exchangelib turns a broken link into ErrorServerBusy when several sessions are open,
        # and a busy answer to its version probe into TransportError; the original error is
        # kept in the chain.
        if busy is exc and any(isinstance(e, ex.ErrorTimeoutExpired) for e in chain[1:]):
            return _link_verdict(chain, server)
        wait = getattr(busy, "back_off", None) if isinstance(busy, ex.ErrorServerBusy) else None
        if isinstance(busy, ex.RateLimitError):
            wait = busy.wait
        return Verdict("throttle", Throttled(f"{server} is busy{who}: {_short(busy)}", retry_after=wait), wait=wait, sent=False)
    if isinstance(exc, ex.ErrorTimeoutExpired) or any(isinstance(e, _LINK) for e in chain):
        return _link_verdict(chain, server)
    if isinstance(exc, _BAD_ANSWER) or isinstance(exc, ex.TransportError) and "not XML" in str(exc):
        return Verdict(
            "connection",
            ConnectionFailed(f"{server} did not answer with EWS XML (an HTML page or broken XML); check the EWS URL: {_short(exc)}"),
        )
    if isinstance(exc, ex.EWSError):
        code = type(exc).__name__
        return Verdict("fatal", GroupmigrateError(f"{server} failed{who}: {code}: {_short(exc)}"))
    raise exc


def _link_verdict(chain: list[BaseException], server: str) -> Verdict:
    # Only a failure to connect proves that the request was not sent: urllib3 swallows errors
    # while writing a request and reports what reading the answer then gives.
    sent = not any(isinstance(e, _NOT_SENT) for e in chain)
    timed_out = any(isinstance(e, requests.exceptions.Timeout | socket.timeout | TimeoutError) for e in chain)
    what = "did not answer in time" if timed_out else ("is unreachable" if not sent else "dropped the connection")
    return Verdict("connection", ConnectionFailed(f"{server} {what}"), sent=sent)


#: Per-item error codes that a retry of the same item may cure.
_TRANSIENT_ITEM = (
    ex.ErrorServerBusy,
    ex.ErrorTimeoutExpired,
    ex.ErrorBatchProcessingStopped,
    ex.ErrorInternalServerTransientError,
    ex.ErrorMailboxStoreUnavailable,
    ex.ErrorTooManyObjectsOpened,
    ex.ErrorConnectionFailedTransientError,
)


def item_error(exc: BaseException) -> tuple[str, str, bool]:
    """``(message, code, transient)`` for an error the server returned for one item."""
    code = type(exc).__name__
    if isinstance(exc, ex.ErrorMessageSizeExceeded):
        return f"the item is larger than the server accepts: {_short(exc)}", code, False
    return _short(exc) or code, code, isinstance(exc, _TRANSIENT_ITEM)
