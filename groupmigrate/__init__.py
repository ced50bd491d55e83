"""groupmigrate: move whole mailboxes between groupware servers.

The core (models, state store, migrator, reports) has no dependency on any server library;
the EWS backends (``EWSSource``, ``EWSDestination``) import exchangelib when first used.
Every public name is loaded with its module when first used (``groupmigrate.Migrator``,
``from groupmigrate import Message``), so that ``import groupmigrate`` and the
``groupmigrate`` command start without loading what they do not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from groupmigrate.accounts import AccountPair, read_accounts_csv
    from groupmigrate.auth import BasicAuth, Credentials, OAuth2ClientCredentials, Secret, TokenProvider
    from groupmigrate.capabilities import Capabilities
    from groupmigrate.core.combined import CombinedDestination, CombinedSource
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
    from groupmigrate.protocols import Unreadable
    from groupmigrate.core.report import AccountReport, LogEntry, Report
    from groupmigrate.core.state import SqliteStateStore, StateStore
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
    "CombinedDestination",
    "CombinedSource",
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
    "Unreadable",
    "read_accounts_csv",
]

#: Public name -> (module, name in that module), loaded on first use by :func:`__getattr__`.
_LAZY: dict[str, tuple[str, str]] = {
    "ALL_ITEM_TYPES": ("groupmigrate.items", "ALL_ITEM_TYPES"),
    "AccessDenied": ("groupmigrate.errors", "AccessDenied"),
    "AccessError": ("groupmigrate.errors", "AccessError"),
    "AccountAnalysis": ("groupmigrate.core.migrator", "AccountAnalysis"),
    "AccountFinished": ("groupmigrate.events", "AccountFinished"),
    "AccountPair": ("groupmigrate.accounts", "AccountPair"),
    "AccountReport": ("groupmigrate.core.report", "AccountReport"),
    "AccountStarted": ("groupmigrate.events", "AccountStarted"),
    "AccountsFileError": ("groupmigrate.errors", "AccountsFileError"),
    "Analysis": ("groupmigrate.core.migrator", "Analysis"),
    "Attachment": ("groupmigrate.items", "Attachment"),
    "Attendee": ("groupmigrate.items", "Attendee"),
    "AuthenticationError": ("groupmigrate.errors", "AuthenticationError"),
    "BasicAuth": ("groupmigrate.auth", "BasicAuth"),
    "CalendarEvent": ("groupmigrate.items", "Event"),
    "Capabilities": ("groupmigrate.capabilities", "Capabilities"),
    "CheckResult": ("groupmigrate.core.migrator", "CheckResult"),
    "CombinedDestination": ("groupmigrate.core.combined", "CombinedDestination"),
    "CombinedSource": ("groupmigrate.core.combined", "CombinedSource"),
    "ConfigError": ("groupmigrate.errors", "ConfigError"),
    "ConnectionFailed": ("groupmigrate.errors", "ConnectionFailed"),
    "Contact": ("groupmigrate.items", "Contact"),
    "Credentials": ("groupmigrate.auth", "Credentials"),
    "DuplicatePolicy": ("groupmigrate.core.dedup", "DuplicatePolicy"),
    "DuplicateSkipped": ("groupmigrate.events", "DuplicateSkipped"),
    "EWSDestination": ("groupmigrate.backends.ews", "EWSDestination"),
    "EWSSource": ("groupmigrate.backends.ews", "EWSSource"),
    "Event": ("groupmigrate.events", "Event"),
    "FlagStatus": ("groupmigrate.items", "FlagStatus"),
    "Folder": ("groupmigrate.items", "Folder"),
    "FolderStarted": ("groupmigrate.events", "FolderStarted"),
    "GroupmigrateError": ("groupmigrate.errors", "GroupmigrateError"),
    "Importance": ("groupmigrate.items", "Importance"),
    "ItemFailed": ("groupmigrate.events", "ItemFailed"),
    "ItemMigrated": ("groupmigrate.events", "ItemMigrated"),
    "ItemRef": ("groupmigrate.items", "ItemRef"),
    "ItemRejected": ("groupmigrate.errors", "ItemRejected"),
    "ItemSkipped": ("groupmigrate.events", "ItemSkipped"),
    "LogEntry": ("groupmigrate.core.report", "LogEntry"),
    "LoggingSink": ("groupmigrate.events", "LoggingSink"),
    "Mailbox": ("groupmigrate.items", "Mailbox"),
    "MailboxNotFound": ("groupmigrate.errors", "MailboxNotFound"),
    "Message": ("groupmigrate.items", "Message"),
    "MessageKind": ("groupmigrate.items", "MessageKind"),
    "Migrator": ("groupmigrate.core.migrator", "Migrator"),
    "Note": ("groupmigrate.items", "Note"),
    "NoteColor": ("groupmigrate.items", "NoteColor"),
    "OAuth2ClientCredentials": ("groupmigrate.auth", "OAuth2ClientCredentials"),
    "OutcomeUnknown": ("groupmigrate.errors", "OutcomeUnknown"),
    "Phone": ("groupmigrate.items", "Phone"),
    "PostalAddress": ("groupmigrate.items", "PostalAddress"),
    "Progress": ("groupmigrate.events", "Progress"),
    "Report": ("groupmigrate.core.report", "Report"),
    "Response": ("groupmigrate.items", "Response"),
    "RunFinished": ("groupmigrate.events", "RunFinished"),
    "RunStarted": ("groupmigrate.events", "RunStarted"),
    "Secret": ("groupmigrate.auth", "Secret"),
    "Sensitivity": ("groupmigrate.items", "Sensitivity"),
    "ShowAs": ("groupmigrate.items", "ShowAs"),
    "SourceIsReadOnly": ("groupmigrate.errors", "SourceIsReadOnly"),
    "SqliteStateStore": ("groupmigrate.core.state", "SqliteStateStore"),
    "StateError": ("groupmigrate.errors", "StateError"),
    "StateLocked": ("groupmigrate.errors", "StateLocked"),
    "StateStore": ("groupmigrate.core.state", "StateStore"),
    "Task": ("groupmigrate.items", "Task"),
    "TaskStatus": ("groupmigrate.items", "TaskStatus"),
    "Throttled": ("groupmigrate.errors", "Throttled"),
    "TokenProvider": ("groupmigrate.auth", "TokenProvider"),
    "TqdmSink": ("groupmigrate.events", "TqdmSink"),
    "TransientError": ("groupmigrate.errors", "TransientError"),
    "Unreadable": ("groupmigrate.protocols", "Unreadable"),
    "read_accounts_csv": ("groupmigrate.accounts", "read_accounts_csv"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'groupmigrate' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
