"""Basic auth, impersonation grants, OAuth client credentials and token expiry."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from exchangelib import IMPERSONATION, UTC, Account, Configuration, Credentials, FailFast, OAuth2Credentials
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)

from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, BOB, PASSWORD, SVC, make_account, mime_message


def test_bad_password_is_401_with_basic_challenge(server: EWSTestServer) -> None:
    with pytest.raises(UnauthorizedError):
        make_account(server, password="wrong").root.refresh()
    req = urllib.request.Request(server.url, data=b"<x/>", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 401
    challenges = info.value.headers.get_all("WWW-Authenticate")
    assert any(c.startswith("Basic realm=") for c in challenges)


def test_unknown_auth_type_is_probed_as_basic(server: EWSTestServer) -> None:
    cfg = Configuration(service_endpoint=server.url, credentials=Credentials(ALICE, PASSWORD), retry_policy=FailFast())
    account = Account(ALICE, config=cfg, autodiscover=False, default_timezone=UTC)
    assert account.protocol.auth_type == "basic"
    assert account.inbox.total_count == 0


def test_impersonation_allowed_and_denied(server: EWSTestServer) -> None:
    server.add_mailbox(BOB)
    server.add_user(SVC, PASSWORD)
    server.seed_message(BOB, ("Inbox",), mime_message("for bob"))
    with pytest.raises(ErrorImpersonateUserDenied):
        make_account(server, BOB, username=SVC, impersonate=True).inbox.refresh()
    server.grant_impersonation(SVC, BOB)
    bob = make_account(server, BOB, username=SVC, impersonate=True)
    assert [m.subject for m in bob.inbox.all()] == ["for bob"]
    assert {op.mailbox for op in server.operations if op.operation == "FindItem"} == {BOB}
    server.revoke_impersonation(SVC, BOB)
    with pytest.raises(ErrorImpersonateUserDenied):
        list(make_account(server, BOB, username=SVC, impersonate=True).inbox.all())
    with pytest.raises(ErrorNonExistentMailbox):
        make_account(server, "nobody@contoso.com", username=SVC, impersonate=True).root.refresh()


def test_delegate_access_to_someone_elses_mailbox_is_denied(server: EWSTestServer) -> None:
    server.add_mailbox(BOB)
    alice_on_bob = make_account(server, BOB, username=ALICE)
    with pytest.raises(ErrorAccessDenied):
        alice_on_bob.inbox.refresh()


def _oauth_account(server: EWSTestServer, tenant: str, client_id: str, secret: str, address: str) -> Account:
    class TestServerOAuth2Credentials(OAuth2Credentials):
        @property
        def token_url(self) -> str:
            return server.token_url(self.tenant_id)

    creds = TestServerOAuth2Credentials(client_id=client_id, client_secret=secret, tenant_id=tenant)
    cfg = Configuration(service_endpoint=server.url, credentials=creds, auth_type="OAuth 2.0", retry_policy=FailFast())
    return Account(address, config=cfg, access_type=IMPERSONATION, autodiscover=False, default_timezone=UTC)


def test_oauth_client_credentials_flow(online: EWSTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # oauthlib insists on https; the server is plain http
    online.add_mailbox(BOB)
    online.seed_message(BOB, ("Inbox",), mime_message("hello bob"))
    online.add_oauth_app("tenant-1", "app-1", "s3cret")
    bob = _oauth_account(online, "tenant-1", "app-1", "s3cret", BOB)
    assert [m.subject for m in bob.inbox.all()] == ["hello bob"]
    alice = _oauth_account(online, "tenant-1", "app-1", "s3cret", ALICE)
    assert alice.inbox.total_count == 0  # app-only access reaches every mailbox
    online.expire_tokens()
    with pytest.raises(UnauthorizedError):
        list(bob.inbox.all())
    fresh = _oauth_account(online, "tenant-1", "app-1", "s3cret", BOB)
    assert fresh.inbox.total_count == 1


def test_token_endpoint_answers_like_azure_ad(online: EWSTestServer) -> None:
    online.add_oauth_app("tenant-1", "app-1", "s3cret")

    def post(tenant: str, **form: str) -> tuple[int, dict[str, object]]:
        data = urllib.parse.urlencode(form).encode()
        try:
            with urllib.request.urlopen(online.token_url(tenant), data=data, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    ok_status, ok = post("tenant-1", grant_type="client_credentials", client_id="app-1", client_secret="s3cret",
                         scope="https://outlook.office365.com/.default")
    assert ok_status == 200 and ok["token_type"] == "Bearer" and ok["expires_in"] == 3599 and ok["access_token"]
    status, bad = post("tenant-1", grant_type="client_credentials", client_id="app-1", client_secret="nope")
    assert status == 401 and bad["error"] == "invalid_client"
    status, unknown = post("tenant-1", grant_type="client_credentials", client_id="app-2", client_secret="x")
    assert status == 400 and unknown["error"] == "unauthorized_client"
    # a forged or revoked bearer token gets 401 from EWS
    req = urllib.request.Request(online.url, data=b"<x/>", headers={"Authorization": "Bearer forged.token"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 401 and "invalid_token" in info.value.headers["WWW-Authenticate"]


def test_app_without_impersonation_header_is_refused(online: EWSTestServer) -> None:
    online.add_oauth_app("t", "c", "s")
    token = json.loads(urllib.request.urlopen(
        online.token_url("t"),
        data=urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}).encode(),
        timeout=5).read())["access_token"]
    body = (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
        '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body><m:GetFolder><m:FolderShape>'
        '<t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
        '</m:FolderIds></m:GetFolder></s:Body></s:Envelope>'
    ).encode()
    req = urllib.request.Request(online.url, data=body, headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "text/xml"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 500
    assert b"ErrorInvalidExchangeImpersonationHeader" in info.value.read()


def test_short_lived_tokens(online: EWSTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from exchangelib.protocol import CachingProtocol
    from oauthlib.oauth2 import InvalidClientIdError

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    online.add_oauth_app("tenant-1", "app-1", "s3cret")
    online.knobs.token_lifetime = 1
    alice = _oauth_account(online, "tenant-1", "app-1", "s3cret", ALICE)
    assert alice.inbox.total_count == 0
    time.sleep(1.5)
    # the client sees the token expire and tries a refresh_token grant, which a client-credentials token
    # cannot do; the token endpoint refuses it as Azure AD does (AADSTS900144)
    with pytest.raises(InvalidClientIdError, match="AADSTS900144"):
        alice.inbox.refresh()
    CachingProtocol.clear_cache()
    online.knobs.token_lifetime = 3599
    assert _oauth_account(online, "tenant-1", "app-1", "s3cret", ALICE).inbox.total_count == 0  # a new session
