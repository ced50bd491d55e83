"""Notifications by mail: :class:`SmtpNotifier`."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal

from groupmigrate.accounts import AccountPair
from groupmigrate.auth import Secret
from groupmigrate.errors import NotificationError
from groupmigrate.frontdoors.notify.messages import (
    plural,
    report_html,
    report_text,
    run_mail_html,
    run_mail_text,
    status_summary,
)
from groupmigrate.frontdoors.notify.protocol import ReportLike, RunInfo, logger

__all__ = ["Security", "SmtpNotifier"]

Security = Literal["starttls", "ssl", "none"]
_MASK = "********"


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
        title = f"Migration submitted: {plural(len(pairs), 'account')}"
        intro = f"A migration of {plural(len(pairs), 'account')} was submitted."
        self._send_run_mail(title, intro, pairs, RunInfo.of(run_info))

    def started(self, pairs: Sequence[AccountPair], *, run_info: RunInfo | Mapping[str, Any]) -> None:
        """Send the start mail."""
        title = f"Migration started: {plural(len(pairs), 'account')}"
        intro = f"The migration of {plural(len(pairs), 'account')} has started."
        self._send_run_mail(title, intro, pairs, RunInfo.of(run_info))

    def _send_run_mail(self, title: str, intro: str, pairs: Sequence[AccountPair], run_info: RunInfo) -> None:
        self._send(title, run_mail_text(intro, pairs, run_info), run_mail_html(intro, pairs, run_info))

    def finished(self, report: ReportLike, *, report_location: str | None) -> None:
        """Send the end mail: status and counts per account, and where the report is."""
        title = f"Migration finished: {status_summary(report)}"
        self._send(title, report_text(report, report_location), report_html(report, report_location))

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
