"""The EWS contact converter: every neutral field has its EWS home, both ways."""

from __future__ import annotations

import datetime as dt

from exchangelib.util import TNS, xml_to_str
from lxml import etree
from exchangelib.version import Build, Version

from groupmigrate.backends.ews.convert import contacts
from groupmigrate.backends.ews.models import ContactItem
from groupmigrate.items import Contact, Phone, PostalAddress

VERSION = Version(Build(14, 2), "Exchange2010_SP2")


def _read(xml: str) -> ContactItem:
    """A ContactItem parsed from the ``t:Contact`` element a server would send."""
    return ContactItem.from_xml(etree.fromstring(f'<t:Contact xmlns:t="{TNS}">{xml}</t:Contact>'), account=None)


def test_every_field_round_trips() -> None:
    contact = Contact(
        display_name="Anna Meier", given_name="Anna", surname="Meier", nickname="Anni", initials="A.M.",
        generation="Jr.", file_as="Meier, Anna", manager="Karl", assistant_name="Bea", spouse_name="Jonas",
        children=("Mia", "Paul"), profession="Chemistry", office_location="B7", company="Fabrikam",
        personal_homepage="https://anna.example.net/", websites=("https://fabrikam.example/anna",),
        emails=("anna@fabrikam.example", "anna@meier.example"), email_names=("", "Anna Meier (Privat)"),
        im_addresses=("sip:anna@fabrikam.example",), wedding_anniversary=dt.date(1995, 6, 17),
        birthday=dt.date(1969, 12, 31),
        phones=tuple(Phone(label, f"+49 {i}") for i, label in enumerate(contacts._PHONES)),
        addresses=(PostalAddress("business", "Hauptstr. 1", "Berlin"), PostalAddress("home", "Weg 2", "Potsdam", mailing=True)),
    )  # fmt: skip
    item, warnings = contacts.to_ews(contact)
    assert warnings == []
    sent = xml_to_str(item.to_xml(version=VERSION))  # read back as a server would answer it
    assert 'Name="Anna Meier (Privat)"' in sent and "<t:PostalAddressIndex>Home<" in sent
    back = contacts.to_neutral(ContactItem.from_xml(etree.fromstring(sent), account=None), "id-1", attachments=[])
    assert back == contact


def test_a_birthday_with_twenty_fraction_digits_is_read() -> None:
    item = _read("<t:Birthday>1969-12-31T11:59:00.18446744073709551600Z</t:Birthday>"
                 "<t:WeddingAnniversary>1995-06-17T11:59:00.1234567Z</t:WeddingAnniversary>")  # fmt: skip
    back = contacts.to_neutral(item, "id-1", attachments=[])
    assert (back.birthday, back.wedding_anniversary) == (dt.date(1969, 12, 31), dt.date(1995, 6, 17))


def test_a_contact_naming_no_one_is_shown_and_filed_under_its_company() -> None:
    item, _ = contacts.to_ews(Contact(company="Contoso Pharma GmbH"))
    assert (item.display_name, item.file_as) == ("Contoso Pharma GmbH", "Contoso Pharma GmbH")
    named, _ = contacts.to_ews(Contact(given_name="Anna", company="Fabrikam"))
    assert (named.display_name, named.file_as) == ("Anna", None)  # the server files it by name
    assert contacts.to_ews(Contact(file_as="Meier, Anna"))[0].display_name == "Meier, Anna"
