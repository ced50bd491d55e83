"""Writing a :class:`~groupmigrate.items.Contact` as a vCard 3.0 or 4.0 (see :mod:`.vcard` for
the field table); every card written is checked with vobject before it is returned.
"""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import vobject

from groupmigrate.backends.dav.vcard_text import (
    _ATTACHMENT, _CONTROL, _DERIVED, _INITIALS, _MEMBER_TEXT, _SCHEME, PRODID, STAMP_PROPERTY, YEARLESS, VCardError,
    _clean, _esc, _fold, _param,
)  # fmt: skip
from groupmigrate.backends.dav.vcard_types import (
    _ADDRESS_ALIASES, _PHONE_ALIASES, _PHONE_LABEL_KEYS, _TEL_LABEL_TEXT, _TEL_TYPES, _image_type, _label_key,
    _phone_label_from_types, _promote,
)  # fmt: skip
from groupmigrate.items import Contact, Phone, PostalAddress

__all__ = ["contact_to_vcard"]


def contact_to_vcard(
    contact: Contact,
    *,
    uid: str,
    version: Literal["3.0", "4.0"] = "3.0",
    stamp: str | None = None,
    group_style: Literal["kind", "apple"] | None = None,
    member_uid: Callable[[str], str | None] | None = None,
) -> bytes:
    """The vCard of ``contact`` (UTF-8 bytes, CRLF line ends).

    Args:
        contact: the contact or distribution list.
        uid: the card's UID (the model keeps none for contacts); also its identity on the
            server, so the backend chooses it.
        version: ``"3.0"`` (what every CardDAV server takes; Radicale with vobject < 1.0
            keeps 3.0 only intact) or ``"4.0"``.
        stamp: the provenance stamp, written as ``X-GROUPMIGRATE-PROVENANCE``.
        group_style: how a distribution list is marked: ``"kind"`` (``KIND:group`` +
            ``MEMBER``, RFC 6350), ``"apple"`` (``X-ADDRESSBOOKSERVER-KIND:group`` +
            ``X-ADDRESSBOOKSERVER-MEMBER``, the 3.0 form Apple Contacts and its server,
            DAVx5, Cyrus and Zimbra use); None picks by version (4.0 kind, 3.0 apple). One
            form only is written: a reader knowing both (DAVx5, Cyrus) would otherwise see
            each member twice.
        member_uid: for a list, the UID of the card in the same address book standing for
            a member address, or None; such a member is written as ``urn:uuid:<UID>``
            (the only form Apple Contacts shows) with the address in ``X-EMAIL``, the
            others as ``mailto:`` URIs.

    Raises:
        VCardError: ``uid`` is empty or holds a line break, or ``version`` is unknown.
    """
    if version not in ("3.0", "4.0"):
        raise VCardError(f"vCard {uid!r}: version {version!r} is neither 3.0 nor 4.0")
    if not uid or not uid.strip() or _CONTROL.search(uid) or "\n" in uid or "\r" in uid:
        raise VCardError(f"vCard UID {uid!r}: must be non-empty text on one line")
    v4 = version == "4.0"
    style = group_style or ("kind" if v4 else "apple")
    if style not in ("kind", "apple"):
        raise VCardError(f"vCard {uid!r}: group style {style!r} is neither 'kind' nor 'apple'")
    w = _Writer(version)
    w.add("VERSION", version)
    w.add("PRODID", _esc(PRODID))
    w.add("UID", _esc(uid))
    if contact.is_distribution_list:
        w.add("KIND" if style == "kind" else "X-ADDRESSBOOKSERVER-KIND", "group")

    display = _clean(contact.display_name)
    fn = display if display is not None else _derived_fn(contact)
    w.add("FN", _esc(fn), [] if display is not None else [(_DERIVED, ["TRUE"])])
    _write_name(w, contact, fn)
    if _clean(contact.nickname):
        w.add("NICKNAME", _esc(contact.nickname or ""))
    company, department = _clean(contact.company), _clean(contact.department)
    if company or department:
        w.add("ORG", _esc(company or "") + (";" + _esc(department) if department else ""))
    for name, value in (("TITLE", contact.job_title), ("ROLE", contact.profession)):
        if _clean(value):
            w.add(name, _esc(value or ""))

    for index, (address, name) in enumerate((a, n) for a, n in contact.named_emails if a.strip()):
        params: list[tuple[str, list[str]]] = []
        if v4:
            if index == 0:
                params.append(("PREF", ["1"]))
        else:
            params.append(("TYPE", ["INTERNET", "PREF"] if index == 0 else ["INTERNET"]))
        if name:
            params.append(("X-CN", [_param(name)]))
        w.add("EMAIL", _esc(address), params)
    _write_phones(w, contact.phones)
    _write_addresses(w, contact.addresses)
    for site in contact.websites:
        w.add("URL", w.uri(site), [("TYPE", ["work" if v4 else "WORK"])])
    if _clean(contact.personal_homepage):
        w.add("URL", w.uri(contact.personal_homepage or ""), [("TYPE", ["home" if v4 else "HOME"])])
    for im in contact.im_addresses:
        if _SCHEME.match(im) and not any(c.isspace() for c in im):
            w.add("IMPP", w.uri(im))
        elif im.strip():
            w.add("X-MS-IMADDRESS", _esc(im))
    if contact.birthday is not None:
        w.add("BDAY", *_date_value(contact.birthday, v4))
    if contact.wedding_anniversary is not None:
        w.add("ANNIVERSARY" if v4 else "X-ANNIVERSARY", *_date_value(contact.wedding_anniversary, v4))
    _write_related(w, contact)
    if _clean(contact.office_location):
        w.add("X-MS-OFFICE", _esc(contact.office_location or ""))
    if _clean(contact.initials):
        w.add(_INITIALS, _esc(contact.initials or ""))
    if contact.notes:
        w.add("NOTE", _esc(contact.notes))
    categories = [c for c in contact.categories if c.strip()]
    if categories:
        w.add("CATEGORIES", ",".join(_esc(c) for c in categories))
    if contact.is_distribution_list:
        _write_members(w, contact, style, member_uid)
    if contact.photo:
        _write_photo(w, contact.photo)
    for attachment in contact.attachments:
        params = [("X-FILENAME", [_param(attachment.name)]), ("X-MEDIATYPE", [_param(attachment.content_type)])]
        if attachment.content_id:
            params.append(("X-CONTENT-ID", [_param(attachment.content_id)]))
        if attachment.is_inline:
            params.append(("X-INLINE", ["TRUE"]))
        w.add(_ATTACHMENT, base64.b64encode(attachment.content).decode("ascii"), params)
    if stamp:
        w.add(STAMP_PROPERTY, _esc(stamp))
    text = w.render()
    _check_with_vobject(text, uid)
    return text.encode("utf-8")


class _Writer:
    """Content lines of one card, in the order added; folded when rendered."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.lines: list[str] = []
        self._groups = 0

    def add(
        self, name: str, value: str, params: Iterable[tuple[str, Sequence[str]]] = (), group: str | None = None
    ) -> None:
        head = f"{group}.{name}" if group else name
        parts = [head] + [f"{key}={','.join(values)}" for key, values in params if values]
        self.lines.append(";".join(parts) + ":" + value)

    def group(self) -> str:
        self._groups += 1
        return f"item{self._groups}"

    def uri(self, value: str) -> str:
        """A URI value: as it is in 4.0; in 3.0 with backslash and comma escaped, as vobject
        (and so Radicale) reads every value as a comma-separated list."""
        value = _CONTROL.sub("", value).replace("\r", "").replace("\n", "")
        if self.version == "4.0":
            return value
        return value.replace("\\", "\\\\").replace(",", "\\,")

    def render(self) -> str:
        return "".join(_fold(line) for line in ("BEGIN:VCARD", *self.lines, "END:VCARD"))


def _derived_fn(contact: Contact) -> str:
    """The FN a card gets when the contact has no display name (vCard requires FN)."""
    person = " ".join(p for p in (contact.given_name, contact.middle_name, contact.surname) if p and p.strip())
    return person or _clean(contact.company) or _clean(contact.file_as) or (contact.emails[0] if contact.emails else "")


def _write_name(w: _Writer, contact: Contact, fn: str) -> None:
    parts = (contact.surname, contact.given_name, contact.middle_name, None, contact.generation)
    has_name = any(_clean(p) for p in parts)
    file_as = _clean(contact.file_as)
    if not has_name and contact.is_distribution_list and w.version == "3.0":
        parts = (fn, None, None, None, None)  # Apple names a group card after the group
    value = ";".join(_esc(p or "") for p in parts)
    if w.version == "4.0":
        if has_name or file_as:
            w.add("N", value, [("SORT-AS", [_param(file_as)])] if file_as else [])
        return
    w.add("N", value)
    if file_as:
        w.add("SORT-STRING", _esc(file_as))


def _write_phones(w: _Writer, phones: Sequence[Phone]) -> None:
    v4 = w.version == "4.0"
    assigned: set[str] = set()
    for phone in phones:
        given = phone.label.strip().lower()
        label = _PHONE_ALIASES.get(given, given)
        types3, types4 = _TEL_TYPES.get(label, (("VOICE",), ("voice",)))
        types = types4 if v4 else types3
        preferred = label == "primary"
        params: list[tuple[str, list[str]]] = []
        if v4 and preferred:
            params.append(("PREF", ["1"]))
        if types:
            params.append(("TYPE", list(types)))
        lowered = frozenset(t.lower() for t in types)
        read_as = _promote(_phone_label_from_types(lowered, preferred or "pref" in lowered), assigned)
        if read_as == label:
            w.add("TEL", _esc(phone.number), params)
        else:
            text = _TEL_LABEL_TEXT.get(label, phone.label)
            group = w.group()
            w.add("TEL", _esc(phone.number), params, group=group)
            w.add("X-ABLabel", _esc(text), group=group)
            # a label outside the vocabulary is read back by its TYPE (as "other")
            label = _PHONE_LABEL_KEYS.get(_label_key(text)) or read_as
        assigned.add(label)


def _write_addresses(w: _Writer, addresses: Sequence[PostalAddress]) -> None:
    v4 = w.version == "4.0"
    for address in addresses:
        given = address.label.strip().lower()
        label = _ADDRESS_ALIASES.get(given, given)
        if v4:
            types = {"business": ["work"], "home": ["home"]}.get(label, [])
        else:
            types = {"business": ["WORK"], "home": ["HOME"]}.get(label, ["POSTAL"])
        params: list[tuple[str, list[str]]] = []
        if address.mailing:
            if v4:
                params.append(("PREF", ["1"]))
            else:
                types = [*types, "PREF"]
        if types:
            params.append(("TYPE", types))
        fields = ("", "", address.street, address.city, address.state, address.postal_code, address.country)
        w.add("ADR", ";".join(_esc(f or "") for f in fields), params)


def _write_related(w: _Writer, contact: Contact) -> None:
    people: list[tuple[str, str | None, str]] = [
        ("co-worker,x-manager", contact.manager, "X-MS-MANAGER"),
        ("agent", contact.assistant_name, "X-MS-ASSISTANT"),
        ("spouse", contact.spouse_name, "X-MS-SPOUSE"),
    ]
    people += [("child", child, "X-MS-CHILD") for child in contact.children]
    for related_type, name, x_name in people:
        if not _clean(name):
            continue
        if w.version == "4.0":
            w.add("RELATED", _esc(name or ""), [("TYPE", related_type.split(",")), ("VALUE", ["text"])])
        else:
            w.add(x_name, _esc(name or ""))


def _write_members(
    w: _Writer, contact: Contact, style: str, member_uid: Callable[[str], str | None] | None
) -> None:
    prop = "MEMBER" if style == "kind" else "X-ADDRESSBOOKSERVER-MEMBER"
    names = contact.member_names or ("",) * len(contact.members)
    for member, name in zip(contact.members, names):
        params: list[tuple[str, list[str]]] = [("X-CN", [_param(name)])] if name else []
        card_uid = member_uid(member) if member_uid is not None else None
        if card_uid:
            ref = card_uid if card_uid.lower().startswith("urn:uuid:") else f"urn:uuid:{card_uid}"
            w.add(prop, w.uri(ref), [*params, ("X-EMAIL", [_param(member)])])
        elif _is_reference(member):
            w.add(prop, w.uri(member), params)
        elif "@" in member:
            w.add(prop, w.uri("mailto:" + urllib.parse.quote(member.strip(), safe="@!$&'()*+=-._~")), params)
        elif member.strip():
            w.add(_MEMBER_TEXT, _esc(member), params)


_REFERENCE_SCHEMES = ("mailto", "urn", "http", "https", "sip", "tel", "xmpp", "ldap", "ldaps", "cid", "mid")


def _is_reference(member: str) -> bool:
    """Whether a list member is already a URI reference (``urn:uuid:...``, ``mailto:...``)."""
    scheme, colon, rest = member.partition(":")
    return bool(colon and rest) and scheme.lower() in _REFERENCE_SCHEMES and not any(c.isspace() for c in member)


def _write_photo(w: _Writer, photo: bytes) -> None:
    kind = _image_type(photo)
    encoded = base64.b64encode(photo).decode("ascii")
    if w.version == "4.0":
        w.add("PHOTO", f"data:{kind[1] if kind else 'application/octet-stream'};base64,{encoded}")
    else:
        w.add("PHOTO", encoded, [("ENCODING", ["b"]), *([("TYPE", [kind[0]])] if kind else [])])


def _date_value(value: dt.date, v4: bool) -> tuple[str, list[tuple[str, list[str]]]]:
    if value.year == YEARLESS:
        if v4:
            return f"--{value.month:02d}{value.day:02d}", []
        return value.isoformat(), [("X-APPLE-OMIT-YEAR", [str(YEARLESS)])]
    if v4:
        return f"{value.year:04d}{value.month:02d}{value.day:02d}", []
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}", []


def _check_with_vobject(text: str, uid: str) -> None:
    """Raise VCardError unless vobject (what Radicale parses with) reads and validates ``text``."""
    try:
        card = vobject.readOne(text)
        card.validate(raiseException=True)
    except Exception as exc:  # vobject raises a variety of errors
        raise VCardError(f"vCard {uid!r}: vobject rejects the written card: {str(exc)[:160]}") from exc
