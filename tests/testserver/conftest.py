"""Helpers for the EWS test server tests: exchangelib accounts against a running server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from exchangelib import DELEGATE, IMPERSONATION, UTC, Account, Configuration, Credentials, FailFast
from exchangelib.protocol import BaseProtocol, CachingProtocol

from groupmigrate.testing import EWSTestServer

ALICE = "alice@contoso.com"
BOB = "bob@contoso.com"
SVC = "svc@contoso.com"
PASSWORD = "Secret-123"


def make_account(
    server: EWSTestServer,
    address: str = ALICE,
    username: str | None = None,
    password: str = PASSWORD,
    impersonate: bool = False,
    **config: Any,
) -> Account:
    """An exchangelib Account on ``server`` (Basic auth, no autodiscover)."""
    config.setdefault("retry_policy", FailFast())
    cfg = Configuration(
        service_endpoint=server.url,
        credentials=Credentials(username or address, password),
        auth_type="basic",
        **config,
    )
    return Account(
        address,
        config=cfg,
        access_type=IMPERSONATION if impersonate else DELEGATE,
        autodiscover=False,
        default_timezone=UTC,
    )


@pytest.fixture(autouse=True)
def _fresh_protocols() -> Iterator[None]:
    """exchangelib caches protocols (and their session pools) per endpoint; start each test clean."""
    yield
    CachingProtocol.clear_cache()


@pytest.fixture
def server(ews_server_factory: Callable[..., EWSTestServer]) -> EWSTestServer:
    """An ``exchange`` profile server with alice (and her password)."""
    srv = ews_server_factory(profile="exchange")
    srv.add_mailbox(ALICE, password=PASSWORD)
    return srv


@pytest.fixture
def online(ews_server_factory: Callable[..., EWSTestServer]) -> EWSTestServer:
    srv = ews_server_factory(profile="exchange-online")
    srv.add_mailbox(ALICE, password=PASSWORD)
    return srv


@pytest.fixture
def account(server: EWSTestServer) -> Account:
    return make_account(server)


def mime_message(subject: str, body: str = "Hello", msgid: str | None = None, date: str = "Mon, 05 Jan 2026 10:00:00 +0000") -> bytes:
    msgid = msgid or f"<{abs(hash(subject))}@example.com>"
    return (
        f"From: Bob Example <bob@example.com>\r\nTo: Alice <alice@contoso.com>\r\nSubject: {subject}\r\n"
        f"Date: {date}\r\nMessage-ID: {msgid}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"\r\n{body}\r\n"
    ).encode()


_ = BaseProtocol
