"""Helpers shared by the converters: times, zones, bodies, attachments, categories."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from exchangelib.attachments import FileAttachment
from exchangelib.ewsdatetime import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.properties import HTMLBody
from exchangelib.properties import Body as EWSBody

from groupmigrate.items import Attachment

__all__ = [
    "attachment_from_ews",
    "attachment_to_ews",
    "body_from_ews",
    "body_to_ews",
    "ews_date",
    "ews_datetime",
    "ews_zone",
    "plain_date",
    "utc",
    "zone_name",
]

UTC = dt.timezone.utc


def utc(value: Any) -> dt.datetime | None:
    """A plain aware UTC datetime for an exchangelib EWSDateTime (or any aware datetime)."""
    if value is None or not isinstance(value, dt.datetime):
        return None
    offset = value.utcoffset()
    if offset is None:
        return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=UTC)
    naive = dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond) - offset
    return naive.replace(tzinfo=UTC)


def in_zone(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """``value`` as a plain datetime in ``zone``."""
    moment = utc(value)
    return None if moment is None else moment.astimezone(zone)


def plain_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return dt.date(value.year, value.month, value.day)
    return dt.date(value.year, value.month, value.day)


def ews_datetime(value: dt.datetime | None) -> EWSDateTime | None:
    """An exchangelib UTC EWSDateTime for an aware datetime."""
    moment = utc(value)
    if moment is None:
        return None
    return EWSDateTime.from_datetime(moment.replace(tzinfo=None)).replace(tzinfo=EWSTimeZone("UTC"))


def ews_datetime_in(value: dt.datetime, zone: EWSTimeZone) -> EWSDateTime:
    moment = utc(value)
    assert moment is not None
    local = moment.astimezone(zoneinfo.ZoneInfo(zone.key))
    return EWSDateTime.from_datetime(local.replace(tzinfo=None)).replace(tzinfo=zone)


def ews_date(value: dt.date | None) -> EWSDate | None:
    return None if value is None else EWSDate(value.year, value.month, value.day)


def ews_zone(name: str | None) -> EWSTimeZone | None:
    """exchangelib's zone for an IANA name (None when exchangelib cannot map it to a Windows id)."""
    if not name:
        return None
    try:
        return EWSTimeZone(name)
    except Exception:  # noqa: BLE001 - unknown or unmappable zone names
        return None


def zone_name(zone: Any) -> str | None:
    """The IANA name of an exchangelib zone."""
    if zone is None:
        return None
    return getattr(zone, "key", None) or None


def body_from_ews(value: Any) -> tuple[str | None, bool]:
    """(text, is_html) of an exchangelib Body/HTMLBody."""
    if value is None:
        return None, False
    return str(value), isinstance(value, HTMLBody)


def body_to_ews(text: str | None, is_html: bool = False) -> EWSBody | None:
    if text is None:
        return None
    return HTMLBody(text) if is_html else EWSBody(text)


def attachment_from_ews(att: Any) -> Attachment | None:
    """A neutral attachment for an exchangelib FileAttachment with content (ItemAttachments: None)."""
    if not isinstance(att, FileAttachment):
        return None
    content = att._content or b""
    return Attachment(
        name=att.name or "attachment",
        content=content,
        content_type=att.content_type or "application/octet-stream",
        is_inline=bool(att.is_inline),
        content_id=att.content_id,
        is_contact_photo=bool(att.is_contact_photo),
    )


def attachment_to_ews(att: Attachment, *, as_contact_photo: bool | None = None) -> FileAttachment:
    photo = att.is_contact_photo if as_contact_photo is None else as_contact_photo
    kwargs: dict[str, Any] = {
        "name": att.name,
        "content": att.content,
        "content_type": att.content_type,
    }
    if att.is_inline:
        kwargs["is_inline"] = True
    if att.content_id:
        kwargs["content_id"] = att.content_id
    if photo:
        kwargs["is_contact_photo"] = True
    return FileAttachment(**kwargs)


def categories(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


def ews_categories(value: tuple[str, ...]) -> list[str] | None:
    return list(value) or None
