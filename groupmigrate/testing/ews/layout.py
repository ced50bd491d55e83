"""The folders a new mailbox starts with, per server profile."""

from __future__ import annotations

import hashlib
from typing import Optional

from groupmigrate.testing.ews.knobs import Profile
from groupmigrate.testing.ews.store import MailboxStore, Store

__all__ = ["create_default_folders", "legacy_dn", "ROLE_TO_DISTINGUISHED"]

# (name, folder class, distinguished id, children)
Spec = tuple[str, Optional[str], Optional[str], list["Spec"]]

#: items.Folder roles -> distinguished folder ids
ROLE_TO_DISTINGUISHED = {
    "inbox": "inbox",
    "sent": "sentitems",
    "drafts": "drafts",
    "deleted": "deleteditems",
    "junk": "junkemail",
    "outbox": "outbox",
    "calendar": "calendar",
    "contacts": "contacts",
    "tasks": "tasks",
    "notes": "notes",
}


def _exchange_layout(archive: bool, online: bool) -> Spec:
    top: list[Spec] = []
    if archive:
        top.append(("Archive", "IPF.Note", None, []))
    top += [
        ("Calendar", "IPF.Appointment", "calendar", []),
        ("Contacts", "IPF.Contact", "contacts", [
            ("Recipient Cache", "IPF.Contact.RecipientCache", "recipientcache", []),
        ]),
        ("Conversation Action Settings", "IPF.Configuration", None, []),
        ("Conversation History", "IPF.Note", "conversationhistory", []),
        ("Deleted Items", "IPF.Note", "deleteditems", []),
        ("Drafts", "IPF.Note", "drafts", []),
        ("Inbox", "IPF.Note", "inbox", []),
        ("Journal", "IPF.Journal", "journal", []),
        ("Junk Email", "IPF.Note", "junkemail", []),
        ("Notes", "IPF.StickyNote", "notes", []),
        ("Outbox", "IPF.Note", "outbox", []),
        ("Sent Items", "IPF.Note", "sentitems", []),
        ("Sync Issues", "IPF.Note", "syncissues", [
            ("Conflicts", "IPF.Note", "conflicts", []),
            ("Local Failures", "IPF.Note", "localfailures", []),
            ("Server Failures", "IPF.Note", "serverfailures", []),
        ]),
        ("Tasks", "IPF.Task", "tasks", []),
    ]  # fmt: skip
    root: list[Spec] = [
        ("Common Views", None, None, []),
        ("Deferred Action", None, None, []),
        ("ExchangeSyncData", None, None, []),
        ("Finder", None, "searchfolders", []),
        ("Recoverable Items", None, "recoverableitemsroot", [
            ("Deletions", None, "recoverableitemsdeletions", []),
            ("Purges", None, "recoverableitemspurges", []),
            ("Versions", None, "recoverableitemsversions", []),
        ]),
        ("Schedule", None, None, []),
        ("System", None, None, []),
        ("Top of Information Store", None, "msgfolderroot", top),
        ("Views", None, None, []),
    ]  # fmt: skip
    if online:
        root[4][3].append(("SubstrateHolds", None, "recoverableitemssubstrateholds", []))
    return ("", None, "root", root)


def _workmail_layout() -> Spec:
    top: list[Spec] = [
        ("Calendar", "IPF.Appointment", "calendar", []),
        ("Contacts", "IPF.Contact", "contacts", []),
        ("Deleted Items", "IPF.Note", "deleteditems", []),
        ("Drafts", "IPF.Note", "drafts", []),
        ("Inbox", "IPF.Note", "inbox", []),
        ("Journal", "IPF.Journal", "journal", []),
        ("Junk E-mail", "IPF.Note", "junkemail", []),
        ("Notes", "IPF.StickyNote", "notes", []),
        ("Outbox", "IPF.Note", "outbox", []),
        ("Sent Items", "IPF.Note", "sentitems", []),
        ("Tasks", "IPF.Task", "tasks", []),
    ]
    return ("", None, "root", [("Top of Information Store", None, "msgfolderroot", top)])


_HIDDEN = frozenset({"Recipient Cache", "Conversation Action Settings"})


def legacy_dn(address: str) -> str:
    """An Exchange legacyExchangeDN for a mailbox, as Exchange Online writes them."""
    digest = hashlib.md5(address.lower().encode()).hexdigest()  # noqa: S324 - an identifier, not security
    local = address.split("@", 1)[0].lower()
    return f"/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={digest}-{local}"


def create_default_folders(store: Store, mb: MailboxStore, profile: Profile) -> None:
    """Create the well-known folders of a new mailbox."""
    if profile.name == "workmail":
        spec = _workmail_layout()
    else:
        spec = _exchange_layout(profile.archive_folder, profile.name == "exchange-online")

    root_id = store.create_folder(mb, None, spec[0], spec[1], spec[2]).folder_id

    def make(node: Spec, parent: str, hidden: bool) -> None:
        name, folder_class, distinguished, children = node
        hidden = hidden or name in _HIDDEN
        folder = store.create_folder(mb, parent, name, folder_class, distinguished, hidden=hidden)
        for child in children:
            make(child, folder.folder_id, hidden)

    for top in spec[3]:
        # everything beside the top of the information store is a system folder
        make(top, root_id, top[2] != "msgfolderroot")
