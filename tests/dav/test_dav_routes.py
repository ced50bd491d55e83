"""Whole migrations with the DAV backend on one side, through the real Migrator.

Exchange Online (EWS test server) → Radicale: everything but mail arrives (mail is reported
as not supported), a lost answer on the way is settled by its stamp; Radicale → memory:
full, then delta from the sync tokens, each verified. The source never sees a write.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import groupmigrate as gm
from groupmigrate.auth import BasicAuth
from groupmigrate.backends.dav import ical, vcard
from groupmigrate.backends.dav.destination import DavDestination
from groupmigrate.backends.dav.source import DavSource
from groupmigrate.backends.memory import MemoryDestination, MemoryServer
from groupmigrate.frontdoors.demo import expected_counts, seed_mailbox
from groupmigrate.items import Attendee, Contact, Event, Note, Response, Task, TaskStatus
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.radicale import RadicaleServer

from .conftest import DavUser

pytestmark = pytest.mark.timeout(120)

UTC = dt.timezone.utc


def adds_up(verify: gm.Report) -> None:
    """Every source item is counted once; nothing is missing, extra or duplicated."""
    totals = verify.totals()
    accounted = sum(totals.get(k, 0) for k in ("migrated", "present", "skipped", "failed", "ambiguous", "missing"))
    assert accounted == totals.get("source", 0), totals
    assert (totals.get("missing", 0), totals.get("extra", 0), totals.get("duplicate", 0)) == (0, 0, 0), verify.summary()
    assert all(a.status == "completed" for a in verify.accounts), verify.summary()


def test_exchange_online_to_radicale(radicale: RadicaleServer, dav_user: DavUser, tmp_path: Any,
                                     register_source: Callable[..., None]) -> None:  # fmt: skip
    now = dt.datetime.now(UTC).replace(microsecond=0)
    destination = DavDestination(radicale.url, profile="radicale", read_timeout=10)
    pairs = [gm.AccountPair("alice@contoso.com", dav_user.name, destination_auth=BasicAuth(dav_user.name, dav_user.password))]
    with EWSTestServer(profile="exchange-online") as src:
        src.add_oauth_app("tenant", "app", "app-secret-value")
        source = gm.EWSSource(url=src.url, profile="exchange-online", impersonation=True,
                              auth=gm.OAuth2ClientCredentials("tenant", "app", "app-secret-value", token_url=src.token_url("tenant")))  # fmt: skip
        expected = seed_mailbox(src, "alice", now, oversized=False, caps=source.capabilities.intersect(destination.capabilities))
        register_source(src)
        radicale.fail_next("PUT", status=504, after_apply=True, user=dav_user.name)  # one answer is lost on the way
        state = str(tmp_path / "state.db")
        report = gm.Migrator(source, destination, state=state, workers=2).run(pairs)
        account = report.accounts[0]
        assert account.status == "completed", account.error
        assert expected_counts(account.counts, expected) == [], account.counts
        assert any(e.kind == "changed" and "provenance stamp" in e.message for e in account.log), "the lost answer was not settled"
        adds_up(gm.Migrator(source, destination, state=state).verify(pairs))
        # a late meeting on the source: the delta copies it alone
        late = Event(subject="Late meeting", start=now + dt.timedelta(days=5), end=now + dt.timedelta(days=5, hours=1),
                     timezone="Europe/Berlin", uid="late-meeting@contoso", organizer="alice@contoso.com",
                     attendees=(Attendee("bob@contoso.com", "Bob", "required", Response.ACCEPTED),))  # fmt: skip
        src.seed_item("alice@contoso.com", late)
        register_source(src)
        delta = gm.Migrator(source, destination, state=state).run(pairs, mode="delta")
        assert delta.accounts[0].status == "completed", delta.accounts[0].error
        assert delta.totals()["migrated"] == 1, delta.totals()
        adds_up(gm.Migrator(source, destination, state=state).verify(pairs))
        assert src.write_operations() == []
    stored = {h: d for c in _collections(radicale, dav_user) for h, d in radicale.list(dav_user.name, c).items()}
    assert sum(1 for d in stored.values() if b"BEGIN:VCARD" in d) == expected["contacts"]["migrated"]
    meetings = [ical.ical_to_item(d, source_id=h) for h, d in stored.items() if b"Late meeting" in d]
    assert len(meetings) == 1 and isinstance(meetings[0], Event) and meetings[0].uid == "late-meeting@contoso"
    assert meetings[0].attendees[0].response == Response.ACCEPTED


def _collections(server: RadicaleServer, user: DavUser) -> list[str]:
    from groupmigrate.backends.dav.source import DavSource as Reader

    mailbox = Reader(server.url, BasicAuth(user.name, user.password)).open_mailbox(user.name)
    return sorted({p.collection.href for p in mailbox.places()})


def test_radicale_to_memory_full_then_delta(radicale: RadicaleServer, dav_user: DavUser, tmp_path: Any) -> None:
    user = dav_user.name
    cal = radicale.make_calendar(user, "home", display_name="Home", components=("VEVENT", "VTODO"))
    notes = radicale.make_calendar(user, "journal", display_name="Journal", components=("VJOURNAL",))
    book = radicale.make_addressbook(user, "contacts", display_name="Contacts")
    start = dt.datetime(2026, 4, 1, 9, tzinfo=UTC)
    for n in range(4):
        item = Event(subject=f"Appointment {n}", start=start + dt.timedelta(days=n), end=start + dt.timedelta(days=n, hours=1),
                     timezone="UTC", uid=f"appointment-{n}")  # fmt: skip
        radicale.put(user, f"{cal}{uuid.uuid4()}.ics", ical.item_to_ical(item, uid=f"appointment-{n}"))
    radicale.put(user, f"{cal}task.ics", ical.item_to_ical(Task(subject="Pay rent", status=TaskStatus.IN_PROGRESS), uid="task-1"))
    radicale.put(user, f"{notes}note.ics", ical.item_to_ical(Note(subject="Idea", body="Idea\nmore"), uid="note-1"))
    members = [Contact(display_name=f"Member {n}", emails=(f"m{n}@example.org",)) for n in range(2)]
    for n, contact in enumerate(members):
        radicale.put(user, f"{book}m{n}.vcf", vcard.contact_to_vcard(contact, uid=f"member-{n}"))
    group = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:group-1\r\nFN:Team\r\nN:Team;;;;\r\nX-ADDRESSBOOKSERVER-KIND:group\r\n"
             b"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:member-0\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:member-1\r\nEND:VCARD\r\n")
    radicale.put(user, f"{book}group.vcf", group)
    mark = radicale.log_mark()

    source = DavSource(radicale.url, profile="radicale")
    memory = MemoryServer()
    memory.add_mailbox("carol@example.org")
    destination = MemoryDestination(memory)
    pairs = [gm.AccountPair(user, "carol@example.org", source_auth=BasicAuth(user, dav_user.password))]
    state = str(tmp_path / "state.db")
    full = gm.Migrator(source, destination, state=state).run(pairs)
    assert full.accounts[0].status == "completed", full.accounts[0].error
    counts = full.accounts[0].counts
    assert (counts["calendar"]["migrated"], counts["tasks"]["migrated"], counts["notes"]["migrated"],
            counts["contacts"]["migrated"]) == (4, 1, 1, 3), counts  # fmt: skip
    adds_up(gm.Migrator(source, destination, state=state).verify(pairs))
    team = [i for f in ("Contacts",) for i in memory.items("carol@example.org", (f,)) if getattr(i, "display_name", "") == "Team"]
    assert len(team) == 1 and sorted(team[0].members) == ["m0@example.org", "m1@example.org"]  # type: ignore[union-attr]

    late = Event(subject="Late", start=start + dt.timedelta(days=9), end=start + dt.timedelta(days=9, hours=1), timezone="UTC")
    radicale.put(user, f"{cal}late.ics", ical.item_to_ical(late, uid="late-1"))
    seeded_late = radicale.log_mark()
    delta = gm.Migrator(source, destination, state=state).run(pairs, mode="delta")
    assert delta.accounts[0].status == "completed", delta.accounts[0].error
    assert delta.totals()["migrated"] == 1 and delta.totals().get("duplicate", 0) == 0, delta.totals()
    adds_up(gm.Migrator(source, destination, state=state).verify(pairs))
    again = gm.Migrator(source, destination, state=state).run(pairs)
    assert again.totals()["migrated"] == 0 and again.totals()["duplicate"] == 10
    writes = radicale.write_operations(user, since=mark)
    assert [w["path"] for w in writes] == [f"{cal}late.ics"], "the source saw a write other than the late event"
    assert radicale.write_operations(user, since=seeded_late) == []
