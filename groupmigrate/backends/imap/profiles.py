"""Server profiles of the IMAP backend: what each kind of IMAP server keeps, as data.

IMAP stores mail only, each message as the bytes it was given (``stores_exact_mime``), with
its flags, keywords and internal date. It keeps no hidden per-message property, so no
provenance stamp (a lost APPEND answer is settled inside the backend by searching for the
message it sent: see :mod:`groupmigrate.backends.imap.destination`). Outlook's follow-up
dates, reminders, importance and sensitivity are not IMAP flags: the mappers drop them (and
count what they drop). A message's importance still travels inside its MIME headers when
the sender put it there.
"""

from __future__ import annotations

from typing import Any

from groupmigrate.capabilities import Capabilities

__all__ = ["PROFILES", "UNKEPT_MAIL_FIELDS"]

#: Message fields no IMAP server keeps (they live in Exchange properties, not in flags or MIME
#: as written by the source); the mappers drop them with a count per account.
UNKEPT_MAIL_FIELDS = frozenset(
    {
        "mail.importance", "mail.sensitivity", "mail.flag_start", "mail.flag_due", "mail.flag_completed",
        "mail.flag_request", "mail.reminder", "mail.kind",
    }
)  # fmt: skip


def _capabilities(name: str, **kwargs: Any) -> Capabilities:
    return Capabilities(
        name=name,
        item_types=frozenset({"mail"}),
        supports_sync_state=True,
        supports_provenance=False,
        stores_exact_mime=True,
        # an IMAP folder holds only mail, and only mail can be written: a mail filed in an
        # Exchange Contacts folder is skipped with its reason rather than sent into a folder
        # the destination would have to invent for it
        allows_mixed_folders=False,
        unsupported_fields=UNKEPT_MAIL_FIELDS,
        **kwargs,
    )


#: profile name → capabilities. ``dovecot``: Dovecot 2.3 (mail_max_userip_connections is 10
#: per user and client address by default: the profile stays well below); ``generic``: any
#: IMAP4rev1 server, extensions used where the server offers them.
PROFILES: dict[str, Capabilities] = {
    "dovecot": _capabilities("dovecot", max_connections=4),
    "generic": _capabilities("generic", max_connections=4),
}
