"""Fuzzing with hypothesis: what users and servers hand us never breaks the parsers.

* ``read_accounts_csv`` returns pairs or raises AccountsFileError, nothing else, and never
  repeats a password, whatever the bytes;
* the Sanitizer never raises on arbitrary text in address and URL fields, and what it lets
  through is clean (valid addresses and links, no X500 address left);
* MIME handling (``Message.from_mime``, ``attachment_sizes``, fingerprints, the mail mapper
  and the header rewriting of the sanitizer) never raises on arbitrary bytes.

Examples are bounded for CI (``FUZZ_EXAMPLES``, more with ``--run-slow``) and derandomized,
so a run is repeatable.
"""

from __future__ import annotations

import csv
import io
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupmigrate.mime import attachment_sizes
from groupmigrate.accounts import read_accounts_csv
from groupmigrate.capabilities import Capabilities
from groupmigrate.core.dedup import content_fingerprint, fingerprint
from groupmigrate.errors import AccountsFileError
from groupmigrate.items import Attendee, Contact, Event, Message
from groupmigrate.core.mappers import MapContext, map_item
from groupmigrate.core.sanitize import Sanitizer, check_email, check_url, is_x500


def _examples(config: Any) -> int:
    return 1000 if config.getoption("--run-slow") else 200


@pytest.fixture(scope="module")
def fuzz(pytestconfig: pytest.Config) -> Any:
    """hypothesis settings for this run: bounded, no deadline, repeatable."""
    return settings(
        max_examples=_examples(pytestconfig),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- the accounts file -------------------------------------------------------------------------------

COLUMNS = ["source", "destination", "source_username", "source_password", "destination_username", "destination_password"]
#: a password: a marker no other field contains, then anything (quotes, delimiters, newlines...)
passwords = st.builds(
    lambda n, tail: f"PwQ{n:06d}{tail}",
    st.integers(0, 999_999),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
)
addresses = st.one_of(
    st.from_regex(r"[a-z][a-z0-9.]{0,10}@(contoso|example)\.(com|org)", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
row = st.fixed_dictionaries(
    {
        "source": addresses,
        "destination": addresses,
        "source_username": st.one_of(st.just(""), addresses),
        "source_password": st.one_of(st.just(""), passwords),
        "destination_username": st.one_of(st.just(""), addresses),
        "destination_password": st.one_of(st.just(""), passwords),
    }
)


def _read(data: bytes | str) -> list[Any] | AccountsFileError:
    stream: Any = io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read_accounts_csv(stream)
        except AccountsFileError as error:
            return error


def _secrets(rows: list[dict[str, str]]) -> set[str]:
    return {r[c] for r in rows for c in ("source_password", "destination_password") if r[c]}


def test_accounts_file_from_any_bytes(fuzz):
    @fuzz
    @given(st.one_of(st.binary(max_size=2000), st.text(max_size=2000)))
    def check(data: bytes | str) -> None:
        result = _read(data)
        assert isinstance(result, (list, AccountsFileError))
        if isinstance(result, AccountsFileError):
            assert str(result) and all(len(p) == 3 for p in result.problems)

    check()


def test_accounts_file_never_repeats_a_password(fuzz):
    @fuzz
    @given(
        rows=st.lists(row, min_size=1, max_size=8),
        delimiter=st.sampled_from([",", ";"]),
        columns=st.permutations(COLUMNS),
        bom=st.booleans(),
        garbage=st.one_of(st.just(""), st.text(max_size=30)),
    )
    def check(rows: list[dict[str, str]], delimiter: str, columns: list[str], bom: bool, garbage: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([r[c] for c in columns])
        text = ("\ufeff" if bom else "") + buffer.getvalue() + garbage
        result = _read(text.encode("utf-8", "surrogatepass"))
        secrets = _secrets(rows)
        if isinstance(result, AccountsFileError):
            texts = [str(result), repr(result), *(m for _, _, m in result.problems), *(c for _, c, _ in result.problems)]
        else:
            texts = [repr(result), *(str(p) for p in result)]
        for secret in secrets:
            marker = secret[:9]  # "PwQ" and six digits: unique to this password
            assert not any(marker in t for t in texts), f"password {secret!r} echoed: {texts}"

    check()


# --- the sanitizer -------------------------------------------------------------------------------------

ROUTE = Capabilities(name="fuzz", rejects_invalid_urls=True, rejects_x500_addresses=True)
any_text = st.text(max_size=60)
address_like = st.one_of(
    any_text,
    st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=15), st.text(max_size=15)),
    st.builds(lambda cn: f"/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={cn}", any_text),
    st.builds(lambda cn: f"IMCEAEX-_o=Org_ou=Group_cn=Recipients_cn={cn}@contoso.com", st.text(max_size=15)),
    st.builds(lambda a: f"mailto:{a}", any_text),
    st.builds(lambda n, a: f"{n} <{a}>", any_text, any_text),
)
url_like = st.one_of(
    any_text,
    st.builds(lambda s, h, p: f"{s}://{h}/{p}", st.sampled_from(["http", "https", "ftp", "javascript", "file", ""]), any_text, any_text),
    st.builds(lambda h: f"www.{h}.com", any_text),
)


def _resolver(dns: Any) -> dict[str, str | None]:
    # resolves every other DN, to an address that may or may not be valid
    return {dn: (f"user{i}@contoso.com" if i % 3 == 0 else None if i % 3 == 1 else dn) for i, dn in enumerate(dns)}


def _clean_address(value: str) -> bool:
    return not is_x500(value) and check_email(value) == (value, None)


def test_sanitizer_contacts_and_events(fuzz):
    @fuzz
    @given(
        emails=st.lists(address_like, max_size=5),
        members=st.lists(address_like, max_size=3),
        websites=st.lists(url_like, max_size=4),
        organizer=st.one_of(st.none(), address_like),
        attendees=st.lists(address_like, max_size=4),
    )
    def check(emails: list[str], members: list[str], websites: list[str], organizer: str | None, attendees: list[str]) -> None:
        sanitizer = Sanitizer(resolver=_resolver)
        contact, _ = sanitizer.sanitize(Contact(display_name="x", emails=emails, members=members, websites=websites), ROUTE)
        assert isinstance(contact, Contact)
        assert all(_clean_address(a) for a in contact.emails + contact.members), contact.emails
        assert all(check_url(w) == (w, None) for w in contact.websites), contact.websites
        event, _ = sanitizer.sanitize(
            Event(subject="x", organizer=organizer, attendees=tuple(Attendee(a) for a in attendees)), ROUTE
        )
        assert isinstance(event, Event)
        assert not event.organizer or _clean_address(event.organizer), event.organizer
        assert all(_clean_address(a.address) for a in event.attendees)

    check()


# --- MIME ----------------------------------------------------------------------------------------------

header_names = st.sampled_from(["From", "To", "Cc", "Sender", "Reply-To", "Subject", "Date", "Message-ID", "Content-Type",
                                "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "X-Odd"])  # fmt: skip
header_values = st.one_of(
    st.binary(max_size=80),
    st.sampled_from([
        b"multipart/mixed; boundary=\"b1\"", b"multipart/alternative; boundary=", b"text/plain; charset=x-unknown",
        b"base64", b"quoted-printable", b"attachment; filename=\"a.bin\"", b"=?utf-8?b?w7w=?=", b"=?bad?q?=ZZ?=",
        b"Mon, 32 Foo 2026 25:61:61 +9999", b"<a@b>", b"<>", b"/o=Org/ou=G/cn=Recipients/cn=x", b"a@b, , <c@d>",
    ]),
)  # fmt: skip
mime_like = st.builds(
    lambda headers, sep, body: b"".join(n.encode() + b": " + v + sep for n, v in headers) + sep + body,
    st.lists(st.tuples(header_names, header_values), max_size=10),
    st.sampled_from([b"\r\n", b"\n", b"\r"]),
    st.one_of(st.binary(max_size=300), st.just(b"--b1\r\nContent-Type: text/plain\r\n\r\nx\r\n--b1\r\n\r\n@@@\r\n")),
)


def test_mime_handling_never_raises(fuzz):
    @fuzz
    @given(st.one_of(st.binary(max_size=1500), mime_like))
    def check(data: bytes) -> None:
        message = Message.from_mime(data)
        assert message.mime == data
        sizes = list(attachment_sizes(data))
        assert all(isinstance(n, int) and n >= 0 for n in sizes)
        assert message.attachment_bytes == sum(sizes)
        assert fingerprint(message).startswith("mail:")
        assert content_fingerprint(message).startswith("mail:")
        mapped = map_item(message, ROUTE, MapContext(owner="owner@example.org"))
        assert mapped.item is not None or mapped.skip_reason
        cleaned, _ = Sanitizer(resolver=_resolver).sanitize(message, ROUTE)
        assert isinstance(cleaned, Message)

    check()
