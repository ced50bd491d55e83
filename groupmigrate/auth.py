"""Credentials. Secrets are kept out of ``repr()``, ``str()`` and equality output.

Every kind of credentials derives from :class:`Credentials`; a backend names the kinds it
accepts (``Backend.credentials``), and a backend shipped in another package may bring kinds
of its own by deriving from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import attrs

__all__ = ["Auth", "BasicAuth", "Credentials", "OAuth2ClientCredentials", "TokenProvider", "Secret"]


@attrs.frozen(repr=False, eq=False)
class Secret:
    """A secret string that never shows itself in reprs, logs or tracebacks."""

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str | tuple[Any, ...]:  # refuse to pickle a secret into a state file by accident
        raise TypeError("a Secret cannot be pickled")


def _secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


class Credentials:
    """Base of every kind of credentials; ``kind`` is the name configuration files use."""

    kind: ClassVar[str] = ""


@attrs.frozen
class BasicAuth(Credentials):
    """User name and password (EWS Basic authentication)."""

    kind: ClassVar[str] = "basic"

    username: str
    password: Secret = attrs.field(converter=_secret)


@attrs.frozen
class OAuth2ClientCredentials(Credentials):
    """App-only OAuth 2.0 for Exchange Online (client credentials grant, full_access_as_app).

    ``token_url`` defaults to Microsoft's endpoint for ``tenant_id``; point it elsewhere for
    a test server or a national cloud.
    """

    kind: ClassVar[str] = "oauth2"

    tenant_id: str
    client_id: str
    client_secret: Secret = attrs.field(converter=_secret)
    token_url: str | None = None
    scope: str = "https://outlook.office365.com/.default"

    @property
    def effective_token_url(self) -> str:
        return self.token_url or f"https://login.microsoftonline.com/{self.tenant_id}/oauth2/v2.0/token"


@attrs.frozen
class TokenProvider(Credentials):
    """An embedder's own token source: ``get_token()`` returns a valid bearer access token.

    It is called again whenever the server rejects the current token.
    """

    kind: ClassVar[str] = "token"

    get_token: Callable[[], str] = attrs.field(repr=False)


#: Any credentials (kept as an alias of :class:`Credentials` for annotations).
Auth = Credentials
