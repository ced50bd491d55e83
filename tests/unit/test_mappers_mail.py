"""Mail mapper: attachment and size limits; the MIME is never touched."""

from __future__ import annotations

import base64

import pytest

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Message
from groupmigrate.core.mappers import MapContext, map_item

MB = 1024 * 1024


def mime(*attachments: int, body: str = "hello", inline_image: int = 0) -> bytes:
    """A multipart message with attachments of the given decoded sizes."""
    parts = [b'Content-Type: text/plain; charset="utf-8"\r\n\r\n' + body.encode() + b"\r\n"]
    for index, size in enumerate(attachments):
        payload = base64.encodebytes(b"\x00" * size).replace(b"\n", b"\r\n")
        parts.append(
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            + f'Content-Disposition: attachment; filename="file{index}.bin"\r\n\r\n'.encode()
            + payload
        )
    if inline_image:
        payload = base64.encodebytes(b"\x01" * inline_image).replace(b"\n", b"\r\n")
        parts.append(
            b'Content-Type: image/png; name="logo.png"\r\nContent-Transfer-Encoding: base64\r\n'
            b"Content-Disposition: inline\r\nContent-ID: <logo>\r\n\r\n" + payload
        )
    head = (
        b"From: Bob <bob@example.com>\r\nTo: alice@example.org\r\nSubject: test\r\n"
        b"Message-ID: <m1@example.com>\r\nDate: Mon, 01 Apr 2024 10:00:00 +0200\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    )
    return head + b"".join(b"--b1\r\n" + p + b"\r\n" for p in parts) + b"--b1--\r\n"


LIMIT = 10_000


@pytest.mark.parametrize(
    ("mime_bytes", "caps", "skip_reason"),
    [
        pytest.param(mime(), Capabilities(), None, id="no-limit"),
        pytest.param(mime(9_999), Capabilities(max_attachment_size=LIMIT), None, id="just-below-limit"),
        pytest.param(
            mime(10_000),
            Capabilities(max_attachment_size=LIMIT),
            "attachments total 9.8 KB reach the destination limit of 9.8 KB",
            id="exactly-at-limit",
        ),
        pytest.param(
            mime(6_000, 6_000),
            Capabilities(max_attachment_size=LIMIT),
            "attachments total 11.7 KB reach the destination limit of 9.8 KB",
            id="two-attachments-sum-over",
        ),
        pytest.param(
            mime(4_000, inline_image=7_000),
            Capabilities(max_attachment_size=LIMIT),
            "attachments total 10.7 KB reach the destination limit of 9.8 KB",
            id="named-inline-image-counts",
        ),
        pytest.param(mime(body="x" * 50_000), Capabilities(max_attachment_size=LIMIT), None, id="large-body-no-attachment"),
    ],
)
def test_attachment_limit(mime_bytes: bytes, caps: Capabilities, skip_reason: str | None) -> None:
    message = Message.from_mime(mime_bytes)
    result = map_item(message, caps, MapContext(owner="alice@example.org"))
    assert result.skip_reason == skip_reason
    if skip_reason is None:
        assert result.item is message  # unchanged: the very same object, MIME untouched
    else:
        assert result.item is None and result.skipped
    assert result.changes == []


def test_workmail_23_mb_limit_real_size() -> None:
    caps = Capabilities(name="workmail", max_attachment_size=23 * MB)
    ctx = MapContext(owner="alice@example.org")
    at_limit = map_item(Message.from_mime(mime(23 * MB)), caps, ctx)
    assert at_limit.item is None
    assert at_limit.skip_reason == "attachments total 23.0 MB reach the destination limit of 23.0 MB"
    assert ctx.counted("skipped", "attachments") == (1, 1)


@pytest.mark.parametrize(
    ("caps", "size", "skip_reason"),
    [
        pytest.param(Capabilities(max_item_size=2_000), 2_000, None, id="at-item-limit"),
        pytest.param(
            Capabilities(max_item_size=2_000),
            2_001,
            "item size 2.0 KB (2,001 bytes) is over the destination limit of 2.0 KB (2,000 bytes)",
            id="over-item-limit",
        ),
        pytest.param(
            Capabilities(max_item_size=30 * MB),
            31 * MB + 200_000,
            "item size 31.2 MB is over the destination limit of 30.0 MB",
            id="over-item-limit-mb",
        ),
        pytest.param(
            Capabilities(item_types=frozenset({"contacts"})),
            10,
            "item type 'mail' is not supported by the destination",
            id="type-not-on-route",
        ),
    ],
)
def test_route_limits(caps: Capabilities, size: int, skip_reason: str | None) -> None:
    message = Message(mime=b"Subject: x\r\n\r\nbody", size=size)
    result = map_item(message, caps, MapContext(owner="alice@example.org"))
    assert result.skip_reason == skip_reason
    assert (result.item is None) == (skip_reason is not None)
    assert result.changes == []


def test_unsupported_property_dropped_counted_noticed_once() -> None:
    ctx = MapContext(owner="alice@example.org", unsupported_fields={"mail.flag"})
    flagged = [Message(mime=b"Subject: a\r\n\r\n", flag="flagged"), Message(mime=b"Subject: b\r\n\r\n", flag="complete")]
    plain = Message(mime=b"Subject: c\r\n\r\n")
    results = [map_item(m, Capabilities(), ctx) for m in [*flagged, plain]]
    assert [r.item.flag for r in results if isinstance(r.item, Message)] == ["none"] * 3
    assert [(c.kind, c.field) for c in results[0].changes] == [("notice", "flag")]
    assert results[1].changes == [] and results[2].changes == []
    assert results[2].item is plain
    assert isinstance(results[0].item, Message) and results[0].item.mime == flagged[0].mime
    assert ctx.counted("dropped", "flag") == (2, 2)
    [total] = ctx.summary()
    assert (total.kind, total.field, total.count) == ("dropped", "flag", 2)
    assert total.message == "mail field 'flag' is not stored by the destination; dropped: 2 item(s)"


def test_map_item_rejects_non_items() -> None:
    with pytest.raises(TypeError, match="cannot map str"):
        map_item("not an item", Capabilities(), MapContext(owner="a@example.org"))  # type: ignore[arg-type]
