"""Each correction to exchangelib, shown against exchangelib's own behaviour (left as shipped) where that is cheap."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import pytest
import requests
from exchangelib.errors import ErrorServerBusy
from exchangelib.ewsdatetime import EWSDateTime
from exchangelib.fields import DateOrDateTimeField, DateTimeBackedDateField, DateTimeField
from exchangelib.protocol import FaultTolerance
from exchangelib.util import TNS
from lxml import etree

from groupmigrate.auth import BasicAuth
from groupmigrate.backends.ews import EWSSource, fixes
from groupmigrate.backends.ews.errors import ServerUnavailable
from groupmigrate.backends.ews.models import CalendarEventItem, ContactItem, FileAttachmentItem, MailItem, TaskItem
from groupmigrate.backends.ews.retry import ResponsePolicy
from groupmigrate.errors import AuthenticationError
from groupmigrate.testing.conformance import sample_message

from .servers import SERVICE, SERVICE_PASSWORD, endpoint_kwargs, served

ADDR = "alice@contoso.com"


def _response(status: int, body: bytes = b"", **headers: str) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body
    r._content_consumed = True
    r.headers.update(headers)
    r.url = "http://server/EWS/Exchange.asmx"
    return r


def _inbox(source: EWSSource, address: str = ADDR) -> Any:
    mailbox = source.open_mailbox(address)
    return mailbox, next(f for f in mailbox.folders() if f.role == "inbox")


# -- 1. large chunks -----------------------------------------------------------------------


def test_hook_gives_large_chunks_to_the_parser_but_leaves_streams_alone() -> None:
    body = b"x" * (300 * 1024)
    plain = _response(200, body)
    assert len(next(plain.iter_content())) == 1  # what exchangelib gets as shipped
    fixed = fixes.large_chunk_hook(_response(200, body), stream=False)
    chunks = list(fixed.iter_content())
    assert [len(c) for c in chunks[:1]] == [fixes.CHUNK_SIZE] and b"".join(chunks) == body
    streamed = fixes.large_chunk_hook(_response(200, body), stream=True)
    assert len(next(streamed.iter_content())) == 1


def test_a_fetch_parses_in_large_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    import exchangelib.services.common as common

    counts: list[int] = []
    original = common.to_xml

    def counting(content: Any) -> Any:
        if isinstance(content, bytes):
            return original(content)
        chunks = list(content)
        counts.append(len(chunks))
        return original(b"".join(chunks))

    monkeypatch.setattr(common, "to_xml", counting)
    with served("exchange", ADDR) as server:
        server.seed_message(ADDR, ("inbox",), sample_message(1, body=b"y" * 400_000).mime)
        mailbox, inbox = _inbox(EWSSource(**endpoint_kwargs(server)))
        counts.clear()
        (message,) = mailbox.fetch(inbox, list(mailbox.list_items(inbox)))
        assert len(message.mime) > 400_000
        assert counts and max(counts) < 20  # ~540 KB of XML in 64 KiB chunks, not 540,000 one-byte calls


# -- 2. fractional seconds -----------------------------------------------------------------


def test_fractional_seconds_parse_in_our_fields_only() -> None:
    with pytest.raises(ValueError):
        EWSDateTime.from_string("2026-01-02T03:04:05.123Z")  # exchangelib as shipped, and left so
    value = fixes.ews_datetime("2026-01-02T03:04:05.123Z")
    assert value is not None and type(value) is EWSDateTime
    assert (value.year, value.second, value.microsecond, value.utcoffset()) == (2026, 5, 123000, dt.timedelta(0))
    assert fixes.ews_datetime("2026-01-02T04:04:05.1234567+01:00") == fixes.ews_datetime("2026-01-02T03:04:05.123456Z")
    assert fixes.ews_datetime("2026-01-02T03:04:05Z") is None  # no fraction: exchangelib's own parsing
    xml = (
        f'<t:Item xmlns:t="{TNS}"><t:DateTimeReceived>2026-01-02T03:04:05.120Z</t:DateTimeReceived>'
        f"<t:DateTimeSent>2026-01-02T03:04:05Z</t:DateTimeSent><t:DueDate>2026-01-02T23:30:00.5-01:00</t:DueDate>"
        f'<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0xe06" PropertyType="SystemTime"/>'
        f"<t:Value>2026-01-02T03:04:05.25Z</t:Value></t:ExtendedProperty></t:Item>".encode()
    )
    elem = etree.fromstring(xml)
    plain = DateTimeField("received", field_uri="item:DateTimeReceived")
    assert plain.from_xml(elem, account=None) is None  # exchangelib's own field: unparsed, as shipped
    assert fixes.with_fractional_times(plain).from_xml(elem, account=None).microsecond == 120000
    assert type(plain) is DateTimeField  # the original field is not changed
    # the models read them
    item = MailItem.from_xml(elem=etree.fromstring(xml), account=None)  # (from_xml empties its element)
    assert item.datetime_received.microsecond == 120000
    assert item.datetime_sent == EWSDateTime.from_string("2026-01-02T03:04:05Z")
    assert item.delivery_time.microsecond == 250000
    task = TaskItem.from_xml(elem=etree.fromstring(xml), account=None)
    assert task.due_date == dt.date(2026, 1, 3)  # 23:30:00.5 at -01:00 is the 3rd in UTC
    for model in (MailItem, TaskItem, ContactItem, CalendarEventItem, FileAttachmentItem):
        for field in model.FIELDS:
            assert type(field) not in (DateTimeField, DateOrDateTimeField, DateTimeBackedDateField), (model, field)


def test_fractional_server_dates_survive_a_fetch() -> None:
    with served("exchange-online", ADDR) as server:
        assert server.knobs.fractional_seconds
        server.seed_message(ADDR, ("inbox",), sample_message(2).mime)
        mailbox, inbox = _inbox(EWSSource(**endpoint_kwargs(server)))
        refs = list(mailbox.list_items(inbox))
        assert refs[0].changed is not None and refs[0].changed.microsecond % 1000 == 0
        (message,) = mailbox.fetch(inbox, refs)
        assert message.received is not None


# -- 3. Connection: close --------------------------------------------------------------------


def test_connection_close_is_not_server_busy() -> None:
    busy = _response(503, b"", Connection="close")
    with pytest.raises(ErrorServerBusy) as stock:
        FaultTolerance().raise_response_errors(busy)
    assert "closed connection" in str(stock.value) and stock.value.back_off is None  # -> 10 s, doubling
    with pytest.raises(ServerUnavailable) as ours:
        ResponsePolicy().raise_response_errors(_response(503, b"", Connection="close", **{"Retry-After": "2"}))
    assert ours.value.retry_after == 2
    ResponsePolicy().raise_response_errors(_response(200, b"<ok/>", Connection="close"))
    with pytest.raises(Exception) as denied:
        ResponsePolicy().raise_response_errors(_response(401, b"", Connection="close"))
    assert type(denied.value).__name__ == "UnauthorizedError"


def test_closed_connections_cost_a_reconnect_not_a_sleep() -> None:
    with served("exchange", ADDR) as server:
        for i in range(5):
            server.seed_message(ADDR, ("inbox",), sample_message(i).mime)
        server.knobs.close_connections = True
        source = EWSSource(**endpoint_kwargs(server))
        mailbox, inbox = _inbox(source)
        refs = list(mailbox.list_items(inbox))
        started = time.monotonic()
        for ref in refs:  # one request per item: exchangelib as shipped took 70 s for this
            assert len(list(mailbox.fetch(inbox, [ref]))) == 1
        assert time.monotonic() - started < 5


def test_wrong_password_fails_at_once_even_with_closed_connections() -> None:
    with served("exchange", ADDR) as server:
        server.knobs.close_connections = True
        source = EWSSource(**endpoint_kwargs(server, auth=BasicAuth(SERVICE, "wrong")))
        started = time.monotonic()
        with pytest.raises(AuthenticationError):
            source.open_mailbox(ADDR).check()
        assert time.monotonic() - started < 2


# -- 6. no secrets in exchangelib's DEBUG log -------------------------------------------------


def test_our_debug_log_holds_no_credentials(caplog: pytest.LogCaptureFixture) -> None:
    import base64

    with served("exchange", ADDR) as server, caplog.at_level(logging.DEBUG):
        mailbox = EWSSource(**endpoint_kwargs(server)).open_mailbox(ADDR)
        mailbox.check()
    basic = base64.b64encode(f"{SERVICE}:{SERVICE_PASSWORD}".encode()).decode()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "'Authorization': '********'" in logged  # exchangelib did log the headers...
    assert SERVICE_PASSWORD not in logged and basic not in logged  # ...without the secret
    # nothing was installed on exchangelib's loggers for this
    loggers = logging.root.manager.loggerDict
    assert all(not getattr(loggers[n], "filters", None) for n in loggers if n.startswith("exchangelib"))


def test_masking_happens_after_the_exchange() -> None:
    request = requests.Request("POST", "http://server/x", headers={"Authorization": "Basic c2VjcmV0", "Cookie": "a=b"}).prepare()
    response = _response(200, b"<ok/>", **{"Set-Cookie": "x=y"})
    response.request = request
    fixes.mask_secrets(response)
    assert request.headers["Authorization"] == "********" and request.headers["Cookie"] == "********"
    assert response.headers["Set-Cookie"] == "********"


def test_autodiscover_lookups_hold_no_credentials(caplog: pytest.LogCaptureFixture) -> None:
    from exchangelib import Credentials

    from groupmigrate.backends.ews.connection import _autodiscovery

    with served("exchange", ADDR) as server, caplog.at_level(logging.DEBUG):
        discovery = _autodiscovery()(email=ADDR, credentials=Credentials(SERVICE, SERVICE_PASSWORD))
        discovery._ensure_valid_hostname = lambda url: None  # the test server has no DNS name
        ok, _ = discovery._attempt_response(server.url)  # an EWS endpoint: asks with Basic, gets no settings
    assert not ok
    import base64

    basic = base64.b64encode(f"{SERVICE}:{SERVICE_PASSWORD}".encode()).decode()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "'Authorization': '********'" in logged
    assert basic not in logged
