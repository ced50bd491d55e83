"""Items a source lists but cannot read: failed with the source's reason, tried again, never sent.

The in-memory source gives an item broken with ``MemoryServer.break_item`` as an
:class:`~groupmigrate.protocols.Unreadable`; everything runs through the real Migrator.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import pytest

import groupmigrate as gm
from groupmigrate import events as ev
from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.items import Event, Message
from groupmigrate.protocols import Unreadable

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)
OLD = NOW - dt.timedelta(days=30)
SRC, DST = "alice@contoso.com", "alice@example.org"
REASON = "MIME part 2: Content-Transfer-Encoding 'x-unknown' cannot be decoded"


def mail(n: int) -> Message:
    date = OLD.strftime("%a, %d %b %Y %H:%M:%S +0000")
    return Message.from_mime(
        f"Message-ID: <u{n}@contoso.com>\r\nFrom: a@contoso.com\r\nSubject: mail {n}\r\nDate: {date}\r\n\r\nbody {n}\r\n".encode()
    )


@attrs.define
class World:
    src: MemoryServer
    dst: MemoryServer
    state: str
    broken: str
    events: list[ev.Event] = attrs.field(factory=list)

    def migrator(self) -> gm.Migrator:
        return gm.Migrator(MemorySource(self.src), MemoryDestination(self.dst), state=self.state, on_event=self.events.append)

    def subjects(self) -> list[str | None]:
        return sorted(getattr(i, "subject", None) for i in self.dst.items(DST, ("Inbox",)))


@pytest.fixture
def world(tmp_path: Path) -> World:
    src, dst = MemoryServer(), MemoryServer()
    src.add_mailbox(SRC)
    dst.add_mailbox(DST)
    ids = [src.add_item(SRC, ("Inbox",), mail(n), changed=OLD) for n in range(3)]
    src.add_item(SRC, ("Calendar",), Event(subject="Standup", start=OLD, end=OLD + dt.timedelta(hours=1), uid="s1"), changed=OLD)
    src.break_item(SRC, ids[1], REASON)
    return World(src, dst, str(tmp_path / "state.db"), ids[1])


PAIRS = [gm.AccountPair(SRC, DST)]


def test_the_type_is_public_and_labels_an_unnamed_item_by_its_id() -> None:
    assert gm.Unreadable is Unreadable
    long_id = "AAMkADE3ZjQ4LWI5YTItNGQ=" * 3
    unreadable = Unreadable(long_id, "no readable DTSTART")
    assert unreadable.label == f"(unreadable item) [{long_id[-12:]}]" and unreadable.item_type == "mail"
    named = Unreadable("/u/cal/x.ics", "no readable DTSTART", "calendar", label="x.ics")
    assert named.label == "x.ics"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        named.reason = "changed"  # type: ignore[misc]


def test_an_unreadable_item_fails_with_its_reason_and_the_rest_is_copied(world: World) -> None:
    report = world.migrator().run(PAIRS)
    (account,) = report.accounts
    assert account.status == "completed_with_errors"
    assert account.counts["mail"] == {"migrated": 2, "failed": 1}, account.counts
    assert account.counts["calendar"]["migrated"] == 1
    failed = [e for e in account.log if e.kind == "failed"]
    assert len(failed) == 1, account.log
    assert failed[0].message == REASON and failed[0].item == f"(unreadable item) [{world.broken}]"
    assert "deleted or moved" not in failed[0].message
    # never sent: the destination holds the two readable mails only
    assert world.subjects() == ["mail 0", "mail 2"]
    item_failed = [e for e in world.events if isinstance(e, ev.ItemFailed)]
    assert [(e.item, e.error) for e in item_failed] == [(failed[0].item, REASON)]


@pytest.mark.parametrize("mode", ["full", "delta"])
def test_the_next_run_copies_it_once_it_can_be_read(world: World, mode: str) -> None:
    world.migrator().run(PAIRS)
    # still broken: failed again with the same reason, counted once, nothing sent
    again = world.migrator().run(PAIRS, mode=mode)
    assert again.accounts[0].counts["mail"].get("failed") == 1, again.accounts[0].counts
    assert [e.message for e in again.accounts[0].log if e.kind == "failed"] == [REASON]
    assert world.subjects() == ["mail 0", "mail 2"]
    world.src.repair_item(SRC, world.broken)
    fixed = world.migrator().run(PAIRS, mode=mode)
    (account,) = fixed.accounts
    assert account.status == "completed", account.log
    assert account.counts["mail"].get("migrated") == 1 and not account.counts["mail"].get("failed"), account.counts
    assert world.subjects() == ["mail 0", "mail 1", "mail 2"]
    last = world.migrator().run(PAIRS, mode=mode)
    assert last.totals().get("migrated", 0) == 0 and world.subjects() == ["mail 0", "mail 1", "mail 2"]
    verify = world.migrator().verify(PAIRS)
    totals = verify.totals()
    assert (totals.get("missing", 0), totals.get("extra", 0), totals.get("failed", 0)) == (0, 0, 0), verify.summary()


def test_verify_counts_it_as_failed_after_a_run(world: World) -> None:
    world.migrator().run(PAIRS)
    verify = world.migrator().verify(PAIRS)
    totals = verify.totals()
    assert totals.get("failed") == 1 and totals.get("missing", 0) == 0, verify.summary()


def test_verify_without_a_run_names_the_reason(world: World) -> None:
    """An item the id map does not know is fetched for its label; an unreadable one is
    reported missing with the source's reason, and nothing breaks."""
    verify = world.migrator().verify(PAIRS)
    missing = [e for e in verify.accounts[0].log if e.kind == "missing"]
    broken = [e for e in missing if e.item == f"(unreadable item) [{world.broken}]"]
    assert len(missing) == 4 and len(broken) == 1, missing
    assert REASON in broken[0].message and "cannot read" in broken[0].message
