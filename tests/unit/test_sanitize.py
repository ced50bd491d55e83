"""Sanitizer: X500 resolution, MIME header rewriting, website and email checks."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError
from groupmigrate.items import Attendee, Contact, Event, Item, Message, Note, Task
from groupmigrate.core.mappers import Change
from groupmigrate.core.sanitize import Sanitizer, check_email, check_url, is_x500, x500_dn

ALICE_DN = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=5c1a9f3e2b7d4e0c-alice"
BOB_DN = "/O=CONTOSO/OU=FIRST ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=BOB"
CAROL_IMCEA = (
    "IMCEAEX-_o=ExchangeLabs_ou=Exchange+20Administrative+20Group+20+28FYDIBOHF23SPDLT+29"
    "_cn=Recipients_cn=abc-carol@contoso.onmicrosoft.com"
)
CAROL_DN = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-carol"
GONE_DN = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=77aa-gone"
DIRECTORY = {ALICE_DN: "alice@contoso.com", BOB_DN: "bob@contoso.com", CAROL_DN: "carol@contoso.com"}
X500_ROUTE = Capabilities(rejects_x500_addresses=True)


class Directory:
    """A resolver like the source mailbox's resolve_addresses, recording its calls."""

    def __init__(self, entries: dict[str, str] | None = None) -> None:
        self.entries = {k.lower(): v for k, v in (entries or DIRECTORY).items()}
        self.calls: list[list[str]] = []

    def __call__(self, addresses: Iterable[str]) -> dict[str, str | None]:
        batch = list(addresses)
        self.calls.append(batch)
        return {a: self.entries.get(a.lower()) for a in batch}


# --- X500 forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "dn"),
    [
        pytest.param(ALICE_DN, ALICE_DN, id="exchange-online-dn"),
        pytest.param(BOB_DN, BOB_DN, id="on-premises-dn-upper"),
        pytest.param(CAROL_IMCEA, CAROL_DN, id="imceaex"),
        pytest.param(f"X500:{BOB_DN}", BOB_DN, id="x500-prefix"),
        pytest.param(f"EX:{BOB_DN}", BOB_DN, id="ex-prefix"),
        pytest.param(f"<{BOB_DN}>", BOB_DN, id="bracketed"),
        pytest.param("IMCEAEX-_o=Org_cn=a+5Fb@x.example", "/o=Org/cn=a_b", id="encoded-underscore"),
        pytest.param("alice@contoso.com", None, id="smtp"),
        pytest.param("IMCEASMTP-a+40b@x.example", None, id="other-imcea"),
        pytest.param("o=not-a-dn", None, id="no-slash"),
    ],
)
def test_x500_forms(address: str, dn: str | None) -> None:
    assert x500_dn(address) == dn
    assert is_x500(address) is (dn is not None)


# --- contacts, events ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contact", "expected", "changes"),
    [
        pytest.param(
            Contact(display_name="A", emails=(ALICE_DN, BOB_DN, CAROL_IMCEA)),
            Contact(display_name="A", emails=("alice@contoso.com", "bob@contoso.com", "carol@contoso.com")),
            [
                ("changed", "emails", f"X500 address {ALICE_DN} resolved to alice@contoso.com"),
                ("changed", "emails", f"X500 address {BOB_DN} resolved to bob@contoso.com"),
                ("changed", "emails", f"X500 address {CAROL_DN} resolved to carol@contoso.com"),
            ],
            id="three-shapes-resolved",
        ),
        pytest.param(
            Contact(display_name="G", emails=(GONE_DN, "gone@example.com")),
            Contact(display_name="G", emails=("gone@example.com",)),
            [("dropped", "emails", f"unresolvable X500 address {GONE_DN} removed")],
            id="unresolvable-removed",
        ),
        pytest.param(
            Contact(display_name="B", emails=(BOB_DN, "Bob@Contoso.com")),
            Contact(display_name="B", emails=("bob@contoso.com",)),
            [
                ("changed", "emails", f"X500 address {BOB_DN} resolved to bob@contoso.com"),
                ("dropped", "emails", "duplicate address Bob@Contoso.com removed"),
            ],
            id="duplicate-after-resolution",
        ),
        pytest.param(
            Contact(display_name="Team", is_distribution_list=True, members=(BOB_DN, GONE_DN, "dave@example.com")),
            Contact(display_name="Team", is_distribution_list=True, members=("bob@contoso.com", "dave@example.com")),
            [
                ("changed", "members", f"X500 address {BOB_DN} resolved to bob@contoso.com"),
                ("dropped", "members", f"unresolvable X500 address {GONE_DN} removed"),
            ],
            id="list-members",
        ),
        pytest.param(
            Contact(display_name="Ok", emails=("ok@example.com",), websites=("https://example.com",)),
            Contact(display_name="Ok", emails=("ok@example.com",), websites=("https://example.com",)),
            [],
            id="clean-contact",
        ),
    ],
)
def test_contact_addresses(contact: Contact, expected: Contact, changes: list[tuple[str, str, str]]) -> None:
    item, got = Sanitizer(resolver=Directory()).sanitize(contact, Capabilities())
    assert item == expected
    assert [(c.kind, c.field, c.message) for c in got] == changes
    if not changes:
        assert item is contact


def test_event_organizer_attendees_and_exceptions() -> None:
    event = Event(
        subject="Review",
        organizer=BOB_DN,
        attendees=(
            Attendee(CAROL_IMCEA, "Carol", response="accepted"),
            Attendee(GONE_DN, "Gone"),
            Attendee("carol@contoso.com", "Carol again"),
            Attendee("not an address", "Typo"),
        ),
        recurrence="FREQ=DAILY;COUNT=3",
        exceptions=(Event(subject="Review (moved)", organizer=BOB_DN, attendees=(Attendee(ALICE_DN),)),),
    )
    directory = Directory()
    item, changes = Sanitizer(resolver=directory).sanitize(event, Capabilities())
    assert isinstance(item, Event)
    assert item.organizer == "bob@contoso.com"
    assert item.attendees == (Attendee("carol@contoso.com", "Carol", response="accepted"),)
    assert item.exceptions[0].organizer == "bob@contoso.com"
    assert item.exceptions[0].attendees == (Attendee("alice@contoso.com"),)
    assert [(c.kind, c.field) for c in changes] == [
        ("changed", "organizer"),
        ("changed", "attendees"),
        ("dropped", "attendees"),
        ("dropped", "attendees"),
        ("dropped", "attendees"),
        ("changed", "organizer"),
        ("changed", "attendees"),
    ]
    assert changes[3].message == "duplicate attendee carol@contoso.com removed"
    assert changes[4].message.startswith("invalid email address 'not an address' removed: ")
    assert len(directory.calls) == 1  # every X500 address of the item in one batch
    assert sorted(directory.calls[0]) == sorted([BOB_DN, CAROL_DN, GONE_DN, ALICE_DN])


def test_unresolvable_organizer_removed() -> None:
    item, changes = Sanitizer(resolver=Directory()).sanitize(Event(organizer=GONE_DN), Capabilities())
    assert isinstance(item, Event) and item.organizer is None
    assert changes == [Change("dropped", "organizer", f"unresolvable X500 address {GONE_DN} removed")]


# --- resolution: mapping, cache, batching ------------------------------------------------------


def test_mapping_wins_over_resolver_in_any_form() -> None:
    directory = Directory()
    sanitizer = Sanitizer(resolver=directory, mapping={CAROL_IMCEA: "carol.new@example.org", f"x500:{BOB_DN.lower()}": "robert@example.org"})
    item, changes = sanitizer.sanitize(Contact(emails=(CAROL_DN, BOB_DN, ALICE_DN)), Capabilities())
    assert isinstance(item, Contact)
    assert item.emails == ("carol.new@example.org", "robert@example.org", "alice@contoso.com")
    assert directory.calls == [[ALICE_DN]]  # mapped addresses never reach the resolver


def test_results_cached_per_run_including_failures() -> None:
    directory = Directory()
    sanitizer = Sanitizer(resolver=directory)
    for _ in range(3):
        sanitizer.sanitize(Contact(emails=(ALICE_DN, GONE_DN)), Capabilities())
        sanitizer.sanitize(Event(organizer=ALICE_DN.upper()), Capabilities())  # DNs compare case-insensitively
    assert directory.calls == [[ALICE_DN, GONE_DN]]
    assert sanitizer.resolver_calls == 1


def test_prefetch_resolves_a_batch_at_once() -> None:
    directory = Directory()
    sanitizer = Sanitizer(resolver=directory)
    items: list[Item] = [Contact(emails=(ALICE_DN,)), Event(organizer=BOB_DN), Contact(emails=(CAROL_IMCEA, "x@example.com"))]
    sanitizer.prefetch(items, Capabilities())
    for item in items:
        sanitizer.sanitize(item, Capabilities())
    assert len(directory.calls) == 1 and sorted(directory.calls[0]) == sorted([ALICE_DN, BOB_DN, CAROL_DN])


def test_no_resolver_only_mapping() -> None:
    sanitizer = Sanitizer(mapping={BOB_DN: "bob@contoso.com"})
    item, changes = sanitizer.sanitize(Contact(emails=(BOB_DN, ALICE_DN)), Capabilities())
    assert isinstance(item, Contact) and item.emails == ("bob@contoso.com",)
    assert [c.kind for c in changes] == ["changed", "dropped"]


def test_invalid_resolver_answer_treated_as_unresolved() -> None:
    sanitizer = Sanitizer(resolver=Directory({ALICE_DN: "not-an-address"}))
    assert sanitizer.resolve(ALICE_DN) is None
    assert sanitizer.resolve("someone@example.com") == "someone@example.com"


def test_resolver_errors_propagate_and_are_not_cached() -> None:
    calls = 0

    def flaky(addresses: Iterable[str]) -> dict[str, str | None]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("reset")
        return {a: "bob@contoso.com" for a in addresses}

    sanitizer = Sanitizer(resolver=flaky)
    with pytest.raises(ConnectionError):
        sanitizer.sanitize(Contact(emails=(BOB_DN,)), Capabilities())
    item, _ = sanitizer.sanitize(Contact(emails=(BOB_DN,)), Capabilities())
    assert isinstance(item, Contact) and item.emails == ("bob@contoso.com",)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        pytest.param({"bob@old.example": "bob@new.example"}, "mapping: 'bob@old.example' is not an X500 or EX address", id="key-not-x500"),
        pytest.param({BOB_DN: "bob at contoso"}, "is not a valid email address", id="value-invalid"),
    ],
)
def test_bad_mapping(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Sanitizer(mapping=mapping)


# --- message headers ------------------------------------------------------------------------

HEADERS = (
    b"Received: from mx.contoso.com by mx2.contoso.com;\r\n Mon, 1 Apr 2024 10:00:00 +0000\r\n"
    b"From: Bob Example <" + BOB_DN.encode() + b">\r\n"
    b"Sender: " + CAROL_IMCEA.encode() + b"\r\n"
    b"To: =?utf-8?q?J=C3=BCrgen?= <juergen@example.org>,\r\n \"Gone, Person\" <" + GONE_DN.encode() + b">\r\n"
    b"Cc: " + ALICE_DN.encode() + b"\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Message-ID: <abc@contoso.com>\r\n"
    b"X-Odd: caf\xe9\r\n"
    b'Content-Type: multipart/alternative; boundary="=_b"\r\n'
)
BODY = b"\r\n--=_b\r\nContent-Type: text/plain\r\n\r\nFrom: not a header " + BOB_DN.encode() + b"\r\n--=_b--\r\n"
MIME = HEADERS + BODY


def test_headers_untouched_when_destination_accepts_x500() -> None:
    message = Message.from_mime(MIME)
    item, changes = Sanitizer(resolver=Directory()).sanitize(message, Capabilities())
    assert item is message and changes == []


def test_headers_rewritten_where_destination_rejects_x500() -> None:
    message = Message.from_mime(MIME)
    item, changes = Sanitizer(resolver=Directory()).sanitize(message, X500_ROUTE)
    assert isinstance(item, Message)
    expected = (
        b"Received: from mx.contoso.com by mx2.contoso.com;\r\n Mon, 1 Apr 2024 10:00:00 +0000\r\n"
        b"From: Bob Example <bob@contoso.com>\r\n"
        b"Sender: carol@contoso.com\r\n"
        b"To: =?utf-8?q?J=C3=BCrgen?= <juergen@example.org>\r\n"
        b"Cc: alice@contoso.com\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"Message-ID: <abc@contoso.com>\r\n"
        b"X-Odd: caf\xe9\r\n"
        b'Content-Type: multipart/alternative; boundary="=_b"\r\n'
    )
    assert item.mime == expected + BODY  # other headers and the body byte for byte
    assert item.sender == "Bob Example <bob@contoso.com>"
    assert item.size == len(item.mime)
    assert item.message_id == message.message_id and item.subject == message.subject
    assert [(c.kind, c.field, c.message) for c in changes] == [
        ("changed", "From", f"From header rewritten: X500 address {BOB_DN} replaced by bob@contoso.com (the destination rejects X500 addresses)"),
        ("changed", "Sender", f"Sender header rewritten: X500 address {CAROL_DN} replaced by carol@contoso.com (the destination rejects X500 addresses)"),
        ("dropped", "To", f"To header rewritten: unresolvable X500 address {GONE_DN} removed (the destination rejects X500 addresses)"),
        ("changed", "Cc", f"Cc header rewritten: X500 address {ALICE_DN} replaced by alice@contoso.com (the destination rejects X500 addresses)"),
    ]


def test_header_with_only_unresolvable_addresses_removed() -> None:
    mime = b"From: a@example.com\nTo: " + GONE_DN.encode() + b"\nReply-To: <" + GONE_DN.encode() + b">\nSubject: x\n\nbody\n"
    item, changes = Sanitizer(resolver=Directory()).sanitize(Message.from_mime(mime), X500_ROUTE)
    assert isinstance(item, Message)
    assert item.mime == b"From: a@example.com\nSubject: x\n\nbody\n"  # LF line ends kept
    assert [(c.kind, c.field) for c in changes] == [("dropped", "To"), ("dropped", "To"), ("dropped", "Reply-To"), ("dropped", "Reply-To")]
    assert changes[1].message == "To header removed: it held no other address"


def test_long_rewritten_header_folded() -> None:
    others = ", ".join(f"person{i}@example.org" for i in range(8))
    mime = f"To: {others}, {BOB_DN}\r\nSubject: x\r\n\r\nbody".encode()
    item, _ = Sanitizer(resolver=Directory()).sanitize(Message(mime=mime), X500_ROUTE)
    assert isinstance(item, Message)
    head = item.mime.split(b"\r\nSubject")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert head.replace(b"\r\n ", b" ") == f"To: {others}, bob@contoso.com".encode()


def test_clean_message_untouched_on_x500_route() -> None:
    message = Message.from_mime(b"From: a@example.com\r\nTo: b@example.com\r\n\r\nhi")
    item, changes = Sanitizer(resolver=Directory()).sanitize(message, X500_ROUTE)
    assert item is message and changes == []


@pytest.mark.parametrize("item", [Task(subject="t", body=BOB_DN), Note(subject="n", body="www.example.com")])
def test_tasks_and_notes_untouched(item: Task | Note) -> None:
    assert Sanitizer(resolver=Directory()).sanitize(item, X500_ROUTE) == (item, [])


# --- websites ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [
        pytest.param("https://example.com/path?q=1", "https://example.com/path?q=1", None, id="valid"),
        pytest.param("http://münchen.de/", "http://münchen.de/", None, id="idn-host"),
        pytest.param("https://例え.テスト/", "https://例え.テスト/", None, id="idn-japanese"),
        pytest.param("http://xn--mnchen-3ya.de", "http://xn--mnchen-3ya.de", None, id="punycode"),
        pytest.param("ftp://files.example.com/a.zip", "ftp://files.example.com/a.zip", None, id="ftp"),
        pytest.param("https://example.com.", "https://example.com.", None, id="trailing-dot-host"),
        pytest.param("www.example.com", "http://www.example.com", "changed", id="missing-scheme"),
        pytest.param("bücher.example/shop", "http://bücher.example/shop", "changed", id="missing-scheme-idn"),
        pytest.param("www.example.com:8080/x", "http://www.example.com:8080/x", "changed", id="missing-scheme-port"),
        pytest.param("  https://example.com  ", "https://example.com", "changed", id="surrounding-spaces"),
        pytest.param("https://example.com/my page", "https://example.com/my%20page", "changed", id="space-in-path"),
        pytest.param("http://exa mple.com", None, "dropped", id="space-in-host"),
        pytest.param("my home page", None, "dropped", id="free-text"),
        pytest.param("javascript:alert(1)", None, "dropped", id="javascript"),
        pytest.param("JavaScript:alert(document.cookie)", None, "dropped", id="javascript-mixed-case"),
        pytest.param("file:///C:/Users/alice/site.html", None, "dropped", id="file"),
        pytest.param("mailto:alice@example.com", None, "dropped", id="mailto"),
        pytest.param("garbage", None, "dropped", id="garbage"),
        pytest.param("http://", None, "dropped", id="scheme-only"),
        pytest.param("", None, "dropped", id="empty"),
    ],
)
def test_websites(value: str, expected: str | None, kind: str | None) -> None:
    contact = Contact(display_name="W", websites=(value, "https://kept.example"))
    item, changes = Sanitizer().sanitize(contact, Capabilities())
    assert isinstance(item, Contact)
    assert item.websites == ((expected,) if expected else ()) + ("https://kept.example",)
    assert [(c.kind, c.field) for c in changes] == ([(kind, "websites")] if kind else [])
    if kind:
        assert repr(value) in changes[0].message
    assert check_url(value)[0] == expected


# --- email addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [
        pytest.param("alice@example.com", "alice@example.com", None, id="plain"),
        pytest.param("Alice.Smith@Example.COM", "Alice.Smith@Example.COM", None, id="case-kept"),
        pytest.param('"john doe"@example.com', '"john doe"@example.com', None, id="quoted-local"),
        pytest.param('"very.unusual.@.unusual.com"@example.com', '"very.unusual.@.unusual.com"@example.com', None, id="quoted-with-at"),
        pytest.param("jürgen@bücher.example", "jürgen@bücher.example", None, id="idn-and-utf8-local"),
        pytest.param("alice@xn--bcher-kva.example", "alice@xn--bcher-kva.example", None, id="punycode-domain"),
        pytest.param("bob@[192.0.2.1]", "bob@[192.0.2.1]", None, id="domain-literal"),
        pytest.param("alice@example.com.", "alice@example.com", "changed", id="trailing-dot"),
        pytest.param("alice@bücher.example.", "alice@bücher.example", "changed", id="trailing-dot-idn"),
        pytest.param("mailto:alice@example.com", "alice@example.com", "changed", id="mailto-prefix"),
        pytest.param("SMTP:alice@example.com", "alice@example.com", "changed", id="smtp-prefix"),
        pytest.param("Alice <alice@example.com>", "alice@example.com", "changed", id="name-addr"),
        pytest.param(" alice@example.com ", "alice@example.com", "changed", id="spaces"),
        pytest.param("alice..smith@example.com", None, "dropped", id="double-dot"),
        pytest.param("alice.@example.com", None, "dropped", id="dot-before-at"),
        pytest.param("alice@localhost", None, "dropped", id="no-dot-domain"),
        pytest.param("alice example.com", None, "dropped", id="no-at"),
        pytest.param("alice@exa mple.com", None, "dropped", id="space-in-domain"),
        pytest.param("@example.com", None, "dropped", id="no-local"),
        pytest.param("", None, "dropped", id="empty"),
    ],
)
def test_email_fields(value: str, expected: str | None, kind: str | None) -> None:
    assert check_email(value)[0] == expected
    item, changes = Sanitizer().sanitize(Contact(display_name="E", emails=(value,)), Capabilities())
    assert isinstance(item, Contact)
    assert item.emails == ((expected,) if expected else ())
    assert [(c.kind, c.field) for c in changes] == ([(kind, "emails")] if kind else [])
    attendee_item, attendee_changes = Sanitizer().sanitize(Event(attendees=(Attendee(value or " "),)), Capabilities())
    assert isinstance(attendee_item, Event)
    assert [a.address for a in attendee_item.attendees] == ([expected] if expected else [])
