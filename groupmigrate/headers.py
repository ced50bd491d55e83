"""Raw access to the header block of a MIME message, byte-exact where nothing changes."""

from __future__ import annotations

import re

import attrs

from groupmigrate.mime import decode_header

__all__ = ["HeaderBlock", "decode_words", "split_addresses", "unfold"]

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_WHITESPACE = re.compile(r"\s+")


@attrs.define
class HeaderBlock:
    """A message split into its header fields and the rest, which is kept as bytes.

    ``fields`` holds each header field's raw bytes, continuation lines and line break
    included, so ``join()`` returns the original message byte for byte until a field is
    replaced.
    """

    fields: list[bytes]
    rest: bytes
    newline: bytes

    @classmethod
    def parse(cls, mime: bytes) -> HeaderBlock:
        """Split ``mime`` after its header block (the first empty line)."""
        blank = _BLANK_LINE.search(mime)
        if blank is None:
            head, rest = mime, b""
        else:
            # The line break ending the last field belongs to that field; the empty line
            # and everything after it is the rest.
            cut = blank.start() + (2 if mime[blank.start() : blank.start() + 2] == b"\r\n" else 1)
            head, rest = mime[:cut], mime[cut:]
        fields: list[bytes] = []
        for line in head.splitlines(keepends=True):
            if line[:1] in (b" ", b"\t") and fields:
                fields[-1] += line
            else:
                fields.append(line)
        newline = b"\r\n" if b"\r\n" in head else b"\n"
        return cls(fields, rest, newline)

    def join(self) -> bytes:
        """The message as bytes."""
        return b"".join(self.fields) + self.rest

    @staticmethod
    def name_of(field: bytes) -> str:
        """The field name, as written (``b"To: a"`` -> ``"To"``)."""
        name, _, _ = field.partition(b":")
        return name.strip().decode("ascii", "replace")

    @staticmethod
    def value_of(field: bytes) -> str:
        """The field value, unfolded, as text (undecodable bytes kept as surrogates)."""
        _, _, value = field.partition(b":")
        return unfold(value.decode("ascii", "surrogateescape")).strip()

    def build(self, name: str, entries: list[str]) -> bytes:
        """A field ``name: entry, entry`` folded between entries to keep lines short."""
        nl = self.newline.decode("ascii")
        lines = [f"{name}:"]
        for index, entry in enumerate(entries):
            piece = f" {entry}" + ("," if index < len(entries) - 1 else "")
            if len(lines[-1]) + len(piece) > 78 and lines[-1] != f"{name}:":
                lines.append("")
            lines[-1] += piece
        return (nl.join(lines) + nl).encode("ascii", "surrogateescape")


def unfold(value: str) -> str:
    """Undo header folding (RFC 5322 2.2.3): drop line breaks followed by white space."""
    return _FOLD.sub("", value)


def decode_words(value: str) -> str:
    """Unfold a header value and decode its RFC 2047 encoded words; never raises."""
    return decode_header(unfold(value))


def collapse(text: str) -> str:
    """Runs of white space as one space, none at either end."""
    return _WHITESPACE.sub(" ", text).strip()


def split_addresses(value: str) -> list[str]:
    """Split an address-list header value at its top-level commas.

    Commas inside quoted strings, angle brackets and comments do not split; the entries are
    returned as written (not stripped), so joining them with commas gives ``value`` back.
    """
    entries: list[str] = []
    start = depth_paren = 0
    in_quote = in_angle = escaped = False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_quote:
            in_quote = char != '"'
        elif char == '"':
            in_quote = True
        elif char == "<":
            in_angle = True
        elif char == ">":
            in_angle = False
        elif char == "(" and not in_angle:
            depth_paren += 1
        elif char == ")" and depth_paren:
            depth_paren -= 1
        elif char == "," and not in_angle and not depth_paren:
            entries.append(value[start:index])
            start = index + 1
    entries.append(value[start:])
    return entries
