"""Notifications by HTTP: :class:`WebhookNotifier`."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from groupmigrate.accounts import AccountPair
from groupmigrate.auth import Secret
from groupmigrate.errors import NotificationError
from groupmigrate.frontdoors.notify.protocol import ReportLike, RunInfo

__all__ = ["SIGNATURE_HEADER", "WebhookNotifier"]

#: Header carrying ``sha256=<hex HMAC-SHA256 of the request body>`` when a secret is set.
SIGNATURE_HEADER = "X-Groupmigrate-Signature"


class WebhookNotifier:
    """POSTs each announcement as JSON to a URL.

    The body is ``{"event": "submitted" | "started" | "finished", "sent": <ISO time>, ...}``
    with ``run`` and ``accounts`` (source and destination of each pair, never credentials)
    for the first two, and ``report`` (the report's JSON) and ``report_location`` for the
    last. With a ``secret``, the ``X-Groupmigrate-Signature`` header carries
    ``sha256=<hex HMAC-SHA256 of the body with the secret as key>``; the receiver recomputes
    it to know the request is genuine.

    Args:
        url: An ``http://`` or ``https://`` URL.
        secret: The key of the signature, or None for unsigned requests.
        timeout: Seconds to wait for the receiver.
        ssl_context: TLS settings for https; default: the system's trusted CAs.

    Raises:
        ValueError: The URL is not http(s).
    """

    def __init__(
        self,
        url: str,
        secret: str | Secret | None = None,
        timeout: float = 10,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the webhook URL must be an http:// or https:// URL")
        self.url = url
        self._secret = secret if isinstance(secret, Secret) or secret is None else Secret(secret)
        self.timeout = timeout
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"WebhookNotifier(url={self._where()!r}, signed={self._secret is not None})"

    def submitted(self, pairs: Sequence[AccountPair], *, run_info: RunInfo | Mapping[str, Any]) -> None:
        """POST the ``submitted`` event with the run info and the account pairs."""
        self._post("submitted", {"run": RunInfo.of(run_info).to_dict(), "accounts": _pairs_json(pairs)})

    def started(self, pairs: Sequence[AccountPair], *, run_info: RunInfo | Mapping[str, Any]) -> None:
        """POST the ``started`` event with the run info and the account pairs."""
        self._post("started", {"run": RunInfo.of(run_info).to_dict(), "accounts": _pairs_json(pairs)})

    def finished(self, report: ReportLike, *, report_location: str | None) -> None:
        """POST the ``finished`` event with the report and where its file is."""
        self._post("finished", {"report_location": report_location, "report": json.loads(report.to_json())})

    def signature(self, body: bytes) -> str | None:
        """The signature header value for ``body``, or None without a secret."""
        if self._secret is None:
            return None
        digest = hmac.new(self._secret.reveal().encode("utf-8"), body, hashlib.sha256).hexdigest()
        return f"sha256={digest}"

    def _post(self, event: str, payload: dict[str, Any]) -> None:
        sent = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        body = json.dumps({"event": event, "sent": sent, **payload}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Groupmigrate-Event": event,
                   "User-Agent": "groupmigrate"}  # fmt: skip
        signature = self.signature(body)
        if signature:
            headers[SIGNATURE_HEADER] = signature
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()  # the error carries the open response; release its connection now
            raise NotificationError(f"webhook {self._where()}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise NotificationError(f"webhook {self._where()}: {reason}") from None

    def _where(self) -> str:
        # Webhook URLs often carry a token in their path or query: show only scheme and host.
        parts = urllib.parse.urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}/..."


def _pairs_json(pairs: Sequence[AccountPair]) -> list[dict[str, str]]:
    return [{"source": p.source, "destination": p.destination} for p in pairs]
