"""Whole migrations between two EWS test servers through exchangelib: what a user runs."""

from __future__ import annotations

import datetime as dt

import pytest

import groupmigrate as gm
from groupmigrate import events as ev
from groupmigrate.frontdoors.demo import expected_counts
from groupmigrate.items import Contact, Event, Message, Note, Task

from .conftest import build_route


def read_all(endpoint_source: gm.EWSSource, address: str) -> dict[tuple[str, ...], list]:
    """Every item of a mailbox, read through the (read-only) EWS source, by folder path."""
    mailbox = endpoint_source.open_mailbox(address)
    out = {}
    try:
        for folder in mailbox.folders():
            refs = list(mailbox.list_items(folder))
            if refs:
                out[folder.path] = list(mailbox.fetch(folder, refs))
    finally:
        mailbox.close()
    return out


def reader(route, server) -> gm.EWSSource:
    if server is route.source_server:
        return route.source
    return gm.EWSSource(url=server.url, profile="workmail", impersonation=True,
                        auth=gm.BasicAuth("admin@example.org", "admin-password-value"))  # fmt: skip


def test_full_migration_copies_every_item_type_field_by_field(route):
    events: list[ev.Event] = []
    report = route.migrator(workers=2, on_event=events.append).run(route.pairs)
    acc = report.accounts[0]
    assert acc.status == "completed", acc.error
    assert expected_counts(acc.counts, route.expected["alice"]) == []

    before = read_all(route.source, "alice@contoso.com")
    after = read_all(reader(route, route.destination_server), "alice@example.org")

    src_list = [m for items in before.values() for m in items if isinstance(m, Message)]
    dst_list = [m for items in after.values() for m in items if isinstance(m, Message)]
    src_mail = {m.message_id: m for m in src_list}
    dst_mail = {m.message_id: m for m in dst_list}
    assert set(dst_mail) == set(src_mail)
    assert len(dst_list) == len(src_list)  # the seeded exact copy arrives too: the destination mirrors the source
    twice = {mid for mid in src_mail if sum(m.message_id == mid for m in src_list) > 1}
    for mid, original in src_mail.items():
        if mid in twice:
            continue
        copy = dst_mail[mid]
        assert (copy.subject, copy.is_read, copy.categories, copy.flag) == (
            original.subject, original.is_read, original.categories, original.flag
        ), mid  # fmt: skip
        assert copy.received == original.received, f"received date of {mid} not kept"
    # non-ASCII and nested folders arrive with their paths
    assert ("Archiv – Ärger & Öl",) in after and ("Inbox", "Projects", "2026") in after

    contacts = {c.display_name: c for items in after.values() for c in items if isinstance(c, Contact)}
    dana = contacts["Dana Fischer"]
    assert (dana.company, dana.job_title, dana.birthday) == ("Fabrikam", "CFO", dt.date(1980, 5, 17))
    assert dana.emails == ("dana@fabrikam.example",)
    # WorkMail shows no contact photos: the photo travels as a plain attachment
    assert any(a.content.startswith(b"\x89PNG") for a in dana.attachments) or dana.photo
    assert contacts["Erik Jensen"].websites == ()  # the invalid URL was removed ...
    assert any(e.kind in ("changed", "dropped") and "htp:/not a url" in e.message for e in acc.log)  # ... and logged
    assert contacts["Bob (directory)"].emails == ("bob@contoso.com",)  # X500 resolved through the source

    calendar = {e.subject: e for items in after.values() for e in items if isinstance(e, Event)}
    sync = calendar["Team sync"]
    assert sync.recurrence is not None and "FREQ=WEEKLY" in sync.recurrence
    assert len(sync.exceptions) == 1 and len(sync.deleted_occurrences) == 1
    original_sync = next(e for items in before.values() for e in items if isinstance(e, Event) and e.subject == "Team sync")
    assert sync.start == original_sync.start and sync.end == original_sync.end
    holiday = calendar["Company holiday"]
    assert holiday.is_all_day and holiday.start == dt.date(2026, 12, 24)
    assert calendar["Budget review"].attachments and calendar["Budget review"].attachments[0].name == "agenda.txt"

    tasks = {t.subject: t for items in after.values() for t in items if isinstance(t, Task)}
    assert (tasks["Submit expense report"].status, tasks["Submit expense report"].percent_complete) == ("in_progress", 40)
    assert tasks["Renew certificate"].status == "completed"
    notes = {n.subject: n for items in after.values() for n in items if isinstance(n, Note)}
    assert notes["Wi-Fi"].body == "guest network: Contoso-Guest"

    # organizer / attendee status limits are logged once per account, not per item
    notices = [e for e in acc.log if e.kind == "notice"]
    assert len(notices) == len({e.message for e in notices})
    assert isinstance(events[-1], ev.RunFinished)


def test_rerun_copies_nothing_and_verify_finds_nothing_missing(route):
    first = route.migrator().run(route.pairs)
    created = len(route.destination_server.write_operations("alice@example.org"))
    again = route.migrator().run(route.pairs)
    assert again.totals()["migrated"] == 0
    assert again.totals()["duplicate"] == first.totals()["migrated"] + first.totals()["duplicate"]
    assert len(route.destination_server.write_operations("alice@example.org")) == created
    verify = route.migrator().verify(route.pairs)
    assert verify.totals()["missing"] == 0 and verify.totals()["duplicate"] == 0, verify.summary()


def test_delta_copies_only_new_mail(route):
    route.migrator().run(route.pairs)
    new = (
        b"Message-ID: <after-the-mx-switch@fabrikam.example>\r\nFrom: x@fabrikam.example\r\nTo: alice@contoso.com\r\n"
        b"Subject: arrived later\r\nDate: " + dt.datetime.now(dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000").encode()
        + b"\r\n\r\nnew\r\n"
    )  # fmt: skip
    route.deliver("alice@contoso.com", new)
    mark = len(route.source_server.operations)
    delta = route.migrator().run(route.pairs, mode="delta")
    assert delta.accounts[0].counts["mail"]["migrated"] == 1
    assert delta.totals()["migrated"] == 1
    # exchange-online offers sync states: the delta run asks what changed instead of listing folders
    operations = {op.operation for op in route.source_server.operations[mark:]}
    assert "SyncFolderItems" in operations and "FindItem" not in operations
    fetched = [op for op in route.source_server.operations[mark:] if op.operation == "GetItem"]
    assert len(fetched) == 1  # only the new mail was fetched


def test_trial_copies_only_the_last_ten_days(route):
    report = route.migrator(item_types=["mail"]).run(route.pairs, mode="trial")
    # seed_mailbox receives mail n at now - (2.5 days + 1 hour) * n: n = 0..3 fall within 10 days
    assert report.accounts[0].counts["mail"]["migrated"] == 4


@pytest.mark.parametrize(("source_profile", "destination_profile"), [("exchange", "exchange-online"), ("workmail", "exchange")])
def test_other_profile_pairs(tmp_path, register_source, source_profile, destination_profile):
    for r in build_route(tmp_path, source_profile, destination_profile, register=register_source):
        report = r.migrator().run(r.pairs)
        assert report.accounts[0].status == "completed", report.accounts[0].error
        assert report.totals()["failed"] == 0
        verify = r.migrator().verify(r.pairs)
        assert verify.totals()["missing"] == 0, verify.summary()
