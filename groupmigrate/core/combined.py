"""One account over several servers: mail from one backend, groupware from another.

A hosting account keeps its mail on an IMAP server and its calendars, tasks and contacts on a
CalDAV/CardDAV server; an Exchange mailbox holds all of them. :class:`CombinedSource` and
:class:`CombinedDestination` join endpoints per item type, so that one account pair is
migrated in one run, with one state, one report and one verify::

    destination = CombinedDestination({
        "mail": IMAPDestination(host="mail.example.org"),
        "calendar": dav, "contacts": dav, "tasks": dav, "notes": dav,
    })

Each item type goes to the endpoint named for it; a type named for none is not migrated
(the combination's capabilities leave it out, and ``analyze`` shows it). A folder belongs to
the endpoint of its kind: the combination lists each endpoint's folders of the kinds given to
it, and sends every call about a folder to that endpoint. Capabilities are per item type
(:meth:`CombinedDestination.capabilities_for`): the migrator meets each type's source and
destination capabilities on their own, so that, for example, calendar items written to a
DAV server are settled by its provenance stamps while mail written to IMAP is settled by
the IMAP backend's own means.

The same credentials open every part of an account (a hosting login is usually valid for
IMAP and DAV alike); endpoints that need other credentials carry their own (``auth=`` on
the endpoint).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from groupmigrate.auth import Auth
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError, GroupmigrateError
from groupmigrate.items import ALL_ITEM_TYPES, Folder, Item, ItemRef, ItemType
from groupmigrate.protocols import (
    CreateResult, Destination, DestinationMailbox, Source, SourceMailbox, SupportsAddressResolution,
    SupportsFolderRename, SupportsProvenance, SupportsQuota, SupportsReadNotes, SupportsSyncState, SyncResult, Unreadable,
)  # fmt: skip

__all__ = ["CombinedDestination", "CombinedSource", "RouteCapabilities", "capabilities_for", "for_kind", "route_capabilities"]

#: a route's capabilities: one set for every item type, or one per item type
RouteCapabilities = Capabilities | Mapping[ItemType, Capabilities]

E = TypeVar("E", Source, Destination)


def capabilities_for(side: Source | Destination, item_type: ItemType) -> Capabilities:
    """What ``side`` supports for items of ``item_type`` (its capabilities, unless it is a
    combination that gives the type to one of its parts)."""
    per_type = getattr(side, "capabilities_for", None)
    if callable(per_type):
        caps: Capabilities = per_type(item_type)
        return caps
    return side.capabilities


def route_capabilities(source: Source, destination: Destination) -> dict[ItemType, Capabilities]:
    """Per item type, what holds on the route from ``source`` to ``destination``."""
    return {t: capabilities_for(source, t).intersect(capabilities_for(destination, t)) for t in ALL_ITEM_TYPES}


def for_kind(caps: RouteCapabilities, item_type: ItemType) -> Capabilities:
    """The capabilities that hold for items of ``item_type``."""
    return caps if isinstance(caps, Capabilities) else caps[item_type]


def _parts(parts: Mapping[str, Any], what: str) -> dict[ItemType, Any]:
    if not parts:
        raise ConfigError(f"a combined {what} needs at least one endpoint", key="mail")
    out: dict[ItemType, Any] = {}
    for kind, endpoint in parts.items():
        if kind not in ALL_ITEM_TYPES:
            raise ConfigError(f"is not an item type (choose from {', '.join(ALL_ITEM_TYPES)})", key=str(kind))
        if endpoint is None:
            continue
        if kind not in endpoint.capabilities.item_types:
            raise ConfigError(
                f"{endpoint!r} does not hold {kind} (it holds {', '.join(sorted(endpoint.capabilities.item_types))})",
                key=str(kind),
            )
        out[kind] = endpoint
    return out


def _merged(parts: Mapping[ItemType, Source | Destination]) -> Capabilities:
    """One capability set for the whole combination (reports, ``analyze`` and connection
    limits): the item types of all parts; for every other field the most careful value."""
    distinct = list({id(p): p for p in parts.values()}.values())
    caps = [p.capabilities for p in distinct]
    merged = caps[0]
    for other in caps[1:]:
        values: dict[str, Any] = {}
        for field in attrs.fields(Capabilities):
            if field.name == "name":
                continue
            a, b = getattr(merged, field.name), getattr(other, field.name)
            rule = field.metadata.get("meet")
            if isinstance(a, bool):
                values[field.name] = (a or b) if rule == "either" else (a and b)
            elif isinstance(a, frozenset):
                values[field.name] = (a | b) if field.name == "unsupported_fields" else (a & b)
            else:  # limits: the smaller; None is no limit
                values[field.name] = b if a is None else a if b is None else min(a, b)
        merged = Capabilities(name=merged.name, **values)
    unsupported = frozenset(f for kind, p in parts.items() for f in p.capabilities.unsupported_fields if f.startswith(f"{kind}."))
    return attrs.evolve(
        merged,
        name="+".join(c.name for c in caps),
        item_types=frozenset(t for t, p in parts.items() if t in p.capabilities.item_types),
        unsupported_fields=unsupported,
    )


class _Combined(Generic[E]):
    def __init__(self, parts: Mapping[str, E], what: str) -> None:
        self.parts: dict[ItemType, E] = _parts(parts, what)
        self._capabilities = _merged(self.parts)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def capabilities_for(self, item_type: ItemType) -> Capabilities:
        part = self.parts.get(item_type)
        if part is None:
            return attrs.evolve(self._capabilities, item_types=frozenset())
        return capabilities_for(part, item_type)

    def _open(self, address: str, auth: Auth | None, opener: str) -> dict[ItemType, Any]:
        opened: dict[int, Any] = {}
        mailboxes: dict[ItemType, Any] = {}
        try:
            for kind, part in self.parts.items():
                if id(part) not in opened:
                    opened[id(part)] = getattr(part, opener)(address, auth)
                mailboxes[kind] = opened[id(part)]
        except BaseException:
            for mailbox in opened.values():
                mailbox.close()
            raise
        return mailboxes

    def __repr__(self) -> str:
        names = ", ".join(f"{kind}={part!r}" for kind, part in self.parts.items())
        return f"{type(self).__name__}({names})"


class _CombinedMailbox:
    def __init__(self, address: str, parts: dict[ItemType, Any]) -> None:
        self.address = address
        self.parts: dict[ItemType, Any] = parts
        self._distinct: list[Any] = list({id(m): m for m in parts.values()}.values())

    def part(self, folder: Folder) -> Any:
        mailbox = self.parts.get(folder.kind)
        return _Unassigned(self.address) if mailbox is None else mailbox

    def check(self) -> None:
        for mailbox in self._distinct:
            mailbox.check()

    def folders(self) -> list[Folder]:
        found: list[Folder] = []
        for mailbox in self._distinct:
            kinds = {k for k, m in self.parts.items() if m is mailbox}
            found += [f for f in mailbox.folders() if f.kind in kinds]
        return found

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> Iterator[ItemRef]:
        refs: Iterator[ItemRef] = self.part(folder).list_items(folder, since)
        return refs

    def count(self, folder: Folder) -> int:
        count: int = self.part(folder).count(folder)
        return count

    def close(self) -> None:
        errors = []
        for mailbox in self._distinct:
            try:
                mailbox.close()
            except Exception as exc:  # noqa: BLE001 - every part is closed; the first error is raised
                errors.append(exc)
        if errors:
            raise errors[0]


class _Unassigned:
    """Where a folder of a type no endpoint holds goes: nowhere. Its items are skipped by the
    mappers with their reason (the route's capabilities do not list the type); the folder is
    not created and holds nothing."""

    def __init__(self, address: str) -> None:
        self.address = address

    def list_items(self, folder: Folder, since: dt.datetime | None = None) -> Iterator[ItemRef]:
        return iter(())

    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item]:
        return iter(())

    def ensure_folder(self, folder: Folder) -> Folder:
        return attrs.evolve(folder, folder_id=None)

    def create_items(self, folder: Folder, items: Sequence[Item], stamps: Sequence[str] | None = None) -> list[CreateResult]:
        error = f"no endpoint of the destination holds {folder.kind}"
        return [CreateResult(ok=False, error=error, code="NotSupported") for _ in items]

    def existing(self, folder: Folder, item_type: ItemType) -> Iterator[Item]:
        return iter(())

    def fetch_existing(self, folder: Folder, item_ids: Sequence[str]) -> Iterator[Item]:
        return iter(())

    def find_stamps(self, folder: Folder, stamps: Iterable[str] | None = None) -> dict[str, list[str]]:
        return {}

    def count(self, folder: Folder) -> int:
        return 0


class CombinedSourceMailbox(_CombinedMailbox):
    """One account read from several servers."""

    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item | Unreadable]:
        items: Iterator[Item | Unreadable] = self.part(folder).fetch(folder, refs)
        return items

    def read_notes(self, source_ids: Sequence[str]) -> dict[str, list[str]]:
        notes: dict[str, list[str]] = {}
        for mailbox in self._distinct:
            if isinstance(mailbox, SupportsReadNotes):
                notes.update(mailbox.read_notes(source_ids))
        return notes

    def sync_items(self, folder: Folder, state: str | None) -> SyncResult:
        mailbox = self.part(folder)
        if not isinstance(mailbox, SupportsSyncState):
            raise GroupmigrateError(f"the server of {folder.kind} keeps no sync state")
        return mailbox.sync_items(folder, state)


class _ResolvingSourceMailbox(CombinedSourceMailbox):
    def resolve_addresses(self, addresses: Iterable[str]) -> dict[str, str | None]:
        wanted = list(addresses)
        found: dict[str, str | None] = dict.fromkeys(wanted)
        for mailbox in self._distinct:
            if isinstance(mailbox, SupportsAddressResolution):
                open_ = [a for a in wanted if found[a] is None]
                if open_:
                    found.update({a: v for a, v in mailbox.resolve_addresses(open_).items() if v is not None})
        return found


class CombinedDestinationMailbox(_CombinedMailbox):
    """One account written to several servers."""

    def ensure_folder(self, folder: Folder) -> Folder:
        target: Folder = self.part(folder).ensure_folder(folder)
        return target

    def create_items(self, folder: Folder, items: Sequence[Item], stamps: Sequence[str] | None = None) -> list[CreateResult]:
        results: list[CreateResult] = self.part(folder).create_items(folder, items, stamps)
        return results

    def existing(self, folder: Folder, item_type: ItemType) -> Iterator[Item]:
        items: Iterator[Item] = self.part(folder).existing(folder, item_type)
        return items

    def fetch_existing(self, folder: Folder, item_ids: Sequence[str]) -> Iterator[Item]:
        items: Iterator[Item] = self.part(folder).fetch_existing(folder, item_ids)
        return items

    def find_stamps(self, folder: Folder, stamps: Iterable[str] | None = None) -> dict[str, list[str]]:
        # the migrator asks only for item types whose destination keeps stamps (capabilities_for)
        mailbox = self.part(folder)
        if not isinstance(mailbox, SupportsProvenance):
            raise GroupmigrateError(f"the server of {folder.kind} keeps no provenance stamps")
        return mailbox.find_stamps(folder, stamps)

    def rename_folder(self, folder: Folder, name: str) -> Folder:
        mailbox = self.part(folder)
        if not isinstance(mailbox, SupportsFolderRename):
            raise GroupmigrateError(f"the server of {folder.kind} cannot rename folders")
        return mailbox.rename_folder(folder, name)

    def free_space(self) -> int | None:
        """The least any part can still take (None when no part says)."""
        known = [m.free_space() for m in self._distinct if isinstance(m, SupportsQuota)]
        values = [v for v in known if v is not None]
        return min(values) if values else None


class CombinedSource(_Combined[Source]):
    """A source reading each item type from the endpoint given for it.

    Args:
        parts: item type → source endpoint (one endpoint may serve several types).

    Raises:
        ConfigError: a key is not an item type, or its endpoint cannot hold that type.
    """

    def __init__(self, parts: Mapping[str, Source]) -> None:
        super().__init__(parts, "source")

    def open_mailbox(self, address: str, auth: Auth | None = None) -> CombinedSourceMailbox:
        mailboxes = self._open(address, auth, "open_mailbox")
        resolving = any(isinstance(m, SupportsAddressResolution) for m in mailboxes.values())
        return (_ResolvingSourceMailbox if resolving else CombinedSourceMailbox)(address, mailboxes)


class CombinedDestination(_Combined[Destination]):
    """A destination writing each item type to the endpoint given for it.

    Args:
        parts: item type → destination endpoint (one endpoint may serve several types).

    Raises:
        ConfigError: a key is not an item type, or its endpoint cannot hold that type.
    """

    def __init__(self, parts: Mapping[str, Destination]) -> None:
        super().__init__(parts, "destination")

    def open_mailbox(self, address: str, auth: Auth | None = None) -> CombinedDestinationMailbox:
        return CombinedDestinationMailbox(address, self._open(address, auth, "open_mailbox"))
