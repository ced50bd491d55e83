"""Notifications against real servers on loopback: an aiosmtpd SMTP server and an HTTP receiver.

The report passed to ``finished`` is a stand-in with the shape of ``groupmigrate.core.report.Report``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import http.server
import ipaddress
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from groupmigrate.accounts import AccountPair
from groupmigrate.auth import Secret
from groupmigrate.frontdoors.notify import (
    SIGNATURE_HEADER,
    NotificationError,
    Notifier,
    RunInfo,
    SmtpNotifier,
    WebhookNotifier,
    notify_all,
)

SMTP_USER = "notify@example.org"
SMTP_PASSWORD = "Sm7p-Pa55w0rd!x"
HOOK_SECRET = "W3bhook-K3y-Zz"
SENDER = "migration@example.org"
RECIPIENTS = ["it-team@example.org", "boss@example.org"]
PAIRS = [
    AccountPair("alice@contoso.com", "alice@example.org"),
    AccountPair("bob@contoso.com", "bob@example.org"),
]
REPORT_PATH = "/srv/migrations/run-42/report.html"


# --------------------------------------------------------------------------------------------
# A report stand-in with the shape of groupmigrate.core.report.Report


def make_report() -> Any:
    alice = SimpleNamespace(
        pair=PAIRS[0],
        status="completed",
        counts={
            "mail": {"migrated": 10, "duplicate": 2, "skipped": 1, "failed": 0},
            "contacts": {"migrated": 5, "duplicate": 0, "skipped": 0, "failed": 0},
        },
        log=[],
        error=None,
    )
    bob = SimpleNamespace(
        pair=PAIRS[1],
        status="failed",
        counts={"calendar": {"migrated": 0, "duplicate": 0, "skipped": 0, "failed": 3}},
        log=[SimpleNamespace(kind="error", item_type="calendar", folder="Calendar", item="Weekly <sync>",
                             message="refused", time=None)],  # fmt: skip
        error="Zugriff verweigert: <impersonation> fehlt – ä",
    )
    totals = {"migrated": 15, "duplicate": 2, "skipped": 1, "failed": 3}
    payload = {"run_id": "run-42", "mode": "full", "totals": totals, "accounts": [{"source": p.source} for p in PAIRS]}
    return SimpleNamespace(
        run_id="run-42",
        mode="full",
        started=dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc),
        finished=dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone.utc),
        accounts=[alice, bob],
        totals=lambda: totals,
        to_json=lambda: json.dumps(payload),
    )


RUN_INFO = RunInfo(
    run_id="run-42",
    mode="full",
    item_types=("mail", "contacts"),
    since=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    source="https://outlook.office365.com/EWS/Exchange.asmx",
    destination="https://ews.mail.us-east-1.awsapps.com/EWS/Exchange.asmx",
)


# --------------------------------------------------------------------------------------------
# TLS material made on the spot


def _write_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _cert_with_cryptography(cert, key)
    except ImportError:
        if not shutil.which("openssl"):
            pytest.skip("neither the cryptography package nor the openssl command can make a test certificate")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    return cert, key


def _cert_with_cryptography(cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _write_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture(scope="module")
def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """Trusts only the test certificate; host names are checked as in production."""
    return ssl.create_default_context(cafile=str(certificate[0]))


# --------------------------------------------------------------------------------------------
# The SMTP server


class Mailbox:
    """aiosmtpd handler that keeps every delivered envelope."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.content, policy=email.policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]


class Logins:
    """aiosmtpd authenticator accepting one user; remembers each attempt's mechanism."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, bool]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
        self.attempts.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0 (it connects to its own port to start).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def smtp_server() -> Iterator[Callable[..., tuple[int, Mailbox]]]:
    controllers: list[Controller] = []

    def start(**smtp_options: Any) -> tuple[int, Mailbox]:
        mailbox = Mailbox()
        controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port(), **smtp_options)
        controller.start()
        controllers.append(controller)
        return controller.port, mailbox

    yield start
    for controller in controllers:
        controller.stop()


def _parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


# --------------------------------------------------------------------------------------------
# Mail


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_end_mail_over_starttls_with_auth(
    smtp_server: Any, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext, mechanism: str
) -> None:
    logins = Logins()
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    port, mailbox = smtp_server(tls_context=server_tls, require_starttls=True, authenticator=logins,
                                auth_require_tls=True, auth_exclude_mechanism=[other])  # fmt: skip
    notifier = SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, security="starttls", username=SMTP_USER,
                            password=Secret(SMTP_PASSWORD), timeout=5, ssl_context=client_tls)  # fmt: skip

    notifier.finished(make_report(), report_location=REPORT_PATH)

    assert logins.attempts == [(mechanism, True)]
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == RECIPIENTS
    [message] = mailbox.messages()
    assert message["Subject"] == "[groupmigrate] Migration finished: 1 completed, 1 failed"
    assert message["To"] == ", ".join(RECIPIENTS) and message["From"] == SENDER
    assert message.get_content_type() == "multipart/alternative"
    plain, html = _parts(message)
    assert "alice@contoso.com -> alice@example.org: completed" in plain
    assert "  mail: migrated 10, duplicate 2, skipped 1, failed 0" in plain
    assert "  contacts: migrated 5, duplicate 0, skipped 0, failed 0" in plain
    assert "bob@contoso.com -> bob@example.org: failed" in plain
    assert "  calendar: migrated 0, duplicate 0, skipped 0, failed 3" in plain
    assert "Zugriff verweigert: <impersonation> fehlt – ä" in plain
    assert "Totals: migrated 15, duplicate 2, skipped 1, failed 3" in plain
    assert f"Full report: {REPORT_PATH}" in plain
    assert "<td>mail</td><td>10</td><td>2</td><td>1</td><td>0</td>" in html
    assert "&lt;impersonation&gt; fehlt – ä" in html and "<impersonation>" not in html
    assert REPORT_PATH in html
    assert SMTP_PASSWORD not in envelope.content.decode("utf-8", "replace")


def test_submission_and_start_mails_without_tls_or_auth(smtp_server: Any) -> None:
    port, mailbox = smtp_server()
    notifier = SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS[:1], security="none", timeout=5)

    notifier.submitted(PAIRS, run_info=RUN_INFO)
    notifier.started(PAIRS, run_info=RUN_INFO)

    submitted, started = mailbox.messages()
    assert submitted["Subject"] == "[groupmigrate] Migration submitted: 2 accounts"
    assert started["Subject"] == "[groupmigrate] Migration started: 2 accounts"
    for message in (submitted, started):
        plain, html = _parts(message)
        assert "alice@contoso.com -> alice@example.org" in plain and "bob@contoso.com -> bob@example.org" in plain
        assert "Run: run-42" in plain and "Item types: mail, contacts" in plain
        assert "Since: 2026-01-01T00:00:00+00:00" in plain
        assert "<td>alice@contoso.com</td><td>alice@example.org</td>" in html
    assert message["Message-ID"].endswith("@example.org>")


def test_implicit_tls_with_auth(smtp_server: Any, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    logins = Logins()
    # With implicit TLS aiosmtpd does not see a STARTTLS upgrade, so it must not demand one for AUTH.
    port, mailbox = smtp_server(ssl_context=server_tls, authenticator=logins, auth_require_tls=False)
    notifier = SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, security="ssl", username=SMTP_USER,
                            password=SMTP_PASSWORD, timeout=5, ssl_context=client_tls)  # fmt: skip

    notifier.finished(make_report(), report_location=None)

    assert [ok for _, ok in logins.attempts] == [True]
    plain, _ = _parts(mailbox.messages()[0])
    assert "No report file was written." in plain


def test_report_url_becomes_a_link(smtp_server: Any) -> None:
    port, mailbox = smtp_server()
    url = "https://reports.example.org/run-42?view=all&x=1"
    SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, security="none").finished(make_report(), report_location=url)
    _, html = _parts(mailbox.messages()[0])
    assert '<a href="https://reports.example.org/run-42?view=all&amp;x=1">' in html


def test_untrusted_certificate_is_refused(smtp_server: Any, server_tls: ssl.SSLContext) -> None:
    port, mailbox = smtp_server(tls_context=server_tls, require_starttls=True)
    notifier = SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, timeout=5)  # system CAs only
    with pytest.raises(NotificationError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        notifier.started(PAIRS, run_info=RUN_INFO)
    assert mailbox.envelopes == []


def test_starttls_demanded_but_not_offered(smtp_server: Any) -> None:
    port, mailbox = smtp_server()
    notifier = SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, security="starttls", timeout=5)
    with pytest.raises(NotificationError, match="STARTTLS"):
        notifier.started(PAIRS, run_info=RUN_INFO)
    assert mailbox.envelopes == []


def test_unreachable_server() -> None:
    notifier = SmtpNotifier("127.0.0.1", _free_port(), SENDER, RECIPIENTS, security="none", timeout=2)
    with pytest.raises(NotificationError, match=r"SMTP 127\.0\.0\.1:\d+: .*(refused|Errno)"):
        notifier.started(PAIRS, run_info=RUN_INFO)


def test_wrong_password_never_shows_the_password(
    smtp_server: Any, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    logins = Logins()
    port, mailbox = smtp_server(tls_context=server_tls, require_starttls=True, authenticator=logins)
    wrong = "Wr0ng-" + SMTP_PASSWORD
    notifier = SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, username=SMTP_USER, password=wrong, timeout=5,
                            ssl_context=client_tls)  # fmt: skip

    with pytest.raises(NotificationError, match="did not accept the user name or password") as info:
        notifier.finished(make_report(), report_location=REPORT_PATH)
    caplog.set_level(logging.DEBUG, logger="groupmigrate")
    failures = notify_all([notifier], "finished", make_report(), report_location=REPORT_PATH)

    assert logins.attempts and not any(ok for _, ok in logins.attempts)
    assert mailbox.envelopes == []
    assert len(failures) == 1 and isinstance(failures[0][1], NotificationError)
    formatter = logging.Formatter("%(message)s")
    texts = [str(info.value), repr(info.value), repr(notifier), str(failures[0][1])]
    texts += [formatter.format(r) for r in caplog.records if r.name.startswith("groupmigrate")]
    assert any("finished notification through SmtpNotifier" in t for t in texts)
    for text in texts:
        assert wrong not in text and SMTP_PASSWORD not in text


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="security"):
        SmtpNotifier("h", 25, SENDER, RECIPIENTS, security="tls")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="recipient"):
        SmtpNotifier("h", 25, SENDER, [])
    with pytest.raises(ValueError, match="together"):
        SmtpNotifier("h", 25, SENDER, RECIPIENTS, username="u")
    with pytest.raises(ValueError, match="http"):
        WebhookNotifier("file:///etc/passwd")


# --------------------------------------------------------------------------------------------
# Webhook


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Any = self.server
        server.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass  # keep test output quiet


@pytest.fixture()
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # A proxy from the environment must not intercept loopback requests.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []
    server.status = 204
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0KEN-in-path"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_signed_webhook_events(receiver: Any) -> None:
    notifier = WebhookNotifier(receiver.url, secret=HOOK_SECRET, timeout=5)

    notifier.submitted(PAIRS, run_info=RUN_INFO)
    notifier.finished(make_report(), report_location=REPORT_PATH)

    (path, headers, body), (_, headers2, body2) = receiver.received
    assert path == "/hooks/T0KEN-in-path"
    for h, b in ((headers, body), (headers2, body2)):
        expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), b, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(h[SIGNATURE_HEADER.lower()], expected)
        assert h["content-type"].startswith("application/json")
    submitted, finished = json.loads(body), json.loads(body2)
    assert submitted["event"] == "submitted" and headers["x-groupmigrate-event"] == "submitted"
    assert submitted["run"]["run_id"] == "run-42" and submitted["run"]["since"] == "2026-01-01T00:00:00+00:00"
    assert submitted["accounts"] == [{"source": p.source, "destination": p.destination} for p in PAIRS]
    assert finished["event"] == "finished" and finished["report_location"] == REPORT_PATH
    assert finished["report"]["totals"] == {"migrated": 15, "duplicate": 2, "skipped": 1, "failed": 3}
    assert HOOK_SECRET.encode() not in body + body2


def test_unsigned_webhook(receiver: Any) -> None:
    WebhookNotifier(receiver.url).started(PAIRS, run_info=RUN_INFO)
    [(_, headers, body)] = receiver.received
    assert SIGNATURE_HEADER.lower() not in headers
    assert json.loads(body)["event"] == "started"


def test_webhook_http_error_hides_the_url_token(receiver: Any) -> None:
    receiver.status = 500
    notifier = WebhookNotifier(receiver.url, secret=HOOK_SECRET, timeout=5)
    with pytest.raises(NotificationError, match="HTTP 500") as info:
        notifier.started(PAIRS, run_info=RUN_INFO)
    assert "T0KEN" not in str(info.value) and "T0KEN" not in repr(notifier)
    assert HOOK_SECRET not in str(info.value) and HOOK_SECRET not in repr(notifier)


def test_webhook_unreachable() -> None:
    notifier = WebhookNotifier(f"http://127.0.0.1:{_free_port()}/x", timeout=2)
    with pytest.raises(NotificationError, match="refused|Errno"):
        notifier.started(PAIRS, run_info=RUN_INFO)


# --------------------------------------------------------------------------------------------
# notify_all


def test_a_failing_notifier_does_not_stop_the_others(
    receiver: Any, smtp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 503
    port, mailbox = smtp_server()
    failing = WebhookNotifier(receiver.url, secret=HOOK_SECRET, timeout=5)
    mail = SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, security="none", timeout=5)
    caplog.set_level(logging.WARNING, logger="groupmigrate.frontdoors.notify")

    failures = notify_all([failing, mail], "finished", make_report(), report_location=REPORT_PATH)

    assert [n for n, _ in failures] == [failing]
    assert len(mailbox.envelopes) == 1
    [record] = [r for r in caplog.records if r.name == "groupmigrate.frontdoors.notify"]
    assert record.levelno == logging.WARNING and "HTTP 503" in record.getMessage()
    assert HOOK_SECRET not in record.getMessage() and "T0KEN" not in record.getMessage()


def test_notify_all_catches_any_exception(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def submitted(self, pairs: Any, *, run_info: RunInfo) -> None:
            raise RuntimeError("boom")

        def started(self, pairs: Any, *, run_info: RunInfo) -> None:
            pass

        def finished(self, report: Any, *, report_location: str | None) -> None:
            pass

    broken = Broken()
    assert isinstance(broken, Notifier)
    failures = notify_all([broken], "submitted", PAIRS, run_info=RUN_INFO)
    assert [(n, str(e)) for n, e in failures] == [(broken, "boom")]
    assert notify_all([broken], "started", PAIRS, run_info=RUN_INFO) == []


def test_notify_all_rejects_an_unknown_event() -> None:
    with pytest.raises(ValueError, match="unknown notification"):
        notify_all([], "done")  # type: ignore[arg-type]


def test_reprs_hide_secrets() -> None:
    smtp = SmtpNotifier("h.example.org", 587, SENDER, RECIPIENTS, username=SMTP_USER, password=SMTP_PASSWORD)
    hook = WebhookNotifier("https://hooks.example.org/T0KEN?sig=abc", secret=HOOK_SECRET)
    assert SMTP_PASSWORD not in repr(smtp) and SMTP_PASSWORD not in str(vars(smtp))
    assert HOOK_SECRET not in repr(hook) and "T0KEN" not in repr(hook) and HOOK_SECRET not in str(vars(hook))
    assert isinstance(smtp, Notifier) and isinstance(hook, Notifier)


def test_the_real_report_fits(receiver: Any, smtp_server: Any) -> None:
    from groupmigrate.core.report import AccountReport, LogEntry, Report

    account = AccountReport(PAIRS[0], "completed_with_errors", {"mail": {"migrated": 4, "failed": 1}},
                            [LogEntry("failed", "mail", "Inbox", "Big one", "too large")])  # fmt: skip
    report = Report("run-7", "delta", "completed_with_errors", None, None, [account])
    port, mailbox = smtp_server()
    notifiers: list[Notifier] = [SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, security="none", timeout=5),
                 WebhookNotifier(receiver.url, timeout=5)]  # fmt: skip
    assert notify_all(notifiers, "finished", report, report_location=REPORT_PATH) == []
    plain, _ = _parts(mailbox.messages()[0])
    assert "  mail: migrated 4, duplicate 0, skipped 0, failed 1" in plain
    assert json.loads(receiver.received[0][2])["report"]["run_id"] == "run-7"


def test_run_info_may_be_a_mapping(smtp_server: Any) -> None:
    seen: list[Any] = []

    class Recorder:
        def submitted(self, pairs: Any, *, run_info: RunInfo) -> None:
            seen.append(run_info)

        def started(self, pairs: Any, *, run_info: RunInfo) -> None:
            seen.append(run_info)

        def finished(self, report: Any, *, report_location: str | None) -> None:
            pass

    port, mailbox = smtp_server()
    mail = SmtpNotifier("127.0.0.1", port, SENDER, RECIPIENTS, security="none", timeout=5)
    info = {"mode": "trial", "accounts": 2, "item_types": ["mail"]}  # unknown keys are ignored
    assert notify_all([Recorder(), mail], "started", PAIRS, run_info=info) == []
    assert seen == [RunInfo(mode="trial", item_types=("mail",))]
    plain, _ = _parts(mailbox.messages()[0])
    assert "Mode: trial" in plain and "Run:" not in plain
