"""Contacts and distribution lists: exchangelib ``Contact`` / ``DistributionList`` <-> :class:`~groupmigrate.items.Contact`.

Neutral labels are lower-case words (``business``, ``home``, ``mobile`` ...); EWS has fixed
slots (three e-mail addresses, one phone number per kind, one address per kind, one web
page). A phone or address whose own slot is taken moves to a free slot of another kind (with
a warning); a contact with more than fits (a fourth e-mail address, a second web page, more
phone numbers or addresses than there are slots) is refused with :class:`ValueError` rather
than written without them: cutting a contact down to the destination's limits is the
mappers' decision (see ``Capabilities.max_contact_emails``), made before an item gets here.
The contact photo is the attachment flagged ``IsContactPhoto``.
"""

from __future__ import annotations

from typing import Any

from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import DistributionList
from exchangelib.properties import Mailbox, Member

from groupmigrate.backends.ews.convert.common import (
    attachment_from_ews,
    attachment_to_ews,
    body_from_ews,
    body_to_ews,
    categories,
    ews_categories,
    ews_date,
    plain_date,
)
from groupmigrate.backends.ews.models import ContactItem, DistListItem
from groupmigrate.items import Attachment, Contact, Phone, PostalAddress

__all__ = ["DL_FIELDS", "FIELDS", "MAX_EMAILS", "MAX_WEBSITES", "to_ews", "to_neutral"]

FIELDS = (
    "display_name", "given_name", "middle_name", "surname", "nickname", "email_addresses",
    "phone_numbers", "physical_addresses", "company_name", "department", "job_title", "birthday",
    "business_homepage", "body", "categories", "attachments", "item_class",
)  # fmt: skip
DL_FIELDS = ("display_name", "members", "body", "categories", "item_class")

_PHONES = {
    "business": "BusinessPhone", "business2": "BusinessPhone2", "home": "HomePhone",
    "home2": "HomePhone2", "mobile": "MobilePhone", "business_fax": "BusinessFax",
    "home_fax": "HomeFax", "other_fax": "OtherFax", "pager": "Pager", "car": "CarPhone",
    "other": "OtherTelephone", "primary": "PrimaryPhone", "assistant": "AssistantPhone",
    "company": "CompanyMainPhone", "callback": "Callback", "isdn": "Isdn", "radio": "RadioPhone",
    "telex": "Telex", "tty": "TtyTddPhone",
}  # fmt: skip
_PHONE_ALIASES = {"work": "business", "work2": "business2", "cell": "mobile", "fax": "business_fax", "main": "primary"}
_PHONE_LABELS = {v: k for k, v in _PHONES.items()}
#: where a phone goes when its own slot is taken or its label unknown
_PHONE_SPARES = ("OtherTelephone", "BusinessPhone2", "HomePhone2", "PrimaryPhone", "Callback")

_ADDRESSES = {"business": "Business", "home": "Home", "other": "Other"}
_ADDRESS_ALIASES = {"work": "business"}
_ADDRESS_LABELS = {v: k for k, v in _ADDRESSES.items()}

_EMAIL_SLOTS = ("EmailAddress1", "EmailAddress2", "EmailAddress3")
#: e-mail addresses and web pages one EWS contact holds
MAX_EMAILS = len(_EMAIL_SLOTS)
MAX_WEBSITES = 1


def to_neutral(item: Any, item_id: str, attachments: list[Any] | None = None) -> Contact:
    """A neutral contact (or list) from an exchangelib item; ``attachments`` carry their content."""
    if isinstance(item, DistributionList):
        body, _ = body_from_ews(item.body)
        members = []
        for member in item.members or ():
            mailbox = getattr(member, "mailbox", None)
            if mailbox is not None and (mailbox.email_address or mailbox.name):
                members.append(mailbox.email_address or mailbox.name)
        return Contact(
            display_name=item.display_name,
            notes=body,
            categories=categories(item.categories),
            is_distribution_list=True,
            members=tuple(members),
            source_id=item_id,
        )
    emails = tuple(
        e.email for e in sorted(item.email_addresses or (), key=lambda e: e.label or "") if e.email
    )
    phones = tuple(
        Phone(_PHONE_LABELS.get(p.label, (p.label or "other").lower()), p.phone_number)
        for p in item.phone_numbers or ()
        if p.phone_number
    )
    addresses = tuple(
        PostalAddress(
            label=_ADDRESS_LABELS.get(a.label, (a.label or "other").lower()),
            street=a.street,
            city=a.city,
            state=a.state,
            postal_code=a.zipcode,
            country=a.country,
        )
        for a in item.physical_addresses or ()
        if any((a.street, a.city, a.state, a.zipcode, a.country))
    )
    photo: bytes | None = None
    files: list[Attachment] = []
    for att in attachments if attachments is not None else item.attachments or ():
        neutral = attachment_from_ews(att)
        if neutral is None:
            continue
        if neutral.is_contact_photo and photo is None:
            photo = neutral.content
        else:
            files.append(neutral)
    body, _ = body_from_ews(item.body)
    return Contact(
        display_name=item.display_name,
        given_name=item.given_name,
        middle_name=item.middle_name,
        surname=item.surname,
        nickname=item.nickname,
        emails=emails,
        phones=phones,
        addresses=addresses,
        company=item.company_name,
        department=item.department,
        job_title=item.job_title,
        birthday=plain_date(item.birthday),
        websites=(item.business_homepage,) if item.business_homepage else (),
        notes=body,
        photo=photo,
        categories=categories(item.categories),
        attachments=tuple(files),
        source_id=item_id,
    )


def _phone_numbers(phones: tuple[Phone, ...], warnings: list[str]) -> list[PhoneNumber]:
    taken: dict[str, PhoneNumber] = {}
    for phone in phones:
        label = _PHONE_ALIASES.get(phone.label.lower(), phone.label.lower())
        slot = _PHONES.get(label)
        if slot is None or slot in taken:
            slot = next((s for s in _PHONE_SPARES if s not in taken), None)
            if slot is None:
                raise ValueError(
                    f"the contact has more {phone.label!r} phone numbers than EWS has slots for "
                    f"({phone.number!r} would be lost)"
                )
            warnings.append(f"phone number {phone.number!r} ({phone.label}) stored as {slot}")
        taken[slot] = PhoneNumber(label=slot, phone_number=phone.number)
    return list(taken.values())


def _physical_addresses(addresses: tuple[PostalAddress, ...], warnings: list[str]) -> list[PhysicalAddress]:
    taken: dict[str, PhysicalAddress] = {}
    for address in addresses:
        label = _ADDRESS_ALIASES.get(address.label.lower(), address.label.lower())
        slot = _ADDRESSES.get(label)
        if slot is None or slot in taken:
            slot = next((s for s in ("Other", "Home", "Business") if s not in taken), None)
            if slot is None:
                raise ValueError(f"the contact has {len(addresses)} postal addresses; EWS holds three (business, home, other)")
            warnings.append(f"postal address ({address.label}) stored as {slot}")
        taken[slot] = PhysicalAddress(
            label=slot,
            street=address.street,
            city=address.city,
            state=address.state,
            zipcode=address.postal_code,
            country=address.country,
        )
    return list(taken.values())


def to_ews(contact: Contact, *, photo_supported: bool = True) -> tuple[Any, list[str]]:
    """An exchangelib contact or list to create, and the warnings of what did not fit."""
    warnings: list[str] = []
    if contact.is_distribution_list:
        return (
            DistListItem(
                display_name=contact.display_name or "(no name)",
                members=[Member(mailbox=Mailbox(email_address=m)) for m in contact.members] or None,
                body=body_to_ews(contact.notes),
                categories=ews_categories(contact.categories),
            ),
            warnings,
        )
    if len(contact.emails) > MAX_EMAILS:
        raise ValueError(
            f"the contact has {len(contact.emails)} e-mail addresses; EWS holds {MAX_EMAILS} "
            f"({', '.join(repr(e) for e in contact.emails[MAX_EMAILS:])} would be lost)"
        )
    if len(contact.websites) > MAX_WEBSITES:
        raise ValueError(
            f"the contact has {len(contact.websites)} web pages; EWS holds {MAX_WEBSITES} "
            f"({', '.join(repr(w) for w in contact.websites[MAX_WEBSITES:])} would be lost)"
        )
    emails = [EmailAddress(label=slot, email=addr) for slot, addr in zip(_EMAIL_SLOTS, contact.emails)]
    websites = list(contact.websites)
    attachments = [attachment_to_ews(a) for a in contact.attachments]
    if contact.photo:
        if photo_supported:
            attachments.append(
                attachment_to_ews(
                    Attachment(name="ContactPicture.jpg", content=contact.photo, content_type="image/jpeg"),
                    as_contact_photo=True,
                )
            )
        else:
            from groupmigrate.core.mappers.contacts import photo_attachment

            attachments.append(attachment_to_ews(photo_attachment(contact.photo, {a.name for a in contact.attachments})))
            warnings.append("contact photo kept as a plain attachment: the destination does not show contact photos")
    display = contact.display_name or " ".join(
        p for p in (contact.given_name, contact.middle_name, contact.surname) if p
    ) or (contact.emails[0] if contact.emails else "(no name)")
    item = ContactItem(
        display_name=display,
        given_name=contact.given_name,
        middle_name=contact.middle_name,
        surname=contact.surname,
        nickname=contact.nickname,
        email_addresses=emails or None,
        phone_numbers=_phone_numbers(contact.phones, warnings) or None,
        physical_addresses=_physical_addresses(contact.addresses, warnings) or None,
        company_name=contact.company,
        department=contact.department,
        job_title=contact.job_title,
        birthday=ews_date(contact.birthday),
        business_homepage=websites[0] if websites else None,
        body=body_to_ews(contact.notes),
        categories=ews_categories(contact.categories),
        attachments=attachments or None,
    )
    return item, warnings
