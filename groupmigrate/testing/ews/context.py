"""The per-request context handed to operations: who calls, on which mailbox, and id lookups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import attrs
from lxml import etree

from groupmigrate.testing.ews.auth import Principal
from groupmigrate.testing.ews.soap import Envelope, ResponseError, SoapFault
from groupmigrate.testing.ews.store import MailboxStore, StoredFolder, StoredItem, Store
from groupmigrate.testing.ews.xmlns import T, local

if TYPE_CHECKING:
    from groupmigrate.testing.ews.knobs import Knobs, Profile
    from groupmigrate.testing.ews.service import Service

__all__ = ["Context", "folder_not_found", "item_not_found"]


def folder_not_found() -> ResponseError:
    return ResponseError("ErrorFolderNotFound", "The specified folder could not be found in the store.")


def item_not_found() -> ResponseError:
    return ResponseError("ErrorItemNotFound", "The specified object was not found in the store.")


def access_denied() -> ResponseError:
    return ResponseError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")


@attrs.define
class Context:
    """Everything an operation needs to answer one request."""

    service: Service
    principal: Principal
    envelope: Envelope
    version: str
    acting: Optional[MailboxStore]
    impersonating: bool = False
    wrote: bool = False

    @property
    def store(self) -> Store:
        return self.service.store

    @property
    def knobs(self) -> Knobs:
        return self.service.knobs

    @property
    def profile(self) -> Profile:
        return self.service.profile

    @property
    def op(self) -> etree._Element:
        return self.envelope.operation

    def mailbox(self) -> MailboxStore:
        """The mailbox the request acts on; app-only callers must impersonate one."""
        if self.acting is None:
            if not self.principal.is_app:
                raise SoapFault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
            raise SoapFault(
                "ErrorInvalidExchangeImpersonationHeader",
                "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
            )
        return self.acting

    def may_access(self, mb: MailboxStore) -> bool:
        """Own mailbox, the impersonated one, or (apps) any; delegate access is not modelled."""
        if self.acting is not None and mb.address == self.acting.address:
            return True
        return False

    def _mailbox_of(self, address: Optional[str]) -> MailboxStore:
        if not address:
            return self.mailbox()
        mb = self.store.mailbox(address)
        if mb is None:
            raise ResponseError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        if not self.may_access(mb):
            raise access_denied()
        return mb

    def resolve_folder(self, el: etree._Element) -> StoredFolder:
        """A FolderId / DistinguishedFolderId element to a stored folder, or a ResponseError."""
        name = local(el.tag)
        if name == "DistinguishedFolderId":
            mailbox_el = el.find(T("Mailbox"))
            address = None
            if mailbox_el is not None:
                addr_el = mailbox_el.find(T("EmailAddress"))
                address = addr_el.text if addr_el is not None else None
            mb = self._mailbox_of(address)
            folder_id = mb.distinguished.get(el.get("Id", ""))
            if folder_id is None:
                raise folder_not_found()
            return self.store.folders[folder_id]
        if name in ("FolderId", "ParentFolderId", "SavedItemFolderId", "ToFolderId"):
            folder = self.store.folders.get(el.get("Id", ""))
            if folder is None:
                raise self._bad_id(el.get("Id", ""), "folder")
            mb = self.store.mailboxes[folder.mailbox]
            if not self.may_access(mb):
                raise access_denied()
            return folder
        raise ResponseError("ErrorInvalidIdMalformed", "Id is malformed.")

    def _bad_id(self, value: str, kind: str) -> ResponseError:
        import base64
        import binascii

        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return ResponseError("ErrorInvalidIdMalformed", "Id is malformed.")
        if len(raw) < 12:
            return ResponseError("ErrorInvalidIdMalformed", "Id is malformed.")
        return folder_not_found() if kind == "folder" else item_not_found()

    def folder_of_container(self, container: Optional[etree._Element]) -> StoredFolder:
        """The single folder inside a container such as ``m:ParentFolderId`` / ``m:SavedItemFolderId``."""
        if container is None:
            raise folder_not_found()
        for child in container:
            if isinstance(child.tag, str):
                return self.resolve_folder(child)
        raise folder_not_found()

    def resolve_item(self, el: etree._Element) -> StoredItem:
        """An ItemId element to a stored item, checking access; ResponseError otherwise."""
        value = el.get("Id", "")
        item = self.store.items.get(value)
        if item is None:
            raise self._bad_id(value, "item")
        mb = self.store.mailboxes[item.mailbox]
        if not self.may_access(mb):
            raise access_denied()
        return item

    def fmt_time_fractional(self) -> bool:
        return self.knobs.fractional_seconds
