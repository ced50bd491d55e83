"""Events a migration reports while it runs, and ready-made sinks for them.

Pass any callable as ``Migrator(on_event=...)``; it receives instances of the classes below,
one at a time (calls are serialized, so a sink needs no lock of its own). Per account the
order is: AccountStarted, then per folder FolderStarted followed by item events and
Progress, then AccountFinished. RunStarted comes first and RunFinished last.

Account events carry the :class:`~groupmigrate.AccountPair` itself (``event.pair``, with its
source and destination addresses); ``event.account`` is its key as text. A sink that raises
is reported once in the log and its later failures are counted, never let through.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from typing import IO, Any, Union

import attrs

from groupmigrate.accounts import AccountPair

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


class _OfAccount:
    """Account events: ``pair`` is the account pair; ``account`` its key, as text."""

    pair: AccountPair

    @property
    def account(self) -> str:
        return self.pair.key


@attrs.frozen
class AccountStarted(_OfAccount):
    run_id: str
    pair: AccountPair


@attrs.frozen
class FolderStarted(_OfAccount):
    pair: AccountPair
    folder: str
    item_type: str
    items: int


@attrs.frozen
class Progress(_OfAccount):
    """Items and bytes done so far for one account, out of the totals known so far."""

    pair: AccountPair
    items_done: int
    items_total: int
    bytes_done: int
    bytes_total: int


@attrs.frozen
class ItemMigrated(_OfAccount):
    pair: AccountPair
    folder: str
    item_type: str
    item: str
    size: int


@attrs.frozen
class DuplicateSkipped(_OfAccount):
    pair: AccountPair
    folder: str
    item_type: str
    item: str
    reason: str


@attrs.frozen
class ItemSkipped(_OfAccount):
    pair: AccountPair
    folder: str
    item_type: str
    item: str
    reason: str


@attrs.frozen
class ItemFailed(_OfAccount):
    pair: AccountPair
    folder: str
    item_type: str
    item: str
    error: str


@attrs.frozen
class AccountFinished(_OfAccount):
    run_id: str
    pair: AccountPair
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


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


class TqdmSink:
    """Progress for people: one overall bar (items, bytes, rate, ETA) and a bar for each account
    being worked on (at most ``workers``, in the order they started), removed when the account
    finishes, so nothing is left behind after the summary.

    Where the output is not a terminal (a log file, CI), plain lines are written instead every
    ``interval`` seconds and when an account finishes: no carriage returns or escape codes.
    tqdm.auto renders the bars in a notebook too.
    """

    def __init__(self, file: IO[str] | None = None, workers: int = 4, interval: float = 10.0, **tqdm_kwargs: Any) -> None:
        self.file = file if file is not None else sys.stderr
        self.workers = workers
        self.interval = interval
        isatty = getattr(self.file, "isatty", None)
        self.plain = not (callable(isatty) and isatty()) and not _in_notebook()
        self._kwargs = {k: v for k, v in tqdm_kwargs.items() if k != "leave"}
        self._progress: dict[str, Progress] = {}
        self._started = time.monotonic()
        self._last_line = 0.0
        self._bars: dict[str, Any] = {}
        self._overall: Any = None
        self._finished: dict[str, str] = {}
        if not self.plain:
            from tqdm.auto import tqdm

            self._tqdm = tqdm

    # -- totals over every account --
    def _totals(self) -> tuple[int, int, int, int]:
        ps = self._progress.values()
        return (sum(p.items_done for p in ps), sum(p.items_total for p in ps),
                sum(p.bytes_done for p in ps), sum(p.bytes_total for p in ps))  # fmt: skip

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._progress[event.account] = event
            self._plain_line(force=False) if self.plain else self._draw(event)
        elif isinstance(event, AccountFinished):
            self._finished[event.account] = event.status
            if self.plain:
                self._plain_line(force=True, note=f"{event.account}: {event.status}")
            else:
                bar = self._bars.pop(event.account, None)
                if bar is not None:
                    bar.close()
                self._draw_overall()
        elif isinstance(event, RunFinished):
            if self.plain:
                self._plain_line(force=True, note=f"run {event.status}")
            else:
                for bar in self._bars.values():
                    bar.close()
                self._bars.clear()
                if self._overall is not None:
                    self._draw_overall()
                    self._overall.close()
                    self._overall = None

    def _draw(self, event: Progress) -> None:
        self._draw_overall()
        bar = self._bars.get(event.account)
        if bar is None and event.account not in self._finished and len(self._bars) < self.workers:
            bar = self._bars[event.account] = self._tqdm(
                total=event.items_total, desc=event.account, unit="item", leave=False, file=self.file,
                position=len(self._bars) + 1, **self._kwargs,
            )  # fmt: skip
        if bar is not None:
            bar.total = event.items_total
            bar.n = event.items_done
            bar.refresh()

    def _draw_overall(self) -> None:
        items, total, done_bytes, total_bytes = self._totals()
        if self._overall is None:
            self._overall = self._tqdm(total=total, desc="all accounts", unit="item", position=0, leave=True,
                                       file=self.file, **self._kwargs)  # fmt: skip
        self._overall.total = total
        self._overall.n = items
        self._overall.set_postfix_str(f"{_size(done_bytes)} of {_size(total_bytes)}", refresh=False)
        self._overall.refresh()

    def _plain_line(self, force: bool, note: str = "") -> None:
        now = time.monotonic()
        if not force and now - self._last_line < self.interval:
            return
        self._last_line = now
        items, total, done_bytes, total_bytes = self._totals()
        elapsed = max(now - self._started, 1e-6)
        rate = items / elapsed
        eta = f", ETA {((total - items) / rate):.0f} s" if rate > 0 and total > items else ""
        text = (f"progress: {items}/{total} items, {_size(done_bytes)} of {_size(total_bytes)}, "
                f"{rate:.1f} items/s{eta}, {len(self._finished)}/{max(len(self._progress), len(self._finished))} accounts done")  # fmt: skip
        print(text + (f"; {note}" if note else ""), file=self.file, flush=True)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
