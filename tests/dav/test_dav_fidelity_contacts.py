"""Field-by-field fidelity of contacts and distribution lists on the trip Exchange Online →
Radicale → Exchange Server (the trip and the comparison: :mod:`.test_dav_fidelity`).

The contact is created through exchangelib with every field a user sees: three e-mail
addresses with display names, five phone numbers of different kinds, two postal addresses
(the home one the mailing address), a photo (a real PNG image), birthday and anniversary,
company, department, title, profession, office, both web pages, notes, categories, IM
addresses, manager, assistant, spouse and children, nickname, initials, file-as and name
suffix; the distribution list has four members with their names. After the trip the photo
must be the contact's photo on Exchange (not a plain attachment), and what other CardDAV
clients read in the stored vCard (its standard properties) must hold the same.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import vobject
from exchangelib.attachments import FileAttachment
from exchangelib.ewsdatetime import EWSDate
from exchangelib.indexed_properties import ImAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Mailbox, Member
from exchangelib.protocol import CachingProtocol

import groupmigrate as gm
from groupmigrate.backends.ews.convert import contacts as ews_contacts
from groupmigrate.backends.ews.models import ContactItem, DistListItem, NamedEmailAddress
from groupmigrate.items import Contact
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.radicale import RadicaleServer

from .test_dav_fidelity import FIRST, HOPS, LAST, PASSWORD, Trip, account, compare, table, take_trip

pytestmark = pytest.mark.timeout(120)

CONTACT, GROUP = "Anna Meier", "Lab team"


def png(width: int = 2, height: int = 2) -> bytes:
    """A small, valid PNG image (red and blue pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00\x00\x00\xff" * (width // 2) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PHOTO = png()
MEMBERS = [("Anna Meier (Privat)", "anna@meier.example"), ("Vogel, Bea", "bea@fabrikam.example"),
           ("Carl Czerny", "carl@fabrikam.example"), ("Dora Dietz", "dora@lab.example")]  # fmt: skip
#: what a user sees of a contact, as exchangelib names it
CONTACT_FIELDS = (
    "display_name", "given_name", "middle_name", "surname", "nickname", "initials", "generation", "file_as",
    "company_name", "department", "job_title", "manager", "assistant_name", "spouse_name", "children",
    "profession", "office", "business_homepage", "personal_homepage", "birthday", "wedding_anniversary",
    "email_addresses", "im_addresses", "phone_numbers", "physical_addresses", "postal_address_index", "body",
    "categories", "has_picture",
)  # fmt: skip


def seed_contacts(server: EWSTestServer) -> None:
    acc = account(server, FIRST)
    anna = ContactItem(
        account=acc, folder=acc.contacts, display_name=CONTACT, given_name="Anna", middle_name="Lena", surname="Meier",
        nickname="Anni", initials="A.L.M.", generation="Jr.", file_as="Meier, Anna", company_name="Müller & Söhne; Partner",
        department="R&D, Europe", job_title="Chemist, senior", manager="Dr. Karl Groß", assistant_name="Bea Vogel",
        spouse_name="Jonas Meier", children=["Mia", "Paul"], profession="Chemistry", office="Building 7, 3.14",
        business_homepage="https://fabrikam.example/anna", personal_homepage="https://anna.example.net/",
        birthday=EWSDate(1969, 12, 31), wedding_anniversary=EWSDate(1995, 6, 17),
        email_addresses=[
            NamedEmailAddress(label="EmailAddress1", email="anna.meier@fabrikam.example", name="Anna Meier (Fabrikam)"),
            NamedEmailAddress(label="EmailAddress2", email="anna@meier.example", name="Anna Meier (Privat)"),
            NamedEmailAddress(label="EmailAddress3", email="a.meier@uni.example", name="Meier, Dr. Anna"),
        ],
        im_addresses=[ImAddress(label="ImAddress1", im_address="sip:anna@fabrikam.example"),
                      ImAddress(label="ImAddress2", im_address="anna.meier@chat.example")],
        phone_numbers=[
            PhoneNumber(label="BusinessPhone", phone_number="+49 30 555 0101"),
            PhoneNumber(label="HomePhone", phone_number="+49 30 555 0102"),
            PhoneNumber(label="MobilePhone", phone_number="+49 170 555 0103"),
            PhoneNumber(label="BusinessFax", phone_number="+49 30 555 0104"),
            PhoneNumber(label="AssistantPhone", phone_number="+49 30 555 0105"),
        ],
        physical_addresses=[
            PhysicalAddress(label="Business", street="Hauptstr. 1\nGebäude B", city="Berlin", state="BE", zipcode="10115",
                            country="DE"),
            PhysicalAddress(label="Home", street="Gartenweg 2", city="Potsdam", state="BB", zipcode="14467", country="DE"),
        ],
        postal_address_index="Home", body="Met at the Achema fair.\n\nLikes tea; coffee, too \\o/",
        categories=["Customers", "VIP"],
    )  # fmt: skip
    anna.attachments = [FileAttachment(name="ContactPicture.jpg", content=PHOTO, is_contact_photo=True)]
    anna.save()
    DistListItem(
        account=acc, folder=acc.contacts, display_name=GROUP, body="Everyone in the lab", categories=["Team"],
        members=[Member(mailbox=Mailbox(name=name, email_address=address)) for name, address in MEMBERS],
    ).save()  # fmt: skip


@pytest.fixture(scope="module")
def trip(radicale: RadicaleServer, tmp_path_factory: pytest.TempPathFactory, register_source: Any) -> Iterator[Trip]:
    with take_trip(radicale, tmp_path_factory.mktemp("trip"), register_source, seed_contacts, ("contacts",)) as taken:
        yield taken


def _exchangelib(server: EWSTestServer, address: str) -> dict[str, Any]:
    """The contact (with its attachments' content) and the list as exchangelib reads them with
    this project's item models (which name the properties exchangelib leaves out), by name."""
    reader = gm.EWSSource(url=server.url, auth=gm.BasicAuth(address, PASSWORD), profile=server.profile.name, timeout=10)
    mailbox: Any = reader.open_mailbox(address)
    try:
        folder = next(f for f in mailbox.folders() if f.role == "contacts")
        ids = [r.id for r in mailbox.list_items(folder)]
        found: dict[str, Any] = {}
        for model, names in ((ContactItem, [*ews_contacts.FIELDS, "has_picture"]), (DistListItem, ews_contacts.DL_FIELDS)):
            for item in mailbox._get_items(ids, model, names, body_type="Text"):
                if isinstance(item, model) and not isinstance(item, Exception):
                    found.setdefault(item.display_name, item)
        files = mailbox._attachments([found[CONTACT]])
        found[CONTACT].attachments = files.get(found[CONTACT].id, [])
        return found
    finally:
        mailbox.close()
        CachingProtocol.clear_cache()


def _value(item: Any, field: str) -> Any:
    """A field's value as a person compares it."""
    value = getattr(item, field)
    if field == "email_addresses":
        return [(e.label, e.email, e.name) for e in sorted(value or (), key=lambda e: e.label)]
    if field == "im_addresses":
        return [(e.label, e.im_address) for e in sorted(value or (), key=lambda e: e.label)]
    if field == "phone_numbers":
        return sorted((p.label, p.phone_number) for p in value or ())
    if field == "physical_addresses":
        return sorted((a.label, a.street, a.city, a.state, a.zipcode, a.country) for a in value or ())
    if field == "body":
        return str(value or "").replace("\r\n", "\n").strip()
    return value


def test_both_hops_complete_with_every_item(trip: Trip) -> None:
    for report in (trip.there, trip.back):
        (account_report,) = report.accounts
        assert account_report.status == "completed", account_report.log
        assert account_report.counts == {"contacts": {"migrated": 2}}
        assert [e for e in account_report.log if e.kind not in ("info",)] == []


def test_neither_source_saw_a_write(trip: Trip) -> None:
    assert trip.first_server.write_operations() == []
    assert trip.radicale.write_operations(trip.user, since=trip.mark) == []


@pytest.mark.parametrize("hop", HOPS)
def test_every_field_arrives(trip: Trip, hop: str) -> None:
    outcome = compare(trip, hop, (CONTACT, GROUP))
    print(f"\n{hop}:\n{table(outcome)}")
    assert outcome.problems == [], "\n".join(outcome.problems)
    assert outcome.lost == []
    contact = trip.hop(hop)[1][CONTACT]
    assert isinstance(contact, Contact)
    assert len(contact.emails) == 3 and len(contact.phones) == 5 and len(contact.addresses) == 2


def test_exchange_shows_the_contact_as_it_was(trip: Trip) -> None:
    """Read through exchangelib, the last mailbox's contact equals the first's in every field,
    and its photo is the contact's photo (flagged, HasPicture), not a plain attachment."""
    first, last = _exchangelib(trip.first_server, FIRST), _exchangelib(trip.last_server, LAST)
    for field in CONTACT_FIELDS:
        assert _value(last[CONTACT], field) == _value(first[CONTACT], field), field
    assert last[CONTACT].has_picture is True
    (photo,) = last[CONTACT].attachments
    assert (photo.is_contact_photo, photo.content) == (True, PHOTO)
    members = [(m.mailbox.name, m.mailbox.email_address) for m in last[GROUP].members]
    assert members == MEMBERS
    assert (_value(last[GROUP], "body"), last[GROUP].categories) == ("Everyone in the lab", ["Team"])


def _card(trip: Trip, name: str) -> Any:
    (data,) = [d for d in trip.stored.values() if f"FN:{name}".encode() in d]
    return vobject.readOne(data.decode("utf-8"))


def _types(line: Any) -> set[str]:
    return {t.upper() for value in line.params.get("TYPE", []) for t in value.split(",")}


def test_the_vcard_as_other_clients_see_it_on_radicale(trip: Trip) -> None:
    card = _card(trip, CONTACT)
    assert card.version.value == "3.0"
    name = card.n.value
    assert (name.family, name.given, name.additional, name.suffix) == ("Meier", "Anna", "Lena", "Jr.")
    assert (card.nickname.value, card.title.value, card.role.value) == ("Anni", "Chemist, senior", "Chemistry")
    assert card.org.value == ["Müller & Söhne; Partner", "R&D, Europe"]
    emails = [(e.value, _types(e)) for e in card.contents["email"]]
    assert [e for e, _ in emails] == ["anna.meier@fabrikam.example", "anna@meier.example", "a.meier@uni.example"]
    assert "PREF" in emails[0][1]
    phones = {t.value: _types(t) - {"VOICE"} for t in card.contents["tel"]}
    assert phones == {"+49 30 555 0101": {"WORK"}, "+49 30 555 0102": {"HOME"}, "+49 170 555 0103": {"CELL"},
                      "+49 30 555 0104": {"WORK", "FAX"}, "+49 30 555 0105": set()}  # fmt: skip
    (assistant,) = [t for t in card.contents["tel"] if t.value == "+49 30 555 0105"]
    (label,) = card.contents["x-ablabel"]  # Apple's custom label, in the number's group
    assert (label.group, label.value) == (assistant.group, "Assistant")
    addresses = {a.value.city: (a.value.street, _types(a)) for a in card.contents["adr"]}
    assert addresses == {"Berlin": ("Hauptstr. 1\nGebäude B", {"WORK"}), "Potsdam": ("Gartenweg 2", {"HOME", "PREF"})}
    assert {u.value: _types(u) for u in card.contents["url"]} == {"https://fabrikam.example/anna": {"WORK"},
                                                                  "https://anna.example.net/": {"HOME"}}  # fmt: skip
    assert (card.bday.value, card.note.value) == ("1969-12-31", "Met at the Achema fair.\n\nLikes tea; coffee, too \\o/")
    assert card.categories.value == ["Customers", "VIP"]
    assert card.impp.value == "sip:anna@fabrikam.example"
    photo = card.photo  # vobject decodes ENCODING=b
    assert (_types(photo), photo.params["ENCODING"], photo.value) == ({"PNG"}, ["b"], PHOTO)
    group = _card(trip, GROUP)
    assert group.contents["x-addressbookserver-kind"][0].value == "group"
    assert [(m.params["X-CN"][0], m.value) for m in group.contents["x-addressbookserver-member"]] == [
        (n, f"mailto:{a}") for n, a in MEMBERS]  # fmt: skip
