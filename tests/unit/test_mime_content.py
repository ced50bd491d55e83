"""MimeContent: MIME held as the base64 text a server sent, read without decoding it whole."""

from __future__ import annotations

import base64
import os

import pytest

from groupmigrate.backends.ews.mimewire import cut_mime, splice_mime
from groupmigrate.items import Message
from groupmigrate.mime import MimeContent

MIME = b"From: a@example.org\r\nSubject: hello\r\nMessage-ID: <1@x>\r\n\r\n" + os.urandom(50_000)


@pytest.mark.parametrize("cut", [0, 1, 2])
def test_size_header_block_and_bytes_match_the_raw_mime(cut: int) -> None:
    raw = MIME[: len(MIME) - cut]
    text = base64.b64encode(raw)
    for given in (text, text.rstrip(b"="), base64.encodebytes(raw), text.decode()):
        content = MimeContent.from_base64(given)
        assert content.size == len(raw) == len(content)
        assert content.header_block() == raw[: raw.index(b"\r\n\r\n") + 4]
        assert content.raw() == raw and content == MimeContent(raw) and content == raw
        assert content.base64() == text


def test_a_message_built_from_base64_reads_its_headers_and_keeps_the_text() -> None:
    text = base64.b64encode(MIME)
    message = Message.from_mime(MimeContent.from_base64(text))
    assert (message.subject, message.message_id, message.size) == ("hello", "<1@x>", len(MIME))
    assert message.content.base64() is text and message.mime == MIME
    assert message == Message.from_mime(MIME)


def test_not_base64_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="not ASCII"):
        MimeContent.from_base64("é")
    with pytest.raises(TypeError, match="bytes or MimeContent"):
        Message(mime=42)  # type: ignore[arg-type]


def test_cut_and_splice_give_back_the_same_bytes() -> None:
    texts = [base64.b64encode(os.urandom(n)) for n in (10, 30_000, 0)]
    body = (
        b'<m:Items><t:Message><t:MimeContent CharacterSet="UTF-8">' + texts[0] + b"</t:MimeContent></t:Message>"
        b"<t:Message><MimeContent>" + texts[1] + b"</MimeContent><t:Subject>MimeContent</t:Subject></t:Message>"
        b"<t:Message><t:MimeContent/></t:Message>"
        b"<t:Message><t:MimeContent>a&#13;b</t:MimeContent></t:Message></m:Items>"
    )
    reduced, cut = cut_mime(body)
    assert sorted(cut.values(), key=len) == [texts[0], texts[1]]
    assert len(reduced) < 400 and b"a&#13;b" in reduced  # an entity is left to the parser
    assert bytes(splice_mime(reduced, cut)) == body  # type: ignore[arg-type]
    assert cut_mime(b"<a>nothing</a>") == (b"<a>nothing</a>", {})


def test_big_texts_are_cut_into_memory_of_their_own_and_sent_in_pieces() -> None:
    import mmap

    text = base64.b64encode(os.urandom(2_000_000))
    body = b"<s:Body><m:GetItemResponse><t:MimeContent>" + text + b"</t:MimeContent></m:GetItemResponse></s:Body>"
    answer = mmap.mmap(-1, len(body))
    answer.write(body)
    reduced, cut = cut_mime(answer)
    (held,) = cut.values()
    assert isinstance(held, mmap.mmap) and held[:] == text
    content = MimeContent.from_base64(held)
    assert content.size == 2_000_000 and content.base64() is held
    spliced = splice_mime(reduced, cut)
    assert len(spliced) == len(body) and b"".join(bytes(p) for p in spliced) == body  # type: ignore[arg-type]
    assert "MIME text" in repr(spliced) and str(len(body)) in str(spliced)  # never the text itself
    import pickle

    assert pickle.loads(pickle.dumps(content)) == content
