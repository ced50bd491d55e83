"""Exactly-once scenarios on the in-memory backend: what the destination holds, and what
verify and the report say about it."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time

import groupmigrate as gm
from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.core import migrator as migrator_module
from groupmigrate.core.dedup import DuplicatePolicy
from groupmigrate.errors import GroupmigrateError
from groupmigrate.items import Message

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)
SRC, DST = "alice@contoso.com", "alice@example.org"
PAIR = gm.AccountPair(SRC, DST)


def mime(subject: str, n: int = 0) -> bytes:
    return (
        f"From: bob@contoso.com\r\nTo: alice@contoso.com\r\nSubject: {subject}\r\n"
        f"Date: Mon, 02 Mar 2026 12:00:{n:02d} +0000\r\nMessage-ID: <{subject.replace(' ', '.')}.{n}@contoso.com>\r\n\r\nbody {n}\r\n"
    ).encode()


def servers():
    src, dst = MemoryServer(), MemoryServer()
    src.add_mailbox(SRC)
    dst.add_mailbox(DST)
    return src, dst


def subjects(server: MemoryServer, address: str, path=("Inbox",)) -> collections.Counter[str]:
    return collections.Counter(i.subject for i in server.items(address, path))


# --- DuplicatePolicy.SKIP -------------------------------------------------------------------------


def test_review_skip_policy_verify_does_not_report_the_collapsed_copy_as_missing(tmp_path):
    """Two exact copies in one batch under SKIP: one copy is created, the other recorded as
    present. verify must not call the second one missing (the next run never copies it)."""
    src, dst = servers()
    for _ in range(2):
        src.add_item(SRC, ("Inbox",), Message.from_mime(mime("twin")))
    state = str(tmp_path / "s.db")
    m = gm.Migrator(MemorySource(src), MemoryDestination(dst), state=state, workers=1, duplicate_policy=DuplicatePolicy.SKIP)
    m.run([PAIR])
    assert subjects(dst, DST)["twin"] == 1
    report = m.verify([PAIR])
    assert report.totals()["missing"] == 0, [e for e in report.accounts[0].log if e.kind == "missing"]


def test_review_skip_policy_first_copy_failed_second_copy_is_not_lost(tmp_path):
    """Under SKIP the first copy fails to be created; the second exact copy is recorded as
    'present' pointing at nothing. When the user then deletes the failed first copy from the
    source, the remaining source item must still arrive."""
    src, dst = servers()
    first = src.add_item(SRC, ("Inbox",), Message.from_mime(mime("twin")))
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("twin")))
    dst.inject("create_items", GroupmigrateError("refused"))  # the batch (holding only the first copy) is refused
    state = str(tmp_path / "s.db")
    m = gm.Migrator(MemorySource(src), MemoryDestination(dst), state=state, workers=1, duplicate_policy=DuplicatePolicy.SKIP)
    m.run([PAIR])
    assert subjects(dst, DST)["twin"] == 0
    src.delete_item(SRC, first)  # the user tidies the source: one copy remains
    m.run([PAIR])
    assert subjects(dst, DST)["twin"] == 1, "the remaining source item never reached the destination"


# --- source items gone after a failure --------------------------------------------------------------


def test_review_failed_item_deleted_from_source_is_not_failed_forever(tmp_path):
    """An item that failed once and was then deleted on the source is retried by every later
    run and reported as failed each time, so no run ever completes cleanly again."""
    src, dst = servers()
    gone = src.add_item(SRC, ("Inbox",), Message.from_mime(mime("doomed")))
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("fine"), ))
    state = str(tmp_path / "s.db")
    caps = gm.Capabilities(name="one-by-one", supports_provenance=True, allows_mixed_folders=True, max_batch_items=1)
    m = gm.Migrator(MemorySource(src), MemoryDestination(dst, caps), state=state, workers=1)
    dst.inject("create_items", GroupmigrateError("refused"))
    m.run([PAIR])
    src.delete_item(SRC, gone)
    m.run([PAIR])
    report = m.run([PAIR], mode="delta")
    assert report.totals()["failed"] == 0, [e for e in report.accounts[0].log if e.kind == "failed"]
    assert report.accounts[0].status == "completed"


# --- delta ------------------------------------------------------------------------------------------


def test_review_delta_copies_old_mail_in_a_folder_created_since_the_last_run(tmp_path):
    """A folder that appeared on the source after the full run (e.g. old mail filed into a new
    'Archive' folder) has no watermark: a delta run must list it whole, not only from the
    account's last run."""
    src, dst = servers()
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("recent")))
    state = str(tmp_path / "s.db")
    m = gm.Migrator(MemorySource(src), MemoryDestination(dst), state=state, workers=1)
    m.run([PAIR])
    old = Message.from_mime(mime("from 2019", 3))
    src.add_item(SRC, ("Archive",), old, changed=dt.datetime(2019, 5, 1, tzinfo=UTC))
    m.run([PAIR], mode="delta")
    assert subjects(dst, DST, ("Archive",))["from 2019"] == 1


# --- cancellation -----------------------------------------------------------------------------------


class _SlowFirstCreate(MemoryDestination):
    """A destination whose first create call is applied and then answered only when released."""

    def __init__(self, server, caps, gate: threading.Event, entered: threading.Event):
        super().__init__(server, caps)
        self.gate, self.entered = gate, entered

    def open_mailbox(self, address, auth=None):
        mbx = super().open_mailbox(address, auth)
        original = mbx.create_items
        gate, entered = self.gate, self.entered

        def create_items(folder, items, stamps=None):
            results = original(folder, items, stamps)
            if not entered.is_set():
                entered.set()
                gate.wait(30)
            return results

        mbx.create_items = create_items  # type: ignore[method-assign]
        return mbx


def test_review_run_after_cancel_does_not_race_the_previous_runs_leftover_thread(tmp_path, monkeypatch):
    """cancel() while a create call hangs: run() returns after CANCEL_GRACE and the user runs
    again on the same Migrator. The previous run's thread must not go on creating batches
    alongside the new run (every mail must be on the destination once)."""
    monkeypatch.setattr(migrator_module, "CANCEL_GRACE", 0.3)
    src, dst = servers()
    for n in range(6):
        src.add_item(SRC, ("Inbox",), Message.from_mime(mime("mail", n)))
    caps = gm.Capabilities(name="small-batches", supports_provenance=True, allows_mixed_folders=True, max_batch_items=2)
    gate, entered = threading.Event(), threading.Event()
    m = gm.Migrator(MemorySource(src), _SlowFirstCreate(dst, caps, gate, entered), state=str(tmp_path / "s.db"), workers=1)
    first = threading.Thread(target=m.run, args=([PAIR],))
    first.start()
    assert entered.wait(10)
    m.cancel()
    first.join(10)
    assert not first.is_alive()
    m.run([PAIR])  # the user resumes
    gate.set()  # the hanging answer of the cancelled run finally arrives
    time.sleep(1.0)
    on_destination = subjects(dst, DST)
    assert on_destination["mail"] == 6, f"{on_destination['mail']} copies of 6 mails"


# --- items of a migrated type in a folder of a type not migrated --------------------------------------


def test_review_mail_filed_in_contacts_is_copied_or_reported_when_only_mail_is_migrated(tmp_path):
    """item_types=["mail"]: a mail filed in the Contacts folder is never listed (the folder's
    kind is not migrated), so it is neither copied nor logged, and verify does not count it."""
    src, dst = servers()
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("normal")))
    mbx = src.mailbox(SRC)
    contacts = next(f for f in mbx.folders.values() if f.path == ("Contacts",))
    stray = Message.from_mime(mime("filed in Contacts", 7))
    mbx.items[contacts.folder_id]["stray"] = Message(mime=stray.mime, source_id="stray")
    mbx.changed["stray"] = NOW
    m = gm.Migrator(MemorySource(src), MemoryDestination(dst), state=str(tmp_path / "s.db"), workers=1, item_types=["mail"])
    report = m.run([PAIR])
    copied = any(b"filed in Contacts" in (getattr(i, "mime", b"") or b"") for f in ("Inbox", "Contacts") for i in dst.items(DST, (f,)))
    logged = [e for e in report.accounts[0].log if e.item and "filed in Contacts" in e.item]
    assert copied or logged, "a mail in the Contacts folder vanished from the migration without a word"
