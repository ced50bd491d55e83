"""The EWS backend as the core sees it: options, credentials, profiles and factories.

Registered as ``ews`` in the ``groupmigrate.backends`` entry-point group. Importing this
module does not import exchangelib; the factories do.
"""

from __future__ import annotations

from typing import Any

from groupmigrate.auth import Credentials, OAuth2ClientCredentials
from groupmigrate.backends.ews.profiles import PROFILES
from groupmigrate.errors import ConfigError
from groupmigrate.plugins import Backend, Option, Settings
from groupmigrate.protocols import Destination, Source

__all__ = ["BACKEND"]

#: Exchange Online's EWSMaxConcurrency: more parallel connections are refused.
_EXCHANGE_ONLINE_MAX_CONNECTIONS = 27
_MAX_CONNECTIONS = 64

OPTIONS = (
    Option("url", "url", "the EWS URL (…/EWS/Exchange.asmx); left out: autodiscover (Exchange profiles only)"),
    Option("impersonation", "bool", "open each mailbox by impersonation with the endpoint's credentials "
           "(default: true when [auth] is given)"),  # fmt: skip
    Option("verify_tls", "bool", "check the server's TLS certificate", default=True),
    Option("max_connections", "int", "parallel connections to this server at most", default=4, low=1, high=_MAX_CONNECTIONS),
    Option("connect_timeout", "int", "seconds to wait for the server to accept a connection", default=10, low=1, high=600),
    Option("read_timeout", "int", "seconds to wait for the answer to one request", default=60, low=1, high=3600),
)


def _prepare(options: dict[str, Any], profile: str, auth: Credentials | None) -> dict[str, Any]:
    the_profile = PROFILES[profile]
    if options["url"] is None and not the_profile.autodiscover:
        raise ConfigError(f"is required for profile {profile!r} (it has no autodiscover)", key="url")
    if profile == "workmail" and auth is not None and auth.kind != "basic":
        raise ConfigError("profile 'workmail' accepts only type = \"basic\"", key="auth.type")
    impersonation = options["impersonation"]
    if impersonation is None:
        impersonation = auth is not None
    if impersonation and auth is None:
        raise ConfigError(
            "needs admin credentials in the [auth] table; without them every account brings its own "
            "credentials in the accounts file (impersonation = false)",
            key="impersonation",
        )
    if isinstance(auth, OAuth2ClientCredentials) and not impersonation:
        # App-only tokens act for no user: EWS opens a mailbox with them only by impersonation.
        raise ConfigError('app-only OAuth (type = "oauth2") needs impersonation = true', key="impersonation")
    limit = _EXCHANGE_ONLINE_MAX_CONNECTIONS if profile == "exchange-online" else _MAX_CONNECTIONS
    if options["max_connections"] > limit:
        raise ConfigError(f"must be an integer between 1 and {limit}", key="max_connections")
    return {**options, "impersonation": impersonation}


def _arguments(settings: Settings) -> dict[str, Any]:
    return {"auth": settings.auth, "profile": settings.profile, **settings.options}


def _source(settings: Settings) -> Source:
    from groupmigrate.backends.ews.source import EWSSource

    return EWSSource(**_arguments(settings))


def _destination(settings: Settings) -> Destination:
    from groupmigrate.backends.ews.destination import EWSDestination

    return EWSDestination(**_arguments(settings))


BACKEND = Backend(
    name="ews",
    summary="Exchange Web Services (Exchange Server, Exchange Online, Amazon WorkMail) through exchangelib",
    options=OPTIONS,
    profiles={name: profile.capabilities for name, profile in PROFILES.items()},
    default_profile="generic",
    credentials=("basic", "oauth2", "token"),
    source=_source,
    destination=_destination,
    prepare=_prepare,
)
