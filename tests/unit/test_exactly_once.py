"""Exactly once on the in-memory backend: identity by provenance, reconciled writes, repair.

Every test seeds source mailboxes, migrates through the real Migrator and compares what the
destination holds with the source, item by item, as a multiset of full content.
"""

from __future__ import annotations

import collections
import datetime as dt
import subprocess
import sys

import pytest

import groupmigrate as gm
from groupmigrate.backends.memory import MEMORY_CAPABILITIES, MemoryDestination, MemoryServer, MemorySource
from groupmigrate.errors import ConnectionFailed, OutcomeUnknown, StateError, StateLocked
from groupmigrate.items import Contact, Message, Phone

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)
SRC, DST = "alice@contoso.com", "alice@example.org"
PAIR = gm.AccountPair(SRC, DST)


def mime(subject: str, *, message_id: str | None = "<same@contoso.com>", cc: str | None = None, body: str = "body") -> bytes:
    headers = [f"From: alerts@contoso.com", "To: alice@contoso.com", f"Subject: {subject}",
               "Date: Mon, 02 Mar 2026 12:00:00 +0000"]  # fmt: skip
    if message_id:
        headers.append(f"Message-ID: {message_id}")
    if cc:
        headers.append(f"Cc: {cc}")
    return ("\r\n".join(headers) + f"\r\n\r\n{body}\r\n").encode()


def counter(server: MemoryServer, address: str, path: tuple[str, ...]) -> collections.Counter[object]:
    from groupmigrate.core.dedup import content_fingerprint

    return collections.Counter(
        item.mime if isinstance(item, Message) else content_fingerprint(item) for item in server.items(address, path)
    )


@pytest.fixture
def servers():
    src, dst = MemoryServer(), MemoryServer()
    src.add_mailbox(SRC)
    dst.add_mailbox(DST)
    return src, dst


def migrator(servers, state, caps=None, **kw):
    src, dst = servers
    return gm.Migrator(MemorySource(src), MemoryDestination(dst, caps), state=str(state), workers=1, **kw)


def assert_mirrored(servers, path=("Inbox",)):
    src, dst = servers
    assert counter(src, SRC, path) == counter(dst, DST, path)


def test_a_second_mail_with_the_same_message_id_arriving_later_is_copied(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("first")))
    migrator(servers, tmp_path / "s.db").run([PAIR])
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("second, same Message-ID")))
    report = migrator(servers, tmp_path / "s.db").run([PAIR], mode="delta")
    assert report.totals()["migrated"] == 1
    assert_mirrored(servers)


def test_alerts_without_message_id_sharing_date_from_subject_are_all_copied(servers, tmp_path):
    src, _ = servers
    for n in range(3):
        src.add_item(SRC, ("Inbox",), Message.from_mime(mime("Disk full", message_id=None, body=f"host {n}")))
    migrator(servers, tmp_path / "s.db").run([PAIR])
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("Disk full", message_id=None, body="host 9")))
    migrator(servers, tmp_path / "s.db").run([PAIR])
    assert_mirrored(servers)


def test_cc_only_variants_and_byte_identical_copies_are_all_copied(servers, tmp_path):
    src, dst = servers
    for m in (mime("x"), mime("x", cc="bob@contoso.com"), mime("x"), mime("x")):
        src.add_item(SRC, ("Inbox",), Message.from_mime(m))
    report = migrator(servers, tmp_path / "s.db").run([PAIR])
    assert report.totals()["migrated"] == 4
    assert_mirrored(servers)
    verify = migrator(servers, tmp_path / "s.db").verify([PAIR])
    assert verify.totals()["missing"] == 0 and verify.totals()["duplicate"] == 0


def test_skip_policy_collapses_only_byte_identical_copies(servers, tmp_path):
    src, dst = servers
    for m in (mime("x"), mime("x", cc="bob@contoso.com"), mime("x")):
        src.add_item(SRC, ("Inbox",), Message.from_mime(m))
    migrator(servers, tmp_path / "s.db", duplicate_policy=gm.DuplicatePolicy.SKIP).run([PAIR])
    assert len(dst.items(DST, ("Inbox",))) == 2


def test_contacts_alike_in_name_and_email_but_not_in_phone_are_both_copied(servers, tmp_path):
    src, _ = servers
    src.add_item(SRC, ("Contacts",), Contact(display_name="Anna", emails=("anna@x.org",), phones=(Phone("mobile", "+41 1"),)))
    src.add_item(SRC, ("Contacts",), Contact(display_name="Anna", emails=("anna@x.org",), company="ACME"))
    migrator(servers, tmp_path / "s.db").run([PAIR])
    assert_mirrored(servers, ("Contacts",))


def test_a_lost_answer_is_reconciled_by_stamp_not_resent(servers, tmp_path):
    src, dst = servers
    for n in range(5):
        src.add_item(SRC, ("Inbox",), Message.from_mime(mime(f"m{n}", message_id=f"<{n}@x>")))
    dst.inject("create_items", OutcomeUnknown("HTTP 504 after sending"), after=True)
    m = migrator(servers, tmp_path / "s.db")
    report = m.run([PAIR])
    assert report.totals()["migrated"] == 5 and report.totals()["failed"] == 0
    assert m.executor.stats["reconciled"] == 5 and m.executor.stats["resent"] == 0
    assert_mirrored(servers)


def test_a_write_that_never_went_out_is_sent_again(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("one")))
    dst.inject("create_items", OutcomeUnknown("reset before applying"), after=False)  # maybe applied, was not
    dst.inject("create_items", ConnectionFailed("refused"), after=False)  # certainly not sent
    m = migrator(servers, tmp_path / "s.db")
    m.run([PAIR])
    assert m.executor.stats["resent"] == 1
    assert_mirrored(servers)


class LookupDownAfterLostAnswer(MemoryDestination):
    """Applies the first create, loses its answer, and from then on cannot be asked for stamps."""

    def open_mailbox(self, address, auth=None):
        mailbox = super().open_mailbox(address, auth)
        create, find = mailbox.create_items, mailbox.find_stamps
        state = {"lost": False}

        def create_items(folder, items, stamps=None):
            results = create(folder, items, stamps)
            if not state["lost"]:
                state["lost"] = True
                raise OutcomeUnknown("HTTP 504 after the server applied it")
            return results

        def find_stamps(folder, stamps=None):
            if state["lost"]:
                raise ConnectionFailed("connection refused")
            return find(folder, stamps)

        mailbox.create_items, mailbox.find_stamps = create_items, find_stamps
        return mailbox


def test_lost_answer_and_failed_lookup_is_ambiguous_then_settled_by_the_next_run(servers, tmp_path):
    src, dst = servers
    for n in range(3):
        src.add_item(SRC, ("Inbox",), Message.from_mime(mime(f"m{n}", message_id=f"<{n}@x>")))
    flaky = gm.Migrator(MemorySource(src), LookupDownAfterLostAnswer(dst), state=str(tmp_path / "s.db"), item_types=["mail"])
    first = flaky.run([PAIR])
    ambiguous = [e for e in first.accounts[0].log if e.kind == "ambiguous"]
    assert len(ambiguous) == 3 and "next run looks for it again" in ambiguous[0].message
    assert len(dst.items(DST, ("Inbox",))) == 3
    second = migrator(servers, tmp_path / "s.db").run([PAIR])
    assert second.accounts[0].status == "completed" and second.totals()["migrated"] == 0
    assert_mirrored(servers)


def test_without_stamps_a_lost_answer_is_logged_ambiguous_never_guessed(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("a", message_id="<1@x>")))
    dst.add_item(DST, ("Inbox",), Message.from_mime(mime("a different mail, same Message-ID", message_id="<1@x>")))
    caps = gm.Capabilities(name="no-stamps", allows_mixed_folders=True)
    dst.inject("create_items", OutcomeUnknown("lost"), after=True)
    report = migrator(servers, tmp_path / "s.db", caps).run([PAIR])
    entries = [e for e in report.accounts[0].log if e.kind == "ambiguous"]
    assert len(entries) == 1 and '"a"' in entries[0].item
    assert len(dst.items(DST, ("Inbox",))) == 2  # created once, never twice
    # the next run finds the copy by its full content, not by Message-ID
    again = migrator(servers, tmp_path / "s.db", caps).run([PAIR])
    assert again.totals()["migrated"] == 0 and len(dst.items(DST, ("Inbox",))) == 2


def test_a_fresh_state_file_creates_nothing_stamps_are_recognised(servers, tmp_path):
    src, dst = servers
    for n in range(4):
        src.add_item(SRC, ("Inbox",), Message.from_mime(mime("same", message_id="<dup@x>", body=f"b{n}")))
    migrator(servers, tmp_path / "a.db").run([PAIR])
    writes = len(dst.writes())
    report = migrator(servers, tmp_path / "b.db").run([PAIR])
    assert len(dst.writes()) == writes and report.totals()["migrated"] == 0
    assert_mirrored(servers)


def test_mail_deleted_on_the_destination_is_reported_missing_then_copied_again(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("keep me", message_id="<k@x>")))
    migrator(servers, tmp_path / "s.db").run([PAIR])
    (item,) = dst.items(DST, ("Inbox",))
    dst.delete_item(DST, item.source_id)
    verify = migrator(servers, tmp_path / "s.db").verify([PAIR])
    missing = [e for e in verify.accounts[0].log if e.kind == "missing"]
    assert verify.totals()["missing"] == 1 and '"keep me"' in missing[0].item
    migrator(servers, tmp_path / "s.db").run([PAIR], mode="delta")
    assert_mirrored(servers)
    assert migrator(servers, tmp_path / "s.db").verify([PAIR]).totals()["missing"] == 0


def test_items_already_on_the_destination_from_elsewhere_match_once_each(servers, tmp_path):
    src, dst = servers
    for _ in range(2):
        src.add_item(SRC, ("Inbox",), Message.from_mime(mime("hand-copied")))
    dst.add_item(DST, ("Inbox",), Message.from_mime(mime("hand-copied")))
    report = migrator(servers, tmp_path / "s.db").run([PAIR])
    assert report.totals()["migrated"] == 1 and report.totals()["duplicate"] == 1
    assert_mirrored(servers)


def test_verify_numbers_add_up_and_extras_are_listed(servers, tmp_path):
    src, dst = servers
    for n in range(3):
        src.add_item(SRC, ("Inbox",), Message.from_mime(mime(f"m{n}", message_id=f"<{n}@x>")))
    migrator(servers, tmp_path / "s.db").run([PAIR])
    dst.add_item(DST, ("Inbox",), Message.from_mime(mime("only on the destination", message_id="<e@x>")))
    report = migrator(servers, tmp_path / "s.db").verify([PAIR])
    counts = report.accounts[0].counts["mail"]
    assert counts["source"] == counts["migrated"] == 3 and counts.get("missing", 0) == 0
    assert counts["extra"] == 1
    assert any(e.kind == "extra" and "only on the destination" in (e.item or "") for e in report.accounts[0].log)


def test_delta_starts_from_the_last_migration_run_not_a_verify(servers, tmp_path):
    from groupmigrate.core.planner import delta_start
    from groupmigrate.core.state import SqliteStateStore

    src, _ = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("one", message_id="<1@x>")))
    migrator(servers, tmp_path / "s.db").run([PAIR])
    migrator(servers, tmp_path / "s.db").verify([PAIR])
    store = SqliteStateStore(tmp_path / "s.db")
    migration, verify = store.runs()
    assert verify.kind == "verify" and delta_start(store, PAIR) == migration.started
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("two", message_id="<2@x>")))
    report = migrator(servers, tmp_path / "s.db").run([PAIR], mode="delta")
    assert report.totals()["migrated"] == 1


def test_delta_after_a_trial_refuses_and_says_what_to_run(servers, tmp_path):
    src, _ = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("old", message_id="<1@x>")), changed=NOW - dt.timedelta(days=60))
    migrator(servers, tmp_path / "s.db").run([PAIR], mode="trial")
    with pytest.raises(StateError, match="trial.*run a full migration"):
        migrator(servers, tmp_path / "s.db").run([PAIR], mode="delta")
    migrator(servers, tmp_path / "s.db").run([PAIR])
    assert_mirrored(servers)


def test_delta_retries_items_that_failed_before(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("flaky", message_id="<1@x>")), changed=NOW - dt.timedelta(days=60))
    dst.inject("create_items", ConnectionFailed("down"), times=50)
    first = migrator(servers, tmp_path / "s.db").run([PAIR])
    assert first.totals()["failed"] == 1
    dst._faults.clear()
    migrator(servers, tmp_path / "s.db").run([PAIR], mode="delta")
    assert_mirrored(servers)


def test_a_folder_renamed_on_the_source_keeps_its_destination_folder(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Projekte",), Message.from_mime(mime("a", message_id="<1@x>")))
    migrator(servers, tmp_path / "s.db").run([PAIR])
    src.rename_folder(SRC, ("Projekte",), "Projects")
    src.add_item(SRC, ("Projects",), Message.from_mime(mime("b", message_id="<2@x>")))
    report = migrator(servers, tmp_path / "s.db").run([PAIR])
    assert dst.items(DST, ("Projekte",)) == []
    assert len(dst.items(DST, ("Projects",))) == 2  # one folder, renamed like the source's
    assert any("renamed on the destination too" in e.message for e in report.accounts[0].log)


class NoRename(MemoryDestination):
    def open_mailbox(self, address, auth=None):
        mailbox = super().open_mailbox(address, auth)
        return type("NoRenameMailbox", (), {n: getattr(mailbox, n) for n in (
            "address", "check", "folders", "ensure_folder", "create_items", "existing", "fetch_existing",
            "find_stamps", "count", "free_space", "close", "list_items")})()  # fmt: skip


def test_a_renamed_folder_on_a_destination_that_cannot_rename_keeps_its_name_and_is_logged(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Projekte",), Message.from_mime(mime("a", message_id="<1@x>")))
    gm.Migrator(MemorySource(src), NoRename(dst), state=str(tmp_path / "s.db")).run([PAIR])
    src.rename_folder(SRC, ("Projekte",), "Projects")
    src.add_item(SRC, ("Projects",), Message.from_mime(mime("b", message_id="<2@x>")))
    report = gm.Migrator(MemorySource(src), NoRename(dst), state=str(tmp_path / "s.db")).run([PAIR])
    assert dst.items(DST, ("Projects",)) == [] and len(dst.items(DST, ("Projekte",))) == 2
    assert any("cannot rename" in e.message for e in report.accounts[0].log)


def test_stray_items_are_copied_as_their_own_type_or_skipped_with_a_reason(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("mail", message_id="<1@x>")))
    src.folder(SRC, ("Contacts",), "contacts")
    mbx = src.mailbox(SRC)
    contacts = next(f for f in mbx.folders.values() if f.path == ("Contacts",))
    mbx.items[contacts.folder_id]["stray"] = Message.from_mime(mime("filed in Contacts", message_id="<2@x>"))
    mbx.items[contacts.folder_id]["stray"] = mbx.items[contacts.folder_id]["stray"].__class__(
        **{**{a: getattr(mbx.items[contacts.folder_id]["stray"], a) for a in ("mime",)}, "source_id": "stray"}
    )
    mbx.changed["stray"] = NOW
    report = migrator(servers, tmp_path / "s.db").run([PAIR])
    assert report.accounts[0].status == "completed"
    assert len(dst.items(DST, ("Contacts",))) == 1
    strict = gm.Capabilities(name="strict")
    dst2 = MemoryServer()
    dst2.add_mailbox(DST)
    report = gm.Migrator(MemorySource(src), MemoryDestination(dst2, strict), state=str(tmp_path / "t.db")).run([PAIR])
    skipped = [e for e in report.accounts[0].log if e.kind == "skipped"]
    assert report.accounts[0].status == "completed" and "filed in a contacts folder" in skipped[0].message
    assert migrator(servers, tmp_path / "s.db").verify([PAIR]).accounts[0].status == "completed"


def test_a_second_writer_on_the_same_state_file_is_refused(servers, tmp_path):
    src, dst = servers
    src.add_item(SRC, ("Inbox",), Message.from_mime(mime("one", message_id="<1@x>")))
    state = tmp_path / "s.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from groupmigrate.core.state import SqliteStateStore as S\n"
         "with S(sys.argv[1]).writer():\n    print('held', flush=True); time.sleep(60)", str(state)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StateLocked, match=f"process {holder.pid}"):
            migrator(servers, state).run([PAIR])
        assert dst.items(DST, ("Inbox",)) == []
    finally:
        holder.kill()
        holder.wait()
    migrator(servers, state).run([PAIR])
    assert_mirrored(servers)


def test_a_contact_with_more_addresses_than_the_destination_keeps_is_cut_in_the_mapper_and_logged(servers, tmp_path):
    src, dst = servers
    emails = ("a@x.org", "b@x.org", "c@x.org", "d@x.org")
    src.add_item(SRC, ("Contacts",), Contact(display_name="Many", emails=emails))
    caps = gm.Capabilities(name="three-emails", supports_provenance=True, max_contact_emails=3)
    report = migrator(servers, tmp_path / "s.db", caps).run([PAIR])
    (copy,) = dst.items(DST, ("Contacts",))
    assert copy.emails == emails[:3]
    assert any(e.kind == "dropped" and "d@x.org" in e.message for e in report.accounts[0].log)
    verify = migrator(servers, tmp_path / "s.db", caps).verify([PAIR])
    assert verify.totals()["missing"] == 0 and verify.accounts[0].counts["contacts"]["migrated"] == 1
