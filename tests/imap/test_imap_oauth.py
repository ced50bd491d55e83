"""App-only OAuth 2.0 for IMAP (Exchange Online's XOAUTH2 / OAUTHBEARER), from a configuration file.

``[source.auth] type = "oauth2"`` (the table the EWS backend takes) builds an IMAP endpoint whose
logins carry a bearer token fetched from a token endpoint: the EWS test server's, on loopback.
The IMAP server is a small fake on loopback that offers AUTH=XOAUTH2 and AUTH=OAUTHBEARER,
checks each token with the test server's directory (so an expired token is refused, as
Exchange Online refuses it) and records every SASL message. No secret (client secret, private
key, token) may appear in a message, a repr or a log line.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from groupmigrate.auth import OAuth2ClientCredentials
from groupmigrate.backends.imap.source import IMAPSource
from groupmigrate.errors import AuthenticationError, ConfigError
from groupmigrate.frontdoors.config import Config, load_config
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.certificates import self_signed_pem

pytestmark = pytest.mark.timeout(60)

TENANT = "contoso-tenant"
CLIENT_ID = "imap-migration-app"
CLIENT_SECRET = "imap-Cl1ent/Secr3t+value"  # URL-encoded on the wire: checked in that form too
CERT_CLIENT = "imap-certificate-app"
ADDR = "alice@contoso.com"
OTHER = "bob@contoso.com"
DEFAULT_SCOPE = "https://outlook.office365.com/.default"
_BEARER = re.compile(rb"auth=Bearer ([^\x01]*)\x01")


class FakeOAuthIMAP:
    """An IMAP server on loopback that takes only bearer tokens (XOAUTH2, OAUTHBEARER).

    ``accept(token)`` decides each login; every SASL message is recorded in ``payloads`` with
    its mechanism (``mechanisms``) and the verdict (``verdicts``).
    """

    CAPS = b"IMAP4rev1 AUTH=XOAUTH2 AUTH=OAUTHBEARER SASL-IR"

    def __init__(self, accept: Callable[[str], bool]) -> None:
        self.accept = accept
        self.payloads: list[bytes] = []
        self.mechanisms: list[str] = []
        self.verdicts: list[bool] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    @property
    def tokens(self) -> list[str]:
        return [m.group(1).decode() for p in self.payloads if (m := _BEARER.search(p))]

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(sock,), daemon=True).start()

    def _session(self, sock: socket.socket) -> None:
        with sock, sock.makefile("rb") as reader:
            sock.sendall(b"* OK [CAPABILITY " + self.CAPS + b"] fake Exchange Online IMAP ready\r\n")
            while line := reader.readline():
                words = line.split()
                if len(words) < 2:
                    continue
                tag, command = words[0], words[1].upper()
                if command == b"AUTHENTICATE":
                    mechanism = words[2].decode().upper()
                    if len(words) > 3:  # SASL-IR: the initial response on the command line
                        payload = base64.b64decode(words[3])
                    else:
                        sock.sendall(b"+ \r\n")
                        payload = base64.b64decode(reader.readline().strip())
                    match = _BEARER.search(payload)
                    ok = match is not None and self.accept(match.group(1).decode())
                    with self._lock:
                        self.payloads.append(payload)
                        self.mechanisms.append(mechanism)
                        self.verdicts.append(ok)
                    if ok:
                        sock.sendall(tag + b" OK [CAPABILITY " + self.CAPS + b"] AUTHENTICATE completed.\r\n")
                    else:  # as Exchange Online: an error challenge, the client's empty answer, NO
                        sock.sendall(b"+ " + base64.b64encode(b'{"status":"401","schemes":"bearer"}') + b"\r\n")
                        reader.readline()
                        sock.sendall(tag + b" NO AUTHENTICATE failed.\r\n")
                elif command == b"CAPABILITY":
                    sock.sendall(b"* CAPABILITY " + self.CAPS + b"\r\n" + tag + b" OK CAPABILITY completed.\r\n")
                elif command == b"STATUS":
                    sock.sendall(b'* STATUS "INBOX" (MESSAGES 0)\r\n' + tag + b" OK STATUS completed.\r\n")
                elif command == b"LIST":
                    sock.sendall(b'* LIST (\\HasNoChildren) "/" INBOX\r\n' + tag + b" OK LIST completed.\r\n")
                elif command == b"NOOP":
                    sock.sendall(tag + b" OK NOOP completed.\r\n")
                elif command == b"LOGOUT":
                    sock.sendall(b"* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n" + tag + b" OK LOGOUT completed.\r\n")
                    break
                else:
                    sock.sendall(tag + b" BAD Command Error. 12\r\n")


class Tokens:
    """The EWS test server as the token endpoint, with every token request recorded."""

    def __init__(self, server: EWSTestServer) -> None:
        self.server = server
        self.requests: list[dict[str, str]] = []
        self.issued: list[str] = []
        issue = server.directory.issue_token

        def recording(tenant_id: str, form: dict[str, str], lifetime: int) -> dict[str, Any]:
            self.requests.append(dict(form))
            answer = issue(tenant_id, form, lifetime)
            self.issued.append(answer["access_token"])
            return answer

        server.directory.issue_token = recording  # type: ignore[method-assign]

    def valid(self, token: str) -> bool:
        return self.server.directory.check_token(token) is not None


@pytest.fixture
def tokens() -> Iterator[Tokens]:
    server = EWSTestServer(profile="exchange-online")
    server.add_oauth_app(TENANT, CLIENT_ID, CLIENT_SECRET)
    try:
        yield Tokens(server)
    finally:
        server.stop()


@pytest.fixture
def imap(tokens: Tokens) -> Iterator[FakeOAuthIMAP]:
    fake = FakeOAuthIMAP(tokens.valid)
    try:
        yield fake
    finally:
        fake.close()


def write_config(tmp_path: Path, imap: FakeOAuthIMAP, tokens: Tokens, *, source_extra: str = "", auth_extra: str = "",
                 auth: str | None = None, destination: str = '[destination]\nbackend = "memory"\n') -> Path:  # fmt: skip
    (tmp_path / "accounts.csv").write_text(f"source,destination\n{ADDR},{ADDR}\n")
    if auth is None:
        auth = (f'type = "oauth2"\ntenant_id = "{TENANT}"\nclient_id = "{CLIENT_ID}"\nclient_secret_env = "IMAP_APP_SECRET"\n'
                f'token_url = "{tokens.server.token_url(TENANT)}"\n')  # fmt: skip
    path = tmp_path / "migration.toml"
    path.write_text(
        f'[source]\nbackend = "imap"\nhost = "127.0.0.1"\nport = {imap.port}\ntls = "none"\n{source_extra}\n'
        f"[source.auth]\n{auth}{auth_extra}\n{destination}\n"
        '[migration]\naccounts = "accounts.csv"\nitem_types = ["mail"]\n'
    )
    return path


def load(path: Path) -> Config:
    return load_config(path, environ={"IMAP_APP_SECRET": CLIENT_SECRET})


def secret_forms(*tokens: str) -> list[str]:
    """The client secret as is and URL-encoded, each token and its first part (the JWT-like
    body), and the base64 of SASL messages that would carry a token."""
    forms = [CLIENT_SECRET, urllib.parse.quote_plus(CLIENT_SECRET), urllib.parse.quote(CLIENT_SECRET, safe="")]
    for token in tokens:
        forms += [token, token.split(".")[0][:24]]
        for user in (ADDR, OTHER):
            forms.append(base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode())
            forms.append(base64.b64encode(f"n,a={user},\x01auth=Bearer {token}\x01\x01".encode()).decode())
    return forms


def assert_nowhere(texts: list[str], forms: list[str]) -> None:
    for text in texts:
        for form in forms:
            assert form not in text, f"a secret ({form[:6]}...) shows in: {text[:300]!r}"


def test_a_configuration_file_logs_in_to_imap_with_app_only_tokens_renewed_once(
    tmp_path: Path, imap: FakeOAuthIMAP, tokens: Tokens, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG):
        config = load(write_config(tmp_path, imap, tokens))
        assert config.source.backend == "imap" and isinstance(config.source.auth, OAuth2ClientCredentials)
        assert config.source.auth.scope == DEFAULT_SCOPE
        source = config.source.build_source()
        assert isinstance(source, IMAPSource)

        mailbox = source.open_mailbox(ADDR)
        mailbox.check()
        assert len(tokens.issued) == 1
        assert tokens.requests[0]["grant_type"] == "client_credentials" and tokens.requests[0]["client_id"] == CLIENT_ID
        assert tokens.requests[0]["scope"] == DEFAULT_SCOPE  # Exchange Online IMAP's resource, the EWS default too
        first = tokens.issued[0]
        # "auto": OAUTHBEARER where offered, the mailbox as the authorization identity
        assert imap.mechanisms == ["OAUTHBEARER"]
        assert imap.payloads == [f"n,a={ADDR},\x01auth=Bearer {first}\x01\x01".encode()]
        assert imap.verdicts == [True]

        other = source.open_mailbox(OTHER)  # another mailbox of the endpoint: the same app token
        other.check()
        assert len(tokens.issued) == 1 and imap.tokens[-1] == first
        mailbox.close()
        other.close()

        tokens.server.expire_tokens()  # the token is revoked mid-run: the next login is refused
        again = source.open_mailbox(ADDR)
        again.check()
        assert len(tokens.issued) == 2  # renewed once
        second = tokens.issued[1]
        assert second != first
        assert imap.tokens[-2:] == [first, second] and imap.verdicts[-2:] == [False, True]
        again.close()

        more = source.open_mailbox(OTHER)  # the renewed token is kept
        more.check()
        more.close()
        assert len(tokens.issued) == 2 and imap.tokens[-1] == second and imap.verdicts[-1]
        texts = [repr(config), repr(config.source), repr(config.source.auth), str(config.source.auth), repr(source),
                 repr(mailbox), repr(source.auth)]  # fmt: skip
    out, err = capfd.readouterr()
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG was captured (urllib3's, at least)
    assert_nowhere([caplog.text, out, err, *texts], secret_forms(first, second))


def test_a_token_refused_again_is_an_authentication_error_that_shows_no_secret(
    tmp_path: Path, tokens: Tokens, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    fake = FakeOAuthIMAP(lambda token: False)  # the app holds no permission on the mailbox
    try:
        with caplog.at_level(logging.DEBUG):
            source = load(write_config(tmp_path, fake, tokens)).source.build_source()
            mailbox = source.open_mailbox(ADDR)
            with pytest.raises(AuthenticationError) as raised:
                mailbox.check()
    finally:
        fake.close()
    assert len(fake.payloads) == 2 and fake.verdicts == [False, False]  # renewed once, not more
    assert len(tokens.issued) == 2 and fake.tokens == tokens.issued
    message = str(raised.value)
    assert ADDR in message and CLIENT_ID in message and "did not accept" in message
    out, err = capfd.readouterr()
    assert_nowhere([message, repr(raised.value), caplog.text, out, err, repr(mailbox)], secret_forms(*tokens.issued))


def test_xoauth2_and_a_scope_of_its_own_from_the_file(tmp_path: Path, imap: FakeOAuthIMAP, tokens: Tokens) -> None:
    scope = "https://outlook.office.com/.default"
    config = load(write_config(tmp_path, imap, tokens, source_extra='auth_mechanism = "xoauth2"\nlogin_user = "address"\n',
                               auth_extra=f'scope = "{scope}"\n'))  # fmt: skip
    mailbox = config.source.build_source().open_mailbox(ADDR)
    mailbox.check()
    mailbox.close()
    assert tokens.requests[-1]["scope"] == scope
    assert imap.mechanisms == ["XOAUTH2"]
    assert imap.payloads == [f"user={ADDR}\x01auth=Bearer {tokens.issued[0]}\x01\x01".encode()]


def test_a_client_secret_the_token_endpoint_refuses_is_named_without_it(tmp_path: Path, imap: FakeOAuthIMAP, tokens: Tokens) -> None:
    config = load_config(write_config(tmp_path, imap, tokens), environ={"IMAP_APP_SECRET": "Wr0ng/secret+value"})
    with pytest.raises(AuthenticationError) as raised:
        config.source.build_source().open_mailbox(ADDR).check()
    text = f"{raised.value}{raised.value!r}"
    assert "token endpoint" in text and CLIENT_ID in text and "AADSTS7000215" in text
    assert "Wr0ng/secret+value" not in text and urllib.parse.quote_plus("Wr0ng/secret+value") not in text
    assert imap.payloads == []  # no login was tried without a token


def test_certificate_credentials_log_in_to_imap(tmp_path: Path, imap: FakeOAuthIMAP, tokens: Tokens, caplog: pytest.LogCaptureFixture) -> None:
    cert_pem, key_pem = self_signed_pem()
    tokens.server.directory.add_app_certificate(TENANT, CERT_CLIENT, cert_pem)
    (tmp_path / "app.crt").write_text(cert_pem)
    (tmp_path / "app.key").write_text(key_pem)
    auth = (f'type = "oauth2"\ntenant_id = "{TENANT}"\nclient_id = "{CERT_CLIENT}"\ntoken_url = "{tokens.server.token_url(TENANT)}"\n'
            'certificate_file = "app.crt"\nprivate_key_file = "app.key"\n')  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        config = load(write_config(tmp_path, imap, tokens, auth=auth))
        source = config.source.build_source()
        mailbox = source.open_mailbox(ADDR)
        mailbox.check()
        mailbox.close()
    request = tokens.requests[-1]
    assert "client_secret" not in request and request["client_assertion_type"].endswith(":jwt-bearer")
    assert imap.verdicts == [True] and imap.tokens == tokens.issued
    assert_nowhere([caplog.text, repr(config), repr(source), request["client_assertion"]], [key_pem[40:100], "PRIVATE KEY"])
    assert_nowhere([caplog.text], secret_forms(*tokens.issued))


def test_oauth2_goes_with_bearer_mechanisms_only(tmp_path: Path, imap: FakeOAuthIMAP, tokens: Tokens) -> None:
    with pytest.raises(ConfigError) as raised:
        load(write_config(tmp_path, imap, tokens, source_extra='auth_mechanism = "plain"\n'))
    assert raised.value.key == "source.auth_mechanism"
    credentials = OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=tokens.server.token_url(TENANT))
    with pytest.raises(ConfigError) as direct:
        IMAPSource("127.0.0.1", imap.port, tls="none", auth=credentials, auth_mechanism="login")
    assert direct.value.key == "auth_mechanism" and CLIENT_SECRET not in str(direct.value)


def test_the_command_line_checks_an_imap_route_with_app_only_oauth(tmp_path: Path, imap: FakeOAuthIMAP, tokens: Tokens) -> None:
    """``groupmigrate check`` with ``-vv`` (DEBUG logging): both sides IMAP with app-only tokens."""
    auth = (f'type = "oauth2"\ntenant_id = "{TENANT}"\nclient_id = "{CLIENT_ID}"\nclient_secret_env = "IMAP_APP_SECRET"\n'
            f'token_url = "{tokens.server.token_url(TENANT)}"\n')  # fmt: skip
    destination = f'[destination]\nbackend = "imap"\nhost = "127.0.0.1"\nport = {imap.port}\ntls = "none"\n\n[destination.auth]\n{auth}'
    write_config(tmp_path, imap, tokens, destination=destination)
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    done = subprocess.run(
        [sys.executable, "-m", "groupmigrate.frontdoors.cli", "-vv", "check", "migration.toml"],
        capture_output=True, text=True, cwd=tmp_path, env={**env, "IMAP_APP_SECRET": CLIENT_SECRET}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert imap.verdicts and all(imap.verdicts)
    assert tokens.requests and all(r["scope"] == DEFAULT_SCOPE for r in tokens.requests)
    assert_nowhere([done.stdout, done.stderr], secret_forms(*tokens.issued))
