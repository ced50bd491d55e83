"""Credentials. Secrets are kept out of ``repr()``, ``str()`` and equality output.

Every kind of credentials derives from :class:`Credentials`; a backend names the kinds it
accepts (``Backend.credentials``), and a backend shipped in another package may bring kinds
of its own by deriving from it.

:func:`redact_url` is how a URL that may carry a token (in its user info or query string)
is shown in messages and reprs.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import attrs

from groupmigrate.errors import ConfigError

__all__ = [
    "Auth",
    "BasicAuth",
    "Credentials",
    "OAuth2ClientCredentials",
    "TokenProvider",
    "Secret",
    "redact_url",
]


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


def _optional_secret(value: str | Secret | None) -> Secret | None:
    return None if value is None else _secret(value)


def redact_url(url: str) -> str:
    """``url`` without what may be a secret: user info, query string and fragment are masked.

    ``https://user:pw@hooks.example/x?token=abc`` becomes ``https://hooks.example/x?…``.
    A value that is not a URL at all is not shown.
    """
    try:
        parts = urllib.parse.urlsplit(str(url))
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<not a URL>"
    if not parts.scheme or not host:
        return "<not a URL>"
    netloc = host if ":" not in host else f"[{host}]"
    if port:
        netloc += f":{port}"
    path = parts.path
    return f"{parts.scheme}://{netloc}{path}" + ("?…" if parts.query else "") + ("#…" if parts.fragment else "")


class Credentials:
    """Base of every kind of credentials; ``kind`` is the name configuration files use."""

    kind: ClassVar[str] = ""


@attrs.frozen
class BasicAuth(Credentials):
    """User name and password (EWS Basic authentication, sent UTF-8 encoded as RFC 7617 says)."""

    kind: ClassVar[str] = "basic"

    username: str
    password: Secret = attrs.field(converter=_secret)


_THUMBPRINT = re.compile(r"^[0-9A-F]{40}$")


def _thumbprint(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = re.sub(r"[\s:]", "", value).upper()
    if not _THUMBPRINT.match(cleaned):
        raise ConfigError("must be the certificate's SHA-1 thumbprint: 40 hexadecimal digits", key="thumbprint")
    return cleaned


@attrs.frozen
class OAuth2ClientCredentials(Credentials):
    """App-only OAuth 2.0 for Exchange Online (client credentials grant, full_access_as_app).

    The app proves who it is with exactly one of

    * ``client_secret``: a client secret, or
    * ``private_key`` (PEM, a :class:`Secret`) with ``certificate`` (the PEM certificate
      uploaded to the app registration) or its ``thumbprint`` (SHA-1, hex, as the Entra admin
      center shows it): each token request then carries a client assertion, a JWT signed
      RS256 with the key. Microsoft recommends certificates over secrets; they need the
      ``cryptography`` package (in the ``ews`` extra). :meth:`from_certificate_files`
      reads the PEM files.

    ``token_url`` defaults to Microsoft's endpoint for ``tenant_id``; point it elsewhere for
    a test server or a national cloud.

    Raises:
        ConfigError: neither or both of a secret and a key are given, a key without a
            certificate or thumbprint, or a key that cannot be read (the message never
            shows the key).
    """

    kind: ClassVar[str] = "oauth2"

    tenant_id: str
    client_id: str
    client_secret: Secret | None = attrs.field(default=None, converter=_optional_secret)
    token_url: str | None = None
    scope: str = "https://outlook.office365.com/.default"
    private_key: Secret | None = attrs.field(default=None, converter=_optional_secret, kw_only=True, repr=False)
    certificate: str | None = attrs.field(default=None, kw_only=True, repr=False)
    thumbprint: str | None = attrs.field(default=None, converter=_thumbprint, kw_only=True)
    private_key_password: Secret | None = attrs.field(
        default=None, converter=_optional_secret, kw_only=True, repr=False
    )

    def __attrs_post_init__(self) -> None:
        if (self.client_secret is None) == (self.private_key is None):
            raise ConfigError("give exactly one of client_secret and private_key (a certificate's key)", key="client_secret")
        if self.client_secret is not None and not self.client_secret.reveal().strip():
            raise ConfigError("must not be empty", key="client_secret")
        if self.private_key is not None:
            if self.certificate is None and self.thumbprint is None:
                raise ConfigError("a private key needs its certificate or the certificate's thumbprint", key="certificate")
            if self.certificate is not None:
                found = certificate_thumbprint(self.certificate)
                if self.thumbprint is not None and self.thumbprint != found:
                    raise ConfigError("does not match the certificate given", key="thumbprint")
                object.__setattr__(self, "thumbprint", found)
            load_private_key(self)  # fail now, not at the first token request

    @classmethod
    def from_certificate_files(
        cls,
        tenant_id: str,
        client_id: str,
        certificate_file: str | Path,
        private_key_file: str | Path | None = None,
        *,
        private_key_password: str | Secret | None = None,
        token_url: str | None = None,
        scope: str | None = None,
    ) -> OAuth2ClientCredentials:
        """Credentials from PEM files: the certificate, and its private key (in the same file
        when ``private_key_file`` is None)."""
        certificate = _read_pem(certificate_file, "certificate_file")
        key = certificate if private_key_file is None else _read_pem(private_key_file, "private_key_file")
        cert_block = _pem_block(certificate, "CERTIFICATE")
        if cert_block is None:
            raise ConfigError("holds no PEM certificate (-----BEGIN CERTIFICATE-----)", key="certificate_file")
        return cls(
            tenant_id,
            client_id,
            token_url=token_url,
            **({"scope": scope} if scope else {}),
            private_key=Secret(key),
            certificate=cert_block,
            private_key_password=private_key_password,
        )

    @property
    def uses_certificate(self) -> bool:
        return self.private_key is not None

    @property
    def effective_token_url(self) -> str:
        return self.token_url or f"https://login.microsoftonline.com/{self.tenant_id}/oauth2/v2.0/token"


def _read_pem(path: str | Path, key: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="ascii")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key=key) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a PEM file", key=key) from None


def _pem_block(text: str, label: str) -> str | None:
    match = re.search(rf"-----BEGIN {label}-----.*?-----END {label}-----", text, re.S)
    return match.group(0) if match else None


def _cryptography() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
    except ImportError:  # pragma: no cover - cryptography is in the ews extra
        raise ConfigError("certificate credentials need the cryptography package: pip install 'groupmigrate[ews]'") from None
    return x509, serialization


def certificate_thumbprint(certificate_pem: str) -> str:
    """The SHA-1 thumbprint (upper-case hex) of a PEM certificate, as Entra shows it."""
    x509, serialization = _cryptography()
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError("is not a PEM certificate", key="certificate") from None
    der: bytes = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - the thumbprint is defined as SHA-1


def load_private_key(credentials: OAuth2ClientCredentials) -> Any:
    """The RSA private key of certificate credentials (never shown in an error)."""
    _, serialization = _cryptography()
    from cryptography.hazmat.primitives.asymmetric import rsa

    assert credentials.private_key is not None
    password = credentials.private_key_password
    try:
        key = serialization.load_pem_private_key(
            credentials.private_key.reveal().encode("utf-8"),
            password=password.reveal().encode("utf-8") if password is not None else None,
        )
    except TypeError:
        raise ConfigError("the private key is encrypted: give private_key_password", key="private_key") from None
    except (ValueError, UnicodeError):
        # cryptography's messages never quote the key, but say nothing of it all the same
        raise ConfigError(
            "cannot be read: it must be an unencrypted PEM private key (or give the right private_key_password)",
            key="private_key",
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("must be an RSA key (Microsoft Entra ID signs client assertions with RS256)", key="private_key")
    return key


@attrs.frozen
class TokenProvider(Credentials):
    """An embedder's own token source: ``get_token()`` returns a valid bearer access token.

    It is called again whenever the server rejects the current token. Surrounding white
    space (a token read from a file ends with a newline) and a leading ``Bearer`` are
    removed; a token with other characters that cannot travel in an HTTP header is refused
    with an :class:`~groupmigrate.errors.AuthenticationError` that does not show it.
    """

    kind: ClassVar[str] = "token"

    get_token: Callable[[], str] = attrs.field(repr=False)


#: Any credentials (kept as an alias of :class:`Credentials` for annotations).
Auth = Credentials
