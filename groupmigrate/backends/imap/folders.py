"""IMAP mailboxes as :class:`~groupmigrate.items.Folder` objects, and back.

A mailbox name is split at the server's hierarchy delimiter into ``Folder.path`` (modified
UTF-7 decoded by IMAPClient, and encoded again when a name goes back to the server). The
personal namespace's prefix (``INBOX.`` on Courier-style servers) is not part of a path, so
that the same folder tree has the same paths on every server; INBOX is ``("Inbox",)`` and its
children ``("Inbox", ...)``. Roles come from the SPECIAL-USE attributes (RFC 6154) and, on a
server that has none, from the names such folders usually have.
"""

from __future__ import annotations

import attrs

from groupmigrate.items import Folder

__all__ = ["ATTRIBUTE_ROLES", "COMMON_NAMES", "FolderTree", "Listed"]

#: SPECIAL-USE attribute (lower-case) → Folder.role
ATTRIBUTE_ROLES: dict[bytes, str] = {
    b"\\sent": "sent",
    b"\\drafts": "drafts",
    b"\\trash": "deleted",
    b"\\junk": "junk",
    b"\\archive": "archive",
}
#: names a folder of each role usually has on servers without SPECIAL-USE (compared case-insensitively)
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "sent": ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "Gesendete Objekte", "Gesendet"),
    "drafts": ("Drafts", "Entwürfe"),
    "deleted": ("Trash", "Deleted Items", "Deleted Messages", "Deleted", "Gelöschte Objekte", "Papierkorb"),
    "junk": ("Junk", "Spam", "Junk Email", "Junk E-mail", "Junk-E-Mail"),
    "archive": ("Archive", "Archives", "Archiv"),
}
_NOT_SELECTABLE = (b"\\noselect", b"\\nonexistent")
INBOX_PATH = ("Inbox",)


@attrs.frozen
class Listed:
    """A folder as listed, with the server's name for it (None: a parent the server did not list)."""

    folder: Folder
    name: str | None
    selectable: bool


class FolderTree:
    """The folders of one mailbox, from a LIST answer.

    Args:
        listing: ``(attributes, delimiter, name)`` per mailbox, as LIST gave them.
        prefix: the personal namespace's prefix (``""`` or ``"INBOX."``).
        delimiter: the hierarchy delimiter (None: a flat server).
        others: prefixes of the other users' and shared namespaces (left out).
    """

    def __init__(
        self,
        listing: list[tuple[tuple[bytes, ...], str | None, str]],
        prefix: str = "",
        delimiter: str | None = None,
        others: tuple[str, ...] = (),
    ) -> None:
        if delimiter is None:
            delimiter = next((d for _, d, _ in listing if d), None)
        self.prefix = prefix
        self.delimiter = delimiter
        entries: dict[tuple[str, ...], Listed] = {}
        roles: dict[str, tuple[str, ...]] = {}
        for attributes, _delim, name in listing:
            if any(name.startswith(other) for other in others if other):
                continue
            path = self.path_of(name)
            if not path:
                continue
            lowered = {a.lower() for a in attributes}
            role = "inbox" if path == INBOX_PATH else next((r for a, r in ATTRIBUTE_ROLES.items() if a in lowered), None)
            if role is not None and role in roles:
                role = None  # one folder per role
            if role is not None:
                roles[role] = path
            selectable = not any(a in lowered for a in _NOT_SELECTABLE)
            entries[path] = Listed(Folder(path, kind="mail", role=role, folder_id=name), name, selectable)
        # servers without SPECIAL-USE: the usual names, top level only
        for role, names in COMMON_NAMES.items():
            if role in roles:
                continue
            for wanted in names:
                hit = next((p for p in entries if len(p) == 1 and p[0].casefold() == wanted.casefold()
                            and entries[p].folder.role is None), None)  # fmt: skip
                if hit is not None:
                    entry = entries[hit]
                    entries[hit] = attrs.evolve(entry, folder=attrs.evolve(entry.folder, role=role))
                    roles[role] = hit
                    break
        # parents the server did not list (a hierarchy without its upper levels)
        for path in list(entries):
            for depth in range(1, len(path)):
                parent = path[:depth]
                if parent not in entries:
                    entries[parent] = Listed(Folder(parent, kind="mail", folder_id=None), None, False)
        self.entries = entries

    # -- names and paths ----------------------------------------------------------------------
    def path_of(self, name: str) -> tuple[str, ...]:
        """The path of a mailbox name; () for a name that makes no path."""
        if name.upper() == "INBOX":
            return INBOX_PATH
        rest = name
        if self.prefix and name.startswith(self.prefix):
            rest = name[len(self.prefix) :]
        parts = rest.split(self.delimiter) if self.delimiter else [rest]
        if parts and parts[0].upper() == "INBOX" and len(parts) > 1:
            parts[0] = INBOX_PATH[0]
        return tuple(p for p in parts if p)

    def name_of(self, path: tuple[str, ...]) -> str:
        """The mailbox name for a path (listed, or as it would be created)."""
        listed = self.entries.get(tuple(path))
        if listed is not None and listed.name is not None:
            return listed.name
        parts = list(path)
        if parts and parts[0].casefold() == INBOX_PATH[0].casefold():
            if len(parts) == 1:
                return "INBOX"
            parts[0] = "INBOX"
            inbox = self.entries.get(INBOX_PATH)
            inbox_name = inbox.name if inbox is not None and inbox.name else "INBOX"
            if self.delimiter:
                return inbox_name + self.delimiter + self.delimiter.join(parts[1:])
        if not self.delimiter:
            return self.prefix + "".join(parts)
        return self.prefix + self.delimiter.join(parts)

    # -- lookups ------------------------------------------------------------------------------
    def folders(self) -> list[Folder]:
        """Every folder, parents before children, Inbox first."""
        return [self.entries[p].folder for p in sorted(self.entries, key=lambda p: (p[:1] != INBOX_PATH, p))]

    def with_role(self, role: str) -> Listed | None:
        return next((e for e in self.entries.values() if e.folder.role == role), None)

    def at(self, path: tuple[str, ...]) -> Listed | None:
        """The folder at ``path`` (names compare exactly, as IMAP's do; only INBOX ignores case)."""
        path = tuple(path)
        if path and path[0].casefold() == INBOX_PATH[0].casefold():
            path = INBOX_PATH + path[1:]
        return self.entries.get(path)

    def by_name(self, name: str) -> Listed | None:
        return next((e for e in self.entries.values() if e.name == name), None)
