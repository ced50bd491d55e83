"""The records a state store keeps: runs, accounts, folders, the item id map and the log."""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = [
    "AccountRecord",
    "FolderState",
    "ItemMapping",
    "LogEntry",
    "MAPPED_OUTCOMES",
    "MAPPING_OUTCOMES",
    "RunRecord",
]

#: What became of a source item, as recorded in the id map (see :class:`ItemMapping`).
MAPPING_OUTCOMES = ("migrated", "present", "skipped", "failed", "ambiguous")
#: The outcomes that make an item "done": later runs do not write it again.
MAPPED_OUTCOMES = ("migrated", "present")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ts(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat() if value is not None else None


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@attrs.frozen
class RunRecord:
    """One run: a migration (``mode`` ``full``, ``trial`` or ``delta``) or a verification.

    ``status`` is ``running``, ``completed``, ``completed_with_errors``, ``failed``,
    ``cancelled`` or ``interrupted`` (its process died; run again to resume). A run still
    marked ``running`` in the file is read as ``interrupted`` when no process holds the
    state file's writer lock.
    """

    run_id: str
    mode: str
    started: dt.datetime
    finished: dt.datetime | None
    status: str
    since: dt.datetime | None = None
    item_types: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``verify`` for a verification, ``migration`` for every other mode."""
        return _kind(self.mode)


def _kind(mode: str) -> str:
    return "verify" if mode == "verify" else "migration"


@attrs.frozen
class AccountRecord:
    run_id: str
    pair_key: str
    source: str
    destination: str
    status: str
    error: str | None
    started: dt.datetime | None
    finished: dt.datetime | None


@attrs.frozen
class FolderState:
    pair_key: str
    folder_key: str
    path: tuple[str, ...]
    kind: str
    destination_id: str | None = None
    watermark: dt.datetime | None = None
    sync_state: str | None = None


@attrs.frozen
class ItemMapping:
    """One source item and what became of it on the destination."""

    source_id: str
    destination_id: str | None
    item_type: str
    folder_key: str
    fingerprint: str | None = None
    size: int = 0
    #: ``migrated`` (created by this migration), ``present`` (the same content was already on
    #: the destination, not created by this migration), ``skipped`` (not migrated on purpose),
    #: ``failed``, or ``ambiguous`` (a write whose outcome could not be determined). Only
    #: ``migrated`` and ``present`` items count as done; the others are looked at again by
    #: the next run.
    outcome: str = "migrated"
    #: a human label of the item: subject, sender and date of a message, a contact's name
    label: str | None = None


@attrs.frozen
class LogEntry:
    """One line of an account's detailed log.

    ``kind`` is one of ``duplicate``, ``skipped``, ``failed`` (per item), ``changed`` (a
    mapper or the sanitizer altered an item), ``notice`` (once per account), ``missing``
    (found by verify) or ``error`` (the account itself failed).
    """

    kind: str
    item_type: str | None = None
    folder: str | None = None
    item: str | None = None
    message: str = ""
    time: dt.datetime = attrs.field(factory=_now)
