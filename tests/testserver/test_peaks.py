"""The server records how many requests it worked on at the same time: per mailbox, per caller, in all."""

from __future__ import annotations

import base64
import threading

from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, BOB, PASSWORD, SVC
from .test_knobs import _GET_INBOX, _raw


def _auth(user: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "text/xml; charset=utf-8"}


def _impersonating(address: str) -> bytes:
    header = (
        '<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>'
        f"{address}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></s:Header>"
    )
    return _GET_INBOX.replace(b"</s:Header>", header.encode())


def _at_once(server: EWSTestServer, requests: list[tuple[bytes, dict[str, str]]]) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def send(body: bytes, headers: dict[str, str]) -> None:
        conn = _raw(server)
        conn.request("POST", "/EWS/Exchange.asmx", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        with lock:
            statuses.append(answer.status)

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_peaks_per_mailbox_per_caller_and_in_all(ews_server_factory) -> None:  # type: ignore[no-untyped-def]
    server = ews_server_factory(profile="exchange")
    server.add_mailbox(ALICE, password=PASSWORD)
    server.add_mailbox(BOB, password=PASSWORD)
    server.add_user(SVC, PASSWORD)
    server.grant_impersonation(SVC, ALICE)
    server.grant_impersonation(SVC, BOB)
    assert server.peak_concurrency() == 0
    server.knobs.latency = 0.4  # every request is worked on for 0.4 s: those sent together overlap

    requests = [(_GET_INBOX, _auth(ALICE))] * 2 + [(_impersonating(BOB), _auth(SVC))] * 3
    assert _at_once(server, requests) == [200] * 5
    assert server.peak_concurrency() == 5
    assert server.peak_concurrency(mailbox=ALICE) == 2
    assert server.peak_concurrency(mailbox=BOB.upper()) == 3
    assert server.peak_concurrency(caller=SVC) == 3
    assert server.peak_concurrency(caller=ALICE) == 2
    assert server.peak_concurrency(mailbox="nobody@contoso.com") == 0

    server.reset_peaks()
    assert server.peak_concurrency() == 0
    assert _at_once(server, [(_GET_INBOX, _auth(ALICE))]) == [200]
    assert (server.peak_concurrency(), server.peak_concurrency(mailbox=BOB)) == (1, 0)


def test_requests_refused_as_busy_are_not_counted(ews_server_factory) -> None:  # type: ignore[no-untyped-def]
    server = ews_server_factory(profile="exchange")
    server.add_mailbox(ALICE, password=PASSWORD)
    server.knobs.max_concurrency = 2
    server.knobs.latency = 0.4
    statuses = _at_once(server, [(_GET_INBOX, _auth(ALICE))] * 5)
    assert statuses.count(200) == 2 and statuses.count(500) == 3  # ErrorServerBusy is a SOAP fault
    assert server.peak_concurrency() == server.peak_concurrency(mailbox=ALICE) == 2
