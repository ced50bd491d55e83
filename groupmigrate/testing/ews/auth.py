"""Who may connect and act on which mailbox: users, OAuth apps, tokens, impersonation grants."""

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

__all__ = ["Directory", "Principal", "TokenError"]


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
        if "token_secret" not in cfg:
            cfg["token_secret"] = secrets.token_bytes(32)
            self._save("token_secret")
        for key in ("users", "grants", "apps", "resolvables", "token_generation"):
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
        if not hmac.compare_digest(secret.encode(), form.get("client_secret", "").encode()):
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
