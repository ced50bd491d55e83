"""OAuth 2.0: our token endpoint, renewal when a token expires mid-run, TokenProvider, bad clients."""

from __future__ import annotations

import logging

import pytest

from groupmigrate.auth import OAuth2ClientCredentials, TokenProvider
from groupmigrate.backends.ews import EWSSource
from groupmigrate.backends.ews.tokens import BearerAuth, ClientCredentialsTokens
from groupmigrate.errors import AuthenticationError
from groupmigrate.testing.conformance import sample_message

from .servers import CLIENT_ID, CLIENT_SECRET, TENANT, endpoint_kwargs, served

ADDR = "alice@contoso.com"


def _token_source(source: EWSSource) -> ClientCredentialsTokens:
    mailbox = source.open_mailbox(ADDR)
    auth = mailbox._connection.protocol._http_auth
    assert isinstance(auth, BearerAuth)
    return auth.source  # type: ignore[return-value]


def test_client_credentials_with_our_token_url_and_renewal_mid_run(caplog: pytest.LogCaptureFixture) -> None:
    with served("exchange-online", ADDR) as server, caplog.at_level(logging.DEBUG):
        for i in range(3):
            server.seed_message(ADDR, ("inbox",), sample_message(i).mime)
        source = EWSSource(**endpoint_kwargs(server, oauth=True))
        mailbox = source.open_mailbox(ADDR)
        inbox = next(f for f in mailbox.folders() if f.role == "inbox")
        refs = list(mailbox.list_items(inbox))
        tokens = _token_source(source)
        assert tokens.fetches == 1
        server.expire_tokens()  # every token issued so far now gets HTTP 401
        assert len(list(mailbox.fetch(inbox, refs))) == 3  # one 401, a new token, the same request again
        assert tokens.fetches == 2
        assert len(list(mailbox.fetch(inbox, refs))) == 3
        assert tokens.fetches == 2
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert CLIENT_SECRET not in logged and "Bearer " + "ey" not in logged


def test_wrong_client_secret() -> None:
    with served("exchange-online", ADDR) as server:
        auth = OAuth2ClientCredentials(TENANT, CLIENT_ID, "wrong-secret-123", token_url=server.token_url(TENANT))
        source = EWSSource(**endpoint_kwargs(server, auth=auth))
        with pytest.raises(AuthenticationError, match="token endpoint") as caught:
            source.open_mailbox(ADDR).check()
        assert "wrong-secret-123" not in f"{caught.value}{caught.value!r}"


def test_token_provider_is_asked_again_after_a_401() -> None:
    with served("exchange-online", ADDR) as server:
        issuer = ClientCredentialsTokens(
            OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=server.token_url(TENANT))
        )
        calls: list[str] = []

        def get_token() -> str:
            calls.append("call")
            if len(calls) > 1:  # the server expired the old token: hand out a fresh one
                issuer.invalidate(issuer.token())
            return issuer.token()

        source = EWSSource(**endpoint_kwargs(server, auth=TokenProvider(get_token)))
        mailbox = source.open_mailbox(ADDR)
        mailbox.check()
        assert len(calls) == 1
        server.expire_tokens()
        mailbox.folders()
        assert len(calls) == 2


def test_a_token_that_keeps_failing_is_an_authentication_error() -> None:
    with served("exchange-online", ADDR) as server:
        source = EWSSource(**endpoint_kwargs(server, auth=TokenProvider(lambda: "not-a-valid-token")))
        with pytest.raises(AuthenticationError):
            source.open_mailbox(ADDR).check()
