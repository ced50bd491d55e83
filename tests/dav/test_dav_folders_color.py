"""Folder colours: read from calendars and address books, written where a collection is made.

A folder's colour is Apple's ``calendar-color`` (an address book's ``addressbook-color``),
normalised to ``#RRGGBB`` / ``#RRGGBBAA``; it is not part of a folder's identity, and a
collection the destination already has keeps its own colour (or none).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest

import groupmigrate as gm
from groupmigrate.auth import BasicAuth
from groupmigrate.backends.dav import ical
from groupmigrate.backends.dav.destination import DavDestination
from groupmigrate.backends.dav.source import DavSource
from groupmigrate.items import Event, Folder, folder_color
from groupmigrate.testing.radicale import RadicaleServer

from .conftest import DavUser

pytestmark = pytest.mark.timeout(120)

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("#FF2968FF", "#FF2968FF"), ("#ff2968", "#FF2968"), (" ff2968 ", "#FF2968"), ("#f00", "#FF0000"),
        ("#f00c", "#FF0000CC"), ("blue", None), ("#FF29", "#FFFF2299"), ("#FF29681", None), ("", None),
        ("#", None), ("#GG0000", None), (None, None), (0xFF2968, None),
    ],
)  # fmt: skip
def test_colours_are_normalised_and_bad_ones_dropped(given: Any, kept: str | None) -> None:
    assert folder_color(given) == kept
    assert Folder(("Work",), kind="calendar", color=given).color == kept


def test_colour_is_not_part_of_a_folders_identity() -> None:
    red = Folder(("Work",), kind="calendar", color="#FF0000")
    plain = Folder(("Work",), kind="calendar")
    assert red == plain and hash(red) == hash(plain) and {red: 1}[plain] == 1
    assert red != Folder(("Work",), kind="tasks", color="#FF0000")
    assert Folder(("Work",), kind="calendar", folder_id="a", color="#00FF00") == Folder(("Work",), kind="calendar", folder_id="b")


def _event(n: int) -> bytes:
    start = dt.datetime(2026, 3, 2, 8 + n, tzinfo=UTC)
    item = Event(subject=f"Colour {n}", start=start, end=start + dt.timedelta(hours=1), timezone="UTC", uid=f"colour-{n}")
    return ical.item_to_ical(item, uid=f"colour-{n}")


def _second_user(radicale: RadicaleServer, first: DavUser) -> DavUser:
    name = f"{first.name}-copy"
    user = DavUser(name, f"pw-{secrets.token_urlsafe(12)}", radicale.principal_url(name))
    radicale.add_user(user.name, user.password)
    return user


def _folders(radicale: RadicaleServer, user: DavUser) -> dict[tuple[str, ...], Folder]:
    mailbox = DavSource(radicale.url, BasicAuth(user.name, user.password), profile="radicale").open_mailbox(user.name)
    try:
        return {f.path: f for f in mailbox.folders()}
    finally:
        mailbox.close()


def test_colours_and_names_travel_radicale_to_radicale(radicale: RadicaleServer, dav_user: DavUser, tmp_path: Any) -> None:
    src, dst = dav_user, _second_user(radicale, dav_user)
    # the source: a default calendar, a coloured one, one with a colour that is none, one
    # whose name the destination has already (in its own colour), and a coloured address book
    home = radicale.make_calendar(src.name, "home", display_name="Zuhause", color="#1BADF8FF")
    work = radicale.make_calendar(src.name, "work", display_name="Arbeit ✓", color="#ff2968")
    odd = radicale.make_calendar(src.name, "odd", display_name="Odd colour", color="blue")
    team = radicale.make_calendar(src.name, "team", display_name="Team", color="#ABCDEF")
    for n, calendar in enumerate((home, work, odd, team)):
        radicale.put(src.name, f"{calendar}e{n}.ics", _event(n))
    src_writer = DavDestination(radicale.url, BasicAuth(src.name, src.password), profile="radicale").open_mailbox(src.name)
    book = src_writer.ensure_folder(Folder(("Freunde",), kind="contacts", color="#00aa00"))
    src_writer.close()
    seen = _folders(radicale, src)
    assert seen[("Arbeit ✓",)].color == "#FF2968" and seen[("Zuhause",)].color == "#1BADF8FF"
    assert seen[("Odd colour",)].color is None and seen[("Freunde",)].color == "#00AA00" == book.color
    # the destination: a default calendar without colour, and a "Team" in a colour of its own
    radicale.make_calendar(dst.name, "default", display_name="Calendar")
    radicale.make_calendar(dst.name, "team", display_name="Team", color="#123456")
    mark = radicale.log_mark()

    source = DavSource(radicale.url, profile="radicale")
    destination = DavDestination(radicale.url, profile="radicale", read_timeout=10)
    pairs = [gm.AccountPair(src.name, dst.name, source_auth=BasicAuth(src.name, src.password),
                            destination_auth=BasicAuth(dst.name, dst.password))]  # fmt: skip
    report = gm.Migrator(source, destination, state=str(tmp_path / "state.db")).run(pairs)
    (account,) = report.accounts
    assert account.status == "completed", (account.error, account.log)
    assert account.counts["calendar"]["migrated"] == 4, account.counts

    arrived = _folders(radicale, dst)
    assert arrived[("Arbeit ✓",)].display_name == "Arbeit ✓" and arrived[("Arbeit ✓",)].color == "#FF2968"
    assert arrived[("Odd colour",)].color is None
    assert arrived[("Freunde",)].kind == "contacts" and arrived[("Freunde",)].color == "#00AA00"
    # found by role, and by path: each keeps what the destination's user chose
    assert arrived[("Calendar",)].role == "calendar" and arrived[("Calendar",)].color is None
    assert arrived[("Team",)].color == "#123456"
    assert ("Zuhause",) not in arrived
    made = [w for w in radicale.write_operations(dst.name, since=mark) if w["method"] in ("MKCALENDAR", "MKCOL")]
    assert len(made) == 3, made  # Arbeit, Odd colour, Freunde
    assert not [w for w in radicale.write_operations(dst.name, since=mark) if w["method"] == "PROPPATCH"]
    assert radicale.write_operations(src.name, since=mark) == []


def test_a_colour_the_server_refuses_does_not_stop_the_folder(radicale: RadicaleServer, dav_user: DavUser) -> None:
    """A server that refuses to make a collection for its colour gets it made without one."""
    dst = DavDestination(radicale.url, BasicAuth(dav_user.name, dav_user.password), profile="radicale").open_mailbox(dav_user.name)
    mark = radicale.log_mark()
    radicale.fail_next("MKCALENDAR", status=403, after_apply=False, user=dav_user.name)
    made = dst.ensure_folder(Folder(("Bunt",), kind="calendar", color="#FF0000"))
    assert made.path == ("Bunt",) and made.color is None
    attempts = [(w["method"], w["status"]) for w in radicale.write_operations(dav_user.name, since=mark)]
    assert attempts == [("MKCALENDAR", 403), ("MKCALENDAR", 201)], attempts
