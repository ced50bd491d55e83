"""Every source item arrives exactly once: one test per way it could arrive twice or not at all.

"Already migrated" is decided by provenance (the state's id map and the stamp written with each
created item), never by content. So distinct source items that look alike are all copied, a
write whose answer was lost is reconciled instead of resent, and a killed or locked-out run never
turns into copies. Each test checks what a user checks: the destination, read straight from the
test server's store, holds per folder the same multiset of full item content as the source
(:func:`~.support.content_key`: for mail the whole header block and body); ``verify`` finds
nothing missing and nothing extra; and the source answered no write.
"""

from __future__ import annotations

import collections
import datetime as dt
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from groupmigrate.errors import StateLocked
from groupmigrate.items import Contact, Phone
from groupmigrate.core.migrator import Migrator
from groupmigrate.core.report import Report

from .support import (
    NOW,
    ClientProcess,
    FaultProxy,
    add_header,
    content_inventory,
    content_key,
    creates,
    destination_through,
    differences,
    mail,
    open_route,
    stored_items,
    total,
)

INBOX = ("Inbox",)


# --- helpers --------------------------------------------------------------------------------------


def seed(route: Any, address: str, mime: bytes, folder: tuple[str, ...] = INBOX, hours: float = 1) -> None:
    route.source_server.seed_message(address, folder, mime, received=NOW - dt.timedelta(hours=hours))


def seed_inbox(route: Any, address: str, count: int, user: str, start: int = 1) -> None:
    for n in range(start, start + count):
        seed(route, address, mail(n, user=user), hours=n)


def migrate_until_done(route: Any, pairs: list[Any], *, runs: int = 3, mode: str = "full", **kwargs: Any) -> list[Report]:
    """Run until nothing failed (a lost answer may leave items for the next run, never copies)."""
    kwargs.setdefault("workers", 1)
    reports = []
    for _ in range(runs):
        report = route.migrator(**kwargs).run(pairs, mode=mode)
        reports.append(report)
        assert all(a.status != "failed" for a in report.accounts), [a.error for a in report.accounts]
        if report.totals()["failed"] == 0:
            break
        mode = "full"  # what failed is retried by the next run
    return reports


def assert_exact_copy(route: Any, pair: Any, *, state: str | None = None) -> Report:
    """Destination equals source per folder (full content, as a multiset); verify agrees; the
    source answered no write. Returns the verify report."""
    source_inventory = content_inventory(route.source_server, pair.source)
    destination_inventory = content_inventory(route.destination_server, pair.destination)
    problems = differences(source_inventory, destination_inventory)
    assert problems == [], "the destination does not mirror the source:\n  " + "\n  ".join(problems)

    kwargs = {"state": state} if state else {}
    verify = route.migrator(**kwargs).verify([pair])
    account = verify.accounts[0]
    assert account.status == "completed", (account.status, account.error, verify.totals())
    assert verify.totals()["missing"] == 0, [e.item for e in account.log if e.kind == "missing"]
    assert verify.totals()["duplicate"] == 0, [e.message for e in account.log if e.kind == "duplicate"]
    for item_type, counts in account.counts.items():
        assert counts.get("source", 0) == counts.get("destination", 0), (item_type, counts)
    assert [e for e in account.log if e.kind in ("missing", "duplicate", "extra")] == []

    writes = route.source_server.write_operations()
    assert writes == [], f"the source answered {len(writes)} write(s): {writes[:3]}"
    return verify


def no_duplicates(route: Any, pair: Any) -> None:
    """No item on the destination more often than on the source (checked before anything else,
    so that a failure names the duplicate)."""
    source_inventory = content_inventory(route.source_server, pair.source)
    destination_inventory = content_inventory(route.destination_server, pair.destination)
    extra = [d for d in differences(source_inventory, destination_inventory) if "extra" in d]
    assert extra == [], "items were created more than once:\n  " + "\n  ".join(extra)


def run_through(route: Any, proxy: FaultProxy, pairs: list[Any], *, mode: str = "full", workers: int = 1) -> Report:
    destination = destination_through(proxy)
    try:
        return Migrator(route.source, destination, state=route.state, workers=workers).run(pairs, mode=mode)
    finally:
        destination.close()


def run_through_until_done(route: Any, proxy: FaultProxy, pairs: list[Any], runs: int = 3) -> list[Report]:
    reports = []
    for _ in range(runs):
        report = run_through(route, proxy, pairs)
        reports.append(report)
        assert all(a.status != "failed" for a in report.accounts), [a.error for a in report.accounts]
        if report.totals()["failed"] == 0:
            break
    return reports


@pytest.fixture
def route(tmp_path: Any, register_source: Any) -> Any:
    with open_route(tmp_path, register=register_source) as r:
        yield r


# --- distinct source items that look alike are all copied -------------------------------------------


def test_second_mail_with_the_same_message_id_arriving_later_is_copied(route):
    pair = route.add_user("mid")
    seed_inbox(route, pair.source, 5, "mid")
    first = mail(100, user="mid", message_id="<shared@fabrikam.example>", subject="Quarterly figures",
                 body="The figures for Q1 are attached.")  # fmt: skip
    seed(route, pair.source, first, hours=2)
    route.register_source()
    migrate_until_done(route, [pair])

    # a second, different mail with the same Message-ID arrives (a resend, a list copy, a broken client)
    second = mail(101, user="mid", message_id="<shared@fabrikam.example>", subject="Quarterly figures (corrected)",
                  body="Sorry, the figures for Q1 were wrong; corrected version attached.")  # fmt: skip
    seed(route, pair.source, second, hours=0.5)
    route.register_source()
    migrate_until_done(route, [pair], mode="delta")
    assert_exact_copy(route, pair)


def test_second_alert_without_message_id_sharing_date_from_subject_is_copied(route):
    pair = route.add_user("alerts")
    when = NOW - dt.timedelta(hours=3)
    sender = "Monitoring <alerts@monitor.example>"
    first = mail(200, user="alerts", message_id=None, when=when, sender=sender, subject="ALERT: disk usage",
                 body="Volume /srv is 91% full.")  # fmt: skip
    seed(route, pair.source, first, hours=3)
    route.register_source()
    migrate_until_done(route, [pair])

    second = mail(201, user="alerts", message_id=None, when=when, sender=sender, subject="ALERT: disk usage",
                  body="Volume /var is 97% full.")  # fmt: skip
    seed(route, pair.source, second, hours=3)
    route.register_source()
    migrate_until_done(route, [pair], mode="delta")
    assert_exact_copy(route, pair)


def test_cc_only_variants_and_byte_identical_copies_are_all_copied(route):
    pair = route.add_user("copies")
    base = mail(300, user="copies", subject="Minutes of the board meeting")
    variants = [base, add_header(base, "Cc: Board <board@contoso.com>"), add_header(base, "Cc: Audit <audit@contoso.com>")]
    for mime in variants:
        seed(route, pair.source, mime, hours=4)
    identical = mail(301, user="copies", subject="Invoice 4711")
    for _ in range(3):  # byte-identical copies in one folder: the destination mirrors the source
        seed(route, pair.source, identical, hours=5)
    seed_inbox(route, pair.source, 4, "copies")
    route.register_source()
    source_inventory = content_inventory(route.source_server, pair.source)
    assert len(source_inventory[("@inbox",)]) == 3 + 1 + 4  # three distinct Cc variants, one key thrice
    migrate_until_done(route, [pair])
    assert_exact_copy(route, pair)


def test_contacts_with_same_name_and_email_but_other_details_are_all_copied(route):
    pair = route.add_user("people")
    for phone, company in (("+49 30 1111111", "Northwind"), ("+49 89 2222222", "Contoso"), ("+1 206 3333333", None)):
        route.source_server.seed_item(
            pair.source,
            Contact(display_name="Anna Schmidt", given_name="Anna", surname="Schmidt",
                    emails=("anna.schmidt@example.net",), phones=(Phone("business", phone),), company=company),
        )  # fmt: skip
    route.source_server.seed_item(
        pair.source, Contact(display_name="Bert Braun", given_name="Bert", surname="Braun", emails=("bert@example.net",))
    )
    route.register_source()
    assert total(content_inventory(route.source_server, pair.source)) == 4
    migrate_until_done(route, [pair])
    assert_exact_copy(route, pair)


# --- writes whose outcome the client does not know -----------------------------------------------


@pytest.mark.parametrize("kind", ["504_after", "html500_after"])
def test_create_answered_with_a_5xx_after_it_was_applied_is_not_duplicated(route, kind, figures):
    """A gateway answers 504 (or an HTML 500) although the server created the items."""
    pair = route.add_user(f"gw-{kind.split('_')[0]}")
    seed_inbox(route, pair.source, 30, "gw")
    route.source_server.seed_item(pair.source, Contact(display_name="Carla Roth", emails=("carla@example.net",)))
    route.register_source()
    with FaultProxy(route.destination_server.port) as proxy:
        proxy.add(kind, b"CreateItem", nth={1})
        reports = run_through_until_done(route, proxy, [pair])
    assert proxy.stats[kind] >= 1, proxy.stats
    no_duplicates(route, pair)
    assert_exact_copy(route, pair)
    figures.setdefault("exactly once: faults injected", {})[kind] = {"faults": proxy.stats[kind], "runs": len(reports)}


@pytest.mark.parametrize("lookup_fault", [None, "drop_answer", "reset_before", "504_after"])
def test_lost_answer_to_a_create_is_reconciled_not_resent(route, lookup_fault, figures):
    """The server applies a CreateItem and the connection breaks before the answer arrives;
    optionally the next request (the reconciliation lookup) fails once as well. The items are
    on the destination once: found by their stamps, or left for a second run, never resent blindly."""
    pair = route.add_user(f"lost-{lookup_fault or 'plain'}".replace("_", "-"))
    seed_inbox(route, pair.source, 30, "lost")
    route.register_source()
    with FaultProxy(route.destination_server.port) as proxy:
        lost = proxy.add("drop_answer", b"CreateItem", nth={1})
        if lookup_fault is not None:
            proxy.add(lookup_fault, lambda request: b"CreateItem" not in request, nth={1}, after=lost)
        reports = run_through_until_done(route, proxy, [pair])
    assert proxy.stats["drop_answer"] >= 1, proxy.stats
    if lookup_fault is not None:
        assert proxy.stats[lookup_fault] >= (2 if lookup_fault == "drop_answer" else 1), proxy.stats
    no_duplicates(route, pair)
    assert_exact_copy(route, pair)
    figures.setdefault("exactly once: lost answers", {})[lookup_fault or "plain"] = {
        "proxy": dict(proxy.stats), "runs": len(reports)
    }


@pytest.mark.parametrize("kind", ["504_after", "html500_after", "drop_answer", "reset_before"])
def test_a_fault_on_the_first_request_of_an_account_is_retried(route, kind):
    """The first request to the destination (opening the mailbox) meets a fault: it is a read,
    retried like any other; the account is not given up and nothing is copied twice."""
    pair = route.add_user(f"first-{kind.split('_')[0]}")
    seed_inbox(route, pair.source, 10, "first")
    route.register_source()
    with FaultProxy(route.destination_server.port) as proxy:
        proxy.add(kind, b"Envelope", nth={1})
        report = run_through(route, proxy, [pair])
    assert proxy.stats[kind] == 1, proxy.stats
    account = report.accounts[0]
    assert account.status == "completed", f"{proxy.injected}: {account.status}: {account.error}"
    no_duplicates(route, pair)
    assert_exact_copy(route, pair)


def test_reset_before_forwarding_creates_each_item_once(route):
    pair = route.add_user("reset")
    seed_inbox(route, pair.source, 30, "reset")
    route.register_source()
    with FaultProxy(route.destination_server.port) as proxy:
        proxy.add("reset_before", b"CreateItem", nth={1, 2})
        run_through_until_done(route, proxy, [pair])
    assert proxy.stats["reset_before"] == 2, proxy.stats
    no_duplicates(route, pair)
    assert_exact_copy(route, pair)


@pytest.mark.parametrize("kind", ["hold", "hold_after"])
def test_client_killed_while_a_create_is_in_flight_then_rerun(route, tmp_path, kind, figures):
    """SIGKILL of the migration process while a CreateItem is on the wire: not yet at the
    server (``hold``) or applied with the answer still on its way (``hold_after``). The next
    run completes the copy, each item exactly once."""
    pair = route.add_user(f"kill-{kind}".replace("_", "-"))
    seed_inbox(route, pair.source, 250, "kill")
    route.register_source()
    with FaultProxy(route.destination_server.port) as proxy:
        proxy.add(kind, b"CreateItem", nth={2})
        client = ClientProcess(route, [pair], route.state, tmp_path / "killed.log", destination_url=proxy.url, workers=1)
        held = client.wait_for(proxy.holding.is_set, timeout=60)
        assert held, f"the run ended before the second CreateItem: {client.done}\n{client.stderr()}"
        assert client.kill(), "the migration process was not running any more"
        proxy.clear()
        proxy.release()
        time.sleep(0.1)
        status, totals = ClientProcess(route, [pair], route.state, tmp_path / "rerun.log", destination_url=proxy.url,
                                       workers=1).finish()  # fmt: skip
    assert status == "completed" and totals["failed"] == 0, (status, totals)
    no_duplicates(route, pair)
    assert_exact_copy(route, pair)
    figures.setdefault("exactly once: killed in flight", {})[kind] = {"migrated_by_rerun": totals["migrated"]}


# --- the destination changes, the state file is busy, runs of other kinds -------------------------------


def test_mail_deleted_on_the_destination_is_reported_missing_and_copied_again(route):
    pair = route.add_user("deleted")
    seed_inbox(route, pair.source, 8, "deleted")
    route.register_source()
    migrate_until_done(route, [pair])

    # someone deletes one copy on the destination
    victim_subject = "Report 5 for deleted"
    store = route.destination_server.store
    with store.lock:
        victims = [i for _, i in stored_items(route.destination_server, pair.destination)
                   if i.tag == "Message" and content_key(i)[1] == victim_subject]  # fmt: skip
        assert len(victims) == 1
        store.delete_item(victims[0])
        store.commit()

    verify = route.migrator().verify([pair])
    assert verify.totals()["missing"] == 1, verify.totals()
    missing = [e for e in verify.accounts[0].log if e.kind == "missing"]
    assert len(missing) == 1 and victim_subject in f"{missing[0].item} {missing[0].message}", missing

    again = route.migrator(workers=1).run([pair])
    assert again.totals()["migrated"] == 1 and again.totals()["failed"] == 0, again.totals()
    assert_exact_copy(route, pair)


HOLD_LOCK = textwrap.dedent(
    """
    import sys
    from groupmigrate.core.state import SqliteStateStore
    store = SqliteStateStore(sys.argv[1])
    with store.writer():
        print("LOCKED", flush=True)
        sys.stdin.read()
    store.close()
    """
)


def test_run_against_a_state_file_locked_by_another_process_is_refused(route):
    pair = route.add_user("locked")
    seed_inbox(route, pair.source, 10, "locked")
    route.register_source()
    migrate_until_done(route, [pair])
    creates_before = creates(route.destination_server)

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, route.state],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = holder.stdout.readline().strip() if holder.stdout else ""
        if line != "LOCKED":
            holder.kill()
            _, err = holder.communicate(timeout=10)
            pytest.fail(f"another process could not take the state file's writer lock "
                        f"(SqliteStateStore(path).writer()): {err.strip().splitlines()[-1:] or line}")  # fmt: skip
        seed_inbox(route, pair.source, 3, "locked", start=50)
        route.register_source()
        with pytest.raises(StateLocked) as refused:
            route.migrator(workers=1).run([pair], mode="full")
        assert str(holder.pid) in str(refused.value), str(refused.value)
        assert str(refused.value.holder.get("pid")) == str(holder.pid), refused.value.holder
        assert creates(route.destination_server) == creates_before, "the refused run wrote to the destination"
    finally:
        if holder.stdin:
            holder.stdin.close()
        holder.wait(timeout=10)

    # once the other process is gone, the same state file works and nothing is copied twice
    report = route.migrator(workers=1).run([pair], mode="full")
    assert report.totals()["migrated"] == 3 and report.totals()["failed"] == 0, report.totals()
    assert_exact_copy(route, pair)


def test_delta_after_a_verify_run_still_copies_new_mail(route):
    pair = route.add_user("delta")
    seed_inbox(route, pair.source, 6, "delta")
    route.register_source()
    migrate_until_done(route, [pair])
    assert route.migrator().verify([pair]).totals()["missing"] == 0

    # new mail arrives (one of it with an old date, as a mail moved in from elsewhere keeps it)
    seed(route, pair.source, mail(60, user="delta", subject="Arrived after the verify"), hours=0.1)
    seed(route, pair.source, mail(61, user="delta", subject="Moved in, old date"), hours=24 * 40)
    route.register_source()
    report = route.migrator(workers=1).run([pair], mode="delta")
    assert report.totals()["migrated"] == 2, report.totals()
    assert_exact_copy(route, pair)


@pytest.mark.parametrize("mode", ["full", "delta"])
def test_folder_renamed_on_the_source_between_runs(route, mode):
    pair = route.add_user(f"rename-{mode}")
    route.source_server.seed_folder(pair.source, ("Projekte",))
    for n in range(1, 6):
        seed(route, pair.source, mail(n, user="rename"), folder=("Projekte",), hours=n)
    seed_inbox(route, pair.source, 3, "rename", start=10)
    route.register_source()
    migrate_until_done(route, [pair])
    folders_before = sorted(route.destination_server.folder_paths(pair.destination))

    # the user renames the folder on the source and files one more mail in it
    server = route.source_server
    with server.store.lock:
        folder = server.find_folder(pair.source, ("Projekte",))
        folder.display_name = "Projekte 2026"
        server.store.touch_folder(folder)
        server.store.commit()
    seed(route, pair.source, mail(7, user="rename", subject="Filed after the rename"), folder=("Projekte 2026",), hours=0.2)
    route.register_source()
    migrate_until_done(route, [pair], mode=mode)

    folders_after = sorted(route.destination_server.folder_paths(pair.destination))
    new_folders = sorted(set(folders_after) - set(folders_before))
    assert len(folders_after) == len(folders_before), f"a second destination folder was created: {new_folders}"
    # everything is there once, and the renamed folder's mail is together in one folder
    everything = collections.Counter(content_key(i) for _, i in stored_items(route.source_server, pair.source))
    copied = collections.Counter(content_key(i) for _, i in stored_items(route.destination_server, pair.destination))
    assert copied - everything == collections.Counter(), f"duplicated: {list(copied - everything)[:3]}"
    assert everything - copied == collections.Counter(), f"missing: {list(everything - copied)[:3]}"
    renamed_keys = {content_key(i) for i in route.source_server.folder_items(pair.source, ("Projekte 2026",))}
    holders = {path for path, i in stored_items(route.destination_server, pair.destination) if content_key(i) in renamed_keys}
    assert len(holders) == 1, f"the renamed folder's mail is spread over {sorted(holders)}"
    verify = route.migrator().verify([pair])
    assert verify.totals()["missing"] == 0 and verify.totals()["duplicate"] == 0, verify.summary()
    assert route.source_server.write_operations() == []


def test_items_filed_in_a_folder_of_another_type(route):
    """A mail filed in Contacts and a contact filed in Inbox (Exchange allows both): the run
    does not fail those folders; each stray item is copied or skipped with a log entry naming it."""
    pair = route.add_user("stray")
    seed_inbox(route, pair.source, 3, "stray")
    route.source_server.seed_item(pair.source, Contact(display_name="Dora Lang", emails=("dora@example.net",)))
    seed(route, pair.source, mail(40, user="stray", subject="Stray mail in Contacts"), folder=("contacts",))
    route.source_server.seed_item(
        pair.source, Contact(display_name="Stray Contact in Inbox", emails=("stray@example.net",)), folder=INBOX
    )
    route.register_source()

    report = route.migrator(workers=1).run([pair])
    account = report.accounts[0]
    assert account.status in ("completed", "completed_with_errors"), account.error
    failed = [e for e in account.log if e.kind == "failed"]
    assert failed == [], failed

    copied = {content_key(i) for _, i in stored_items(route.destination_server, pair.destination)}
    originals = {content_key(i): i for _, i in stored_items(route.source_server, pair.source)}
    regular = [k for k in originals if "Stray" not in k[1]]
    assert all(k in copied for k in regular), [k for k in regular if k not in copied]
    for name in ("Stray mail in Contacts", "Stray Contact in Inbox"):
        on_destination = any(k[1] == name for k in copied)
        logged = [e for e in account.log if e.kind == "skipped" and name in f"{e.item} {e.message}"]
        assert on_destination or logged, f"{name!r} was neither copied nor skipped with a log entry"

    verify = route.migrator().verify([pair])
    assert verify.accounts[0].status != "failed", verify.accounts[0].error
    assert route.source_server.write_operations() == []


def test_destination_without_stamps_logs_a_lost_answer_as_ambiguous(tmp_path, register_source):
    """A destination that cannot keep provenance stamps (the ``generic`` server drops named
    extended properties): after a lost CreateItem answer each item of the request is logged as
    ambiguous, named, and never matched by Message-ID or resent into a duplicate."""
    with open_route(tmp_path, register=register_source, destination_profile="generic") as route:
        knobs = route.destination_server.knobs
        if not hasattr(knobs, "keeps_named_properties"):
            pytest.skip("the EWS test server has no knob for a destination that cannot keep stamps")
        knobs.keeps_named_properties = False
        pair = route.add_user("nostamp")
        seed_inbox(route, pair.source, 3, "nostamp")
        route.register_source()
        with FaultProxy(route.destination_server.port) as proxy:
            proxy.add("drop_answer", b"CreateItem", nth={1})
            destination = destination_through(proxy, profile="generic")
            try:
                report = Migrator(route.source, destination, state=route.state, workers=1).run([pair])
            finally:
                destination.close()
        no_duplicates(route, pair)
        ambiguous = [e for e in report.accounts[0].log if "ambiguous" in f"{e.kind} {e.message}".lower()]
        assert ambiguous, report.accounts[0].log
        named = " ".join(f"{e.item} {e.message}" for e in ambiguous)
        unnamed = [f"Report {n} for nostamp" for n in range(1, 4) if f"Report {n} for nostamp" not in named]
        assert unnamed == [], f"ambiguous items not named in the log: {unnamed}; log: {ambiguous}"
