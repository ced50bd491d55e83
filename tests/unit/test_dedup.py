"""Candidate fingerprints, content fingerprints and the duplicate policy."""

from __future__ import annotations

import datetime as dt
import email.header
import email.utils
import re
import string
import unicodedata
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupmigrate.core.dedup import DuplicatePolicy, content_fingerprint, fingerprint, normalize_message_id
from groupmigrate.headers import collapse
from groupmigrate.items import Attendee, Contact, Event, Message, Note, Phone, Task

UTC = dt.timezone.utc
SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(
    *,
    message_id: str | None = "<m1@example.com>",
    subject: str = "Hello",
    name: str = "Bob",
    address: str = "bob@example.com",
    date: dt.datetime | None = dt.datetime(2024, 4, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    body: str = "Hi there.",
    to: str = "alice@example.org",
    cc: str | None = None,
    newline: str = "\r\n",
    fold: bool = False,
    boundary: str = "b-1",
) -> bytes:
    """A multipart message; ``fold`` folds every header at its spaces."""
    encoded_subject = subject if _plain(subject) else email.header.Header(subject, "utf-8").encode(linesep=newline)
    headers = [
        ("From", email.utils.formataddr((name, address))),
        ("To", to),
        ("Subject", encoded_subject),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    if date is not None:
        headers.insert(0, ("Date", email.utils.format_datetime(date)))
    if cc is not None:
        headers.insert(2, ("Cc", cc))
    if message_id is not None:
        headers.append(("Message-ID", message_id))
    lines = []
    for key, value in headers:
        if fold:  # at every space not already starting a continuation line
            value = re.sub(r"(?<![\r\n]) ", f"{newline} ", value)
        lines.append(f"{key}: {value}")
    parts = [
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
        f"--{boundary}",
        "Content-Type: text/html; charset=utf-8",
        "",
        f"<p>{body}</p>",
        f"--{boundary}--",
        "",
    ]
    return newline.join([*lines, "", *parts]).encode("utf-8")


def _plain(text: str) -> bool:
    return all(c in string.ascii_letters + string.digits + " .,:!-'" for c in text)


def as_listed(mime: bytes, *, with_name: bool = False, id_style: str = "as-is") -> Message:
    """The same message as a destination lists it: properties only, no MIME."""
    parsed = Message.from_mime(mime)
    message_id = parsed.message_id
    if message_id and id_style == "bare":
        message_id = message_id.strip().strip("<>")
    elif message_id and id_style == "upper-domain":
        local, _, domain = message_id.rpartition("@")
        message_id = f"{local}@{domain.upper()}"
    sender = email.utils.parseaddr(parsed.sender or "")
    return Message(
        message_id=message_id,
        subject=" ".join((parsed.subject or "").split()),
        sender=email.utils.formataddr(sender) if with_name else sender[1].upper(),
        sent=parsed.sent.astimezone(UTC) if parsed.sent else None,
        size=len(mime) + 123,  # the destination's size differs; it takes no part
    )


# --- normalization --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@Example.COM>", "abc@example.com"),
        ("  <abc@example.com>  ", "abc@example.com"),
        ("abc@EXAMPLE.com", "abc@example.com"),
        ("\r\n <abc@example.com>", "abc@example.com"),
        ("<ABC.def@example.com>", "ABC.def@example.com"),  # the local part keeps its case
        ("<a b@example.com>", "ab@example.com"),
        ("<x@y.com> (comment)", "x@y.com"),
        ("<>", None),
        ("", None),
        (None, None),
        ("no-at-sign", "no-at-sign"),
    ],
)
def test_normalize_message_id(value: str | None, expected: str | None) -> None:
    assert normalize_message_id(value) == expected


# --- fingerprints by item type ----------------------------------------------------------------


BERLIN = ZoneInfo("Europe/Berlin")
SAME = [
    pytest.param(Message(message_id="<a@x.com>"), Message(message_id="a@X.COM", subject="other"), id="mail-id-wins"),
    pytest.param(
        Message(subject="Hi  there", sender="Bob <BOB@x.com>", sent=dt.datetime(2024, 1, 1, 12, tzinfo=BERLIN)),
        Message(subject="hi there", sender="bob@x.com", sent=dt.datetime(2024, 1, 1, 11, tzinfo=UTC)),
        id="mail-headers",
    ),
    pytest.param(
        Contact(display_name="Ann  Lee", emails=("b@x.com", "A@x.com"), phones=(Phone("home", "1"),)),
        Contact(display_name="ann lee", emails=("a@x.com", "b@x.com"), phones=(Phone("work", "2"),)),
        id="contact-emails-sorted-phones-ignored",
    ),
    pytest.param(
        Contact(given_name="Ann", surname="Lee", phones=(Phone("m", "+49 (30) 1234"),)),
        Contact(display_name="Ann Lee", phones=(Phone("home", "+49301234"),)),
        id="contact-phones-when-no-email",
    ),
    pytest.param(
        Event(uid="u1", start=dt.datetime(2024, 5, 2, 10, tzinfo=BERLIN), subject="a"),
        Event(uid="u1", start=dt.datetime(2024, 5, 2, 8, tzinfo=UTC), subject="b", attendees=(Attendee("x@y.com"),)),
        id="event-uid-start-utc",
    ),
    pytest.param(
        Event(uid="u1", start=dt.date(2024, 5, 1), is_all_day=True),
        Event(uid="u1", start=dt.date(2024, 5, 1), end=dt.date(2024, 5, 2), is_all_day=True),
        id="event-all-day",
    ),
    pytest.param(
        Task(subject="Report", due=dt.date(2024, 3, 1), body="<html><body><p>Do  it</p></body></html>"),
        Task(subject="report", due=dt.date(2024, 3, 1), body="Do it", status="completed"),
        id="task-body-text",
    ),
    pytest.param(Note(subject="Groceries", body="milk\neggs", color="yellow"), Note(subject="Groceries", body="milk eggs"), id="note"),
]
DIFFERENT = [
    pytest.param(Message(message_id="<a@x.com>"), Message(message_id="<A@x.com>"), id="mail-id-local-case"),
    pytest.param(Message(subject="a", sender="b@x.com"), Message(subject="a", sender="c@x.com"), id="mail-sender"),
    pytest.param(
        Message(subject="a", sent=dt.datetime(2024, 1, 1, tzinfo=UTC)),
        Message(subject="a", sent=dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)),
        id="mail-sent",
    ),
    pytest.param(Contact(display_name="Ann", emails=("a@x.com",)), Contact(display_name="Ann", emails=("b@x.com",)), id="contact-email"),
    pytest.param(Contact(display_name="Ann"), Contact(display_name="Ann", is_distribution_list=True), id="contact-vs-list"),
    pytest.param(
        Event(uid="u1", start=dt.datetime(2024, 5, 2, 10, tzinfo=UTC)),
        Event(uid="u1", start=dt.datetime(2024, 5, 2, 10, tzinfo=UTC), recurrence_id=dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
        id="event-occurrence",
    ),
    pytest.param(Event(uid="u1", start=dt.date(2024, 5, 1)), Event(uid="u2", start=dt.date(2024, 5, 1)), id="event-uid"),
    pytest.param(Task(subject="a", due=dt.date(2024, 1, 1)), Task(subject="a", due=dt.date(2024, 1, 2)), id="task-due"),
    pytest.param(Note(subject="a", body="x"), Note(subject="a", body="y"), id="note-body"),
    pytest.param(Note(subject="a"), Task(subject="a"), id="note-vs-task"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_fingerprint(a: object, b: object) -> None:
    assert fingerprint(a) == fingerprint(b)  # type: ignore[arg-type]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_fingerprint(a: object, b: object) -> None:
    assert fingerprint(a) != fingerprint(b)  # type: ignore[arg-type]


def test_fingerprint_shape_and_stability() -> None:
    fp = fingerprint(Message(message_id="<a@x.com>"))
    assert fp == "mail:" + fp[5:] and len(fp) == 37 and int(fp[5:], 16) >= 0
    # fixed across processes and versions: no hash(), no randomness
    assert fp == "mail:8d814ae8f477d44731f1f4b0cde6aa3c"
    with pytest.raises(TypeError):
        fingerprint("x")  # type: ignore[arg-type]


def test_content_fingerprint_shape_and_stability() -> None:
    message = Message.from_mime(build())
    content = content_fingerprint(message)
    assert content.startswith("mail:") and len(content) == 37 and content != fingerprint(message)
    assert content == content_fingerprint(Message.from_mime(build()))
    assert content_fingerprint(Note(subject="a", body="b")) == "notes:94791d4e74bb07863d16c27d8b9bf4be"
    # listed without MIME there is nothing to compare beyond the candidate key
    listed = as_listed(build())
    assert content_fingerprint(listed) == fingerprint(listed) + ":nomime"
    with pytest.raises(TypeError):
        content_fingerprint("x")  # type: ignore[arg-type]


def test_mime_only_message_uses_headers() -> None:
    mime = build()
    assert fingerprint(Message(mime=mime)) == fingerprint(Message.from_mime(mime))
    no_id = build(message_id=None)
    assert fingerprint(Message(mime=no_id)) == fingerprint(Message.from_mime(no_id)) == fingerprint(as_listed(no_id))


# --- properties ---------------------------------------------------------------------------------

words = st.text(alphabet=string.ascii_letters + string.digits + ".,:!-'", min_size=1, max_size=12)
plain_subjects = st.lists(words, max_size=8).map(" ".join)
unicode_subjects = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N", "P", "Zs"), blacklist_characters="\x85\u2028\u2029"),
    max_size=60,
)
subjects = st.one_of(plain_subjects, unicode_subjects)
names = st.text(alphabet=st.characters(whitelist_categories=("L", "Zs")), max_size=20)
locals_ = st.tuples(
    st.sampled_from(string.ascii_letters + string.digits),
    st.text(alphabet=string.ascii_letters + string.digits + "._+-", max_size=15),
).map("".join)
domains = st.lists(st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8), min_size=2, max_size=3).map(".".join)
dates = st.datetimes(
    min_value=dt.datetime(1995, 1, 1), max_value=dt.datetime(2035, 1, 1),
    timezones=st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), dt.timezone(dt.timedelta(hours=5, minutes=30))]),
).map(lambda d: d.replace(microsecond=0))
bodies = st.text(alphabet=st.characters(whitelist_categories=("L", "N", "Zs")), max_size=200)


@st.composite
def messages(draw: st.DrawFn, with_id: bool | None = None) -> dict[str, object]:
    has_id = draw(st.booleans()) if with_id is None else with_id
    return {
        "message_id": f"<{draw(locals_)}@{draw(domains)}>" if has_id else None,
        "subject": draw(subjects),
        "name": draw(names),
        "address": f"{draw(locals_)}@{draw(domains)}",
        "date": draw(st.one_of(st.none(), dates)),
        "body": draw(bodies),
    }


@SETTINGS
@given(messages(), st.sampled_from(["\r\n", "\n"]), st.booleans(), st.sampled_from(["b-1", "=_NextPart_000_0042"]))
def test_stable_under_refetch_and_folding(fields: dict[str, object], newline: str, fold: bool, boundary: str) -> None:
    """A re-fetch may change line endings, header folding and MIME boundaries: none of it counts."""
    original = Message.from_mime(build(**fields))  # type: ignore[arg-type]
    refetched = Message.from_mime(build(**fields, newline=newline, fold=fold, boundary=boundary))  # type: ignore[arg-type]
    again = Message.from_mime(bytes(original.mime))
    assert fingerprint(again) == fingerprint(original) and content_fingerprint(again) == content_fingerprint(original)
    assert fingerprint(refetched) == fingerprint(original)
    assert content_fingerprint(refetched) == content_fingerprint(original)


@SETTINGS
@given(messages(), st.booleans(), st.sampled_from(["as-is", "bare", "upper-domain"]))
def test_mime_side_equals_property_side(fields: dict[str, object], with_name: bool, id_style: str) -> None:
    """The destination lists mail without MIME; its fingerprint must match the source's."""
    mime = build(**fields)  # type: ignore[arg-type]
    assert fingerprint(Message.from_mime(mime)) == fingerprint(as_listed(mime, with_name=with_name, id_style=id_style))
    assert fingerprint(Message(mime=mime)) == fingerprint(Message.from_mime(mime))


@SETTINGS
@given(st.lists(st.tuples(locals_, domains), min_size=2, max_size=20, unique_by=lambda t: (t[0], t[1].lower())))
def test_different_message_ids_differ(ids: list[tuple[str, str]]) -> None:
    listed = {fingerprint(Message(message_id=f"<{local}@{domain.upper()}>")) for local, domain in ids}
    local, domain = ids[0]
    assert fingerprint(Message.from_mime(build(message_id=f"<{local}@{domain}>"))) in listed
    assert len(listed) == len(ids)


def _as_text(body: str) -> str:
    """A body as content fingerprints compare text: NFC, white space collapsed, case-folded."""
    return collapse(unicodedata.normalize("NFC", body)).casefold()


@SETTINGS
@given(messages(with_id=True), bodies, plain_subjects)
def test_content_fingerprint_tells_apart_messages_sharing_an_id(fields: dict[str, object], body: str, subject: str) -> None:
    first = Message.from_mime(build(**fields))  # type: ignore[arg-type]
    other_body = Message.from_mime(build(**{**fields, "body": body}))  # type: ignore[arg-type]
    other_subject = Message.from_mime(build(**{**fields, "subject": subject}))  # type: ignore[arg-type]
    assert fingerprint(other_body) == fingerprint(first) == fingerprint(other_subject)  # the same Message-ID...
    same_body = _as_text(body) == _as_text(str(fields["body"]))
    assert (content_fingerprint(other_body) == content_fingerprint(first)) == same_body
    same_subject = collapse(subject) == collapse(str(fields["subject"]))  # the subject keeps its case
    assert (content_fingerprint(other_subject) == content_fingerprint(first)) == same_subject


def test_content_fingerprint_of_a_part_in_an_unknown_charset() -> None:
    def mime(charset: str) -> bytes:
        return f"Message-ID: <c@example.com>\r\nContent-Type: text/plain; charset={charset}\r\n\r\nGr\u00fc\u00dfe".encode()

    # no usable codec: the text is read as UTF-8 rather than the message refused
    assert content_fingerprint(Message.from_mime(mime("x-unknown"))) == content_fingerprint(Message.from_mime(mime("utf-8")))
    assert content_fingerprint(Message.from_mime(mime("base64"))) == content_fingerprint(Message.from_mime(mime("utf-8")))


def test_content_fingerprint_sees_cc() -> None:
    plain = Message.from_mime(build())
    with_cc = Message.from_mime(build(cc="Carol <carol@example.net>"))
    other_cc = Message.from_mime(build(cc="dave@example.net"))
    assert fingerprint(with_cc) == fingerprint(plain) == fingerprint(other_cc)
    assert len({content_fingerprint(m) for m in (plain, with_cc, other_cc)}) == 3
    # the same Cc, written differently, is the same content
    refetched = Message.from_mime(build(cc="CAROL@example.net", fold=True, boundary="=_NextPart_000_0042"))
    assert content_fingerprint(refetched) == content_fingerprint(with_cc)


@SETTINGS
@given(st.lists(st.tuples(plain_subjects, bodies), min_size=2, max_size=10, unique_by=lambda t: " ".join(t[0].split()).casefold()))
def test_different_notes_and_tasks_differ(entries: list[tuple[str, str]]) -> None:
    assert len({fingerprint(Note(subject=s, body=b)) for s, b in entries}) == len(entries)
    assert len({fingerprint(Task(subject=s, body=b)) for s, b in entries}) == len(entries)


# --- content fingerprints of the other item types --------------------------------------------------


CONTENT_SAME = [
    pytest.param(
        Contact(display_name="Ann Lee", emails=("A@x.com",), phones=(Phone("m", "+49 (30) 1234"),)),
        Contact(display_name="ann  lee", emails=("a@x.com",), phones=(Phone("mobile", "+49301234"),)),
        id="contact-normalized",
    ),
    pytest.param(
        Event(uid="u1", start=dt.datetime(2024, 5, 2, 10, tzinfo=BERLIN), subject="Plan", body="<p>Agenda</p>"),
        Event(uid="u1", start=dt.datetime(2024, 5, 2, 8, tzinfo=UTC), subject="plan", body="Agenda"),
        id="event-html-body-as-text",
    ),
    pytest.param(Note(subject="Groceries", body="milk\neggs", color="yellow"), Note(subject="Groceries", body="milk eggs"), id="note"),
]
CONTENT_DIFFERENT = [
    pytest.param(Contact(display_name="Ann", company="A"), Contact(display_name="Ann", company="B"), id="contact-company"),
    pytest.param(
        Contact(display_name="Ann", emails=("a@x.com",), phones=(Phone("m", "1"),)),
        Contact(display_name="Ann", emails=("a@x.com",), phones=(Phone("m", "2"),)),
        id="contact-phone",  # equal candidate keys (phones only count without an email address)
    ),
    pytest.param(
        Event(uid="u1", start=dt.date(2024, 5, 1), location="Room 1"),
        Event(uid="u1", start=dt.date(2024, 5, 1), location="Room 2"),
        id="event-location",
    ),
    pytest.param(Task(subject="a", status="not_started"), Task(subject="a", status="completed"), id="task-status"),
    pytest.param(Note(subject="a", body="x"), Note(subject="a", body="y"), id="note-body"),
]


@pytest.mark.parametrize(("a", "b"), CONTENT_SAME)
def test_same_content_fingerprint(a: object, b: object) -> None:
    assert content_fingerprint(a) == content_fingerprint(b)  # type: ignore[arg-type]


@pytest.mark.parametrize(("a", "b"), CONTENT_DIFFERENT)
def test_different_content_fingerprint(a: object, b: object) -> None:
    assert content_fingerprint(a) != content_fingerprint(b)  # type: ignore[arg-type]


# --- the duplicate policy ------------------------------------------------------------------------


def test_duplicate_policy_values() -> None:
    assert {policy.value for policy in DuplicatePolicy} == {"skip", "copy", "report"}
    for policy in DuplicatePolicy:
        assert DuplicatePolicy(policy.value) is policy
