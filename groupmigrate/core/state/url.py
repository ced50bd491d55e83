"""Telling a PostgreSQL state store's URL from a state file's path, and showing it without its password.

Kept apart from :mod:`groupmigrate.core.state.postgres` so that the configuration and
:func:`~groupmigrate.core.state.open_state` can recognise a URL without importing psycopg.
"""

from __future__ import annotations

import os
from urllib.parse import unquote

__all__ = ["POSTGRES_SCHEMES", "is_postgres_url", "mask_url", "url_passwords"]

#: The URL schemes of a PostgreSQL state store (libpq accepts both).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

_MASK = "***"


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` is a ``postgresql://`` (or ``postgres://``) URL rather than a file path."""
    if isinstance(value, os.PathLike) or not isinstance(value, str):
        return False
    return value.strip().lower().startswith(POSTGRES_SCHEMES)


def _split(url: str) -> tuple[str, str | None, str, str | None]:
    """``(scheme://, userinfo, host and path, query)`` as libpq reads a URL.

    libpq ends the user part at the first ``@`` before any ``/`` (so a password may hold
    ``#``, ``?`` or ``:`` as they are), and the query at the first ``?`` after it.
    """
    scheme, _, rest = url.strip().partition("://")
    userinfo = None
    for position, char in enumerate(rest):
        if char == "/":
            break
        if char == "@":
            userinfo, rest = rest[:position], rest[position + 1 :]
            break
    where, mark, query = rest.partition("?")
    return scheme + "://", userinfo, where, query if mark else None


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return [(key, value) for key, _, value in (part.partition("=") for part in query.split("&"))]


def mask_url(url: str) -> str:
    """``url`` with any password (in the user part, or as a ``password`` parameter) shown as ``***``."""
    scheme, userinfo, where, query = _split(url)
    shown = scheme
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        shown += f"{user}:{_MASK}@" if colon else f"{userinfo}@"
    shown += where
    if query is not None:
        shown += "?" + "&".join(
            f"{part.partition('=')[0]}={_MASK}" if unquote(part.partition("=")[0]).lower() == "password" else part
            for part in query.split("&")
        )
    return shown


def url_passwords(url: str) -> set[str]:
    """Every password ``url`` holds, as written and percent-decoded (to be kept out of messages)."""
    _, userinfo, _, query = _split(url)
    found: set[str] = set()
    if userinfo is not None and ":" in userinfo:
        found.add(userinfo.partition(":")[2])
    for key, value in _query_pairs(query or ""):
        if unquote(key).lower() == "password":
            found.add(value)
    return {text for raw in found if raw for text in (raw, unquote(raw))}
