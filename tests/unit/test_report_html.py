"""The HTML report without a browser: structure, escaping, grouped log, totals, verify reports."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from groupmigrate.accounts import AccountPair
from groupmigrate.core.report import AccountReport, LogEntry, Report
from groupmigrate.core.report_html import MAX_ITEMS_PER_REASON
from groupmigrate.core.state import ItemMapping, open_state
from groupmigrate.testing.postgres import pg_url, postgres_server  # noqa: F401  (fixtures)

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
XSS = "<script>alert(1)</script>"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def migration() -> Report:
    alice = AccountReport(
        AccountPair("alice@contoso.com", "alice@example.org"),
        "completed_with_errors",
        {"mail": {"migrated": 500, "duplicate": 300, "skipped": 2, "failed": 3}, "contacts": {"migrated": 20}},
        [
            *(LogEntry("duplicate", "mail", "Inbox", f'"Invoice #{n}", from a@contoso.com', "already on the destination", at(1 + n / 100)) for n in range(300)),
            LogEntry("skipped", "mail", "Inbox", f'"{XSS}", from mallory@evil.example', "attachment over the 23 MB limit", at(2)),
            LogEntry("skipped", "mail", "Inbox", '"Scan", from b@contoso.com', "attachment over the 23 MB limit", at(2)),
            *(LogEntry("failed", "mail", "Inbox/Projects", f'"Budget {n}"', "the destination refused the request: ErrorQuotaExceeded", at(3)) for n in range(3)),
            LogEntry("notice", None, None, None, "organizer: the mailbox owner becomes organizer", at(9)),
        ],
        started=at(0), finished=at(10), sizes={"migrated": 5_000_000, "duplicate": 0, "skipped": 48_000_000, "failed": 3000, "ambiguous": 0},
    )  # fmt: skip
    bob = AccountReport(
        AccountPair("bob@contoso.com", f"bob{XSS}@example.org"), "completed", {"mail": {"migrated": 100}}, [],
        started=at(1), finished=at(5), sizes={"migrated": 1_000_000},
    )  # fmt: skip
    carol = AccountReport(
        AccountPair("carol@contoso.com", "carol@example.org"), "failed", {},
        [LogEntry("error", None, None, None, f"no mailbox carol@contoso.com {XSS}", at(0.5))],
        error=f"no mailbox carol@contoso.com {XSS}", started=at(0), finished=at(0.5),
    )  # fmt: skip
    return Report("20260302T120000Z-abcd1234", "full", "completed_with_errors", at(0), at(20), [alice, bob, carol])


def verification() -> Report:
    counts = {"mail": {"source": 10, "destination": 10, "migrated": 8, "present": 0, "skipped": 1, "failed": 0,
                       "ambiguous": 0, "missing": 1, "extra": 1, "duplicate": 0}}  # fmt: skip
    log = [
        LogEntry("missing", "mail", "Inbox", '"Lost one", from a@contoso.com', "not on the destination; the next run copies it", at(1)),
        LogEntry("extra", "mail", "Inbox", '"Welcome", from it@example.org', "on the destination, but no source item of this folder accounts for it", at(1)),
    ]  # fmt: skip
    account = AccountReport(AccountPair("dave@contoso.com", "dave@example.org"), "completed_with_errors", counts, log, started=at(0), finished=at(2))
    return Report("20260302T130000Z-ffff0000", "verify", "completed_with_errors", at(0), at(2), [account], kind="verify")


def card(page: str, title: str) -> str:
    """The big number of the totals card titled ``title``."""
    found = re.search(rf"<div class='t'>{re.escape(title)}</div><div class='v'>([^<]*)</div>", page)
    assert found, title
    return found.group(1)


def test_a_self_contained_page_with_the_overview_first() -> None:
    page = migration().to_html()
    assert page.startswith("<!DOCTYPE html>") and "<meta name='viewport'" in page
    assert page.count("<script>") == 1 and page.count("<style>") == 1
    assert not re.search(r"""(src|href)\s*=\s*['"](?!#)""", page), "nothing may be loaded from elsewhere"
    assert "@import" not in page and "url(" not in page
    order = [page.index(marker) for marker in ("id='totals'", "Items by outcome", "id='accounts'", "id='reasons'", "id='details'")]
    assert order == sorted(order)
    assert "<svg" in page and "Accounts over time" in page
    assert "filterLog" in page and "id='account-filter'" in page and "@media print" in page


def test_totals_count_accounts_items_bytes_and_time() -> None:
    page = migration().to_html()
    assert card(page, "Accounts") == "3"
    assert "1 failed · 1 completed with errors · 1 completed" in page
    assert card(page, "Migrated") == "620" and card(page, "Already there") == "300"
    assert card(page, "Skipped") == "2" and card(page, "Failed") == "3" and card(page, "Outcome unknown") == "0"
    assert "6.0 MB · copied by this run" in page and "48.0 MB" in page
    assert card(page, "Duration") == "20.0 s"
    assert "46 items/s · 300.0 kB/s copied" in page  # 925 items, 6 MB in 20 s


def test_user_data_is_escaped_everywhere() -> None:
    report = migration()
    for text in (report.to_html(), report._repr_html_()):
        assert XSS not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "bob&lt;script&gt;" in text  # an address
    assert "no mailbox carol@contoso.com &lt;script&gt;" in report.to_html()  # an error


def test_the_log_is_grouped_by_kind_with_counts() -> None:
    page = migration().to_html()
    alice = page[page.index("id='acct-0'") : page.index("id='acct-1'")]
    groups = re.findall(r"<details class='group' data-kind='(\w+)'[^>]*?( open)?><summary>([^<]*) <span class='n'>([\d,]+)</span>", alice)
    assert [(kind, title.strip(), n) for kind, _, title, n in groups] == [
        ("failed", "Failed", "3"), ("skipped", "Skipped", "2"), ("duplicate", "Already on the destination", "300"),
        ("notice", "Notes", "1"),
    ]  # fmt: skip
    opened = {kind for kind, is_open, _, _ in groups if is_open}
    assert opened == {"failed"}  # problems open; 300 lines "already there" are one closed line
    duplicate = alice[alice.index("data-kind='duplicate'") :]
    assert duplicate.count("<li>", 0, duplicate.index("</details>")) == 300
    assert "&quot;Invoice #299&quot;, from a@contoso.com" in duplicate  # items named by their label
    assert "the destination refused the request: ErrorQuotaExceeded" in alice  # the reason, once per group
    assert alice.count("ErrorQuotaExceeded") == 1
    assert "Inbox/Projects" in alice


def test_reasons_are_summed_over_accounts() -> None:
    page = migration().to_html()
    reasons = page[page.index("id='reasons'") : page.index("id='details'")]
    assert "Why items were not copied" in reasons
    rows = re.findall(r"<tr><td[^>]*><span class='sw'></span>([^<]*)</td><td[^>]*>([^<]*)</td><td[^>]*>(\d+)</td>", reasons)
    assert rows[0][0] == "Account error" and rows[1] == ("Failed", "the destination refused the request: ErrorQuotaExceeded", "3")
    assert ("Skipped", "attachment over the 23 MB limit", "2") in rows
    assert "already on the destination" not in reasons


def test_the_accounts_table_sorts_by_values_not_text() -> None:
    page = migration().to_html()
    table = page[page.index("<table class='accounts cards'>") : page.index("</table>", page.index("<table class='accounts cards'>"))]
    assert table.count("<tr data-search=") == 3
    assert "data-type='num'" in table and "data-label='Failed' data-v='3' class='bad'" in table
    assert "data-label='Items' data-v='825'" in table and "data-label='Duration' data-v='10.000'" in table
    assert "no mailbox carol@contoso.com" in table  # why the account failed, in the table


def test_long_lists_are_cut_with_a_count() -> None:
    many = [LogEntry("skipped", "mail", "Inbox", f"item {n}", "too big", at(1)) for n in range(MAX_ITEMS_PER_REASON + 7)]
    account = AccountReport(AccountPair("a@x", "a@y"), "completed", {"mail": {"skipped": len(many)}}, many, started=at(0), finished=at(1))
    page = Report("r", "full", "completed", at(0), at(1), [account]).to_html()
    assert page.count("<li>") == MAX_ITEMS_PER_REASON and "… and 7 more" in page
    assert f"<span class='n'>{MAX_ITEMS_PER_REASON + 7:,}</span>" in page


def test_a_verify_report_shows_every_count_and_lists_missing_and_extra() -> None:
    page = verification().to_html()
    assert "Verification report" in page
    for title, value in (("In the source", "10"), ("On the destination", "10"), ("Accounted for", "9"), ("Missing", "1"),
                         ("Extra", "1"), ("Copied twice", "0")):  # fmt: skip
        assert card(page, title) == value, title
    head = page[page.index("<table class='accounts cards'>") :]
    head = head[: head.index("</thead>")]
    columns = re.findall(r"<button type='button'>([^<]*)</button>", head)
    assert columns == ["Account", "Status", "Source", "Destination", "Migrated", "Already there", "Skipped", "Failed",
                       "Unknown", "Missing", "Extra", "Copied twice"]  # fmt: skip
    details = page[page.index("id='details'") :]
    assert "Missing on the destination" in details and "&quot;Lost one&quot;, from a@contoso.com" in details
    assert "Extra on the destination" in details and "&quot;Welcome&quot;, from it@example.org" in details
    assert "What differs, and why" in page


def test_repr_html_is_the_styled_overview_without_script() -> None:
    fragment = migration()._repr_html_()
    assert fragment.startswith("<div class='gmr'><style>") and "<script" not in fragment
    assert "id='totals'" in fragment and "Why items were not copied" in fragment and "Items by outcome" in fragment
    assert "id='account-filter'" not in fragment  # no control that would need the script
    css = fragment[fragment.index("<style>") + 7 : fragment.index("</style>")]
    selectors = re.findall(r"([^{}]+)\{[^{}]*\}", re.sub(r"@media[^{]*\{", "", css))
    assert selectors and all(s.strip().startswith(".gmr") for rule in selectors for s in rule.split(",")), "styles scoped to the report"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sizes_and_times_come_from_the_state_file(tmp_path, kind, request) -> None:
    state = open_state(tmp_path / "s.db" if kind == "sqlite" else request.getfixturevalue("pg_url"))
    with state.writer():
        run = state.start_run("full", None, ["mail"])
        state.start_account(run, "a", "a@contoso.com", "a@example.org")
        state.commit_batch(
            run, "a",
            [ItemMapping("1", "d1", "mail", "F", size=1500), ItemMapping("2", "d2", "mail", "F", size=500),
             ItemMapping("3", "d3", "mail", "F", size=700, outcome="present"), ItemMapping("4", None, "mail", "F", size=90, outcome="skipped")],
            [LogEntry("skipped", "mail", "Inbox", "big", "too big")],
            {("mail", "migrated"): 2, ("mail", "duplicate"): 1, ("mail", "skipped"): 1},
        )  # fmt: skip
        state.finish_account(run, "a", "completed")
        state.finish_run(run, "completed")
    report = Report.from_state(state, run)
    account = report.accounts[0]
    assert account.sizes == {"migrated": 2000, "duplicate": 700, "skipped": 90, "failed": 0, "ambiguous": 0}
    assert account.started is not None and account.finished is not None and account.duration is not None
    data = json.loads(report.to_json())
    assert data["accounts"][0]["bytes"]["migrated"] == 2000 and data["accounts"][0]["started"]
    assert "2.0 kB" in report.to_html()
    state.close()


@pytest.mark.parametrize("status", ["running", "interrupted"])
def test_an_unfinished_run_renders(status: str) -> None:
    account = AccountReport(AccountPair("a@x", "a@y"), status, {"mail": {"migrated": 3}}, [], started=at(0))
    page = Report("r", "full", status, at(0), None, [account]).to_html()
    assert card(page, "Duration") == "–" and "finished –" in page
