"""The accounts CSV reader: accepted spellings, every kind of mistake, and secrecy."""

from __future__ import annotations

import csv
import io
import logging
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groupmigrate.accounts import (
    RECOMMENDED_BATCH_SIZE,
    AccountPair,
    LargeBatchWarning,
    normalize_address,
    read_accounts_csv,
)
from groupmigrate.auth import BasicAuth
from groupmigrate.errors import AccountsFileError

HEADER = "source,destination,source_username,source_password,destination_username,destination_password"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "accounts.csv"


def read(text: str) -> list[AccountPair]:
    return read_accounts_csv(io.StringIO(text))


def problems_of(text: str | bytes) -> AccountsFileError:
    source = io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text)
    with pytest.raises(AccountsFileError) as info:
        read_accounts_csv(source)
    return info.value


# --------------------------------------------------------------------------------------------
# What is accepted


def test_minimal_file() -> None:
    pairs = read("source,destination\nalice@contoso.com,alice@example.org\n")
    assert pairs == [AccountPair("alice@contoso.com", "alice@example.org")]
    assert pairs[0].source_auth is None and pairs[0].destination_auth is None


def test_per_user_credentials_become_basic_auth() -> None:
    pairs = read(f"{HEADER}\nbob@contoso.com,bob@example.org,bob@contoso.com,pw-src,bob,pw-dst\n")
    assert pairs[0].source_auth == BasicAuth("bob@contoso.com", "pw-src")
    assert pairs[0].destination_auth == BasicAuth("bob", "pw-dst")


@pytest.mark.parametrize(
    "header",
    [
        "Source,Destination",
        " SOURCE , destination ",
        "source;destination",
        '"source","destination"',
    ],
)
def test_header_spellings(header: str) -> None:
    delimiter = ";" if ";" in header else ","
    pairs = read(f"{header}\na@contoso.com{delimiter}b@example.org\n")
    assert pairs == [AccountPair("a@contoso.com", "b@example.org")]


def test_column_names_tolerate_spaces_hyphens_and_case() -> None:
    text = "Destination; Source; Source Username; source-password\nb@example.org;a@contoso.com;u;p\n"
    [pair] = read(text)
    assert pair == AccountPair("a@contoso.com", "b@example.org")
    assert pair.source_auth == BasicAuth("u", "p")


def test_semicolons_with_commas_inside_quotes() -> None:
    text = 'source;destination;source_username;source_password\na@contoso.com;b@example.org;u;"p,w;x"\n'
    [pair] = read(text)
    assert isinstance(pair.source_auth, BasicAuth)
    assert pair.source_auth.password.reveal() == "p,w;x"


def test_commas_with_semicolons_inside_quotes_in_the_header() -> None:
    pairs = read('"source",destination\n"a@contoso.com","b@example.org"\n')
    assert pairs == [AccountPair("a@contoso.com", "b@example.org")]


@pytest.mark.parametrize("data", [b"\xef\xbb\xbfsource,destination\r\na@contoso.com,b@example.org\r\n",
                                  b"source,destination\na@contoso.com,b@example.org"])  # fmt: skip
def test_bytes_with_and_without_bom_and_line_endings(data: bytes) -> None:
    assert read_accounts_csv(io.BytesIO(data)) == [AccountPair("a@contoso.com", "b@example.org")]


def test_text_with_bom() -> None:
    assert read("\ufeffsource,destination\na@contoso.com,b@example.org\n")[0].source == "a@contoso.com"


def test_blank_lines_and_separator_only_lines_are_ignored() -> None:
    text = "\nsource,destination\n\n  \na@contoso.com,b@example.org\n,\n\nc@contoso.com,d@example.org\n\n"
    assert [p.source for p in read(text)] == ["a@contoso.com", "c@contoso.com"]


def test_values_are_stripped_but_passwords_kept_verbatim() -> None:
    [pair] = read(f"{HEADER}\n  a@contoso.com , b@example.org , user ,  two spaces ,,\n")
    assert pair.source == "a@contoso.com"
    assert isinstance(pair.source_auth, BasicAuth)
    assert pair.source_auth.username == "user"
    assert pair.source_auth.password.reveal() == "  two spaces "


def test_domain_is_normalized() -> None:
    assert read("source,destination\nAlice@Contoso.COM,B@Example.ORG\n")[0].source == "Alice@contoso.com"
    assert normalize_address("x@EXAMPLE.org") == "x@example.org"


def test_trailing_empty_column_from_spreadsheets_is_harmless() -> None:
    assert len(read("source;destination;\na@contoso.com;b@example.org;\n")) == 1


def test_same_source_to_two_destinations_is_allowed() -> None:
    assert len(read("source,destination\na@contoso.com,b@example.org\na@contoso.com,c@example.org\n")) == 2


@pytest.mark.parametrize("kind", ["str", "path", "text", "binary"])
def test_paths_and_file_objects(tmp_path: Path, kind: str) -> None:
    file = tmp_path / "accounts.csv"
    file.write_text("source,destination\na@contoso.com,b@example.org\n", encoding="utf-8")
    if kind == "str":
        pairs = read_accounts_csv(str(file))
    elif kind == "path":
        pairs = read_accounts_csv(file)
    elif kind == "text":
        with file.open(encoding="utf-8", newline="") as stream:
            pairs = read_accounts_csv(stream)
    else:
        with file.open("rb") as stream:
            pairs = read_accounts_csv(stream)
    assert pairs == [AccountPair("a@contoso.com", "b@example.org")]


def test_the_shipped_example_reads() -> None:
    pairs = read_accounts_csv(EXAMPLE)
    assert len(pairs) == 3
    assert pairs[2].destination_auth is not None


def test_missing_file_is_an_accounts_file_error(tmp_path: Path) -> None:
    with pytest.raises(AccountsFileError, match="cannot read"):
        read_accounts_csv(tmp_path / "nope.csv")


# --------------------------------------------------------------------------------------------
# What is rejected: each case names the exact row (line in the file) and column.

H2 = "source,destination"
OK1 = "a@contoso.com,a@example.org"

MALFORMED = [
    pytest.param("", [(1, "*")], "empty", id="empty-file"),
    pytest.param("\n\n  \n", [(1, "*")], "empty", id="blank-lines-only"),
    pytest.param(f"{OK1}\nb@contoso.com,b@example.org\n", [(1, "*")], "must be the header", id="no-header"),
    pytest.param("source\na@contoso.com\n", [(1, "destination")], "required column", id="no-destination-column"),
    pytest.param("destination;x\na@example.org;1\n", [(1, "x"), (1, "source")], "", id="no-source-column"),
    pytest.param(f"{H2},mailbox size\n{OK1},3\n", [(1, "mailbox size")], "unknown column", id="unknown-column"),
    pytest.param(f"{H2},Source\n{OK1},c@contoso.com\n", [(1, "Source")], "twice", id="duplicate-column"),
    pytest.param(f"{H2}\n\n", [(1, "*")], "no accounts", id="header-only"),
    pytest.param(f"{H2}\n{OK1},extra\n", [(2, "*")], "3 fields, the header has 2", id="too-many-fields"),
    pytest.param(f"{HEADER}\n{OK1}\n", [(2, "*")], "2 fields, the header has 6", id="too-few-fields"),
    pytest.param(f"{H2}\n,a@example.org\n", [(2, "source")], "required", id="empty-source"),
    pytest.param(f"{H2}\n{OK1}\nalice,b@example.org\n", [(3, "source")], "not a valid email", id="source-no-at"),
    pytest.param(f"{H2}\na@contoso.com,a b@example.org\n", [(2, "destination")], "not a valid", id="dest-space"),
    pytest.param(f"{H2}\na@contoso.com,a@example\n", [(2, "destination")], "period", id="dest-no-dot"),
    pytest.param(f"{H2}\na@contoso.com,\n", [(2, "destination")], "required", id="empty-destination"),
    pytest.param(f"{HEADER}\n{OK1},u,,,\n", [(2, "source_password")], "password is required", id="src-user-no-pw"),
    pytest.param(f"{HEADER}\n{OK1},,pw,,\n", [(2, "source_username")], "user name is required", id="src-pw-no-user"),
    pytest.param(f"{HEADER}\n{OK1},,,u,\n", [(2, "destination_password")], "password", id="dst-user-no-pw"),
    pytest.param(f"{HEADER}\n{OK1},,,,pw\n", [(2, "destination_username")], "user name", id="dst-pw-no-user"),
    pytest.param(f"{H2}\n{OK1}\nA@Contoso.com,A@EXAMPLE.org\n", [(3, "*")], "same pair as row 2", id="dup-pair"),
    pytest.param(
        f"{H2}\n{OK1}\nb@contoso.com,b@example.org\nc@contoso.com,a@example.org\n",
        [(4, "destination")],
        "already the destination of row 2",
        id="destination-twice",
    ),
    pytest.param(f'{H2}\n{OK1}\n"b@contoso.com,b@example.org\n', [(3, "*")], "not closed", id="unclosed-quote"),
    pytest.param(f'{H2}\n"a@contoso.com"x,a@example.org\n', [(2, "*")], "closing quote", id="text-after-quote"),
    pytest.param(f"{H2},\n{OK1},oops\n", [(2, "field 3")], "no name", id="value-in-nameless-column"),
    pytest.param(f"{H2}\n\n\nbad,x@example.org\n", [(4, "source")], "not a valid", id="line-after-blank-lines"),
    pytest.param(
        f'{H2}\n"multi\nline@contoso.com",x@example.org\nbad,y@example.org\n',
        [(2, "source"), (4, "source")],
        "not a valid",
        id="line-numbers-after-multiline-field",
    ),
    pytest.param(f"source;destination\n{OK1.replace(',', ';')}\nx@contoso.com;bad\n", [(3, "destination")], "",
                 id="semicolon-file"),  # fmt: skip
    pytest.param(b"source,destination\r\nok@contoso.com,ok@example.org\r\nr\xe9my@contoso.com,r@example.org\r\n",
                 [(3, "*")], "UTF-8", id="latin-1-bytes"),  # fmt: skip
    pytest.param("source,destination\n".encode("utf-16"), [(1, "*")], "UTF-16", id="utf-16"),
]


@pytest.mark.parametrize(("text", "expected", "fragment"), MALFORMED)
def test_malformed_files(text: str | bytes, expected: list[tuple[int, str]], fragment: str) -> None:
    error = problems_of(text)
    assert [(row, column) for row, column, _ in error.problems] == expected
    for row, column in expected:
        assert f"row {row}, column {column!r}" in str(error)
    assert fragment in str(error)


def test_every_problem_is_reported_at_once() -> None:
    text = (
        f"{HEADER}\n"
        "a@contoso.com,a@example.org,,,,\n"  # row 2 fine
        "bad,b@example.org,u,,,\n"  # row 3: source and source_password
        "c@contoso.com,a@example.org,,,,\n"  # row 4: destination twice
        "d@contoso.com,,,,,\n"  # row 5: destination empty
    )
    error = problems_of(text)
    assert [(r, c) for r, c, _ in error.problems] == [
        (3, "source"),
        (3, "source_password"),
        (4, "destination"),
        (5, "destination"),
    ]
    assert str(error).count("\n") == 4  # one heading line, one line per problem


def test_require_auth_asks_every_row_for_credentials() -> None:
    text = f"{HEADER}\na@contoso.com,a@example.org,a,pw,,\nb@contoso.com,b@example.org,,,,\n"
    with pytest.raises(AccountsFileError) as info:
        read_accounts_csv(io.StringIO(text), require_auth=["source"])
    assert [(r, c) for r, c, _ in info.value.problems] == [(3, "source_username")]
    assert len(read_accounts_csv(io.StringIO(text))) == 2


def test_error_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "batch-1.csv"
    file.write_text("source,destination\nx,y\n", encoding="utf-8")
    with pytest.raises(AccountsFileError, match="batch-1.csv has 2 problem"):
        read_accounts_csv(file)


# --------------------------------------------------------------------------------------------
# Passwords never appear in messages


PASSWORDS = ["Hunter2-Src!", "Zebra#Dst-77", "Quoted;Pass,Word", "Only-Pw-9", "Row-Too-Long-8", "Dup-Pair-Pw-3"]


def test_no_password_in_any_error_or_log(caplog: pytest.LogCaptureFixture) -> None:
    p = PASSWORDS
    rows = [
        HEADER,
        f"bad-source,a@example.org,u,{p[0]},admin,{p[1]}",  # invalid address next to passwords
        f'b@contoso.com,b@example.org,,"{p[2]}",,',  # password without user
        f"c@contoso.com,c@example.org,u,{p[3]},,,{p[4]}",  # too many fields
        f"d@contoso.com,d@example.org,u,{p[5]},,",
        f"d@contoso.com,d@example.org,u,{p[5]},,",  # duplicate pair
        f"e@contoso.com,d@example.org,u,{p[0]},v,{p[1]}",  # destination twice (with row 5's)
        f'f@contoso.com,"unclosed,u,{p[1]},,',  # malformed CSV, reading stops
    ]
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = problems_of("\n".join(rows) + "\n")
    texts = [str(error), repr(error), *(m for _, _, m in error.problems), *(r.getMessage() for r in caplog.records)]
    texts += [str(w.message) for w in caught]
    assert [row for row, _, _ in error.problems] == [2, 3, 4, 6, 7, 8]
    for text in texts:
        for password in PASSWORDS:
            assert password not in text


def test_no_password_in_pair_reprs() -> None:
    [pair] = read(f"{HEADER}\na@contoso.com,a@example.org,u,{PASSWORDS[0]},v,{PASSWORDS[1]}\n")
    for text in (repr(pair), str(pair), repr(pair.source_auth), repr(pair.destination_auth)):
        assert PASSWORDS[0] not in text and PASSWORDS[1] not in text


# --------------------------------------------------------------------------------------------
# Batch size


def _rows(count: int) -> str:
    return H2 + "\n" + "".join(f"user{i}@contoso.com,user{i}@example.org\n" for i in range(count))


def test_large_batch_warns_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="groupmigrate.accounts")
    with pytest.warns(LargeBatchWarning, match="51 accounts"):
        pairs = read(_rows(RECOMMENDED_BATCH_SIZE + 1))
    assert len(pairs) == 51
    assert any("51 accounts" in r.getMessage() for r in caplog.records)
    assert issubclass(LargeBatchWarning, UserWarning)


def test_recommended_batch_size_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read(_rows(RECOMMENDED_BATCH_SIZE))) == 50


# --------------------------------------------------------------------------------------------
# Whatever a spreadsheet writes, the reader reads back

_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum() and ".." not in s
)
_password = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"), min_size=1, max_size=20
).filter(lambda s: s.strip() != "")


@settings(max_examples=60, deadline=None)
@given(
    locals_=st.lists(_local, min_size=1, max_size=8, unique=True),
    password=_password,
    delimiter=st.sampled_from([",", ";"]),
    crlf=st.booleans(),
)
def test_round_trip_through_csv_writer(locals_: list[str], password: str, delimiter: str, crlf: bool) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["source", "destination", "destination_username", "destination_password"])
    for local in locals_:
        writer.writerow([f"{local}@contoso.com", f"{local}@example.org", local, password])
    pairs = read_accounts_csv(io.BytesIO(buffer.getvalue().encode("utf-8")))
    assert [p.source for p in pairs] == [f"{local}@contoso.com" for local in locals_]
    for pair in pairs:
        assert isinstance(pair.destination_auth, BasicAuth)
        assert pair.destination_auth.password.reveal() == password
