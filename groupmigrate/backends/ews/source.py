"""Reading a mailbox over EWS: folders, item listing, byte-bounded fetch, sync states, names.

A source connection cannot write: its HTTP sessions refuse to POST any EWS operation that is
not a read (:mod:`.connection`, :data:`.fixes.READ_OPERATIONS`), whatever path the request
took through exchangelib, and raise :class:`~groupmigrate.errors.SourceIsReadOnly`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from exchangelib.items import ID_ONLY

from groupmigrate.backends.ews.convert.common import utc
from groupmigrate.backends.ews.endpoint import Endpoint
from groupmigrate.backends.ews.mailbox import MailboxBase
from groupmigrate.backends.ews.models import MailItem
from groupmigrate.backends.ews.services import ResolveOneName, SyncItems, folder_id
from groupmigrate.items import Folder, Item, ItemRef
from groupmigrate.protocols import SyncResult

__all__ = ["EWSSource", "EWSSourceMailbox"]

_SYNC_FIELDS = ("size", "datetime_received", "last_modified_time", "item_class")
_IMCEA = re.compile(r"^IMCEAEX-(?P<dn>[^@]+)@(?P<domain>.+)$", re.IGNORECASE)


def _x500_from_imcea(address: str) -> str | None:
    """``IMCEAEX-_o=Org_ou=..._cn=Recipients_cn=alice@domain`` -> ``/o=Org/ou=.../cn=alice``."""
    match = _IMCEA.match(address.strip())
    if match is None:
        return None
    encoded = match.group("dn")
    out = []
    i = 0
    while i < len(encoded):
        ch = encoded[i]
        if ch == "_":
            out.append("/")
        elif ch == "+" and i + 2 < len(encoded) + 1 and re.fullmatch(r"[0-9A-Fa-f]{2}", encoded[i + 1 : i + 3] or ""):
            out.append(chr(int(encoded[i + 1 : i + 3], 16)))
            i += 2
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class EWSSourceMailbox(MailboxBase):
    """Read access to one mailbox (see :class:`~groupmigrate.protocols.SourceMailbox`)."""

    def fetch(self, folder: Folder, refs: Sequence[ItemRef]) -> Iterator[Item]:
        """The items for ``refs`` in order, each read as what it is (a mail filed among contacts
        comes back as a :class:`~groupmigrate.items.Message`); one GetItem per kind present
        (plus attachments/occurrences when present, and one light GetItem for ids not listed
        by this mailbox before).

        Items the server no longer has are left out.
        """
        return iter(self._read_any([r.id for r in refs]))

    def resolve_addresses(self, addresses: Iterable[str]) -> dict[str, str | None]:
        """SMTP addresses for X500 (``/o=...``) and ``IMCEAEX-...@domain`` addresses (None when unknown)."""
        resolved: dict[str, str | None] = {}
        for address in addresses:
            if address in resolved:
                continue
            name = _x500_from_imcea(address) or address

            def run(entry: str = name) -> list[Any]:
                svc = ResolveOneName(account=self._account)
                return list(svc.call(unresolved_entries=[entry], return_full_contact_data=False))

            results = self._call(run)
            smtp = None
            for mailbox in results:
                if isinstance(mailbox, Exception) or mailbox is None:
                    continue
                if mailbox.email_address and (mailbox.routing_type or "SMTP").upper() == "SMTP":
                    smtp = mailbox.email_address
                    break
            resolved[address] = smtp
        return resolved

    def sync_items(self, folder: Folder, state: str | None) -> SyncResult:
        """Items created or changed since ``state`` (None: everything), and the state to pass next time."""
        refs: list[ItemRef] = []
        deleted: list[str] = []
        current = state
        fid = folder_id(self._fid(folder))
        while True:

            def run(sync_state: str | None = current) -> tuple[list[Any], str | None, bool]:
                svc = SyncItems(account=self._account)
                changes = list(
                    svc.call(
                        folder=fid, shape=ID_ONLY, additional_fields=self._paths(MailItem, _SYNC_FIELDS),
                        sync_state=sync_state, ignore=None, max_changes_returned=512, sync_scope="NormalItems",
                    )
                )  # fmt: skip
                return changes, svc.sync_state, bool(svc.includes_last_item_in_range)

            changes, current, done = self._call(run)
            for change in changes:
                if isinstance(change, Exception):
                    continue
                kind, payload = change
                if kind in (SyncItems.CREATE, SyncItems.UPDATE):
                    item_type = self._learn(payload)
                    refs.append(
                        ItemRef(
                            id=payload.id,
                            size=max(0, int(getattr(payload, "size", 0) or 0)),
                            changed=utc(getattr(payload, "last_modified_time", None)) or utc(getattr(payload, "datetime_received", None)),
                            item_type=item_type,
                        )
                    )
                elif kind == SyncItems.DELETE:
                    deleted.append(payload.id)
                elif kind == SyncItems.READ_FLAG_CHANGE:
                    known = self._kinds.get(payload[0].id)
                    refs.append(ItemRef(id=payload[0].id, item_type=known[0] if known else "mail"))
            if done or not changes:
                break
        return SyncResult(refs=tuple(refs), state=current or "", deleted=tuple(deleted))


class EWSSource(Endpoint):
    """An EWS server that mailboxes are read from (see the package docstring for arguments)."""

    read_only = True

    def open_mailbox(self, address: str, auth: Any = None) -> EWSSourceMailbox:
        """The mailbox ``address``; ``auth`` overrides the endpoint's credentials (per-user login)."""
        connection, owned = self._connection_for(address, auth)
        return EWSSourceMailbox(connection, address, impersonation=self._impersonation_for(auth), owns_connection=owned)
