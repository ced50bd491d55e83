"""Fingerprints and the duplicate index."""

from __future__ import annotations

import datetime as dt
import email.header
import email.utils
import re
import string
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupmigrate.core.dedup import (
    DuplicateIndex,
    DuplicatePolicy,
    Match,
    MatchKind,
    fingerprint,
    normalize_message_id,
    primary_fingerprint,
    strong_fingerprint,
)
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
        Task(subject="report", due=dt.date(2024, 3, 1), body="Do it", status="Completed"),
        id="task-body-text",
    ),
    pytest.param(Note(subject="Groceries", body="milk\neggs", color="Yellow"), Note(subject="Groceries", body="milk eggs"), id="note"),
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
    strong = strong_fingerprint(Message.from_mime(build()))
    assert strong.startswith(fingerprint(Message.from_mime(build())) + ":") and len(strong) == 54
    assert primary_fingerprint(strong) == fingerprint(Message.from_mime(build()))
    assert strong_fingerprint(Note(subject="a")) == fingerprint(Note(subject="a"))
    with pytest.raises(TypeError):
        fingerprint("x")  # type: ignore[arg-type]


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
    assert fingerprint(again) == fingerprint(original) and strong_fingerprint(again) == strong_fingerprint(original)
    assert fingerprint(refetched) == fingerprint(original)
    assert strong_fingerprint(refetched) == strong_fingerprint(original)


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


@SETTINGS
@given(messages(with_id=True), bodies, plain_subjects)
def test_strong_fingerprint_tells_apart_messages_sharing_an_id(fields: dict[str, object], body: str, subject: str) -> None:
    first = Message.from_mime(build(**fields))  # type: ignore[arg-type]
    other_body = Message.from_mime(build(**{**fields, "body": body}))  # type: ignore[arg-type]
    other_subject = Message.from_mime(build(**{**fields, "subject": subject}))  # type: ignore[arg-type]
    assert fingerprint(other_body) == fingerprint(first)  # the same Message-ID...
    assert (strong_fingerprint(other_body) == strong_fingerprint(first)) == (body == fields["body"])
    same_subject = " ".join(subject.split()).casefold() == " ".join(str(fields["subject"]).split()).casefold()
    assert (strong_fingerprint(other_subject) == strong_fingerprint(first)) == same_subject


@SETTINGS
@given(st.lists(st.tuples(plain_subjects, bodies), min_size=2, max_size=10, unique_by=lambda t: " ".join(t[0].split()).casefold()))
def test_different_notes_and_tasks_differ(entries: list[tuple[str, str]]) -> None:
    assert len({fingerprint(Note(subject=s, body=b)) for s, b in entries}) == len(entries)
    assert len({fingerprint(Task(subject=s, body=b)) for s, b in entries}) == len(entries)


# --- the index ------------------------------------------------------------------------------------


def fp(n: int) -> str:
    return fingerprint(Message(message_id=f"<{n}@example.com>"))


def test_index_destination_side() -> None:
    index = DuplicateIndex([fp(1), fp(2)])
    index.add(fp(2), item_id="AAMk-2")
    index.add(fp(3), item_id="AAMk-3")
    assert len(index) == 3
    assert fp(1) in index and fp(4) not in index and 42 not in index
    assert (index.count(fp(1)), index.count(fp(2)), index.count(fp(4))) == (1, 2, 0)
    assert index.destination_id(fp(3)) == "AAMk-3" and index.destination_id(fp(1)) is None
    assert fp(1) + ":0123456789abcdef" in index  # a strong fingerprint counts as its primary


def test_check_new_existing_and_source_duplicate() -> None:
    index = DuplicateIndex()
    index.add(fp(1), item_id="dest-1")
    assert index.check(fp(1), source_id="s1") == Match(MatchKind.EXISTING, fp(1), "dest-1")
    assert index.check(fp(2), source_id="s2") == Match(MatchKind.NEW, fp(2))
    assert not index.seen_in_source(fp(3)) and index.seen_in_source(fp(2))
    # the same item again in the same run: reported, not silently merged
    assert index.check(fp(2), source_id="s2b") == Match(MatchKind.SOURCE_DUPLICATE, fp(2), first_source_id="s2")
    # fp(1) had one destination copy, already matched: a second source copy is a source duplicate
    assert index.check(fp(1)).kind is MatchKind.SOURCE_DUPLICATE
    assert index.source_count == 2


def test_messages_sharing_a_message_id_told_apart() -> None:
    one = Message.from_mime(build(body="first"))
    two = Message.from_mime(build(body="second"))
    assert fingerprint(one) == fingerprint(two)
    index = DuplicateIndex()
    assert index.check(strong_fingerprint(one), "s1").kind is MatchKind.NEW
    second = index.check(strong_fingerprint(two), "s2")
    assert (second.kind, second.id_collision, second.fingerprint) == (MatchKind.NEW, True, fingerprint(two))
    assert index.check(strong_fingerprint(two), "s3") == Match(MatchKind.SOURCE_DUPLICATE, fingerprint(two), first_source_id="s2")
    assert index.check(strong_fingerprint(one)).first_source_id == "s1"
    # re-run: the destination now holds both; both source messages match, nothing is created
    rerun = DuplicateIndex([fingerprint(one), fingerprint(two)])
    assert [rerun.check(strong_fingerprint(m)).kind for m in (one, two)] == [MatchKind.EXISTING] * 2


def test_without_strong_fingerprints_sharing_ids_look_like_duplicates() -> None:
    index = DuplicateIndex()
    index.check(fp(1))
    assert index.check(fp(1) + ":00000000000000aa").kind is MatchKind.SOURCE_DUPLICATE


@pytest.mark.parametrize(
    ("policy", "source_copies", "destination_before", "created", "reported"),
    [
        pytest.param(DuplicatePolicy.SKIP, 3, 0, 1, 2, id="skip-first-run"),
        pytest.param(DuplicatePolicy.SKIP, 3, 1, 0, 3, id="skip-rerun"),
        pytest.param(DuplicatePolicy.COPY, 3, 0, 3, 0, id="copy-first-run"),
        pytest.param(DuplicatePolicy.COPY, 3, 3, 0, 3, id="copy-rerun-creates-nothing"),
        pytest.param(DuplicatePolicy.REPORT, 3, 0, 3, 2, id="report-first-run"),
        pytest.param(DuplicatePolicy.COPY, 3, 2, 1, 2, id="copy-after-partial-run"),
    ],
)
def test_policies(policy: DuplicatePolicy, source_copies: int, destination_before: int, created: int, reported: int) -> None:
    index = DuplicateIndex([fp(7)] * destination_before)
    matches = [index.check(fp(7)) for _ in range(source_copies)]
    assert sum(m.create(policy) for m in matches) == created
    assert sum(m.report(policy) for m in matches) == reported
    assert DuplicatePolicy(policy.value) is policy


def test_missing_counts_multiplicity() -> None:
    index = DuplicateIndex([fp(1), fp(2), fp(2)])
    assert index.missing([fp(1), fp(2), fp(2), fp(2), fp(3) + ":0000000000000001", fp(1)]) == [fp(2), fp(3), fp(1)]
    assert index.check(fp(1)).kind is MatchKind.EXISTING  # missing() changed nothing


def test_foreign_fingerprint_strings_accepted() -> None:
    index = DuplicateIndex(["legacy-key-1"])
    assert "legacy-key-1" in index and "legacy-key-2" not in index
    assert index.check("legacy-key-1").kind is MatchKind.EXISTING


def test_digests_stored_as_bytes() -> None:
    index = DuplicateIndex([fp(1)])
    index.check(strong_fingerprint(Message.from_mime(build())))
    assert all(type(k) is bytes and len(k) == 16 for k in index._dest)  # noqa: SLF001
    assert all(type(k) is bytes and len(k) == 16 and len(v) == 8 for k, v in index._source.items())  # noqa: SLF001


def test_mapping_style_get_and_discard() -> None:
    index = DuplicateIndex()
    index.add(fp(1), item_id="d1")
    index.add(fp(1))
    assert index.get(fp(1)) == "d1" and index.get(fp(2)) is None and index.get(fp(2), "x") == "x"
    index.discard(fp(1))
    assert index.count(fp(1)) == 1 and fp(1) in index
    index.discard(fp(1))
    assert fp(1) not in index and index.get(fp(1)) is None and len(index) == 0
    index.discard(fp(1))  # nothing left: no error
    assert index.count(fp(1)) == 0


def test_forget_source_after_failed_create() -> None:
    index = DuplicateIndex()
    assert index.check(fp(1)).kind is MatchKind.NEW
    index.forget_source(fp(1))  # its creation failed
    assert not index.seen_in_source(fp(1))
    assert index.check(fp(1)).kind is MatchKind.NEW  # the next copy is created, not skipped
    one, two = (strong_fingerprint(Message.from_mime(build(body=b))) for b in ("first", "second"))
    index.check(one)
    index.check(two)
    index.forget_source(two)
    assert index.check(one).kind is MatchKind.SOURCE_DUPLICATE
    assert index.check(two).id_collision
