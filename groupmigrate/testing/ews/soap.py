"""The SOAP layer: reading request envelopes, writing responses and faults as Exchange does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

import attrs
from lxml import etree

from groupmigrate.testing.ews.xmlns import ENS, MNS, NSMAP, SOAP, TNS, M, S, T, local, sub

__all__ = [
    "Envelope",
    "SoapFault",
    "ResponseError",
    "parse_envelope",
    "response_envelope",
    "fault_envelope",
    "response_message",
    "error_message",
    "schema_fault",
]

_PARSER = etree.XMLParser(
    huge_tree=True, resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
)
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XSD = "http://www.w3.org/2001/XMLSchema"


class SoapFault(Exception):
    """Answer the whole request with a SOAP fault (HTTP 500), as Exchange does for request-level errors.

    Attributes:
        code: the EWS response code, e.g. ``ErrorSchemaValidation``.
        message: the human-readable text.
        message_xml: optional ``t:MessageXml`` children (e.g. ``BackOffMilliseconds``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        message_xml: Optional[list[etree._Element]] = None,
        faultstring: Optional[str] = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.message_xml = message_xml or []
        self.faultstring = faultstring or message


class ResponseError(Exception):
    """An error for one response message (one item, folder, id...) of an operation."""

    def __init__(self, code: str, text: str, message_xml: Optional[list[etree._Element]] = None) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
        self.message_xml = message_xml or []


@attrs.define
class Envelope:
    """A parsed request: its SOAP header children and the operation element of the body."""

    headers: dict[str, etree._Element]
    operation: etree._Element
    line_of_body: int = 0

    @property
    def name(self) -> str:
        return local(self.operation.tag)

    def header(self, name: str) -> Optional[etree._Element]:
        return self.headers.get(name)


def schema_fault(line: int, column: int, violation: str) -> SoapFault:
    """The fault Exchange answers a request that does not match its schema with."""
    mx = [
        _t("LineNumber", str(line)),
        _t("LinePosition", str(column)),
        _t("Violation", violation),
    ]
    return SoapFault(
        "ErrorSchemaValidation",
        "The request failed schema validation.",
        mx,
        faultstring=f"The request failed schema validation: {violation}",
    )


def _t(name: str, text: str) -> etree._Element:
    el = etree.Element(T(name))
    el.text = text
    return el


def parse_envelope(body: bytes) -> Envelope:
    """Parse a request body; raise :class:`SoapFault` when it is not a SOAP 1.1 envelope."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise schema_fault(line, column, str(exc.msg)) from None
    if root.tag != S("Envelope"):
        raise schema_fault(root.sourceline or 1, 1, f"The root element {local(root.tag)!r} is not a SOAP 1.1 Envelope.")
    headers: dict[str, etree._Element] = {}
    body_el: Optional[etree._Element] = None
    for child in root:
        if child.tag == S("Header"):
            for h in child:
                if isinstance(h.tag, str) and h.tag.startswith(f"{{{TNS}}}"):
                    headers[local(h.tag)] = h
        elif child.tag == S("Body"):
            body_el = child
    if body_el is None:
        raise schema_fault(root.sourceline or 1, 1, "The SOAP envelope has no Body.")
    ops = [c for c in body_el if isinstance(c.tag, str)]
    if len(ops) != 1:
        raise SoapFault("ErrorInvalidRequest", "The request is invalid.")
    return Envelope(headers=headers, operation=ops[0], line_of_body=body_el.sourceline or 0)


def _server_version_info(info: dict[str, str]) -> etree._Element:
    el = etree.Element(T("ServerVersionInfo"), nsmap={"h": TNS, None: TNS, "xsd": _XSD, "xsi": _XSI})
    for key in ("MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber", "Version"):
        if info.get(key):
            el.set(key, info[key])
    return el


def response_envelope(operation: str, messages: Iterable[etree._Element], version_info: dict[str, str]) -> bytes:
    """Serialize ``<m:{operation}Response><m:ResponseMessages>...`` with the version header."""
    env = etree.Element(S("Envelope"), nsmap={"s": SOAP})
    header = sub(env, S("Header"))
    header.append(_server_version_info(version_info))
    body = etree.SubElement(env, S("Body"), nsmap={"xsi": _XSI, "xsd": _XSD})
    resp = etree.SubElement(body, M(f"{operation}Response"), nsmap={"m": MNS, "t": TNS})
    container = sub(resp, M("ResponseMessages"))
    for msg in messages:
        container.append(msg)
    data: bytes = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    return data


def bare_response_envelope(response: etree._Element, version_info: dict[str, str]) -> bytes:
    """Serialize a response element that has no ResponseMessages list (e.g. GetServerTimeZones has one)."""
    env = etree.Element(S("Envelope"), nsmap={"s": SOAP})
    header = sub(env, S("Header"))
    header.append(_server_version_info(version_info))
    body = etree.SubElement(env, S("Body"), nsmap={"xsi": _XSI, "xsd": _XSD})
    body.append(response)
    data: bytes = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    return data


def fault_envelope(fault: SoapFault, version_info: Optional[dict[str, str]] = None) -> bytes:
    """Serialize a SOAP fault as Exchange writes it (``a:`` code, ``e:`` detail, ``t:MessageXml``)."""
    env = etree.Element(S("Envelope"), nsmap={"s": SOAP})
    if version_info:
        header = sub(env, S("Header"))
        header.append(_server_version_info(version_info))
    body = sub(env, S("Body"))
    f = sub(body, S("Fault"))
    code = etree.SubElement(f, "faultcode", nsmap={"a": TNS})
    code.text = f"a:{fault.code}"
    fs = sub(f, "faultstring", fault.faultstring)
    fs.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    detail = sub(f, "detail")
    rc = etree.SubElement(detail, f"{{{ENS}}}ResponseCode", nsmap={"e": ENS})
    rc.text = fault.code
    msg = etree.SubElement(detail, f"{{{ENS}}}Message", nsmap={"e": ENS})
    msg.text = fault.message
    if fault.message_xml:
        mx = etree.SubElement(detail, T("MessageXml"), nsmap={"t": TNS})
        for child in fault.message_xml:
            mx.append(child)
    data: bytes = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    return data


def response_message(operation: str, response_class: str = "Success", code: str = "NoError") -> etree._Element:
    """A ``<m:{operation}ResponseMessage>`` with class and code; callers append the payload."""
    el = etree.Element(M(f"{operation}ResponseMessage"), ResponseClass=response_class, nsmap=NSMAP)
    sub(el, M("ResponseCode"), code)
    return el


def error_message(
    operation: str,
    error: ResponseError,
    empty_container: Optional[str] = None,
    response_class: str = "Error",
) -> etree._Element:
    """A failed response message, in schema order: MessageText, ResponseCode, DescriptiveLinkKey, MessageXml."""
    el = etree.Element(M(f"{operation}ResponseMessage"), ResponseClass=response_class, nsmap=NSMAP)
    sub(el, M("MessageText"), error.text)
    sub(el, M("ResponseCode"), error.code)
    sub(el, M("DescriptiveLinkKey"), "0")
    if error.message_xml:
        mx = sub(el, M("MessageXml"))
        for child in error.message_xml:
            mx.append(child)
    if empty_container:
        sub(el, M(empty_container))
    return el
