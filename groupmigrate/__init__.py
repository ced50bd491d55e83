"""groupmigrate: move whole mailboxes between groupware servers.

The core (models, state store, migrator, reports) has no dependency on any server library;
the EWS backends (``EWSSource``, ``EWSDestination``) import exchangelib when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from groupmigrate.accounts import AccountPair, read_accounts_csv
from groupmigrate.auth import BasicAuth, Credentials, OAuth2ClientCredentials, Secret, TokenProvider
from groupmigrate.capabilities import Capabilities
from groupmigrate.core.dedup import DuplicatePolicy
from groupmigrate.errors import (
    AccessDenied,
    AccessError,
    AccountsFileError,
    AuthenticationError,
    ConfigError,
    ConnectionFailed,
    GroupmigrateError,
    ItemRejected,
    MailboxNotFound,
    OutcomeUnknown,
    SourceIsReadOnly,
    StateError,
    StateLocked,
    Throttled,
    TransientError,
)
from groupmigrate.events import (
    AccountFinished,
    AccountStarted,
    DuplicateSkipped,
    Event,
    FolderStarted,
    ItemFailed,
    ItemMigrated,
    ItemSkipped,
    LoggingSink,
    Progress,
    RunFinished,
    RunStarted,
    TqdmSink,
)
from groupmigrate.items import (
    ALL_ITEM_TYPES,
    Attachment,
    Attendee,
    Contact,
    Event as CalendarEvent,
    FlagStatus,
    Folder,
    Importance,
    ItemRef,
    Mailbox,
    Message,
    MessageKind,
    Note,
    NoteColor,
    Phone,
    PostalAddress,
    Response,
    Sensitivity,
    ShowAs,
    Task,
    TaskStatus,
)
from groupmigrate.core.migrator import AccountAnalysis, Analysis, CheckResult, Migrator
from groupmigrate.core.report import AccountReport, LogEntry, Report
from groupmigrate.core.state import SqliteStateStore, StateStore

if TYPE_CHECKING:
    from groupmigrate.backends.ews import EWSDestination, EWSSource

__version__ = "0.1.0"

__all__ = [
    "ALL_ITEM_TYPES",
    "AccessDenied",
    "AccessError",
    "AccountAnalysis",
    "AccountFinished",
    "AccountPair",
    "AccountReport",
    "AccountStarted",
    "AccountsFileError",
    "Analysis",
    "Attachment",
    "Attendee",
    "AuthenticationError",
    "BasicAuth",
    "CalendarEvent",
    "Capabilities",
    "CheckResult",
    "ConfigError",
    "ConnectionFailed",
    "Contact",
    "Credentials",
    "DuplicatePolicy",
    "DuplicateSkipped",
    "EWSDestination",
    "EWSSource",
    "Event",
    "FlagStatus",
    "Folder",
    "FolderStarted",
    "GroupmigrateError",
    "Importance",
    "ItemFailed",
    "ItemMigrated",
    "ItemRef",
    "ItemRejected",
    "ItemSkipped",
    "LogEntry",
    "LoggingSink",
    "Mailbox",
    "MailboxNotFound",
    "Message",
    "MessageKind",
    "Migrator",
    "Note",
    "NoteColor",
    "OAuth2ClientCredentials",
    "OutcomeUnknown",
    "Phone",
    "PostalAddress",
    "Progress",
    "Report",
    "Response",
    "RunFinished",
    "RunStarted",
    "Secret",
    "Sensitivity",
    "ShowAs",
    "SourceIsReadOnly",
    "SqliteStateStore",
    "StateError",
    "StateLocked",
    "StateStore",
    "Task",
    "TaskStatus",
    "Throttled",
    "TokenProvider",
    "TqdmSink",
    "TransientError",
    "read_accounts_csv",
]

_LAZY = {"EWSSource": "groupmigrate.backends.ews", "EWSDestination": "groupmigrate.backends.ews"}


def __getattr__(name: str) -> Any:
    # The EWS backends pull in exchangelib; load them only when asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'groupmigrate' has no attribute {name!r}")
