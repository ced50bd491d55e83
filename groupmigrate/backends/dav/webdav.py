"""The WebDAV XML this backend speaks: request bodies and multistatus answers (lxml).

Request bodies for PROPFIND, PROPPATCH, MKCALENDAR (RFC 4791), extended MKCOL (RFC 5689),
calendar-query / calendar-multiget (RFC 4791), addressbook-multiget (RFC 6352) and
sync-collection (RFC 6578); answers are read into :class:`DavResponse` objects, one per
``DAV:response``. Server XML is parsed without entity expansion or network access.

Hrefs are kept in one normal form (:func:`normal_href`: the path, percent-encoded the same
way whatever the server sent), so that an href is an item's stable id.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from lxml import etree

__all__ = [
    "APPLE",
    "CALDAV",
    "CARDDAV",
    "CS",
    "DAV",
    "INF",
    "DavResponse",
    "calendar_query_body",
    "error_condition",
    "mkcalendar_body",
    "mkcol_addressbook_body",
    "multiget_body",
    "normal_href",
    "parse_multistatus",
    "propfind_body",
    "proppatch_body",
    "qname",
    "sync_collection_body",
]

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
APPLE = "http://apple.com/ns/ical/"
CS = "http://calendarserver.org/ns/"
#: the namespace of ``addressbook-color``, the colour of an address book (InfCloud; Radicale's web UI)
INF = "http://inf-it.com/ns/ab/"
_NSMAP = {"d": DAV, "c": CALDAV, "cr": CARDDAV, "a": APPLE, "cs": CS, "inf": INF}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)
_STATUS = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})")
#: characters an href keeps unencoded (RFC 3986 pchar and "/")
_SAFE = "/:@!$&'()*+,;=-._~"


def qname(namespace: str, name: str) -> str:
    """The Clark notation ``{namespace}name`` lxml uses."""
    return f"{{{namespace}}}{name}"


def normal_href(href: str) -> str:
    """The path of ``href`` (an absolute URL or a path) in one percent-encoding."""
    path = urllib.parse.urlsplit(href.strip()).path or "/"
    return urllib.parse.quote(urllib.parse.unquote(path), safe=_SAFE)


def _element(tag: str, parent: Any = None, text: str | None = None) -> Any:
    prefix, _, name = tag.partition(":")
    el = etree.Element(qname(_NSMAP[prefix], name), nsmap=_NSMAP) if parent is None else etree.SubElement(parent, qname(_NSMAP[prefix], name))
    if text is not None:
        el.text = text
    return el


def _bytes(root: Any) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return data


def _props(parent: Any, props: Iterable[str]) -> None:
    prop = _element("d:prop", parent)
    for name in props:
        _element(name, prop)


def propfind_body(props: Iterable[str]) -> bytes:
    """A PROPFIND asking for ``props`` (``"d:getetag"``, ``"c:calendar-home-set"``...)."""
    root = _element("d:propfind")
    _props(root, props)
    return _bytes(root)


def proppatch_body(values: Mapping[str, str]) -> bytes:
    """A PROPPATCH setting each property in ``values`` to a text."""
    root = _element("d:propertyupdate")
    prop = _element("d:prop", _element("d:set", root))
    for name, value in values.items():
        _element(name, prop, value)
    return _bytes(root)


def mkcalendar_body(display_name: str, component: str, color: str | None = None) -> bytes:
    """An MKCALENDAR body: a calendar collection holding ``component`` items only, shown as
    ``display_name`` in ``color`` (Apple's ``calendar-color``) when given."""
    root = _element("c:mkcalendar")
    prop = _element("d:prop", _element("d:set", root))
    _element("d:displayname", prop, display_name)
    if color:
        _element("a:calendar-color", prop, color)
    components = _element("c:supported-calendar-component-set", prop)
    _element("c:comp", components).set("name", component)
    return _bytes(root)


def mkcol_addressbook_body(display_name: str, color: str | None = None) -> bytes:
    """An extended MKCOL body (RFC 5689) making an address book shown as ``display_name``, in
    ``color`` (``addressbook-color``) when given."""
    root = _element("d:mkcol")
    prop = _element("d:prop", _element("d:set", root))
    kind = _element("d:resourcetype", prop)
    _element("d:collection", kind)
    _element("cr:addressbook", kind)
    _element("d:displayname", prop, display_name)
    if color:
        _element("inf:addressbook-color", prop, color)
    return _bytes(root)


def multiget_body(addressbook: bool, hrefs: Sequence[str]) -> bytes:
    """A calendar-multiget or addressbook-multiget REPORT for ``hrefs`` with their data and ETags."""
    root = _element("cr:addressbook-multiget" if addressbook else "c:calendar-multiget")
    _props(root, ("d:getetag", "cr:address-data" if addressbook else "c:calendar-data"))
    for href in hrefs:
        _element("d:href", root, href)
    return _bytes(root)


def calendar_query_body(component: str, props: Iterable[str]) -> bytes:
    """A calendar-query REPORT for the resources holding a ``component`` (VEVENT, VTODO...)."""
    root = _element("c:calendar-query")
    _props(root, props)
    outer = _element("c:comp-filter", _element("c:filter", root))
    outer.set("name", "VCALENDAR")
    _element("c:comp-filter", outer).set("name", component)
    return _bytes(root)


def sync_collection_body(token: str | None, props: Iterable[str]) -> bytes:
    """A sync-collection REPORT (RFC 6578): every member when ``token`` is None, else what
    changed since it."""
    root = _element("d:sync-collection")
    _element("d:sync-token", root, token or None)
    _element("d:sync-level", root, "1")
    _props(root, props)
    return _bytes(root)


@attrs.frozen
class DavResponse:
    """One ``DAV:response`` of a multistatus answer.

    Attributes:
        href: the resource, in :func:`normal_href` form.
        status: the response's own status (a multiget's 404 for an href gone, a
            sync-collection's 404 for a deleted member), else None.
        props: the properties found (status 2xx), by Clark name, as lxml elements.
    """

    href: str
    status: int | None
    props: Mapping[str, Any]

    def text(self, name: str) -> str | None:
        el = self.props.get(name)
        if el is None:
            return None
        value = "".join(el.itertext()).strip()
        return value or None

    def hrefs(self, name: str) -> list[str]:
        el = self.props.get(name)
        if el is None:
            return []
        return [normal_href(h.text) for h in el.iter(qname(DAV, "href")) if h.text and h.text.strip()]

    def has(self, name: str) -> bool:
        return name in self.props

    @property
    def gone(self) -> bool:
        return self.status == 404


def _status(text: str | None) -> int | None:
    match = _STATUS.match((text or "").strip())
    return int(match.group(1)) if match else None


def parse(data: bytes) -> Any:
    """The root element of an XML answer; ValueError when it is not XML."""
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not XML ({exc})") from None


def parse_multistatus(data: bytes) -> tuple[list[DavResponse], str | None]:
    """The responses of a 207 answer, and its ``DAV:sync-token`` (sync-collection) if any.

    Raises:
        ValueError: the answer is not a DAV multistatus.
    """
    root = parse(data)
    if root.tag != qname(DAV, "multistatus"):
        raise ValueError(f"not a DAV multistatus but {etree.QName(root).localname!r}")
    out: list[DavResponse] = []
    for response in root.iterchildren(qname(DAV, "response")):
        href_el = response.find(qname(DAV, "href"))
        if href_el is None or not (href_el.text or "").strip():
            continue
        props: dict[str, Any] = {}
        for propstat in response.iterchildren(qname(DAV, "propstat")):
            code = _status(propstat.findtext(qname(DAV, "status")))
            if code is None or not 200 <= code < 300:
                continue
            prop = propstat.find(qname(DAV, "prop"))
            if prop is not None:
                for child in prop:
                    if isinstance(child.tag, str):
                        props[child.tag] = child
        out.append(DavResponse(normal_href(href_el.text), _status(response.findtext(qname(DAV, "status"))), props))
    token = root.findtext(qname(DAV, "sync-token"))
    return out, token.strip() if token and token.strip() else None


def error_condition(data: bytes) -> str | None:
    """The local name of the condition a ``DAV:error`` body names (``no-uid-conflict``); None
    when the body is not one."""
    if not data or b"error" not in data[:4096]:
        return None
    try:
        root = parse(data)
    except ValueError:
        return None
    if root.tag != qname(DAV, "error"):
        return None
    for child in root:
        if isinstance(child.tag, str):
            return str(etree.QName(child).localname)
    return None


def error_hrefs(data: bytes) -> list[str]:
    """The hrefs a ``DAV:error`` body names (the resource holding a conflicting UID, say)."""
    try:
        root = parse(data)
    except ValueError:
        return []
    return [normal_href(h.text) for h in root.iter(qname(DAV, "href")) if h.text and h.text.strip()]
