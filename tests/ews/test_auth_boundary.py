"""The authentication boundary: tokens and passwords as they really arrive, certificate
credentials, EWS blocked for the app, and errors that name the login but never a secret."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials, Secret, TokenProvider, redact_url
from groupmigrate.backends.ews import EWSSource
from groupmigrate.backends.ews.connection import USER_AGENT
from groupmigrate.backends.ews.tokens import ClientCredentialsTokens
from groupmigrate.errors import AccessDenied, AuthenticationError, ConfigError, GroupmigrateError
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.certificates import self_signed_pem

from .servers import CLIENT_ID, CLIENT_SECRET, SERVICE, TENANT, endpoint_kwargs, served

ADDR = "alice@contoso.com"
CERT_CLIENT = "cert-app-7"


def _error_text(error: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(type(error), error, error.__traceback__)) + repr(error)


def _check_fails(source: EWSSource, address: str = ADDR, auth: object = None) -> GroupmigrateError:
    mailbox = source.open_mailbox(address, auth)  # type: ignore[arg-type]
    try:
        with pytest.raises(GroupmigrateError) as caught:
            mailbox.check()
    finally:
        mailbox.close()
    return caught.value


def _issuer(server: EWSTestServer) -> ClientCredentialsTokens:
    return ClientCredentialsTokens(OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=server.token_url(TENANT)))


# --- tokens ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("decorate", [lambda t: t + "\n", lambda t: t + "\r\n", lambda t: f"  Bearer {t}\t\n"])
def test_a_token_read_from_a_file_is_trimmed(decorate) -> None:
    with served("exchange-online", ADDR) as server:
        issuer = _issuer(server)
        source = EWSSource(**endpoint_kwargs(server, auth=TokenProvider(lambda: decorate(issuer.token()))))
        mailbox = source.open_mailbox(ADDR)
        mailbox.check()
        mailbox.close()


@pytest.mark.parametrize("mangle", [lambda t: t[:10] + "\n" + t[10:], lambda t: t + "\u00e9", lambda t: t[:5] + " " + t[5:]])
def test_a_token_that_cannot_travel_is_refused_without_showing_it(mangle) -> None:
    with served("exchange-online", ADDR) as server:
        issuer = _issuer(server)
        token = issuer.token()
        source = EWSSource(**endpoint_kwargs(server, auth=TokenProvider(lambda: mangle(token))))
        error = _check_fails(source)
        assert isinstance(error, AuthenticationError)
        assert "cannot be sent in an HTTP header" in str(error)
        text = _error_text(error)
        assert token[:12] not in text and token[-12:] not in text


def test_a_token_provider_error_does_not_quote_its_message() -> None:
    def get_token() -> str:
        raise ValueError("could not parse 'eyJ0aWQiOiJzZWNyZXQi' from /run/token")

    with served("exchange-online", ADDR) as server:
        error = _check_fails(EWSSource(**endpoint_kwargs(server, auth=TokenProvider(get_token))))
        assert isinstance(error, AuthenticationError) and "ValueError" in str(error)
        assert "eyJ0aWQiOiJzZWNyZXQi" not in _error_text(error)


# --- Basic passwords -------------------------------------------------------------------------------


def test_a_password_outside_latin1_is_sent_as_utf8() -> None:
    password = "Pässwörd-€-密码-\U0001f511"
    with served("workmail", "alice@example.org") as server:
        server.add_user("admin@example.org", password)
        server.grant_impersonation("admin@example.org", "alice@example.org")
        kwargs = endpoint_kwargs(server, auth=BasicAuth("admin@example.org", password))
        source = EWSSource(**kwargs)
        mailbox = source.open_mailbox("alice@example.org")
        mailbox.check()
        mailbox.close()


def test_a_password_that_is_not_text_fails_without_showing_any_of_it() -> None:
    password = "Ab\udcff\udcfeCd-secret"  # undecodable bytes from the environment (surrogateescape)
    with served("workmail", "alice@example.org") as server:
        source = EWSSource(**endpoint_kwargs(server, auth=BasicAuth("admin@example.org", password)))
        error = _check_fails(source, "alice@example.org")
        assert isinstance(error, AuthenticationError)
        assert "admin@example.org" in str(error)
        text = _error_text(error)
        for fragment in ("\\udcff", "\udcff", "position", "Cd-secret", "Ab"):
            assert fragment not in text.replace("admin@example.org", ""), fragment


# --- who failed ------------------------------------------------------------------------------------


def test_a_rejected_password_names_the_admin_login_not_only_the_mailbox() -> None:
    with served("exchange", ADDR) as server:
        error = _check_fails(EWSSource(**endpoint_kwargs(server, auth=BasicAuth(SERVICE, "wrong-Pw-123"))))
        assert isinstance(error, AuthenticationError)
        assert SERVICE in str(error) and ADDR in str(error)
        assert "wrong-Pw-123" not in _error_text(error)


def test_a_rejected_token_names_the_app() -> None:
    with served("exchange-online", ADDR) as server:
        auth = OAuth2ClientCredentials(TENANT, CLIENT_ID, "wrong-secret-456", token_url=server.token_url(TENANT))
        error = _check_fails(EWSSource(**endpoint_kwargs(server, auth=auth)))
        assert isinstance(error, AuthenticationError) and CLIENT_ID in str(error)
        assert "wrong-secret-456" not in _error_text(error)


# --- certificate credentials -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate() -> tuple[str, str]:
    return self_signed_pem()


def test_certificate_credentials_get_a_token_end_to_end(certificate: tuple[str, str], tmp_path: Path) -> None:
    cert_pem, key_pem = certificate
    with served("exchange-online", ADDR) as server:
        thumbprint = server.directory.add_app_certificate(TENANT, CERT_CLIENT, cert_pem)
        (tmp_path / "app.pem").write_text(cert_pem + key_pem)
        for auth in (
            OAuth2ClientCredentials(TENANT, CERT_CLIENT, private_key=key_pem, certificate=cert_pem, token_url=server.token_url(TENANT)),
            OAuth2ClientCredentials(TENANT, CERT_CLIENT, private_key=Secret(key_pem), thumbprint=thumbprint.lower(),
                                    token_url=server.token_url(TENANT)),
            OAuth2ClientCredentials.from_certificate_files(TENANT, CERT_CLIENT, tmp_path / "app.pem", token_url=server.token_url(TENANT)),
        ):  # fmt: skip
            assert auth.thumbprint == thumbprint
            for text in (repr(auth), str(auth)):
                assert "PRIVATE KEY" not in text and key_pem[40:80] not in text
            source = EWSSource(**endpoint_kwargs(server, auth=auth))
            mailbox = source.open_mailbox(ADDR)
            mailbox.check()
            mailbox.close()
            source.close()


def test_a_certificate_the_app_does_not_have_is_refused(certificate: tuple[str, str]) -> None:
    cert_pem, _ = certificate
    other_cert, other_key = self_signed_pem("other")
    with served("exchange-online", ADDR) as server:
        server.directory.add_app_certificate(TENANT, CERT_CLIENT, cert_pem)
        auth = OAuth2ClientCredentials(TENANT, CERT_CLIENT, private_key=other_key, certificate=other_cert, token_url=server.token_url(TENANT))
        error = _check_fails(EWSSource(**endpoint_kwargs(server, auth=auth)))
        assert isinstance(error, AuthenticationError)
        assert CERT_CLIENT in str(error) and "certificate" in str(error) and "AADSTS700027" in str(error)
        assert "PRIVATE KEY" not in _error_text(error)


def test_a_secret_and_a_key_exclude_each_other(certificate: tuple[str, str]) -> None:
    cert_pem, key_pem = certificate
    with pytest.raises(ConfigError, match="exactly one"):
        OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, private_key=key_pem, certificate=cert_pem)
    with pytest.raises(ConfigError, match="exactly one"):
        OAuth2ClientCredentials(TENANT, CLIENT_ID)
    with pytest.raises(ConfigError, match="certificate or the certificate's thumbprint"):
        OAuth2ClientCredentials(TENANT, CLIENT_ID, private_key=key_pem)
    with pytest.raises(ConfigError) as caught:
        OAuth2ClientCredentials(TENANT, CLIENT_ID, private_key=key_pem[:200] + "garbage", thumbprint="ab" * 20)
    assert key_pem[40:80] not in _error_text(caught.value)
    with pytest.raises(ConfigError, match="does not match"):
        OAuth2ClientCredentials(TENANT, CLIENT_ID, private_key=key_pem, certificate=cert_pem, thumbprint="ab" * 20)


# --- EWS blocked for the app -----------------------------------------------------------------------


def test_ews_blocked_for_the_app_is_said_in_plain_words() -> None:
    with served("exchange-online", ADDR) as server:
        server.directory.block_ews(CLIENT_ID)
        error = _check_fails(EWSSource(**endpoint_kwargs(server, oauth=True)))
        assert isinstance(error, AccessDenied)
        message = str(error)
        assert message.startswith("EWS is blocked for this app in this tenant")
        assert CLIENT_ID in message and "EwsAllowedAppIDs" in message and "Set-OrganizationConfig" in message
        server.directory.unblock_ews(CLIENT_ID)
        mailbox = EWSSource(**endpoint_kwargs(server, oauth=True)).open_mailbox(ADDR)
        mailbox.check()
        mailbox.close()


def test_check_says_so_when_ews_is_blocked() -> None:
    from groupmigrate.accounts import AccountPair
    from groupmigrate.core.migrator import Migrator

    with served("exchange-online", ADDR) as src, served("workmail", "alice@example.org") as dst:
        src.directory.block_ews()
        source = EWSSource(**endpoint_kwargs(src, oauth=True))
        from groupmigrate.backends.ews import EWSDestination

        destination = EWSDestination(**endpoint_kwargs(dst))
        results = Migrator(source, destination, state=":memory:").check([AccountPair(ADDR, "alice@example.org")])
        by_side = {r.side: r for r in results}
        assert by_side["destination"].ok
        assert not by_side["source"].ok and "EWS is blocked for this app in this tenant" in by_side["source"].message


class _Forbidden(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.seen.append(self.headers.get("User-Agent", ""))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forbidden() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/EWS/Exchange.asmx"
    httpd.shutdown()
    httpd.server_close()


def test_http_403_from_ews_is_ews_blocked_and_the_user_agent_is_ours(forbidden: str) -> None:
    with served("exchange-online", ADDR) as server:
        kwargs = endpoint_kwargs(server, oauth=True)
        kwargs["url"] = forbidden
        error = _check_fails(EWSSource(**kwargs))
        assert isinstance(error, AccessDenied), error
        assert "EWS is blocked for this app in this tenant" in str(error) and "HTTP 403" in str(error)
    assert USER_AGENT.startswith("groupmigrate/") and "exchangelib/" in USER_AGENT
    assert _Forbidden.seen and all(agent == USER_AGENT for agent in _Forbidden.seen)


# --- URLs -----------------------------------------------------------------------------------------


def test_urls_lose_user_info_and_query_in_reprs_and_messages() -> None:
    assert redact_url("https://u:pw-123@hooks.example.org:8443/x/y?token=abc#f") == "https://hooks.example.org:8443/x/y?…#…"
    assert redact_url("not a url pw-123") == "<not a URL>"
    with served("exchange", ADDR) as server:
        url = server.url.replace("http://", "http://svc:pw-123@") + "?key=tok-987"
        for bad in (url, server.url + "?key=tok-987"):
            with pytest.raises(ConfigError) as caught:
                EWSSource(**endpoint_kwargs(server, url=bad))
            assert "pw-123" not in _error_text(caught.value) and "tok-987" not in _error_text(caught.value)


def test_certificate_credentials_from_a_configuration_file(certificate: tuple[str, str], tmp_path: Path) -> None:
    from groupmigrate.frontdoors.config import load_config

    cert_pem, key_pem = certificate
    (tmp_path / "app.crt").write_text(cert_pem)
    (tmp_path / "app.key").write_text(key_pem)
    (tmp_path / "accounts.csv").write_text(f"source,destination\n{ADDR},alice@example.org\n")
    with served("exchange-online", ADDR) as server:
        server.directory.add_app_certificate(TENANT, CERT_CLIENT, cert_pem)
        (tmp_path / "m.toml").write_text(
            f'[source]\nurl = "{server.url}"\nprofile = "exchange-online"\n'
            f'[source.auth]\ntype = "oauth2"\ntenant_id = "{TENANT}"\nclient_id = "{CERT_CLIENT}"\n'
            f'token_url = "{server.token_url(TENANT)}"\ncertificate_file = "app.crt"\nprivate_key_file = "app.key"\n\n'
            '[destination]\nbackend = "memory"\n\n[migration]\naccounts = "accounts.csv"\n'
        )
        config = load_config(tmp_path / "m.toml")
        assert "PRIVATE KEY" not in repr(config) and config.source.auth.thumbprint
        mailbox = config.source.build_source().open_mailbox(ADDR)
        mailbox.check()
        mailbox.close()
        (tmp_path / "m.toml").write_text((tmp_path / "m.toml").read_text().replace('certificate_file = "app.crt"\n', ""))
        with pytest.raises(ConfigError, match=r"source\.auth\.certificate: a private key needs its certificate"):
            load_config(tmp_path / "m.toml")
