"""exchangelib item models with the extra properties a migration reads and writes.

exchangelib's ``register()`` would add extended properties to its own classes for the whole
process; these subclasses carry them instead, so other users of exchangelib see no change.

* :class:`MailItem` is an EWS ``Message`` (mail and sticky notes, which EWS returns as
  ``Message`` elements with ItemClass ``IPM.StickyNote``) with a writable ItemClass and the
  MAPI properties EWS has no first-class field for: flag status (PidTagFlagStatus 0x1090),
  delivery and submit time (0x0E06 / 0x0039: DateTimeReceived/DateTimeSent are read-only),
  message flags (0x0E07, so a created mail is not shown as an unsent draft), the follow-up
  flag's dates and text (PidLidTaskStartDate / PidLidTaskDueDate / PidTagFlagCompleteTime /
  PidLidFlagRequest: the Flag element's dates exist only from Exchange 2013 and WorkMail
  speaks Exchange 2010 SP2) and note colour and size (PidLidNoteColor / Width / Height).
* :class:`Provenance` is groupmigrate's provenance stamp: a named string property in
  groupmigrate's own property set (:data:`PROVENANCE_PROPERTY_SET`), written in the same
  CreateItem as the item it marks. Every item model here carries it as ``provenance``, so a
  stray item (a mail filed among contacts) is read with its stamp like any other.
* :data:`FOLDER_HIDDEN` marks hidden folders (PR_ATTR_HIDDEN 0x10F4);
  :data:`MAILBOX_USAGE_FIELDS` are the mailbox's size and quotas, read on its top folder.

Every model here (and the attachments read with it: :class:`FileAttachmentItem`,
:class:`ItemAttachmentItem`) reads its timestamps with the field types of :mod:`.fixes`, which
accept fractional seconds; SystemTime extended properties do the same. exchangelib's own
classes keep their parsing.
"""

from __future__ import annotations

from typing import Any

from exchangelib.attachments import FileAttachment, ItemAttachment
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.fields import AttachmentField, CharField, EmailAddressesField, ExtendedPropertyField, Field, TextField
from exchangelib.indexed_properties import EmailAddress
from exchangelib.items import (
    CalendarItem,
    Contact,
    DistributionList,
    Item,
    MeetingCancellation,
    MeetingRequest,
    MeetingResponse,
    Message,
    PostItem,
    Task,
)
from exchangelib.properties import ExtendedFieldURI, Fields
from exchangelib.util import TNS, get_xml_attr

from groupmigrate.backends.ews.fixes import ews_datetime, retyped, with_fractional_times
from groupmigrate.backends.ews.mimewire import PassThroughMimeField

__all__ = [
    "FOLDER_HIDDEN",
    "MAILBOX_USAGE_FIELDS",
    "PROVENANCE_PROPERTY_NAME",
    "PROVENANCE_PROPERTY_SET",
    "PROVENANCE_TYPE",
    "CalendarEventItem",
    "ContactItem",
    "DistListItem",
    "FileAttachmentItem",
    "GenericItem",
    "ItemAttachmentItem",
    "PROVENANCE_FIELD",
    "Provenance",
    "DeliveryTime",
    "FlagCompleteTime",
    "FlagDueDate",
    "FlagRequest",
    "FlagStartDate",
    "FlagStatus",
    "Hidden",
    "MailboxSize",
    "MailItem",
    "MessageFlags",
    "NoteColor",
    "NoteHeight",
    "NoteWidth",
    "NotePost",
    "ProhibitReceiveQuota",
    "StorageQuotaLimit",
    "SubmitTime",
    "TaskDateCompleted",
    "TaskOwner",
    "TaskItem",
]

#: PidLidNoteColor values (MAPI numbering); convert/vocabulary.py maps NoteColor to their keys.
NOTE_COLOR_VALUES = {"Blue": 0, "Green": 1, "Pink": 2, "Yellow": 3, "White": 4}
#: PidTagFlagStatus values.
FLAG_VALUES = {"NotFlagged": 0, "Complete": 1, "Flagged": 2}
MSGFLAG_READ = 0x1

#: groupmigrate's own MAPI property set (a fixed GUID): the namespace of its named properties.
PROVENANCE_PROPERTY_SET = "eaec4cb4-9f85-481a-b658-7e0d17adf30a"
#: the name of the provenance stamp property in that set
PROVENANCE_PROPERTY_NAME = "groupmigrate-provenance"
PROVENANCE_TYPE = "String"


class _MatchedProperty(ExtendedProperty):  # type: ignore[misc]
    """An extended property matched by number, not by spelling.

    Servers echo ``PropertyTag="0x39"`` or ``"0x0039"`` and property set ids in either case;
    exchangelib compares the strings and would miss the value.
    """

    @classmethod
    def is_property_instance(cls, elem: Any) -> bool:
        uri = elem.find(ExtendedFieldURI.response_tag())
        if uri is None or uri.get("PropertyType") != cls.property_type:
            return False
        if cls.property_tag is not None:
            tag = uri.get("PropertyTag")
            try:
                return tag is not None and int(tag, 16) == cls.property_tag_as_int()
            except ValueError:
                return False
        set_id = (uri.get("PropertySetId") or "").lower()
        prop_id = uri.get("PropertyId")
        try:
            return set_id == str(cls.property_set_id).lower() and prop_id is not None and int(prop_id, 0) == cls.property_id
        except ValueError:
            return False

    @classmethod
    def from_xml(cls, elem: Any, account: Any) -> Any:
        if cls.property_type == "SystemTime":  # a fraction of a second is read too
            value = ews_datetime(get_xml_attr(elem, f"{{{TNS}}}Value"))
            if value is not None:
                return value
        return super().from_xml(elem=elem, account=account)


class FlagStatus(_MatchedProperty):
    property_tag = 0x1090
    property_type = "Integer"


class DeliveryTime(_MatchedProperty):
    property_tag = 0x0E06
    property_type = "SystemTime"


class SubmitTime(_MatchedProperty):
    property_tag = 0x0039
    property_type = "SystemTime"


class MessageFlags(_MatchedProperty):
    property_tag = 0x0E07
    property_type = "Integer"


class NoteColor(_MatchedProperty):
    property_set_id = "0006200E-0000-0000-C000-000000000046"
    property_id = 0x8B00
    property_type = "Integer"


class FlagStartDate(_MatchedProperty):
    """PidLidTaskStartDate: a flagged message's follow-up start (EWS Flag/StartDate, 2013+ only)."""

    property_set_id = "00062003-0000-0000-C000-000000000046"
    property_id = 0x8104
    property_type = "SystemTime"


class FlagDueDate(_MatchedProperty):
    """PidLidTaskDueDate: a flagged message's follow-up due date (EWS Flag/DueDate, 2013+ only)."""

    property_set_id = "00062003-0000-0000-C000-000000000046"
    property_id = 0x8105
    property_type = "SystemTime"


class FlagCompleteTime(_MatchedProperty):
    """PidTagFlagCompleteTime: when the flag was marked complete (EWS Flag/CompleteDate, 2013+ only)."""

    property_tag = 0x1091
    property_type = "SystemTime"


class FlagRequest(_MatchedProperty):
    """PidLidFlagRequest: the follow-up text shown with a flag ("Follow up", "Call" ...)."""

    property_set_id = "00062008-0000-0000-C000-000000000046"
    property_id = 0x8530
    property_type = "String"


class NoteWidth(_MatchedProperty):
    """PidLidNoteWidth: a sticky note's window width in pixels."""

    property_set_id = "0006200E-0000-0000-C000-000000000046"
    property_id = 0x8B02
    property_type = "Integer"


class NoteHeight(_MatchedProperty):
    """PidLidNoteHeight: a sticky note's window height in pixels."""

    property_set_id = "0006200E-0000-0000-C000-000000000046"
    property_id = 0x8B03
    property_type = "Integer"


class TaskDateCompleted(_MatchedProperty):
    """PidLidTaskDateCompleted: EWS's CompleteDate is read-only (the server stamps "now")."""

    property_set_id = "00062003-0000-0000-C000-000000000046"
    property_id = 0x810F
    property_type = "SystemTime"


class TaskOwner(_MatchedProperty):
    """PidLidTaskOwner: EWS's Owner is read-only; the server shows this property as the owner."""

    property_set_id = "00062003-0000-0000-C000-000000000046"
    property_id = 0x811F
    property_type = "String"


class Provenance(ExtendedProperty):  # type: ignore[misc]
    """The provenance stamp: a named String property in :data:`PROVENANCE_PROPERTY_SET`.

    Matched with the property set id in any case (servers answer GUIDs in lower case).
    """

    property_set_id = PROVENANCE_PROPERTY_SET
    property_name = PROVENANCE_PROPERTY_NAME
    property_type = PROVENANCE_TYPE

    @classmethod
    def is_property_instance(cls, elem: Any) -> bool:
        uri = elem.find(ExtendedFieldURI.response_tag())
        if uri is None or uri.get("PropertyType") != cls.property_type:
            return False
        return (uri.get("PropertySetId") or "").lower() == PROVENANCE_PROPERTY_SET and uri.get("PropertyName") == PROVENANCE_PROPERTY_NAME


class Hidden(_MatchedProperty):
    property_tag = 0x10F4
    property_type = "Boolean"


class MailboxSize(_MatchedProperty):
    """PidTagMessageSizeExtended on the top of a mailbox: the mailbox's size in bytes."""

    property_tag = 0x0E08
    property_type = "Long"


class ProhibitReceiveQuota(_MatchedProperty):
    """PidTagProhibitReceiveQuota: the size (KB) at which the mailbox takes no more items."""

    property_tag = 0x666A
    property_type = "Integer"


class StorageQuotaLimit(_MatchedProperty):
    """PR_STORAGE_QUOTA_LIMIT: the size (KB) at which the owner is warned."""

    property_tag = 0x3FF5
    property_type = "Integer"


def _fractional(base: Fields) -> Fields:
    """A copy of ``base`` whose timestamps read fractional seconds and whose attachments are ours."""
    return Fields(*(_our_attachments(f) if isinstance(f, AttachmentField) else with_fractional_times(f) for f in base))


class FileAttachmentItem(FileAttachment):  # type: ignore[misc]
    """A file attachment as read by this backend (fractional LastModifiedTime)."""

    FIELDS = _fractional(FileAttachment.FIELDS)


class ItemAttachmentItem(ItemAttachment):  # type: ignore[misc]
    """An item attachment as read by this backend (fractional LastModifiedTime)."""

    FIELDS = _fractional(ItemAttachment.FIELDS)


#: Tags of attachment elements in responses and the model that reads them.
ATTACHMENT_MODELS = {cls.response_tag(): cls for cls in (FileAttachmentItem, ItemAttachmentItem)}


class _Attachments(AttachmentField):  # type: ignore[misc]
    """An item's attachments, read into :data:`ATTACHMENT_MODELS` (written like exchangelib's)."""

    def from_xml(self, elem: Any, account: Any) -> Any:
        container = elem.find(self.response_tag())
        if container is None:
            return self.default
        attachments: list[Any] = []
        for cls in (ItemAttachmentItem, FileAttachmentItem):  # exchangelib's order
            attachments.extend(cls.from_xml(elem=e, account=account) for e in container.findall(cls.response_tag()))
        return attachments


def _our_attachments(field: Field) -> Field:
    return retyped(field, _Attachments)


def _fields_with_extras(base: Fields, extras: list[Field]) -> Fields:
    """A copy of ``base`` with fractional timestamps, ItemClass writable and ``extras`` where EWS
    expects extended properties."""
    fields = _fractional(base)
    mime = fields.index_by_name("mime_content")
    fields[mime] = retyped(fields[mime], PassThroughMimeField)
    fields._dict["mime_content"] = fields[mime]
    index = fields.index_by_name("item_class")
    fields[index] = CharField("item_class", field_uri="item:ItemClass")
    fields._dict["item_class"] = fields[index]
    position = fields.index_by_name("has_attachments") + 1
    for offset, field in enumerate(extras):
        fields.insert(position + offset, field)
    return fields


def _stamp() -> Field:
    return ExtendedPropertyField("provenance", value_cls=Provenance)


#: the provenance field (the same on every model), for FindItem's AdditionalProperties
PROVENANCE_FIELD = _stamp()


def _extras() -> list[Field]:
    return [
        _stamp(),
        ExtendedPropertyField("flag_status", value_cls=FlagStatus),
        ExtendedPropertyField("delivery_time", value_cls=DeliveryTime),
        ExtendedPropertyField("submit_time", value_cls=SubmitTime),
        ExtendedPropertyField("message_flags", value_cls=MessageFlags),
        ExtendedPropertyField("note_color", value_cls=NoteColor),
        ExtendedPropertyField("flag_start", value_cls=FlagStartDate),
        ExtendedPropertyField("flag_due", value_cls=FlagDueDate),
        ExtendedPropertyField("flag_completed", value_cls=FlagCompleteTime),
        ExtendedPropertyField("flag_request", value_cls=FlagRequest),
        ExtendedPropertyField("note_width", value_cls=NoteWidth),
        ExtendedPropertyField("note_height", value_cls=NoteHeight),
    ]


class MailItem(Message):  # type: ignore[misc]
    """An EWS Message with writable ItemClass and the extended properties above."""

    FIELDS = _fields_with_extras(Message.FIELDS, _extras())


class NotePost(PostItem):  # type: ignore[misc]
    """A PostItem as some servers return sticky notes; same extras as :class:`MailItem`."""

    FIELDS = _fields_with_extras(PostItem.FIELDS, _extras())


class TaskItem(Task):  # type: ignore[misc]
    """An EWS Task with its completion date as a writable extended property, and the stamp."""

    FIELDS = _fields_with_extras(
        Task.FIELDS,
        [
            _stamp(),
            ExtendedPropertyField("date_completed", value_cls=TaskDateCompleted),
            ExtendedPropertyField("task_owner", value_cls=TaskOwner),
        ],
    )


class PersonalHomePage(_MatchedProperty):
    """PidTagPersonalHomePage: EWS has an element only for the business home page."""

    property_tag = 0x3A50
    property_type = "String"


class _EntryAttribute(TextField):  # type: ignore[misc]
    """A text attribute of an indexed entry (``<t:Entry Key=... Name="...">``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_attribute = True

    def from_xml(self, elem: Any, account: Any) -> Any:
        return elem.get(self.field_uri) or None


class NamedEmailAddress(EmailAddress):  # type: ignore[misc]
    """A contact's e-mail address with its display name (the entry's ``Name`` attribute),
    which exchangelib's EmailAddress leaves out."""

    name = _EntryAttribute(field_uri="Name")


class _NamedEmailAddresses(EmailAddressesField):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._value_cls = NamedEmailAddress


def _contact_fields() -> Fields:
    fields = _fields_with_extras(
        Contact.FIELDS, [_stamp(), ExtendedPropertyField("personal_homepage", value_cls=PersonalHomePage)]
    )
    index = fields.index_by_name("email_addresses")
    fields[index] = _NamedEmailAddresses("email_addresses", field_uri="contacts:EmailAddress")
    fields._dict["email_addresses"] = fields[index]
    return fields


class ContactItem(Contact):  # type: ignore[misc]
    """An EWS Contact with the provenance stamp, the personal home page and the display name
    of each e-mail address."""

    FIELDS = _contact_fields()


class DistListItem(DistributionList):  # type: ignore[misc]
    """An EWS DistributionList with the provenance stamp."""

    FIELDS = _fields_with_extras(DistributionList.FIELDS, [_stamp()])


class CalendarEventItem(CalendarItem):  # type: ignore[misc]
    """An EWS CalendarItem with the provenance stamp."""

    FIELDS = _fields_with_extras(CalendarItem.FIELDS, [_stamp()])


class GenericItem(Item):  # type: ignore[misc]
    """A plain EWS Item (``t:Item``, e.g. an unknown message class) with the provenance stamp."""

    FIELDS = _fields_with_extras(Item.FIELDS, [_stamp()])


class StampedMeetingRequest(MeetingRequest):  # type: ignore[misc]
    FIELDS = _fields_with_extras(MeetingRequest.FIELDS, [_stamp()])


class StampedMeetingResponse(MeetingResponse):  # type: ignore[misc]
    FIELDS = _fields_with_extras(MeetingResponse.FIELDS, [_stamp()])


class StampedMeetingCancellation(MeetingCancellation):  # type: ignore[misc]
    FIELDS = _fields_with_extras(MeetingCancellation.FIELDS, [_stamp()])


FOLDER_HIDDEN = ExtendedPropertyField("hidden", value_cls=Hidden)

#: what the top of a mailbox tells about its size and quota (see :mod:`.destination`)
MAILBOX_USAGE_FIELDS = (
    ExtendedPropertyField("mailbox_size", value_cls=MailboxSize),
    ExtendedPropertyField("prohibit_receive_quota", value_cls=ProhibitReceiveQuota),
    ExtendedPropertyField("storage_quota_limit", value_cls=StorageQuotaLimit),
)

#: Tags of item elements in responses and the model that reads them.
ITEM_MODELS = {
    f"{{{TNS}}}Message": MailItem,
    f"{{{TNS}}}PostItem": NotePost,
    f"{{{TNS}}}Task": TaskItem,
    f"{{{TNS}}}Contact": ContactItem,
    f"{{{TNS}}}DistributionList": DistListItem,
    f"{{{TNS}}}CalendarItem": CalendarEventItem,
    f"{{{TNS}}}Item": GenericItem,
    f"{{{TNS}}}MeetingRequest": StampedMeetingRequest,
    f"{{{TNS}}}MeetingResponse": StampedMeetingResponse,
    f"{{{TNS}}}MeetingCancellation": StampedMeetingCancellation,
}
