"""XML namespaces, element builders and value formatting shared by the EWS test server."""

from __future__ import annotations

import datetime as dt
import re
from typing import Optional

from lxml import etree

__all__ = [
    "SOAP",
    "TNS",
    "MNS",
    "ENS",
    "NSMAP",
    "T",
    "M",
    "S",
    "t_el",
    "m_el",
    "sub",
    "fmt_bool",
    "parse_bool",
    "fmt_datetime",
    "parse_datetime",
    "local",
    "utcnow",
]

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

#: Prefixes used in responses, as an Exchange server writes them.
NSMAP = {"s": SOAP, "m": MNS, "t": TNS}

def T(name: str) -> str:
    """The Clark name of ``name`` in the types namespace."""
    return f"{{{TNS}}}{name}"


def M(name: str) -> str:
    """The Clark name of ``name`` in the messages namespace."""
    return f"{{{MNS}}}{name}"


def S(name: str) -> str:
    """The Clark name of ``name`` in the SOAP envelope namespace."""
    return f"{{{SOAP}}}{name}"


def t_el(name: str, text: Optional[str] = None, **attrib: str) -> etree._Element:
    """A new element in the types namespace."""
    el: etree._Element = etree.Element(T(name), attrib) if attrib else etree.Element(T(name))
    if text is not None:
        el.text = xml_text(text)
    return el


def m_el(name: str, text: Optional[str] = None, **attrib: str) -> etree._Element:
    """A new element in the messages namespace."""
    el: etree._Element = etree.Element(M(name), attrib) if attrib else etree.Element(M(name))
    if text is not None:
        el.text = xml_text(text)
    return el


_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (Exchange drops them from
    properties derived from raw mail; the raw MIME itself is kept as it is)."""
    return _XML_UNSAFE.sub("", text) if _XML_UNSAFE.search(text) else text


def sub(parent: etree._Element, tag: str, text: Optional[str] = None, **attrib: str) -> etree._Element:
    """Append a child with Clark name ``tag`` (and optional text) to ``parent``."""
    el: etree._Element = etree.SubElement(parent, tag, attrib) if attrib else etree.SubElement(parent, tag)
    if text is not None:
        el.text = xml_text(text)
    return el


def local(tag: object) -> str:
    """The local part of a Clark name (comments and processing instructions give "")."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def fmt_bool(value: bool) -> str:
    """An XML boolean the way Exchange writes it (``true``/``false``)."""
    return "true" if value else "false"


def parse_bool(text: Optional[str], default: bool = False) -> bool:
    """Read an xs:boolean (``true``/``false``/``1``/``0``)."""
    if text is None:
        return default
    return text.strip().lower() in ("true", "1")


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def fmt_datetime(value: dt.datetime, fractional: bool = False) -> str:
    """Render an aware datetime as EWS does, in UTC with a ``Z`` suffix.

    With ``fractional`` the milliseconds are included (``2026-01-02T03:04:05.123Z``), as
    Exchange Online writes server-set timestamps.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if fractional:
        return f"{base}.{value.microsecond // 1000:03d}Z"
    return base + "Z"


def parse_datetime(text: str) -> dt.datetime:
    """Parse an xs:dateTime; values without a zone are taken as UTC."""
    text = text.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    # Python before 3.11 does not read every fraction length; normalize to microseconds.
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        text = f"{head}.{(digits + '000000')[:6]}{rest[i:]}"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value
