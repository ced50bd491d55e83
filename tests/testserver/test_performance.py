"""The server must never be the bottleneck: GetItem with MIME content at volume.

Set ``GM_EWS_BENCH=1`` for the full measurement (1,000 x 100 KB); by default a smaller run
checks the order of magnitude. exchangelib as shipped parses responses one byte at a time
(``iter_content()`` with chunk size 1), which dominates its time; the client-side figure here
is measured with 64 KiB chunks, the server-side one with plain HTTP requests.
"""

from __future__ import annotations

import base64
import os
import time
import urllib.request
from collections.abc import Iterator

import pytest
import requests.models

from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, PASSWORD, make_account

FULL = os.environ.get("GM_EWS_BENCH") == "1"
COUNT = 1000 if FULL else 200
SIZE = 100_000


@pytest.fixture
def fast_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    original = requests.models.Response.iter_content

    def iter_content(self: requests.models.Response, chunk_size: int = 1, decode_unicode: bool = False) -> Iterator[bytes]:
        return original(self, chunk_size=max(chunk_size, 65536), decode_unicode=decode_unicode)

    monkeypatch.setattr(requests.models.Response, "iter_content", iter_content)


def _seed(server: EWSTestServer) -> list[str]:
    body = (b"x" * 76 + b"\r\n") * (SIZE // 78)
    return [
        server.seed_message(ALICE, ("Inbox",), f"From: a@example.com\r\nSubject: m{i}\r\n\r\n".encode() + body)
        for i in range(COUNT)
    ]


def test_get_item_mime_throughput(server: EWSTestServer, fast_parsing: None) -> None:
    ids = _seed(server)
    # server side: GetItem over plain HTTP, 20 items per request
    auth = "Basic " + base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    started = time.monotonic()
    total = 0
    for k in range(0, len(ids), 20):
        item_ids = "".join(f'<t:ItemId Id="{i}"/>' for i in ids[k : k + 20])
        body = (
            '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
            'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
            '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body><m:GetItem><m:ItemShape>'
            "<t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape>"
            f"<m:ItemIds>{item_ids}</m:ItemIds></m:GetItem></s:Body></s:Envelope>"
        ).encode()
        req = urllib.request.Request(server.url, data=body, headers={"Authorization": auth})
        with urllib.request.urlopen(req, timeout=30) as r:
            total += len(r.read())
    server_rate = total / (time.monotonic() - started) / 1e6
    # through exchangelib
    account = make_account(server)
    started = time.monotonic()
    fetched = sum(len(m.mime_content) for m in account.fetch(ids=[(i, None) for i in ids],
                                                              only_fields=["mime_content"], chunk_size=20))
    client_rate = fetched / (time.monotonic() - started) / 1e6
    print(f"\n{COUNT} x {SIZE // 1000} KB: server {server_rate:.0f} MB/s of XML, exchangelib {client_rate:.1f} MB/s")
    assert fetched == COUNT * (SIZE // 78) * 78 + sum(len(f"From: a@example.com\r\nSubject: m{i}\r\n\r\n")
                                                      for i in range(COUNT))
    assert server_rate > client_rate  # the client, not the server, is the limit
    assert server_rate > 10
