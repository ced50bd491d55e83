"""Account pairs: which source mailbox goes to which destination mailbox.

The accounts file is a CSV file with a header line, one pair a line::

    source,destination,source_username,source_password,destination_username,destination_password
    alice@contoso.com,alice@example.org,,,,
    bob@contoso.com,bob@example.org,bob@contoso.com,Temp-Pass-1,bob@example.org,Temp-Pass-2

Only ``source`` and ``destination`` are required. The credential columns carry per-user
credentials; where they are empty, the endpoint's own auth (an admin with impersonation, or
app-only OAuth) opens the mailbox.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Literal

import attrs

from groupmigrate.auth import Auth, BasicAuth
from groupmigrate.errors import AccountsFileError

__all__ = [
    "ACCOUNT_COLUMNS",
    "RECOMMENDED_BATCH_SIZE",
    "AccountPair",
    "LargeBatchWarning",
    "normalize_address",
    "read_accounts_csv",
]

logger = logging.getLogger(__name__)

#: Accounts per batch that the migration service this library grew from recommends.
RECOMMENDED_BATCH_SIZE = 50

#: Columns the accounts file may have, in their canonical spelling.
ACCOUNT_COLUMNS: tuple[str, ...] = (
    "source",
    "destination",
    "source_username",
    "source_password",
    "destination_username",
    "destination_password",
)
_REQUIRED_COLUMNS = ("source", "destination")
_PASSWORD_COLUMNS = frozenset({"source_password", "destination_password"})

#: Marks a problem that concerns a whole row rather than one of its columns.
WHOLE_ROW = "*"
_UNNAMED = ""

Side = Literal["source", "destination"]


@attrs.frozen
class AccountPair:
    """One mailbox to migrate.

    ``source_auth`` / ``destination_auth`` are per-user credentials; when None, the endpoint's
    own auth (an admin with impersonation, or app-only OAuth) opens the mailbox.
    """

    source: str
    destination: str
    source_auth: Auth | None = attrs.field(default=None, eq=False)
    destination_auth: Auth | None = attrs.field(default=None, eq=False)

    @property
    def key(self) -> str:
        """Stable identifier of the pair in the state store and reports."""
        return f"{self.source.lower()} -> {self.destination.lower()}"

    def __str__(self) -> str:
        return self.key


class LargeBatchWarning(UserWarning):
    """The accounts file lists more accounts than the recommended batch size (50).

    Larger batches work, but a problem found late then concerns many mailboxes at once;
    migrating in batches keeps each run short and its report readable.
    """


def normalize_address(address: str) -> str:
    """Check an email address's syntax and return its normalized form.

    The domain is lower-cased (and IDNA-normalized); the local part is kept as written.
    No DNS lookup is made. Addresses under the reserved ``.test`` domain are accepted so
    that test servers and demos can use them.

    Args:
        address: The address to check.

    Returns:
        The normalized address.

    Raises:
        ValueError: The address is not a valid email address; the message says why.
    """
    from email_validator import EmailNotValidError, validate_email  # costly to import; only reading accounts needs it

    try:
        info = validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return str(info.normalized)


def address_problem(exc: BaseException) -> str:
    """Why an address is invalid, in words that quote no part of it.

    email-validator's reasons may name the offending characters (``...before the @-sign: '!'.``)
    or the domain; what follows a colon and anything in quotes are cut.
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "not an address"
    text = re.sub(r"""(['"]).*?\1""", "", text.split(": ", 1)[0]).strip().rstrip(".")
    return text or "not an address"


def read_accounts_csv(
    path_or_file: str | os.PathLike[str] | IO[str] | IO[bytes],
    *,
    require_auth: Iterable[Side] = (),
) -> list[AccountPair]:
    """Read the accounts file: a CSV file with a header line, one account pair a line.

    Columns (names are case-insensitive; spaces, hyphens and underscores are interchangeable):
    ``source`` and ``destination`` (required) and optional ``source_username``,
    ``source_password``, ``destination_username``, ``destination_password``. Fields are
    separated by commas or semicolons (taken from the header line) and may be quoted.
    The file is UTF-8, with or without a byte order mark. Blank lines are ignored.
    Values are stripped of surrounding spaces, except passwords, which are taken verbatim.
    Messages never quote a field's value: in a row whose fields shifted, a password may sit
    in an address column.

    Every problem in the file is collected and reported together, each with its row (the
    line number in the file; the header is row 1 unless blank lines precede it) and column.
    A password never appears in a message.

    Args:
        path_or_file: A path, or a file object opened in text or binary mode.
        require_auth: Sides (``"source"``, ``"destination"``) whose per-user credentials
            every row must give, because that endpoint has no admin credentials of its own.

    Returns:
        The account pairs in file order. Addresses are normalized (domain lower-cased).

    Raises:
        AccountsFileError: The file cannot be read or has problems; ``problems`` lists
            ``(row, column, message)`` for each, with column ``"*"`` for a whole row.

    Warns:
        LargeBatchWarning: More rows than :data:`RECOMMENDED_BATCH_SIZE` (also logged).
    """
    text, name = _read_text(path_or_file)
    reader = _AccountsReader(text, frozenset(require_auth))
    pairs = reader.read()
    if reader.problems:
        raise AccountsFileError(reader.problems, source=name)
    if len(pairs) > RECOMMENDED_BATCH_SIZE:
        _warn_large_batch(len(pairs), name)
    return pairs


def _read_text(source: str | os.PathLike[str] | IO[str] | IO[bytes]) -> tuple[str, str]:
    """Return the decoded text of ``source`` and a name for it in messages."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            data: str | bytes = Path(name).read_bytes()
        except OSError as exc:
            raise AccountsFileError([(0, WHOLE_ROW, f"cannot read the file: {exc.strerror}")], name) from None
    else:
        name = str(getattr(source, "name", "accounts file"))
        try:
            data = source.read()
        except UnicodeDecodeError as exc:
            message = f"cannot be decoded ({exc.reason}); open it as UTF-8 or in binary mode"
            raise AccountsFileError([(0, WHOLE_ROW, message)], name) from None
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), name
    return _decode(data, name), name


def _decode(data: bytes, name: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise AccountsFileError([(1, WHOLE_ROW, "the file is UTF-16; save it as UTF-8 (CSV UTF-8)")], name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8 (CSV UTF-8)"
        raise AccountsFileError([(line, WHOLE_ROW, message)], name) from None


def _warn_large_batch(count: int, name: str) -> None:
    message = (
        f"{name} lists {count} accounts; batches of at most {RECOMMENDED_BATCH_SIZE} "
        "are recommended (split the file to keep each run short)"
    )
    logger.warning(message)
    # stacklevel 3: point at the caller of read_accounts_csv, not at this module.
    warnings.warn(LargeBatchWarning(message), stacklevel=3)


def _canonical_column(name: str) -> str:
    return re.sub(r"[\s_-]+", "_", name.strip().lower())


def _sniff_delimiter(text: str) -> str:
    """Pick ``,`` or ``;`` by counting them outside quotes in the first non-blank line."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    unquoted = re.sub(r'"[^"]*"', "", header)
    return ";" if unquoted.count(";") > unquoted.count(",") else ","


@attrs.define
class _Row:
    line: int
    values: dict[str, str]


class _AccountsReader:
    """Parses and checks one accounts file, collecting every problem on the way."""

    def __init__(self, text: str, require_auth: frozenset[str]) -> None:
        self._text = text
        self._require_auth = require_auth
        self.problems: list[tuple[int, str, str]] = []

    def _problem(self, line: int, column: str, message: str) -> None:
        self.problems.append((line, column, message))

    def read(self) -> list[AccountPair]:
        records = self._records()
        header = next(records, None)
        if header is None:
            self._problem(1, WHOLE_ROW, "the file is empty; a header line is required: " + ",".join(ACCOUNT_COLUMNS))
            return []
        columns = self._check_header(*header)
        if columns is None:
            return []
        rows = [row for row in (self._row(line, fields, columns) for line, fields in records) if row]
        if not rows and not self.problems:
            self._problem(header[0], WHOLE_ROW, "no accounts are listed below the header")
        pairs = self._pairs(rows)
        # Rows are checked in two passes (fields, then pairs); report in file order.
        self.problems.sort(key=lambda problem: problem[0])
        return pairs

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(first line number, fields)`` for each non-blank record."""
        stream = io.StringIO(self._text, newline="")
        reader = csv.reader(stream, delimiter=_sniff_delimiter(self._text), strict=True)
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._problem(start, WHOLE_ROW, f"malformed CSV ({_csv_reason(exc)}); reading stopped here")
                return
            if any(field.strip() for field in fields):
                yield start, fields

    def _check_header(self, line: int, names: Sequence[str]) -> list[str | None] | None:
        """Map each field position to its canonical column, or None for a column to skip.

        Returns None when the header is unusable (a required column is missing).
        """
        canonical = [_canonical_column(raw) for raw in names]
        if not set(canonical) & set(ACCOUNT_COLUMNS) and any("@" in raw for raw in names):
            self._problem(line, WHOLE_ROW, "the first line must be the header: " + ",".join(ACCOUNT_COLUMNS))
            return None
        columns: list[str | None] = []
        for index, (raw, name) in enumerate(zip(names, canonical), start=1):
            columns.append(self._header_column(line, index, raw, name, columns))
        missing = [name for name in _REQUIRED_COLUMNS if name not in columns]
        for name in missing:
            self._problem(line, name, "required column is missing")
        return None if missing else columns

    def _header_column(self, line: int, index: int, raw: str, name: str, before: list[str | None]) -> str | None:
        if not name:
            # A trailing separator (common in spreadsheet exports) leaves a nameless column;
            # it is harmless as long as it stays empty.
            return _UNNAMED
        if name not in ACCOUNT_COLUMNS:
            self._problem(line, raw.strip(), "unknown column; expected " + ", ".join(ACCOUNT_COLUMNS))
            return None
        if name in before:
            self._problem(line, raw.strip(), f"column appears twice (again as field {index})")
            return None
        return name

    def _row(self, line: int, fields: list[str], columns: list[str | None]) -> _Row | None:
        if len(fields) != len(columns):
            self._problem(line, WHOLE_ROW, f"has {len(fields)} fields, the header has {len(columns)}")
            return None
        values: dict[str, str] = {}
        for index, (column, field) in enumerate(zip(columns, fields), start=1):
            if column is None:
                continue  # an unknown or repeated column, already reported with the header
            if column == _UNNAMED:
                if field.strip():
                    self._problem(line, f"field {index}", "has a value but its column has no name in the header")
                continue
            # Passwords are taken verbatim: leading or trailing spaces may be part of them.
            values[column] = field if column in _PASSWORD_COLUMNS and field.strip() else field.strip()
        return _Row(line, values)

    def _pairs(self, rows: list[_Row]) -> list[AccountPair]:
        pairs: list[AccountPair] = []
        first_of_pair: dict[tuple[str, str], int] = {}
        first_of_destination: dict[str, int] = {}
        for row in rows:
            pair = self._pair(row)
            if pair is None:
                continue
            key = (pair.source.lower(), pair.destination.lower())
            if key in first_of_pair:
                self._problem(row.line, WHOLE_ROW, f"the same pair as row {first_of_pair[key]}")
                continue
            if key[1] in first_of_destination:
                earlier = first_of_destination[key[1]]
                message = f"{pair.destination} is already the destination of row {earlier}"
                self._problem(row.line, "destination", message)
                continue
            first_of_pair[key] = first_of_destination[key[1]] = row.line
            pairs.append(pair)
        return pairs

    def _pair(self, row: _Row) -> AccountPair | None:
        before = len(self.problems)
        source = self._address(row, "source")
        destination = self._address(row, "destination")
        source_auth = self._credentials(row, "source")
        destination_auth = self._credentials(row, "destination")
        if len(self.problems) > before or source is None or destination is None:
            return None
        return AccountPair(source, destination, source_auth=source_auth, destination_auth=destination_auth)

    def _address(self, row: _Row, column: str) -> str | None:
        value = row.values.get(column, "")
        if not value:
            self._problem(row.line, column, "an address is required")
            return None
        try:
            return normalize_address(value)
        except ValueError as exc:
            # The value is not shown: in a row whose fields shifted it may be a password.
            self._problem(
                row.line,
                column,
                f"is not a valid email address: {address_problem(exc)} (the value is not shown; check that the "
                "row has its fields in the header's order)",
            )
            return None

    def _credentials(self, row: _Row, side: str) -> BasicAuth | None:
        user_column, password_column = f"{side}_username", f"{side}_password"
        username = row.values.get(user_column, "")
        password = row.values.get(password_column, "")
        if username and not password:
            self._problem(row.line, password_column, f"a password is required when {user_column} is given")
        elif password and not username:
            self._problem(row.line, user_column, f"a user name is required when {password_column} is given")
        elif not username and side in self._require_auth:
            self._problem(
                row.line, user_column, f"per-user credentials are required: the {side} has no admin credentials"
            )
        elif username:
            return BasicAuth(username, password)
        return None


def _csv_reason(exc: csv.Error) -> str:
    """A reader's wording for the csv module's error (which never quotes field contents)."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quoted field is not closed"
    if "expected after" in text:
        return "text follows a closing quote; double a quote inside a quoted field"
    return text
