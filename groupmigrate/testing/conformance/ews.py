"""The conformance harness of the EWS backend, over two :class:`~groupmigrate.testing.EWSTestServer`.

The destination server is configured with a small item size limit (and, where its profile
has one, a small attachment limit), and the destination endpoint states those limits in its
capabilities, so that the limit tests sample kilobytes rather than the production megabytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Folder, Item, ItemType
from groupmigrate.testing.ews import EWSTestServer

__all__ = ["EWSHarness"]

_SERVICE, _PASSWORD = "svc@contoso.com", "s3rvice-Pa55"
_TENANT, _CLIENT, _SECRET = "tenant-1", "client-1", "cl1ent-Secr3t-value"
#: the limits the destination server enforces and its endpoint states during the suite
ITEM_LIMIT, ATTACHMENT_LIMIT = 256 * 1024, 160 * 1024


class _StatedDestination(EWSDestination):
    """An EWS destination whose capabilities state the test server's configured limits."""

    def __init__(self, *args: Any, limits: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits

    @property
    def capabilities(self) -> Capabilities:
        return attrs.evolve(super().capabilities, **self._limits)


def _server(profile: str, address: str) -> EWSTestServer:
    server = EWSTestServer(profile=profile)
    server.add_user(_SERVICE, _PASSWORD)
    server.add_oauth_app(_TENANT, _CLIENT, _SECRET)
    server.add_mailbox(address)
    server.grant_impersonation(_SERVICE, address)
    return server


def _endpoint(server: EWSTestServer, oauth: bool) -> dict[str, Any]:
    auth: Any = (
        OAuth2ClientCredentials(_TENANT, _CLIENT, _SECRET, token_url=server.token_url(_TENANT))
        if oauth
        else BasicAuth(_SERVICE, _PASSWORD)
    )
    return {"url": server.url, "auth": auth, "impersonation": True, "profile": server.profile.name, "timeout": 10}


class EWSHarness:
    """A source and a destination EWS test server with one mailbox each (see :meth:`serve`)."""

    source_address = "alice@contoso.com"
    destination_address = "alice@example.org"

    def __init__(self, source_server: EWSTestServer, destination_server: EWSTestServer, oauth: bool = False) -> None:
        self.source_server, self.destination_server = source_server, destination_server
        destination_server.knobs.max_item_size = ITEM_LIMIT
        profile_caps = EWSDestination(**_endpoint(destination_server, False)).capabilities
        limits: dict[str, Any] = {"max_item_size": ITEM_LIMIT}
        if profile_caps.max_attachment_size is not None:
            limits["max_attachment_size"] = ATTACHMENT_LIMIT
        self.source_endpoint = EWSSource(**_endpoint(source_server, oauth))
        self.destination_endpoint = _StatedDestination(**_endpoint(destination_server, False), limits=limits)
        self._readback = EWSSource(**_endpoint(destination_server, False))

    @classmethod
    @contextlib.contextmanager
    def serve(cls, source_profile: str, destination_profile: str, *, oauth: bool = False) -> Iterator[EWSHarness]:
        """Start both servers (the source one reached with OAuth when ``oauth``); stop them after."""
        source = _server(source_profile, cls.source_address)
        try:
            destination = _server(destination_profile, cls.destination_address)
            try:
                yield cls(source, destination, oauth)
            finally:
                destination.stop()
        finally:
            source.stop()

    def seed(self, address: str, folder_path: tuple[str, ...], items: Sequence[Item], kind: ItemType | None = None) -> None:
        self.source_server.seed_folder(address, folder_path, kind=kind or (items[0].item_type if items else "mail"))
        for item in items:
            self.source_server.seed_item(address, item, folder=folder_path)

    def read_back(self, address: str, folder: Folder) -> list[Item]:
        mailbox = self._readback.open_mailbox(address)
        found = next((f for f in mailbox.folders() if f.path == folder.path), None)
        assert found is not None, f"no folder {folder} on the destination server"
        return list(mailbox.fetch(found, list(mailbox.list_items(found))))

    def source_writes(self) -> list[Any]:
        return self.source_server.write_operations(self.source_address)

    def lose_next_write(self) -> None:
        """The destination server carries out the next write and then resets the connection."""
        self.destination_server.knobs.lose_answers = 1

    def delete(self, address: str, folder_path: tuple[str, ...], item_id: str) -> None:
        server = self.source_server if address == self.source_address else self.destination_server
        (stored,) = [i for i in server.folder_items(address, folder_path) if i.item_id == item_id]
        server.store.delete_item(stored)
