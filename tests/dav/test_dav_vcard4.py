"""Contacts written as vCard 4.0 into Radicale: the photo is kept as a file of the contact.

Radicale stores what its vCard parser re-serializes, and that parser empties a vCard 4.0
``data:`` URI, so a photo written as one would vanish. With ``vcard_version = "4.0"`` the
``radicale`` profile says it keeps no contact photo: the mapper turns the photo into a file of
the contact and the report says so.
"""

from __future__ import annotations

import base64
from typing import Any

import groupmigrate as gm
from groupmigrate.auth import BasicAuth
from groupmigrate.backends.dav import DavDestination, DavSource
from groupmigrate.backends.memory import MemoryServer, MemorySource
from groupmigrate.items import Contact
from groupmigrate.testing.radicale import RadicaleServer

from .conftest import DavUser

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_a_photo_into_radicale_as_vcard4_arrives_as_a_logged_file(radicale: RadicaleServer, dav_user: DavUser, tmp_path: Any) -> None:
    source = MemoryServer()
    source.add_mailbox("alice@contoso.com")
    source.add_item("alice@contoso.com", ("Contacts",), Contact(display_name="Dana Fischer", emails=("dana@fabrikam.example",), photo=PNG))
    auth = BasicAuth(dav_user.name, dav_user.password)
    destination = DavDestination(radicale.url, profile="radicale", vcard_version="4.0")
    assert destination.capabilities.supports_contact_photo is False
    assert DavDestination(radicale.url, profile="radicale").capabilities.supports_contact_photo is True
    pair = gm.AccountPair("alice@contoso.com", dav_user.name, destination_auth=auth)
    report = gm.Migrator(MemorySource(source), destination, state=str(tmp_path / "s.db")).run([pair])
    account = report.accounts[0]
    assert account.status == "completed" and account.counts["contacts"] == {"migrated": 1}, account.counts
    assert any(e.kind in ("changed", "notice") and "photo" in e.message for e in account.log), [e.message for e in account.log]
    mailbox = DavSource(radicale.url, profile="radicale").open_mailbox(dav_user.name, auth)
    try:
        [folder] = [f for f in mailbox.folders() if f.kind == "contacts"]
        [copy] = list(mailbox.fetch(folder, list(mailbox.list_items(folder))))
    finally:
        mailbox.close()
    assert isinstance(copy, Contact) and copy.display_name == "Dana Fischer"
    assert [a.content for a in copy.attachments] == [PNG], "the photo's bytes did not arrive"
