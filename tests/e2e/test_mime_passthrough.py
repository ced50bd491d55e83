"""A message that needs no change travels as the base64 text the source sent: its body is
never decoded or encoded again, and it arrives byte for byte."""

from __future__ import annotations

import base64
import os

import exchangelib.util
import pytest

import groupmigrate.mime
from groupmigrate.testing.conformance import sample_message

#: the header block is read from a decoded prefix of the text; nothing longer is ever decoded
HEADER_PREFIX_LIMIT = 64 * 1024


def _with_attachment(n: int, size: int) -> bytes:
    blob = base64.encodebytes(os.urandom(size))
    head = sample_message(n).mime.split(b"Content-Transfer-Encoding", 1)[0]
    return (
        head.replace(b"MIME-Version: 1.0\r\n", b"")
        + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        + b"--b1\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n"
        + b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n" + blob.replace(b"\n", b"\r\n") + b"--b1--\r\n"
    )


def test_an_unchanged_message_is_never_decoded_and_arrives_byte_identical(route, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ("Inbox", "Passthrough")
    big = [_with_attachment(900 + i, 600_000 + i) for i in range(3)]
    for mime in big:
        route.deliver("alice@contoso.com", mime, path)

    decoded: list[int] = []
    real_decode = groupmigrate.mime.decode_base64
    monkeypatch.setattr(groupmigrate.mime, "decode_base64", lambda text: decoded.append(len(text)) or real_decode(text))
    exchangelib_codec: list[tuple[str, int]] = []
    real_b64decode, real_b64encode = exchangelib.util.safe_b64decode, exchangelib.util.b64encode
    monkeypatch.setattr(exchangelib.util, "safe_b64decode", lambda d: exchangelib_codec.append(("decode", len(d))) or real_b64decode(d))
    monkeypatch.setattr(exchangelib.util, "b64encode", lambda d: exchangelib_codec.append(("encode", len(d))) or real_b64encode(d))

    result = route.migrator().run(route.pairs[:1])

    assert result.status == "completed", result
    assert decoded and max(decoded) <= HEADER_PREFIX_LIMIT, f"a whole MIME was decoded: {max(decoded)} characters"
    assert [call for call in exchangelib_codec if call[1] > 10_000] == []  # small values (sync states) only
    source = {item.mime for item in route.source_server.folder_items("alice@contoso.com", path)}
    copied = {item.mime for item in route.destination_server.folder_items("alice@example.org", path)}
    assert len(source) == 3 and copied == source
