"""Sample items for the conformance suite, and samples sized at and beyond a stated limit."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import zoneinfo

from groupmigrate.items import (
    Attachment,
    Attendee,
    Contact,
    Event,
    FlagStatus,
    Importance,
    Item,
    ItemType,
    Message,
    Note,
    NoteColor,
    Phone,
    PostalAddress,
    Response,
    Sensitivity,
    ShowAs,
    Task,
    TaskStatus,
)

__all__ = [
    "contact_with",
    "message_of_size",
    "message_with_attachment",
    "sample_items",
    "sample_message",
    "stamp_for",
]

UTC = dt.timezone.utc


def stamp_for(source_id: str, mailbox: str = "conformance@example.org") -> str:
    """A provenance stamp as the migrator makes them: 32 hex digits naming a source item."""
    return hashlib.sha256(f"{mailbox}\0{source_id}".encode()).hexdigest()[:32]


def _headers(n: int, sent: dt.datetime, content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (
        f"From: Bob Sender <bob@example.org>\r\nTo: Alice <alice@contoso.com>\r\n"
        f"Subject: Message {n} - Grüße\r\nMessage-ID: <msg-{n}@example.org>\r\n"
        f"Date: {sent.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n"
    ).encode()


def sample_message(n: int, *, received: dt.datetime | None = None, body: bytes = b"Hello") -> Message:
    """A small MIME message numbered ``n``, sent at ``received`` (when given) and received a minute later."""
    sent = received or dt.datetime(2026, 1, 5, 10, n % 60, tzinfo=UTC)
    mime = _headers(n, sent) + b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n"
    return Message.from_mime(
        mime,
        is_read=n % 2 == 0,
        flag=(FlagStatus.NONE, FlagStatus.FLAGGED, FlagStatus.COMPLETE)[n % 3],
        categories=("Red",) if n % 2 else (),
        importance=(Importance.NORMAL, Importance.HIGH, Importance.LOW)[n % 3],
        received=sent + dt.timedelta(minutes=1),
        **_follow_up(n, sent),
    )


def _follow_up(n: int, sent: dt.datetime) -> dict[str, object]:
    """Sensitivity, flag dates and text and a reminder, by ``n`` as the flag goes (see sample_message)."""
    values: dict[str, object] = {"sensitivity": (Sensitivity.NORMAL, Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL,
                                                 Sensitivity.PERSONAL)[n % 4]}
    if n % 3:  # flagged or complete
        values.update(flag_start=sent + dt.timedelta(days=1), flag_due=sent + dt.timedelta(days=3),
                      flag_request=("Follow up", "Call")[n % 2])
    if n % 3 == 1:
        values["reminder"] = sent + dt.timedelta(days=3, hours=-1)
    if n % 3 == 2:
        values["flag_completed"] = sent + dt.timedelta(days=2)
    return values


def message_of_size(n: int, size: int) -> Message:
    """A plain-text message of exactly ``size`` bytes of MIME (``Message.size == size``)."""
    sent = dt.datetime(2026, 1, 6, 8, n % 60, tzinfo=UTC)
    head = _headers(n, sent) + b"Content-Transfer-Encoding: 7bit\r\n\r\n"
    room = size - len(head)
    if room < 2:
        raise ValueError(f"message_of_size: {size} bytes cannot hold the headers ({len(head)} bytes)")
    line = b"x" * 76 + b"\r\n"
    body = line * ((room - 2) // len(line))
    body += b"y" * (room - 2 - len(body)) + b"\r\n"
    message = Message.from_mime(head + body, received=sent + dt.timedelta(minutes=1))
    assert message.size == size
    return message


def message_with_attachment(n: int, attachment_bytes: int) -> Message:
    """A message with one attachment of exactly ``attachment_bytes`` decoded bytes."""
    sent = dt.datetime(2026, 1, 7, 8, n % 60, tzinfo=UTC)
    content = bytes(range(256)) * (attachment_bytes // 256) + bytes(range(attachment_bytes % 256))
    encoded = base64.encodebytes(content).replace(b"\n", b"\r\n")
    mime = (
        _headers(n, sent, 'multipart/mixed; boundary="conformance-boundary"')
        + b"\r\n--conformance-boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n"
        + b"--conformance-boundary\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n"
        + b"Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + encoded
        + b"--conformance-boundary--\r\n"
    )
    message = Message.from_mime(mime, received=sent + dt.timedelta(minutes=1))
    assert message.attachment_bytes == attachment_bytes
    return message


_PHONE_LABELS = ("mobile", "business", "home", "business2", "home2", "other", "car", "pager")
_ADDRESS_LABELS = ("business", "home", "other")


def contact_with(field: str, count: int) -> Contact:
    """A contact with ``count`` distinct values in ``field`` (``emails``, ``websites``,
    ``addresses`` or ``phones``), each with its own label where the values carry one."""
    values: tuple[object, ...]
    if field == "emails":
        values = tuple(f"contact.{i}@example.org" for i in range(count))
    elif field == "websites":
        values = tuple(f"https://site{i}.example.org/" for i in range(count))
    elif field == "addresses":
        values = tuple(
            PostalAddress(_ADDRESS_LABELS[i % len(_ADDRESS_LABELS)], f"Main St {i + 1}", "Springfield", "IL", "62701", "US")
            for i in range(count)
        )
    elif field == "phones":
        values = tuple(Phone(_PHONE_LABELS[i % len(_PHONE_LABELS)], f"+1 555 01{i:02d}") for i in range(count))
    else:
        raise ValueError(f"contact_with: no list field {field!r}")
    return Contact(display_name=f"Limits {field} {count}", given_name="Limits", surname=f"{field} {count}",
                   **{field: values})  # type: ignore[arg-type]


def sample_items(kind: ItemType) -> list[Item]:
    """Items of ``kind`` that exercise most fields."""
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    if kind == "mail":
        return [sample_message(i) for i in range(3)]
    if kind == "contacts":
        return [
            Contact(
                display_name="Carol Cruz", given_name="Carol", surname="Cruz", nickname="Caz",
                emails=("carol@example.org", "carol.cruz@example.net"), email_names=("Carol Cruz (Work)", ""),
                phones=(Phone("mobile", "+1 555 0100"), Phone("business", "+1 555 0101"),
                        Phone("home_fax", "+1 555 0102"), Phone("pager", "+1 555 0103")),
                addresses=(PostalAddress("business", "Main St 1", "Springfield", "IL", "62701", "US", mailing=True),),
                initials="C.C.", generation="Jr.", file_as="Cruz, Carol", manager="Mia Boss", assistant_name="Al",
                spouse_name="Sam", children=("Kim", "Lee"), profession="Engineer", office_location="B2",
                personal_homepage="https://home.carol.example.org/", im_addresses=("sip:carol@example.org",),
                wedding_anniversary=dt.date(2015, 6, 20),
                company="ACME", department="Sales", job_title="Manager", birthday=dt.date(1990, 3, 4),
                websites=("https://carol.example.org",), notes="Met at the fair", categories=("Customers",),
                photo=b"\xff\xd8\xff\xe0JFIF-photo-bytes",
                attachments=(Attachment("card.txt", b"business card", "text/plain"),),
            ),
            Contact(display_name="Zoë Ünal", emails=("zoe@example.org",)),
            Contact(display_name="Sales team", is_distribution_list=True, members=("a@example.org", "b@example.org")),
        ]  # fmt: skip
    if kind == "calendar":
        weekly = Event(
            subject="Weekly sync", start=dt.datetime(2026, 1, 5, 9, tzinfo=berlin),
            end=dt.datetime(2026, 1, 5, 10, tzinfo=berlin), timezone="Europe/Berlin",
            location="Room 1", body="<p>Agenda</p>", body_is_html=True, uid="weekly-sync-uid",
            recurrence="FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=10", reminder_minutes=15,
            attendees=(Attendee("bob@example.org", "Bob", "required", Response.ACCEPTED),
                       Attendee("dan@example.org", "Dan", "optional", Response.TENTATIVE)),
            categories=("Blue",), importance=Importance.HIGH, online_meeting_url="https://meet.example.org/weekly",
            exceptions=(Event(subject="Weekly sync (moved)", start=dt.datetime(2026, 1, 12, 11, tzinfo=berlin),
                              end=dt.datetime(2026, 1, 12, 12, tzinfo=berlin), timezone="Europe/Berlin",
                              recurrence_id=dt.datetime(2026, 1, 12, 9, tzinfo=berlin)),),
            deleted_occurrences=(dt.datetime(2026, 1, 19, 9, tzinfo=berlin),),
        )
        monthly = Event(
            subject="Board", start=dt.datetime(2026, 2, 10, 14, tzinfo=UTC), end=dt.datetime(2026, 2, 10, 15, tzinfo=UTC),
            timezone="UTC", uid="board-uid", recurrence="FREQ=MONTHLY;INTERVAL=1;BYDAY=2TU;UNTIL=20261231T235959Z",
        )
        holiday = Event(subject="Holiday", start=dt.date(2026, 12, 24), end=dt.date(2026, 12, 26), is_all_day=True,
                        uid="holiday-uid", show_as=ShowAs.AWAY, reminder_minutes=720, reminder_is_set=False)
        return [weekly, monthly, holiday]
    if kind == "tasks":
        return [
            Task(subject="Write report", body="Quarterly numbers", start=dt.date(2026, 1, 20), due=dt.date(2026, 2, 1),
                 status=TaskStatus.IN_PROGRESS, percent_complete=40, importance=Importance.HIGH, categories=("Work",),
                 reminder_at=dt.datetime(2026, 1, 31, 8, tzinfo=UTC), total_work=600, actual_work=240,
                 mileage="42 km", billing_information="Project X", companies=("ACME", "Globex"), owner="Alice"),
            Task(subject="Pay bills", status=TaskStatus.COMPLETED, percent_complete=100,
                 completed=dt.datetime(2026, 1, 2, 12, tzinfo=UTC)),
            Task(subject="Water plants", start=dt.date(2026, 1, 1), due=dt.date(2026, 1, 1),
                 recurrence="FREQ=WEEKLY;INTERVAL=1;BYDAY=TH"),
        ]  # fmt: skip
    return [
        Note(subject="Shopping", body="Shopping\nMilk, eggs", color=NoteColor.YELLOW, categories=("Home",),
             created=dt.datetime(2025, 11, 2, 8, 30, tzinfo=UTC), modified=dt.datetime(2025, 12, 1, 9, tzinfo=UTC)),
        Note(subject="Idea", body="Idea\nA better mousetrap", color=NoteColor.BLUE, width=320, height=180),
    ]  # fmt: skip
