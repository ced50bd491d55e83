"""Listing a folder's resources and reading their data.

A folder's resources are listed with PROPFIND (Depth 1: ETag, content type and length, last
change) or, for a component of a collection holding several, with a calendar-query REPORT
filtered on that component; data is read with one calendar-multiget or addressbook-multiget
REPORT per batch.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterable, Iterator, Sequence

import attrs

from groupmigrate.backends.dav.client import DavClient
from groupmigrate.backends.dav.discovery import Collection
from groupmigrate.backends.dav.errors import DavRefused, where
from groupmigrate.backends.dav.webdav import (
    CALDAV,
    CARDDAV,
    DAV,
    DavResponse,
    calendar_query_body,
    multiget_body,
    parse_multistatus,
    propfind_body,
    qname,
)
from groupmigrate.errors import ConnectionFailed

__all__ = ["LIST_PROPS", "Member", "Members", "batches", "member_of", "members", "multiget", "name_of"]

LIST_PROPS = ("d:getetag", "d:getcontenttype", "d:getcontentlength", "d:getlastmodified", "d:resourcetype")
_COMPONENT_PARAM = re.compile(r"component=([A-Za-z]+)", re.I)
#: a size for resources whose length the server does not tell (batches are planned by bytes)
UNKNOWN_SIZE = 2048
#: a whole collection is read in multigets of this many resources and bytes at most
BATCH_ITEMS, BATCH_BYTES = 100, 16 * 1024 * 1024


@attrs.frozen
class Member:
    """A resource as listed: its href, ETag, size, last change and content type."""

    href: str
    etag: str | None = None
    size: int | None = None
    changed: dt.datetime | None = None
    content_type: str | None = None

    @property
    def planned_size(self) -> int:
        """The size to plan batches with (an estimate when the server does not tell it)."""
        return self.size if self.size is not None else UNKNOWN_SIZE

    @property
    def component(self) -> str | None:
        """The component its content type names (``text/calendar; component=VTODO``), if any."""
        match = _COMPONENT_PARAM.search(self.content_type or "")
        return match.group(1).upper() if match else None


Members = dict[str, Member]


def name_of(href: str) -> str:
    """The last segment of an href (the resource's name in its collection)."""
    return href.rstrip("/").rsplit("/", 1)[-1]


def _when(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def member_of(answer: DavResponse) -> Member:
    length = answer.text(qname(DAV, "getcontentlength"))
    size = int(length) if length and length.isdigit() and int(length) > 0 else None
    return Member(answer.href, answer.text(qname(DAV, "getetag")), size, _when(answer.text(qname(DAV, "getlastmodified"))),
                  answer.text(qname(DAV, "getcontenttype")))  # fmt: skip


def _is_resource(answer: DavResponse, collection: Collection) -> bool:
    if answer.href.rstrip("/") == collection.href.rstrip("/") or answer.gone:
        return False
    kinds = answer.props.get(qname(DAV, "resourcetype"))
    return kinds is None or kinds.find(qname(DAV, "collection")) is None


def _multistatus(client: DavClient, method: str, url: str, data: bytes) -> list[DavResponse]:
    try:
        return parse_multistatus(data)[0]
    except ValueError as exc:
        raise ConnectionFailed(f"{method} {where(url)}: {client.server} did not answer with WebDAV XML ({exc})") from None


def _all(client: DavClient, collection: Collection) -> Members:
    url = client.url(collection.href)
    answer = client.xml("PROPFIND", url, propfind_body(LIST_PROPS), "1")
    found = [member_of(a) for a in _multistatus(client, "PROPFIND", url, answer.content) if _is_resource(a, collection)]
    return {m.href: m for m in found}


def _of_component(client: DavClient, collection: Collection, component: str) -> Members | None:
    """The resources holding ``component`` (calendar-query); None when the server cannot filter."""
    url = client.url(collection.href)
    try:
        answer = client.xml("REPORT", url, calendar_query_body(component, LIST_PROPS), "1")
    except DavRefused as exc:
        if exc.status in (400, 403, 405, 415, 422, 501):
            return None
        raise
    found = [member_of(a) for a in _multistatus(client, "REPORT", url, answer.content) if _is_resource(a, collection)]
    return {m.href: m for m in found}


def members(client: DavClient, collection: Collection, component: str | None, excluded: Sequence[str]) -> Members:
    """The resources of one folder (see :mod:`groupmigrate.backends.dav.folders`): every
    resource of an address book or single-component calendar; of a shared calendar, those
    holding ``component`` (a secondary folder) or all but those of ``excluded`` (the main one).

    A server that cannot filter by component has its resources sorted by the component their
    content type names; those naming none stay in the main folder.
    """
    if component is None or len(collection.components) <= 1:
        return _all(client, collection)
    everything = _all(client, collection)  # the sizes and times (a REPORT need not give them)
    if component != collection.components[0]:
        found = _of_component(client, collection, component)
        if found is None:
            return {h: m for h, m in everything.items() if m.component == component}
        return {h: everything.get(h, m) for h, m in found.items()}
    for other in excluded:
        theirs = _of_component(client, collection, other)
        if theirs is None:
            theirs = {h: m for h, m in everything.items() if m.component == other}
        for href in theirs:
            everything.pop(href, None)
    return everything


def multiget(client: DavClient, collection: Collection, hrefs: Iterable[str]) -> dict[str, tuple[str | None, bytes]]:
    """href → (ETag, data) of the resources ``hrefs`` of ``collection``, in one REPORT; hrefs
    the server no longer has are left out."""
    wanted = [h for h in dict.fromkeys(hrefs) if h.startswith(collection.href)]
    if not wanted:
        return {}
    url = client.url(collection.href)
    answer = client.xml("REPORT", url, multiget_body(collection.addressbook, wanted), None)
    data_name = qname(CARDDAV, "address-data") if collection.addressbook else qname(CALDAV, "calendar-data")
    out: dict[str, tuple[str | None, bytes]] = {}
    for response in _multistatus(client, "REPORT", url, answer.content):
        el = response.props.get(data_name)
        if el is None or response.gone:
            continue
        text = "".join(el.itertext())
        out[response.href] = (response.text(qname(DAV, "getetag")), text.encode("utf-8"))
    return out


def batches(found: Members) -> Iterator[list[str]]:
    """The hrefs of ``found`` in href order, in groups bounded by count and bytes (one
    multiget each; a resource larger than the bound travels alone)."""
    batch: list[str] = []
    size = 0
    for href in sorted(found):
        planned = found[href].planned_size
        if batch and (len(batch) >= BATCH_ITEMS or size + planned > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(href)
        size += planned
    if batch:
        yield batch
