"""Resources to items and back, through the iCalendar and vCard converters.

Reading: the resources of a batch come in one multiget; each is converted on its own. A
resource the converter cannot read is left out of the batch (the migrator then records it as
failed, under its href) and logged with the converter's reason; what a converter had to
change is logged too. A contact group's members written as references to other cards of the
address book (``urn:uuid:...``, vCard 4.0 MEMBER or Apple's X-ADDRESSBOOKSERVER-MEMBER) are
resolved to those cards' addresses: the batch's own cards first, the whole address book (read
once per mailbox) when a member is not among them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from groupmigrate.backends.dav import ical, vcard
from groupmigrate.backends.dav.client import DavClient
from groupmigrate.backends.dav.discovery import Collection
from groupmigrate.backends.dav.listing import batches, members, multiget
from groupmigrate.items import Contact, Event, Item, Note, Task

__all__ = ["Reader", "content_type", "encode", "extension"]

log = logging.getLogger("groupmigrate.dav")

Resolver = Callable[[str], "tuple[str, str] | None"]


def extension(addressbook: bool) -> str:
    return ".vcf" if addressbook else ".ics"


def content_type(addressbook: bool, vcard_version: str = "3.0") -> str:
    if addressbook:
        return "text/vcard; charset=utf-8" + ("; version=4.0" if vcard_version == "4.0" else "")
    return "text/calendar; charset=utf-8"


def encode(item: Item, *, uid: str, stamp: str | None, vcard_version: str) -> bytes:
    """``item`` as an iCalendar or vCard resource with ``uid`` (and ``stamp``, when given).

    Raises:
        ValueError: the converter cannot write it (its message says why).
    """
    if isinstance(item, Contact):
        return vcard.contact_to_vcard(item, uid=uid, version="4.0" if vcard_version == "4.0" else "3.0", stamp=stamp)
    if isinstance(item, (Event, Task, Note)):
        return ical.item_to_ical(item, uid=uid, stamp=stamp)
    raise ValueError(f"a {item.item_type} item cannot be stored on a CalDAV/CardDAV server")


def _member_key(ref: str) -> str:
    ref = ref.strip()
    for prefix in ("urn:uuid:", "uuid:"):
        if ref.lower().startswith(prefix):
            return ref[len(prefix) :]
    return ref


class Reader:
    """Reads a mailbox's resources as items (one per mailbox: it keeps the address books' member index)."""

    def __init__(self, client: DavClient, address: str, side: str) -> None:
        self.client = client
        self.address = address
        self.side = side
        self._index: dict[str, dict[str, tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def read(self, collection: Collection, hrefs: Sequence[str]) -> list[Item]:
        """The items of ``hrefs`` in their order, from one multiget; gone ones left out (see the module docstring)."""
        data = multiget(self.client, collection, hrefs)
        return self.convert(collection, [(h, data[h][1]) for h in hrefs if h in data])

    def convert(self, collection: Collection, resources: Sequence[tuple[str, bytes]]) -> list[Item]:
        return self.convert_all(collection, resources)[0]

    def convert_all(
        self, collection: Collection, resources: Sequence[tuple[str, bytes]]
    ) -> tuple[list[Item], dict[str, list[str]], dict[str, str]]:
        """The items read, what reading each one had to leave out (by href), and why the
        resources that cannot be read were refused (by href)."""
        resolve = self._resolver(collection, resources) if collection.addressbook else None
        out: list[Item] = []
        read_notes: dict[str, list[str]] = {}
        refused: dict[str, str] = {}
        what = "vCard" if collection.addressbook else "iCalendar"
        for href, data in resources:
            item: Item
            notes: list[str]
            try:
                if collection.addressbook:
                    item, notes = vcard.vcard_to_contact_with_warnings(data, source_id=href, resolve=resolve)
                else:
                    item, notes = ical.ical_to_item_with_warnings(data, source_id=href)
            except ValueError as exc:
                consequence = "the migration reports it as failed" if self.side == "source" else "not counted as present"
                log.warning("%s: %s cannot be read and is left out (%s): %s", self.address, href, consequence, exc)
                refused[href] = f"unreadable {what} data: {exc}"
                continue
            for note in notes:
                log.info("%s: %s: %s", self.address, href, note)
            if notes:
                read_notes[href] = notes
            out.append(item)
        return out, read_notes, refused

    # -- contact groups ---------------------------------------------------------------------------
    def _resolver(self, collection: Collection, resources: Sequence[tuple[str, bytes]]) -> Resolver | None:
        refs: set[str] = set()
        local: dict[str, tuple[str, str]] = {}
        for _, data in resources:
            try:
                if vcard.vcard_is_group(data):
                    refs.update(_member_key(r) for r in vcard.vcard_member_refs(data))
            except ValueError:
                continue
        if not refs:
            return None
        local.update(self._entries(resources))
        if not refs <= set(local):
            local = {**self._collection_index(collection), **local}

        def resolve(ref: str) -> tuple[str, str] | None:
            return local.get(_member_key(ref))

        return resolve

    def _entries(self, resources: Sequence[tuple[str, bytes]]) -> dict[str, tuple[str, str]]:
        """UID → (first address, name) of the cards among ``resources`` that have an address."""
        out: dict[str, tuple[str, str]] = {}
        for href, data in resources:
            try:
                if vcard.vcard_is_group(data):
                    continue
                uid = _member_key(vcard.vcard_uid(data) or "")
                if not uid:
                    continue
                contact = vcard.vcard_to_contact(data, source_id=href)
            except ValueError:
                continue
            if contact.emails:
                out[uid] = (contact.emails[0], contact.display_name or "")
        return out

    def _collection_index(self, collection: Collection) -> dict[str, tuple[str, str]]:
        with self._lock:
            cached = self._index.get(collection.href)
        if cached is not None:
            return cached
        index: dict[str, tuple[str, str]] = {}
        for batch in batches(members(self.client, collection, None, ())):
            data = multiget(self.client, collection, batch)
            index.update(self._entries([(h, d) for h, (_, d) in data.items()]))
        with self._lock:
            self._index[collection.href] = index
        return index
