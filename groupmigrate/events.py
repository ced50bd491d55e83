"""Events a migration reports while it runs, and ready-made sinks for them.

Pass any callable as ``Migrator(on_event=...)``; it receives instances of the classes below,
one at a time (calls are serialized, so a sink needs no lock of its own). Per account the
order is: AccountStarted, then per folder FolderStarted followed by item events and
Progress, then AccountFinished. RunStarted comes first and RunFinished last.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Union

import attrs

__all__ = [
    "AccountFinished",
    "AccountStarted",
    "DuplicateSkipped",
    "Event",
    "FolderStarted",
    "ItemFailed",
    "ItemMigrated",
    "ItemSkipped",
    "LoggingSink",
    "Progress",
    "RunFinished",
    "RunStarted",
    "TqdmSink",
]


@attrs.frozen
class RunStarted:
    run_id: str
    mode: str
    accounts: int


@attrs.frozen
class AccountStarted:
    run_id: str
    account: str


@attrs.frozen
class FolderStarted:
    account: str
    folder: str
    item_type: str
    items: int


@attrs.frozen
class Progress:
    """Items and bytes done so far for one account, out of the totals known so far."""

    account: str
    items_done: int
    items_total: int
    bytes_done: int
    bytes_total: int


@attrs.frozen
class ItemMigrated:
    account: str
    folder: str
    item_type: str
    item: str
    size: int


@attrs.frozen
class DuplicateSkipped:
    account: str
    folder: str
    item_type: str
    item: str
    reason: str


@attrs.frozen
class ItemSkipped:
    account: str
    folder: str
    item_type: str
    item: str
    reason: str


@attrs.frozen
class ItemFailed:
    account: str
    folder: str
    item_type: str
    item: str
    error: str


@attrs.frozen
class AccountFinished:
    run_id: str
    account: str
    status: str
    error: str | None = None


@attrs.frozen
class RunFinished:
    run_id: str
    status: str
    finished: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.timezone.utc))


Event = Union[
    RunStarted, AccountStarted, FolderStarted, Progress, ItemMigrated, DuplicateSkipped,
    ItemSkipped, ItemFailed, AccountFinished, RunFinished,
]  # fmt: skip


class LoggingSink:
    """Writes events to a :mod:`logging` logger: item-level at DEBUG, problems at WARNING."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("groupmigrate.events")

    def __call__(self, event: Event) -> None:
        if isinstance(event, (ItemFailed,)):
            self.logger.warning("%s: %s %r in %s failed: %s", event.account, event.item_type, event.item, event.folder, event.error)
        elif isinstance(event, (ItemSkipped, DuplicateSkipped)):
            self.logger.info("%s: %s %r in %s skipped: %s", event.account, event.item_type, event.item, event.folder, event.reason)
        elif isinstance(event, (ItemMigrated, Progress)):
            self.logger.debug("%r", event)
        else:
            self.logger.info("%r", event)


class TqdmSink:
    """One progress bar per account (tqdm.auto, so it renders in a terminal and a notebook)."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._kwargs = tqdm_kwargs
        self._bars: dict[str, Any] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            bar = self._bars.get(event.account)
            if bar is None:
                bar = self._bars[event.account] = self._tqdm(
                    total=event.items_total, desc=event.account, unit="item", position=len(self._bars), **self._kwargs
                )
            bar.total = event.items_total
            bar.n = event.items_done
            bar.refresh()
        elif isinstance(event, AccountFinished):
            bar = self._bars.get(event.account)
            if bar is not None:
                bar.set_postfix_str(event.status)
                bar.close()
        elif isinstance(event, RunFinished):
            for bar in self._bars.values():
                bar.close()
