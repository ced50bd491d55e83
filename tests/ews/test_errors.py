"""Errors below the backend become groupmigrate errors with distinct messages and no secrets."""

from __future__ import annotations

import socket
import time

import pytest

from groupmigrate.auth import BasicAuth
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.errors import (
    AccessDenied,
    AuthenticationError,
    ConfigError,
    ConnectionFailed,
    MailboxNotFound,
    OutcomeUnknown,
    Throttled,
)
from groupmigrate.items import Folder
from groupmigrate.testing.conformance import sample_message

from .servers import SERVICE, SERVICE_PASSWORD, endpoint_kwargs, served

ADDR = "alice@contoso.com"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _messages(exc: BaseException) -> str:
    return f"{exc}|{exc!r}"


def test_check_tells_each_failure_apart() -> None:
    with served("exchange-online", ADDR) as server:
        server.add_mailbox("carol@contoso.com", password="pw-carol")  # no impersonation grant
        seen = {}
        cases = {
            "wrong password": (dict(auth=BasicAuth(SERVICE, "not-the-password")), ADDR, AuthenticationError),
            "no impersonation right": ({}, "carol@contoso.com", AccessDenied),
            "unknown mailbox": ({}, "nobody@contoso.com", MailboxNotFound),
        }
        for name, (extra, address, error) in cases.items():
            source = EWSSource(**endpoint_kwargs(server, **extra))
            with pytest.raises(error) as caught:
                source.open_mailbox(address).check()
            seen[name] = str(caught.value)
            assert "not-the-password" not in _messages(caught.value)
        assert len(set(seen.values())) == 3
        assert "impersonate" in seen["no impersonation right"]
        assert "nobody@contoso.com" in seen["unknown mailbox"]


def test_unreachable_server_and_tls_failure() -> None:
    port = _free_port()
    source = EWSSource(url=f"http://127.0.0.1:{port}/EWS/Exchange.asmx", auth=BasicAuth("a@b.c", "pw"), timeout=2)
    with pytest.raises(ConnectionFailed, match="unreachable"):
        source.open_mailbox(ADDR).check()
    with served("exchange", ADDR) as server:
        tls = EWSSource(url=server.url.replace("http://", "https://"), auth=BasicAuth(SERVICE, SERVICE_PASSWORD), timeout=2)
        with pytest.raises(ConnectionFailed, match="TLS") as caught:
            tls.open_mailbox(ADDR).check()
        assert caught.value.transient


@pytest.mark.parametrize("knob", ["answer_html", "answer_invalid_xml"])
def test_a_server_that_does_not_speak_ews(knob: str) -> None:
    with served("exchange", ADDR) as server:
        setattr(server.knobs, knob, True)
        with pytest.raises(ConnectionFailed, match="EWS XML"):
            EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR).check()


def test_a_hanging_server_times_out() -> None:
    with served("exchange", ADDR) as server:
        server.knobs.hang = True
        source = EWSSource(**endpoint_kwargs(server, timeout=0.3))
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match="in time"):
            source.open_mailbox(ADDR).check()
        assert time.monotonic() - started < 5


def test_throttling_raises_throttled_at_once_with_the_servers_back_off() -> None:
    with served("exchange-online", ADDR) as server:
        server.knobs.throttle_rate = 1.0
        server.knobs.backoff_ms = 400
        source = EWSSource(**endpoint_kwargs(server))
        started = time.monotonic()
        with pytest.raises(Throttled) as caught:
            source.open_mailbox(ADDR).check()
        assert caught.value.retry_after == pytest.approx(0.4)
        assert time.monotonic() - started < 0.4  # one attempt: waiting is the migrator's decision
        assert len(server.operations) == 1


@pytest.mark.parametrize(
    ("knobs", "error", "retry_after"),
    [
        ({"http503_rate": 1.0, "retry_after": 3}, Throttled, 3),
        ({"http503_rate": 1.0}, Throttled, None),
        ({"http500_rate": 1.0}, ConnectionFailed, None),
        ({"reset_rate": 1.0}, ConnectionFailed, None),
    ],
)
def test_failed_reads_are_classified_and_never_outcome_unknown(
    knobs: dict[str, float], error: type[Exception], retry_after: float | None
) -> None:
    with served("exchange", ADDR) as server:
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        inbox = next(f for f in mailbox.folders() if f.role == "inbox")
        for name, value in knobs.items():
            setattr(server.knobs, name, value)
        with pytest.raises(error) as caught:
            list(mailbox.list_items(inbox))
        assert not isinstance(caught.value, OutcomeUnknown)
        assert getattr(caught.value, "retry_after", None) == retry_after


def test_oversized_item_is_rejected_alone() -> None:
    with served("workmail", ADDR) as server:
        server.knobs.max_item_size = 100_000
        mailbox = EWSDestination(**endpoint_kwargs(server)).open_mailbox(ADDR)
        folder = mailbox.ensure_folder(Folder(("Inbox",), kind="mail", role="inbox"))
        big = sample_message(1, body=b"z" * 200_000)
        results = mailbox.create_items(folder, [sample_message(2), big, sample_message(3)])
        assert [r.ok for r in results] == [True, False, True]
        assert results[1].code == "ErrorMessageSizeExceeded" and not results[1].transient
        assert "larger" in (results[1].error or "")


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError, match="url"):
        EWSSource(url=None, auth=BasicAuth("a@b.c", "pw"), profile="workmail")
    with pytest.raises(ConfigError, match="profile"):
        EWSSource(url="https://x/EWS/Exchange.asmx", auth=BasicAuth("a@b.c", "pw"), profile="lotus")
    with pytest.raises(ConfigError, match="auth"):
        EWSSource(url="https://x/EWS/Exchange.asmx", auth=None)


def test_repr_and_errors_hold_no_secret() -> None:
    source = EWSSource(url="http://127.0.0.1:9/EWS/Exchange.asmx", auth=BasicAuth("admin@x.org", "hunter2-secret"), timeout=1)
    assert "hunter2" not in repr(source) and "hunter2" not in repr(source.settings)
    with pytest.raises(ConnectionFailed) as caught:
        source.open_mailbox("a@x.org").check()
    assert "hunter2" not in _messages(caught.value)
