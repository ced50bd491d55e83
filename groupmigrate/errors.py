"""Errors raised by groupmigrate.

Every error the library raises derives from :class:`GroupmigrateError`. Errors of the
libraries below (exchangelib, requests, sqlite3) are mapped to this tree at the backend
boundary, so callers never need to import them::

    GroupmigrateError
    ├── ConfigError                 bad configuration value (names the key)
    ├── AccountsFileError           bad accounts CSV (lists every bad row and column)
    ├── StateError                  the state store cannot be used (e.g. delta without a finished run)
    │   └── StateLocked             another process is writing the same state file (names it)
    ├── SourceIsReadOnly            a write was attempted through a source connection
    ├── ItemRejected                the destination refused one item (names the item)
    ├── NotificationError           a notification mail or webhook could not be delivered
    ├── OutputError                 a file the run writes (state, report) cannot be written (names it)
    ├── AccessError                 permanent access failures for one account
    │   ├── AuthenticationError     wrong password, bad token, unknown client
    │   ├── AccessDenied            authenticated, but no right (e.g. impersonation denied)
    │   └── MailboxNotFound         the address has no mailbox on that server
    └── TransientError              worth retrying later
        ├── ConnectionFailed        unreachable server, reset, timeout, TLS failure
        │   └── OutcomeUnknown      a write went out and no answer came back: it may have been applied
        └── Throttled               the server asked us to slow down (``retry_after`` seconds)

``error.transient`` is True for errors that a retry may cure and False otherwise.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AccessError",
    "AccountsFileError",
    "AuthenticationError",
    "ConfigError",
    "ConnectionFailed",
    "GroupmigrateError",
    "ItemRejected",
    "MailboxNotFound",
    "NotificationError",
    "OutcomeUnknown",
    "OutputError",
    "SourceIsReadOnly",
    "SourceRenumbered",
    "StateError",
    "StateLocked",
    "Throttled",
    "TransientError",
]


class GroupmigrateError(Exception):
    """Root of every error raised by groupmigrate."""

    transient: bool = False


class ConfigError(GroupmigrateError):
    """A configuration value is missing or invalid; the message names the key."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        #: the message without the key
        self.detail = message


class AccountsFileError(GroupmigrateError):
    """The accounts file has problems; ``problems`` lists ``(row, column, message)``."""

    def __init__(self, problems: list[tuple[int, str, str]], source: str = "accounts file") -> None:
        self.problems = list(problems)
        lines = [f"row {row}, column {col!r}: {msg}" for row, col, msg in self.problems]
        super().__init__(f"{source} has {len(lines)} problem(s):\n  " + "\n  ".join(lines))


class StateError(GroupmigrateError):
    """The state store cannot serve the request (e.g. a delta run without a finished full run)."""


class StateLocked(StateError):
    """Another process holds the state file's writer lock; ``holder`` says which (pid, host, since)."""

    def __init__(self, message: str, holder: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.holder = dict(holder or {})


class SourceIsReadOnly(GroupmigrateError):
    """A write operation was attempted through a connection opened as a migration source."""


class SourceRenumbered(GroupmigrateError):
    """A source folder gave all its items new ids since the last run (IMAP: its UIDVALIDITY
    changed, e.g. after the mailbox was rebuilt or restored).

    Raised by ``sync_items`` for a sync state of the old numbering. The planner then lists the
    whole folder, and copies of items the earlier runs made are recognised by content instead
    of by id, so nothing is copied twice.
    """


class ItemRejected(GroupmigrateError):
    """The destination refused one item; ``item`` names it, ``code`` is the server's code."""

    def __init__(self, message: str, item: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.item = item
        self.code = code


class NotificationError(GroupmigrateError):
    """A notification could not be delivered (the message never names a secret)."""


class OutputError(GroupmigrateError):
    """A file the run writes (the state file, a report) cannot be written: no space, no
    permission, no such directory. ``path`` names it; nothing of the migration is lost."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class AccessError(GroupmigrateError):
    """An account cannot be used at all; retrying will not help."""


class AuthenticationError(AccessError):
    """The server did not accept the credentials (wrong password, bad or expired token)."""


class AccessDenied(AccessError):
    """The credentials were accepted but lack a right, e.g. impersonation of the mailbox."""


class MailboxNotFound(AccessError):
    """The server has no mailbox for the address."""


class TransientError(GroupmigrateError):
    """A failure that a later retry may cure."""

    transient = True


class ConnectionFailed(TransientError):
    """The server could not be reached or the connection broke (reset, timeout, TLS).

    Raised by a write, it means the request was not sent (safe to send again); a write that
    went out and got no usable answer raises :class:`OutcomeUnknown` instead.
    """


class OutcomeUnknown(ConnectionFailed):
    """A write reached the server and no usable answer came back (timeout, reset after sending,
    a gateway's 5xx): it may have been applied. Never resend it blindly: reconcile first."""

    maybe_applied = True


class Throttled(TransientError):
    """The server asked the client to slow down; wait ``retry_after`` seconds."""

    def __init__(self, message: str = "server is busy", retry_after: float | None = None) -> None:
        super().__init__(message if retry_after is None else f"{message} (retry after {retry_after:g} s)")
        self.retry_after = retry_after
