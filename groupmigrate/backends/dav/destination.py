"""Writing mailboxes to a CalDAV/CardDAV server: one resource per item, exactly once.

Folders: a source folder with a role (calendar, contacts, tasks, notes) goes to the
destination's folder of that role; else to the folder of the same kind at the same (flat)
path; else a collection is made for it (MKCALENDAR taking that one component, or an extended
MKCOL address book), showing the folder's name in the folder's colour (when it has one);
its href segment is the role's name for a folder with a role (so the role stays with it), a
fresh UUID otherwise. A collection found by role or path keeps its own name and colour, or
its lack of one: what a user chose on the destination is never overwritten.

Items: each is one ``PUT`` with ``If-None-Match: *`` (it never replaces anything), up to
``max_connections`` at a time, never sent again here. A stamped item's resource is named
``<stamp>.ics`` / ``<stamp>.vcf`` and carries the stamp inside too, so the executor finds a
write whose answer was lost by listing names (:meth:`DavDestinationMailbox.find_stamps`);
an item without a stamp is named after its UID. The item keeps its UID (a meeting's UID is
what ties it to the invitations others hold); an item without one gets a new UUID.

Only a certain refusal leads to another request for the same item: the collection already
holds that UID (``no-uid-conflict``): written under a new UID, with a warning naming the old
one; a resource of that name exists (412): for a stamped item that resource is this item (its
name is the stamp), so it is not written again; an unstamped item is written under the name
plus a suffix, with a warning. Each outcome is ok, ``maybe_applied`` (a timeout or reset
after sending, a gateway's 502/503/504 or HTML 500), transient (nothing applied) or refused.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from groupmigrate.auth import Auth
from groupmigrate.backends.dav.discovery import Collection
from groupmigrate.backends.dav.endpoint import DavEndpoint, MailboxBase
from groupmigrate.backends.dav.folders import COMPONENT_OF, Place, flat_name
from groupmigrate.backends.dav.listing import batches, name_of
from groupmigrate.backends.dav.resources import Reader, content_type, encode, extension
from groupmigrate.backends.dav.webdav import (
    DAV, error_condition, error_hrefs, mkcalendar_body, mkcol_addressbook_body, normal_href, parse_multistatus,
    propfind_body, proppatch_body, qname,
)  # fmt: skip
from groupmigrate.errors import AccessDenied, AccessError, ConnectionFailed, GroupmigrateError, OutcomeUnknown, Throttled
from groupmigrate.items import Contact, Event, Folder, Item, ItemType, Note, Task
from groupmigrate.protocols import CreateResult

__all__ = ["STAMP_NAME", "DavDestination", "DavDestinationMailbox"]

log = logging.getLogger("groupmigrate.dav")

#: the name of a stamped resource: the stamp, a suffix for a further copy, the extension
STAMP_NAME = re.compile(r"^([0-9a-f]{32})(?:-[0-9a-f]{8})?\.(?:ics|vcf)$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=-]{0,150}$")
_ROLE_KINDS: dict[str, ItemType] = {"calendar": "calendar", "contacts": "contacts", "tasks": "tasks", "notes": "notes"}
_WRITE_PRIVILEGES = frozenset({"all", "write", "bind", "write-content"})
#: requests at most for one item (each after a certain refusal: a UID or a name taken)
_ATTEMPTS = 3
#: statuses of an MKCALENDAR / MKCOL refused for one of its properties (RFC 4791 5.3.1, RFC 5689)
_PROPERTY_REFUSED = frozenset({400, 403, 409, 422, 424})


class DavDestination(DavEndpoint):
    """A CalDAV/CardDAV server mailboxes are written to (see :class:`DavEndpoint` for the arguments)."""

    def open_mailbox(self, address: str, auth: Auth | None = None) -> DavDestinationMailbox:
        return DavDestinationMailbox(self, address, auth)


def _component(item: Item) -> str | None:
    if isinstance(item, Event):
        return "VEVENT"
    if isinstance(item, Task):
        return "VTODO"
    if isinstance(item, Note):
        return "VJOURNAL"
    return None


def _refused(code: str, error: str) -> CreateResult:
    return CreateResult(ok=False, code=code, error=error)


class DavDestinationMailbox(MailboxBase):
    """One mailbox, written with PUT (see the module docstring)."""

    def __init__(self, endpoint: DavEndpoint, address: str, auth: Auth | None) -> None:
        super().__init__(endpoint, address, auth)
        self.reader = Reader(self.client, address, "destination")
        self._create_lock = threading.Lock()

    def _holds(self, collection: Collection, component: str) -> bool:
        return True  # a destination offers every component a collection takes

    def check(self) -> None:
        """Find the mailbox and make sure its homes may be written, where the server tells."""
        super().check()
        for home in self.homes().all:
            answer = self.client.xml("PROPFIND", self.client.url(home), propfind_body(("d:current-user-privilege-set",)), "0")
            for response in parse_multistatus(answer.content)[0]:
                el = response.props.get(qname(DAV, "current-user-privilege-set"))
                if el is None:
                    continue
                granted = {child.tag.rsplit("}", 1)[-1] for p in el.iter(qname(DAV, "privilege")) for child in p}
                if not granted & _WRITE_PRIVILEGES:
                    raise AccessDenied(f"{self.address}: {self.client.who} may not write to {home} on {self.client.server} "
                                       f"(privileges: {', '.join(sorted(granted)) or 'none'})")  # fmt: skip

    # -- folders ------------------------------------------------------------------------------------
    def ensure_folder(self, folder: Folder) -> Folder:
        """The folder with ``folder``'s role, else the one of its kind at its path, else a new
        collection (see the module docstring). A mail folder is not created: nothing of it can
        be stored here."""
        if folder.kind == "mail":
            return Folder(folder.path, kind="mail", role=folder.role, folder_id=None)
        with self._create_lock:
            places = self.places(fresh=True)
            if folder.role is not None and _ROLE_KINDS.get(folder.role) == folder.kind:
                found = next((p for p in places if p.folder.role == folder.role and p.folder.kind == folder.kind), None)
                if found is not None:
                    return found.folder
            name = flat_name(folder.path)
            of_kind = [p for p in places if p.folder.kind == folder.kind]
            found = next((p for p in of_kind if p.folder.path == (name,)), None) or next(
                (p for p in of_kind if p.folder.path[0].casefold() == name.casefold()), None)
            if found is not None:
                return found.folder
            taken = {p.collection.segment.casefold() for p in places}
            href = self._make(folder.kind, name, folder.role if folder.role not in taken else None, folder.color)
            places = self.places(fresh=True)
            made = next((p for p in places if p.collection.href == href and p.folder.kind == folder.kind), None)
            if made is None:
                raise GroupmigrateError(f"folder {folder}: created as {href}, but the server does not list it")
            return made.folder

    def _make(self, kind: ItemType, name: str, role: str | None, color: str | None = None) -> str:
        """Make a collection showing ``name`` (in ``color``, when given); one for a role is named
        after the role (so that it keeps the role however many collections follow), any other
        by a fresh UUID."""
        homes = self.homes()
        home = homes.addressbook_home if kind == "contacts" else homes.calendar_home
        if home is None:
            raise GroupmigrateError(f"{self.address}: the server names no {'address book' if kind == 'contacts' else 'calendar'} home")
        segment = role if role is not None and _ROLE_KINDS.get(role) == kind else str(uuid.uuid4())
        href = f"{home.rstrip('/')}/{segment}/"
        def body(shown_in: str | None) -> bytes:
            if kind == "contacts":
                return mkcol_addressbook_body(name, shown_in)
            return mkcalendar_body(name, COMPONENT_OF[kind], shown_in)

        method = "MKCOL" if kind == "contacts" else "MKCALENDAR"
        answer = self.client.request(method, self.client.url(href), body=body(color))
        if color and answer.status_code in _PROPERTY_REFUSED:
            # a server may refuse the whole request for a property it does not keep (nothing
            # was made): the folder matters, its colour does not
            log.info("%s: %s %s refused with the colour %s (%d); made without it", self.address, method, href, color,
                     answer.status_code)  # fmt: skip
            answer = self.client.request(method, self.client.url(href), body=body(None))
        self.client.expect(answer, method, 201)
        log.info("%s: made %s %r at %s", self.address, "address book" if kind == "contacts" else "calendar", name, href)
        return normal_href(href)

    def rename_folder(self, folder: Folder, name: str) -> Folder:
        """Show ``folder``'s collection as ``name`` (PROPPATCH of its display name)."""
        place = self.place(folder)
        if place is None:
            raise GroupmigrateError(f"folder {folder} is not on the destination any more")
        if place.shared and not place.main:
            raise GroupmigrateError(f"folder {folder} is one kind of items of a calendar holding several; its name follows "
                                    "the calendar's")  # fmt: skip
        url = self.client.url(place.collection.href)
        answer = self.client.xml("PROPPATCH", url, proppatch_body({"d:displayname": name}), None)
        responses = parse_multistatus(answer.content)[0]
        if not any(r.has(qname(DAV, "displayname")) for r in responses):
            raise GroupmigrateError(f"folder {folder}: the server did not accept the new name {name!r}")
        renamed = next((p for p in self.places(fresh=True) if p.collection.href == place.collection.href and p.main), None)
        if renamed is None:
            raise GroupmigrateError(f"folder {folder}: renamed, but the server does not list it")
        return renamed.folder

    # -- writing --------------------------------------------------------------------------------------
    def create_items(self, folder: Folder, items: Sequence[Item], stamps: Sequence[str] | None = None) -> list[CreateResult]:
        """Store each item as one resource (see the module docstring); one result per item."""
        place = self.place(folder) if folder.kind != "mail" else None
        if place is None and folder.kind != "mail":
            log.warning("%s: folder %s is not on the destination; making it again", self.address, folder)
            place = self.place(self.ensure_folder(Folder(folder.path, kind=folder.kind)))
        results: list[CreateResult | None] = [None] * len(items)
        errors: list[GroupmigrateError | None] = [None] * len(items)
        todo: list[int] = []
        for index, item in enumerate(items):
            problem = self._unfit(place, item)
            if problem is not None:
                results[index] = problem
            else:
                todo.append(index)
        if todo and place is not None:
            collection = place.collection

            def write(index: int) -> tuple[CreateResult, GroupmigrateError | None]:
                return self._write(collection, items[index], stamps[index] if stamps is not None else None)

            with ThreadPoolExecutor(max_workers=min(len(todo), self.endpoint.max_connections), thread_name_prefix="dav-put") as pool:
                for index, (result, error) in zip(todo, pool.map(write, todo)):
                    results[index], errors[index] = result, error
        final = [r if r is not None else CreateResult(ok=False, transient=True, error="not sent") for r in results]
        sent = [final[i] for i in todo]
        if sent and not any(r.ok or r.maybe_applied for r in sent):
            blocking = [errors[i] for i in todo if isinstance(errors[i], (AccessError, Throttled))]
            if len(blocking) == len(todo):
                waits = [e.retry_after for e in blocking if isinstance(e, Throttled) and e.retry_after is not None]
                first = blocking[0]
                assert first is not None
                if isinstance(first, Throttled) and all(isinstance(e, Throttled) for e in blocking):
                    raise Throttled(f"{self.address}: the server asked to slow down before storing anything", max(waits) if waits else None)
                raise next(e for e in blocking if isinstance(e, AccessError))
        return final

    def _unfit(self, place: Place | None, item: Item) -> CreateResult | None:
        if place is None:
            return _refused("UnsupportedItemType", f"a CalDAV/CardDAV server holds no {item.item_type} items")
        if isinstance(item, Contact):
            if not place.collection.addressbook:
                return _refused("UnsupportedItemType", "a contact cannot be stored in a calendar")
            return None
        component = _component(item)
        if component is None or place.collection.addressbook or component not in place.collection.components:
            return _refused("UnsupportedItemType", f"this collection does not take {item.item_type} items")
        return None

    def _name(self, uid: str, stamp: str | None, ext: str) -> str:
        if stamp is not None and re.fullmatch(r"[0-9a-f]{32}", stamp):
            return stamp + ext
        if _SAFE_NAME.match(uid) and not STAMP_NAME.match(uid + ext):
            return uid + ext
        return f"{uuid.uuid4()}{ext}"

    def _write(self, collection: Collection, item: Item, stamp: str | None) -> tuple[CreateResult, GroupmigrateError | None]:
        book = collection.addressbook
        ext = extension(book)
        uid = item.uid if isinstance(item, Event) and item.uid else str(uuid.uuid4())
        name = self._name(uid, stamp, ext)
        warnings: list[str] = []
        limit = self.endpoint.capabilities.max_item_size
        for _ in range(_ATTEMPTS):
            try:
                data = encode(item, uid=uid, stamp=stamp, vcard_version=self.endpoint.vcard_version)
            except ValueError as exc:
                return _refused("CannotConvert", f"cannot be written as {'vCard' if book else 'iCalendar'}: {exc}"), None
            if limit is not None and len(data) > limit:
                return _refused("TooLarge", f"the item is {len(data):,} bytes as {'vCard' if book else 'iCalendar'}; the server "
                                            f"accepts {limit:,} bytes at most (max_item_size)"), None  # fmt: skip
            href = collection.href + name
            headers = {"Content-Type": content_type(book, self.endpoint.vcard_version), "If-None-Match": "*"}
            try:
                answer = self.client.request("PUT", self.client.url(href), body=data, headers=headers)
            except OutcomeUnknown as exc:
                return CreateResult(ok=False, maybe_applied=True, code="OutcomeUnknown", error=str(exc), warnings=tuple(warnings)), exc
            except Throttled as exc:
                return CreateResult(ok=False, transient=True, code="Throttled", error=str(exc)), exc
            except ConnectionFailed as exc:
                return CreateResult(ok=False, transient=True, code="NotSent", error=str(exc)), exc
            except AccessError as exc:
                return _refused(type(exc).__name__, str(exc)), exc
            except GroupmigrateError as exc:
                return _refused("RequestRefused", str(exc)), exc
            status = answer.status_code
            if status in (200, 201, 204):
                location = answer.headers.get("Location")
                item_id = normal_href(location) if location else normal_href(href)
                return CreateResult(ok=True, item_id=item_id, warnings=tuple(warnings)), None
            condition = error_condition(answer.content)
            if condition == "no-uid-conflict" or (status == 409 and condition is None and b"uid" in answer.content.lower()):
                holders = error_hrefs(answer.content)
                old, uid = uid, str(uuid.uuid4())
                warnings.append(f"its UID {old} is used by another item of this {'address book' if book else 'calendar'}"
                                f"{' (' + ', '.join(holders) + ')' if holders else ''}; written with the new UID {uid}")  # fmt: skip
                if stamp is None:
                    name = self._name(uid, None, ext)
                continue
            if status == 412:
                exists = self._exists(href)
                if exists and stamp is not None:
                    # the name is the item's provenance stamp: this item is there already (written
                    # by an earlier attempt whose answer was lost, or by another worker that held
                    # the account a moment ago); a second copy would be a duplicate
                    warnings.append(f"already in the folder as {name} (its provenance stamp): not written again")
                    return CreateResult(ok=True, item_id=normal_href(href), warnings=tuple(warnings)), None
                if exists:
                    base = name[: -len(ext)]
                    new_name = f"{base.split('-', 1)[0] if STAMP_NAME.match(name) else base}-{uuid.uuid4().hex[:8]}{ext}"
                    warnings.append(f"a resource named {name} is in the folder already; this item was stored as {new_name}")
                    name = new_name
                    continue
                return _refused("PreconditionFailed", f"the server refused it (412 Precondition Failed) and holds no resource of "
                                f"that name: most likely it is larger than the server accepts ({len(data):,} bytes)"), None  # fmt: skip
            if status == 413:
                return _refused("TooLarge", f"the item ({len(data):,} bytes) is larger than the server accepts (413)"), None
            if status == 507:
                return _refused("QuotaExceeded", "the server has no room for it (507 Insufficient Storage): the mailbox is "
                                                 "over its quota"), None  # fmt: skip
            error = self.client.refusal(answer, "PUT")
            if isinstance(error, OutcomeUnknown):
                return CreateResult(ok=False, maybe_applied=True, code="OutcomeUnknown", error=str(error), warnings=tuple(warnings)), error
            if isinstance(error, ConnectionFailed):
                return CreateResult(ok=False, transient=True, code="NotSent", error=str(error)), error
            if isinstance(error, AccessError):
                return _refused(type(error).__name__, str(error)), error
            return _refused(condition or f"HTTP{status}", f"the server refused it: {error}"), error
        return _refused("Conflict", f"the server refused it {_ATTEMPTS} times for a UID or name in use: " + "; ".join(warnings)), None

    def _exists(self, href: str) -> bool | None:
        answer = self.client.request("PROPFIND", self.client.url(href), body=propfind_body(("d:getetag",)), depth="0")
        if answer.status_code == 207:
            return True
        if answer.status_code == 404:
            return False
        return None

    # -- reading back -----------------------------------------------------------------------------------
    def existing(self, folder: Folder, item_type: ItemType) -> Iterator[Item]:
        """The items of ``folder`` of ``item_type``, each with its href as ``source_id``."""
        place = self.place(folder) if folder.kind != "mail" else None
        if place is None:
            return
        for batch in batches(self.members(place)):
            for item in self.reader.read(place.collection, batch):
                if item.item_type == item_type:
                    yield item

    def fetch_existing(self, folder: Folder, item_ids: Sequence[str]) -> Iterator[Item]:
        """The items ``item_ids`` (hrefs) of ``folder``, in that order; ids gone are left out."""
        place = self.place(folder) if folder.kind != "mail" else None
        if place is None or not item_ids:
            return iter(())
        return iter(self.reader.read(place.collection, list(item_ids)))

    def count(self, folder: Folder) -> int:
        place = self.place(folder) if folder.kind != "mail" else None
        return len(self.members(place)) if place is not None else 0

    def find_stamps(self, folder: Folder, stamps: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Stamp → hrefs of the folder's resources named after it (one PROPFIND listing)."""
        place = self.place(folder) if folder.kind != "mail" else None
        if place is None:
            return {}
        wanted = None if stamps is None else set(stamps)
        found: dict[str, list[str]] = {}
        for href in sorted(self.members(place)):
            match = STAMP_NAME.match(name_of(href))
            if match and (wanted is None or match.group(1) in wanted):
                found.setdefault(match.group(1), []).append(href)
        return found

    def free_space(self) -> int | None:
        """Bytes the mailbox can still take (``quota-available-bytes``, RFC 4331); None when the server does not say."""
        free: list[int] = []
        for home in self.homes().all:
            answer = self.client.xml("PROPFIND", self.client.url(home), propfind_body(("d:quota-available-bytes",)), "0")
            for response in parse_multistatus(answer.content)[0]:
                value = response.text(qname(DAV, "quota-available-bytes"))
                if value and value.isdigit():
                    free.append(int(value))
        return min(free) if free else None
