"""Profiles are data: capabilities, version pin, page size."""

from __future__ import annotations

import pytest

from groupmigrate.backends.ews import PROFILES, EWSDestination, EWSSource
from groupmigrate.errors import ConfigError

from .servers import endpoint_kwargs, served

MB = 1024 * 1024


def test_workmail_profile() -> None:
    caps = PROFILES["workmail"].capabilities
    assert (caps.max_attachment_size, caps.max_item_size) == (23 * MB, 25 * MB)
    assert not (caps.supports_contact_photo or caps.supports_distribution_lists or caps.preserves_organizer)
    assert not caps.preserves_attendee_status and caps.rejects_invalid_urls and caps.rejects_x500_addresses
    # connection facts are the EWS profile's, not capabilities
    assert PROFILES["workmail"].pinned_version == "Exchange2010_SP2" and not PROFILES["workmail"].autodiscover
    assert not hasattr(caps, "pinned_version")


def test_exchange_online_profile() -> None:
    profile = PROFILES["exchange-online"]
    assert profile.capabilities.max_connections == 27 and profile.capabilities.supports_sync_state
    assert profile.page_size == 1000
    source = EWSSource(url="https://outlook.office365.com/EWS/Exchange.asmx", auth=endpoint_kwargs_auth(), profile="exchange-online", max_connections=40)
    assert source.capabilities.max_connections == 27


def endpoint_kwargs_auth():  # type: ignore[no-untyped-def]
    from groupmigrate.auth import BasicAuth

    return BasicAuth("a@b.c", "pw")


def test_pinned_version_is_accepted_without_probing() -> None:
    with served("workmail", "alice@example.org") as server:
        EWSDestination(**endpoint_kwargs(server)).open_mailbox("alice@example.org").check()
        assert "ConvertId" not in [op.operation for op in server.operations]
    with served("workmail", "alice@example.org") as server:
        # without the pin, exchangelib offers its newest version first and must step down
        EWSDestination(**endpoint_kwargs(server, profile="generic")).open_mailbox("alice@example.org").check()
        assert [op.operation for op in server.operations].count("ConvertId") >= 1


def test_autodiscover_is_refused_where_it_does_not_exist() -> None:
    with pytest.raises(ConfigError, match="autodiscover"):
        EWSSource(url=None, auth=endpoint_kwargs_auth(), profile="workmail")


def test_no_profile_claims_to_keep_the_organizer() -> None:
    # CreateItem cannot set Organizer: the copy's organizer is the mailbox owner (checked on the server).
    assert not any(p.capabilities.preserves_organizer for p in PROFILES.values())


def test_tls_verification_is_per_connection() -> None:
    import requests.adapters
    from exchangelib.protocol import NoVerifyHTTPAdapter

    from groupmigrate.backends.ews.connection import Connection

    url = "https://ews.example.org/EWS/Exchange.asmx"
    checked = EWSSource(url=url, auth=endpoint_kwargs_auth())
    unchecked = EWSSource(url=url, auth=endpoint_kwargs_auth(), verify_tls=False)
    adapters = []
    for source in (checked, unchecked):
        connection = Connection(source.settings, source.settings.auth, url)
        adapters.append(connection.protocol.create_session().get_adapter(url))
        connection.close()
    assert type(adapters[0]) is requests.adapters.HTTPAdapter
    assert isinstance(adapters[1], NoVerifyHTTPAdapter)
    assert requests.Session().verify is True  # nothing global was switched off


def test_autodiscover_shortcuts() -> None:
    from groupmigrate.auth import OAuth2ClientCredentials
    from groupmigrate.backends.ews.connection import autodiscover_url

    source = EWSSource(url=None, auth=OAuth2ClientCredentials("t", "c", "s"), profile="exchange-online")
    assert autodiscover_url(source.settings, "a@contoso.com", source.settings.auth) == "https://outlook.office365.com/EWS/Exchange.asmx"
    exchange = EWSSource(url=None, auth=OAuth2ClientCredentials("t", "c", "s"), profile="exchange")
    with pytest.raises(ConfigError, match="BasicAuth"):
        autodiscover_url(exchange.settings, "a@contoso.com", exchange.settings.auth)
