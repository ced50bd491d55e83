"""One account over several servers: mail to one destination, groupware to another.

Real Migrator runs on in-memory servers: each item type lands on the server named for it and
nowhere else, delta and verify work across both, and a write whose answer was lost is
settled by the means of the server that holds its type.
"""

from __future__ import annotations

import collections
import datetime as dt

import attrs
import pytest

import groupmigrate as gm
from groupmigrate.backends.memory import MEMORY_CAPABILITIES, MemoryDestination, MemoryServer, MemorySource
from groupmigrate.core.combined import CombinedDestination, CombinedSource, route_capabilities
from groupmigrate.errors import ConfigError, OutcomeUnknown
from groupmigrate.items import Contact, Event, Message, Note, Task

UTC = dt.timezone.utc
SRC, DST = "alice@contoso.com", "alice@example.org"
PAIR = gm.AccountPair(SRC, DST)
GROUPWARE = ("calendar", "contacts", "tasks")


def mail(n: int) -> Message:
    return Message(mime=f"From: bob@contoso.com\r\nSubject: mail {n}\r\nMessage-ID: <m{n}@contoso.com>\r\n\r\nbody {n}\r\n".encode())


def seed(src: MemoryServer, start: int = 0) -> None:
    for n in range(start, start + 3):
        src.add_item(SRC, ("Inbox",), mail(n))
        src.add_item(SRC, ("Calendar",), Event(subject=f"event {n}", start=dt.datetime(2026, 3, 2, 9 + n, tzinfo=UTC),
                                                end=dt.datetime(2026, 3, 2, 10 + n, tzinfo=UTC)))  # fmt: skip
        src.add_item(SRC, ("Contacts",), Contact(display_name=f"contact {n}", emails=(f"c{n}@contoso.com",)))
        src.add_item(SRC, ("Tasks",), Task(subject=f"task {n}"))
    src.add_item(SRC, ("Notes",), Note(subject=f"note {start}", body="text"))


def subjects(server: MemoryServer, path: str) -> collections.Counter[str]:
    def name(item: object) -> str:
        if isinstance(item, Message):
            return Message.from_mime(item.content).subject or ""
        return str(getattr(item, "subject", None) or getattr(item, "display_name", None))

    return collections.Counter(name(i) for i in server.items(DST, (path,)))


@pytest.fixture
def world():
    src, mail_server, dav_server = MemoryServer(), MemoryServer(), MemoryServer()
    src.add_mailbox(SRC)
    mail_server.add_mailbox(DST)
    dav_server.add_mailbox(DST)
    return src, mail_server, dav_server


def combined(mail_server: MemoryServer, dav_server: MemoryServer, *, mail_stamps: bool = True) -> CombinedDestination:
    mail_caps = attrs.evolve(MEMORY_CAPABILITIES, name="mail-only", item_types=frozenset({"mail"}),
                             supports_provenance=mail_stamps, allows_mixed_folders=False)  # fmt: skip
    dav_caps = attrs.evolve(MEMORY_CAPABILITIES, name="groupware", item_types=frozenset(GROUPWARE),
                            supports_provenance=True, allows_mixed_folders=False)  # fmt: skip
    dav = MemoryDestination(dav_server, dav_caps)
    return CombinedDestination({"mail": MemoryDestination(mail_server, mail_caps), **{t: dav for t in GROUPWARE}})


def test_each_item_type_lands_on_its_own_server_and_verify_is_clean(world, tmp_path):
    src, mail_server, dav_server = world
    seed(src)
    m = gm.Migrator(MemorySource(src), combined(mail_server, dav_server), state=str(tmp_path / "s.db"), workers=2)
    report = m.run([PAIR])
    assert report.accounts[0].status == "completed", report.accounts[0].error
    assert subjects(mail_server, "Inbox") == {f"mail {n}": 1 for n in range(3)}
    assert subjects(dav_server, "Calendar") == {f"event {n}": 1 for n in range(3)}
    assert subjects(dav_server, "Contacts") == {f"contact {n}": 1 for n in range(3)}
    assert subjects(dav_server, "Tasks") == {f"task {n}": 1 for n in range(3)}
    # nothing crossed over: the mail server got no groupware, the groupware server no mail
    assert not mail_server.items(DST, ("Calendar",)) and not mail_server.items(DST, ("Contacts",))
    assert not dav_server.items(DST, ("Inbox",))
    # notes are given to no server: skipped with their reason, never lost silently
    assert not mail_server.items(DST, ("Notes",)) and not dav_server.items(DST, ("Notes",))
    account = report.accounts[0]
    skipped = [e for e in account.log if e.kind == "skipped" and e.item_type == "notes"]
    assert len(skipped) == 1 and "notes" in skipped[0].message, skipped
    assert account.counts["notes"].get("skipped") == 1
    assert src.writes(SRC) == []

    verified = m.verify([PAIR])
    assert verified.accounts[0].status == "completed", verified.accounts[0].error


def test_delta_over_a_combination_copies_only_what_is_new(world, tmp_path):
    src, mail_server, dav_server = world
    seed(src)
    state = str(tmp_path / "s.db")
    gm.Migrator(MemorySource(src), combined(mail_server, dav_server), state=state, workers=2).run([PAIR])
    seed(src, start=3)
    m = gm.Migrator(MemorySource(src), combined(mail_server, dav_server), state=state, workers=2)
    report = m.run([PAIR], mode="delta")
    assert report.accounts[0].status == "completed"
    assert subjects(mail_server, "Inbox") == {f"mail {n}": 1 for n in range(6)}
    assert subjects(dav_server, "Tasks") == {f"task {n}": 1 for n in range(6)}
    assert m.verify([PAIR]).accounts[0].status == "completed"


def test_a_lost_answer_is_settled_by_the_server_that_holds_the_type(world, tmp_path):
    """Groupware goes to a server that keeps provenance stamps: a lost answer is found again
    by its stamp. Mail goes to one that keeps none: a lost answer is reported ambiguous, never
    sent a second time."""
    src, mail_server, dav_server = world
    seed(src)
    lost = OutcomeUnknown("the connection was reset after the request was sent")
    dav_server.inject("create_items", lost, after=True)
    mail_server.inject("create_items", lost, after=True)
    m = gm.Migrator(MemorySource(src), combined(mail_server, dav_server, mail_stamps=False),
                    state=str(tmp_path / "s.db"), workers=1)  # fmt: skip
    route = m.route
    assert route["calendar"].supports_provenance and not route["mail"].supports_provenance
    report = m.run([PAIR])
    for path in ("Calendar", "Contacts", "Tasks"):
        assert all(count == 1 for count in subjects(dav_server, path).values()), path
        assert len(subjects(dav_server, path)) == 3, path
    assert all(count == 1 for count in subjects(mail_server, "Inbox").values())
    counts = report.accounts[0].counts
    assert counts["mail"].get("ambiguous") == 3  # the whole batch's answer was lost
    assert not counts["mail"].get("migrated")
    assert counts["calendar"].get("migrated") == 3


def test_a_combined_source_reads_each_type_from_its_own_server(world, tmp_path):
    src, mail_server, dav_server = world
    mail_src, dav_src = MemoryServer(), MemoryServer()
    for server in (mail_src, dav_src):
        server.add_mailbox(SRC)
    mail_src.add_item(SRC, ("Inbox",), mail(1))
    dav_src.add_item(SRC, ("Calendar",), Event(subject="from dav", start=dt.datetime(2026, 3, 2, 9, tzinfo=UTC)))
    dav_src.add_item(SRC, ("Inbox",), mail(99))  # not read: mail comes from the mail server
    source = CombinedSource({"mail": MemorySource(mail_src), "calendar": MemorySource(dav_src)})
    dst = MemoryServer()
    dst.add_mailbox(DST)
    report = gm.Migrator(source, MemoryDestination(dst), state=str(tmp_path / "s.db"), item_types=("mail", "calendar")).run([PAIR])
    assert report.accounts[0].status == "completed"
    assert [Message.from_mime(i.content).subject for i in dst.items(DST, ("Inbox",))] == ["mail 1"]
    assert [i.subject for i in dst.items(DST, ("Calendar",))] == ["from dav"]
    assert mail_src.writes() == [] and dav_src.writes() == []


def test_an_endpoint_given_a_type_it_cannot_hold_is_refused_naming_the_type(world):
    _, mail_server, _ = world
    mail_only = MemoryDestination(mail_server, attrs.evolve(MEMORY_CAPABILITIES, item_types=frozenset({"mail"})))
    with pytest.raises(ConfigError) as raised:
        CombinedDestination({"mail": mail_only, "calendar": mail_only})
    assert raised.value.key == "calendar"
    with pytest.raises(ConfigError) as raised:
        CombinedDestination({"email": mail_only})
    assert raised.value.key == "email"


def test_route_capabilities_are_met_per_item_type(world):
    _, mail_server, dav_server = world
    dest = combined(mail_server, dav_server, mail_stamps=False)
    route = route_capabilities(MemorySource(MemoryServer()), dest)
    assert route["mail"].item_types == {"mail"}
    assert route["contacts"].item_types == set(GROUPWARE)
    assert route["notes"].item_types == set()  # given to no server
    assert dest.capabilities.item_types == {"mail", *GROUPWARE}
    assert dest.capabilities.supports_provenance is False  # not for every type
