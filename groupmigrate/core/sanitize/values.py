"""Checking single values: X500/EX addresses, website URLs and email addresses.

Each check returns the value to keep (None to drop it) and a sentence for the log.
"""

from __future__ import annotations

import email.utils
import re
import urllib.parse

# validators and email_validator are imported where used: loading them costs more than the
# rest of this module, and only a run that sanitizes items needs them.

__all__ = ["check_email", "check_url", "is_x500", "x500_dn"]

_X500_PREFIX = re.compile(r"^(?:x500|ex):", re.IGNORECASE)
_IMCEAEX = re.compile(r"^IMCEAEX-(?P<encoded>[^@\s]+)@[^@\s]+$", re.IGNORECASE)
_IMCEA_HEX = re.compile(r"\+([0-9A-Fa-f]{2})")
_ANGLE = re.compile(r"<([^<>]*)>")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")
_WEB_SCHEMES = frozenset({"http", "https", "ftp", "ftps"})
_ADDRESS_PREFIX = re.compile(r"^(?:mailto|smtp|sip):", re.IGNORECASE)


# --- X500 addresses ---------------------------------------------------------------------------


def x500_dn(address: str) -> str | None:
    """The legacyExchangeDN an X500/EX-form address stands for; None for any other address.

    Accepts ``/o=...``, ``X500:/o=...``, ``EX:/o=...`` (optionally in angle brackets) and the
    IMCEA encapsulation ``IMCEAEX-_o=..._cn=...@domain``, whose encoding is undone: ``_``
    stands for ``/`` and ``+XX`` for the character with hex code XX.

    Args:
        address: an address as found in a field or header.

    Returns:
        The DN (``/o=ExchangeLabs/ou=.../cn=alice``), or None.
    """
    text = _X500_PREFIX.sub("", address.strip().strip("<>").strip())
    if text[:3].lower() == "/o=":
        return text
    match = _IMCEAEX.match(text)
    if match is None:
        return None
    decoded = _IMCEA_HEX.sub(lambda m: chr(int(m.group(1), 16)), match["encoded"].replace("_", "/"))
    return decoded if decoded[:3].lower() == "/o=" else None


def is_x500(address: str) -> bool:
    """True when ``address`` is an X500/EX form (see :func:`x500_dn`)."""
    return x500_dn(address) is not None


def _dn_key(dn: str) -> str:
    # legacyExchangeDNs compare case-insensitively.
    return dn.casefold()


# --- URL and email checks ------------------------------------------------------------------------


def check_url(value: str) -> tuple[str | None, str | None]:
    """Check one website value.

    Args:
        value: the value as stored.

    Returns:
        ``(url, None)`` when valid as it is; ``(fixed, why)`` when it was repaired (scheme
        added, spaces in the path encoded, white space trimmed); ``(None, why)`` when it is
        not a usable link.
    """
    text = value.strip()
    if not text:
        return None, f"empty website {value!r} removed"
    if _valid_url(text):
        return text, (None if text == value else f"website {value!r} trimmed to {text!r}")
    scheme = _SCHEME.match(text)
    # "www.example.com:8080" matches the scheme pattern too; a real scheme has no dot.
    has_scheme = "://" in text or (scheme is not None and "." not in scheme["scheme"])
    if has_scheme and (scheme is None or scheme["scheme"].lower() not in _WEB_SCHEMES):
        return None, f"website {value!r} removed: only http, https and ftp links are kept"
    candidate = _encode_path_spaces(text if has_scheme else f"http://{text}")
    if candidate is not None and _valid_url(candidate):
        return candidate, f"website {value!r} written as {candidate!r}"
    return None, f"website {value!r} removed: not a valid link"


def _valid_url(text: str) -> bool:
    import validators

    return bool(
        validators.url(text, rfc_1034=True, validate_scheme=lambda s: s.lower() in _WEB_SCHEMES)
    )


def _encode_path_spaces(url: str) -> str | None:
    """``url`` with spaces after the host percent-encoded; None when the host has spaces."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if not parts.netloc or re.search(r"\s", parts.netloc) or re.search(r"[\t\r\n]", url):
        return None
    return url.replace(" ", "%20")


def check_email(value: str) -> tuple[str | None, str | None]:
    """Check the syntax of one email address (no DNS lookups).

    Quoted local parts, internationalized domains and domain literals are valid. A
    ``mailto:``/``SMTP:`` prefix, a ``Name <address>`` form and a trailing dot after the
    domain (the DNS root, so the same domain) are repaired. Valid addresses keep their
    spelling: nothing is lower-cased or converted to punycode.

    Args:
        value: the address as stored.

    Returns:
        ``(address, None)`` when valid as it is, ``(fixed, why)`` when repaired,
        ``(None, why)`` when invalid.
    """
    text = value.strip()
    if _ANGLE.search(text):
        text = email.utils.parseaddr(text)[1] or text
    text = _ADDRESS_PREFIX.sub("", text).strip()
    if text.endswith(".") and "@" in text:
        text = text.rstrip(".")
    if not text:
        return None, f"empty email address {value!r} removed"
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(
            text,
            check_deliverability=False,
            allow_quoted_local=True,
            allow_domain_literal=True,
            allow_smtputf8=True,
        )
    except EmailNotValidError as error:
        return None, f"invalid email address {value!r} removed: {error}"
    return text, (None if text == value else f"email address {value!r} written as {text!r}")
