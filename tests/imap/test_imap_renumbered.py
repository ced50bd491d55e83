"""A source folder that Dovecot renumbered (its UIDVALIDITY changed: every message has a new id,
as after a mailbox was rebuilt or restored) is migrated again without a single duplicate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import groupmigrate as gm
from groupmigrate.testing.dovecot import DovecotServer

from .test_imap_conformance import DovecotMail
from .test_imap_routes import adds_up, imap_destination, imap_source, mime

pytestmark = pytest.mark.timeout(120)

FOLDER = ("Kunden – Ärger",)


def _rebuild(mail: DovecotMail, path: tuple[str, ...], messages: list[tuple[bytes, dt.datetime]]) -> None:
    """Delete the folder and put the same messages back: a new UIDVALIDITY, new UIDs."""
    imap = mail.connect()
    try:
        typ, data = imap.delete(mail.quoted(mail.name(path)))
        assert typ == "OK", data
    finally:
        imap.logout()
    mail.create(path)
    for data, received in messages:
        mail.append(path, data, flags=["\\Seen"], received=received)


def _uidvalidity(mail: DovecotMail, path: tuple[str, ...]) -> int:
    imap = mail.connect()
    try:
        typ, data = imap.status(mail.quoted(mail.name(path)), "(UIDVALIDITY)")
        assert typ == "OK", data
        return int(data[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))
    finally:
        imap.logout()


@pytest.mark.parametrize("mode", ["delta", "full"])
def test_a_renumbered_folder_is_not_copied_again(dovecot: DovecotServer, tmp_path: Any, mode: str) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    old_user, new_user = f"dana-{mode}@old-host.example", f"dana-{mode}@new-host.example"
    dovecot.add_user(old_user, "dana-old-password")
    dovecot.add_user(new_user, "dana-new-password")
    old = DovecotMail(dovecot, old_user, "dana-old-password")
    new = DovecotMail(dovecot, new_user, "dana-new-password")
    messages = [(mime(n, f"Reklamation {n}", now - dt.timedelta(days=n), "renumbered"), now - dt.timedelta(days=n))
                for n in range(15)]  # fmt: skip
    old.create(FOLDER)
    for data, received in messages:
        old.append(FOLDER, data, flags=["\\Seen"], received=received)
    pairs = [gm.AccountPair(old_user, new_user)]
    state = str(tmp_path / "state.db")
    source, destination = imap_source(dovecot), imap_destination(dovecot)
    first = gm.Migrator(source, destination, state=state).run(pairs)
    assert first.totals()["migrated"] == 15

    before = _uidvalidity(old, FOLDER)
    _rebuild(old, FOLDER, messages)
    assert _uidvalidity(old, FOLDER) != before
    late = (mime(99, "Reklamation nach dem Umzug", now, "renumbered"), now)
    old.append(FOLDER, late[0], received=late[1])  # and one new message arrives

    again = gm.Migrator(source, destination, state=state).run(pairs, mode=mode)
    assert again.accounts[0].status == "completed", again.accounts[0].error
    copied = sorted(d["mime"] for _, d in new.read(FOLDER))
    assert copied == sorted([m for m, _ in messages] + [late[0]]), "a message was copied twice or lost"
    totals = again.totals()
    assert totals["migrated"] == 1 and totals["duplicate"] == 15, totals  # found there by content
    if mode == "delta":
        notices = " ".join(e.message for a in again.accounts for e in a.log if e.message)
        assert "UIDVALIDITY changed" in notices
    adds_up(gm.Migrator(source, destination, state=state).verify(pairs))
