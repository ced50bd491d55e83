"""Clean the values a destination would refuse: X500 addresses, bad URLs, bad email addresses.

What is cleaned, after mapping (:mod:`groupmigrate.core.mappers`) and before fingerprinting:

- **X500 / EX addresses** (an Exchange ``legacyExchangeDN`` such as
  ``/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=...``,
  its ``X500:``/``EX:`` prefixed forms, and the IMCEA-encapsulated
  ``IMCEAEX-_o=ExchangeLabs_ou=...@contoso.onmicrosoft.com``) in contact email fields,
  distribution list members, event organizers and attendees: resolved to SMTP through the
  user's mapping first, then the resolver; an address neither knows is removed. In message
  headers (From, Sender, Reply-To, To, Cc, Bcc) only where the destination rejects X500
  addresses (``caps.rejects_x500_addresses``), because the MIME of a message is otherwise
  never touched: each rewritten header is logged.
- **Website fields** (``Contact.websites``), checked with :func:`validators.url`: a link
  without a scheme gets ``http://`` when that makes it valid, spaces in the path are
  percent-encoded, and anything else invalid (spaces in the host, ``javascript:``,
  ``file:``, free text) is removed. Internationalized host names are valid.
- **Email fields**, checked for syntax only with :func:`email_validator.validate_email`
  (no DNS): quoted local parts and internationalized domains are valid; ``mailto:`` and
  ``SMTP:`` prefixes, ``Name <address>`` forms and a trailing dot after the domain are
  rewritten to the plain address; anything else invalid is removed.

Item properties are cleaned on every route, since an X500 address or a broken link means
nothing outside the source organisation. Each change is returned as a
:class:`~groupmigrate.core.mappers.Change` (``changed`` or ``dropped``) naming the value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError
from groupmigrate.items import Attendee, Contact, Event, Item, Message
from groupmigrate.core.mappers._base import CHANGED, DROPPED, Change
from groupmigrate.core.sanitize.values import _dn_key, check_email, check_url, is_x500, x500_dn
from groupmigrate.headers import HeaderBlock, split_addresses

__all__ = [
    "ADDRESS_HEADERS",
    "Resolver",
    "Sanitizer",
    "check_email",
    "check_url",
    "is_x500",
    "x500_dn",
]

#: resolves X500/EX addresses (legacyExchangeDNs) to SMTP addresses, None when unknown
Resolver = Callable[[Iterable[str]], Mapping[str, str | None]]

#: message headers holding addresses, rewritten only where the destination rejects X500
ADDRESS_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc")

_HEADER_SET = frozenset(h.lower() for h in ADDRESS_HEADERS)
_ANGLE = re.compile(r"<([^<>]*)>")

# --- the sanitizer ---------------------------------------------------------------------------------


class Sanitizer:
    """Cleans items before they are created.

    One per run, or one per account when the resolver belongs to the account's source
    mailbox; it may be shared by worker threads.

    Args:
        resolver: resolves X500/EX addresses to SMTP, e.g. the source mailbox's
            ``resolve_addresses``. It is called with legacyExchangeDNs (``/o=...``), several
            at once, never twice for the same DN (results, including failures, are cached
            for the run). Errors it raises propagate and are not cached. None: only
            ``mapping`` resolves.
        mapping: the user's own resolution, X500/EX form (any of those
            :func:`x500_dn` accepts) -> SMTP address. It wins over the resolver.

    Raises:
        ConfigError: a mapping key is not an X500/EX address or a value is not a valid
            email address.
    """

    def __init__(self, resolver: Resolver | None = None, mapping: Mapping[str, str] | None = None) -> None:
        self._resolver = resolver
        self._mapping = _checked_mapping(mapping or {})
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self.resolver_calls = 0
        """How many times the resolver was called (each call resolves a batch)."""

    # -- public ---------------------------------------------------------------------------

    def sanitize(self, item: Item, caps: Capabilities) -> tuple[Item, list[Change]]:
        """Clean one item for the route.

        Args:
            item: the mapped item.
            caps: the route's capabilities.

        Returns:
            The item to create (the same object when nothing changed) and what was changed.
        """
        self.prefetch([item], caps)
        if isinstance(item, Contact):
            return self._contact(item)
        if isinstance(item, Event):
            return self._event(item)
        if isinstance(item, Message) and caps.rejects_x500_addresses:
            return self._message(item)
        return item, []

    def prefetch(self, items: Iterable[Item], caps: Capabilities) -> None:
        """Resolve every X500 address of ``items`` in one resolver call.

        Calling it for a batch before sanitizing its items saves one resolver round trip
        per item; :meth:`sanitize` works without it.
        """
        dns: dict[str, str] = {}
        for item in items:
            for address in _found_addresses(item, caps):
                dn = x500_dn(address)
                if dn is not None:
                    dns.setdefault(_dn_key(dn), dn)
        self._resolve_many(dns)

    def resolve(self, address: str) -> str | None:
        """The SMTP address for an X500/EX address (None when unknown); other addresses as given."""
        dn = x500_dn(address)
        if dn is None:
            return address
        self._resolve_many({_dn_key(dn): dn})
        return self._lookup(dn)

    # -- resolution -------------------------------------------------------------------------

    def _resolve_many(self, dns: Mapping[str, str]) -> None:
        with self._lock:
            wanted = [dn for key, dn in dns.items() if key not in self._mapping and key not in self._cache]
            if not wanted:
                return
            if self._resolver is None:
                self._cache.update({_dn_key(dn): None for dn in wanted})
                return
            self.resolver_calls += 1
            answers = {_dn_key(k): v for k, v in self._resolver(wanted).items()}
            for dn in wanted:
                smtp = answers.get(_dn_key(dn))
                # A resolver answer is used only when it is an address the destination takes.
                self._cache[_dn_key(dn)] = smtp if smtp and check_email(smtp)[0] == smtp else None

    def _lookup(self, dn: str) -> str | None:
        key = _dn_key(dn)
        if key in self._mapping:
            return self._mapping[key]
        with self._lock:
            return self._cache.get(key)

    # -- addresses in item fields --------------------------------------------------------

    def _address(self, value: str, field: str) -> tuple[str | None, list[Change]]:
        """Resolve (when X500) and check one address of ``field``."""
        dn = x500_dn(value)
        if dn is not None:
            smtp = self._lookup(dn)
            if smtp is None:
                return None, [Change(DROPPED, field, f"unresolvable X500 address {dn} removed")]
            return smtp, [Change(CHANGED, field, f"X500 address {dn} resolved to {smtp}")]
        checked, why = check_email(value)
        if why is None:
            return checked, []
        return checked, [Change(CHANGED if checked else DROPPED, field, why)]

    def _addresses(self, values: tuple[str, ...], field: str) -> tuple[tuple[str, ...], list[Change]]:
        kept: list[str] = []
        changes: list[Change] = []
        for value in values:
            address, more = self._address(value, field)
            changes += more
            if address is None:
                continue
            if address.casefold() in (k.casefold() for k in kept):
                changes.append(Change(DROPPED, field, f"duplicate address {address} removed"))
                continue
            kept.append(address)
        return tuple(kept), changes

    def _contact(self, contact: Contact) -> tuple[Item, list[Change]]:
        emails, email_names, changes = self._named_addresses(contact.emails, contact.email_names, "emails")
        members, member_names, more = self._named_addresses(contact.members, contact.member_names, "members")
        changes += more
        websites: list[str] = []
        for value in contact.websites:
            url, why = check_url(value)
            if why is not None:
                changes.append(Change(CHANGED if url else DROPPED, "websites", why))
            if url is not None:
                websites.append(url)
        homepage = contact.personal_homepage
        if homepage:
            homepage, why = check_url(homepage)
            if why is not None:
                changes.append(Change(CHANGED if homepage else DROPPED, "personal_homepage", why))
        if not changes:
            return contact, []
        return attrs.evolve(
            contact, emails=emails, email_names=email_names, members=members, member_names=member_names,
            websites=tuple(websites), personal_homepage=homepage,
        ), changes  # fmt: skip

    def _named_addresses(
        self, values: tuple[str, ...], names: tuple[str, ...], field: str
    ) -> tuple[tuple[str, ...], tuple[str, ...], list[Change]]:
        """:meth:`_addresses` keeping each address's display name with it."""
        kept, changes = self._addresses(values, field)
        if not names:
            return kept, (), changes
        by_address: dict[str, str] = {}
        for value, name in zip(values, names):
            address, _ = self._address(value, field)
            if address is not None:
                by_address.setdefault(address.casefold(), name)
        return kept, tuple(by_address.get(k.casefold(), "") for k in kept), changes

    def _event(self, event: Event) -> tuple[Event, list[Change]]:
        changes: list[Change] = []
        organizer = event.organizer
        if organizer:
            organizer, changes = self._address(organizer, "organizer")
        attendees: list[Attendee] = []
        for attendee in event.attendees:
            address, more = self._address(attendee.address, "attendees")
            changes += more
            if address is None:
                continue
            if any(a.address.casefold() == address.casefold() for a in attendees):
                changes.append(Change(DROPPED, "attendees", f"duplicate attendee {address} removed"))
                continue
            attendees.append(attendee if address == attendee.address else attrs.evolve(attendee, address=address))
        exceptions: list[Event] = []
        for exception in event.exceptions:
            mapped, more = self._event(exception)
            exceptions.append(mapped)
            changes += more
        if not changes:
            return event, []
        mapped = attrs.evolve(event, organizer=organizer, attendees=tuple(attendees), exceptions=tuple(exceptions))
        return mapped, changes

    # -- message headers ---------------------------------------------------------------------

    def _message(self, message: Message) -> tuple[Item, list[Change]]:
        # Only the header block is read; the body is decoded only when a header changes.
        head = message.content.header_block()
        block = HeaderBlock.parse(head)
        changes: list[Change] = []
        fields: list[bytes] = []
        for field in block.fields:
            name = HeaderBlock.name_of(field)
            if name.lower() not in _HEADER_SET:
                fields.append(field)
                continue
            rewritten, more = self._header(block, name, field)
            changes += more
            if rewritten is not None:
                fields.append(rewritten)
        if not changes:
            return message, []
        block.fields = fields
        mime = block.join() + message.content.raw()[len(head) :]
        updates: dict[str, Any] = {"mime": mime}
        if message.size == message.content.size:
            updates["size"] = len(mime)
        if message.sender and is_x500(_angle_or_bare(message.sender)):
            updates["sender"] = self._sender(message.sender)
        return cast(Item, attrs.evolve(message, **updates)), changes

    def _header(self, block: HeaderBlock, name: str, field: bytes) -> tuple[bytes | None, list[Change]]:
        """The rewritten field (None: remove it) and the changes; ``field`` itself when clean."""
        entries = split_addresses(HeaderBlock.value_of(field))
        kept: list[str] = []
        changes: list[Change] = []
        for entry in entries:
            dn = x500_dn(_angle_or_bare(entry))
            if dn is None:
                kept.append(entry.strip())
                continue
            smtp = self._lookup(dn)
            why = " (the destination rejects X500 addresses)"
            if smtp is None:
                changes.append(Change(DROPPED, name, f"{name} header rewritten: unresolvable X500 address {dn} removed{why}"))
                continue
            kept.append(_replace_address(entry.strip(), smtp))
            changes.append(Change(CHANGED, name, f"{name} header rewritten: X500 address {dn} replaced by {smtp}{why}"))
        if not changes:
            return field, []
        if not [k for k in kept if k]:
            changes.append(Change(DROPPED, name, f"{name} header removed: it held no other address"))
            return None, changes
        return block.build(name, [k for k in kept if k]), changes

    def _sender(self, sender: str) -> str | None:
        dn = x500_dn(_angle_or_bare(sender))
        smtp = self._lookup(dn) if dn else None
        return _replace_address(sender, smtp) if smtp else None


def _angle_or_bare(entry: str) -> str:
    """The address part of a header entry: inside ``<>`` when present, else the entry itself."""
    match = _ANGLE.search(entry)
    return (match.group(1) if match else entry).strip().rstrip(";").strip()


def _replace_address(entry: str, smtp: str) -> str:
    """``entry`` with its address replaced by ``smtp``, keeping a display name."""
    match = _ANGLE.search(entry)
    if match is None:
        return smtp
    return entry[: match.start()] + f"<{smtp}>" + entry[match.end() :]


def _found_addresses(item: Item, caps: Capabilities) -> Iterator[str]:
    """Every address of ``item`` that :meth:`Sanitizer.sanitize` may resolve."""
    if isinstance(item, Contact):
        yield from item.emails
        yield from item.members
    elif isinstance(item, Event):
        if item.organizer:
            yield item.organizer
        yield from (a.address for a in item.attendees)
        for exception in item.exceptions:
            yield from _found_addresses(exception, caps)
    elif isinstance(item, Message) and caps.rejects_x500_addresses and item.content:
        block = HeaderBlock.parse(item.content.header_block())
        for field in block.fields:
            if HeaderBlock.name_of(field).lower() in _HEADER_SET:
                yield from (_angle_or_bare(e) for e in split_addresses(HeaderBlock.value_of(field)))


def _checked_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in mapping.items():
        dn = x500_dn(key)
        if dn is None:
            raise ConfigError(f"{key!r} is not an X500 or EX address", key="mapping")
        address, why = check_email(value)
        if address is None or address != value.strip():
            raise ConfigError(f"{value!r} (for {key!r}) is not a valid email address", key="mapping")
        checked[_dn_key(dn)] = address
    return checked
