"""Delta on DAV: sync-collection tokens and the ETag fallback both report new, changed and
deleted resources, per folder, against a real Radicale.

The ETag fallback is forced with the endpoint's ``sync = "etag"`` option (Radicale offers
sync tokens on every collection).
"""

from __future__ import annotations

import datetime as dt
import pytest

from groupmigrate.auth import BasicAuth
from groupmigrate.backends.dav import ical, vcard
from groupmigrate.backends.dav.errors import SyncStateUnusable
from groupmigrate.backends.dav.source import DavSource, DavSourceMailbox
from groupmigrate.backends.dav.sync import ETAG_STATE, TOKEN_STATE
from groupmigrate.items import Contact, Event, Item, Task
from groupmigrate.testing.conformance._util import folder_at
from groupmigrate.testing.radicale import RadicaleServer

from .conftest import DavUser

pytestmark = pytest.mark.timeout(60)

UTC = dt.timezone.utc
METHODS = ["auto", "etag"]


def ics(item: Item, uid: str) -> bytes:
    return ical.item_to_ical(item, uid=uid)  # type: ignore[arg-type]


def event(subject: str) -> Event:
    start = dt.datetime(2026, 3, 2, 9, tzinfo=UTC)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1), timezone="UTC")


def mailbox(server: RadicaleServer, user: DavUser, method: str) -> DavSourceMailbox:
    endpoint = DavSource(server.url, BasicAuth(user.name, user.password), profile="radicale", sync=method)
    return endpoint.open_mailbox(user.name)


@pytest.mark.parametrize("method", METHODS)
def test_new_changed_and_deleted(radicale: RadicaleServer, dav_user: DavUser, method: str) -> None:
    user = dav_user.name
    cal = radicale.make_calendar(user, "cal", display_name="Cal")
    for name in ("a", "b", "c"):
        radicale.put(user, f"{cal}{name}.ics", ics(event(f"Event {name}"), f"uid-{name}"))
    box = mailbox(radicale, dav_user, method)
    folder = folder_at(box, ("Cal",))
    first = box.sync_items(folder, None)
    assert first.state.startswith(TOKEN_STATE if method == "auto" else ETAG_STATE)
    assert [r.id for r in first.refs] == [f"{cal}a.ics", f"{cal}b.ics", f"{cal}c.ics"] and first.deleted == ()
    assert all(r.item_type == "calendar" and r.size > 0 and r.changed is not None for r in first.refs)
    quiet = box.sync_items(folder, first.state)
    assert quiet.refs == () and quiet.deleted == ()

    radicale.put(user, f"{cal}d.ics", ics(event("Event d"), "uid-d"))  # new
    radicale.put(user, f"{cal}b.ics", ics(event("Event b, moved"), "uid-b"))  # changed
    radicale.delete(user, f"{cal}c.ics")  # deleted
    later = box.sync_items(folder, quiet.state)
    assert [r.id for r in later.refs] == [f"{cal}b.ics", f"{cal}d.ics"]
    assert later.deleted == (f"{cal}c.ics",)
    subjects = sorted(getattr(i, "subject", "") for i in box.fetch(folder, list(later.refs)))
    assert subjects == ["Event b, moved", "Event d"]
    mark = radicale.log_mark()
    assert box.sync_items(folder, later.state).refs == ()
    assert radicale.write_operations(user, since=mark) == []


@pytest.mark.parametrize("method", METHODS)
def test_only_the_folders_own_component(radicale: RadicaleServer, dav_user: DavUser, method: str) -> None:
    """A calendar holding events and tasks is two folders; each sync reports its own."""
    user = dav_user.name
    cal = radicale.make_calendar(user, "mixed", display_name="Mixed", components=("VEVENT", "VTODO"))
    radicale.put(user, f"{cal}e1.ics", ics(event("E1"), "e1"))
    radicale.put(user, f"{cal}t1.ics", ics(Task(subject="T1"), "t1"))
    box = mailbox(radicale, dav_user, method)
    events, tasks = folder_at(box, ("Mixed",)), folder_at(box, ("Mixed (Tasks)",))
    first_events, first_tasks = box.sync_items(events, None), box.sync_items(tasks, None)
    assert [r.id for r in first_events.refs] == [f"{cal}e1.ics"]
    assert [(r.id, r.item_type) for r in first_tasks.refs] == [(f"{cal}t1.ics", "tasks")]
    radicale.put(user, f"{cal}t2.ics", ics(Task(subject="T2"), "t2"))
    assert box.sync_items(events, first_events.state).refs == ()
    assert [r.id for r in box.sync_items(tasks, first_tasks.state).refs] == [f"{cal}t2.ics"]


@pytest.mark.parametrize("method", METHODS)
def test_address_books(radicale: RadicaleServer, dav_user: DavUser, method: str) -> None:
    user = dav_user.name
    book = radicale.make_addressbook(user, "book", display_name="People")
    card = vcard.contact_to_vcard(Contact(display_name="Ann", emails=("ann@example.org",)), uid="ann")
    radicale.put(user, f"{book}ann.vcf", card)
    box = mailbox(radicale, dav_user, method)
    folder = folder_at(box, ("People",))
    first = box.sync_items(folder, None)
    assert [(r.id, r.item_type) for r in first.refs] == [(f"{book}ann.vcf", "contacts")]
    radicale.put(user, f"{book}bob.vcf", vcard.contact_to_vcard(Contact(display_name="Bob"), uid="bob"))
    later = box.sync_items(folder, first.state)
    assert [r.id for r in later.refs] == [f"{book}bob.vcf"]


def test_a_token_the_server_refuses_lists_the_folder_whole(radicale: RadicaleServer, dav_user: DavUser) -> None:
    user = dav_user.name
    cal = radicale.make_calendar(user, "cal", display_name="Cal")
    radicale.put(user, f"{cal}a.ics", ics(event("A"), "a"))
    box = mailbox(radicale, dav_user, "auto")
    folder = folder_at(box, ("Cal",))
    stale = TOKEN_STATE + "http://radicale.org/ns/sync/" + "0" * 64
    result = box.sync_items(folder, stale)
    assert [r.id for r in result.refs] == [f"{cal}a.ics"] and result.state != stale
    assert box.sync_items(folder, result.state).refs == ()


def test_an_etag_state_unchanged_collection_costs_one_request(radicale: RadicaleServer, dav_user: DavUser) -> None:
    user = dav_user.name
    cal = radicale.make_calendar(user, "cal", display_name="Cal")
    radicale.put(user, f"{cal}a.ics", ics(event("A"), "a"))
    box = mailbox(radicale, dav_user, "etag")
    folder = folder_at(box, ("Cal",))
    state = box.sync_items(folder, None).state
    mark = radicale.log_mark()
    assert box.sync_items(folder, state).refs == ()
    assert [(r["method"], r.get("depth")) for r in radicale.requests(user, since=mark)] == [("PROPFIND", "0")]


@pytest.mark.parametrize("state", ["not-a-state", ETAG_STATE + "garbage", '{"v":1,"uid":3}'])
def test_foreign_states_are_refused(radicale: RadicaleServer, dav_user: DavUser, state: str) -> None:
    radicale.make_calendar(dav_user.name, "cal", display_name="Cal")
    box = mailbox(radicale, dav_user, "auto")
    with pytest.raises(SyncStateUnusable):
        box.sync_items(folder_at(box, ("Cal",)), state)
