"""What DavSource and DavDestination share: checked settings, capabilities, credentials, and
the mailbox plumbing (its HTTP session, homes, folders and resource listings)."""

from __future__ import annotations

import logging
import threading
import urllib.parse
from pathlib import Path

import attrs

from groupmigrate.auth import Auth, BasicAuth, Credentials, OAuth2ClientCredentials, TokenProvider
from groupmigrate.backends.dav.client import DavClient, login_name
from groupmigrate.backends.dav.discovery import Collection, Homes, check_homes, discover, list_collections
from groupmigrate.backends.dav.errors import where
from groupmigrate.backends.dav.folders import Place, layout, split_folder_id
from groupmigrate.backends.dav.listing import Members, members
from groupmigrate.backends.dav.profiles import PROFILES
from groupmigrate.backends.dav.settings import MAX_CONNECTIONS, VCARD_VERSIONS, is_loopback, principal_template_problem
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import AccessDenied, ConfigError
from groupmigrate.items import Folder
from groupmigrate.oauth import TokenSource, token_source

__all__ = ["DavEndpoint", "MailboxBase"]

log = logging.getLogger("groupmigrate.dav")

_ACCEPTED = (BasicAuth, OAuth2ClientCredentials, TokenProvider)
_ACCEPTED_TEXT = "basic credentials, OAuth 2.0 client credentials or a token provider"


class DavEndpoint:
    """A CalDAV/CardDAV server: where it is, how to log in, and what its profile says it keeps.

    Args:
        url: the server's DAV root (``https://dav.example.org/``); plain ``http://`` only for
            a server on this machine (loopback).
        auth: the endpoint's credentials (:class:`~groupmigrate.auth.BasicAuth`,
            :class:`~groupmigrate.auth.OAuth2ClientCredentials` or a
            :class:`~groupmigrate.auth.TokenProvider`); None when every account brings its own.
        profile: ``"radicale"`` or ``"generic"``.
        principal_url: where each mailbox's principal is (``"/{user}/"``; fields ``{user}``,
            ``{local_part}``, ``{domain}``), so that the endpoint's credentials open every
            user's mailbox. Without it, the endpoint's credentials open only their own user's
            mailbox, found by discovery.
        verify_tls, ca_file: certificate checking (``ca_file``: PEM file of the CAs to trust).
        vcard_version: ``"3.0"`` or ``"4.0"``: the version contacts are written in.
        max_connections: concurrent requests per mailbox at most.
        max_item_bytes: the largest resource the server accepts, when known (else the profile's).
        sync: ``"auto"`` (sync-collection where offered, else ETags) or ``"etag"`` (always ETags).
        connect_timeout, read_timeout: seconds.
    """

    read_only = False

    def __init__(
        self,
        url: str,
        auth: Auth | None = None,
        profile: str = "generic",
        *,
        principal_url: str | None = None,
        verify_tls: bool = True,
        ca_file: str | Path | None = None,
        vcard_version: str = "3.0",
        max_connections: int = 4,
        max_item_bytes: int | None = None,
        sync: str = "auto",
        connect_timeout: float = 10,
        read_timeout: float = 60,
    ) -> None:
        parts = urllib.parse.urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"must be an http:// or https:// URL, not {where(url or '')!r}", key="url")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError(f"plain http sends passwords and tokens in clear text: it is accepted only for a server on this "
                              f"machine (loopback), not {parts.hostname!r}; use https://", key="url")  # fmt: skip
        if parts.username or parts.password:
            raise ConfigError("must not hold credentials; give them as auth", key="url")
        if profile not in PROFILES:
            raise ConfigError(f"must be one of {', '.join(repr(p) for p in PROFILES)}, not {profile!r}", key="profile")
        if auth is not None and not isinstance(auth, _ACCEPTED):
            raise ConfigError(f"the DAV backend takes {_ACCEPTED_TEXT}, not {type(auth).__name__}", key="auth")
        if principal_url is not None and (problem := principal_template_problem(principal_url)):
            raise ConfigError(problem, key="principal_url")
        if vcard_version not in VCARD_VERSIONS:
            raise ConfigError(f"must be one of {', '.join(repr(v) for v in VCARD_VERSIONS)}, not {vcard_version!r}", key="vcard_version")
        if sync not in ("auto", "etag"):
            raise ConfigError(f"must be \"auto\" or \"etag\", not {sync!r}", key="sync")
        if not 1 <= max_connections <= MAX_CONNECTIONS:
            raise ConfigError(f"must be an integer between 1 and {MAX_CONNECTIONS}", key="max_connections")
        for key, seconds in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not seconds > 0:
                raise ConfigError("must be a positive number of seconds", key=key)
        if max_item_bytes is not None and max_item_bytes < 1:
            raise ConfigError("must be a positive number of bytes", key="max_item_bytes")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"{ca_file} is not a file", key="ca_file")
        self.url = url if parts.path else url + "/"
        self.auth = auth
        self.profile = profile
        self.principal_url = principal_url
        self.verify_tls = verify_tls
        self.ca_file = str(ca_file) if ca_file is not None else None
        self.vcard_version = vcard_version
        self.max_connections = max_connections
        self.max_item_bytes = max_item_bytes
        self.sync = sync
        self.timeouts = (float(connect_timeout), float(read_timeout))
        self._tokens: dict[int, tuple[Credentials, TokenSource]] = {}
        self._principals: dict[str, str] = {}  # principal href → the address opened on it
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={where(self.url)!r}, profile={self.profile!r}, login={login_name(self.auth)!r})"

    @property
    def capabilities(self) -> Capabilities:
        """What this server keeps, from its profile (connections and item size from the options)."""
        caps = attrs.evolve(PROFILES[self.profile], max_connections=self.max_connections)
        if self.max_item_bytes is not None:
            caps = attrs.evolve(caps, max_item_size=self.max_item_bytes)
        if self.profile == "radicale" and self.vcard_version == "4.0":
            # Radicale stores what its vCard parser re-serializes, and that parser empties a
            # vCard 4.0 data: URI: the photo is written as a file of the contact instead (logged)
            caps = attrs.evolve(caps, supports_contact_photo=False)
        return caps

    def client(self, address: str, auth: Auth | None) -> DavClient:
        """The HTTP session of mailbox ``address``."""
        if not address or not isinstance(address, str):
            raise ConfigError("a mailbox address is required", key="address")
        credentials = auth if auth is not None else self.auth
        if credentials is None:
            raise ConfigError(f"{address}: no credentials: give the endpoint's auth or the account's own", key="auth")
        if not isinstance(credentials, _ACCEPTED):
            raise ConfigError(f"the DAV backend takes {_ACCEPTED_TEXT}, not {type(credentials).__name__}", key="auth")
        if auth is None and self.principal_url is None:
            own = isinstance(credentials, BasicAuth) and credentials.username.casefold() in (
                address.casefold(), address.partition("@")[0].casefold())
            if not own:
                raise ConfigError(
                    f"{address}: the endpoint's credentials ({login_name(credentials)}) are not this mailbox's own; "
                    "give principal_url (e.g. \"/{user}/\") to open other users' mailboxes with them, or the "
                    "account's own credentials",
                    key="principal_url",
                )
        tokens = None
        if isinstance(credentials, (OAuth2ClientCredentials, TokenProvider)):
            with self._lock:
                cached = self._tokens.get(id(credentials))
                if cached is None:
                    source = token_source(credentials, verify_tls=self.verify_tls, timeout=self.timeouts)
                    cached = self._tokens[id(credentials)] = (credentials, source)
                tokens = cached[1]
        return DavClient(
            self.url, credentials, mailbox=address, tokens=tokens, verify_tls=self.verify_tls, ca_file=self.ca_file,
            connect_timeout=self.timeouts[0], read_timeout=self.timeouts[1], max_connections=self.max_connections,
            read_only=self.read_only,
        )  # fmt: skip

    def claim(self, principal: str, address: str) -> None:
        """Refuse to open two mailboxes on one principal (their items would be merged)."""
        with self._lock:
            holder = self._principals.setdefault(principal, address)
        if holder.casefold() != address.casefold():
            raise AccessDenied(
                f"{address}: the credentials lead to principal {principal}, which {holder} was opened on already; "
                "two accounts would share one calendar home (check the accounts' credentials or principal_url)"
            )


class MailboxBase:
    """One mailbox: its session, homes and folders."""

    def __init__(self, endpoint: DavEndpoint, address: str, auth: Auth | None) -> None:
        self.address = address
        self.endpoint = endpoint
        self.client = endpoint.client(address, auth)
        self._homes: Homes | None = None
        self._places: list[Place] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r} on {self.client.server})"

    def homes(self) -> Homes:
        with self._lock:
            if self._homes is not None:
                return self._homes
        homes = discover(self.client, self.address, self.endpoint.principal_url)
        self.endpoint.claim(homes.principal, self.address)
        with self._lock:
            self._homes = homes
        return homes

    def check(self) -> None:
        """Find the mailbox and read its homes: raises what stops it from being used."""
        check_homes(self.client, self.homes())

    # -- folders --------------------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        return list_collections(self.client, self.homes())

    def _holds(self, collection: Collection, component: str) -> bool:
        """Whether a secondary component gets a folder (a source: when it holds items of it)."""
        return bool(members(self.client, collection, component, ()))

    def places(self, *, fresh: bool = False) -> list[Place]:
        with self._lock:
            if self._places is not None and not fresh:
                return self._places
        places = layout(self.collections(), self._holds)
        with self._lock:
            self._places = places
        return places

    def folders(self) -> list[Folder]:
        return [p.folder for p in self.places(fresh=True)]

    def place(self, folder: Folder) -> Place | None:
        """Where ``folder``'s items are (by its id, else by path); None when it is gone."""
        for fresh in (False, True):
            places = self.places(fresh=fresh)
            if folder.folder_id:
                href, component = split_folder_id(folder.folder_id)
                for place in places:
                    if place.collection.href == href and place.component == component:
                        return place
                collection = next((p.collection for p in places if p.collection.href == href), None)
                if collection is not None and component in collection.components:
                    # a secondary folder that holds nothing yet: still its place
                    return Place(folder, collection, component)
            for place in places:
                if place.folder.path == folder.path and place.folder.kind == folder.kind:
                    return place
        return None

    # -- resources ------------------------------------------------------------------------------
    def members(self, place: Place) -> Members:
        """The resources of ``place`` with their ETags, sizes and times, by href."""
        return members(self.client, place.collection, place.component, place.excluded)

    def close(self) -> None:
        self.client.close()

