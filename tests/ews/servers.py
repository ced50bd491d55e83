"""Helpers for the EWS backend tests: test servers per profile, endpoint arguments."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
from groupmigrate.testing import EWSTestServer

SERVICE = "svc@contoso.com"
SERVICE_PASSWORD = "s3rvice-Pa55"
TENANT = "tenant-1"
CLIENT_ID = "client-1"
CLIENT_SECRET = "cl1ent-Secr3t-value"


def make_server(profile: str, *mailboxes: str) -> EWSTestServer:
    """A test server with ``mailboxes`` (password ``pw-<local part>``), a service account allowed
    to impersonate them, and an OAuth app."""
    server = EWSTestServer(profile=profile)
    server.add_user(SERVICE, SERVICE_PASSWORD)
    server.add_oauth_app(TENANT, CLIENT_ID, CLIENT_SECRET)
    for address in mailboxes:
        server.add_mailbox(address, password=f"pw-{address.split('@')[0]}")
        server.grant_impersonation(SERVICE, address)
    return server


def endpoint_kwargs(server: EWSTestServer, *, oauth: bool = False, **extra: Any) -> dict[str, Any]:
    auth: Any
    if oauth:
        auth = OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=server.token_url(TENANT))
    else:
        auth = BasicAuth(SERVICE, SERVICE_PASSWORD)
    kwargs: dict[str, Any] = {
        "url": server.url,
        "auth": auth,
        "impersonation": True,
        "profile": server.profile.name,
        "timeout": 10,
    }
    kwargs.update(extra)
    return kwargs


@contextlib.contextmanager
def served(profile: str, *mailboxes: str) -> Iterator[EWSTestServer]:
    server = make_server(profile, *mailboxes)
    try:
        yield server
    finally:
        server.stop()
