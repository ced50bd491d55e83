"""Calendars and address books as :class:`~groupmigrate.items.Folder` objects.

Each address book is a ``contacts`` folder. A calendar collection is a folder of the kind of
its main component (VEVENT → ``calendar``, VTODO → ``tasks``, VJOURNAL → ``notes``, in that
order); a collection accepting several components gives one more folder for each other
component that it holds (on a source) or accepts (on a destination), named after the
collection and the kind, e.g. ``"Personal (Tasks)"``, so that paths stay distinct. Every
resource belongs to exactly one folder: a secondary folder holds the resources with its
component, the main folder all the others (so that an unreadable resource is still listed,
and reported, rather than lost between folders).

A folder shows its collection's colour (``color``; every folder of a collection the same).

``folder_id`` is the collection's href, plus ``"#<component>"`` for calendars, so that the
state keeps one sync state per folder. DAV collections are flat: a nested source path is
kept as one name (``"Archive/2020"``).

Roles: the calendar role goes to the default calendar (a collection named like one, e.g.
``calendar`` or ``default``, else the first in href order), ``contacts`` likewise; ``tasks``
and ``notes`` to a collection whose main component is VTODO / VJOURNAL (one named like a task
list or journal first), else to a secondary folder of that component.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from groupmigrate.backends.dav.discovery import Collection
from groupmigrate.items import Folder, ItemType

__all__ = [
    "COMPONENT_OF",
    "DEFAULT_NAMES",
    "KIND_OF",
    "Place",
    "flat_name",
    "folder_id",
    "layout",
    "split_folder_id",
]

KIND_OF: dict[str, ItemType] = {"VEVENT": "calendar", "VTODO": "tasks", "VJOURNAL": "notes"}
COMPONENT_OF: dict[ItemType, str] = {kind: comp for comp, kind in KIND_OF.items()}
_LABELS = {"VEVENT": "Calendar", "VTODO": "Tasks", "VJOURNAL": "Notes"}
#: the names (href segment or display name) a collection of each role usually has; this
#: backend gives its own collections made for a role the role's name
DEFAULT_NAMES = {
    "calendar": ("calendar", "default", "personal", "home", "calendars"),
    "contacts": ("contacts", "default", "addressbook", "addresses", "card"),
    "tasks": ("tasks", "todo", "todos"),
    "notes": ("notes", "journal", "journals"),
}


@attrs.frozen
class Place:
    """Where a folder's items are: its collection and component (None: an address book).

    ``excluded`` are the components whose resources belong to the collection's other folders
    (set on a main folder only).
    """

    folder: Folder
    collection: Collection
    component: str | None
    excluded: tuple[str, ...] = ()

    @property
    def main(self) -> bool:
        return self.component is None or self.component == self.collection.components[0]

    @property
    def shared(self) -> bool:
        """Whether the collection holds other folders too."""
        return self.component is not None and len(self.collection.components) > 1


def folder_id(collection: Collection, component: str | None) -> str:
    return collection.href if component is None else f"{collection.href}#{component}"


def split_folder_id(value: str) -> tuple[str, str | None]:
    href, _, component = value.partition("#")
    return href, (component or None)


def flat_name(path: Sequence[str]) -> str:
    """One collection name for a folder path (DAV collections do not nest)."""
    return "/".join(path)


def _pick(candidates: list[Place], kind: str) -> Place | None:
    if not candidates:
        return None
    names = DEFAULT_NAMES.get(kind, ())
    for name in names:
        for place in candidates:
            if place.collection.segment.casefold() == name or (place.collection.display_name or "").casefold() == name:
                return place
    return candidates[0]


def layout(collections: Sequence[Collection], holds: Callable[[Collection, str], bool]) -> list[Place]:
    """The folders of ``collections`` (in href order); ``holds(collection, component)`` says
    whether a secondary component gets a folder."""
    places: list[Place] = []
    used: set[str] = set()

    def name(wanted: str, collection: Collection) -> str:
        candidate = wanted
        if candidate.casefold() in used:
            candidate = f"{wanted} ({collection.segment})"
        n = 2
        while candidate.casefold() in used:
            candidate, n = f"{wanted} ({n})", n + 1
        used.add(candidate.casefold())
        return candidate

    for collection in collections:
        title = collection.display_name or collection.segment
        if collection.addressbook:
            places.append(Place(Folder((name(title, collection),), "contacts", folder_id=collection.href, display_name=title,
                                       color=collection.color), collection, None))  # fmt: skip
            continue
        main, *others = collection.components
        main_name = name(title, collection)
        places.append(Place(Folder((main_name,), KIND_OF[main], folder_id=folder_id(collection, main), display_name=title,
                                   color=collection.color), collection, main, tuple(others)))  # fmt: skip
        for component in others:
            if holds(collection, component):
                label = f"{title} ({_LABELS[component]})"
                places.append(Place(Folder((name(label, collection),), KIND_OF[component], folder_id=folder_id(collection, component),
                                           display_name=label, color=collection.color), collection, component))  # fmt: skip
    return _with_roles(places)


def _with_roles(places: list[Place]) -> list[Place]:
    roles: dict[int, str] = {}
    calendar = _pick([p for p in places if p.component == "VEVENT" and p.main], "calendar")
    contacts = _pick([p for p in places if p.component is None], "contacts")
    for place, role in ((calendar, "calendar"), (contacts, "contacts")):
        if place is not None:
            roles[id(place)] = role
    for component, role in (("VTODO", "tasks"), ("VJOURNAL", "notes")):
        of_component = [p for p in places if p.component == component]
        chosen = _pick([p for p in of_component if p.main], role) or _pick(of_component, role)
        if chosen is not None:
            roles[id(chosen)] = role
    return [attrs.evolve(p, folder=attrs.evolve(p.folder, role=roles[id(p)])) if id(p) in roles else p for p in places]
