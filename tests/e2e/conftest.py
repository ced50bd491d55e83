"""Two EWS test servers per test (a source and a destination) and the pieces to migrate between them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import attrs
import pytest

import groupmigrate as gm
from groupmigrate.frontdoors.demo import seed_mailbox
from groupmigrate.testing import EWSTestServer

SOURCE_PROFILE, DESTINATION_PROFILE = "exchange-online", "workmail"


@attrs.define
class Route:
    source_server: EWSTestServer
    destination_server: EWSTestServer
    source: gm.EWSSource
    destination: gm.EWSDestination
    pairs: list[gm.AccountPair]
    expected: dict[str, dict[str, dict[str, int]]]
    state: str
    hashes: dict[str, str] = attrs.field(factory=dict)
    register: Callable[..., None] | None = None

    def deliver(self, address: str, mime: bytes, path: tuple[str, ...] = ("Inbox",)) -> None:
        """New mail arrives in a source mailbox (the server delivers it; the migration did not)."""
        self.source_server.seed_message(address, path, mime, received=dt.datetime.now(dt.timezone.utc))
        self.hashes[address] = self.source_server.content_hash(address)
        if self.register is not None:
            self.register(self.source_server)  # a new snapshot for the suite-wide source guard

    def migrator(self, **kwargs: object) -> gm.Migrator:
        kwargs.setdefault("state", self.state)
        return gm.Migrator(self.source, self.destination, **kwargs)  # type: ignore[arg-type]


def route_endpoints(src: EWSTestServer, dst: EWSTestServer, source_profile: str, destination_profile: str) -> tuple[
    gm.EWSSource, gm.EWSDestination
]:  # fmt: skip
    """The source over app-only OAuth (app ``app`` of tenant ``tenant``) and the destination with
    the ``admin@example.org`` impersonating admin, as the routes of these tests set them up."""
    source = gm.EWSSource(
        url=src.url, profile=source_profile, impersonation=True,
        auth=gm.OAuth2ClientCredentials("tenant", "app", "app-secret-value", token_url=src.token_url("tenant")),
    )  # fmt: skip
    destination = gm.EWSDestination(
        url=dst.url, profile=destination_profile, impersonation=True,
        auth=gm.BasicAuth("admin@example.org", "admin-password-value"),
    )  # fmt: skip
    return source, destination


def build_route(
    tmp_path, source_profile: str, destination_profile: str, users=("alice",), oversized=False,
    register: Callable[..., None] | None = None,
) -> Iterator[Route]:
    with EWSTestServer(profile=source_profile) as src, EWSTestServer(profile=destination_profile) as dst:
        src.add_oauth_app("tenant", "app", "app-secret-value")
        dst.add_mailbox("admin@example.org", password="admin-password-value")
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        expected = {}
        pairs = []
        for i, user in enumerate(users):
            expected[user] = seed_mailbox(src, user, now, oversized=oversized and i == 0)
            dst.add_mailbox(f"{user}@example.org", password="user-password-value")
            dst.grant_impersonation("admin@example.org", f"{user}@example.org")
            pairs.append(gm.AccountPair(f"{user}@contoso.com", f"{user}@example.org"))
        hashes = {f"{u}@contoso.com": src.content_hash(f"{u}@contoso.com") for u in users}
        if register is not None:
            register(src)
        source, destination = route_endpoints(src, dst, source_profile, destination_profile)
        route = Route(src, dst, source, destination, pairs, expected, str(tmp_path / "migration.db"), hashes, register)
        yield route
        # The source is never modified, whatever the test did.
        assert src.write_operations() == [], src.write_operations()[:5]
        for address, digest in route.hashes.items():
            assert src.content_hash(address) == digest, f"source mailbox {address} changed"


@pytest.fixture
def route(tmp_path, register_source) -> Iterator[Route]:
    yield from build_route(tmp_path, SOURCE_PROFILE, DESTINATION_PROFILE, register=register_source)
