"""The vCard converter of the DAV backend: contacts and lists, vCard 3.0 and 4.0, both ways.

Every card written is also parsed with ``vobject.readOne`` (what Radicale validates with),
and 3.0 cards are put through vobject's re-serialisation (what Radicale stores).
"""

from __future__ import annotations

import base64
import datetime as dt
import struct
import zlib
from typing import Any

import attrs
import pytest
import vobject

from groupmigrate.backends.dav.vcard import (
    STAMP_PROPERTY,
    YEARLESS,
    VCardError,
    contact_to_vcard,
    vcard_is_group,
    vcard_member_refs,
    vcard_stamp,
    vcard_to_contact,
    vcard_to_contact_with_warnings,
    vcard_uid,
)
from groupmigrate.items import Attachment, Contact, Phone, PostalAddress
from groupmigrate.testing.conformance.compare import differences

VERSIONS = ("3.0", "4.0")
STAMP = "0123456789abcdef0123456789abcdef"
PHONE_LABELS = (
    "business", "business2", "home", "home2", "mobile", "business_fax", "home_fax", "other_fax", "pager", "car",
    "other", "primary", "assistant", "company", "callback", "isdn", "radio", "telex", "tty",
)  # fmt: skip


def _png() -> bytes:
    """A real 2x2 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"\x00\xff\x00\x00\x00\xff\x00" + b"\x00\x00\x00\xff\xff\xff\xff"
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _jpeg() -> bytes:
    """A real 8x8 mid-grey baseline JPEG: one block, DC difference 0, end of block."""

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    one_code = bytes([1] + [0] * 15)  # a single Huffman code of length 1
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
        + segment(0xC4, b"\x00" + one_code + b"\x00")
        + segment(0xC4, b"\x10" + one_code + b"\x00")
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"  # DC category 0 ("0"), end of block ("0"), padded with ones
        + b"\xff\xd9"
    )


PNG = _png()
JPEG = _jpeg()

FULL = Contact(
    display_name="Dr. Anna Meier, PhD",
    given_name="Anna",
    middle_name="Maria",
    surname="Meier-Schulz",
    generation="Jr.",
    nickname="Anni",
    emails=("anna@fabrikam.example", "anna@meier.example", "a.meier@uni.example"),
    email_names=("Anna Meier (Fabrikam)", 'Anna "Privat"; Meier', "Meier, Anna ^ Uni"),
    phones=(
        Phone("business", "+49 30 5550100"),
        Phone("mobile", "+49 170 5550101"),
        Phone("home_fax", "+49 30 5550102"),
        Phone("pager", "5550103"),
        Phone("assistant", "+49 30 5550104"),
    ),
    addresses=(
        PostalAddress("business", "Hauptstraße 1\nAufgang B, 3. OG", "Berlin", "Berlin", "10115", "Deutschland"),
        PostalAddress("home", "Weg; 2", "Potsdam", None, "14467", "Deutschland", mailing=True),
    ),
    company="Fabrikam, Inc.",
    department="Forschung; Labor 5",
    job_title="Laborleiterin",
    profession="Chemikerin",
    birthday=dt.date(1969, 12, 31),
    websites=("https://fabrikam.example/anna", "https://fabrikam.example/team"),
    notes="Erste Zeile\nZweite Zeile, mit Komma; Semikolon und \\Backslash.\nÄÖÜ ß 日本語",
    photo=PNG,
    categories=("Kunden", "Freunde, enge", "VIP"),
    attachments=(Attachment("Lebenslauf, 2024 \"final\".pdf", b"%PDF-1.4 tiny", "application/pdf"),),
    initials="A.M.M.",
    file_as="Meier-Schulz, Anna",
    manager="Karl Chef",
    assistant_name="Bea Hilfreich",
    spouse_name="Jonas Meier",
    children=("Mia", "Paul, der Jüngere"),
    office_location="Haus B, Raum 7",
    personal_homepage="https://anna.example/",
    im_addresses=("sip:anna@fabrikam.example", "xmpp:anna@jabber.example", "anna.meier"),
    wedding_anniversary=dt.date(1995, 6, 17),
)

GROUP = Contact(
    display_name="Projektteam Nord",
    is_distribution_list=True,
    members=("anna@fabrikam.example", "bob@contoso.example", "carla+list@example.org", "dieter@example.net"),
    member_names=("Anna Meier", "", "Carla, die Dritte", "Dieter \"DD\" Dorn"),
    notes="Alle aus dem Projekt",
    categories=("Projekte",),
)


def _unfolded(card: bytes) -> list[str]:
    return card.decode("utf-8").replace("\r\n ", "").split("\r\n")[:-1]


def _write(contact: Contact, **kwargs: Any) -> bytes:
    """contact_to_vcard, checked the way every output must hold."""
    kwargs.setdefault("uid", "uid-1")
    card = contact_to_vcard(contact, **kwargs)
    text = card.decode("utf-8")
    assert text.startswith("BEGIN:VCARD\r\nVERSION:") and text.endswith("END:VCARD\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert all(len(line.encode("utf-8")) <= 75 for line in text.split("\r\n"))
    parsed = vobject.readOne(text)  # what Radicale parses with
    parsed.validate(raiseException=True)
    assert parsed.uid.value == kwargs["uid"]
    return card


def _through_vobject(card: bytes) -> bytes:
    """What Radicale stores of ``card``: vobject's re-serialisation of it."""
    return bytes(vobject.readOne(card.decode("utf-8"), allowQP=True).serialize().encode("utf-8"))


def _read(card: bytes | str, **kwargs: Any) -> tuple[Contact, list[str]]:
    data = card.encode("utf-8") if isinstance(card, str) else card
    return vcard_to_contact_with_warnings(data, source_id="href-1", **kwargs)


def _card(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


# -- round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_every_field_round_trips(version: str) -> None:
    card = _write(FULL, uid="anna-1", version=version, stamp=STAMP)
    back, warnings = _read(card)
    assert warnings == []
    assert differences(FULL, back) == []
    assert back == FULL  # every field, file_as and the attachment's type too
    assert back.source_id == "href-1"
    assert (vcard_uid(card), vcard_stamp(card), vcard_is_group(card)) == ("anna-1", STAMP, False)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("order", ["as listed", "reversed"])
def test_every_phone_label_round_trips(version: str, order: str) -> None:
    labels = PHONE_LABELS if order == "as listed" else tuple(reversed(PHONE_LABELS))
    contact = Contact(display_name="Phones", phones=tuple(Phone(label, f"+49 {i}") for i, label in enumerate(labels)))
    back, warnings = _read(_write(contact, version=version))
    assert (back.phones, warnings) == (contact.phones, [])


@pytest.mark.parametrize("version", VERSIONS)
def test_phone_types_are_the_standard_ones(version: str) -> None:
    contact = Contact(display_name="P", phones=(Phone("mobile", "1"), Phone("business_fax", "2"), Phone("car", "3"),
                                                Phone("primary", "4"), Phone("tty", "5")))  # fmt: skip
    lines = _unfolded(_write(contact, version=version))
    if version == "3.0":
        assert {"TEL;TYPE=CELL,VOICE:1", "TEL;TYPE=WORK,FAX:2", "TEL;TYPE=CAR,VOICE:3", "TEL;TYPE=VOICE,PREF:4"} <= set(lines)
        assert "item1.TEL:5" in lines and "item1.X-ABLabel:TTY/TDD" in lines
    else:
        assert {"TEL;TYPE=cell,voice:1", "TEL;TYPE=work,fax:2", "TEL;PREF=1;TYPE=voice:4", "TEL;TYPE=textphone:5"} <= set(lines)
        assert "item1.TEL;TYPE=voice:3" in lines and "item1.X-ABLabel:Car" in lines  # 4.0 has no car type


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mailing", ["business", "home", "other"])
def test_address_labels_and_the_mailing_address_round_trip(version: str, mailing: str) -> None:
    contact = Contact(
        display_name="Addresses",
        addresses=tuple(PostalAddress(label, f"{label} street 1", "City", mailing=label == mailing)
                        for label in ("business", "home", "other")),
    )  # fmt: skip
    back, _ = _read(_write(contact, version=version))
    assert back.addresses == contact.addresses


def test_a_3_0_card_survives_radicale_storing_it() -> None:
    contact = attrs.evolve(FULL, photo=JPEG, websites=("https://fabrikam.example/a,b",))
    stored = _through_vobject(_write(contact, version="3.0", stamp=STAMP))
    back, warnings = _read(stored)
    assert (back, warnings) == (contact, [])
    assert vcard_stamp(stored) == STAMP


def test_a_4_0_card_stored_by_vobject_loses_only_its_photo() -> None:
    """vobject < 1.0 reads a 4.0 ``data:`` photo as a list and keeps what precedes its comma."""
    stored = _through_vobject(_write(FULL, version="4.0"))
    assert "PHOTO:data:image/png\\;base64\r\n" in stored.decode()
    back, warnings = _read(stored)
    assert back == attrs.evolve(FULL, photo=None)
    assert len(warnings) == 1 and warnings[0].startswith("PHOTO: the data: URI holds no data")


@pytest.mark.parametrize("version", VERSIONS)
def test_photos_carry_their_image_type(version: str) -> None:
    for photo, short, media in ((PNG, "PNG", "image/png"), (JPEG, "JPEG", "image/jpeg")):
        card = _write(Contact(display_name="Pic", photo=photo), version=version)
        photo_line = next(line for line in _unfolded(card) if line.startswith("PHOTO"))
        encoded = base64.b64encode(photo).decode()
        if version == "3.0":
            assert photo_line == f"PHOTO;ENCODING=b;TYPE={short}:{encoded}"
        else:
            assert photo_line == f"PHOTO:data:{media};base64,{encoded}"
        assert _read(card) == (Contact(display_name="Pic", photo=photo, source_id="x"), [])


# -- the card as written ---------------------------------------------------------------------------


def test_values_are_escaped_and_long_lines_folded_without_splitting_characters() -> None:
    contact = Contact(
        display_name="Ünïcödé " * 20, surname="Meier;Schulz", given_name="Anna, Maria", company="A;B, C",
        department="D\\E", addresses=(PostalAddress("home", "Straße 1;\nHinterhaus", "Köln, Porz"),),
        notes="€" * 200,
    )  # fmt: skip
    card = _write(contact, version="3.0")
    text = card.decode("utf-8")  # a split UTF-8 sequence would not decode
    assert any(line.startswith(" ") for line in text.split("\r\n"))
    lines = _unfolded(card)
    assert "N:Meier\\;Schulz;Anna\\, Maria;;;" in lines
    assert "ORG:A\\;B\\, C;D\\\\E" in lines
    assert "ADR;TYPE=HOME:;;Straße 1\\;\\nHinterhaus;Köln\\, Porz;;;" in lines
    assert _read(card)[0] == contact


@pytest.mark.parametrize("version", VERSIONS)
def test_a_contact_without_a_name_is_shown_under_its_company(version: str) -> None:
    contact = Contact(company="Contoso Pharma GmbH", phones=(Phone("company", "+49 1"),))
    card = _write(contact, version=version)
    assert "FN;X-GROUPMIGRATE-DERIVED=TRUE:Contoso Pharma GmbH" in _unfolded(card)
    assert _read(card)[0] == contact  # display_name stays None
    renamed = card.replace(b"DERIVED=TRUE:Contoso Pharma GmbH", b"DERIVED=TRUE:Contoso (Labor)")
    assert _read(renamed)[0].display_name == "Contoso (Labor)"  # a name a user gave it later is kept


@pytest.mark.parametrize("version", VERSIONS)
def test_dates_without_a_year(version: str) -> None:
    contact = Contact(display_name="B", birthday=dt.date(YEARLESS, 5, 17), wedding_anniversary=dt.date(2001, 2, 3))
    card = _write(contact, version=version)
    lines = _unfolded(card)
    if version == "4.0":
        assert {"BDAY:--0517", "ANNIVERSARY:20010203"} <= set(lines)
    else:
        assert {"BDAY;X-APPLE-OMIT-YEAR=1604:1604-05-17", "X-ANNIVERSARY:2001-02-03"} <= set(lines)
    assert _read(card)[0] == contact


def test_version_and_uid_are_checked() -> None:
    with pytest.raises(VCardError, match="version"):
        contact_to_vcard(FULL, uid="x", version="2.1")  # type: ignore[arg-type]
    for uid in ("", "  ", "a\r\nb"):
        with pytest.raises(VCardError, match="UID"):
            contact_to_vcard(FULL, uid=uid)


# -- groups ----------------------------------------------------------------------------------------


def test_a_list_is_a_kind_group_in_4_0() -> None:
    card = _write(GROUP, uid="team-1", version="4.0")
    lines = _unfolded(card)
    assert "KIND:group" in lines and not any(line.startswith("X-ADDRESSBOOKSERVER") for line in lines)
    members = [line for line in lines if line.startswith("MEMBER")]
    assert members == [
        "MEMBER;X-CN=Anna Meier:mailto:anna@fabrikam.example",
        "MEMBER:mailto:bob@contoso.example",
        'MEMBER;X-CN="Carla, die Dritte":mailto:carla+list@example.org',
        "MEMBER;X-CN=Dieter ^'DD^' Dorn:mailto:dieter@example.net",
    ]
    assert (vcard_is_group(card), vcard_member_refs(card)) == (True, [])
    back, warnings = _read(card)
    assert (back, warnings) == (GROUP, [])
    assert differences(GROUP, back) == []


def test_a_list_is_an_apple_group_in_3_0() -> None:
    card = _write(GROUP, uid="team-1", version="3.0")
    lines = _unfolded(card)
    assert "X-ADDRESSBOOKSERVER-KIND:group" in lines and "N:Projektteam Nord;;;;" in lines
    assert not any(line.startswith(("KIND", "MEMBER")) for line in lines)  # one form only: no member twice
    assert sum(line.startswith("X-ADDRESSBOOKSERVER-MEMBER") for line in lines) == 4
    assert vcard_is_group(card)
    assert _read(card) == (GROUP, [])
    assert _read(_through_vobject(card)) == (GROUP, [])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("style", ["kind", "apple"])
def test_the_group_style_can_be_chosen(version: str, style: str) -> None:
    card = _write(GROUP, version=version, group_style=style)
    kind_line = "KIND:group" if style == "kind" else "X-ADDRESSBOOKSERVER-KIND:group"
    assert kind_line in _unfolded(card)
    assert _read(card)[0] == GROUP


def test_members_named_by_uid_are_resolved_and_an_unknown_one_is_a_warning() -> None:
    card = _card(
        "BEGIN:VCARD", "VERSION:4.0", "UID:urn:uuid:team", "FN:Team", "KIND:group",
        "MEMBER:urn:uuid:11111111-aaaa", "MEMBER:urn:uuid:22222222-bbbb", "MEMBER:mailto:carla@example.org",
        "MEMBER:urn:uuid:99999999-gone", "MEMBER:urn:uuid:33333333-cccc", "END:VCARD",
    )  # fmt: skip
    book = {
        "urn:uuid:11111111-aaaa": ("anna@example.org", "Anna Meier"),
        "22222222-bbbb": ("bob@example.org", "Bob Beispiel"),  # known by its bare UID: asked second
        "urn:uuid:33333333-cccc": ("", "Dora ohne Adresse"),
    }
    asked: list[str] = []

    def resolve(ref: str) -> tuple[str, str] | None:
        asked.append(ref)
        return book.get(ref)

    assert vcard_member_refs(card.encode()) == [
        "urn:uuid:11111111-aaaa", "urn:uuid:22222222-bbbb", "urn:uuid:99999999-gone", "urn:uuid:33333333-cccc",
    ]  # fmt: skip
    back, warnings = _read(card, resolve=resolve)
    assert back.members == ("anna@example.org", "bob@example.org", "carla@example.org", "Dora ohne Adresse")
    assert back.member_names == ("Anna Meier", "Bob Beispiel", "", "")
    assert back.display_name == "Team" and back.is_distribution_list
    assert warnings == ["MEMBER: member 'urn:uuid:99999999-gone' names no card of this address book; left out"]
    assert "mailto:carla@example.org" not in asked
    no_resolver, warned = _read(card)
    assert no_resolver.members == ("carla@example.org",) and len(warned) == 4


@pytest.mark.parametrize("version", VERSIONS)
def test_members_with_a_card_are_written_as_urn_uuid(version: str) -> None:
    uids = {"anna@fabrikam.example": "anna-card", "dieter@example.net": "urn:uuid:dieter-card"}
    card = _write(GROUP, version=version, member_uid=uids.get)
    refs = vcard_member_refs(card)
    assert refs == ["urn:uuid:anna-card", "urn:uuid:dieter-card"]
    assert _read(card) == (GROUP, [])  # without resolving: the address kept in X-EMAIL
    moved = {"urn:uuid:anna-card": ("anna@neu.example", "Anna M.")}
    back, _ = _read(card, resolve=moved.get)
    assert back.members[0] == "anna@neu.example" and back.member_names[0] == "Anna M."


@pytest.mark.parametrize("version", VERSIONS)
def test_a_list_with_an_address_of_its_own_keeps_it_apart_from_its_members(version: str) -> None:
    group = attrs.evolve(GROUP, emails=("team@example.org",))
    assert _read(_write(group, version=version)) == (group, [])


@pytest.mark.parametrize("version", VERSIONS)
def test_a_member_without_an_address_is_kept_as_text(version: str) -> None:
    group = Contact(display_name="L", is_distribution_list=True, members=("a@example.org", "Nur Ein Name", "Team: Nord"))
    card = _write(group, version=version)
    assert {"X-GROUPMIGRATE-MEMBER:Nur Ein Name", "X-GROUPMIGRATE-MEMBER:Team: Nord"} <= set(_unfolded(card))
    assert _read(card) == (group, [])


# -- foreign cards ---------------------------------------------------------------------------------

APPLE = _card(
    "BEGIN:VCARD",
    "VERSION:3.0",
    "PRODID:-//Apple Inc.//iPhone OS 17.4//EN",
    "N:Meier;Anna;Maria;Dr.;",
    "FN:Dr. Anna Maria Meier",
    "NICKNAME:Anni",
    "ORG:Fabrikam AG;Forschung;",
    "TITLE:Laborleiterin",
    "item1.EMAIL;type=INTERNET:anna@meier.example",
    "item1.X-ABLabel:_$!<Other>!$_",
    "EMAIL;type=INTERNET;type=WORK;type=pref:anna@fabrikam.example",
    "TEL;type=CELL;type=VOICE;type=pref:+49 170 5550100",
    "TEL;type=HOME;type=FAX:+49 30 5550199",
    "TEL;type=MAIN:+49 30 5550000",
    "item2.TEL:+49 30 5550101",
    "item2.X-ABLabel:_$!<Assistant>!$_",
    "item3.TEL:+49 30 5550102",
    "item3.X-ABLabel:Opa Heinz",
    "item4.ADR;type=WORK;type=pref:;;Hauptstraße 1;Berlin;;10115;Deutschland",
    "item4.X-ABADR:de",
    "item5.ADR;type=HOME:;Hinterhaus;Weg 2;Potsdam;;14467;Deutschland",
    "item5.X-ABADR:de",
    "item6.URL;type=pref:https://fabrikam.example",
    "item6.X-ABLabel:_$!<HomePage>!$_",
    "URL;type=HOME:https://anna.example",
    "item7.X-ABRELATEDNAMES;type=pref:Jonas Meier",
    "item7.X-ABLabel:_$!<Spouse>!$_",
    "item8.X-ABRELATEDNAMES:Karl Chef",
    "item8.X-ABLabel:_$!<Manager>!$_",
    "item9.X-ABRELATEDNAMES:Mia",
    "item9.X-ABLabel:_$!<Child>!$_",
    "item10.X-ABDATE;type=pref:2005-06-17",
    "item10.X-ABLabel:_$!<Anniversary>!$_",
    "IMPP;X-SERVICE-TYPE=Skype;type=HOME;type=pref:skype:anna.meier",
    "X-SKYPE:anna.meier",
    "BDAY;X-APPLE-OMIT-YEAR=1604:1604-05-17",
    "NOTE:Kennengelernt auf der Messe\\, 2019",
    "CATEGORIES:Kunden",
    "PHOTO;ENCODING=b;TYPE=JPEG:" + base64.b64encode(JPEG).decode(),
    "END:VCARD",
)


def test_an_apple_card_with_grouped_labels() -> None:
    back, warnings = _read(APPLE)
    assert warnings == ["N: the name prefix 'Dr.' has no field in the contact; left out"]
    assert (back.display_name, back.given_name, back.middle_name, back.surname) == ("Dr. Anna Maria Meier", "Anna", "Maria", "Meier")
    assert (back.company, back.department, back.job_title, back.nickname) == ("Fabrikam AG", "Forschung", "Laborleiterin", "Anni")
    assert back.emails == ("anna@fabrikam.example", "anna@meier.example")  # the preferred one first
    assert back.phones == (
        Phone("mobile", "+49 170 5550100"), Phone("home_fax", "+49 30 5550199"), Phone("primary", "+49 30 5550000"),
        Phone("assistant", "+49 30 5550101"), Phone("other", "+49 30 5550102"),
    )  # fmt: skip
    assert back.addresses == (
        PostalAddress("business", "Hauptstraße 1", "Berlin", None, "10115", "Deutschland", mailing=True),
        PostalAddress("home", "Weg 2\nHinterhaus", "Potsdam", None, "14467", "Deutschland"),
    )
    assert (back.websites, back.personal_homepage) == (("https://fabrikam.example",), "https://anna.example")
    assert (back.spouse_name, back.manager, back.children) == ("Jonas Meier", "Karl Chef", ("Mia",))
    assert (back.birthday, back.wedding_anniversary) == (dt.date(YEARLESS, 5, 17), dt.date(2005, 6, 17))
    assert back.im_addresses == ("skype:anna.meier",)
    assert (back.notes, back.categories, back.photo) == ("Kennengelernt auf der Messe, 2019", ("Kunden",), JPEG)
    assert vcard_uid(APPLE.encode()) is None


GOOGLE = _card(
    "BEGIN:VCARD",
    "VERSION:3.0",
    "FN:Jonas Beispiel",
    "N:Beispiel;Jonas;;;",
    "EMAIL;TYPE=INTERNET;TYPE=HOME:jonas@example.net",
    "EMAIL;TYPE=INTERNET;TYPE=WORK:jonas.beispiel@contoso.example",
    "TEL;TYPE=CELL:+49 160 5550100",
    "TEL;TYPE=WORK:+49 89 5550100",
    "TEL;TYPE=WORK:+49 89 5550199",
    "ADR;TYPE=HOME:;;Lindenallee 5;München;Bayern;80331;Deutschland",
    "item1.ORG:Contoso GmbH",
    "item1.X-ABLabel:",
    "item2.TITLE:Einkauf",
    "item2.X-ABLabel:",
    "BDAY:1985-02-28",
    "item3.URL:https\\://jonas.example.net/blog",
    "item3.X-ABLabel:_$!<HomePage>!$_",
    "NOTE:Mag Kaffee\\, keinen Tee.",
    "CATEGORIES:myContacts,Lieferanten",
    "PHOTO:https://lh3.googleusercontent.com/contacts/AbCdEf",
    "END:VCARD",
)


def test_a_google_export() -> None:
    back, warnings = _read(GOOGLE)
    assert warnings == [
        "PHOTO: a photo given by address (https://lh3.googleusercontent.com/contacts/AbCdEf) is not fetched; left out"
    ]
    assert back == Contact(
        display_name="Jonas Beispiel", given_name="Jonas", surname="Beispiel",
        emails=("jonas@example.net", "jonas.beispiel@contoso.example"),
        phones=(Phone("mobile", "+49 160 5550100"), Phone("business", "+49 89 5550100"), Phone("business2", "+49 89 5550199")),
        addresses=(PostalAddress("home", "Lindenallee 5", "München", "Bayern", "80331", "Deutschland"),),
        company="Contoso GmbH", job_title="Einkauf", birthday=dt.date(1985, 2, 28),
        websites=("https://jonas.example.net/blog",), notes="Mag Kaffee, keinen Tee.", categories=("Lieferanten",),
    )  # fmt: skip


V4 = _card(
    "BEGIN:VCARD",
    "VERSION:4.0",
    "PRODID:-//Sample Client//EN",
    "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1",
    "KIND:individual",
    "FN:Mia Muster",
    "N:Muster;Mia;;;",
    "EMAIL;TYPE=work;PREF=2:mia@work.example",
    "EMAIL;TYPE=home;PREF=1:mia@home.example",
    'TEL;VALUE=uri;TYPE="voice,cell":tel:+49-170-5550123',
    "TEL;VALUE=uri;TYPE=work:tel:+49-30-5550123",
    'ADR;TYPE=home;PREF=1;LABEL="Gartenweg 3\\n12345 Musterstadt":;;Gartenweg 3;Musterstadt;;12345;Deutschland',
    "ADR;TYPE=work:;;Am Markt 1;Musterstadt;;12345;Deutschland",
    "RELATED;TYPE=spouse;VALUE=text:Max Muster",
    "RELATED;TYPE=child:urn:uuid:lina-card",
    "RELATED;TYPE=friend;VALUE=text:Pat",
    "ANNIVERSARY:20100612",
    "BDAY:--0704",
    "IMPP;PREF=1:xmpp:mia@jabber.example",
    "PHOTO:data:image/png;base64," + base64.b64encode(PNG).decode(),
    "NOTE:Zeile 1\\nZeile 2",
    "END:VCARD",
)


def test_a_4_0_card_with_a_data_photo_and_related_people() -> None:
    book = {"urn:uuid:lina-card": ("lina@example.org", "Lina Muster")}
    back, warnings = _read(V4, resolve=book.get)
    assert warnings == ["RELATED (friend): no field in the contact; left out"]
    assert back.emails == ("mia@home.example", "mia@work.example")
    assert back.phones == (Phone("mobile", "+49-170-5550123"), Phone("business", "+49-30-5550123"))
    assert [(a.label, a.mailing) for a in back.addresses] == [("home", True), ("business", False)]
    assert (back.spouse_name, back.children) == ("Max Muster", ("Lina Muster",))
    assert (back.birthday, back.wedding_anniversary) == (dt.date(YEARLESS, 7, 4), dt.date(2010, 6, 12))
    assert (back.photo, back.im_addresses, back.notes) == (PNG, ("xmpp:mia@jabber.example",), "Zeile 1\nZeile 2")
    assert vcard_uid(V4.encode()) == "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1"
    unresolved, warned = _read(V4)
    assert unresolved.children == () and "RELATED: 'urn:uuid:lina-card' names no contact known here; left out" in warned


OUTLOOK = _card(
    "BEGIN:VCARD",
    "VERSION:2.1",
    "N;LANGUAGE=de:Schmidt;Petra",
    "FN:Petra Schmidt",
    "ORG:Northwind;Vertrieb",
    "TEL;WORK;VOICE:+49 40 555-0100",
    "TEL;HOME;VOICE:+49 40 555-0199",
    "TEL;CELL;VOICE:+49 151 555-0100",
    "TEL;WORK;FAX:+49 40 555-0101",
    "X-MS-TEL;ASSISTANT:+49 40 555-0102",
    "ADR;WORK;PREF:;;Hafenstraße 1;Hamburg;;20457;Deutschland",
    "LABEL;WORK;PREF;ENCODING=QUOTED-PRINTABLE:Hafenstra=C3=9Fe 1=0D=0AHamburg 20457",
    "EMAIL;PREF;INTERNET:petra.schmidt@northwind.example",
    "NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=utf-8:Ruft gern morgens an, nicht nach 17 Uhr.=0D=0AZweite Zeile mit =C3=BC =",
    "und Fortsetzung",
    "X-MS-IMADDRESS:petra@im.northwind.example",
    "X-MS-ANNIVERSARY:20080517",
    "X-MS-SPOUSE;N:Thomas Schmidt",
    "X-MS-MANAGER;N:Klaus Boss",
    "BDAY:19750312",
    "REV:20240101T120000Z",
    "END:VCARD",
)


def test_an_outlook_2_1_export_with_quoted_printable() -> None:
    back, warnings = _read(OUTLOOK)
    assert warnings == []
    assert (back.surname, back.given_name, back.company, back.department) == ("Schmidt", "Petra", "Northwind", "Vertrieb")
    assert [p.label for p in back.phones] == ["business", "home", "mobile", "business_fax", "assistant"]
    assert back.addresses[0].mailing and back.addresses[0].street == "Hafenstraße 1"
    assert back.notes == "Ruft gern morgens an, nicht nach 17 Uhr.\nZweite Zeile mit ü und Fortsetzung"
    assert (back.spouse_name, back.manager) == ("Thomas Schmidt", "Klaus Boss")
    assert (back.birthday, back.wedding_anniversary) == (dt.date(1975, 3, 12), dt.date(2008, 5, 17))
    assert back.im_addresses == ("petra@im.northwind.example",)


def test_an_outlook_export_in_windows_1252_or_utf_16() -> None:
    back, warnings = _read(OUTLOOK.replace("Hafenstraße", "Gänseweg").encode("cp1252", errors="replace"))
    assert back.addresses[0].street == "Gänseweg 1"
    assert warnings == ["the card is not UTF-8: read as Windows-1252"]
    assert _read(OUTLOOK.encode("utf-16")) == _read(OUTLOOK)


def test_an_evolution_list() -> None:
    card = _card(
        "BEGIN:VCARD", "VERSION:3.0", "UID:pas-id-1", "FN:Projektteam", "N:Projektteam;;;;", "X-EVOLUTION-LIST:TRUE",
        "EMAIL;X-EVOLUTION-DEST-NAME=Anna Meier;X-EVOLUTION-DEST-EMAIL=anna@example.org:Anna Meier <anna@example.org>",
        "EMAIL:bob@example.org", "END:VCARD",
    )  # fmt: skip
    back, warnings = _read(card)
    assert warnings == [] and vcard_is_group(card.encode())
    assert back == Contact(display_name="Projektteam", is_distribution_list=True,
                           members=("anna@example.org", "bob@example.org"), member_names=("Anna Meier", ""))  # fmt: skip


# -- what cannot be kept ---------------------------------------------------------------------------


def test_bad_values_are_warnings_and_the_rest_is_kept() -> None:
    card = _card(
        "BEGIN:VCARD", "VERSION:3.0", "UID:w-1", "FN:Warn Me", "N:Me;Warn;;;", "BDAY:31.12.1969",
        "X-ANNIVERSARY:2001-02-30", "PHOTO;ENCODING=b;TYPE=XYZ:" + base64.b64encode(b"no image at all").decode(),
        "EMAIL:warn@example.org", "this line is broken", "END:VCARD",
    )  # fmt: skip
    back, warnings = _read(card)
    assert warnings == [
        "line 10: not a vCard content line; left out",
        "BDAY: '31.12.1969' is not a date; left out",
        "X-ANNIVERSARY: '2001-02-30' is not a date; left out",
        "PHOTO: not a JPEG, PNG, GIF, BMP, TIFF or WebP image; kept as it is",
    ]
    assert (back.display_name, back.emails, back.birthday, back.photo) == ("Warn Me", ("warn@example.org",), None, b"no image at all")
    assert vcard_to_contact(card.encode(), source_id="s") == back


@pytest.mark.parametrize(
    "photo_line, warning",
    [
        ("PHOTO:data:image/jpeg\\;base64", "PHOTO: the data: URI holds no data"),
        ("PHOTO;VALUE=uri:http://example.org/me.jpg", "PHOTO: a photo given by address (http://example.org/me.jpg)"),
        ("PHOTO;ENCODING=b;TYPE=JPEG:@@not base64@@", "PHOTO: broken base64 data"),
    ],
)
def test_a_photo_that_cannot_be_read_is_a_warning(photo_line: str, warning: str) -> None:
    back, warnings = _read(_card("BEGIN:VCARD", "VERSION:3.0", "FN:P", photo_line, "NOTE:kept", "END:VCARD"))
    assert back.photo is None and back.notes == "kept"
    assert len(warnings) == 1 and warnings[0].startswith(warning)


def test_a_data_photo_escaped_by_a_3_0_writer_is_read() -> None:
    escaped = "PHOTO:data:image/png\\;base64\\," + base64.b64encode(PNG).decode()
    assert _read(_card("BEGIN:VCARD", "VERSION:4.0", "FN:P", escaped, "END:VCARD"))[0].photo == PNG


def test_what_is_no_vcard_is_an_error_naming_no_content() -> None:
    for data in (b"", b"BEGIN:VCALENDAR\r\nSUMMARY:secret\r\nEND:VCALENDAR\r\n", b"hello secret"):
        with pytest.raises(VCardError, match="no BEGIN:VCARD") as raised:
            vcard_to_contact(data, source_id="x")
        assert "secret" not in str(raised.value)
    with pytest.raises(VCardError):
        vcard_uid(b"nothing")


def test_unknown_phone_labels_are_shown_and_read_back_as_other() -> None:
    card = _write(Contact(display_name="X", phones=(Phone("Oma", "1"), Phone("work", "2"))), version="3.0")
    lines = _unfolded(card)
    assert "item1.X-ABLabel:Oma" in lines and "TEL;TYPE=WORK,VOICE:2" in lines
    assert _read(card)[0].phones == (Phone("other", "1"), Phone("business", "2"))
