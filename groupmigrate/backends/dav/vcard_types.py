"""The vocabularies reading and writing a vCard share: phone and address labels and the TYPE
values standing for them, instant-messaging and related-people properties, image signatures
(see :mod:`.vcard` for the tables).
"""

from __future__ import annotations

import re

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


_ADDRESS_LABEL_KEYS = {"work": "business", "business": "business", "home": "home", "other": "other"}


_IM_SCHEMES = {
    "X-AIM": "aim", "X-ICQ": "icq", "X-JABBER": "xmpp", "X-GOOGLE-TALK": "xmpp", "X-GTALK": "xmpp",
    "X-MSN": "msnim", "X-YAHOO": "ymsgr", "X-SKYPE": "skype", "X-SKYPE-USERNAME": "skype",
    "X-GADUGADU": "gg", "X-GROUPWISE": "groupwise", "X-QQ": "qq", "X-SIP": "sip", "X-MATRIX": "matrix",
}  # fmt: skip


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
