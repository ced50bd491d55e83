"""What reading and writing a vCard share: the product's property names, escaping of text and
parameter values, folding of content lines, and splitting a card into content lines (see
:mod:`.vcard` for the field table).
"""

from __future__ import annotations

import io
import re
from typing import Any

import attrs
import vobject

#: the PRODID of every card written here
PRODID = "-//groupmigrate//vCard converter//EN"
#: the property holding the provenance stamp
STAMP_PROPERTY = "X-GROUPMIGRATE-PROVENANCE"
#: the year a birthday or anniversary without a year is kept with (Apple's convention)
YEARLESS = 1604

_DERIVED = "X-GROUPMIGRATE-DERIVED"
_ATTACHMENT = "X-GROUPMIGRATE-ATTACHMENT"
_MEMBER_TEXT = "X-GROUPMIGRATE-MEMBER"
_INITIALS = "X-GROUPMIGRATE-INITIALS"
_FOLD_OCTETS = 75
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_UNESCAPE = re.compile(r"\\([\\,;:nN])")
_CARET = re.compile(r"\^([\^nN'])")


class VCardError(ValueError):
    """A card that cannot be written or is no vCard at all.

    The message names what is wrong (the property, the UID), never the whole card.
    """


def _fold(line: str) -> str:
    """One content line folded at 75 octets (never inside a UTF-8 sequence), with CRLF."""
    data = line.encode("utf-8")
    if len(data) <= _FOLD_OCTETS:
        return line + "\r\n"
    chunks: list[bytes] = []
    start, limit = 0, _FOLD_OCTETS
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        chunks.append(data[start:end])
        start, limit = end, _FOLD_OCTETS - 1  # continuation lines start with a space
    return "\r\n ".join(chunk.decode("utf-8") for chunk in chunks) + "\r\n"


def _esc(text: str) -> str:
    """A text value escaped for both versions: backslash, comma, semicolon, line break."""
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _param(text: str) -> str:
    """A parameter value: RFC 6868 ^-escapes for ^, line breaks and double quotes, quoted
    where it holds , ; or : (vobject's rule)."""
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("^", "^^").replace("\n", "^n").replace('"', "^'")
    return str(vobject.base.dquoteEscape(text))


def _clean(value: str | None) -> str | None:
    """None for an empty or blank value, else the value."""
    return value if value is not None and value.strip() else None


@attrs.frozen(eq=False)
class _Prop:
    """One content line: upper-case name and parameter names, lower-case group, raw value
    (still escaped; quoted-printable already decoded by vobject)."""

    name: str
    group: str | None
    params: dict[str, list[str]]
    value: str
    number: int

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def named(self, name: str) -> str:
        """A parameter of ours (RFC 6868 ^-escapes decoded), "" when absent."""
        return _uncaret(",".join(self.params.get(name, ())))

    @property
    def types(self) -> frozenset[str]:
        out: set[str] = set()
        for value in self.params.get("TYPE", ()):
            out.update(t.strip().lower() for t in value.split(",") if t.strip())
        return frozenset(out)

    @property
    def pref(self) -> int:
        """1 (most preferred) to 100, 101 when not preferred."""
        rank = 1 if "pref" in self.types else 101
        value = (self.param("PREF") or "").strip()
        if value.isdigit():
            rank = min(rank, max(1, int(value)))
        return rank


@attrs.frozen(eq=False)
class _Card:
    version: str
    props: tuple[_Prop, ...]

    def all(self, *names: str) -> list[_Prop]:
        return [p for p in self.props if p.name in names]

    def first(self, *names: str) -> _Prop | None:
        return next((p for p in self.props if p.name in names), None)

    def label(self, prop: _Prop) -> str | None:
        """The Apple label (``itemN.X-ABLabel``) of a grouped property, or None."""
        if prop.group is None:
            return None
        for other in self.props:
            if other.group == prop.group and other.name == "X-ABLABEL":
                return _text(other.value).strip() or None
        return None


def _uncaret(text: str) -> str:
    return _CARET.sub(lambda m: {"^": "^", "n": "\n", "N": "\n", "'": '"'}[m.group(1)], text)


def _text(raw: str) -> str:
    """A text value unescaped (a comma not escaped stays a comma)."""
    if "\\" in raw:
        raw = _UNESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), raw)
    return raw.replace("\r\n", "\n")


def _split(raw: str, separator: str) -> list[str]:
    """``raw`` split at each separator not escaped; the pieces stay escaped."""
    pieces: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            current.append(raw[index : index + 2])
            index += 2
            continue
        if char == separator:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    pieces.append("".join(current))
    return pieces


def _decode(data: bytes, warnings: list[str]) -> str:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a vCard is bytes, not {type(data).__name__}")
    raw = bytes(data)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise VCardError(f"not a vCard: broken UTF-16 at byte {exc.start}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text, charset = raw.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        text, charset = raw.decode("latin-1"), "Latin-1"
    warnings.append(f"the card is not UTF-8: read as {charset}")
    return text


def _parse(data: bytes, warnings: list[str]) -> _Card:
    """The first vCard in ``data``, split into content lines by vobject."""
    text = _decode(data, warnings).replace("\r\n", "\n").replace("\r", "\n")
    props: list[_Prop] = []
    version = ""
    depth = 0
    started = ended = more = False
    for logical, number in vobject.base.getLogicalLines(io.StringIO(text), True):
        try:
            line: Any = vobject.base.textLineToContentLine(logical, number)
        except (vobject.base.VObjectError, ValueError, LookupError):
            if started and not ended and depth == 1:
                warnings.append(f"line {number}: not a vCard content line; left out")
            continue
        name = str(line.name).upper()
        value = str(line.value)
        if ended:
            if name == "BEGIN" and value.strip().upper() == "VCARD":
                more = True
                break
            continue
        if name == "BEGIN":
            if started:
                depth += 1  # an embedded card (vCard 2.1 AGENT): not this contact's
            elif value.strip().upper() == "VCARD":
                started, depth = True, 1
            continue
        if not started:
            continue
        if name == "END":
            depth -= 1
            ended = depth == 0
            continue
        if depth > 1:
            continue
        if name == "VERSION":
            version = _text(value).strip()
            continue
        params: dict[str, list[str]] = {}
        for key, values in line.params.items():
            params.setdefault(str(key).upper(), []).extend(str(v) for v in values)
        for single in line.singletonparams:  # vCard 2.1: TEL;WORK;VOICE, PHOTO;BASE64
            token = str(single).upper()
            if token in ("BASE64", "B"):
                params.setdefault("ENCODING", []).append("b")
            else:
                params.setdefault("TYPE", []).append(token)
        group = str(line.group).lower() if line.group else None
        props.append(_Prop(name, group, params, value, int(number or 0)))
    if not started:
        raise VCardError("not a vCard: no BEGIN:VCARD line")
    if not ended:
        warnings.append("END:VCARD is missing: read to the end of the data")
    if more:
        warnings.append("the data holds more than one vCard: only the first is read")
    return _Card(version or "3.0", tuple(props))
