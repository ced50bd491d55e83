"""Retry policy: honour the server's back-off, bound the total wait, reconnect at once.

exchangelib ships two policies: ``FailFast`` gives up on the first busy answer, and
``FaultTolerance`` sleeps 10 s (doubling) for anything it reads as "busy", including a
server that merely answers ``Connection: close``. Here exchangelib is given
:class:`ResponsePolicy`, which never sleeps by itself and turns HTTP answers into precise
errors; :class:`Retrier` then decides per call:

* the server asked us to wait (ErrorServerBusy with BackOffMilliseconds, 503 with
  Retry-After): wait that long, with all threads on the connection pausing together, until
  the total wait would exceed ``max_retry_wait``; then raise
  :class:`~groupmigrate.errors.Throttled` with the server's ``retry_after``;
* the connection broke or the server closed it: reconnect and retry at once, a few times
  (with a short pause after the second failure). A write that may have reached the server
  is not repeated blindly: the caller learns that its outcome is unknown.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from exchangelib.errors import CASError, MalformedResponseError, UnauthorizedError
from exchangelib.protocol import RetryPolicy

from groupmigrate.backends.ews.errors import ConnectionClosed, ServerUnavailable, Verdict, classify
from groupmigrate.errors import Throttled

__all__ = ["ResponsePolicy", "Retrier"]

T = TypeVar("T")

_BUSY_STATUSES = frozenset({429, 502, 503, 504})


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def _is_xml(content: bytes) -> bool:
    head = content[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"<?xml") or head.startswith(b"<s:Envelope") or head.startswith(b"<soap:Envelope")


class ResponsePolicy(RetryPolicy):  # type: ignore[misc]
    """The exchangelib retry policy of our connections: classify, never sleep.

    ``fail_fast`` is True so exchangelib raises instead of sleeping; the shared pause set by
    :meth:`back_off` is honoured by every thread before its next request.
    """

    def __init__(self) -> None:
        self._pause_until: dt.datetime | None = None
        self._lock = threading.Lock()

    @property
    def fail_fast(self) -> bool:
        return True

    @property
    def back_off_until(self) -> dt.datetime | None:
        with self._lock:
            if self._pause_until is not None and self._pause_until <= dt.datetime.now():
                self._pause_until = None
            return self._pause_until

    @back_off_until.setter
    def back_off_until(self, value: dt.datetime | None) -> None:
        with self._lock:
            self._pause_until = value

    def back_off(self, seconds: float | None) -> None:
        if not seconds:
            return
        until = dt.datetime.now() + dt.timedelta(seconds=seconds)
        with self._lock:
            if self._pause_until is None or until > self._pause_until:
                self._pause_until = until

    def raise_response_errors(self, response: requests.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        closed = response.headers.get("connection", "").lower() == "close"
        if status == 500 and response.content and _is_xml(response.content):
            return  # a SOAP fault: exchangelib reads the EWS error code from it
        cas_error = response.headers.get("X-CasErrorCode")
        if cas_error:
            raise CASError(cas_error=cas_error.split(":", 1)[-1].strip(), response=response)
        if status == 401 or b"account is currently locked out" in (response.content or b""):
            raise UnauthorizedError(f"HTTP {status}")
        if status in _BUSY_STATUSES or status == 500:
            raise ServerUnavailable(status, retry_after=_retry_after(response), closed=closed)
        location = response.headers.get("location", "")
        if status in (301, 302, 303, 307, 308):
            if "genericerrorpage" in location.lower():
                raise ServerUnavailable(status, closed=closed)
            from exchangelib.errors import RedirectError

            raise RedirectError(url=location or response.url)
        if closed:
            raise ConnectionClosed(f"HTTP {status} with Connection: close")
        raise MalformedResponseError(f"unexpected HTTP {status} from {response.url}")


class Retrier:
    """Runs one server call with the retry rules above.

    Args:
        policy: the connection's :class:`ResponsePolicy` (for the shared pause).
        max_retry_wait: the most seconds one call may spend waiting on the server.
        server: the endpoint, for error messages.
        connection_retries: how often a broken connection is retried.
        sleep: the sleep function (tests pass a fake).
    """

    def __init__(
        self,
        policy: ResponsePolicy,
        *,
        max_retry_wait: float,
        server: str,
        connection_retries: int = 3,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.policy = policy
        self.max_retry_wait = max_retry_wait
        self.server = server
        self.connection_retries = connection_retries
        self.sleep = sleep
        #: Counters for tests and reports: waits, reconnects, seconds waited.
        self.stats = {"throttled": 0, "reconnects": 0, "waited": 0.0}

    def run(self, fn: Callable[[], T], *, mailbox: str | None = None, idempotent: bool = True) -> T:
        """Call ``fn`` until it succeeds or the rules say stop.

        Args:
            fn: the call; it is repeated as a whole.
            mailbox: the mailbox, for messages.
            idempotent: False for writes; a write that may have reached the server is then not
                repeated and :class:`~groupmigrate.errors.ConnectionFailed` is raised with
                ``maybe_applied = True``.
        """
        waited = 0.0
        throttles = 0
        link_failures = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classify() re-raises what it does not know
                verdict: Verdict = classify(exc, server=self.server, mailbox=mailbox)
            if verdict.kind == "fatal":
                raise verdict.error from None
            if verdict.kind == "throttle":
                throttles += 1
                wait = verdict.wait if verdict.wait is not None else min(0.25 * 2 ** (throttles - 1), 30.0)
                if waited + wait > self.max_retry_wait:
                    raise Throttled(
                        f"{self.server} kept asking to slow down; gave up after waiting {waited:.1f} s "
                        f"(limit {self.max_retry_wait:g} s)",
                        retry_after=wait,
                    ) from None
                self.stats["throttled"] += 1
                self._pause(wait)
                waited += wait
                continue
            # a broken link
            if verdict.sent and not idempotent:
                err = verdict.error
                err.maybe_applied = True  # type: ignore[attr-defined]
                raise err from None
            link_failures += 1
            if link_failures > self.connection_retries:
                raise verdict.error from None
            self.stats["reconnects"] += 1
            if link_failures > 1:
                pause = min(0.2 * 2 ** (link_failures - 2), 2.0, max(self.max_retry_wait - waited, 0.0))
                self._pause(pause)
                waited += pause

    def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.policy.back_off(seconds)
        self.sleep(seconds)
        self.stats["waited"] += seconds

