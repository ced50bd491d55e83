"""One attempt per call, its outcome classified: the policy of every request this backend makes.

exchangelib ships two policies: ``FailFast`` gives up on the first busy answer, and
``FaultTolerance`` sleeps 10 s (doubling) for anything it reads as "busy", including a
server that merely answers ``Connection: close``. Here exchangelib is given
:class:`ResponsePolicy`, which never sleeps and turns HTTP answers into precise errors;
:class:`Retrier` then makes exactly one attempt per call and translates what went wrong:

* the server asked us to slow down (ErrorServerBusy with BackOffMilliseconds, HTTP 429, or a
  503 answering a read): :class:`~groupmigrate.errors.Throttled` with the server's
  ``retry_after``;
* the request never reached the server (connection refused, TLS handshake, reset while the
  request was being written): :class:`~groupmigrate.errors.ConnectionFailed`;
* the link broke or a gateway answered after the request went out (timeout, reset, HTTP
  502/503/504, a 500 that is not a SOAP fault): a read raises
  :class:`~groupmigrate.errors.ConnectionFailed`, a write
  :class:`~groupmigrate.errors.OutcomeUnknown` (it may have been applied).

Nothing here waits or repeats: the migrator's executor owns retries, backoff and the
reconciliation of writes whose outcome is unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from exchangelib.errors import CASError, MalformedResponseError, UnauthorizedError
from exchangelib.protocol import RetryPolicy

from groupmigrate.backends.ews.errors import ConnectionClosed, ServerUnavailable, Verdict, classify
from groupmigrate.errors import ConnectionFailed, OutcomeUnknown, Throttled

__all__ = ["ResponsePolicy", "Retrier"]

T = TypeVar("T")

_UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})


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

    ``fail_fast`` is True so exchangelib raises instead of sleeping, and there is never a
    pause to honour (waiting is the executor's decision).
    """

    @property
    def fail_fast(self) -> bool:
        return True

    @property
    def back_off_until(self) -> dt.datetime | None:
        return None

    def back_off(self, seconds: Any) -> None:
        return None

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
        if status in _UNAVAILABLE_STATUSES or status == 500:
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
    """Runs one server call once and raises the groupmigrate error its failure means.

    Args:
        server: the endpoint, for error messages.
    """

    def __init__(self, *, server: str) -> None:
        self.server = server

    def run(self, fn: Callable[[], T], *, mailbox: str | None = None, idempotent: bool = True) -> T:
        """Call ``fn`` once; on failure raise the classified error.

        Args:
            fn: the call.
            mailbox: the mailbox, for messages.
            idempotent: False for writes: a write that may have reached the server raises
                :class:`~groupmigrate.errors.OutcomeUnknown` instead of
                :class:`~groupmigrate.errors.ConnectionFailed`.
        """
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classify() re-raises what it does not know
            verdict: Verdict = classify(exc, server=self.server, mailbox=mailbox)
        raise self.outcome(verdict, idempotent=idempotent) from None

    def outcome(self, verdict: Verdict, *, idempotent: bool) -> Exception:
        """The error to raise for ``verdict`` on a read (``idempotent``) or a write."""
        if verdict.kind == "fatal":
            return verdict.error
        if verdict.kind == "throttle":
            error = verdict.error
            if isinstance(error, Throttled):
                return error
            return Throttled(str(error), retry_after=verdict.wait)
        if verdict.kind == "unavailable":
            # a server or gateway answered an error page after the request went out
            if not idempotent:
                return OutcomeUnknown(
                    f"{verdict.error}; the request had been sent, so it may have been applied"
                )
            if verdict.wait is not None or verdict.status == 503:
                return Throttled(str(verdict.error), retry_after=verdict.wait)
            return ConnectionFailed(str(verdict.error))
        # a broken link
        if verdict.sent and not idempotent:
            return OutcomeUnknown(f"{verdict.error} after the request was sent; it may have been applied")
        return verdict.error
