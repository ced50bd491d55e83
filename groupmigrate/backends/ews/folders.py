"""The folder tree of a mailbox: which folders hold user content, their kind, role and path.

Roles come from the server's distinguished folder ids (``inbox``, ``sentitems`` ...), never
from folder names, which are localized. Kinds come from the FolderClass. Search folders,
hidden folders, folders of a class that holds no user content and the trees of system
folders (sync issues, conversation history, recipient cache ...) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from exchangelib.folders import known_folders

from groupmigrate.backends.ews.services import FolderRecord
from groupmigrate.items import Folder, ItemType

__all__ = [
    "FOLDER_CLASSES",
    "ROLE_IDS",
    "build_tree",
    "kind_of",
    "system_ids",
]

#: distinguished folder id -> neutral role
ROLE_IDS: dict[str, str] = {
    "inbox": "inbox",
    "sentitems": "sent",
    "drafts": "drafts",
    "deleteditems": "deleted",
    "junkemail": "junk",
    "outbox": "outbox",
    "calendar": "calendar",
    "contacts": "contacts",
    "tasks": "tasks",
    "notes": "notes",
}
#: neutral role -> distinguished folder id
ROLE_TO_ID = {role: name for name, role in ROLE_IDS.items()}

#: kind -> the FolderClass a new folder of that kind gets
FOLDER_CLASSES: dict[ItemType, str] = {
    "mail": "IPF.Note",
    "contacts": "IPF.Contact",
    "calendar": "IPF.Appointment",
    "tasks": "IPF.Task",
    "notes": "IPF.StickyNote",
}
_KINDS = {cls.lower(): kind for kind, cls in FOLDER_CLASSES.items()}
_KINDS["ipf.imap"] = "mail"
_KINDS["ipf"] = "mail"

#: element names of folders that hold no items of their own
_NOT_CONTENT_TAGS = frozenset({"SearchFolder"})

#: distinguished folders whose whole tree is server bookkeeping, not user content
_SYSTEM = (
    "syncissues", "conflicts", "localfailures", "serverfailures", "conversationhistory",
    "recipientcache", "quickcontacts", "imcontactlist", "peopleconnect", "mycontacts",
    "favorites", "todosearch", "directory", "voicemail", "journal", "searchfolders",
    "allcategorizeditems", "allcontacts", "allitems", "allpersonmetadata", "companycontacts",
    "dlppolicyevaluation", "fromfavoritesenders", "inference", "onenotepagepreviews",
    "peoplecentricconversationbuddies", "quarantinedemail", "quarantinedemaildefaultcategory",
    "relevantcontacts", "sharepointnotifications", "shortnotes", "temporarysaves",
    "usercuratedcontacts",
)  # fmt: skip


def _known_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for value in vars(known_folders).values():
        name = getattr(value, "DISTINGUISHED_FOLDER_ID", None)
        if isinstance(value, type) and isinstance(name, str):
            found.setdefault(name, value)
    return found


_KNOWN = _known_classes()


def system_ids(version: object, *, online: bool) -> list[str]:
    """The system folder ids the server (of ``version``) knows.

    Ids that exist only in Exchange Online's schema are asked for only when ``online``;
    asking a server for an id its schema lacks fails the whole request.
    """
    found = []
    for name in _SYSTEM:
        cls = _KNOWN.get(name)
        if cls is None:
            continue
        supported_from = getattr(cls, "supported_from", None)
        if supported_from is not None and getattr(supported_from, "major_version", 0) == 15 and getattr(supported_from, "minor_version", 0) == 20 and not online:
            continue
        if version is not None and not cls.supports_version(version):  # type: ignore[attr-defined]
            continue
        found.append(name)
    return found


def kind_of(folder_class: str | None) -> ItemType | None:
    """The item type a FolderClass holds, or None for classes without user content.

    Folders without a class (created by IMAP clients) hold mail.
    """
    if not folder_class:
        return "mail"
    return _KINDS.get(folder_class.lower())


def build_tree(
    root_id: str,
    records: Iterable[FolderRecord],
    roles: dict[str, str],
    skip_ids: Iterable[str] = (),
) -> list[Folder]:
    """Neutral folders under the top of the mailbox, parents before children.

    Args:
        root_id: the id of ``msgfolderroot`` (not itself listed).
        records: every folder under it.
        roles: folder id -> neutral role.
        skip_ids: ids of system folders; they and their subtrees are left out.
    """
    by_id = {r.id: r for r in records}
    skip = set(skip_ids)
    paths: dict[str, tuple[str, ...] | None] = {root_id: ()}

    def path_of(record: FolderRecord) -> tuple[str, ...] | None:
        if record.id in paths:
            return paths[record.id]
        paths[record.id] = None  # guards against a parent loop
        if record.id in skip or record.hidden or record.tag in _NOT_CONTENT_TAGS or not record.name:
            return None
        parent = by_id.get(record.parent_id or "")
        if record.parent_id == root_id:
            parent_path: tuple[str, ...] | None = ()
        elif parent is None:
            return None
        else:
            parent_path = path_of(parent)
        if parent_path is None:
            return None
        result = (*parent_path, record.name)
        paths[record.id] = result
        return result

    folders = []
    for record in by_id.values():
        path = path_of(record)
        if not path:
            continue
        kind = kind_of(record.folder_class)
        if kind is None:
            continue
        role = roles.get(record.id)
        if role is not None and role in ("calendar", "contacts", "tasks", "notes") and kind != role:
            role = None
        folders.append(Folder(path=path, kind=kind, role=role, folder_id=record.id, display_name=record.name))
    folders.sort(key=lambda f: (len(f.path), [p.lower() for p in f.path]))
    return folders
