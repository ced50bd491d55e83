"""What a DAV source had to leave out of an item is named in the report, for that item.

Foreign data holds what the model has no place for: a photo given by URL (never fetched), a
group member the address book does not hold. The converters keep the rest of the item and
say what they left out; the report names it under the item's label.
"""

from __future__ import annotations

from typing import Any

import groupmigrate as gm
from groupmigrate.auth import BasicAuth
from groupmigrate.backends.dav import DavSource
from groupmigrate.backends.memory import MemoryDestination, MemoryServer
from groupmigrate.testing.radicale import RadicaleServer

from .conftest import DavUser

CARD = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:erik-1\r\nFN:Erik Jensen\r\nN:Jensen;Erik;;;\r\n"
        b"EMAIL;TYPE=INTERNET:erik@northwind.example\r\nPHOTO;VALUE=uri:https://photos.northwind.example/erik.jpg\r\n"
        b"END:VCARD\r\n")  # fmt: skip
GROUP = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:team-1\r\nFN:Team\r\nN:Team;;;;\r\nX-ADDRESSBOOKSERVER-KIND:group\r\n"
         b"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:erik-1\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:gone-2\r\nEND:VCARD\r\n")  # fmt: skip


def test_what_reading_left_out_is_named_for_the_item(radicale: RadicaleServer, dav_user: DavUser, tmp_path: Any) -> None:
    book = radicale.make_addressbook(dav_user.name, "contacts", display_name="Contacts")
    radicale.put(dav_user.name, f"{book}erik.vcf", CARD)
    radicale.put(dav_user.name, f"{book}team.vcf", GROUP)
    destination = MemoryServer()
    destination.add_mailbox("alice@example.org")
    pair = gm.AccountPair(dav_user.name, "alice@example.org", source_auth=BasicAuth(dav_user.name, dav_user.password))
    report = gm.Migrator(DavSource(radicale.url, profile="radicale"), MemoryDestination(destination),
                         state=str(tmp_path / "s.db"), item_types=("contacts",)).run([pair])  # fmt: skip
    account = report.accounts[0]
    assert account.status == "completed" and account.counts["contacts"] == {"migrated": 2}, account.counts
    notes = [(e.item, e.message) for e in account.log if e.kind == "changed" and "as read from the source" in e.message]
    assert any(item and "Erik Jensen" in item and "photo" in message.lower() for item, message in notes), notes
    assert any(item and "Team" in item and "gone-2" in message for item, message in notes), notes
    team = next(c for c in destination.items("alice@example.org", ("Contacts",)) if c.display_name == "Team")
    assert team.members == ("erik@northwind.example",)  # the member found is kept, the other named in the report
