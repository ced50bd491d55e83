"""Notifications: tell people (by mail) or systems (by webhook) how a migration goes.

Three moments are announced, as the hosted migration service does it: the migration was
*submitted* (the account list is accepted), it *started*, and it *finished* (with the
per-account summary and where the full report is). A notifier that fails never stops a
migration: :func:`notify_all` calls each notifier, logs its failure and goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from groupmigrate.accounts import AccountPair
from groupmigrate.auth import Secret
from groupmigrate.errors import NotificationError
from groupmigrate.items import ALL_ITEM_TYPES

__all__ = [
    "SIGNATURE_HEADER",
    "NotificationError",
    "Notifier",
    "ReportLike",
    "RunInfo",
    "SmtpNotifier",
    "WebhookNotifier",
    "notify_all",
]

logger = logging.getLogger(__name__)

#: Header carrying ``sha256=<hex HMAC-SHA256 of the request body>`` when a secret is set.
SIGNATURE_HEADER = "X-Groupmigrate-Signature"

_OUTCOMES = ("migrated", "duplicate", "skipped", "failed")
_METHODS = ("submitted", "started", "finished")
Security = Literal["starttls", "ssl", "none"]
_MASK = "********"


@attrs.frozen
class RunInfo:
    """What a submission or start notification says about the run.

    Notifiers also accept a plain mapping with these keys (others are ignored).

    Args:
        run_id: The run's identifier in the state store, when it is known already.
        mode: ``full``, ``trial`` or ``delta``.
        item_types: The item types being migrated.
        since: In ``full`` mode, the earliest time migrated (None: everything).
        source: A description of the source (e.g. its URL), shown to the reader.
        destination: A description of the destination.
    """

    run_id: str | None = None
    mode: str = "full"
    item_types: tuple[str, ...] = ALL_ITEM_TYPES
    since: dt.datetime | None = None
    source: str | None = None
    destination: str | None = None

    @classmethod
    def of(cls, value: RunInfo | Mapping[str, Any]) -> RunInfo:
        """``value`` itself, or a RunInfo made from a mapping's known keys."""
        if isinstance(value, RunInfo):
            return value
        known = {field.name for field in attrs.fields(cls)}
        fields = {key: item for key, item in value.items() if key in known}
        if "item_types" in fields:
            fields["item_types"] = tuple(fields["item_types"])
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """The run info as JSON-ready data."""
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "item_types": list(self.item_types),
            "since": self.since.isoformat() if self.since else None,
            "source": self.source,
            "destination": self.destination,
        }


class AccountReportLike(Protocol):
    """The part of :class:`groupmigrate.core.report.AccountReport` a notifier reads."""

    @property
    def pair(self) -> AccountPair: ...

    @property
    def status(self) -> str: ...

    @property
    def counts(self) -> Mapping[str, Mapping[str, int]]: ...


class ReportLike(Protocol):
    """The part of :class:`groupmigrate.core.report.Report` a notifier reads."""

    @property
    def run_id(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def started(self) -> dt.datetime | None: ...

    @property
    def finished(self) -> dt.datetime | None: ...

    @property
    def accounts(self) -> Sequence[AccountReportLike]: ...

    def totals(self) -> Mapping[str, int]: ...

    def to_json(self) -> str: ...


@runtime_checkable
class Notifier(Protocol):
    """Receives the three announcements of a migration.

    Implementations may raise on failure; :func:`notify_all` contains the damage.
    """

    def submitted(self, pairs: Sequence[AccountPair], *, run_info: RunInfo) -> None:
        """The account list was accepted; the migration will start."""

    def started(self, pairs: Sequence[AccountPair], *, run_info: RunInfo) -> None:
        """The migration started."""

    def finished(self, report: ReportLike, *, report_location: str | None) -> None:
        """The migration ended; ``report_location`` is the report's path or URL, if any."""


def notify_all(
    notifiers: Iterable[Notifier],
    method: Literal["submitted", "started", "finished"],
    *args: Any,
    **kwargs: Any,
) -> list[tuple[Notifier, Exception]]:
    """Call ``method`` on every notifier; log failures instead of raising them.

    Args:
        notifiers: The notifiers to call, in order.
        method: ``"submitted"``, ``"started"`` or ``"finished"``.
        *args: Passed on to the method.
        **kwargs: Passed on to the method; a ``run_info`` mapping becomes a :class:`RunInfo`.

    Returns:
        The notifiers that failed, each with its exception.

    Raises:
        ValueError: ``method`` is not one of the three (a programming error).
    """
    if method not in _METHODS:
        raise ValueError(f"unknown notification {method!r}; expected one of {', '.join(_METHODS)}")
    if isinstance(kwargs.get("run_info"), Mapping):
        kwargs["run_info"] = RunInfo.of(kwargs["run_info"])  # every notifier then sees a RunInfo
    failures: list[tuple[Notifier, Exception]] = []
    for notifier in notifiers:
        try:
            getattr(notifier, method)(*args, **kwargs)
        except Exception as exc:  # a notification must never abort the migration
            logger.warning("%s notification through %r failed: %s", method, notifier, exc)
            logger.debug("details of the failed %s notification", method, exc_info=True)
            failures.append((notifier, exc))
    return failures


# --------------------------------------------------------------------------------------------
# Mail


class SmtpNotifier:
    """Sends the submission, start and end mails over SMTP.

    Each mail is ``multipart/alternative`` with a plain text and an HTML part. The end mail
    carries each account's status and counts per item type, and where the report is.

    Args:
        host: The SMTP server.
        port: Its port (usually 587 for ``starttls``, 465 for ``ssl``, 25 for ``none``).
        sender: The ``From`` address.
        recipients: The ``To`` addresses.
        security: ``"starttls"`` (upgrade a plain connection), ``"ssl"`` (TLS from the
            first byte) or ``"none"`` (no encryption; only for a relay on a trusted network).
        username: Log in with this user name (AUTH), or None to send without logging in.
        password: The password for ``username``.
        timeout: Seconds to wait for the server.
        ssl_context: TLS settings; default: the system's trusted CAs, host name checked.
        subject_prefix: Put in front of every subject, to make filtering easy.

    Raises:
        ValueError: An argument is invalid (e.g. no recipients, unknown ``security``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        security: Security = "starttls",
        username: str | None = None,
        password: str | Secret | None = None,
        timeout: float = 30,
        ssl_context: ssl.SSLContext | None = None,
        subject_prefix: str = "[groupmigrate]",
    ) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"security must be 'starttls', 'ssl' or 'none', not {security!r}")
        if not recipients:
            raise ValueError("at least one recipient is required")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = tuple(recipients)
        self.security = security
        self.username = username
        self._password = password if isinstance(password, Secret) or password is None else Secret(password)
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.subject_prefix = subject_prefix
        if security == "none" and username is not None:
            logger.warning("SMTP %s:%s: the password will be sent unencrypted (security = none)", host, port)

    def __repr__(self) -> str:
        return (
            f"SmtpNotifier(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"sender={self.sender!r}, recipients={list(self.recipients)!r})"
        )

    def submitted(self, pairs: Sequence[AccountPair], *, run_info: RunInfo | Mapping[str, Any]) -> None:
        """Send the submission mail: the accounts and settings of the run."""
        title = f"Migration submitted: {_plural(len(pairs), 'account')}"
        intro = f"A migration of {_plural(len(pairs), 'account')} was submitted."
        self._send_run_mail(title, intro, pairs, RunInfo.of(run_info))

    def started(self, pairs: Sequence[AccountPair], *, run_info: RunInfo | Mapping[str, Any]) -> None:
        """Send the start mail."""
        title = f"Migration started: {_plural(len(pairs), 'account')}"
        intro = f"The migration of {_plural(len(pairs), 'account')} has started."
        self._send_run_mail(title, intro, pairs, RunInfo.of(run_info))

    def _send_run_mail(self, title: str, intro: str, pairs: Sequence[AccountPair], run_info: RunInfo) -> None:
        self._send(title, _run_mail_text(intro, pairs, run_info), _run_mail_html(intro, pairs, run_info))

    def finished(self, report: ReportLike, *, report_location: str | None) -> None:
        """Send the end mail: status and counts per account, and where the report is."""
        title = f"Migration finished: {_status_summary(report)}"
        self._send(title, _report_text(report, report_location), _report_html(report, report_location))

    def _message(self, title: str, text: str, html_body: str) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"{self.subject_prefix} {title}".strip()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(text)
        message.add_alternative(html_body, subtype="html")
        return message

    def _send(self, title: str, text: str, html_body: str) -> None:
        message = self._message(title, text, html_body)
        try:
            with self._connect() as smtp:
                if self.username is not None and self._password is not None:
                    smtp.login(self.username, self._password.reveal())
                refused = smtp.send_message(message, from_addr=self.sender, to_addrs=list(self.recipients))
        except smtplib.SMTPAuthenticationError as exc:
            reason = f"the server did not accept the user name or password ({exc.smtp_code})"
            raise NotificationError(f"{self._where()}: {reason}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationError(f"{self._where()}: {self._scrub(_describe(exc))}") from None
        for address, (code, _reply) in refused.items():
            logger.warning("%s: recipient %s refused (%s)", self._where(), address, code)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.ehlo()
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _tls(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _where(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def _scrub(self, text: str) -> str:
        # Server replies are echoed in errors; make sure none of them can carry the password.
        return text.replace(self._password.reveal(), _MASK) if self._password else text


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "every recipient was refused: " + ", ".join(exc.recipients)
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {reply}"
    return f"{type(exc).__name__}: {exc}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _status_summary(report: ReportLike) -> str:
    statuses: dict[str, int] = {}
    for account in report.accounts:
        statuses[account.status] = statuses.get(account.status, 0) + 1
    if not statuses:
        return "no accounts"
    return ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in statuses.items())


def _run_facts(run_info: RunInfo) -> list[tuple[str, str]]:
    facts = [("Run", run_info.run_id)] if run_info.run_id else []
    facts += [("Mode", run_info.mode), ("Item types", ", ".join(run_info.item_types))]
    if run_info.since:
        facts.append(("Since", run_info.since.isoformat()))
    if run_info.source:
        facts.append(("Source", run_info.source))
    if run_info.destination:
        facts.append(("Destination", run_info.destination))
    return facts


def _run_mail_text(intro: str, pairs: Sequence[AccountPair], run_info: RunInfo) -> str:
    lines = [intro, ""]
    lines += [f"{label}: {value}" for label, value in _run_facts(run_info)]
    lines += ["", "Accounts:"]
    lines += [f"  {pair.source} -> {pair.destination}" for pair in pairs]
    return "\n".join(lines) + "\n"


def _run_mail_html(intro: str, pairs: Sequence[AccountPair], run_info: RunInfo) -> str:
    facts = "".join(f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>" for label, value in _run_facts(run_info))
    rows = "".join(f"<tr><td>{_e(p.source)}</td><td>{_e(p.destination)}</td></tr>" for p in pairs)
    body = (
        f"<p>{_e(intro)}</p><table>{facts}</table>"
        f"<h3>Accounts</h3><table><tr><th>Source</th><th>Destination</th></tr>{rows}</table>"
    )
    return _html_page(body)


def _item_types(counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    known = [t for t in ALL_ITEM_TYPES if t in counts]
    return known + sorted(t for t in counts if t not in ALL_ITEM_TYPES)


def _count_line(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{outcome} {counts.get(outcome, 0)}" for outcome in _OUTCOMES)


def _times(report: ReportLike) -> str:
    started = report.started.isoformat(timespec="seconds") if report.started else "-"
    finished = report.finished.isoformat(timespec="seconds") if report.finished else "-"
    return f"Started: {started}, finished: {finished}"


def _location_text(report_location: str | None) -> str:
    return f"Full report: {report_location}" if report_location else "No report file was written."


def _report_text(report: ReportLike, report_location: str | None) -> str:
    lines = [
        f"The migration finished: {_status_summary(report)}.",
        "",
        f"Run: {report.run_id} (mode {report.mode})",
        _times(report),
        f"Totals: {_count_line(report.totals())}",
        "",
    ]
    for account in report.accounts:
        lines.append(f"{account.pair.source} -> {account.pair.destination}: {account.status}")
        error = getattr(account, "error", None)
        if error:
            lines.append(f"  error: {error}")
        lines += [f"  {t}: {_count_line(account.counts[t])}" for t in _item_types(account.counts)]
    lines += ["", _location_text(report_location)]
    return "\n".join(lines) + "\n"


def _report_html(report: ReportLike, report_location: str | None) -> str:
    parts = [
        f"<p>The migration finished: <b>{_e(_status_summary(report))}</b>.</p>",
        f"<p>Run <code>{_e(report.run_id)}</code> (mode {_e(report.mode)})<br>{_e(_times(report))}<br>"
        f"Totals: {_e(_count_line(report.totals()))}</p>",
    ]
    parts += [_account_html(account) for account in report.accounts]
    parts.append(f"<p>{_location_html(report_location)}</p>")
    return _html_page("\n".join(parts))


def _account_html(account: AccountReportLike) -> str:
    head = "".join(f"<th>{o}</th>" for o in _OUTCOMES)
    rows = "".join(
        f"<tr><td>{_e(t)}</td>" + "".join(f"<td>{account.counts[t].get(o, 0)}</td>" for o in _OUTCOMES) + "</tr>"
        for t in _item_types(account.counts)
    )
    error = getattr(account, "error", None)
    error_html = f"<p>error: {_e(error)}</p>" if error else ""
    return (
        f"<h3>{_e(account.pair.source)} &rarr; {_e(account.pair.destination)}: {_e(account.status)}</h3>"
        f"{error_html}<table><tr><th>item type</th>{head}</tr>{rows}</table>"
    )


def _location_html(report_location: str | None) -> str:
    if not report_location:
        return "No report file was written."
    if urllib.parse.urlsplit(report_location).scheme in ("http", "https"):
        return f'Full report: <a href="{_e(report_location)}">{_e(report_location)}</a>'
    return f"Full report: <code>{_e(report_location)}</code>"


def _html_page(body: str) -> str:
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head><body>{body}</body></html>"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# --------------------------------------------------------------------------------------------
# Webhook


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
