"""MIME round trips through CreateItem and GetItem: bytes kept exactly, properties derived."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest
import requests.models
from exchangelib import Message
from exchangelib.attachments import FileAttachment, ItemAttachment

from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, make_account

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8

CORPUS: dict[str, bytes] = {
    "alternative": (
        b"From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.com>\r\nTo: alice@contoso.com\r\n"
        b"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\nDate: Tue, 06 Jan 2026 08:00:00 +0100\r\n"
        b"Message-ID: <alt@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain text\r\n"
        b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html text</p>\r\n--b1--\r\n"
    ),
    "nested": (
        b"From: carol@example.com\r\nTo: alice@contoso.com\r\nSubject: Fwd: original\r\n"
        b"Message-ID: <fwd@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b"--outer\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        b"--outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"original.eml\"\r\n\r\n"
        b"From: dave@example.com\r\nTo: carol@example.com\r\nSubject: original\r\nMessage-ID: <orig@example.com>\r\n"
        b"\r\ninner body\r\n--outer--\r\n"
    ),
    "eight_bit": (
        b"From: bob@example.com\r\nTo: alice@contoso.com\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "Grüße aus Köln – 東京\r\n".encode()
        + b"\xff\xfe raw high bytes\r\n"
    ),
    "bad_charset": (
        b"From: bob@example.com\r\nTo: alice@contoso.com\r\nSubject: bad charset\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\ncaf\xe9\r\n"
    ),
    "folded": (
        b"From: bob@example.com\r\nTo: alice@contoso.com,\r\n\tcarol@example.com,\r\n dave@example.com\r\n"
        b"Subject: a very long subject line that goes on and on and on and on and on and on and on\r\n"
        b" and continues on a folded line\r\n"
        b"References: " + b" ".join(f"<ref{i}@example.com>".encode() for i in range(40)) + b"\r\n"
        b"X-Long: " + b"x" * 2000 + b"\r\n\r\nbody\r\n"
    ),
    "attachment": (
        b"From: bob@example.com\r\nTo: alice@contoso.com\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
        b"--m\r\nContent-Type: text/plain\r\n\r\nattached\r\n"
        b"--m\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
        b"Content-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PDF).replace(b"\n", b"\r\n")
        + b"--m--\r\n"
    ),
    "no_headers_at_all": b"\r\njust a body\r\n",
}


@pytest.fixture
def fast_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """exchangelib feeds lxml one byte at a time; big tests read 64 KiB at a time instead."""
    original = requests.models.Response.iter_content

    def iter_content(self: requests.models.Response, chunk_size: int = 1, decode_unicode: bool = False) -> Iterator[bytes]:
        return original(self, chunk_size=max(chunk_size, 65536), decode_unicode=decode_unicode)

    monkeypatch.setattr(requests.models.Response, "iter_content", iter_content)


def test_corpus_round_trips_byte_for_byte(server: EWSTestServer) -> None:
    account = make_account(server)
    created = {}
    for name, mime in CORPUS.items():
        m = Message(account=account, folder=account.inbox, mime_content=mime)
        m.save()
        created[name] = m.id
    fetched = {m.id: m for m in account.fetch(ids=[(i, None) for i in created.values()])}
    for name, mime in CORPUS.items():
        assert fetched[created[name]].mime_content == mime, name
        stored = next(i for i in server.folder_items(ALICE, ("Inbox",)) if i.item_id == created[name])
        assert stored.mime == mime
    alt = fetched[created["alternative"]]
    assert alt.subject == "Grüße" and alt.sender.name == "Jürgen"
    assert alt.body == "<p>html text</p>" and alt.body.body_type == "HTML"
    nested = fetched[created["nested"]]
    assert nested.has_attachments
    [inner] = nested.attachments
    assert isinstance(inner, ItemAttachment) and inner.item.subject == "original"
    report = fetched[created["attachment"]]
    [pdf] = report.attachments
    assert isinstance(pdf, FileAttachment) and pdf.name == "report.pdf" and pdf.content == PDF
    assert fetched[created["bad_charset"]].body == "café\r\n"
    folded = fetched[created["folded"]]
    assert folded.subject.endswith("and continues on a folded line")
    assert len(folded.to_recipients) == 3


def test_thirty_megabyte_message(server: EWSTestServer, fast_parsing: None) -> None:
    payload = bytes(range(256)) * (30 * 1024 * 1024 // 256)
    mime = (
        b"From: bob@example.com\r\nTo: alice@contoso.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nbig one\r\n'
        b"--m\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(payload).replace(b"\n", b"\r\n") + b"--m--\r\n"
    )
    assert len(mime) > 30 * 1024 * 1024
    account = make_account(server)
    started = time.monotonic()
    m = Message(account=account, folder=account.inbox, mime_content=mime)
    m.save()
    [back] = list(account.fetch(ids=[(m.id, None)], only_fields=["mime_content", "size", "has_attachments"]))
    assert back.mime_content == mime
    assert back.size == len(mime) and back.has_attachments
    assert time.monotonic() - started < 30
