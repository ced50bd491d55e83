"""Reading a vCard (2.1, 3.0 or 4.0) into a :class:`~groupmigrate.items.Contact`, with warnings
for what could not be kept, and the quick looks at a card a backend needs before reading it
(UID, provenance stamp, group, member references); see :mod:`.vcard` for the field table.
"""

from __future__ import annotations

import email.utils
import urllib.parse
from typing import Any

from groupmigrate.backends.dav.vcard_read_fields import (
    Resolver, _anniversary, _read_addresses, _read_attachments, _read_date, _read_ims, _read_members, _read_phones,
    _read_photo, _read_related, _read_urls,
)  # fmt: skip
from groupmigrate.backends.dav.vcard_text import (
    _DERIVED, _INITIALS, STAMP_PROPERTY, _Card, _parse, _Prop, _split, _text, _uncaret,
)  # fmt: skip
from groupmigrate.backends.dav.vcard_write import _derived_fn
from groupmigrate.items import Contact, Phone

__all__ = [
    "Resolver",
    "vcard_is_group",
    "vcard_member_refs",
    "vcard_stamp",
    "vcard_to_contact",
    "vcard_to_contact_with_warnings",
    "vcard_uid",
]


def vcard_uid(data: bytes) -> str | None:
    """The card's UID (unescaped, as written: ``urn:uuid:`` kept), None when it has none.

    Raises:
        VCardError: ``data`` is no vCard.
    """
    prop = _parse(data, []).first("UID")
    value = _text(prop.value).strip() if prop else ""
    return value or None


def vcard_stamp(data: bytes) -> str | None:
    """The provenance stamp (``X-GROUPMIGRATE-PROVENANCE``) of the card, or None."""
    prop = _parse(data, []).first(STAMP_PROPERTY)
    value = _text(prop.value).strip() if prop else ""
    return value or None


def vcard_is_group(data: bytes) -> bool:
    """Whether the card is a group (KIND:group, Apple's X-ADDRESSBOOKSERVER-KIND:group or
    an Evolution list)."""
    return _is_group(_parse(data, []))


def vcard_member_refs(data: bytes) -> list[str]:
    """The member references of a group card that ``resolve`` is asked about: every
    MEMBER / X-ADDRESSBOOKSERVER-MEMBER value not a ``mailto:`` URI (``urn:uuid:...`` and
    the like), unescaped, in order, each once; [] for a card that is not a group."""
    card = _parse(data, [])
    if not _is_group(card):
        return []
    refs: list[str] = []
    for prop in card.all("MEMBER", "X-ADDRESSBOOKSERVER-MEMBER"):
        ref = _text(prop.value).strip()
        if ref and not ref.lower().startswith("mailto:") and ref not in refs:
            refs.append(ref)
    return refs


def vcard_to_contact(data: bytes, *, source_id: str, resolve: Resolver | None = None) -> Contact:
    """The contact a vCard holds; see :func:`vcard_to_contact_with_warnings` (warnings dropped)."""
    return vcard_to_contact_with_warnings(data, source_id=source_id, resolve=resolve)[0]


def vcard_to_contact_with_warnings(
    data: bytes, *, source_id: str, resolve: Resolver | None = None
) -> tuple[Contact, list[str]]:
    """The contact a vCard holds, and what of it could not be kept.

    Args:
        data: one vCard (2.1, 3.0 or 4.0).
        source_id: the ``source_id`` of the contact (e.g. the resource's href).
        resolve: for a group, the (e-mail address, display name) of the member card a
            reference names (see :func:`vcard_member_refs`), or None when unknown; asked
            with the reference as written (``urn:uuid:<UID>``) and then, for ``urn:uuid:``,
            with the bare UID. Also asked about RELATED references (for the person's name).
            A ``mailto:`` member needs no resolving.

    Returns:
        The contact, and one warning per value left out or changed, naming its property
        (an unresolvable member, a bad BDAY, a photo by URL or of unknown format ...).

    Raises:
        VCardError: ``data`` is no vCard (no BEGIN:VCARD).
    """
    warnings: list[str] = []
    card = _parse(data, warnings)
    is_group = _is_group(card)
    fields: dict[str, Any] = {}

    name_prop = card.first("N")
    fn_prop = card.first("FN")
    fn = _text(fn_prop.value) if fn_prop else ""
    if name_prop is not None:
        parts = [_text(p) for p in _split(name_prop.value, ";")] + [""] * 5
        surname, given, middle, prefix, suffix = (p if p.strip() else "" for p in parts[:5])
        if is_group and surname == fn and not (given or middle or prefix or suffix):
            surname = ""  # Apple names a group card after the group
        fields.update(surname=surname or None, given_name=given or None, middle_name=middle or None,
                      generation=suffix or None)  # fmt: skip
        if prefix:
            warnings.append(f"N: the name prefix {prefix.strip()!r} has no field in the contact; left out")
    fields["nickname"] = _first_text(card, "NICKNAME")
    org = card.first("ORG")
    if org is not None:
        units = [_text(p) for p in _split(org.value, ";")]
        fields["company"] = units[0] if units[0].strip() else None
        fields["department"] = ", ".join(u for u in units[1:] if u.strip()) or None
    fields["job_title"] = _first_text(card, "TITLE")
    fields["profession"] = _first_text(card, "ROLE")
    fields["file_as"] = _file_as(card, name_prop, org)

    phones: list[Phone] = []
    emails: list[tuple[int, str, str]] = []
    # Evolution keeps a list's members as EMAIL lines
    evolution_list = any(_text(p.value).strip().upper() == "TRUE" for p in card.all("X-EVOLUTION-LIST"))
    list_members: list[tuple[str, str]] = []
    for prop in card.all("EMAIL"):
        address, name = _email_value(prop)
        if not address:
            continue
        if "tlx" in prop.types or "telex" in prop.types:  # Exchange writes telex numbers as EMAIL;TLX
            phones.append(Phone("telex", address))
        elif evolution_list:
            list_members.append((address, name))
        else:
            emails.append((prop.pref, address, name))
    emails.sort(key=lambda e: e[0])  # stable: the most preferred first, else in order
    fields["emails"] = tuple(e[1] for e in emails)
    fields["email_names"] = tuple(e[2] for e in emails)
    fields["phones"] = tuple(_read_phones(card)) + tuple(phones)
    fields["addresses"] = _read_addresses(card)
    _read_urls(card, fields)
    fields["im_addresses"] = _read_ims(card)
    fields["birthday"] = _read_date(card.first("BDAY"), warnings)
    fields["wedding_anniversary"] = _anniversary(card, warnings)
    _read_related(card, fields, resolve, warnings)
    fields["office_location"] = _first_text(
        card, "X-MS-OFFICE", "X-EVOLUTION-OFFICE", "X-KADDRESSBOOK-X-OFFICE", "OFFICE"
    )
    fields["initials"] = _first_text(card, _INITIALS)
    notes = [_text(p.value) for p in card.all("NOTE") if _text(p.value).strip()]
    fields["notes"] = "\n\n".join(notes) if notes else None
    categories: list[str] = []
    for prop in card.all("CATEGORIES"):
        for value in (_text(p).strip() for p in _split(prop.value, ",")):
            if value and value != "myContacts" and value not in categories:
                categories.append(value)
    fields["categories"] = tuple(categories)
    fields["photo"] = _read_photo(card, warnings)
    fields["attachments"] = _read_attachments(card, warnings)

    if is_group:
        members = list_members if evolution_list else _read_members(card, resolve, warnings)
        fields["is_distribution_list"] = True
        fields["members"] = tuple(m[0] for m in members)
        fields["member_names"] = tuple(m[1] for m in members)
    elif card.all("MEMBER", "X-ADDRESSBOOKSERVER-MEMBER"):
        warnings.append("MEMBER: the card is not a group (no KIND:group); its members are left out")

    derived = fn_prop is not None and fn_prop.param(_DERIVED) is not None
    probe = Contact(**fields)
    fields["display_name"] = None if not fn.strip() or (derived and fn == _derived_fn(probe)) else fn
    return Contact(**fields, source_id=source_id), warnings


def _is_group(card: _Card) -> bool:
    if any(_text(p.value).strip().lower() == "group" for p in card.all("KIND", "X-ADDRESSBOOKSERVER-KIND")):
        return True
    return any(_text(p.value).strip().upper() == "TRUE" for p in card.all("X-EVOLUTION-LIST"))


def _first_text(card: _Card, *names: str) -> str | None:
    """The first non-blank value of these properties, as written."""
    for prop in card.all(*names):
        value = _text(prop.value)
        if value.strip():
            return value
    return None


def _file_as(card: _Card, name_prop: _Prop | None, org: _Prop | None) -> str | None:
    for prop in (name_prop, org):
        if prop is not None and prop.params.get("SORT-AS"):
            return ", ".join(_uncaret(v) for v in prop.params["SORT-AS"] if v.strip()) or None
    return _first_text(card, "SORT-STRING", "X-EVOLUTION-FILE-AS")


def _email_value(prop: _Prop) -> tuple[str, str]:
    """(address, display name) of an EMAIL line."""
    value = _text(prop.value).strip()
    name = prop.named("X-CN") or _uncaret(prop.param("X-EVOLUTION-DEST-NAME") or "")
    if value.lower().startswith("mailto:"):
        value = urllib.parse.unquote(value[7:])
    if "<" in value and value.endswith(">"):
        parsed_name, parsed = email.utils.parseaddr(value)
        value, name = parsed or value, name or parsed_name
    return prop.param("X-EVOLUTION-DEST-EMAIL") or value, name
