"""The suite-wide source guard (tests/conftest.py) itself: it must notice a write.

A guard that cannot fail proves nothing, so here a source server is written to on purpose
by a plain exchangelib client (not groupmigrate) and a private registry must report it.
The server must also record write *attempts* it refused: a client that tried to write to a
source has broken the promise even when the server said no.
"""

from __future__ import annotations

import base64

import requests
from exchangelib import DELEGATE, UTC, Account, Configuration, Credentials, FailFast, Message

from groupmigrate.testing import EWSTestServer

from .support import mail

SOAP = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/>{header}</soap:Header>
<soap:Body>{body}</soap:Body></soap:Envelope>"""


def test_the_guard_notices_a_write(source_registry):
    registry = type(source_registry)()  # a private one: this server is written to on purpose
    with EWSTestServer(profile="exchange") as server:
        server.add_mailbox("victim@contoso.com", password="Guard-Pw-1")
        server.seed_message("victim@contoso.com", ("Inbox",), mail(1, user="victim"))
        registry.register(server, label="guarded")
        assert registry.check(server) == []
        config = Configuration(service_endpoint=server.url, credentials=Credentials("victim@contoso.com", "Guard-Pw-1"),
                               auth_type="basic", retry_policy=FailFast())  # fmt: skip
        account = Account("victim@contoso.com", config=config, access_type=DELEGATE, autodiscover=False, default_timezone=UTC)
        Message(account=account, folder=account.inbox, subject="written by a test", body="x").save()
        problems = registry.check(server)
        assert any("write operation" in p and "CreateItem" in p for p in problems), problems
        assert any("changed" in p for p in problems), problems
        account.protocol.close()


def _post(server: EWSTestServer, user: str, password: str, body: str, header: str = "") -> requests.Response:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return requests.post(
        server.url, data=SOAP.format(body=body, header=header).encode(), timeout=30,
        headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {auth}"},
    )  # fmt: skip


def test_refused_write_attempts_are_recorded():
    """Write requests the server refuses (a request that breaks the schema, an impersonation
    that is not granted) are still write operations the server saw."""
    with EWSTestServer(profile="exchange") as server:
        server.add_mailbox("owner@contoso.com", password="Owner-Pw-1")
        server.add_mailbox("other@contoso.com")
        invalid = _post(server, "owner@contoso.com", "Owner-Pw-1",
                        '<m:DeleteItem><m:ItemIds><t:ItemId Id="AAMkAGI="/></m:ItemIds></m:DeleteItem>')  # fmt: skip
        assert invalid.status_code == 500 and b"Fault" in invalid.content  # no DeleteType: a schema error
        denied = _post(
            server, "owner@contoso.com", "Owner-Pw-1",
            '<m:EmptyFolder DeleteType="HardDelete" DeleteSubFolders="true"><m:FolderIds>'
            '<t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:EmptyFolder>',
            header="<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>other@contoso.com"
            "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>",
        )  # fmt: skip
        assert b"ErrorImpersonateUserDenied" in denied.content
        seen = {op.operation for op in server.write_operations()}
        assert {"DeleteItem", "EmptyFolder"} <= seen, f"write attempts recorded: {server.operations}"
