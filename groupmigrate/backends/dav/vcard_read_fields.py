"""Reading the structured and repeated properties of a vCard into contact fields: phones,
addresses, URLs, IM addresses, dates, related people, list members, photo and attachments
(see :mod:`.vcard_read` for the whole card). Each reader notes in ``warnings`` what it leaves out.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import attrs

from groupmigrate.backends.dav.vcard_text import (
    _ATTACHMENT, _MEMBER_TEXT, _SCHEME, YEARLESS, _Card, _Prop, _split, _text,
)  # fmt: skip
from groupmigrate.backends.dav.vcard_types import (
    _ADDRESS_LABEL_KEYS, _APPLE_RELATED, _IM_SCHEMES, _MS_TEL_TYPES, _PHONE_LABEL_KEYS, _RELATED_PROPS, _RELATED_TYPES,
    _image_type, _label_key, _phone_label_from_types, _promote,
)  # fmt: skip
from groupmigrate.items import Attachment, Phone, PostalAddress

Resolver = Callable[[str], tuple[str, str] | None]

_DATE = re.compile(r"^(?:(\d{4})-?(\d{2})-?(\d{2})|--(\d{2})-?(\d{2}))(?:T[0-9:.,Z+\-]*)?$")


def _read_phones(card: _Card) -> list[Phone]:
    phones: list[Phone] = []
    assigned: set[str] = set()
    for prop in card.all("TEL", "X-MS-TEL"):
        number = _text(prop.value).strip()
        if number.lower().startswith("tel:"):
            number = urllib.parse.unquote(number[4:])
        if not number:
            continue
        label = _PHONE_LABEL_KEYS.get(_label_key(card.label(prop)))
        if label is None and prop.name == "X-MS-TEL":
            label = next((v for k, v in _MS_TEL_TYPES.items() if k in prop.types), "other")
        if label is None:
            label = _promote(_phone_label_from_types(prop.types, prop.pref <= 100), assigned)
        assigned.add(label)
        phones.append(Phone(label, number))
    return phones


def _read_addresses(card: _Card) -> tuple[PostalAddress, ...]:
    found: list[tuple[int, PostalAddress]] = []
    for prop in card.all("ADR"):
        parts = [_text(p).strip() for p in _split(prop.value, ";")] + [""] * 7
        box, extended, street, city, region, code, country = parts[:7]
        street_lines = "\n".join(p for p in (street, extended, box) if p)
        if not any((street_lines, city, region, code, country)):
            continue
        label = _ADDRESS_LABEL_KEYS.get(_label_key(card.label(prop)))
        if label is None:
            types = prop.types
            label = "business" if "work" in types else "home" if "home" in types else "other"
        address = PostalAddress(
            label, street_lines or None, city or None, region or None, code or None, country or None
        )
        found.append((prop.pref, address))
    best = min((rank for rank, _ in found), default=101)
    mailing = next((i for i, (rank, _) in enumerate(found) if rank == best), None) if best <= 100 else None
    return tuple(attrs.evolve(a, mailing=True) if i == mailing else a for i, (_, a) in enumerate(found))


def _read_urls(card: _Card, fields: dict[str, Any]) -> None:
    personal: str | None = None
    websites: list[str] = []
    for prop in card.all("URL"):
        url = _text(prop.value).strip()
        if not url:
            continue
        key = _label_key(card.label(prop))
        if personal is None and (key in ("home", "personal", "personalhomepage") or (not key and "home" in prop.types)):
            personal = url
        else:
            websites.append(url)
    fields["personal_homepage"] = personal
    fields["websites"] = tuple(websites)


def _read_ims(card: _Card) -> tuple[str, ...]:
    found: list[str] = []
    for prop in card.all("IMPP", "X-MS-IMADDRESS", *_IM_SCHEMES):
        value = _text(prop.value).strip()
        scheme = _IM_SCHEMES.get(prop.name)
        if scheme and not value.lower().startswith(scheme + ":"):
            value = f"{scheme}:{value}"
        if value and value not in found:
            found.append(value)
    return tuple(found)


def _read_date(prop: _Prop | None, warnings: list[str]) -> dt.date | None:
    if prop is None:
        return None
    raw = _text(prop.value).strip()
    if not raw:
        return None
    match = _DATE.match(raw)
    value: dt.date | None = None
    if match and (prop.param("VALUE") or "date").lower() in ("date", "date-time", "date-and-or-time"):
        year, month, day, month_only, day_only = match.groups()
        try:
            if year is not None:
                value = dt.date(int(year), int(month), int(day))
                omit = (prop.param("X-APPLE-OMIT-YEAR") or "").strip()
                if omit.isdigit() and int(omit) == value.year:
                    value = value.replace(year=YEARLESS)
            else:
                value = dt.date(YEARLESS, int(month_only), int(day_only))
        except ValueError:
            value = None
    if value is None:
        warnings.append(f"{prop.name}: {raw[:40]!r} is not a date; left out")
    return value


def _anniversary(card: _Card, warnings: list[str]) -> dt.date | None:
    for name in ("ANNIVERSARY", "X-ANNIVERSARY", "X-MS-ANNIVERSARY", "X-EVOLUTION-ANNIVERSARY"):
        prop = card.first(name)
        if prop is not None:
            return _read_date(prop, warnings)
    for prop in card.all("X-ABDATE"):
        if _label_key(card.label(prop)) == "anniversary":
            return _read_date(prop, warnings)
    return None


def _read_related(card: _Card, fields: dict[str, Any], resolve: Resolver | None, warnings: list[str]) -> None:
    found: dict[str, list[str]] = {"manager": [], "assistant": [], "spouse": [], "child": []}
    for prop in card.all("RELATED", "X-ABRELATEDNAMES", *_RELATED_PROPS):
        if prop.name == "RELATED":
            kind = next((k for t, k in _RELATED_TYPES if t in prop.types), None)
            if kind is None:
                kinds = ",".join(sorted(prop.types)) or "no type"
                warnings.append(f"RELATED ({kinds}): no field in the contact; left out")
                continue
            name = _related_name(prop, resolve, warnings)
        elif prop.name == "X-ABRELATEDNAMES":
            kind = _APPLE_RELATED.get(_label_key(card.label(prop)))
            if kind is None:
                continue
            name = _text(prop.value)
        else:
            kind, name = _RELATED_PROPS[prop.name], _text(prop.value)
        if name.strip() and name not in found[kind]:
            found[kind].append(name)
    for kind, field in (("manager", "manager"), ("assistant", "assistant_name"), ("spouse", "spouse_name")):
        names = found[kind]
        fields[field] = names[0] if names else None
        if len(names) > 1:
            rest = ", ".join(map(repr, names[1:]))
            warnings.append(f"RELATED ({kind}): {len(names)} given, the first kept; {rest} left out")
    fields["children"] = tuple(found["child"])


def _related_name(prop: _Prop, resolve: Resolver | None, warnings: list[str]) -> str:
    value = _text(prop.value)
    if (prop.param("VALUE") or "").lower() == "text" or not _SCHEME.match(value.strip()):
        return value
    value = value.strip()
    if value.lower().startswith("mailto:"):
        return urllib.parse.unquote(value[7:].split("?", 1)[0])
    found = _resolve(resolve, value)
    if found is not None and (found[1] or found[0]):
        return found[1] or found[0]
    warnings.append(f"RELATED: {value[:80]!r} names no contact known here; left out")
    return ""


def _resolve(resolve: Resolver | None, ref: str) -> tuple[str, str] | None:
    if resolve is None:
        return None
    found = resolve(ref)
    if found is None and ref.lower().startswith("urn:uuid:"):
        found = resolve(ref[9:])
    return found


def _read_members(card: _Card, resolve: Resolver | None, warnings: list[str]) -> list[tuple[str, str]]:
    members: list[tuple[str, str]] = []
    seen: set[str] = set()
    for prop in card.all("MEMBER", "X-ADDRESSBOOKSERVER-MEMBER", _MEMBER_TEXT):
        name = prop.named("X-CN")
        if prop.name == _MEMBER_TEXT:
            text = _text(prop.value).strip()
            if text:
                members.append((text, name))
            continue
        ref = _text(prop.value).strip()
        if not ref or ref in seen:
            continue
        seen.add(ref)
        if ref.lower().startswith("mailto:"):
            address = urllib.parse.unquote(ref[7:].split("?", 1)[0])
        else:
            found = _resolve(resolve, ref)
            if found is not None and (found[0] or found[1]):
                address = found[0] or found[1]
                name = (found[1] if found[0] else "") or name
            elif prop.named("X-EMAIL"):
                address = prop.named("X-EMAIL")
            else:
                warnings.append(f"{prop.name}: member {ref[:80]!r} names no card of this address book; left out")
                continue
        if address:
            members.append((address, name))
    return members


def _b64(text: str) -> bytes:
    compact = re.sub(r"\s+", "", text)
    return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)


def _read_photo(card: _Card, warnings: list[str]) -> bytes | None:
    photos = card.all("PHOTO")
    for prop in photos:
        data = _photo_bytes(prop, warnings)
        if data is None:
            continue
        if _image_type(data) is None:
            warnings.append("PHOTO: not a JPEG, PNG, GIF, BMP, TIFF or WebP image; kept as it is")
        if len(photos) > 1:
            warnings.append(f"PHOTO: the card has {len(photos)} photos; the first readable one is kept")
        return data
    return None


def _photo_bytes(prop: _Prop, warnings: list[str]) -> bytes | None:
    encoding = (prop.param("ENCODING") or "").strip().lower()
    try:
        if encoding in ("b", "base64"):
            value = _text(prop.value).strip()
            if value.lower().startswith("data:"):  # InfCloud writes a data: URI with ENCODING=b
                value = value.partition(",")[2]
            return _b64(value) or None
        if encoding:
            warnings.append(f"PHOTO: encoding {encoding!r} is not base64; left out")
            return None
        value = _text(prop.value).strip()
        if value.lower().startswith("data:"):
            header, comma, payload = value[5:].partition(",")
            if not comma or not payload:
                warnings.append("PHOTO: the data: URI holds no data (cut off at its comma, as vobject does with "
                                "vCard 4.0 photos); left out")  # fmt: skip
                return None
            if header.lower().endswith(";base64"):
                return _b64(payload) or None
            return urllib.parse.unquote_to_bytes(payload) or None
        if _SCHEME.match(value):
            warnings.append(f"PHOTO: a photo given by address ({value[:80]}) is not fetched; left out")
            return None
        if value:
            data = _b64(value)  # some writers leave out ENCODING
            if _image_type(data) is not None:
                return data
        warnings.append("PHOTO: neither base64 data nor a URI; left out")
    except (binascii.Error, ValueError):
        warnings.append("PHOTO: broken base64 data; left out")
    return None


def _read_attachments(card: _Card, warnings: list[str]) -> tuple[Attachment, ...]:
    out: list[Attachment] = []
    for prop in card.all(_ATTACHMENT):
        name = prop.named("X-FILENAME") or "attachment"
        try:
            content = _b64(_text(prop.value))
        except (binascii.Error, ValueError):
            warnings.append(f"{_ATTACHMENT} ({name!r}): broken base64 data; left out")
            continue
        out.append(
            Attachment(
                name=name,
                content=content,
                content_type=prop.named("X-MEDIATYPE") or "application/octet-stream",
                is_inline=(prop.param("X-INLINE") or "").upper() == "TRUE",
                content_id=prop.named("X-CONTENT-ID") or None,
            )
        )
    return tuple(out)
