"""exchangelib services adjusted for migration work.

Each class keeps exchangelib's request building and response parsing and changes only:

* per-item errors of every kind come back as exception objects in result order (exchangelib
  raises most of them, which would lose the results of the other items of the batch);
* items and attachments are read into our models (:mod:`.models`), folders into light
  :class:`FolderRecord`;
* GetItem can ask for plain-text bodies (``BodyType``), which exchangelib cannot;
* ResolveNames sends one name per request (the schema allows only one ``UnresolvedEntry``;
  exchangelib batches up to 100) and carries the impersonation header of the mailbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs
from exchangelib.errors import ErrorServerBusy, ResponseMessageError
from exchangelib.folders import BaseFolder
from exchangelib.items import ID_ONLY
from exchangelib.properties import DistinguishedFolderId, FolderId, Mailbox
from exchangelib.services import (
    CreateAttachment,
    CreateFolder,
    CreateItem,
    DeleteItem,
    FindFolder,
    FindItem,
    GetAttachment,
    GetFolder,
    GetItem,
    ResolveNames,
    SyncFolderItems,
    UpdateItem,
)
from exchangelib.util import MNS, TNS, add_xml_child, create_element, xml_text_to_value

from groupmigrate.backends.ews.mimewire import MimeCutter, MimeSplicer
from groupmigrate.backends.ews.models import (
    ATTACHMENT_MODELS,
    ITEM_MODELS,
    Hidden,
    MailboxSize,
    ProhibitReceiveQuota,
    StorageQuotaLimit,
)

__all__ = [
    "AnyErrorCreateAttachment",
    "AnyErrorCreateItem",
    "AnyErrorDeleteItem",
    "AnyErrorUpdateItem",
    "FolderRecord",
    "GetFolderRecords",
    "GetMailboxUsage",
    "MailboxUsage",
    "CreateFolderRecords",
    "FindFolderRecords",
    "FindItems",
    "GetItems",
    "GetAttachments",
    "ResolveOneName",
    "SyncItems",
    "SinceRestriction",
    "StampRestriction",
]

_CATCH_ALL = (ResponseMessageError,)


def _back_off_aware(cls: Any) -> Any:
    """Read BackOffMilliseconds of a per-message ErrorServerBusy (exchangelib reads it only in SOAP faults)."""
    plain = cls._get_exception

    def _get_exception(code: Any, text: Any, msg_xml: Any = None, rule_errors: Any = None) -> Any:
        error = plain(code=code, text=text, msg_xml=msg_xml, rule_errors=rule_errors)
        if isinstance(error, ErrorServerBusy) and msg_xml is not None:
            for value in msg_xml.findall(f"{{{TNS}}}Value"):
                if value.get("Name") == "BackOffMilliseconds" and (value.text or "").strip().isdigit():
                    error.back_off = int(value.text) / 1000.0
        return error

    cls._get_exception = staticmethod(_get_exception)
    return cls


def _model_for(tag: str) -> Any:
    model = ITEM_MODELS.get(tag)
    return model if model is not None else BaseFolder.item_model_from_tag(tag)


@attrs.frozen
class FolderRecord:
    """What a folder listing tells about one folder."""

    id: str
    changekey: str | None
    parent_id: str | None
    name: str
    folder_class: str | None
    tag: str
    total_count: int | None = None
    child_count: int | None = None
    distinguished: str | None = None
    hidden: bool = False


def _text(elem: Any, name: str) -> str | None:
    child = elem.find(f"{{{TNS}}}{name}")
    return None if child is None else (child.text or None)


def folder_record(elem: Any) -> FolderRecord:
    """Read a ``t:Folder`` / ``t:CalendarFolder`` / ... element."""
    fid = elem.find(f"{{{TNS}}}FolderId")
    parent = elem.find(f"{{{TNS}}}ParentFolderId")
    distinguished = elem.find(f"{{{TNS}}}DistinguishedFolderId")
    hidden = False
    for prop in elem.findall(f"{{{TNS}}}ExtendedProperty"):
        if Hidden.is_property_instance(prop):
            hidden = bool(xml_text_to_value(_text(prop, "Value") or "false", bool))
    total = _text(elem, "TotalCount")
    children = _text(elem, "ChildFolderCount")
    return FolderRecord(
        id=fid.get("Id") if fid is not None else "",
        changekey=fid.get("ChangeKey") if fid is not None else None,
        parent_id=parent.get("Id") if parent is not None else None,
        name=_text(elem, "DisplayName") or "",
        folder_class=_text(elem, "FolderClass"),
        tag=elem.tag.split("}", 1)[-1],
        total_count=int(total) if total is not None else None,
        child_count=int(children) if children is not None else None,
        distinguished=(distinguished.text if distinguished is not None and distinguished.text else None),
        hidden=hidden,
    )


@_back_off_aware
class GetFolderRecords(GetFolder):  # type: ignore[misc]
    """GetFolder returning :class:`FolderRecord` (or the error per requested folder)."""

    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL

    def _elems_to_objs(self, elems: Iterable[Any]) -> Iterator[Any]:
        for elem in elems:
            yield elem if isinstance(elem, Exception) else folder_record(elem)


@attrs.frozen
class MailboxUsage:
    """A mailbox's size (bytes) and quotas (KB) as its top folder tells them; None: not told."""

    size: int | None = None
    prohibit_receive_quota_kb: int | None = None
    storage_quota_limit_kb: int | None = None


def mailbox_usage(elem: Any) -> MailboxUsage:
    """Read the size and quota extended properties of a ``t:Folder`` element (absent ones: None)."""
    found: dict[str, int | None] = {}
    for prop in elem.findall(f"{{{TNS}}}ExtendedProperty"):
        for name, cls in (
            ("size", MailboxSize),
            ("prohibit_receive_quota_kb", ProhibitReceiveQuota),
            ("storage_quota_limit_kb", StorageQuotaLimit),
        ):
            if cls.is_property_instance(prop):
                text = (_text(prop, "Value") or "").strip()
                try:
                    found[name] = int(text)
                except ValueError:
                    found[name] = None
    return MailboxUsage(**found)


@_back_off_aware
class GetMailboxUsage(GetFolder):  # type: ignore[misc]
    """GetFolder returning :class:`MailboxUsage` (or the error per requested folder)."""

    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL

    def _elems_to_objs(self, elems: Iterable[Any]) -> Iterator[Any]:
        for elem in elems:
            yield elem if isinstance(elem, Exception) else mailbox_usage(elem)


#: FolderClass -> the element a new folder of that class is created as
_FOLDER_TAGS = {"IPF.Appointment": "t:CalendarFolder", "IPF.Contact": "t:ContactsFolder", "IPF.Task": "t:TasksFolder"}


@_back_off_aware
class CreateFolderRecords(CreateFolder):  # type: ignore[misc]
    """CreateFolder from ``(name, folder_class)`` pairs under a parent id; :class:`FolderRecord` results."""

    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL

    def _elems_to_objs(self, elems: Iterable[Any]) -> Iterator[Any]:
        for elem in elems:
            yield elem if isinstance(elem, Exception) else folder_record(elem)

    def get_payload(self, folders: Sequence[tuple[str, str]], parent_folder: Any) -> Any:
        from exchangelib.services.common import folder_ids_element

        payload = create_element(f"m:{self.SERVICE_NAME}")
        payload.append(folder_ids_element(folders=[parent_folder], version=self.account.version, tag="m:ParentFolderId"))
        container = create_element("m:Folders")
        for name, folder_class in folders:
            elem = create_element(_FOLDER_TAGS.get(folder_class, "t:Folder"))
            add_xml_child(elem, "t:FolderClass", folder_class)
            add_xml_child(elem, "t:DisplayName", name)
            container.append(elem)
        payload.append(container)
        return payload


@_back_off_aware
class FindFolderRecords(FindFolder):  # type: ignore[misc]
    """FindFolder from a folder id (no exchangelib folder tree needed), as :class:`FolderRecord`."""

    def call_records(self, parent: Any, additional_fields: Any, depth: str) -> Iterator[Any]:
        return self._elems_to_objs(  # type: ignore[no-any-return]
            self._paged_call(
                payload_func=self.get_payload,
                max_items=None,
                folders=[parent],
                additional_fields=additional_fields,
                restriction=None,
                shape=ID_ONLY,
                depth=depth,
                page_size=self.page_size,
                offset=0,
            )
        )

    def _elem_to_obj(self, elem: Any) -> FolderRecord:
        return folder_record(elem)


@_back_off_aware
class FindItems(FindItem):  # type: ignore[misc]
    """FindItem that reads items into our models."""

    def _elem_to_obj(self, elem: Any) -> Any:
        return _model_for(elem.tag).from_xml(elem=elem, account=self.account)


@_back_off_aware
class GetItems(MimeCutter, GetItem):  # type: ignore[misc]
    """GetItem with every per-item error returned in place, our models, an optional BodyType,
    and MIME read off the wire without parsing (:mod:`.mimewire`)."""

    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL

    def __init__(self, *args: Any, body_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_type = body_type

    def _elem_to_obj(self, elem: Any) -> Any:
        return _model_for(elem.tag).from_xml(elem=elem, account=self.account)

    def get_payload(self, items: Any, additional_fields: Any, shape: Any) -> Any:
        payload = super().get_payload(items=items, additional_fields=additional_fields, shape=shape)
        if self.body_type:
            shape_elem = payload.find(f"{{{MNS}}}ItemShape")
            body_type = create_element("t:BodyType")
            body_type.text = self.body_type
            # BodyType follows BaseShape (and IncludeMimeContent) in ItemResponseShapeType.
            shape_elem.insert(1, body_type)
        return payload


@_back_off_aware
class GetAttachments(GetAttachment):  # type: ignore[misc]
    """GetAttachment with per-attachment errors returned in place, read into our attachment models."""

    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL
    cls_map = ATTACHMENT_MODELS


@_back_off_aware
class AnyErrorCreateItem(MimeSplicer, CreateItem):  # type: ignore[misc]
    """CreateItem into a folder id, every per-item error returned in place, MIME spliced into
    the serialized request (:mod:`.mimewire`).

    exchangelib's ``call()`` wants a folder object of the same account; a plain FolderId is
    enough for the request.
    """

    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL

    def create(self, items: Sequence[Any], folder: Any, message_disposition: str, send_meeting_invitations: str) -> Iterator[Any]:
        return self._elems_to_objs(  # type: ignore[no-any-return]
            self._chunked_get_elements(
                self.get_payload,
                items=items,
                folder=folder,
                message_disposition=message_disposition,
                send_meeting_invitations=send_meeting_invitations,
            )
        )


@_back_off_aware
class AnyErrorCreateAttachment(CreateAttachment):  # type: ignore[misc]
    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL


@_back_off_aware
class AnyErrorUpdateItem(UpdateItem):  # type: ignore[misc]
    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL


@_back_off_aware
class AnyErrorDeleteItem(DeleteItem):  # type: ignore[misc]
    ERRORS_TO_CATCH_IN_RESPONSE = _CATCH_ALL


@_back_off_aware
class SyncItems(SyncFolderItems):  # type: ignore[misc]
    """SyncFolderItems that reads created/updated items into our models."""

    def _elem_to_obj(self, elem: Any) -> Any:
        change_type = self.change_types_map[elem.tag]
        if change_type in (self.CREATE, self.UPDATE):
            item_elem = elem[0]
            return change_type, _model_for(item_elem.tag).from_xml(elem=item_elem, account=self.account)
        return super()._elem_to_obj(elem)


@_back_off_aware
class ResolveOneName(ResolveNames):  # type: ignore[misc]
    """ResolveNames for one name, sent with the mailbox's impersonation header."""

    def __init__(self, *args: Any, account: Any, **kwargs: Any) -> None:
        kwargs.setdefault("chunk_size", 1)
        super().__init__(*args, protocol=account.protocol, **kwargs)
        self.account = account

    @property
    def _version_hint(self) -> Any:
        # exchangelib reads the protocol's version here, unset until a first request; the
        # account's version is guessed on demand.
        return self.account.version

    @_version_hint.setter
    def _version_hint(self, value: Any) -> None:
        self.account.version = value

    @property
    def _account_to_impersonate(self) -> Any:
        from exchangelib.credentials import IMPERSONATION

        return self.account.identity if self.account.access_type == IMPERSONATION else None

    def _extra_headers(self) -> dict[str, str]:
        headers: dict[str, str] = super()._extra_headers()
        headers["X-AnchorMailbox"] = self.account.primary_smtp_address
        return headers

    def _elem_to_obj(self, elem: Any) -> Any:
        mailbox = elem.find(Mailbox.response_tag())
        return None if mailbox is None else Mailbox.from_xml(elem=mailbox, account=None)


class SinceRestriction:
    """``<m:Restriction>`` for "field at or after a moment", built without an exchangelib folder."""

    def __init__(self, field_uri: str, value: Any) -> None:
        self.field_uri = field_uri
        self.value = value

    def to_xml(self, version: Any) -> Any:
        from exchangelib.util import value_to_xml_text

        restriction = create_element("m:Restriction")
        test = create_element("t:IsGreaterThanOrEqualTo")
        test.append(create_element("t:FieldURI", attrs={"FieldURI": self.field_uri}))
        constant_holder = create_element("t:FieldURIOrConstant")
        constant_holder.append(create_element("t:Constant", attrs={"Value": value_to_xml_text(self.value)}))
        test.append(constant_holder)
        restriction.append(test)
        return restriction


class StampRestriction:
    """``<m:Restriction>`` for "carries one of these provenance stamps" (``Or`` of ``IsEqualTo``
    on the stamp's ExtendedFieldURI), or "carries a stamp" (``Exists``) when ``stamps`` is None."""

    def __init__(self, stamps: Sequence[str] | None) -> None:
        self.stamps = None if stamps is None else list(stamps)

    @staticmethod
    def _uri() -> Any:
        from groupmigrate.backends.ews.models import PROVENANCE_PROPERTY_NAME, PROVENANCE_PROPERTY_SET, PROVENANCE_TYPE

        return create_element(
            "t:ExtendedFieldURI",
            attrs={"PropertySetId": PROVENANCE_PROPERTY_SET, "PropertyName": PROVENANCE_PROPERTY_NAME, "PropertyType": PROVENANCE_TYPE},
        )

    def to_xml(self, version: Any) -> Any:
        restriction = create_element("m:Restriction")
        if self.stamps is None:
            exists = create_element("t:Exists")
            exists.append(self._uri())
            restriction.append(exists)
            return restriction
        tests = []
        for stamp in self.stamps:
            test = create_element("t:IsEqualTo")
            test.append(self._uri())
            holder = create_element("t:FieldURIOrConstant")
            holder.append(create_element("t:Constant", attrs={"Value": stamp}))
            test.append(holder)
            tests.append(test)
        if len(tests) == 1:
            restriction.append(tests[0])
        else:
            either = create_element("t:Or")
            for test in tests:
                either.append(test)
            restriction.append(either)
        return restriction


def distinguished(name: str, address: str) -> DistinguishedFolderId:
    """A DistinguishedFolderId in ``address``'s mailbox."""
    return DistinguishedFolderId(id=name, mailbox=Mailbox(email_address=address))


def folder_id(value: str, changekey: str | None = None) -> FolderId:
    return FolderId(id=value, changekey=changekey)

