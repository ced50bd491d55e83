"""MAPI properties that mirror item properties (PR_FLAG_STATUS, PR_MESSAGE_FLAGS, delivery time...).

On a real server these are the same store properties seen two ways: as EWS elements
(``Flag``, ``IsRead``, ``DateTimeReceived``) and as extended properties by tag. Reading one
by tag gives the element's value; writing one by tag changes the element.

The top folder of a mailbox (msgfolderroot) also tells the mailbox's size and quotas by tag
(:func:`read_mailbox_usage`), when the server has a quota (``Knobs.mailbox_quota_bytes``).
"""

from __future__ import annotations

from typing import Optional

from lxml import etree

from groupmigrate.testing.ews.store import Store, StoredFolder, StoredItem
from groupmigrate.testing.ews.xmlns import T, fmt_bool, fmt_datetime, parse_datetime, sub

__all__ = ["MAILBOX_USAGE_TAGS", "MIRRORED_TAGS", "mailbox_size", "normalize_tag", "read_mailbox_usage", "read_mirrored",
           "write_mirrored"]

PR_CLIENT_SUBMIT_TIME = 0x0039
PR_MESSAGE_CLASS = 0x001A
PR_SUBJECT = 0x0037
PR_MESSAGE_DELIVERY_TIME = 0x0E06
PR_MESSAGE_FLAGS = 0x0E07
PR_MESSAGE_SIZE = 0x0E08
PR_FLAG_STATUS = 0x1090
PR_INTERNET_MESSAGE_ID = 0x1035
PR_CREATION_TIME = 0x3007
PR_LAST_MODIFICATION_TIME = 0x3008

MIRRORED_TAGS = frozenset(
    {PR_CLIENT_SUBMIT_TIME, PR_MESSAGE_CLASS, PR_SUBJECT, PR_MESSAGE_DELIVERY_TIME, PR_MESSAGE_FLAGS,
     PR_MESSAGE_SIZE, PR_FLAG_STATUS, PR_INTERNET_MESSAGE_ID, PR_CREATION_TIME, PR_LAST_MODIFICATION_TIME}
)  # fmt: skip

#: on the top folder of a mailbox: its size in bytes (PidTagMessageSizeExtended, Long) and
#: its quotas in KB (Integer)
PR_MESSAGE_SIZE_EXTENDED = 0x0E08
PR_PROHIBIT_RECEIVE_QUOTA = 0x666A
PR_PROHIBIT_SEND_QUOTA = 0x666E
PR_STORAGE_QUOTA_LIMIT = 0x3FF5
MAILBOX_USAGE_TAGS = frozenset({PR_MESSAGE_SIZE_EXTENDED, PR_PROHIBIT_RECEIVE_QUOTA, PR_PROHIBIT_SEND_QUOTA, PR_STORAGE_QUOTA_LIMIT})

_FLAG_TO_INT = {"Complete": "1", "Flagged": "2"}
_INT_TO_FLAG = {"1": "Complete", "2": "Flagged"}


def normalize_tag(uri: etree._Element) -> Optional[int]:
    """The integer PropertyTag of an ExtendedFieldURI, or None when it names a property otherwise."""
    tag = uri.get("PropertyTag")
    if tag is None or uri.get("PropertySetId") or uri.get("DistinguishedPropertySetId"):
        return None
    try:
        return int(tag, 16) if tag.lower().startswith("0x") else int(tag)
    except ValueError:
        return None


def _time(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    try:
        return fmt_datetime(parse_datetime(text))
    except ValueError:
        return None


def read_mirrored(item: StoredItem, tag: int) -> Optional[str]:
    """The value of a mirrored property of ``item`` as EWS writes it, or None when not set."""
    if tag == PR_FLAG_STATUS:
        flag = item.element.find(T("Flag"))
        status = flag.findtext(T("FlagStatus")) if flag is not None else None
        return _FLAG_TO_INT.get(status or "")
    if tag == PR_MESSAGE_FLAGS:
        flags = 0
        if item.text("IsRead") == "true":
            flags |= 0x1
        if item.text("IsDraft") == "true":
            flags |= 0x8
        if item.text("HasAttachments") == "true":
            flags |= 0x10
        return str(flags)
    if tag == PR_MESSAGE_DELIVERY_TIME:
        return _time(item.text("DateTimeReceived"))
    if tag == PR_CLIENT_SUBMIT_TIME:
        return _time(item.text("DateTimeSent"))
    if tag == PR_CREATION_TIME:
        return _time(item.text("DateTimeCreated"))
    if tag == PR_LAST_MODIFICATION_TIME:
        return _time(item.text("LastModifiedTime"))
    if tag == PR_MESSAGE_SIZE:
        return item.text("Size")
    if tag == PR_MESSAGE_CLASS:
        return item.text("ItemClass")
    if tag == PR_SUBJECT:
        return item.text("Subject")
    if tag == PR_INTERNET_MESSAGE_ID:
        return item.text("InternetMessageId")
    return None


def write_mirrored(element: etree._Element, tag: int, value: Optional[str]) -> bool:
    """Apply a mirrored property written by tag to the item element; False when it is not mirrored."""
    from groupmigrate.testing.ews.render import set_prop

    if tag == PR_FLAG_STATUS:
        flag = etree.Element(T("Flag"))
        sub(flag, T("FlagStatus"), _INT_TO_FLAG.get((value or "").strip(), "NotFlagged"))
        set_prop(element, "Flag", flag)
        return True
    if tag == PR_MESSAGE_FLAGS:
        try:
            flags = int(value or "0", 0)
        except ValueError:
            return True
        set_prop(element, "IsRead", fmt_bool(bool(flags & 0x1)))
        set_prop(element, "IsDraft", fmt_bool(bool(flags & 0x8)))
        return True
    if tag in (PR_MESSAGE_DELIVERY_TIME, PR_CLIENT_SUBMIT_TIME):
        text = _time(value)
        if text:
            set_prop(element, "DateTimeReceived" if tag == PR_MESSAGE_DELIVERY_TIME else "DateTimeSent", text)
        return True
    if tag == PR_SUBJECT:
        set_prop(element, "Subject", value or "")
        return True
    return tag in MIRRORED_TAGS


def mailbox_size(store: Store, mailbox: str) -> int:
    """The size of a mailbox: the sum of the sizes of the items it holds."""
    mb = store.mailboxes[mailbox]
    return sum(store.items[i].size for ids in mb.folder_items.values() for i in ids if i in store.items)


def read_mailbox_usage(store: Store, folder: StoredFolder, tag: int, quota_bytes: Optional[int]) -> Optional[str]:
    """A mailbox size or quota property read by tag on ``folder``, or None when not told.

    Only the top folder of a mailbox (msgfolderroot) tells them, and only with a quota.
    """
    if quota_bytes is None or folder.distinguished != "msgfolderroot" or tag not in MAILBOX_USAGE_TAGS:
        return None
    if tag == PR_MESSAGE_SIZE_EXTENDED:
        return str(mailbox_size(store, folder.mailbox))
    return str(quota_bytes // 1024)
