"""Each behaviour knob, observed through exchangelib as a real server's behaviour would be."""

from __future__ import annotations

import base64
import http.client
import re
import threading
import time
import urllib.parse

import pytest
from exchangelib import Attendee, CalendarItem, Contact, EWSDateTime, EWSTimeZone, FaultTolerance, Mailbox, Message
from exchangelib.attachments import FileAttachment
from exchangelib.errors import (
    ErrorInvalidRecipients,
    ErrorInvalidValueForProperty,
    ErrorMessageSizeExceeded,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    MalformedResponseError,
    SOAPError,
    TransportError,
)
from exchangelib.protocol import BaseProtocol, CachingProtocol

from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, PASSWORD, make_account, mime_message

UTC = EWSTimeZone("UTC")


def _ready(server: EWSTestServer, **config: object):  # type: ignore[no-untyped-def]
    account = make_account(server, **config)
    assert account.inbox.total_count == 0  # version, folders resolved before the knob is turned
    return account


def test_throttling_fault_carries_back_off(server: EWSTestServer) -> None:
    account = _ready(server)
    server.knobs.throttle_rate = 1.0
    server.knobs.backoff_ms = 50
    with pytest.raises(ErrorServerBusy) as info:
        list(account.inbox.all())
    assert info.value.back_off == 0.05
    server.knobs.throttle_rate = 0.5
    server.knobs.fault_seed = 7
    # exchangelib caches one Protocol per endpoint and credentials: without clearing the cache the new
    # Configuration (and its retry policy) would be ignored
    CachingProtocol.clear_cache()
    patient = _ready(server, retry_policy=FaultTolerance(max_wait=30))
    server.seed_message(ALICE, ("Inbox",), mime_message("eventually"))
    assert [m.subject for m in patient.inbox.all()] == ["eventually"]


def test_faults_are_deterministic_given_the_seed(server: EWSTestServer) -> None:
    def pattern() -> list[bool]:
        server.knobs.fault_seed = 1234
        return [server.knobs.roll(0.3) for _ in range(50)]

    assert pattern() == pattern()


def test_http_503_and_500_surface_as_transient_errors(server: EWSTestServer) -> None:
    account = _ready(server)
    server.knobs.http503_rate = 1.0
    with pytest.raises(ErrorServerBusy, match="503"):
        list(account.inbox.all())
    server.knobs.http503_rate = 0.0
    server.knobs.http500_rate = 1.0
    with pytest.raises(ErrorServerBusy, match="Server Error in 'EWS' Application"):
        list(account.inbox.all())
    server.knobs.http500_rate = 0.0
    assert list(account.inbox.all()) == []


def test_connection_reset_and_hang(server: EWSTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    account = _ready(server)
    server.knobs.reset_rate = 1.0
    with pytest.raises(ErrorTimeoutExpired):
        list(account.inbox.all())
    server.knobs.reset_rate = 0.0
    monkeypatch.setattr(BaseProtocol, "TIMEOUT", 1)
    hung = _ready(server)
    server.knobs.hang = True
    started = time.monotonic()
    with pytest.raises(ErrorTimeoutExpired):
        list(hung.inbox.all())
    assert 0.9 < time.monotonic() - started < 10
    server.knobs.hang = False


def test_html_and_broken_xml_answers(server: EWSTestServer) -> None:
    account = _ready(server)
    server.knobs.answer_html = True
    with pytest.raises((MalformedResponseError, SOAPError, TransportError)):
        list(account.inbox.all())
    server.knobs.answer_html = False
    server.knobs.answer_invalid_xml = True
    with pytest.raises((MalformedResponseError, SOAPError, TransportError)):
        list(account.inbox.all())
    server.knobs.answer_invalid_xml = False


def test_partial_batch_failure(server: EWSTestServer) -> None:
    account = _ready(server)
    server.knobs.partial_batch_rate = 1.0
    batch = [Message(account=account, folder=account.inbox, subject=f"b{i}", body="x") for i in range(5)]
    # exchangelib treats ErrorInternalServerTransientError in one response message as a failure of the
    # whole request; the other four items were created nevertheless
    with pytest.raises(ErrorServerBusy):
        account.bulk_create(folder=account.inbox, items=batch)
    assert len(server.folder_items(ALICE, ("Inbox",))) == 4


def test_size_limit_fails_only_the_big_item(server: EWSTestServer) -> None:
    account = _ready(server)
    server.knobs.max_item_size = 10_000
    small = Message(account=account, folder=account.inbox, mime_content=mime_message("small"))
    big = Message(account=account, folder=account.inbox, mime_content=mime_message("big", body="y" * 20_000))
    results = account.bulk_create(folder=account.inbox, items=[small, big])
    assert isinstance(results[1], ErrorMessageSizeExceeded)
    assert not isinstance(results[0], Exception)
    assert [i.mime for i in server.folder_items(ALICE, ("Inbox",))] == [mime_message("small")]


def test_fractional_seconds(online: EWSTestServer, server: EWSTestServer) -> None:
    # Observed on the wire: exchangelib as shipped turns such values into None, and the EWS
    # backend installs a process-wide parsing fix, so the client cannot be the witness here.
    from .test_protocol import NS, post

    find = ("<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
            "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:DateTimeReceived\"/></t:AdditionalProperties>"
            "</m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>")

    def received(srv: EWSTestServer) -> str:
        status, root = post(srv, find)
        assert status == 200
        return root.findtext(".//t:DateTimeReceived", namespaces=NS) or ""

    for srv in (online, server):
        srv.seed_message(ALICE, ("Inbox",), mime_message("when"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,7}Z", received(online))
    online.knobs.fractional_seconds = False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", received(online))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", received(server))


def test_inline_attachments_dropped(server: EWSTestServer) -> None:
    account = _ready(server)
    server.knobs.drop_inline_attachments = True
    item = CalendarItem(account=account, folder=account.calendar, subject="with file",
                        start=EWSDateTime(2026, 1, 1, 9, tzinfo=UTC), end=EWSDateTime(2026, 1, 1, 10, tzinfo=UTC))
    item.attach(FileAttachment(name="agenda.txt", content=b"agenda"))
    item.save()
    [stored] = server.folder_items(ALICE, ("calendar",))
    assert stored.attachments == [] and stored.props["HasAttachments"].text == "false"
    server.knobs.drop_inline_attachments = False
    other = Message(account=account, folder=account.inbox, subject="kept", body="b")
    other.attach(FileAttachment(name="a.txt", content=b"a"))
    other.save()
    [kept] = server.folder_items(ALICE, ("Inbox",))
    assert [a.name for a in kept.attachments] == ["a.txt"]


def test_workmail_rejects_invalid_urls_and_x500(ews_server_factory) -> None:  # type: ignore[no-untyped-def]
    wm = ews_server_factory(profile="workmail")
    wm.add_mailbox(ALICE, password=PASSWORD)
    account = make_account(wm)
    bad = Contact(account=account, folder=account.contacts, display_name="X", business_homepage="not a url")
    with pytest.raises(ErrorInvalidValueForProperty):
        bad.save()
    Contact(account=account, folder=account.contacts, display_name="Y", business_homepage="https://ok.example").save()
    meeting = CalendarItem(account=account, folder=account.calendar, subject="m",
                           start=EWSDateTime(2026, 1, 1, 9, tzinfo=UTC), end=EWSDateTime(2026, 1, 1, 10, tzinfo=UTC),
                           required_attendees=[Attendee(mailbox=Mailbox(
                               email_address="/o=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=x"))])
    with pytest.raises(ErrorInvalidRecipients):
        meeting.save()
    assert len(wm.folder_items(ALICE, ("contacts",))) == 1


def _raw(server: EWSTestServer) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


_GET_INBOX = (
    '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
    '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body><m:GetFolder><m:FolderShape>'
    '<t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
    '</m:FolderIds></m:GetFolder></s:Body></s:Envelope>'
).encode()
_AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode(),
         "Content-Type": "text/xml; charset=utf-8"}


def test_keep_alive_and_close_connections(server: EWSTestServer) -> None:
    conn = _raw(server)
    for _ in range(3):  # one connection, several requests
        conn.request("POST", "/EWS/Exchange.asmx", body=_GET_INBOX, headers=_AUTH)
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Connection") is None
        r.read()
    server.knobs.close_connections = True
    conn.request("POST", "/EWS/Exchange.asmx", body=_GET_INBOX, headers=_AUTH)
    r = conn.getresponse()
    assert r.getheader("Connection") == "close"
    r.read()
    assert r.will_close
    # exchangelib copes with closing servers (the answers are HTTP 200)
    assert make_account(server).inbox.total_count == 0


def test_latency(server: EWSTestServer) -> None:
    account = _ready(server)
    server.knobs.latency = 0.2
    started = time.monotonic()
    account.inbox.refresh()
    assert time.monotonic() - started >= 0.2


def test_concurrency_budget(online: EWSTestServer) -> None:
    online.knobs.latency = 0.3
    codes: list[int] = []
    bodies: list[bytes] = []
    lock = threading.Lock()

    def hit() -> None:
        conn = _raw(online)
        conn.request("POST", "/EWS/Exchange.asmx", body=_GET_INBOX, headers=_AUTH)
        r = conn.getresponse()
        data = r.read()
        with lock:
            codes.append(r.status)
            bodies.append(data)

    threads = [threading.Thread(target=hit) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = [b for b in bodies if b"ErrorServerBusy" in b]
    assert codes.count(200) >= 27 and len(busy) >= 1
    assert all(b"BackOffMilliseconds" in b for b in busy)


def test_lost_answers_are_carried_out_first(server: EWSTestServer) -> None:
    account = _ready(server)
    server.knobs.lose_answers = 1
    with pytest.raises((ErrorTimeoutExpired, TransportError)):
        Message(account=account, folder=account.inbox, subject="reset after saving").save()
    server.knobs.lost_answer_rate = 1.0
    server.knobs.lost_answer_status = 504
    with pytest.raises(Exception) as gateway:  # exchangelib's FailFast: an HTTP 504 page
        Message(account=account, folder=account.inbox, subject="504 after saving").save()
    assert "504" in str(gateway.value)
    server.knobs.lost_answer_rate = 0.0
    assert sorted(m.subject for m in account.inbox.all()) == ["504 after saving", "reset after saving"]
    assert server.knobs.lose_answers == 0


def test_named_properties_are_kept_unless_the_knob_says_otherwise(server: EWSTestServer) -> None:
    from exchangelib.extended_properties import ExtendedProperty
    from exchangelib.fields import ExtendedPropertyField
    from exchangelib.items import Contact as EWSContact

    class Stamp(ExtendedProperty):  # type: ignore[misc]
        property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
        property_name = "test-stamp"
        property_type = "String"

    def stamped(base: type) -> type:
        fields = base.FIELDS.copy()
        fields.insert(fields.index_by_name("has_attachments") + 1, ExtendedPropertyField("stamp", value_cls=Stamp))
        return type(f"Stamped{base.__name__}", (base,), {"FIELDS": fields})

    account = _ready(server)
    models = {"mail": stamped(Message), "contact": stamped(EWSContact)}
    mail = models["mail"](account=account, folder=account.inbox, mime_content=mime_message("stamped"), stamp="s-1")
    mail.save()
    contact = models["contact"](account=account, folder=account.contacts, display_name="Stamped", stamp="s-2")
    contact.save()
    assert models["mail"].get_field_by_fieldname("stamp")
    stored = {i.item_id: i for i in server.store.items.values()}
    for item in (mail, contact):
        uris = [u.attrib for u in stored[item.id].element.iter() if isinstance(u.tag, str) and u.tag.endswith("ExtendedFieldURI")]
        assert any(u.get("PropertyName") == "test-stamp" for u in uris)
    server.knobs.keeps_named_properties = False
    dropped = models["mail"](account=account, folder=account.inbox, mime_content=mime_message("dropped"), stamp="s-3")
    dropped.save()
    uris = [u for u in server.store.items[dropped.id].element.iter() if isinstance(u.tag, str) and u.tag.endswith("ExtendedFieldURI")]
    assert not any(u.get("PropertyName") for u in uris)
