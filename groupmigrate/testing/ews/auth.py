"""Who may connect and act on which mailbox: users, OAuth apps, tokens, impersonation grants.

OAuth apps authenticate at the token endpoint with a client secret, or with a certificate:
the app's certificate is registered (:meth:`Directory.add_app_certificate`) and each token
request carries a client assertion (RFC 7523) that is verified as Microsoft Entra ID does:
RS256 signature by the key of the certificate named in the ``x5t`` header, ``aud`` the
token endpoint, ``iss`` and ``sub`` the client id, a time window and a ``jti`` used once.

:meth:`Directory.block_ews` answers as an Exchange Online tenant that blocks EWS for an app
(``EwsEnabled`` / ``EwsAllowedAppIDs``): its tokens are issued, but every EWS request acting
on a mailbox is refused with ``ErrorAccessDenied``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any, Optional

import attrs

from groupmigrate.testing.ews.store import Store

__all__ = ["Directory", "EWS_BLOCKED_TEXT", "Principal", "TokenError"]

_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Clock skew allowed for a client assertion's nbf/exp, seconds.
_SKEW = 300
#: The text of the ErrorAccessDenied the server sends for an app that EWS is blocked for.
EWS_BLOCKED_TEXT = (
    "Access is denied. Check credentials and try again. EWS is not allowed for this application: "
    "the organization's EwsEnabled / EwsAllowedAppIDs settings block it."
)


@attrs.frozen
class Principal:
    """An authenticated caller: a user (``address``) or an app-only OAuth client."""

    kind: str  # "user" or "app"
    address: str = ""
    tenant_id: str = ""
    client_id: str = ""

    @property
    def is_app(self) -> bool:
        return self.kind == "app"

    @property
    def name(self) -> str:
        return self.address if self.kind == "user" else f"app:{self.client_id}"


class TokenError(Exception):
    """The token endpoint refuses a request: ``status`` HTTP code, ``error`` OAuth error code."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Directory:
    """Users, passwords, grants, OAuth apps and name-resolution data, kept in the store's config.

    Tokens are signed with a per-store secret, so they stay valid across a restart over the
    same store directory until they expire or :meth:`expire_tokens` is called.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        cfg = store.config
        cfg.setdefault("users", {})
        cfg.setdefault("grants", set())
        cfg.setdefault("apps", {})
        cfg.setdefault("resolvables", {})
        cfg.setdefault("token_generation", 0)
        cfg.setdefault("app_certificates", {})
        cfg.setdefault("ews_blocked", set())
        self._seen_assertions: set[str] = set()
        if "token_secret" not in cfg:
            cfg["token_secret"] = secrets.token_bytes(32)
            self._save("token_secret")
        for key in ("users", "grants", "apps", "resolvables", "token_generation", "app_certificates", "ews_blocked"):
            self._save(key)
        store.commit()

    def _save(self, key: str) -> None:
        self.store.save_config(key)

    @property
    def users(self) -> dict[str, str]:
        return self.store.config["users"]  # type: ignore[no-any-return]

    @property
    def grants(self) -> set[tuple[str, str]]:
        return self.store.config["grants"]  # type: ignore[no-any-return]

    @property
    def apps(self) -> dict[tuple[str, str], str]:
        return self.store.config["apps"]  # type: ignore[no-any-return]

    @property
    def app_certificates(self) -> dict[tuple[str, str], dict[str, str]]:
        """Per app: the registered certificates (PEM) by SHA-1 thumbprint (upper-case hex)."""
        return self.store.config["app_certificates"]  # type: ignore[no-any-return]

    @property
    def ews_blocked(self) -> set[str]:
        """Client ids (lower case) that EWS is blocked for; ``*`` blocks every app."""
        return self.store.config["ews_blocked"]  # type: ignore[no-any-return]

    @property
    def resolvables(self) -> dict[str, str]:
        return self.store.config["resolvables"]  # type: ignore[no-any-return]

    # -- configuration ---------------------------------------------------------------
    def set_password(self, address: str, password: str) -> None:
        with self.store.lock:
            self.users[address.lower()] = password
            self._save("users")
            self.store.commit()

    def grant(self, actor: str, mailbox: str) -> None:
        with self.store.lock:
            self.grants.add((actor.lower(), mailbox.lower()))
            self._save("grants")
            self.store.commit()

    def revoke(self, actor: str, mailbox: str) -> None:
        with self.store.lock:
            self.grants.discard((actor.lower(), mailbox.lower()))
            self._save("grants")
            self.store.commit()

    def add_app(self, tenant_id: str, client_id: str, client_secret: str) -> None:
        with self.store.lock:
            self.apps[(tenant_id.lower(), client_id.lower())] = client_secret
            self._save("apps")
            self.store.commit()

    def add_app_certificate(self, tenant_id: str, client_id: str, certificate_pem: str) -> str:
        """Register a certificate (PEM) for an app, creating the app without a client secret if
        needed, as uploading it under *Certificates & secrets* does; returns its thumbprint."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
        thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()  # noqa: S324
        key = (tenant_id.lower(), client_id.lower())
        with self.store.lock:
            self.apps.setdefault(key, "")  # no client secret: only the certificate authenticates
            self.app_certificates.setdefault(key, {})[thumbprint] = certificate_pem
            self._save("apps")
            self._save("app_certificates")
            self.store.commit()
        return thumbprint

    def block_ews(self, client_id: str = "*") -> None:
        """Block EWS for an app (``*``: for every app), as a tenant with ``EwsEnabled`` true and the
        app missing from ``EwsAllowedAppIDs`` does since October 2026."""
        with self.store.lock:
            self.ews_blocked.add(client_id.lower())
            self._save("ews_blocked")
            self.store.commit()

    def unblock_ews(self, client_id: str = "*") -> None:
        with self.store.lock:
            self.ews_blocked.discard(client_id.lower())
            self._save("ews_blocked")
            self.store.commit()

    def add_resolvable(self, name: str, address: str) -> None:
        with self.store.lock:
            self.resolvables[name.lower()] = address
            self._save("resolvables")
            self.store.commit()

    def expire_tokens(self) -> None:
        with self.store.lock:
            self.store.config["token_generation"] += 1
            self._save("token_generation")
            self.store.commit()

    # -- checks ------------------------------------------------------------------------
    def check_basic(self, username: str, password: str) -> Optional[Principal]:
        """The user for a Basic username/password, or None. ``DOMAIN\\user`` matches by local part."""
        name = username.lower()
        if "\\" in name:
            name = name.split("\\", 1)[1]
        candidates = [name] if "@" in name else [a for a in self.users if a.split("@", 1)[0] == name]
        for address in candidates:
            expected = self.users.get(address)
            if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
                return Principal("user", address=address)
        return None

    def may_impersonate(self, principal: Principal, mailbox: str) -> bool:
        if principal.is_app and ({"*", principal.client_id} & self.ews_blocked):
            from groupmigrate.testing.ews.soap import SoapFault

            raise SoapFault("ErrorAccessDenied", EWS_BLOCKED_TEXT)
        if principal.is_app:
            return (principal.tenant_id, principal.client_id) in self.apps
        return (principal.address, mailbox.lower()) in self.grants

    # -- tokens ------------------------------------------------------------------------
    def issue_token(self, tenant_id: str, form: dict[str, str], lifetime: int) -> dict[str, Any]:
        """Answer a client-credentials token request (the body of the JSON answer)."""
        if form.get("grant_type") == "refresh_token" and not form.get("refresh_token"):
            raise TokenError(
                400,
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'refresh_token'.",
            )
        if form.get("grant_type") != "client_credentials":
            raise TokenError(
                400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type."
            )
        client_id = form.get("client_id", "").lower()
        tenants = {t for (t, _) in self.apps}
        if tenant_id.lower() not in tenants:
            raise TokenError(400, "invalid_request", f"AADSTS90002: Tenant '{tenant_id}' not found.")
        secret = self.apps.get((tenant_id.lower(), client_id))
        if secret is None:
            raise TokenError(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.",
            )
        if form.get("client_assertion") or form.get("client_assertion_type"):
            self._check_assertion(tenant_id.lower(), client_id, form)
        elif not secret or not hmac.compare_digest(secret.encode(), form.get("client_secret", "").encode()):
            raise TokenError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        exp = int(time.time()) + lifetime
        payload = {
            "tid": tenant_id.lower(),
            "appid": client_id,
            "exp": exp,
            "gen": self.store.config["token_generation"],
            "nonce": secrets.token_hex(4),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self.store.config["token_secret"], body.encode(), hashlib.sha256).digest())
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": f"{body}.{sig}",
        }

    def _check_assertion(self, tenant_id: str, client_id: str, form: dict[str, str]) -> None:
        """Verify a client assertion as Microsoft Entra ID does (or raise TokenError)."""
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def refuse(text: str, status: int = 401) -> TokenError:
            return TokenError(status, "invalid_client", text)

        if form.get("client_assertion_type") != _ASSERTION_TYPE:
            raise TokenError(400, "invalid_request", "AADSTS50027: client_assertion_type must be " + _ASSERTION_TYPE)
        assertion = form.get("client_assertion", "")
        try:
            head64, body64, sig64 = assertion.split(".")
            header = json.loads(_unb64(head64))
            claims = json.loads(_unb64(body64))
            signature = _unb64(sig64)
        except (ValueError, TypeError):
            raise refuse("AADSTS50027: JWT token is invalid or malformed.") from None
        if header.get("alg") != "RS256":
            raise refuse("AADSTS5002738: Invalid JWT token. 'alg' must be RS256.")
        try:
            thumbprint = _unb64(str(header.get("x5t", ""))).hex().upper()
        except ValueError:
            thumbprint = ""
        pem = self.app_certificates.get((tenant_id, client_id), {}).get(thumbprint)
        if pem is None:
            raise refuse(f"AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}']")
        public_key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
        try:
            public_key.verify(signature, f"{head64}.{body64}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg, arg-type]
        except InvalidSignature:
            raise refuse("AADSTS700027: Client assertion failed signature validation.") from None
        now = time.time()
        if claims.get("iss") != claims.get("sub") or str(claims.get("sub", "")).lower() != client_id:
            raise refuse("AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.")
        audience = str(claims.get("aud", ""))
        if not audience.lower().rstrip("/").endswith(f"/{tenant_id}/oauth2/v2.0/token"):
            raise refuse("AADSTS700016: Client assertion audience claim does not match the token endpoint.")
        try:
            nbf, exp = float(claims.get("nbf", now)), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise refuse("AADSTS50027: JWT token is invalid or malformed.") from None
        if not nbf - _SKEW <= now <= exp + _SKEW or exp - nbf > 3600 * 24:
            raise refuse("AADSTS700024: Client assertion is not within its valid time range.")
        jti = str(claims.get("jti", ""))
        if not jti or jti in self._seen_assertions:
            raise refuse("AADSTS700025: Client assertion contains an invalid or reused jti.")
        self._seen_assertions.add(jti)

    def check_token(self, token: str) -> Optional[Principal]:
        """The app a bearer token was issued to, or None when it is forged, expired or revoked."""
        try:
            body, sig = token.split(".", 1)
            expected = _b64(hmac.new(self.store.config["token_secret"], body.encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(expected, sig):
                return None
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):
            return None
        if payload.get("gen") != self.store.config["token_generation"] or payload.get("exp", 0) < time.time():
            return None
        if (payload["tid"], payload["appid"]) not in self.apps:
            return None
        return Principal("app", tenant_id=payload["tid"], client_id=payload["appid"])
