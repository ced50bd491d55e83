"""What EWSSource and EWSDestination share: validated settings, capabilities, connections."""

from __future__ import annotations

import logging
import threading
import urllib.parse
from typing import Any

import attrs

from groupmigrate.auth import Auth, BasicAuth, OAuth2ClientCredentials, TokenProvider, redact_url
from groupmigrate.backends.ews.connection import Connection, Settings, autodiscover_url
from groupmigrate.backends.ews.profiles import get_profile
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError

__all__ = ["Endpoint"]

log = logging.getLogger(__name__)


class Endpoint:
    """One EWS server endpoint with its default credentials.

    Args:
        url: the EWS URL (``https://host/EWS/Exchange.asmx``); None to autodiscover it per mailbox
            (Exchange profiles only).
        auth: BasicAuth, OAuth2ClientCredentials or TokenProvider.
        impersonation: open other mailboxes with the ExchangeImpersonation header (True), or
            as a delegate with the endpoint's credentials (False). Per-user credentials
            passed to ``open_mailbox`` always log in as that user.
        profile: ``generic``, ``exchange``, ``exchange-online`` or ``workmail``.
        verify_tls: check the server's TLS certificate (switch off only for a test server).
        max_connections: concurrent HTTP connections to the server (capped by the profile).
        connect_timeout: seconds to wait for a connection to be accepted (default 10).
        read_timeout: seconds to wait for the server's answer to one request (default 60); a
            server that accepts and never answers fails the call after this long.
        timeout: an older name of ``read_timeout``.

    Every call to the server is made once; failures raise classified errors
    (:class:`~groupmigrate.errors.Throttled`, :class:`~groupmigrate.errors.ConnectionFailed`,
    :class:`~groupmigrate.errors.OutcomeUnknown`) and the migrator decides about retries.
    """

    read_only = False

    def __init__(
        self,
        url: str | None = None,
        auth: Auth | None = None,
        *,
        impersonation: bool = True,
        profile: str = "generic",
        verify_tls: bool = True,
        max_connections: int = 4,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        timeout: float | None = None,
    ) -> None:
        if auth is None or not isinstance(auth, (BasicAuth, OAuth2ClientCredentials, TokenProvider)):
            raise ConfigError("give BasicAuth, OAuth2ClientCredentials or TokenProvider", key="auth")
        the_profile = get_profile(profile)
        if url is None and not the_profile.autodiscover:
            raise ConfigError(
                f"the {profile} profile has no autodiscover: give the EWS URL (e.g. https://ews.mail.<region>.awsapps.com/EWS/Exchange.asmx)",
                key="url",
            )
        if url is not None and not url.lower().startswith(("https://", "http://")):
            raise ConfigError("is not an http(s) URL (the value is not shown)", key="url")
        if url is not None:
            parts = urllib.parse.urlsplit(url)
            if parts.username is not None or parts.password is not None or parts.query:
                # Credentials in the URL would end up in every message and repr that names it.
                raise ConfigError(
                    "must not carry a user name, password or query string (the value is not shown); "
                    "give the credentials as auth",
                    key="url",
                )
        if max_connections < 1:
            raise ConfigError("must be at least 1", key="max_connections")
        limit = the_profile.capabilities.max_connections
        if max_connections > limit:
            log.warning("max_connections %d capped at %d for the %s profile", max_connections, limit, profile)
            max_connections = limit
        if timeout is not None:
            read_timeout = timeout
        for key, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not value > 0:
                raise ConfigError("must be a positive number of seconds", key=key)
        self.url = url
        self.settings = Settings(
            url=url,
            auth=auth,
            profile=the_profile,
            impersonation=impersonation,
            verify_tls=verify_tls,
            max_connections=max_connections,
            timeout=read_timeout,
            connect_timeout=connect_timeout,
            read_only=self.read_only,
        )
        self._connections: dict[tuple[str, Any], Connection] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        url = None if self.url is None else redact_url(self.url)
        return f"{type(self).__name__}(url={url!r}, profile={self.settings.profile.name!r})"

    @property
    def capabilities(self) -> Capabilities:
        """What this server supports, from its profile."""
        return attrs.evolve(self.settings.profile.capabilities, max_connections=self.settings.max_connections)

    def _impersonation_for(self, auth: Auth | None) -> bool:
        return self.settings.impersonation and auth is None

    def _connection_for(self, address: str, auth: Auth | None) -> tuple[Connection, bool]:
        """The connection for a mailbox, and whether the mailbox owns it (per-user credentials)."""
        credentials = auth or self.settings.auth
        url = self.url or autodiscover_url(self.settings, address, credentials)
        if auth is not None:
            return Connection(self.settings, auth, url), True
        with self._lock:
            key = (url, None)
            connection = self._connections.get(key)
            if connection is None:
                connection = self._connections[key] = Connection(self.settings, credentials, url)
            return connection, False

    def close(self) -> None:
        """Close every connection of this endpoint."""
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
