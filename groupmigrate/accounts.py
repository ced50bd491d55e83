"""Account pairs: which source mailbox goes to which destination mailbox."""

from __future__ import annotations

import attrs

from groupmigrate.auth import Auth

__all__ = ["AccountPair"]


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
