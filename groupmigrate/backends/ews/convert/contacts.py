"""Contacts and distribution lists: exchangelib ``Contact`` / ``DistributionList`` <-> :class:`~groupmigrate.items.Contact`.

Neutral labels are lower-case words (``business``, ``home``, ``mobile`` ...); EWS has fixed
slots (three e-mail addresses, one phone number per kind, one address per kind, one web
page). A phone or address whose own slot is taken moves to a free slot of another kind (with
a warning); a contact with more than fits (a fourth e-mail address, a second web page, more
phone numbers or addresses than there are slots) is refused with :class:`ValueError` rather
than written without them: cutting a contact down to the destination's limits is the
mappers' decision (see ``Capabilities.max_contact_emails``), made before an item gets here.
The contact photo is the attachment flagged ``IsContactPhoto``.

Every field of the neutral contact has its EWS home: the display name of each e-mail address
is the entry's ``Name`` attribute, the mailing address is ``PostalAddressIndex``, the personal
home page (EWS has an element only for the business one) is PidTagPersonalHomePage, and
``websites`` is the business home page. A contact without a name of its own is shown and
filed under its company, as Outlook does.
"""

from __future__ import annotations

from typing import Any

from exchangelib.indexed_properties import ImAddress, PhoneNumber, PhysicalAddress
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
from groupmigrate.backends.ews.models import ContactItem, DistListItem, NamedEmailAddress
from groupmigrate.items import Attachment, Contact, Phone, PostalAddress

__all__ = ["DL_FIELDS", "FIELDS", "MAX_EMAILS", "MAX_IM_ADDRESSES", "MAX_WEBSITES", "to_ews", "to_neutral"]

FIELDS = (
    "display_name", "given_name", "middle_name", "surname", "nickname", "email_addresses",
    "phone_numbers", "physical_addresses", "company_name", "department", "job_title", "birthday",
    "business_homepage", "body", "categories", "attachments", "item_class", "file_as", "initials",
    "generation", "manager", "assistant_name", "spouse_name", "children", "profession", "office",
    "im_addresses", "wedding_anniversary", "postal_address_index", "personal_homepage",
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
_IM_SLOTS = ("ImAddress1", "ImAddress2", "ImAddress3")
#: e-mail addresses, IM addresses and web pages one EWS contact holds
MAX_EMAILS = len(_EMAIL_SLOTS)
MAX_IM_ADDRESSES = len(_IM_SLOTS)
MAX_WEBSITES = 1


def to_neutral(item: Any, item_id: str, attachments: list[Any] | None = None) -> Contact:
    """A neutral contact (or list) from an exchangelib item; ``attachments`` carry their content."""
    if isinstance(item, DistributionList):
        body, _ = body_from_ews(item.body)
        members: list[str] = []
        member_names: list[str] = []
        for member in item.members or ():
            mailbox = getattr(member, "mailbox", None)
            if mailbox is not None and (mailbox.email_address or mailbox.name):
                members.append(mailbox.email_address or mailbox.name)
                member_names.append(mailbox.name if mailbox.email_address and mailbox.name else "")
        return Contact(
            display_name=item.display_name,
            notes=body,
            categories=categories(item.categories),
            is_distribution_list=True,
            members=tuple(members),
            member_names=tuple(member_names),
            source_id=item_id,
        )
    entries = [e for e in sorted(item.email_addresses or (), key=lambda e: e.label or "") if e.email]
    emails = tuple(e.email for e in entries)
    email_names = tuple(_entry_name(e) for e in entries)
    im_addresses = tuple(
        i.im_address for i in sorted(item.im_addresses or (), key=lambda i: i.label or "") if i.im_address
    )
    mailing = item.postal_address_index if item.postal_address_index in _ADDRESS_LABELS else None
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
            mailing=a.label == mailing,
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
        email_names=email_names,
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
        initials=item.initials,
        generation=item.generation,
        file_as=item.file_as,
        manager=item.manager,
        assistant_name=item.assistant_name,
        spouse_name=item.spouse_name,
        children=tuple(c for c in item.children or () if c),
        profession=item.profession,
        office_location=item.office,
        personal_homepage=item.personal_homepage,
        im_addresses=im_addresses,
        wedding_anniversary=plain_date(item.wedding_anniversary),
    )


def _entry_name(entry: Any) -> str:
    """The display name of an e-mail entry; "" when it has none or it only repeats the address."""
    name = (getattr(entry, "name", None) or "").strip()
    return "" if not name or name.lower() == (entry.email or "").strip().lower() else name


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


def _physical_addresses(
    addresses: tuple[PostalAddress, ...], warnings: list[str]
) -> tuple[list[PhysicalAddress], str | None]:
    """The address entries, and the slot of the mailing address (None when none is marked)."""
    taken: dict[str, PhysicalAddress] = {}
    mailing: str | None = None
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
        if address.mailing:
            mailing = slot
    return list(taken.values()), mailing


def to_ews(contact: Contact, *, photo_supported: bool = True) -> tuple[Any, list[str]]:
    """An exchangelib contact or list to create, and the warnings of what did not fit."""
    warnings: list[str] = []
    if contact.is_distribution_list:
        return (
            DistListItem(
                display_name=contact.display_name or "(no name)",
                members=[
                    Member(mailbox=Mailbox(email_address=m, name=n or None))
                    for m, n in zip(contact.members, contact.member_names or ("",) * len(contact.members))
                ] or None,
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
    if len(contact.im_addresses) > MAX_IM_ADDRESSES:
        raise ValueError(
            f"the contact has {len(contact.im_addresses)} IM addresses; EWS holds {MAX_IM_ADDRESSES} "
            f"({', '.join(repr(a) for a in contact.im_addresses[MAX_IM_ADDRESSES:])} would be lost)"
        )
    emails = [
        NamedEmailAddress(label=slot, email=addr, name=name or None)
        for slot, (addr, name) in zip(_EMAIL_SLOTS, contact.named_emails)
    ]
    ims = [ImAddress(label=slot, im_address=addr) for slot, addr in zip(_IM_SLOTS, contact.im_addresses)]
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
    person = " ".join(p for p in (contact.given_name, contact.middle_name, contact.surname) if p)
    display = (
        contact.display_name or person or contact.company or contact.file_as
        or (contact.emails[0] if contact.emails else "(no name)")
    )  # fmt: skip
    # Filed under its company when it names no one (Outlook does the same); else the server
    # files it by name.
    file_as = contact.file_as or (contact.company if not (contact.display_name or person) else None)
    addresses, mailing = _physical_addresses(contact.addresses, warnings)
    item = ContactItem(
        display_name=display,
        given_name=contact.given_name,
        middle_name=contact.middle_name,
        surname=contact.surname,
        nickname=contact.nickname,
        email_addresses=emails or None,
        phone_numbers=_phone_numbers(contact.phones, warnings) or None,
        physical_addresses=addresses or None,
        postal_address_index=mailing or "None",
        im_addresses=ims or None,
        file_as=file_as,
        initials=contact.initials,
        generation=contact.generation,
        manager=contact.manager,
        assistant_name=contact.assistant_name,
        spouse_name=contact.spouse_name,
        children=list(contact.children) or None,
        profession=contact.profession,
        office=contact.office_location,
        wedding_anniversary=ews_date(contact.wedding_anniversary),
        personal_homepage=contact.personal_homepage,
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
