"""Contact fidelity on every EWS route: each field a user sees arrives, or its loss is a
documented rule that the report's log names for that contact.

Contacts are created in the source mailbox through exchangelib (so every field travels the
real EWS path, written as a client writes it), migrated with :class:`groupmigrate.Migrator`,
and read back through exchangelib from the destination, field by field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from exchangelib import DELEGATE, UTC, Account, Configuration, Credentials, FailFast
from exchangelib.attachments import FileAttachment
from exchangelib.ewsdatetime import EWSDate
from exchangelib.indexed_properties import ImAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Mailbox, Member
from exchangelib.protocol import CachingProtocol

import groupmigrate as gm
from groupmigrate.backends.ews.convert import contacts as ews_contacts
from groupmigrate.backends.ews.models import ContactItem, DistListItem, NamedEmailAddress
from groupmigrate.testing import EWSTestServer

#: every pair of EWS profiles the project migrates between
PAIRS = [("exchange-online", "workmail"), ("exchange", "exchange-online"), ("workmail", "exchange"),
         ("generic", "generic")]  # fmt: skip
SOURCE, DESTINATION = "anna@contoso.com", "anna@example.org"
PASSWORD, ADMIN, ADMIN_PASSWORD = "anna-Passw0rd", "admin@example.org", "admin-Passw0rd"
#: a birthday as a real server sends it: 20 fraction digits
RAW_BIRTHDAY = "1969-12-31T11:59:00.18446744073709551600Z"
PHOTO = b"\xff\xd8\xff\xe0JFIF-photo-bytes"

#: what a user sees of a contact, as exchangelib names it
CONTACT_FIELDS = (
    "display_name", "given_name", "middle_name", "surname", "nickname", "initials", "generation", "file_as",
    "company_name", "department", "job_title", "manager", "assistant_name", "spouse_name", "children",
    "profession", "office", "business_homepage", "personal_homepage", "birthday", "wedding_anniversary",
    "email_addresses", "im_addresses", "phone_numbers", "physical_addresses", "postal_address_index", "body",
    "categories", "photo", "attachments",
)  # fmt: skip
LIST_FIELDS = ("display_name", "members", "body", "categories")


def _account(server: EWSTestServer, address: str, password: str) -> Account:
    config = Configuration(service_endpoint=server.url, credentials=Credentials(address, password),
                           auth_type="basic", retry_policy=FailFast())  # fmt: skip
    return Account(address, config=config, access_type=DELEGATE, autodiscover=False, default_timezone=UTC)


def _everything() -> ContactItem:
    phones = [PhoneNumber(label=label, phone_number=f"+49 30 555 {i:04d}") for i, label in enumerate(PhoneNumber.LABEL_CHOICES)]
    return ContactItem(
        display_name="Anna Meier", given_name="Anna", middle_name="Lena", surname="Meier", nickname="Anni",
        initials="A.L.M.", generation="Jr.", file_as="Meier, Anna", company_name="Fabrikam",
        department="Research", job_title="Chemist", manager="Dr. Karl Groß", assistant_name="Bea Vogel",
        spouse_name="Jonas Meier", children=["Mia", "Paul"], profession="Chemistry", office="Building 7, 3.14",
        business_homepage="https://fabrikam.example/anna", personal_homepage="https://anna.example.net/",
        birthday=EWSDate(1969, 12, 31), wedding_anniversary=EWSDate(1995, 6, 17),
        email_addresses=[
            NamedEmailAddress(label="EmailAddress1", email="anna.meier@fabrikam.example", name="Anna Meier (Fabrikam)"),
            NamedEmailAddress(label="EmailAddress2", email="anna@meier.example", name="Anna Meier (Privat)"),
            NamedEmailAddress(label="EmailAddress3", email="a.meier@uni.example"),
        ],
        im_addresses=[ImAddress(label="ImAddress1", im_address="sip:anna@fabrikam.example"),
                      ImAddress(label="ImAddress2", im_address="anna.meier@chat.example")],
        phone_numbers=phones,
        physical_addresses=[
            PhysicalAddress(label="Business", street="Hauptstr. 1", city="Berlin", state="BE", zipcode="10115", country="DE"),
            PhysicalAddress(label="Home", street="Gartenweg 2", city="Potsdam", state="BB", zipcode="14467", country="DE"),
            PhysicalAddress(label="Other", street="Strandallee 3", city="Kiel", zipcode="24105", country="DE"),
        ],
        postal_address_index="Home", body="Met at the Achema fair.", categories=["Kunden", "VIP"],
    )  # fmt: skip


def _seed(server: EWSTestServer) -> None:
    """Create the contacts through exchangelib, as a client does; then make the server send the
    birthday as a real one does (20 fraction digits)."""
    account = _account(server, SOURCE, PASSWORD)
    anna = _everything()
    anna.attachments = [
        FileAttachment(name="ContactPicture.jpg", content=PHOTO, is_contact_photo=True),
        FileAttachment(name="visitenkarte.txt", content=b"Anna Meier, Fabrikam", content_type="text/plain"),
    ]
    company = ContactItem(display_name="", company_name="Contoso Pharma GmbH", business_homepage="https://contoso-pharma.example/")
    team = DistListItem(
        display_name="Labor-Team", body="Everyone in the lab", categories=["Team"],
        members=[Member(mailbox=Mailbox(name="Anna Meier (Privat)", email_address="anna@meier.example")),
                 Member(mailbox=Mailbox(name="Bea Vogel", email_address="bea@fabrikam.example"))],
    )  # fmt: skip
    for item in (anna, company, team):
        item.account, item.folder = account, account.contacts
        item.save()
    CachingProtocol.clear_cache()
    (stored,) = [i for i in server.folder_items(SOURCE, ("contacts",)) if i.element.findtext("{*}Surname") == "Meier"]
    birthday = stored.element.find("{*}Birthday")
    assert birthday is not None
    birthday.text = RAW_BIRTHDAY
    # a contact that names no one has no display name on a real server, only its file-as
    (stored,) = [i for i in server.folder_items(SOURCE, ("contacts",)) if i.element.findtext("{*}CompanyName") == "Contoso Pharma GmbH"]
    shown = stored.element.find("{*}DisplayName")
    if shown is not None:
        stored.element.remove(shown)


def _read(server: EWSTestServer, address: str, password: str) -> dict[str, Any]:
    """Every contact and list of the Contacts folder as exchangelib reads it, by display name."""
    reader = gm.EWSSource(url=server.url, auth=gm.BasicAuth(address, password), profile=server.profile.name, timeout=10)
    mailbox: Any = reader.open_mailbox(address)
    try:
        folder = next(f for f in mailbox.folders() if f.role == "contacts")
        refs = list(mailbox.list_items(folder))
        items: dict[str, Any] = {}
        for model, fields in ((ContactItem, [*ews_contacts.FIELDS, "attachments"]), (DistListItem, ews_contacts.DL_FIELDS)):
            for got in mailbox._get_items([r.id for r in refs], model, fields, body_type="Text"):
                if isinstance(got, model) and not isinstance(got, Exception):
                    items.setdefault(got.display_name or got.file_as, got)
        for item in items.values():
            for attachment in item.attachments or () if isinstance(item, ContactItem) else ():
                attachment._content = None
        files = mailbox._attachments([i for i in items.values() if isinstance(i, ContactItem)], light=False)
        for item in items.values():
            if isinstance(item, ContactItem):
                item.attachments = files.get(item.id, [])
        return items
    finally:
        mailbox.close()


def _value(item: Any, field: str) -> Any:
    """A field's value as a person compares it (lists as sets, texts trimmed, the photo apart)."""
    attachments = list(getattr(item, "attachments", None) or ())
    if field == "photo":
        return next((a.content for a in attachments if a.is_contact_photo), None)
    if field == "attachments":
        return sorted((a.name, a.content) for a in attachments if not a.is_contact_photo)
    value = getattr(item, field)
    if field == "email_addresses":
        return sorted((e.label, e.email, getattr(e, "name", None) or None) for e in value or ())
    if field == "im_addresses":
        return sorted((e.label, e.im_address) for e in value or ())
    if field == "phone_numbers":
        return sorted((p.label, p.phone_number) for p in value or ())
    if field == "physical_addresses":
        return sorted((a.label, a.street, a.city, a.state, a.zipcode, a.country) for a in value or ())
    if field == "members":
        return sorted((m.mailbox.name, m.mailbox.email_address) for m in value or ())
    if field in ("children", "categories"):
        return sorted(value or ())
    if field == "body":
        return str(value or "").strip() or None
    if field == "postal_address_index":
        return None if value in (None, "None") else value
    return value or None


def _logged(report: gm.Report, name: str, field: str) -> bool:
    """Whether the report's log names a change to ``field`` of the contact called ``name``."""
    words = {
        "photo": ("photo",), "attachments": ("photo",), "members": ("distribution list",),
        "display_name": ("distribution list",), "body": ("distribution list",), "categories": ("distribution list",),
    }.get(field, (field.replace("_", " "),))  # fmt: skip
    return any(
        (e.item or "").startswith(name) and any(w in e.message for w in words)
        for account in report.accounts for e in account.log
    )  # fmt: skip


@pytest.fixture
def route(request: pytest.FixtureRequest, register_source: Callable[..., None]) -> Iterator[tuple[EWSTestServer, EWSTestServer]]:
    source_profile, destination_profile = request.param
    with EWSTestServer(profile=source_profile) as src, EWSTestServer(profile=destination_profile) as dst:
        src.add_mailbox(SOURCE, password=PASSWORD)
        src.add_user(ADMIN, ADMIN_PASSWORD)
        src.grant_impersonation(ADMIN, SOURCE)
        dst.add_mailbox(DESTINATION, password=PASSWORD)
        dst.add_user(ADMIN, ADMIN_PASSWORD)
        dst.grant_impersonation(ADMIN, DESTINATION)
        _seed(src)
        register_source(src)
        yield src, dst
    CachingProtocol.clear_cache()


@pytest.mark.parametrize("route", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS], indirect=True)
def test_every_contact_field_arrives_or_its_loss_is_logged(route: tuple[EWSTestServer, EWSTestServer], tmp_path) -> None:
    src, dst = route
    endpoint = {"impersonation": True, "auth": gm.BasicAuth(ADMIN, ADMIN_PASSWORD), "timeout": 10}
    migrator = gm.Migrator(
        gm.EWSSource(url=src.url, profile=src.profile.name, **endpoint),
        gm.EWSDestination(url=dst.url, profile=dst.profile.name, **endpoint),
        state=str(tmp_path / "state.db"), item_types=("contacts",),
    )  # fmt: skip
    report = migrator.run([gm.AccountPair(SOURCE, DESTINATION)])
    assert report.accounts[0].status == "completed", report.accounts[0].error

    before, after = _read(src, SOURCE, PASSWORD), _read(dst, DESTINATION, PASSWORD)
    assert before["Anna Meier"].birthday == dt.date(1969, 12, 31)  # 20 fraction digits read
    assert (before["Contoso Pharma GmbH"].display_name, before["Contoso Pharma GmbH"].file_as) == (None, "Contoso Pharma GmbH")
    populated = kept = 0
    silent: list[str] = []
    for name, original in before.items():
        fields = LIST_FIELDS if isinstance(original, DistListItem) else CONTACT_FIELDS
        copy = after.get(name)
        for field in fields:
            want = _value(original, field)
            if want in (None, [], ""):
                continue
            populated += 1
            got = _value(copy, field) if copy is not None else None
            if got == want:
                kept += 1
            elif not _logged(report, name, field):
                silent.append(f"{name}.{field}: {want!r} arrived as {got!r}")
    print(f"\n{src.profile.name} -> {dst.profile.name}: contact fields kept / populated: {kept} / {populated}")
    assert silent == [], "fields lost without a word:\n  " + "\n  ".join(silent)
    # a contact that names no one arrives under its company, as Outlook files it
    company = after["Contoso Pharma GmbH"]
    assert (company.display_name, company.file_as) == ("Contoso Pharma GmbH", "Contoso Pharma GmbH")
