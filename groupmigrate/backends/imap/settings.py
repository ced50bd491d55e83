"""The IMAP backend's setting values, without its client: the plug-in declaration reads them
(``groupmigrate backends`` and configuration checks do not import IMAPClient)."""

from __future__ import annotations

import ipaddress

__all__ = ["ADMIN_LOGINS", "AUTH_MECHANISMS", "LOGIN_USERS", "MAX_CONNECTIONS", "TLS_MODES", "is_loopback"]

TLS_MODES = ("implicit", "starttls", "none")
ADMIN_LOGINS = ("plain-authzid", "master-separator", "none")
AUTH_MECHANISMS = ("auto", "login", "plain", "xoauth2", "oauthbearer")
LOGIN_USERS = ("address", "local-part")
MAX_CONNECTIONS = 64


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
