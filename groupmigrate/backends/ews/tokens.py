"""Bearer tokens for EWS: the token sources of :mod:`groupmigrate.oauth`, attached to requests.

exchangelib's OAuth support hard-codes ``login.microsoftonline.com`` and needs
requests-oauthlib; here the token endpoint is whatever :class:`OAuth2ClientCredentials`
says, and the token is attached by a small requests auth object. When the server answers
401 (a token that expired mid-run, or was revoked), the auth object fetches a new token and
sends the request once more; a second 401 goes back to the caller as an authentication error.

The token machinery itself (the client credentials grant with a client secret or a
certificate's client assertion, the token cache and its renewal, :func:`clean_token`) is
shared by every backend and lives in :mod:`groupmigrate.oauth`; its names are importable from
here as before. What is EWS's own: :class:`BearerAuth`, and the ``User-Agent`` of token
requests (the EWS backend's, naming exchangelib).
"""

from __future__ import annotations

from typing import Any

import requests
import requests.auth

from groupmigrate.oauth import ClientCredentialsTokens as _SharedClientCredentialsTokens
from groupmigrate.oauth import ProviderTokens, TokenSource, clean_token, client_assertion

__all__ = ["BearerAuth", "ClientCredentialsTokens", "ProviderTokens", "TokenSource", "client_assertion", "clean_token"]


class ClientCredentialsTokens(_SharedClientCredentialsTokens):
    """:class:`groupmigrate.oauth.ClientCredentialsTokens` whose token requests carry the EWS
    backend's ``User-Agent`` (naming exchangelib) unless another is given."""

    def _user_agent(self) -> str:
        return self._user_agent_value or _ews_user_agent()


class BearerAuth(requests.auth.AuthBase):
    """Attach ``Authorization: Bearer`` and renew the token once when the server answers 401."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def __repr__(self) -> str:
        return f"BearerAuth({self.source!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = clean_token(self.source.token(), "the token source")
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
        fresh = clean_token(self._source.token(), "the token source")
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


def _ews_user_agent() -> str:
    from groupmigrate.backends.ews.connection import USER_AGENT

    return USER_AGENT
