"""How the IMAP backend names and classifies what goes wrong.

A server's tagged ``NO`` carries a response code in brackets (RFC 5530): ``[OVERQUOTA]``,
``[LIMIT]``, ``[UNAVAILABLE]``, ``[AUTHENTICATIONFAILED]``... These functions turn an answer
(or a library exception) into the project's error tree. No message built here ever holds a
password or a token: login errors are scrubbed of the secrets that were sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from groupmigrate.errors import (
    AccessDenied,
    AuthenticationError,
    ConfigError,
    GroupmigrateError,
    Throttled,
    TransientError,
)

__all__ = [
    "CommandRefused",
    "is_missing",
    "SyncStateUnusable",
    "login_error",
    "refusal",
    "response_code",
    "retry_after",
    "scrub",
    "server_text",
]

_CODE = re.compile(r"\[([A-Za-z0-9.-]+)[ \]]")
_BACKOFF = re.compile(
    r"(?:back-?off(?: time)?|retry after|try again in|wait)\D{0,20}?(\d+(?:\.\d+)?)\s*(milliseconds|millisecs|ms|seconds|secs?|s|minutes?|mins?)\b",
    re.I,
)
_TOO_MANY = re.compile(r"too many (?:simultaneous |concurrent |parallel )?(?:connections|sessions|logins)|maximum number of connections", re.I)
#: response codes that mean "not now": nothing was applied, a later attempt may succeed
THROTTLE_CODES = frozenset({"LIMIT", "THROTTLED"})
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "INUSE", "SERVERBUG", "EXPUNGEISSUED"})


class SyncStateUnusable(GroupmigrateError):
    """A folder's sync state cannot be used (it is not ours): the caller lists the folder
    again (by date) instead. A changed UIDVALIDITY is :class:`~groupmigrate.errors.SourceRenumbered`."""


class CommandRefused(GroupmigrateError):
    """The server answered a command with ``NO`` (or ``BAD``); ``code`` is its response code."""

    def __init__(self, command: str, status: str, text: str, target: str | None = None) -> None:
        self.command = command
        self.status = status
        self.text = text
        self.code = response_code(text)
        self.target = target
        where = f" {target!r}" if target else ""
        super().__init__(f"{command}{where}: the server answered {status} {text}".rstrip())


_MISSING = re.compile(r"does(?:n't| not) exist|no such (?:mailbox|folder)|unknown (?:mailbox|folder)|not found", re.I)


def is_missing(exc: BaseException) -> bool:
    """Whether a refusal says the mailbox does not exist (``[NONEXISTENT]``, ``[TRYCREATE]``, or in words)."""
    return isinstance(exc, CommandRefused) and (exc.code in ("NONEXISTENT", "TRYCREATE") or bool(_MISSING.search(exc.text)))


def server_text(value: object) -> str:
    """The server's words from an answer or an imaplib/IMAPClient exception, as plain text.

    imaplib puts the answer's bytes in the exception (``error(b'[LIMIT] ...')``); IMAPClient
    prefixes the command (``select failed: ...``). Both are unwrapped; timing suffixes that
    Dovecot adds (``(0.001 + 0.000 secs).``) are dropped.
    """
    if isinstance(value, BaseException):
        parts = [a for a in value.args if a is not None]
        value = parts[0] if len(parts) == 1 else " ".join(str(p) for p in parts) if parts else type(value).__name__
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
    else:
        text = str(value)
    for _ in range(2):  # "login failed: b'[...] ...'" and the like
        match = re.fullmatch(r"(?:[\w ]+ (?:failed|error): )?b(['\"])(.*)\1", text, re.S)
        if match:
            text = match.group(2).replace("\\r\\n", " ").replace("\\'", "'")
    text = re.sub(r"\s*\(\d+\.\d+(?: \+ \d+\.\d+)* secs?\)\.?$", ".", text.strip())
    return text.strip()


def response_code(text: str) -> str | None:
    """The response code of an answer (``OVERQUOTA`` of ``[OVERQUOTA] Quota exceeded``), upper-cased."""
    match = _CODE.search(text)
    return match.group(1).upper() if match else None


def retry_after(text: str) -> float | None:
    """Seconds the server asks to wait, where its answer says so (``Suggested Backoff Time: 12000 milliseconds``)."""
    match = _BACKOFF.search(text)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2).lower()
    if unit in ("milliseconds", "millisecs", "ms"):
        return value / 1000.0
    if unit.startswith("min"):
        return value * 60.0
    return value


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret in it (password, token) replaced by ``********``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def refusal(command: str, status: str, text: str, target: str | None = None) -> GroupmigrateError:
    """The error for a ``NO``/``BAD`` answer to an ordinary command (not a login).

    ``[LIMIT]``/``[THROTTLED]`` → :class:`Throttled` (with the server's back-off when it gives
    one); ``[UNAVAILABLE]``, ``[INUSE]``, ``[SERVERBUG]`` → :class:`TransientError`; anything
    else → :class:`CommandRefused` (for good).
    """
    code = response_code(text)
    where = f" {target!r}" if target else ""
    if code in THROTTLE_CODES or _TOO_MANY.search(text):
        return Throttled(f"{command}{where}: the server asked to slow down: {text}", retry_after(text))
    if code in TRANSIENT_CODES:
        return TransientError(f"{command}{where}: the server cannot do it now: {text}")
    return CommandRefused(command, status, text, target)


def login_error(text: str, who: str, secrets: Iterable[str | None]) -> GroupmigrateError:
    """The error for a refused login; ``who`` names the login (never its secret).

    Too many connections → :class:`Throttled`; ``[UNAVAILABLE]`` → :class:`TransientError`;
    ``[AUTHORIZATIONFAILED]`` (the credentials are good, but may not open that mailbox, or it
    does not exist) → :class:`AccessDenied`; ``[PRIVACYREQUIRED]`` → :class:`ConfigError`
    (``tls``); anything else → :class:`AuthenticationError`.
    """
    text = scrub(text, secrets) or "no reason given"
    code = response_code(text)
    if code in THROTTLE_CODES or _TOO_MANY.search(text):
        return Throttled(f"{who}: the server refused another connection ({text}); lower max_connections", retry_after(text))
    if code in TRANSIENT_CODES:
        return TransientError(f"{who}: the server cannot log in now: {text}")
    if code == "AUTHORIZATIONFAILED":
        return AccessDenied(
            f"{who}: the credentials were accepted, but may not open this mailbox, or it does not exist "
            f"(the server answered {text})"
        )
    if code == "CONTACTADMIN":
        return AccessDenied(f"{who}: the server refused the login: {text}")
    if code == "PRIVACYREQUIRED":
        return ConfigError(f"the server accepts this login only over TLS: use tls = \"implicit\" or \"starttls\" ({text})", key="tls")
    return AuthenticationError(f"{who}: the server did not accept the credentials ({text})")
