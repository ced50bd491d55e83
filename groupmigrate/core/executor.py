"""The executor: the one place that retries, waits, limits concurrency and reconciles writes.

Backends make one attempt per call and classify its outcome (see
:mod:`groupmigrate.protocols`). Here:

- a read that failed transiently is repeated with backoff (a broken connection at once,
  then after growing pauses), a throttled call after the server's ``retry_after``;
- a write is repeated only when it certainly did not apply (refused before it went out,
  throttled, or refused per item for a transient reason);
- a write whose outcome is unknown is **reconciled**: the destination is asked for the
  provenance stamps of the items in question (that lookup is a read, retried like any
  other); what is found is taken as created, what is not is sent again. A destination
  without stamps cannot be asked: such items are recorded as ambiguous and named in the
  log, never guessed;
- concurrency per server adapts: it halves when the server throttles and grows back;
- with a :class:`~groupmigrate.core.limits.SharedLimit`, each call also holds a slot of its
  server's shared scope (inside the local limit), and throttling is reported to it, so that
  a server's limit and its pauses hold across every worker.

Every wait honours :meth:`Migrator.cancel` and is bounded by ``max_throttle_wait``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import attrs

from groupmigrate.core.limits import SharedLimit, SlotCancelled
from groupmigrate.errors import AccessError, GroupmigrateError, OutcomeUnknown, Throttled, TransientError
from groupmigrate.items import Folder, Item
from groupmigrate.protocols import CreateResult, DestinationMailbox, SupportsProvenance

__all__ = ["AdaptiveLimit", "ByteBudget", "Cancelled", "Executor", "Written"]

log = logging.getLogger("groupmigrate")

T = TypeVar("T")

#: attempts of one call (reads) or one item (writes) before it is given up for this run
MAX_ATTEMPTS = 6


class Cancelled(GroupmigrateError):
    """Raised inside workers to stop at a batch boundary after :meth:`Migrator.cancel`."""


class AdaptiveLimit:
    """Concurrency toward one server that halves when throttled and grows back on success."""

    def __init__(self, limit: int) -> None:
        self.max = max(1, limit)
        self.limit = self.max
        self._active = 0
        self._successes = 0
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        with self._cond:
            while self._active >= self.limit:
                self._cond.wait()
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def throttled(self) -> None:
        with self._cond:
            self.limit = max(1, self.limit // 2)
            self._successes = 0

    def succeeded(self) -> None:
        with self._cond:
            self._successes += 1
            if self.limit < self.max and self._successes >= 20:
                self.limit += 1
                self._successes = 0
                self._cond.notify_all()


class ByteBudget:
    """Bytes of batches in flight across all workers.

    Each batch is bounded by bytes, but every worker holds one (with its copies through
    parsing and serializing) at the same time; one shared budget keeps the process's memory
    bounded whatever the number of workers. A batch bigger than the budget waits until it can
    have the whole budget to itself.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, n: int) -> int:
        n = min(n, self.limit)
        with self._cond:
            while self.used + n > self.limit:
                self._cond.wait()
            self.used += n
        return n

    def try_acquire(self, n: int) -> int | None:
        """Like :meth:`acquire`, but None at once when the bytes are not free now."""
        n = min(n, self.limit)
        with self._cond:
            if self.used + n > self.limit:
                return None
            self.used += n
        return n

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


@attrs.frozen
class Written:
    """What became of one item handed to :meth:`Executor.create`.

    ``status`` is ``created``, ``failed`` or ``ambiguous`` (sent, the answer lost, and the
    destination could not tell whether it holds the item).
    """

    status: str
    item_id: str | None = None
    error: str | None = None
    code: str | None = None
    warnings: tuple[str, ...] = ()


def _backoff(attempt: int) -> float:
    """Pause before attempt ``attempt + 1``: at once after the first failure, then growing."""
    return 0.0 if attempt <= 1 else min(10.0, 0.1 * 2 ** (attempt - 2))


class Executor:
    """Runs backend calls for the migrator under the rules in the module docstring.

    Args:
        source_connections: the most concurrent calls to the source server.
        destination_connections: the same for the destination.
        batch_bytes: the largest batch; twice this many bytes may be in flight at once.
        max_throttle_wait: seconds one call may spend waiting on a throttling server.
        cancel: set to stop at the next wait.
        shared: limits shared with other workers (None: this executor's own limits only).
        servers: with ``shared``, the identities of the source and the destination server
            (:func:`~groupmigrate.core.limits.server_identity`).
    """

    def __init__(
        self,
        *,
        source_connections: int,
        destination_connections: int,
        batch_bytes: int,
        max_throttle_wait: float,
        cancel: threading.Event,
        shared: SharedLimit | None = None,
        servers: tuple[str, str] | None = None,
    ) -> None:
        if shared is not None and servers is None:
            raise ValueError("servers: required with shared limits")
        self.shared = shared
        self._servers = servers or ("", "")
        self.source = AdaptiveLimit(source_connections)
        self.destination = AdaptiveLimit(destination_connections)
        self.bytes_in_flight = ByteBudget(2 * batch_bytes)
        self.max_throttle_wait = max_throttle_wait
        self.cancel = cancel
        #: what happened, for reports and tests: retries, throttle waits, reconciliations
        self.stats: dict[str, int] = {"retries": 0, "throttled": 0, "reconciled": 0, "resent": 0, "ambiguous": 0}
        self._stats_lock = threading.Lock()

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _sleep(self, seconds: float) -> None:
        if self.cancel.wait(seconds) if seconds > 0 else self.cancel.is_set():
            raise Cancelled("cancelled")

    def _shared_key(self, limit: AdaptiveLimit, what: str) -> str | None:
        """The shared scope of a call through ``limit`` for the account ``what`` (None: not shared)."""
        if self.shared is None or (limit is not self.source and limit is not self.destination):
            return None
        # every caller names the account by AccountPair.key, "<source> -> <destination>"
        source_address, arrow, destination_address = what.partition(" -> ")
        if limit is self.source:
            return self.shared.key("source", self._servers[0], source_address if arrow else None)
        return self.shared.key("destination", self._servers[1], destination_address if arrow else None)

    @contextlib.contextmanager
    def _shared_slot(self, key: str | None) -> Iterator[None]:
        """Hold a slot of the shared scope ``key`` (nothing to hold when None)."""
        if self.shared is None or key is None:
            yield
            return
        slot = self.shared.slot(key, self.cancel)
        try:
            slot.__enter__()
        except SlotCancelled:
            raise Cancelled("cancelled") from None
        try:
            yield
        finally:
            try:
                slot.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - the call's outcome stands; an unreturned slot expires
                log.warning("shared limit %s: the slot could not be given back; it expires", key, exc_info=True)

    def _shared_succeeded(self, key: str | None) -> None:
        if self.shared is not None and key is not None:
            self.shared.succeeded(key)

    def _throttle_delay(self, exc: Throttled, throttles: int, waited: float, what: str, key: str | None = None) -> float:
        delay = exc.retry_after if exc.retry_after is not None else min(60.0, 0.5 * 2.0**throttles)
        if self.shared is not None and key is not None:
            self.shared.throttled(key, delay)  # every worker pauses this server, not only this one
        if waited + delay > self.max_throttle_wait:
            raise Throttled(f"{what}: the server kept refusing requests for {waited:.0f} s", delay)
        self._count("throttled")
        return delay

    def read(self, limit: AdaptiveLimit, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)``, a call without side effects, until it succeeds or the rules say stop."""
        waited = 0.0
        attempt = throttles = 0
        key = self._shared_key(limit, what)
        while True:
            try:
                with limit, self._shared_slot(key):
                    result = fn(*args)
                limit.succeeded()
                self._shared_succeeded(key)
                return result
            except Throttled as exc:
                limit.throttled()
                throttles += 1
                delay = self._throttle_delay(exc, throttles, waited, what, key)
            except TransientError as exc:
                attempt += 1
                if attempt >= MAX_ATTEMPTS:
                    raise
                delay = _backoff(attempt)
                self._count("retries")
                log.info("%s: transient error, retry %d in %.1f s: %s", what, attempt, delay, exc)
            self._sleep(delay)
            waited += delay

    def create(
        self,
        what: str,
        destination: DestinationMailbox,
        folder: Folder,
        items: Sequence[Item],
        stamps: Sequence[str],
        *,
        use_stamps: bool,
    ) -> list[Written]:
        """Create ``items`` in ``folder`` exactly once each; one :class:`Written` per item, in order.

        ``stamps`` are the items' provenance stamps; with ``use_stamps`` (the destination keeps
        them) they are written with the items and used to reconcile unknown outcomes.
        """
        results: list[Written | None] = [None] * len(items)
        todo = list(range(len(items)))
        attempt = 0
        notes: dict[int, list[str]] = {}
        while todo:
            answers = self._send(what, destination, folder, [items[i] for i in todo], [stamps[i] for i in todo] if use_stamps else None)
            retry: list[int] = []
            unknown: list[int] = []
            last_error: dict[int, str] = {}
            for i, answer in zip(todo, answers):
                if answer.ok:
                    results[i] = Written("created", answer.item_id, warnings=(*answer.warnings, *notes.get(i, ())))
                elif answer.maybe_applied or answer.transient:
                    (unknown if answer.maybe_applied else retry).append(i)
                    last_error[i] = answer.error or "no answer"
                else:
                    results[i] = Written("failed", error=answer.error or "refused by the destination", code=answer.code)
            if unknown:
                retry += self._reconcile(what, destination, folder, unknown, stamps, use_stamps, results, last_error, notes)
            attempt += 1
            if retry and attempt >= MAX_ATTEMPTS:
                for i in retry:
                    results[i] = Written("failed", error=f"not accepted after {attempt} attempts: {last_error[i]}", code="Transient")
                break
            todo = sorted(retry)
            if todo:
                self._count("retries")
                self._sleep(_backoff(attempt))
        return [r if r is not None else Written("failed", error="no answer from the destination") for r in results]

    def _send(
        self, what: str, destination: DestinationMailbox, folder: Folder, items: list[Item], stamps: list[str] | None
    ) -> list[CreateResult]:
        """One create call, throttling waited out; a failure of the whole call becomes one result per item."""
        throttles = 0
        waited = 0.0
        key = self._shared_key(self.destination, what)
        while True:
            self._sleep(0)
            try:
                with self.destination, self._shared_slot(key):
                    answers = destination.create_items(folder, items, stamps)
                self.destination.succeeded()
                self._shared_succeeded(key)
            except Throttled as exc:
                self.destination.throttled()
                throttles += 1
                delay = self._throttle_delay(exc, throttles, waited, what, key)
                self._sleep(delay)
                waited += delay
                continue
            except OutcomeUnknown as exc:
                return [CreateResult(ok=False, maybe_applied=True, error=str(exc))] * len(items)
            except (AccessError, Cancelled):
                raise
            except TransientError as exc:  # not sent: nothing applied
                return [CreateResult(ok=False, transient=True, error=str(exc))] * len(items)
            except GroupmigrateError as exc:  # the request was refused as a whole
                return [CreateResult(ok=False, error=str(exc), code="RequestRefused")] * len(items)
            if len(answers) != len(items):
                message = f"the destination answered {len(answers)} results for {len(items)} items"
                return [CreateResult(ok=False, error=message, code="BadAnswer")] * len(items)
            return answers

    def _reconcile(
        self,
        what: str,
        destination: DestinationMailbox,
        folder: Folder,
        unknown: list[int],
        stamps: Sequence[str],
        use_stamps: bool,
        results: list[Written | None],
        last_error: dict[int, str],
        notes: dict[int, list[str]],
    ) -> list[int]:
        """Settle items whose create may have been applied; return those certainly not created."""
        if not use_stamps or not isinstance(destination, SupportsProvenance):
            for i in unknown:
                self._count("ambiguous")
                results[i] = Written(
                    "ambiguous",
                    error=f"sent, but the answer was lost ({last_error[i]}); this destination keeps no provenance "
                    "stamp, so whether it holds the item cannot be told: not sent again",
                    code="Ambiguous",
                )
            return []
        try:
            found = self.read(self.destination, what, destination.find_stamps, folder, [stamps[i] for i in unknown])
        except Cancelled:
            raise
        except GroupmigrateError as exc:
            for i in unknown:
                self._count("ambiguous")
                results[i] = Written(
                    "ambiguous",
                    error=f"sent, but the answer was lost ({last_error[i]}) and the destination could not be checked "
                    f"({exc}); the next run looks for it again before sending it",
                    code="Ambiguous",
                )
            return []
        resend = []
        for i in unknown:
            ids = found.get(stamps[i]) or []
            if ids:
                self._count("reconciled")
                note = "the answer to its creation was lost; found on the destination by its provenance stamp"
                if len(ids) > 1:
                    note += f" ({len(ids)} copies: created more than once)"
                results[i] = Written("created", ids[0], warnings=(*notes.get(i, ()), note))
            else:
                self._count("resent")
                notes.setdefault(i, []).append("sent again: the answer to its creation was lost and the destination did not hold it")
                resend.append(i)
        return resend
