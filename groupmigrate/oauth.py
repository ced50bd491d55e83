"""Bearer tokens for any backend: OAuth 2.0 client credentials and embedder-supplied tokens.

A backend that logs in with a bearer token (EWS over HTTP, IMAP with XOAUTH2 or OAUTHBEARER)
gets its tokens from a :class:`TokenSource`, built by :func:`token_source` from the
credentials:

- :class:`~groupmigrate.auth.OAuth2ClientCredentials`: :class:`ClientCredentialsTokens`
  asks the token endpoint the credentials name (client credentials grant, with a client
  secret or a certificate's client assertion), keeps the token until shortly before it
  expires, and asks again;
- :class:`~groupmigrate.auth.TokenProvider`: :class:`ProviderTokens` calls the embedder's
  ``get_token()`` and keeps its token.

When the server refuses a token (expired mid-run, or revoked), the backend calls
:meth:`TokenSource.invalidate` with it and asks :meth:`TokenSource.token` once more; a second
refusal is an authentication error.

Every token is checked before it is used (:func:`clean_token`): surrounding white space is
removed (a token read from a file ends with a newline), and a token that still holds
characters an HTTP header (or a SASL bearer message) cannot carry is refused without being
shown. With certificate credentials the token request carries a client assertion (RFC 7523):
a JWT signed RS256 with the app's private key, ``x5t`` naming the certificate
(:func:`client_assertion`). No secret (client secret, private key, token) appears in a
message, a repr or a log line.

``requests`` is imported when a token is first fetched, not with this module.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from typing import Any, Protocol

from groupmigrate.auth import Credentials, OAuth2ClientCredentials, TokenProvider, load_private_key, redact_url
from groupmigrate.errors import AuthenticationError, ConfigError, ConnectionFailed, GroupmigrateError

__all__ = [
    "ClientCredentialsTokens",
    "ProviderTokens",
    "TokenSource",
    "USER_AGENT",
    "clean_token",
    "client_assertion",
    "token_source",
]

#: What a bearer token may hold once trimmed: visible ASCII (RFC 6750's b64token is a subset).
_TOKEN = re.compile(r"^[\x21-\x7e]+$")
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Lifetime of a client assertion; Microsoft Entra ID accepts up to 10 minutes.
_ASSERTION_LIFETIME = 600
#: Renew a token this many seconds before the server would reject it.
_EXPIRY_MARGIN = 60.0


def _default_user_agent() -> str:
    from groupmigrate import __version__

    return f"groupmigrate/{__version__}"


#: The ``User-Agent`` of token requests unless a backend names its own.
USER_AGENT = _default_user_agent()


def clean_token(value: object, origin: str) -> str:
    """``value`` as a token that can travel in an ``Authorization`` header, or an error.

    Surrounding white space and a leading ``Bearer`` are removed. The error never shows
    any part of the value.

    Raises:
        AuthenticationError: not a string, empty, or holding spaces, line breaks, control or
            non-ASCII characters.
    """
    if not isinstance(value, str):
        raise AuthenticationError(f"{origin} returned {type(value).__name__}, not a token string")
    token = value.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token:
        raise AuthenticationError(f"{origin} returned no token")
    if not _TOKEN.match(token):
        raise AuthenticationError(
            f"{origin} returned a token that cannot be sent in an HTTP header (it holds spaces, line "
            "breaks, control or non-ASCII characters); the token is not shown"
        )
    return token


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def client_assertion(credentials: OAuth2ClientCredentials, audience: str, *, now: float | None = None) -> str:
    """A client assertion JWT for certificate credentials (RS256, ``x5t`` = SHA-1 thumbprint).

    Claims: ``aud`` the token endpoint, ``iss`` and ``sub`` the client id, a fresh ``jti``,
    ``nbf``/``iat`` now and ``exp`` ten minutes later, as Microsoft Entra ID requires.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    assert credentials.thumbprint is not None
    key = load_private_key(credentials)
    issued = int(time.time() if now is None else now)
    header = {"alg": "RS256", "typ": "JWT", "x5t": _b64url(bytes.fromhex(credentials.thumbprint))}
    claims = {
        "aud": audience,
        "iss": credentials.client_id,
        "sub": credentials.client_id,
        "jti": str(uuid.uuid4()),
        "nbf": issued,
        "iat": issued,
        "exp": issued + _ASSERTION_LIFETIME,
    }
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _masked(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


class TokenSource(Protocol):
    """Where bearer tokens come from."""

    def token(self) -> str:
        """A token believed valid now."""

    def invalidate(self, token: str) -> None:
        """The server rejected ``token``; the next :meth:`token` call must not return it."""


class ClientCredentialsTokens:
    """Tokens from an OAuth 2.0 token endpoint by the client credentials grant.

    A token is kept until a minute before it expires (or half its lifetime, when that is
    shorter) and shared by every caller; :meth:`invalidate` drops it at once. ``fetches``
    counts the tokens fetched.

    Args:
        credentials: the app, its secret or certificate, the token endpoint and the scope.
        verify_tls: check the token endpoint's TLS certificate.
        timeout: seconds for a token request (``requests``' connect and read timeouts).
        user_agent: the ``User-Agent`` of token requests (default :data:`USER_AGENT`).
    """

    def __init__(
        self,
        credentials: OAuth2ClientCredentials,
        *,
        verify_tls: bool = True,
        timeout: float | tuple[float, float] = 60,
        user_agent: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._verify = verify_tls
        self._timeout = timeout
        self._user_agent_value = user_agent
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.fetches = 0

    def __repr__(self) -> str:
        creds = self._credentials
        return f"{type(self).__name__}(client_id={creds.client_id!r}, token_url={redact_url(creds.effective_token_url)!r})"

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._token, lifetime = self._fetch()
                self._expires = time.monotonic() + max(lifetime - _EXPIRY_MARGIN, lifetime / 2)
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _user_agent(self) -> str:
        return self._user_agent_value or USER_AGENT

    def _fetch(self) -> tuple[str, float]:
        import requests

        creds = self._credentials
        target = creds.effective_token_url
        url = redact_url(target)
        form = {"grant_type": "client_credentials", "client_id": creds.client_id, "scope": creds.scope}
        if creds.client_secret is not None:
            form["client_secret"] = creds.client_secret.reveal()
        else:
            form["client_assertion_type"] = _ASSERTION_TYPE
            form["client_assertion"] = client_assertion(creds, target)
        try:
            response = requests.post(
                target, data=form, timeout=self._timeout, verify=self._verify,
                headers={"User-Agent": self._user_agent()},
            )  # fmt: skip
        except requests.exceptions.SSLError as e:
            raise ConnectionFailed(f"TLS failure talking to the token endpoint {url}: {type(e).__name__}") from None
        except (requests.exceptions.RequestException, UnicodeError) as e:
            raise ConnectionFailed(f"token endpoint {url} unreachable: {type(e).__name__}") from None
        self.fetches += 1
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            secret = creds.client_secret.reveal() if creds.client_secret is not None else None
            error = _masked(str(body.get("error") or f"HTTP {response.status_code}"), secret)[:100]
            detail = _masked(str(body.get("error_description") or ""), secret)
            if response.status_code in (400, 401, 403):
                how = "certificate" if creds.uses_certificate else "client secret"
                raise AuthenticationError(
                    f"token endpoint {url} refused the app (client id {creds.client_id!r}, {how}): {error}"
                    + (f" ({detail.splitlines()[0][:300]})" if detail.strip() else "")
                )
            raise ConnectionFailed(f"token endpoint {url} failed: {error}")
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        token = clean_token(body["access_token"], f"the token endpoint {url}")
        return token, lifetime


class ProviderTokens:
    """Tokens from an embedder's :class:`~groupmigrate.auth.TokenProvider`, kept until
    :meth:`invalidate` drops them."""

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider
        self._lock = threading.Lock()
        self._token: str | None = None

    def __repr__(self) -> str:
        return "ProviderTokens()"

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                try:
                    value = self._provider.get_token()
                except GroupmigrateError:
                    raise
                except Exception as e:  # noqa: BLE001 - an embedder's callback may raise anything
                    # Its message may quote what it read (a token, a file's contents): only the type.
                    raise AuthenticationError(f"the token provider failed: {type(e).__name__}") from None
                self._token = clean_token(value, "the token provider")
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None


def token_source(
    credentials: Credentials,
    *,
    verify_tls: bool = True,
    timeout: float | tuple[float, float] = 60,
    user_agent: str | None = None,
) -> TokenSource:
    """The token source for bearer-token credentials.

    ``verify_tls``, ``timeout`` and ``user_agent`` apply to the token requests of
    :class:`~groupmigrate.auth.OAuth2ClientCredentials`.

    Raises:
        ConfigError: ``credentials`` carry no bearer tokens (basic credentials, say).
    """
    if isinstance(credentials, OAuth2ClientCredentials):
        return ClientCredentialsTokens(credentials, verify_tls=verify_tls, timeout=timeout, user_agent=user_agent)
    if isinstance(credentials, TokenProvider):
        return ProviderTokens(credentials)
    raise ConfigError(f"{type(credentials).__name__} carries no bearer tokens", key="auth")
