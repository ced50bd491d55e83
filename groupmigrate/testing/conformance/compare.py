"""What a destination should hold for an item (the core's mapping), and field-by-field comparison."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from groupmigrate.capabilities import Capabilities
from groupmigrate.core.mappers import MapContext
from groupmigrate.core.pipeline import Prepared, prepare
from groupmigrate.core.sanitize import Sanitizer
from groupmigrate.items import ALL_ITEM_TYPES, Contact, Event, Item, ItemRef, Message, Note, Task

__all__ = ["assert_same", "differences", "mapped"]

UTC = dt.timezone.utc


def mapped(item: Item, caps: Capabilities, owner: str = "conformance@example.org") -> Prepared:
    """``item`` as the migrator prepares it for a route with capabilities ``caps``: mapped
    (:func:`groupmigrate.core.mappers.map_item`), sanitized and cut to the contact limits.

    ``.item`` is what the destination is to hold, or None with ``.skip_reason`` when the
    item is not sent at all. ``owner`` is the destination mailbox (the organizer where the
    route cannot keep the original one).
    """
    ref = ItemRef(item.source_id or "conformance-item", item.size, None, item.item_type)
    return prepare(
        ref, item, source_address="conformance@example.org", folder_kind=item.item_type,
        item_types=ALL_ITEM_TYPES, caps=caps, context=MapContext(owner=owner), sanitizer=Sanitizer(),
    )  # fmt: skip


# -- normalising what servers may legitimately re-express ---------------------------------


def _moment(value: Any) -> Any:
    """A datetime as a UTC instant to the second; anything else as is."""
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(microsecond=0)
    return value


def _text(value: str | None) -> str:
    """Text with line ends and surrounding white space normalised."""
    return (value or "").replace("\r\n", "\n").strip()


def _mime_body(mime: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in mime:
            return mime.split(separator, 1)[1].replace(b"\r\n", b"\n").strip()
    return b""


def _sorted(values: Iterable[Any], key: Callable[[Any], Any] = lambda v: v) -> list[Any]:
    return sorted((key(v) for v in values), key=repr)


def _same_zone(a: str | None, b: str | None, at: Any) -> bool:
    """Whether two zone names give the same offsets (in January and July of ``at``'s year).

    A server may hand back another name for the same clock (``Europe/Paris`` stored as a
    Windows zone comes back as ``Europe/Berlin``).
    """
    if not a or not b or a == b:
        return True
    try:
        za, zb = zoneinfo.ZoneInfo(a), zoneinfo.ZoneInfo(b)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    year = at.year if isinstance(at, dt.date) else 2026
    probes = (dt.datetime(year, 1, 15, 12, tzinfo=UTC), dt.datetime(year, 7, 15, 12, tzinfo=UTC))
    return all(p.astimezone(za).utcoffset() == p.astimezone(zb).utcoffset() for p in probes)


def _address(value: str | None) -> str:
    """The bare, lower-case address of ``"Name <a@b>"`` or ``"a@b"``."""
    text = (value or "").strip()
    if "<" in text and text.endswith(">"):
        text = text.rsplit("<", 1)[1][:-1]
    return text.lower()


# -- the comparison -------------------------------------------------------------------------

#: per item class: (field, normaliser); a normaliser maps one item's value to what is compared
_Field = tuple[str, Callable[[Any], Any]]
_SAME: Callable[[Any], Any] = _moment
_FIELDS: dict[type, tuple[_Field, ...]] = {
    Message: (
        ("is_read", _SAME), ("flag", _SAME), ("importance", _SAME), ("message_id", _SAME), ("subject", _SAME),
        ("sender", _SAME), ("sent", _SAME), ("kind", _SAME), ("categories", _sorted), ("sensitivity", _SAME),
        ("flag_start", _SAME), ("flag_due", _SAME), ("flag_completed", _SAME), ("flag_request", _SAME),
        ("reminder", _SAME),
    ),
    Contact: (
        ("display_name", _SAME), ("given_name", _SAME), ("middle_name", _SAME), ("surname", _SAME),
        ("nickname", _SAME), ("company", _SAME), ("department", _SAME), ("job_title", _SAME), ("birthday", _SAME),
        ("notes", _text), ("is_distribution_list", _SAME), ("photo", _SAME),
        ("emails", lambda v: _sorted(v, str.lower)), ("websites", _sorted),
        ("phones", lambda v: _sorted(v, lambda p: (p.label, p.number))),
        ("addresses", lambda v: _sorted(v, attrs.astuple)),
        ("members", lambda v: _sorted(v, str.lower)), ("categories", _sorted),
        ("attachments", lambda v: _sorted(v, lambda a: (a.name, a.content))),
        ("named_emails", lambda v: _sorted(v, lambda p: (p[0].lower(), p[1]))), ("member_names", _sorted),
        ("initials", _SAME), ("generation", _SAME), ("manager", _SAME), ("assistant_name", _SAME),
        ("spouse_name", _SAME), ("children", list), ("profession", _SAME), ("office_location", _SAME),
        ("personal_homepage", _SAME), ("im_addresses", _sorted), ("wedding_anniversary", _SAME),
    ),
    Event: (
        ("subject", _SAME), ("start", _SAME), ("end", _SAME), ("is_all_day", _SAME), ("location", _SAME),
        ("body", _text), ("body_is_html", _SAME), ("recurrence", _SAME), ("recurrence_id", _SAME), ("uid", _SAME),
        ("reminder_minutes", _SAME), ("show_as", _SAME), ("sensitivity", _SAME), ("categories", _sorted),
        ("attendees", lambda v: _sorted(v, lambda a: (a.address.lower(), a.role))),
        ("deleted_occurrences", lambda v: _sorted(v, _moment)),
        ("attachments", lambda v: _sorted(v, lambda a: (a.name, a.content))),
        ("reminder_is_set", _SAME), ("importance", _SAME), ("online_meeting_url", _SAME),
        ("meeting_workspace_url", _SAME),
    ),
    Task: (
        ("subject", _SAME), ("body", _text), ("start", _SAME), ("due", _SAME), ("status", _SAME),
        ("percent_complete", _SAME), ("importance", _SAME), ("recurrence", _SAME), ("categories", _sorted),
        ("reminder_at", _SAME), ("reminder_is_set", _SAME), ("owner", _SAME), ("total_work", _SAME),
        ("actual_work", _SAME), ("mileage", _SAME), ("billing_information", _SAME), ("companies", list),
    ),
    Note: (
        ("subject", _SAME), ("body", _text), ("color", _SAME), ("categories", _sorted), ("width", _SAME),
        ("height", _SAME),
    ),
}

#: fields the server sets itself where the expected item leaves them empty
_SERVER_SET: dict[type, tuple[str, ...]] = {
    Message: ("received",),
    Task: ("completed",),
    Note: ("created", "modified"),
    Contact: ("file_as",),
}


def differences(expected: Item, actual: Item, caps: Capabilities | None = None) -> list[str]:
    """What differs between ``expected`` (usually :func:`mapped`) and ``actual`` (read back).

    One string per field, naming it with both values. Compared are the fields a person sees;
    ids and sizes are not. Servers may re-express a value without changing it: instants are
    compared as UTC to the second, texts without surrounding white space, lists as sets, a
    time zone by its offsets. Fields a server sets itself (a message's received time, a
    note's dates) are compared only when ``expected`` has them. A message's MIME is
    compared byte for byte where ``caps.stores_exact_mime``, else by its body.
    """
    if type(expected) is not type(actual):
        return [f"type: expected {type(expected).__name__}, got {type(actual).__name__}"]
    out: list[str] = []
    for name, normal in _FIELDS[type(expected)]:
        want, got = getattr(expected, name), getattr(actual, name)
        if normal(want) != normal(got):
            out.append(f"{name}: expected {want!r}, got {got!r}")
    for name in _SERVER_SET.get(type(expected), ()):
        want, got = getattr(expected, name), getattr(actual, name)
        if want is not None and _moment(want) != _moment(got):
            out.append(f"{name}: expected {want!r}, got {got!r}")
    if isinstance(expected, Message):
        assert isinstance(actual, Message)
        if caps is not None and caps.stores_exact_mime:
            if expected.mime != actual.mime:
                out.append(f"mime: expected {len(expected.mime)} bytes, got {len(actual.mime)} other bytes")
        elif expected.mime and actual.mime and _mime_body(expected.mime) != _mime_body(actual.mime):
            out.append("mime: the body differs")
    elif isinstance(expected, Event):
        assert isinstance(actual, Event)
        out += _event_differences(expected, actual)
    return out


def _event_differences(expected: Event, actual: Event) -> list[str]:
    out: list[str] = []
    if not expected.is_all_day and not _same_zone(expected.timezone, actual.timezone, expected.start):
        out.append(f"timezone: expected {expected.timezone!r}, got {actual.timezone!r}")
    if expected.organizer is not None and _address(expected.organizer) != _address(actual.organizer):
        out.append(f"organizer: expected {expected.organizer!r}, got {actual.organizer!r}")
    responses = {a.address.lower(): a.response for a in actual.attendees}
    for attendee in expected.attendees:
        if attendee.response is not None and responses.get(attendee.address.lower()) != attendee.response:
            out.append(f"attendees[{attendee.address}].response: expected {attendee.response!r}, "
                       f"got {responses.get(attendee.address.lower())!r}")  # fmt: skip
    by_id = {_moment(e.recurrence_id): e for e in actual.exceptions}
    if len(expected.exceptions) != len(actual.exceptions):
        out.append(f"exceptions: expected {len(expected.exceptions)}, got {len(actual.exceptions)}")
    for exception in expected.exceptions:
        other = by_id.get(_moment(exception.recurrence_id))
        if other is None:
            out.append(f"exceptions[{exception.recurrence_id}]: missing")
            continue
        for problem in differences(exception, other):
            if problem.split(":", 1)[0] in ("subject", "start", "end"):  # the rest may come from the series
                out.append(f"exceptions[{exception.recurrence_id}].{problem}")
    return out


def assert_same(expected: Item, actual: Item, caps: Capabilities | None = None, what: str = "item") -> None:
    """Fail with every differing field named unless ``actual`` holds what ``expected`` does."""
    problems = differences(expected, actual, caps)
    if problems:
        raise AssertionError(f"{what} {_label(expected)}:\n  " + "\n  ".join(problems))


def _label(item: Item) -> str:
    for name in ("message_id", "uid", "display_name", "subject"):
        value = getattr(item, name, None)
        if value:
            return repr(value)
    return repr(item)
