"""Bearer tokens for EWS: OAuth 2.0 client credentials and embedder-supplied tokens.

exchangelib's OAuth support hard-codes ``login.microsoftonline.com`` and needs
requests-oauthlib; here the token endpoint is whatever :class:`OAuth2ClientCredentials`
says, and the token is attached by a small requests auth object. When the server answers
401 (a token that expired mid-run, or was revoked), the auth object fetches a new token and
sends the request once more; a second 401 goes back to the caller as an authentication error.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import requests
import requests.auth

from groupmigrate.auth import OAuth2ClientCredentials, TokenProvider
from groupmigrate.errors import AuthenticationError, ConnectionFailed, GroupmigrateError

__all__ = ["BearerAuth", "ClientCredentialsTokens", "ProviderTokens", "TokenSource"]

#: Renew a token this many seconds before the server would reject it.
_EXPIRY_MARGIN = 60.0


class TokenSource(Protocol):
    """Where bearer tokens come from."""

    def token(self) -> str:
        """A token believed valid now."""

    def invalidate(self, token: str) -> None:
        """The server rejected ``token``; the next :meth:`token` call must not return it."""


class ClientCredentialsTokens:
    """Tokens from an OAuth 2.0 token endpoint by the client credentials grant."""

    def __init__(self, credentials: OAuth2ClientCredentials, *, verify_tls: bool = True, timeout: float = 60) -> None:
        self._credentials = credentials
        self._verify = verify_tls
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.fetches = 0

    def __repr__(self) -> str:
        return f"ClientCredentialsTokens(client_id={self._credentials.client_id!r}, token_url={self._credentials.effective_token_url!r})"

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

    def _fetch(self) -> tuple[str, float]:
        creds = self._credentials
        url = creds.effective_token_url
        form = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret.reveal(),
            "scope": creds.scope,
        }
        try:
            response = requests.post(url, data=form, timeout=self._timeout, verify=self._verify)
        except requests.exceptions.SSLError as e:
            raise ConnectionFailed(f"TLS failure talking to the token endpoint {url}: {type(e).__name__}") from None
        except requests.exceptions.RequestException as e:
            raise ConnectionFailed(f"token endpoint {url} unreachable: {type(e).__name__}") from None
        self.fetches += 1
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            error = body.get("error") or f"HTTP {response.status_code}"
            detail = body.get("error_description") or ""
            if response.status_code in (400, 401, 403):
                raise AuthenticationError(
                    f"token endpoint {url} refused client {creds.client_id!r}: {error}"
                    + (f" ({str(detail).splitlines()[0]})" if detail else "")
                )
            raise ConnectionFailed(f"token endpoint {url} failed: {error}")
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return str(body["access_token"]), lifetime


class ProviderTokens:
    """Tokens from an embedder's :class:`~groupmigrate.auth.TokenProvider`."""

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
                    raise AuthenticationError(f"the token provider failed: {type(e).__name__}: {e}") from None
                if not value:
                    raise AuthenticationError("the token provider returned no token")
                self._token = value
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None


class BearerAuth(requests.auth.AuthBase):
    """Attach ``Authorization: Bearer`` and renew the token once when the server answers 401."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def __repr__(self) -> str:
        return f"BearerAuth({self.source!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.source.token()
        request.headers["Authorization"] = f"Bearer {token}"
        request.register_hook("response", _RenewOn401(self.source, token))
        return request


class _RenewOn401:
    def __init__(self, source: TokenSource, token: str) -> None:
        self._source = source
        self._token = token

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, "_renewed", False) or response.connection is None:
            return response
        self._source.invalidate(self._token)
        fresh = self._source.token()
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        retry = request.copy()
        retry.headers["Authorization"] = f"Bearer {fresh}"
        retry._renewed = True  # type: ignore[attr-defined]
        # The hooks stay on the copy but are not run by the adapter; the session runs the
        # remaining ones (e.g. the large-chunk hook) on what we return.
        answer: requests.Response = response.connection.send(retry, **kwargs)
        answer.history.append(response)
        answer.request = retry
        return answer
