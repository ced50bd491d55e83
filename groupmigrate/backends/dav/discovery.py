"""Finding a mailbox's calendars and address books.

A mailbox is a DAV *principal*; its calendars live under its calendar home
(``calendar-home-set``, RFC 4791) and its address books under its address book home
(``addressbook-home-set``, RFC 6352). The principal is found

- with the ``principal_url`` template when one is configured (admin-style access: the
  endpoint's credentials open every user's principal, e.g. ``"/{user}/"`` on Radicale);
- else as the ``current-user-principal`` (RFC 5397) of the login, asked at the URL given
  (when it has a path) and at ``/.well-known/caldav`` / ``/.well-known/carddav``
  (RFC 6764), whose redirects are followed here, credentials kept to the same origin.

A principal without a home set is taken as its own home (Radicale's layout:
``/<user>/<collection>/``).
"""

from __future__ import annotations

import urllib.parse

import attrs

from groupmigrate.backends.dav.client import DavClient
from groupmigrate.backends.dav.errors import DavRefused, where
from groupmigrate.backends.dav.webdav import (
    APPLE, CALDAV, CARDDAV, CS, DAV, INF, DavResponse, normal_href, parse_multistatus, propfind_body, qname,
)  # fmt: skip
from groupmigrate.errors import AuthenticationError, ConnectionFailed, GroupmigrateError, MailboxNotFound

__all__ = ["COMPONENTS", "Collection", "Homes", "discover", "list_collections", "principal_for"]

#: calendar components carried, in the order a collection's main one is chosen
COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
_HOME_PROPS = ("d:current-user-principal", "c:calendar-home-set", "cr:addressbook-home-set", "d:resourcetype")
_COLLECTION_PROPS = (
    "d:resourcetype", "d:displayname", "c:supported-calendar-component-set", "a:calendar-color",
    "inf:addressbook-color", "d:sync-token", "cs:getctag",
)  # fmt: skip


@attrs.frozen
class Homes:
    """Where a mailbox's collections are: hrefs in normal form."""

    principal: str
    calendar_home: str | None
    addressbook_home: str | None

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h for h in (self.calendar_home, self.addressbook_home) if h))


@attrs.frozen
class Collection:
    """A calendar or an address book.

    ``components`` are the calendar components it accepts (in :data:`COMPONENTS` order; all
    three when the server does not say), empty for an address book. ``color`` is the colour
    clients show it in (Apple's ``calendar-color``; for an address book ``addressbook-color``,
    else ``calendar-color``), as the server holds it.
    """

    href: str
    addressbook: bool
    components: tuple[str, ...] = ()
    display_name: str | None = None
    color: str | None = None
    sync_token: str | None = None
    ctag: str | None = None

    @property
    def segment(self) -> str:
        return urllib.parse.unquote(self.href.rstrip("/").rsplit("/", 1)[-1]) or self.href


def principal_for(template: str, address: str) -> str:
    """The principal path or URL of ``address`` by a ``principal_url`` template."""
    local, _, domain = address.partition("@")

    def quote(value: str) -> str:
        return urllib.parse.quote(value, safe="@+")

    return template.format(user=quote(address), local_part=quote(local), domain=quote(domain))


def _propfind(client: DavClient, url: str, props: tuple[str, ...], depth: str) -> list[DavResponse]:
    response = client.xml("PROPFIND", url, propfind_body(props), depth, follow=True)
    try:
        return parse_multistatus(response.content)[0]
    except ValueError as exc:
        raise ConnectionFailed(f"PROPFIND {where(url)}: {client.server} did not answer with WebDAV XML ({exc}); check the url") from None


def _redirected(client: DavClient, url: str) -> str:
    """Where a well-known URI leads (its redirects followed with a request without a body:
    servers answer them without reading one, and some then drop a TLS connection that
    still holds it unread)."""
    response = client.request("PROPFIND", url, depth="0", follow=True)
    return response.url or url


def _current_principal(client: DavClient, url: str) -> str | None:
    """The login's principal as the server at ``url`` names it; None when it names none there."""
    if "/.well-known/" in url:
        url = _redirected(client, url)
    try:
        answers = _propfind(client, url, ("d:current-user-principal",), "0")
    except DavRefused as exc:
        if exc.status in (400, 403, 404, 405, 501):
            return None
        raise
    for answer in answers:
        el = answer.props.get(qname(DAV, "current-user-principal"))
        if el is None:
            continue
        if el.find(qname(DAV, "unauthenticated")) is not None:
            raise AuthenticationError(f"{client.server} did not authenticate {client.who}")
        hrefs = answer.hrefs(qname(DAV, "current-user-principal"))
        if hrefs:
            return str(hrefs[0])
    return None


def _homes_at(client: DavClient, principal_url: str, address: str) -> Homes:
    try:
        answers = _propfind(client, principal_url, _HOME_PROPS, "0")
    except DavRefused as exc:
        if exc.status == 404:
            raise MailboxNotFound(f"{client.server} has no principal for {address} at {where(principal_url)}") from None
        raise
    if not answers:
        raise MailboxNotFound(f"{client.server} has no principal for {address} at {where(principal_url)}")
    answer = answers[0]
    principal = answer.href
    calendars = answer.hrefs(qname(CALDAV, "calendar-home-set"))
    books = answer.hrefs(qname(CARDDAV, "addressbook-home-set"))
    return Homes(principal, calendars[0] if calendars else None, books[0] if books else None)


def discover(client: DavClient, address: str, template: str | None) -> Homes:
    """The principal and homes of mailbox ``address`` (see the module docstring).

    Raises:
        MailboxNotFound: no principal for the address, or one with neither home.
        AuthenticationError, AccessDenied, ConnectionFailed: as the requests raise them.
    """
    if template is not None:
        at = _homes_at(client, client.url(principal_for(template, address)), address)
        return attrs.evolve(at, calendar_home=at.calendar_home or at.principal, addressbook_home=at.addressbook_home or at.principal)
    base = client.base_url
    starts = [client.url("/.well-known/caldav"), client.url("/.well-known/carddav")]
    if urllib.parse.urlsplit(base).path.strip("/"):
        starts.insert(0, base)
    else:
        starts.append(base)
    homes: Homes | None = None
    for start in starts:
        principal = _current_principal(client, start)
        if principal is None:
            continue
        found = _homes_at(client, client.url(principal), address)
        if homes is None:
            homes = found
        elif found.principal == homes.principal:
            homes = Homes(homes.principal, homes.calendar_home or found.calendar_home, homes.addressbook_home or found.addressbook_home)
        if homes.calendar_home and homes.addressbook_home:
            break
    if homes is None:
        raise MailboxNotFound(
            f"{client.server} names no principal for {client.who} (asked at {', '.join(where(s) for s in starts)}); "
            "give the DAV root as url, or a principal_url template"
        )
    if not homes.calendar_home and not homes.addressbook_home:
        homes = Homes(homes.principal, homes.principal, homes.principal)
    return homes


def _components(answer: DavResponse) -> tuple[str, ...]:
    el = answer.props.get(qname(CALDAV, "supported-calendar-component-set"))
    if el is None:
        return COMPONENTS
    named = {(c.get("name") or "").upper() for c in el.iter(qname(CALDAV, "comp"))}
    return tuple(c for c in COMPONENTS if c in named)


def _color(answer: DavResponse, addressbook: bool) -> str | None:
    if addressbook:
        return answer.text(qname(INF, "addressbook-color")) or answer.text(qname(APPLE, "calendar-color"))
    return answer.text(qname(APPLE, "calendar-color"))


def list_collections(client: DavClient, homes: Homes) -> list[Collection]:
    """Every calendar and address book under the mailbox's homes, in href order.

    Collections of other kinds (schedule inbox and outbox, subscriptions, plain folders) are
    left out: they hold nothing a mailbox migration copies.
    """
    found: dict[str, Collection] = {}
    for home in homes.all:
        try:
            answers = _propfind(client, client.url(home), _COLLECTION_PROPS, "1")
        except DavRefused as exc:
            if exc.status == 404:
                continue  # a home not made yet: nothing in it
            raise
        for answer in answers:
            kinds = answer.props.get(qname(DAV, "resourcetype"))
            if kinds is None or normal_href(answer.href) in found:
                continue
            tags = {child.tag for child in kinds}
            calendar, book = qname(CALDAV, "calendar") in tags, qname(CARDDAV, "addressbook") in tags
            if not (calendar or book):
                continue
            components = () if book else _components(answer)
            if calendar and not components:
                continue  # free/busy or availability only
            found[answer.href] = Collection(
                href=answer.href, addressbook=book, components=components, display_name=answer.text(qname(DAV, "displayname")),
                color=_color(answer, book), sync_token=answer.text(qname(DAV, "sync-token")),
                ctag=answer.text(qname(CS, "getctag")),
            )  # fmt: skip
    return [found[h] for h in sorted(found)]


def check_homes(client: DavClient, homes: Homes) -> None:
    """Read each home once: raises what keeps the mailbox from being used."""
    for home in homes.all:
        try:
            _propfind(client, client.url(home), ("d:resourcetype",), "0")
        except DavRefused as exc:
            if exc.status != 404:
                raise GroupmigrateError(f"{client.mailbox}: {exc}") from None
