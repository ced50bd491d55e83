"""The DAV backend as the core sees it: options, credentials, profiles and factories.

Credentials: ``basic`` (user name and password), ``oauth2`` (an app's client credentials:
bearer tokens from its token endpoint) and ``token`` (an embedder's token provider). The
endpoint's credentials open a mailbox of the same user; to open every user's mailbox with an
admin's credentials, give ``principal_url`` (e.g. ``"/{user}/"``).

Registered as ``dav`` in the ``groupmigrate.backends`` entry-point group. Importing this
module imports neither requests, lxml nor the iCalendar and vCard libraries; the factories do.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from groupmigrate.auth import Credentials
from groupmigrate.backends.dav.profiles import PROFILES
from groupmigrate.backends.dav.settings import MAX_CONNECTIONS, VCARD_VERSIONS, is_loopback, principal_template_problem
from groupmigrate.errors import ConfigError
from groupmigrate.plugins import Backend, Option, Settings
from groupmigrate.protocols import Destination, Source

__all__ = ["BACKEND", "OPTIONS", "SYNC_METHODS"]

#: how sync states are kept: ``auto`` (sync-collection where offered, else ETags) or ``etag``
SYNC_METHODS = ("auto", "etag")

OPTIONS = (
    Option("url", "url", "the server's DAV root (https://dav.example.org/); discovery starts there", required=True),
    Option("principal_url", "string", "where each mailbox's principal is, for admin credentials opening every user's "
           "mailbox: a path or URL with {user} (the address), {local_part} or {domain}, e.g. \"/{user}/\""),
    Option("verify_tls", "bool", "check the server's TLS certificate", default=True),
    Option("ca_file", "path", "PEM file of the CA certificates to trust (default: the system's)"),
    Option("vcard_version", "choice", "the vCard version contacts are written in: \"3.0\" or \"4.0\"",
           default="3.0", choices=VCARD_VERSIONS),
    Option("max_connections", "int", "concurrent requests per mailbox at most", default=4, low=1, high=MAX_CONNECTIONS),
    Option("max_item_bytes", "int", "the largest resource the server accepts, where known (Radicale: "
           "max_resource_size): larger items are skipped with their reason", low=1, high=1 << 40),
    Option("sync", "choice", "how delta runs find changes: \"auto\" (sync-collection where the server offers it, "
           "else ETags) or \"etag\"", default="auto", choices=SYNC_METHODS),
    Option("connect_timeout", "int", "seconds to wait for the server to accept a connection", default=10, low=1, high=600),
    Option("read_timeout", "int", "seconds to wait for the answer to one request", default=60, low=1, high=3600),
)  # fmt: skip


def _prepare(options: dict[str, Any], profile: str, auth: Credentials | None) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(options["url"])
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ConfigError("plain http sends passwords and tokens in clear text: it is accepted only for a server on "
                          "this machine (loopback); use https://", key="url")  # fmt: skip
    if parts.username or parts.password:
        raise ConfigError("must not hold credentials; give them in [auth]", key="url")
    template = options["principal_url"]
    if template is not None:
        problem = principal_template_problem(template)
        if problem:
            raise ConfigError(problem, key="principal_url")
    ca_file = options["ca_file"]
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"{ca_file} is not a file", key="ca_file")
    return dict(options)


def _arguments(settings: Settings) -> dict[str, Any]:
    values = {k: v for k, v in settings.options.items() if v is not None}
    return {"auth": settings.auth, "profile": settings.profile, **values}


def _source(settings: Settings) -> Source:
    from groupmigrate.backends.dav.source import DavSource

    return DavSource(**_arguments(settings))


def _destination(settings: Settings) -> Destination:
    from groupmigrate.backends.dav.destination import DavDestination

    return DavDestination(**_arguments(settings))


BACKEND = Backend(
    name="dav",
    summary="CalDAV/CardDAV servers (Radicale and others): calendars, tasks, notes and contacts, no mail",
    options=OPTIONS,
    profiles=dict(PROFILES),
    default_profile="generic",
    credentials=("basic", "oauth2", "token"),
    source=_source,
    destination=_destination,
    prepare=_prepare,
)
