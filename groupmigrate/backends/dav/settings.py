"""The DAV backend's setting values, without its client: the plug-in declaration reads them
(``groupmigrate backends`` and configuration checks do not import requests or lxml)."""

from __future__ import annotations

import ipaddress
import urllib.parse

__all__ = [
    "MAX_CONNECTIONS",
    "PRINCIPAL_FIELDS",
    "VCARD_VERSIONS",
    "is_loopback",
    "is_loopback_url",
    "principal_template_problem",
]

VCARD_VERSIONS = ("3.0", "4.0")
MAX_CONNECTIONS = 16
#: the fields a ``principal_url`` template may use
PRINCIPAL_FIELDS = ("user", "local_part", "domain")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost`` or a loopback address)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return False
    return bool(host) and is_loopback(host or "")


def principal_template_problem(template: str) -> str | None:
    """Why a ``principal_url`` template cannot be used; None when it can."""
    import string

    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return f"is not a valid template ({exc})"
    unknown = sorted({f for f in fields if f not in PRINCIPAL_FIELDS})
    if unknown:
        return f"knows only {{user}}, {{local_part}} and {{domain}}, not {', '.join('{' + u + '}' for u in unknown)}"
    if not fields:
        return "must contain {user} or {local_part}: every mailbox has its own principal"
    parts = urllib.parse.urlsplit(template.replace("{", "").replace("}", ""))
    if parts.scheme and parts.scheme not in ("http", "https"):
        return "must be a path (\"/{user}/\") or an http(s) URL"
    return None
