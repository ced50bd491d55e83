"""Helpers for the EWS backend tests: test servers per profile, endpoint arguments, the conformance harness."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.items import Item, ItemType, Message
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


@attrs.define
class EWSHarness:
    """The conformance harness over two EWS test servers (see groupmigrate.testing.conformance)."""

    source_server: EWSTestServer
    destination_server: EWSTestServer
    source: EWSSource
    destination: EWSDestination
    readback: EWSSource
    source_address: str
    destination_address: str

    def seed(self, path: tuple[str, ...], kind: ItemType, items: Sequence[Item]) -> None:
        self.source_server.seed_folder(self.source_address, path, kind=kind)
        for item in items:
            if isinstance(item, Message):
                self.source_server.seed_message(
                    self.source_address, path, item.mime, is_read=item.is_read, flag=item.flag,
                    categories=item.categories, importance=item.importance, received=item.received,
                )  # fmt: skip
            else:
                self.source_server.seed_item(self.source_address, item, folder=path)

    def source_writes(self) -> list[Any] | None:
        return self.source_server.write_operations(self.source_address)

    def lose_next_write(self) -> None:
        """The destination server carries out the next write and then resets the connection."""
        self.destination_server.knobs.lose_answers = 1

    def rejected_item(self) -> Item | None:
        from groupmigrate.testing.conformance import sample_message

        return sample_message(99, body=b"x" * 300_000)


