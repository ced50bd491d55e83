"""vCard 3.0 / 4.0 <-> :class:`~groupmigrate.items.Contact` (contacts and distribution lists).

Writing gives one vCard (UTF-8, CRLF line ends, lines folded at 75 octets, text values
escaped) for a CardDAV address book; reading takes a vCard as CardDAV servers and clients
write it (Apple, Google, Nextcloud, Outlook, Evolution; versions 2.1, 3.0 and 4.0) and
returns the neutral contact plus warnings for what could not be kept.

How vobject is used
-------------------
vobject is what Radicale parses and stores cards with, so it is the yardstick here: every
card written is parsed back with ``vobject.readOne`` and validated before it is returned
(a :class:`VCardError` otherwise). Lines are split, unfolded and their parameters, groups
(``item1.EMAIL``) and quoted-printable values decoded by vobject's content-line layer
(``vobject.base.getLogicalLines`` / ``textLineToContentLine``). vobject's *value* layer is
not used: it knows vCard 3.0 only and reads every text value as a comma-separated list,
keeping the first entry, so it cuts a text with an unescaped comma (vCard 2.1 NOTE, many
URLs) and a vCard 4.0 ``data:`` photo URI at their first comma; it also cannot write an ORG
whose fields hold commas. Values are escaped and unescaped here, per version.

A consequence for Radicale with vobject < 1.0 (which advertises vCard 3.0 only in
``supported-address-data``): Radicale re-serialises each card it stores through vobject. A
3.0 card written here survives that unchanged in meaning (every comma in a value is escaped,
the photo is ``ENCODING=b``). A 4.0 card loses its photo there (the ``data:`` URI is cut to
``data:image/png\\;base64``) and any URI value holding a comma; write 3.0 to such a server.
Reading such a mangled photo back gives a warning, never an error.

Field mapping
-------------
=========================  ==============================================  ==============================================
model field                vCard 3.0                                       vCard 4.0
=========================  ==============================================  ==============================================
(the ``uid`` argument)     UID                                             UID
display_name               FN                                              FN
(display_name None)        FN derived from name / company / file_as /      as 3.0
                           first e-mail, marked
                           ``X-GROUPMIGRATE-DERIVED=TRUE`` (read back as
                           None while FN still equals that derivation)
surname, given_name,       N (family;given;additional;-;suffix); always    N, written when a part or file_as is set
middle_name, generation    written (3.0 requires it); a list without
                           name parts gets ``N:<FN>;;;;`` (Apple style)
file_as                    SORT-STRING                                     SORT-AS parameter on N
nickname                   NICKNAME                                        NICKNAME
company, department        ORG (company;department)                        ORG
job_title / profession     TITLE / ROLE                                    TITLE / ROLE
emails, email_names        EMAIL;TYPE=INTERNET (first also PREF), in       EMAIL (first PREF=1); name in X-CN
                           order; the name in parameter X-CN (RFC 6868
                           ^-escapes)
phones                     TEL with TYPE by label (table below); a label   TEL with TYPE (table below)
                           TYPE cannot tell apart gets a grouped
                           ``itemN.X-ABLabel`` (Apple's custom label)
addresses                  ADR;TYPE=WORK / HOME / POSTAL (other); the      ADR;TYPE=work / home / none (other);
                           mailing one adds PREF to TYPE                   mailing one PREF=1
websites /                 URL;TYPE=WORK / URL;TYPE=HOME                   URL;TYPE=work / URL;TYPE=home
personal_homepage
birthday                   BDAY:YYYY-MM-DD                                 BDAY:YYYYMMDD
wedding_anniversary        X-ANNIVERSARY:YYYY-MM-DD                        ANNIVERSARY:YYYYMMDD
notes                      NOTE                                            NOTE
categories                 CATEGORIES                                      CATEGORIES
photo                      PHOTO;ENCODING=b;TYPE=JPEG/PNG/GIF/...          PHOTO:data:image/...;base64,...
                           (type from the bytes' signature)
im_addresses               IMPP (with a URI scheme, e.g. ``sip:``);        as 3.0
                           X-MS-IMADDRESS (a bare address)
manager                    X-MS-MANAGER                                    RELATED;TYPE=co-worker,x-manager;VALUE=text
assistant_name             X-MS-ASSISTANT                                  RELATED;TYPE=agent;VALUE=text
spouse_name                X-MS-SPOUSE                                     RELATED;TYPE=spouse;VALUE=text
children                   X-MS-CHILD, one per child, in order             RELATED;TYPE=child;VALUE=text, one each
office_location            X-MS-OFFICE                                     X-MS-OFFICE
initials                   X-GROUPMIGRATE-INITIALS                         X-GROUPMIGRATE-INITIALS
attachments                X-GROUPMIGRATE-ATTACHMENT;X-FILENAME=..;        as 3.0
                           X-MEDIATYPE=..[;X-CONTENT-ID=..][;X-INLINE=
                           TRUE]:<base64> (text value: survives vobject)
is_distribution_list       X-ADDRESSBOOKSERVER-KIND:group (Apple)          KIND:group
members, member_names      X-ADDRESSBOOKSERVER-MEMBER;X-CN=<name>:         MEMBER;X-CN=<name>:mailto:<address>, or
                           mailto:<address>, or ``urn:uuid:<UID>`` with    ``urn:uuid:<UID>`` with X-EMAIL as 3.0
                           X-EMAIL=<address> where ``member_uid`` names
                           a card; X-GROUPMIGRATE-MEMBER for a member
                           that is no address
(the ``stamp`` argument)   X-GROUPMIGRATE-PROVENANCE                       X-GROUPMIGRATE-PROVENANCE
=========================  ==============================================  ==============================================

Phone labels (TYPE values; "+ label" adds ``itemN.X-ABLabel`` with the label's name):

================  =======================  ==================
neutral label     vCard 3.0                vCard 4.0
================  =======================  ==================
business          WORK,VOICE               work,voice
business2         WORK,VOICE (+ label)     work,voice (+ label)
home              HOME,VOICE               home,voice
home2             HOME,VOICE (+ label)     home,voice (+ label)
mobile            CELL,VOICE               cell,voice
business_fax      WORK,FAX                 work,fax
home_fax          HOME,FAX                 home,fax
other_fax         FAX                      fax
pager             PAGER                    pager
car               CAR,VOICE                voice + label
other             VOICE                    voice
primary           VOICE,PREF               voice; PREF=1
assistant         VOICE + label            voice + label
company           WORK,VOICE + label       work,voice + label
callback          VOICE + label            voice + label
isdn              ISDN                     voice + label
radio             VOICE + label            voice + label
telex             (none) + label           (none) + label
tty               (none) + label           textphone
================  =======================  ==================

A label is written only where a reader could not get the neutral label back from TYPE; the
reader takes a known label first, TYPE otherwise, and reads a second plain work / home
number as business2 / home2 (so business2 and home2 carry a label only when no business /
home number comes before them). Labels outside this vocabulary are written as their text in
X-ABLabel with TYPE=VOICE and read back as ``other``; the aliases ``work``, ``cell``,
``fax``, ``main`` are written as business, mobile, business_fax, primary.

Reading also takes: ``TYPE=pref`` and ``PREF=n`` (the most preferred e-mail address comes
first; the most preferred address is the mailing one), lower-case and 2.1-style bare types
(``TEL;WORK;VOICE``), Apple's grouped labels (``_$!<Mobile>!$_`` ...), ``X-ABRELATEDNAMES``
and ``X-ABDATE`` (anniversary), ``BDAY;X-APPLE-OMIT-YEAR``, Outlook's ``X-MS-TEL``,
``X-MS-ANNIVERSARY``, ``X-MS-SPOUSE;N`` ..., Evolution's ``X-EVOLUTION-*`` (anniversary,
file-as, office, manager, assistant, spouse, lists), KAddressBook's names, ``X-AIM`` /
``X-JABBER`` / ``X-SKYPE`` ... as IM URIs, photos as ``data:`` URIs, with ``ENCODING=b`` or
``BASE64``, quoted-printable values, Windows-1252 or UTF-16 files. Google's system label
``myContacts`` is not taken as a category.

What is lost
------------
Nothing of the model, either version, written and read back here (the 3.0 card also after
vobject re-serialised it). The X- properties are ours or Outlook's: other clients do not show
them (most keep them when they edit the card); attachments and e-mail display names are
seen by this converter only. Reading foreign cards leaves out, with a warning: the N prefix
("Dr.", the model has no field for it; it is usually part of FN), a photo given by URL (not
fetched), an unreadable or cut photo, a date that is no date, RELATED kinds the model has no
field for (friend, parent ...), a second manager / assistant / spouse, an unresolvable
member or RELATED reference. Left out silently: LOGO, GEO, KEY, TZ, LANG, GENDER, LABEL,
e-mail types (work / home: the model's addresses carry none), phone labels outside the
vocabulary (read as their TYPE says), extra photos, vendor properties with no model field.
Folded into other fields: ORG units past the department (joined into it with ", "), the ADR
extended address and post-office box (appended to street, one per line), several NOTEs
(joined with a blank line). A birthday or anniversary without a year is kept with the year
1604 (Apple's convention) and written back without one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import io
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import attrs
import vobject

from groupmigrate.items import Attachment, Contact, Phone, PostalAddress

__all__ = [
    "PRODID",
    "STAMP_PROPERTY",
    "YEARLESS",
    "VCardError",
    "contact_to_vcard",
    "vcard_is_group",
    "vcard_member_refs",
    "vcard_stamp",
    "vcard_to_contact",
    "vcard_to_contact_with_warnings",
    "vcard_uid",
]

Resolver = Callable[[str], tuple[str, str] | None]

#: the PRODID of every card written here
PRODID = "-//groupmigrate//vCard converter//EN"
#: the property holding the provenance stamp
STAMP_PROPERTY = "X-GROUPMIGRATE-PROVENANCE"
#: the year a birthday or anniversary without a year is kept with (Apple's convention)
YEARLESS = 1604

_DERIVED = "X-GROUPMIGRATE-DERIVED"
_ATTACHMENT = "X-GROUPMIGRATE-ATTACHMENT"
_MEMBER_TEXT = "X-GROUPMIGRATE-MEMBER"
_INITIALS = "X-GROUPMIGRATE-INITIALS"
_FOLD_OCTETS = 75
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_UNESCAPE = re.compile(r"\\([\\,;:nN])")
_CARET = re.compile(r"\^([\^nN'])")
_DATE = re.compile(r"^(?:(\d{4})-?(\d{2})-?(\d{2})|--(\d{2})-?(\d{2}))(?:T[0-9:.,Z+\-]*)?$")


class VCardError(ValueError):
    """A card that cannot be written or is no vCard at all.

    The message names what is wrong (the property, the UID), never the whole card.
    """


# == writing ==================================================================================

# neutral phone label -> (vCard 3.0 TYPE values, vCard 4.0 TYPE values)
_TEL_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "business": (("WORK", "VOICE"), ("work", "voice")),
    "business2": (("WORK", "VOICE"), ("work", "voice")),
    "home": (("HOME", "VOICE"), ("home", "voice")),
    "home2": (("HOME", "VOICE"), ("home", "voice")),
    "mobile": (("CELL", "VOICE"), ("cell", "voice")),
    "business_fax": (("WORK", "FAX"), ("work", "fax")),
    "home_fax": (("HOME", "FAX"), ("home", "fax")),
    "other_fax": (("FAX",), ("fax",)),
    "pager": (("PAGER",), ("pager",)),
    "car": (("CAR", "VOICE"), ("voice",)),
    "other": (("VOICE",), ("voice",)),
    "primary": (("VOICE", "PREF"), ("voice",)),
    "assistant": (("VOICE",), ("voice",)),
    "company": (("WORK", "VOICE"), ("work", "voice")),
    "callback": (("VOICE",), ("voice",)),
    "isdn": (("ISDN",), ("voice",)),
    "radio": (("VOICE",), ("voice",)),
    "telex": ((), ()),
    "tty": ((), ("textphone",)),
}
# neutral phone label -> the label text written in X-ABLabel where TYPE cannot tell it
_TEL_LABEL_TEXT = {
    "business": "Business", "business2": "Business 2", "home": "Home", "home2": "Home 2",
    "mobile": "Mobile", "business_fax": "Business Fax", "home_fax": "Home Fax", "other_fax": "Other Fax",
    "pager": "Pager", "car": "Car", "other": "Other", "primary": "Primary", "assistant": "Assistant",
    "company": "Company", "callback": "Callback", "isdn": "ISDN", "radio": "Radio", "telex": "Telex",
    "tty": "TTY/TDD",
}  # fmt: skip
_PHONE_ALIASES = {"work": "business", "work2": "business2", "cell": "mobile", "fax": "business_fax", "main": "primary"}
_ADDRESS_ALIASES = {"work": "business"}


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


def _fold(line: str) -> str:
    """One content line folded at 75 octets (never inside a UTF-8 sequence), with CRLF."""
    data = line.encode("utf-8")
    if len(data) <= _FOLD_OCTETS:
        return line + "\r\n"
    chunks: list[bytes] = []
    start, limit = 0, _FOLD_OCTETS
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        chunks.append(data[start:end])
        start, limit = end, _FOLD_OCTETS - 1  # continuation lines start with a space
    return "\r\n ".join(chunk.decode("utf-8") for chunk in chunks) + "\r\n"


def _esc(text: str) -> str:
    """A text value escaped for both versions: backslash, comma, semicolon, line break."""
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _param(text: str) -> str:
    """A parameter value: RFC 6868 ^-escapes for ^, line breaks and double quotes, quoted
    where it holds , ; or : (vobject's rule)."""
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("^", "^^").replace("\n", "^n").replace('"', "^'")
    return str(vobject.base.dquoteEscape(text))


def _clean(value: str | None) -> str | None:
    """None for an empty or blank value, else the value."""
    return value if value is not None and value.strip() else None


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


#: leading bytes -> (vCard 3.0 TYPE, media type)
_IMAGE_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "JPEG", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "PNG", "image/png"),
    (b"GIF87a", "GIF", "image/gif"),
    (b"GIF89a", "GIF", "image/gif"),
    (b"BM", "BMP", "image/bmp"),
    (b"II*\x00", "TIFF", "image/tiff"),
    (b"MM\x00*", "TIFF", "image/tiff"),
)


def _image_type(data: bytes) -> tuple[str, str] | None:
    """(vCard 3.0 TYPE, media type) of image bytes by their signature, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP", "image/webp"
    for signature, short, media in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return short, media
    return None


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


# == reading ==================================================================================


@attrs.frozen(eq=False)
class _Prop:
    """One content line: upper-case name and parameter names, lower-case group, raw value
    (still escaped; quoted-printable already decoded by vobject)."""

    name: str
    group: str | None
    params: dict[str, list[str]]
    value: str
    number: int

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def named(self, name: str) -> str:
        """A parameter of ours (RFC 6868 ^-escapes decoded), "" when absent."""
        return _uncaret(",".join(self.params.get(name, ())))

    @property
    def types(self) -> frozenset[str]:
        out: set[str] = set()
        for value in self.params.get("TYPE", ()):
            out.update(t.strip().lower() for t in value.split(",") if t.strip())
        return frozenset(out)

    @property
    def pref(self) -> int:
        """1 (most preferred) to 100, 101 when not preferred."""
        rank = 1 if "pref" in self.types else 101
        value = (self.param("PREF") or "").strip()
        if value.isdigit():
            rank = min(rank, max(1, int(value)))
        return rank


@attrs.frozen(eq=False)
class _Card:
    version: str
    props: tuple[_Prop, ...]

    def all(self, *names: str) -> list[_Prop]:
        return [p for p in self.props if p.name in names]

    def first(self, *names: str) -> _Prop | None:
        return next((p for p in self.props if p.name in names), None)

    def label(self, prop: _Prop) -> str | None:
        """The Apple label (``itemN.X-ABLabel``) of a grouped property, or None."""
        if prop.group is None:
            return None
        for other in self.props:
            if other.group == prop.group and other.name == "X-ABLABEL":
                return _text(other.value).strip() or None
        return None


def _uncaret(text: str) -> str:
    return _CARET.sub(lambda m: {"^": "^", "n": "\n", "N": "\n", "'": '"'}[m.group(1)], text)


def _text(raw: str) -> str:
    """A text value unescaped (a comma not escaped stays a comma)."""
    if "\\" in raw:
        raw = _UNESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), raw)
    return raw.replace("\r\n", "\n")


def _split(raw: str, separator: str) -> list[str]:
    """``raw`` split at each separator not escaped; the pieces stay escaped."""
    pieces: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            current.append(raw[index : index + 2])
            index += 2
            continue
        if char == separator:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    pieces.append("".join(current))
    return pieces


def _decode(data: bytes, warnings: list[str]) -> str:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a vCard is bytes, not {type(data).__name__}")
    raw = bytes(data)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise VCardError(f"not a vCard: broken UTF-16 at byte {exc.start}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text, charset = raw.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        text, charset = raw.decode("latin-1"), "Latin-1"
    warnings.append(f"the card is not UTF-8: read as {charset}")
    return text


def _parse(data: bytes, warnings: list[str]) -> _Card:
    """The first vCard in ``data``, split into content lines by vobject."""
    text = _decode(data, warnings).replace("\r\n", "\n").replace("\r", "\n")
    props: list[_Prop] = []
    version = ""
    depth = 0
    started = ended = more = False
    for logical, number in vobject.base.getLogicalLines(io.StringIO(text), True):
        try:
            line: Any = vobject.base.textLineToContentLine(logical, number)
        except (vobject.base.VObjectError, ValueError, LookupError):
            if started and not ended and depth == 1:
                warnings.append(f"line {number}: not a vCard content line; left out")
            continue
        name = str(line.name).upper()
        value = str(line.value)
        if ended:
            if name == "BEGIN" and value.strip().upper() == "VCARD":
                more = True
                break
            continue
        if name == "BEGIN":
            if started:
                depth += 1  # an embedded card (vCard 2.1 AGENT): not this contact's
            elif value.strip().upper() == "VCARD":
                started, depth = True, 1
            continue
        if not started:
            continue
        if name == "END":
            depth -= 1
            ended = depth == 0
            continue
        if depth > 1:
            continue
        if name == "VERSION":
            version = _text(value).strip()
            continue
        params: dict[str, list[str]] = {}
        for key, values in line.params.items():
            params.setdefault(str(key).upper(), []).extend(str(v) for v in values)
        for single in line.singletonparams:  # vCard 2.1: TEL;WORK;VOICE, PHOTO;BASE64
            token = str(single).upper()
            if token in ("BASE64", "B"):
                params.setdefault("ENCODING", []).append("b")
            else:
                params.setdefault("TYPE", []).append(token)
        group = str(line.group).lower() if line.group else None
        props.append(_Prop(name, group, params, value, int(number or 0)))
    if not started:
        raise VCardError("not a vCard: no BEGIN:VCARD line")
    if not ended:
        warnings.append("END:VCARD is missing: read to the end of the data")
    if more:
        warnings.append("the data holds more than one vCard: only the first is read")
    return _Card(version or "3.0", tuple(props))


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


def _label_key(text: str | None) -> str:
    """A label reduced for matching: Apple's ``_$!<...>!$_`` unwrapped, lower case, letters
    and digits only."""
    if not text:
        return ""
    match = re.fullmatch(r"_\$!<(.*)>!\$_", text.strip())
    return re.sub(r"[^a-z0-9]", "", (match.group(1) if match else text).lower())


_PHONE_LABEL_KEYS = {
    **{_label_key(text): label for label, text in _TEL_LABEL_TEXT.items()},
    **{key: key for key in ("business2", "home2", "mobile", "pager", "car", "other", "primary", "assistant",
                            "company", "callback", "isdn", "radio", "telex", "tty")},
    "work": "business", "work2": "business2", "businessphone": "business", "businessphone2": "business2",
    "homephone": "home", "homephone2": "home2", "cell": "mobile", "iphone": "mobile", "mobilephone": "mobile",
    "workfax": "business_fax", "businessfax": "business_fax", "homefax": "home_fax", "otherfax": "other_fax",
    "carphone": "car", "main": "primary", "primaryphone": "primary", "assistantphone": "assistant",
    "companymain": "company", "companymainphone": "company", "radiophone": "radio", "ttytdd": "tty",
    "ttytddphone": "tty", "textphone": "tty", "othertelephone": "other",
}  # fmt: skip
_MS_TEL_TYPES = {
    "assistant": "assistant", "ttytdd": "tty", "callback": "callback", "radio": "radio", "company": "company",
}  # fmt: skip


def _phone_label_from_types(types: frozenset[str], preferred: bool) -> str:
    """The neutral label of a TEL line's TYPE values (lower case)."""
    if "fax" in types:
        return "business_fax" if "work" in types else "home_fax" if "home" in types else "other_fax"
    for type_, label in (("pager", "pager"), ("cell", "mobile"), ("iphone", "mobile"), ("mobile", "mobile"),
                         ("car", "car"), ("isdn", "isdn"), ("textphone", "tty"), ("tty", "tty"), ("main", "primary"),
                         ("work", "business"), ("home", "home")):  # fmt: skip
        if type_ in types:
            return label
    return "primary" if preferred else "other"


def _promote(label: str, assigned: set[str]) -> str:
    """A second plain business / home number is business2 / home2."""
    return f"{label}2" if label in ("business", "home") and label in assigned else label


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


_ADDRESS_LABEL_KEYS = {"work": "business", "business": "business", "home": "home", "other": "other"}


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


_IM_SCHEMES = {
    "X-AIM": "aim", "X-ICQ": "icq", "X-JABBER": "xmpp", "X-GOOGLE-TALK": "xmpp", "X-GTALK": "xmpp",
    "X-MSN": "msnim", "X-YAHOO": "ymsgr", "X-SKYPE": "skype", "X-SKYPE-USERNAME": "skype",
    "X-GADUGADU": "gg", "X-GROUPWISE": "groupwise", "X-QQ": "qq", "X-SIP": "sip", "X-MATRIX": "matrix",
}  # fmt: skip


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


_RELATED_TYPES = (
    ("x-manager", "manager"), ("manager", "manager"), ("agent", "assistant"), ("x-assistant", "assistant"),
    ("assistant", "assistant"), ("spouse", "spouse"), ("child", "child"),
)  # fmt: skip
_RELATED_PROPS = {
    "X-MS-MANAGER": "manager", "X-EVOLUTION-MANAGER": "manager", "X-KADDRESSBOOK-X-MANAGERSNAME": "manager",
    "X-MANAGER": "manager", "X-MS-ASSISTANT": "assistant", "X-EVOLUTION-ASSISTANT": "assistant",
    "X-KADDRESSBOOK-X-ASSISTANTSNAME": "assistant", "X-ASSISTANT": "assistant", "X-MS-SPOUSE": "spouse",
    "X-EVOLUTION-SPOUSE": "spouse", "X-KADDRESSBOOK-X-SPOUSESNAME": "spouse", "X-SPOUSE": "spouse",
    "X-MS-CHILD": "child", "X-CHILD": "child",
}  # fmt: skip
_APPLE_RELATED = {"manager": "manager", "assistant": "assistant", "spouse": "spouse", "partner": "spouse",
                  "child": "child", "son": "child", "daughter": "child"}  # fmt: skip


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
