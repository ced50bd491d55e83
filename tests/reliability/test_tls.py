"""TLS: a server with a self-signed certificate is refused unless the user opts out.

The EWS test server speaks plain HTTP, so each server here sits behind a TLS-terminating
loopback proxy (``ssl`` + ``socket``) with a freshly generated self-signed certificate; the
token endpoint of the source goes through the same proxy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.errors import ConnectionFailed, GroupmigrateError
from groupmigrate.core.migrator import Migrator

from .support import (
    ADMIN,
    ADMIN_PASSWORD,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    Route,
    TLSProxy,
    differences,
    inventory,
    open_route,
    seed_mails,
    self_signed_certificate,
)


@pytest.fixture
def tls(tmp_path: Any, register_source: Any) -> Iterator[tuple[Route, TLSProxy, TLSProxy]]:
    with open_route(tmp_path, register=register_source) as route:
        pair = route.add_user("alice")
        seed_mails(route.source_server, pair.source, ("Inbox",), range(0, 8), "alice")
        route.register_source()
        cert = self_signed_certificate(tmp_path)
        with TLSProxy(route.source_server.port, *cert) as src_tls, TLSProxy(route.destination_server.port, *cert) as dst_tls:
            yield route, src_tls, dst_tls


def endpoints(src_tls: TLSProxy, dst_tls: TLSProxy, **kwargs: Any) -> tuple[EWSSource, EWSDestination]:
    source = EWSSource(
        url=f"{src_tls.base_url}/EWS/Exchange.asmx", profile="exchange-online",
        auth=OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=f"{src_tls.base_url}/{TENANT}/oauth2/v2.0/token"),
        **kwargs,
    )  # fmt: skip
    destination = EWSDestination(
        url=f"{dst_tls.base_url}/EWS/Exchange.asmx", profile="workmail", auth=BasicAuth(ADMIN, ADMIN_PASSWORD), **kwargs
    )
    return source, destination


def _check(endpoint: Any, address: str) -> GroupmigrateError | None:
    mailbox = endpoint.open_mailbox(address)
    try:
        mailbox.check()
    except GroupmigrateError as error:
        return error
    finally:
        mailbox.close()
    return None


def test_self_signed_server_is_refused_by_default(tls):
    route, src_tls, dst_tls = tls
    source, destination = endpoints(src_tls, dst_tls)  # verify_tls left at its default
    assert source.settings.verify_tls and destination.settings.verify_tls
    route.source_server.clear_operations()
    route.destination_server.clear_operations()
    for endpoint, address in ((source, "alice@contoso.com"), (destination, "alice@example.org")):
        error = _check(endpoint, address)
        assert isinstance(error, ConnectionFailed), f"{endpoint!r}: {error!r}"
        assert "TLS" in str(error), str(error)
        assert endpoint.url.split("/EWS/")[0] in str(error), f"the message does not name the server: {error}"
    # nothing reached either server: the handshake failed before any request
    assert route.source_server.operations == [] and route.destination_server.operations == []
    deadline = time.monotonic() + 5  # the proxy notices the aborted handshake a moment later
    while not (src_tls.handshakes_failed and dst_tls.handshakes_failed) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert src_tls.handshakes_failed >= 1 and dst_tls.handshakes_failed >= 1
    checks = Migrator(source, destination, state=route.state).check([route.add_user("alice")])
    assert [c.ok for c in checks] == [False, False]
    assert all("TLS" in c.message for c in checks), [c.message for c in checks]
    source.close()
    destination.close()


def test_verify_tls_false_is_an_explicit_opt_out_that_works(tls):
    route, src_tls, dst_tls = tls
    source, destination = endpoints(src_tls, dst_tls, verify_tls=False)
    pair = route.add_user("alice")
    migrator = Migrator(source, destination, state=route.state)
    assert all(c.ok for c in migrator.check([pair]))
    report = migrator.run([pair])
    assert report.accounts[0].status == "completed", report.accounts[0].error
    assert report.totals()["migrated"] == 8
    assert differences(inventory(route.source_server, pair.source), inventory(route.destination_server, pair.destination)) == []
    source.close()
    destination.close()
