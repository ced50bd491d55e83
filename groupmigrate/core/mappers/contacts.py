"""Contacts and distribution lists."""

from __future__ import annotations

from typing import Any

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Attachment, Contact
from groupmigrate.core.mappers._base import CHANGED, DROPPED, Change, MapContext, MapResult, default_of
from groupmigrate.core.mappers._common import skip, unsupported_fields

__all__ = ["fit_to_limits", "photo_attachment", "map_contact"]

#: leading bytes of the image formats contact photos come in -> (file extension, MIME type)
_IMAGE_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"GIF87a", "gif", "image/gif"),
    (b"GIF89a", "gif", "image/gif"),
    (b"BM", "bmp", "image/bmp"),
)


def map_contact(contact: Contact, caps: Capabilities, ctx: MapContext) -> MapResult:
    """Map one contact or distribution list.

    - A distribution list is skipped where ``caps.supports_distribution_lists`` is False,
      the reason naming the list and its member count.
    - Where ``caps.supports_contact_photo`` is False, the photo becomes a plain attachment
      (``photo.jpg``, ``photo.png``... by its image type), so it is kept though not shown
      as the profile picture; a ``changed`` entry says so for each contact.
    - Fields the route cannot store (``caps.unsupported_fields``, the context's
      ``unsupported_fields``) are dropped; a ``dropped`` entry names each value lost, for
      every contact that had one.

    Args:
        contact: the source contact.
        caps: the route's capabilities.
        ctx: the account's mapping context.

    Returns:
        The contact to create, or a skip.
    """
    if contact.is_distribution_list and not caps.supports_distribution_lists:
        name = contact.display_name or "(no name)"
        return skip(
            ctx,
            "is_distribution_list",
            f"distribution lists are not supported by the destination: {name!r} "
            f"({len(contact.members)} members) not created",
        )
    changes: list[Change] = []
    if contact.photo and not caps.supports_contact_photo:
        contact, change = _photo_to_attachment(contact)
        ctx.count(CHANGED, "photo", label="contact photos kept as attachments")
        changes.append(change)
    item, dropped = _drop_unkept(contact, unsupported_fields(contact, caps, ctx), ctx)
    return MapResult(item, changes=changes + dropped)


#: what a contact field is called in the log, where its attribute name would not do
_NOUNS = {
    "emails": "e-mail addresses", "email_names": "display names of e-mail addresses",
    "im_addresses": "IM addresses", "personal_homepage": "personal home page", "file_as": "file-as name",
    "generation": "name suffix", "office_location": "office location", "websites": "web pages",
    "member_names": "display names of members",
}  # fmt: skip
#: lists whose entries name the entries of another list, position by position
_ALIGNED = {"emails": "email_names", "members": "member_names"}


def _drop_unkept(contact: Contact, fields: list[str], ctx: MapContext) -> tuple[Contact, list[Change]]:
    """Reset each of ``fields`` that holds a value; one ``dropped`` change per field, naming the value."""
    updates: dict[str, Any] = {}
    changes: list[Change] = []
    for name in fields:
        value, default = getattr(contact, name), default_of(Contact, name)
        if value == default:
            continue
        updates[name] = default
        if name in _ALIGNED:
            updates[_ALIGNED[name]] = ()
        noun = _NOUNS.get(name, name.replace("_", " "))
        count = len(value) if isinstance(value, tuple) else 1
        ctx.count(DROPPED, name, values=count, label=f"contact {noun} not kept by the destination; dropped")
        changes.append(Change(DROPPED, name, f"{noun} {_shown(value)} dropped: the destination does not keep it", count))
    return (attrs.evolve(contact, **updates) if updates else contact), changes


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, bytes):
        return f"({len(value)} bytes)"
    if attrs.has(type(value)):
        return repr(", ".join(str(v) for v in attrs.astuple(value) if v and v is not True))
    return repr(str(value))


def fit_to_limits(contact: Contact, caps: Capabilities) -> tuple[Contact, list[Change]]:
    """Cut a contact's lists to what the destination stores (``caps.max_contact_emails``,
    ``max_contact_websites``, ``max_contact_addresses``, ``max_contact_phones``,
    ``max_contact_im_addresses``), first values kept; one change per value dropped, naming it
    (an e-mail address with its display name, which goes with it). Applied after sanitizing,
    so invalid values do not take a slot.
    """
    changes: list[Change] = []
    updates: dict[str, Any] = {}
    for field, limit, noun in (
        ("emails", caps.max_contact_emails, "e-mail address"),
        ("websites", caps.max_contact_websites, "web page"),
        ("addresses", caps.max_contact_addresses, "postal address"),
        ("phones", caps.max_contact_phones, "phone number"),
        ("im_addresses", caps.max_contact_im_addresses, "IM address"),
    ):
        values = getattr(contact, field)
        if limit is None or len(values) <= limit:
            continue
        updates[field] = values[:limit]
        if field == "emails":
            if contact.email_names:
                updates["email_names"] = contact.email_names[:limit]
            values = tuple(f"{name} <{address}>" if name else address for address, name in contact.named_emails)
        for value in values[limit:]:
            shown = value if isinstance(value, str) else ", ".join(
                str(v) for v in (value.label, getattr(value, "number", None), getattr(value, "street", None),
                                 getattr(value, "city", None), getattr(value, "country", None)) if v
            )  # fmt: skip
            changes.append(Change(DROPPED, field, f"{noun} {shown!r} dropped: the destination keeps {limit} per contact"))
    return (attrs.evolve(contact, **updates) if updates else contact), changes


def photo_attachment(photo: bytes, taken: set[str] | None = None) -> Attachment:
    """A plain attachment holding a contact photo, named after its image type.

    Args:
        photo: the image bytes.
        taken: attachment names already on the contact (compared case-insensitively);
            ``photo (2).jpg`` is used when ``photo.jpg`` is taken.

    Returns:
        An attachment with ``is_contact_photo`` False.
    """
    extension, content_type = _image_type(photo)
    lowered = {name.lower() for name in taken or ()}
    name = f"photo.{extension}"
    number = 2
    while name.lower() in lowered:
        name = f"photo ({number}).{extension}"
        number += 1
    return Attachment(name=name, content=photo, content_type=content_type, is_contact_photo=False)


def _photo_to_attachment(contact: Contact) -> tuple[Contact, Change]:
    assert contact.photo is not None
    attachment = photo_attachment(contact.photo, {a.name for a in contact.attachments})
    mapped = attrs.evolve(contact, photo=None, attachments=(*contact.attachments, attachment))
    message = (
        f"contact photo kept as the attachment {attachment.name!r}: the destination does not "
        "show contact photos"
    )
    return mapped, Change(CHANGED, "photo", message)


def _image_type(data: bytes) -> tuple[str, str]:
    for signature, extension, content_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return extension, content_type
    # Exchange stores contact photos as JPEG; anything unrecognised is still kept, but
    # labelled as opaque bytes rather than as a JPEG it may not be.
    return "bin", "application/octet-stream"
