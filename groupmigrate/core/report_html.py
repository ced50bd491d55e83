"""The HTML report: one self-contained page, or a fragment for Jupyter.

Overview first (totals, items by outcome, the accounts over time, one sortable and
filterable table of accounts, the reasons items were not copied), then each account with its
counts per item type and its log grouped by kind and reason. Every value from the state file
is escaped: labels and messages are user data.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from groupmigrate.core.report_assets import (
    CSS, JS, OUTCOME_SHORT, OUTCOME_WORDS, STATUS_WORDS, e, fmt_bytes, fmt_duration, fmt_int, fmt_rate, fmt_time, kind_order, kind_words,
)  # fmt: skip
from groupmigrate.core.report_charts import outcome_bars, stacked_bar, timeline
from groupmigrate.items import ALL_ITEM_TYPES

if TYPE_CHECKING:
    from groupmigrate.core.report import AccountReport, Report
    from groupmigrate.core.state import LogEntry

__all__ = ["MAX_ITEMS_PER_REASON", "MAX_REASONS", "render_fragment", "render_page"]

#: items listed under one reason of one account; the rest are counted (the JSON report has all)
MAX_ITEMS_PER_REASON = 1000
#: rows of the overview's table of reasons
MAX_REASONS = 25
#: a problem group (failed, missing, ...) of at most this many lines starts open
_OPEN_UP_TO = 50
_MIGRATION = ("migrated", "duplicate", "skipped", "failed", "ambiguous")
_VERIFY_BAR = ("migrated", "present", "skipped", "failed", "ambiguous", "missing", "extra", "duplicate")
_REASON_KINDS = ("error", "failed", "ambiguous", "missing", "duplicated", "extra", "skipped")
_SEVERITY = ("failed", "interrupted", "cancelled", "completed_with_errors", "running", "completed")


def _words(kind: str, outcome: str) -> tuple[str, str, str]:
    """(css class, title, meaning) of an outcome; ``duplicate`` of a verification is a copy made twice."""
    if kind == "verify" and outcome == "duplicate":
        return "o-duplicated", "Copied twice", "copies this migration created more than once"
    title, meaning = OUTCOME_WORDS.get(outcome, (outcome, ""))
    return f"o-{outcome}", title, meaning


def _status(status: str) -> str:
    return f"<span class='badge st-{e(status)}'>{e(STATUS_WORDS.get(status, status))}</span>"


def render_page(report: Report) -> str:
    """The whole page: the fragment, its style and its script, nothing fetched."""
    title = f"groupmigrate {'verification' if report.kind == 'verify' else 'migration'} report {report.run_id}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)}</title><style>body{{margin:0}}{CSS}</style></head><body>"
        f"{render_fragment(report, interactive=True, style=False)}<script>{JS}</script></body></html>"
    )


def render_fragment(report: Report, *, interactive: bool, style: bool = True) -> str:
    """The report in one ``<div class="gmr">`` (all CSS is scoped to it), e.g. for Jupyter."""
    parts = [
        "<div class='gmr'>",
        f"<style>{CSS}</style>" if style else "",
        _header(report),
        _totals(report),
        _charts(report),
        _accounts(report, interactive),
        _reasons(report),
        _details(report, interactive),
        "</div>",
    ]
    return "".join(parts)


# -- overview -------------------------------------------------------------------------------------
def _header(report: Report) -> str:
    what = "Verification report" if report.kind == "verify" else "Migration report"
    mode = "" if report.kind == "verify" else f" · mode {e(report.mode)}"
    return (
        f"<header><div class='head'><h1>{what}</h1>{_status(report.status)}</div>"
        f"<p class='meta'>run <code>{e(report.run_id)}</code>{mode} · started {e(fmt_time(report.started))}"
        f" · finished {e(fmt_time(report.finished))}</p></header>"
    )


def _card(title: str, value: str, sub: str, color: str = "", zero: bool = False) -> str:
    style = f" style='--c:var(--{e(color)})'" if color else ""
    return (
        f"<div class='card{' zero' if zero else ''}'{style}><div class='t'>{e(title)}</div>"
        f"<div class='v'>{e(value)}</div><div class='s'>{sub}</div></div>"
    )


def _accounts_card(report: Report) -> str:
    by = Counter(a.status for a in report.accounts)
    worst = next((s for s in _SEVERITY if by.get(s)), "completed")
    sub = " · ".join(f"{n} {e(STATUS_WORDS.get(s, s).split(' (')[0].lower())}" for s, n in sorted(by.items(), key=lambda kv: _SEVERITY.index(kv[0]) if kv[0] in _SEVERITY else 9))
    color = {"completed": "migrated", "completed_with_errors": "failed", "failed": "failed"}.get(worst, "skipped")
    return _card("Accounts", fmt_int(len(report.accounts)), sub or "none", color)


def _totals(report: Report) -> str:
    totals = report.totals()
    cards = [_accounts_card(report)]
    if report.kind == "verify":
        accounted = sum(totals.get(o, 0) for o in ("migrated", "present", "skipped", "failed", "ambiguous"))
        cards += [
            _card("In the source", fmt_int(totals["source"]), "items listed in the source folders", "source"),
            _card("On the destination", fmt_int(totals["destination"]), "items in the matching folders", "destination"),
            _card("Accounted for", fmt_int(accounted), f"{fmt_int(totals['migrated'])} migrated · {fmt_int(totals['present'])} already there · "
                  f"{fmt_int(totals['skipped'] + totals['failed'] + totals['ambiguous'])} not copied, with reasons", "migrated"),  # fmt: skip
        ]
        for o in ("missing", "extra", "duplicate"):
            css, title, meaning = _words("verify", o)
            cards.append(_card(title, fmt_int(totals[o]), e(meaning), css[2:], zero=not totals[o]))
    else:
        sizes = report.size_totals() or {}
        for o in _MIGRATION:
            _, title, _ = _words("migration", o)
            sub = e(fmt_bytes(sizes[o])) + " · " + e(OUTCOME_SHORT[o]) if sizes.get(o) else e(OUTCOME_SHORT[o])
            cards.append(_card(title, fmt_int(totals[o]), sub, o, zero=not totals[o]))
        items = sum(totals.values())
        rate = fmt_rate(items, report.duration)
        if sizes.get("migrated"):
            rate += " · " + fmt_rate(sizes["migrated"], report.duration, "bytes") + " copied"
        cards.append(_card("Duration", fmt_duration(report.duration), e(rate), "source"))
    return f"<section id='totals' class='totals' aria-label='Totals'>{''.join(cards)}</section>"


def _charts(report: Report) -> str:
    totals = report.totals()
    if report.kind == "verify":
        rows = [(*_words("verify", o), totals.get(o, 0), None) for o in _VERIFY_BAR]
        bars = outcome_bars(rows, shares=False)
        caption = "Source items by what verify found"
    else:
        sizes = report.size_totals() or {}
        bars = outcome_bars([(*_words("migration", o), totals.get(o, 0), sizes.get(o)) for o in _MIGRATION])
        caption = "Items by outcome"
    return f"<section class='charts'><figure><figcaption>{caption}</figcaption>{bars}</figure>{timeline(report)}</section>"


def _th(label: str, kind: str) -> str:
    return f"<th data-type='{kind}' scope='col'><button type='button'>{e(label)}</button></th>"


def _num(label: str, n: int, bad: bool = False, shown: str | None = None) -> str:
    css = " class='zero'" if not n else (" class='bad'" if bad else "")
    return f"<td data-label='{e(label)}' data-v='{n}'{css}>{e(shown if shown is not None else fmt_int(n))}</td>"


def _columns(report: Report) -> list[tuple[str, str, bool]]:
    """(outcome, column title, shown in red when not zero) of the accounts table."""
    if report.kind == "verify":
        return [("source", "Source", False), ("destination", "Destination", False), ("migrated", "Migrated", False),
                ("present", "Already there", False), ("skipped", "Skipped", False), ("failed", "Failed", True),
                ("ambiguous", "Unknown", True), ("missing", "Missing", True), ("extra", "Extra", True),
                ("duplicate", "Copied twice", True)]  # fmt: skip
    columns = [("migrated", "Migrated", False), ("duplicate", "Already there", False), ("skipped", "Skipped", False),
               ("failed", "Failed", True)]  # fmt: skip
    if report.totals().get("ambiguous"):
        columns.append(("ambiguous", "Unknown", True))
    return columns


def _accounts(report: Report, interactive: bool) -> str:
    columns = _columns(report)
    migration = report.kind != "verify"
    head = _th("Account", "text") + _th("Status", "text") + (_th("Items", "num") if migration else "")
    head += "".join(_th(title, "num") for _, title, _ in columns)
    if migration:
        head += _th("Size", "num") + _th("Duration", "num") + _th("Items/s", "num")
    rows = []
    for index, a in enumerate(report.accounts):
        search = f"{a.pair.source} {a.pair.destination} {a.status} {STATUS_WORDS.get(a.status, '')}".lower()
        error = f"<span class='sub err'>{e(a.error)}</span>" if a.error else ""
        cells = [
            f"<td class='acc' data-v='{e(a.pair.source.lower())}'><a href='#acct-{index}'>{e(a.pair.source)}</a>"
            f"<span class='sub'>→ {e(a.pair.destination)}</span>{error}</td>",
            f"<td data-label='Status' data-v='{_SEVERITY.index(a.status) if a.status in _SEVERITY else 9}'>{_status(a.status)}</td>",
        ]
        if migration:
            items = sum(a.total(o) for o in _MIGRATION)
            counts = {o: a.total(o) for o in _MIGRATION}
            cells.append(f"<td data-label='Items' data-v='{items}'>{fmt_int(items)}{stacked_bar(counts, _MIGRATION)}</td>")
        cells += [_num(title, a.total(o), bad) for o, title, bad in columns]
        if migration:
            size = (a.sizes or {}).get("migrated", 0)
            cells.append(_num("Size", size, shown=fmt_bytes(size) if a.sizes is not None else "–"))
            seconds = a.duration
            cells.append(f"<td data-label='Duration' data-v='{seconds or 0:.3f}'>{e(fmt_duration(seconds))}</td>")
            rate = (items / seconds) if seconds else 0
            cells.append(f"<td data-label='Items/s' data-v='{rate:.3f}'>{e(fmt_rate(items, seconds).replace(' items/s', ''))}</td>")
        rows.append(f"<tr data-search='{e(search)}'>{''.join(cells)}</tr>")
    controls = ""
    if interactive:
        controls = (
            "<div class='controls'><label>Filter accounts "
            "<input type='search' id='account-filter' placeholder='address or status' autocomplete='off'></label>"
            f"<span id='account-count' class='hint'>{len(report.accounts)} accounts</span></div>"
        )
    return (
        f"<section id='accounts'><h2>Accounts</h2>{controls}<div class='scroll'>"
        f"<table class='accounts cards'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _reasons(report: Report) -> str:
    """The reasons items were not copied (or differ), over all accounts, most frequent first."""
    found: Counter[tuple[str, str]] = Counter()
    accounts: dict[tuple[str, str], set[str]] = {}
    for a in report.accounts:
        for x in a.log:
            if x.kind in _REASON_KINDS:
                found[(x.kind, x.message)] += 1
                accounts.setdefault((x.kind, x.message), set()).add(a.pair.key)
    if not found:
        return ""
    ranked = sorted(found.items(), key=lambda kv: (kind_order(kv[0][0]), -kv[1]))
    rows = []
    for (kind, message), n in ranked[:MAX_REASONS]:
        title = kind_words(kind)[0]
        rows.append(
            f"<tr><td data-label='What' style='--c:var(--{e(kind)})'><span class='sw'></span>{e(title)}</td>"
            f"<td data-label='Reason' style='text-align:left'>{e(message)}</td>"
            f"<td data-label='Lines' class='num'>{fmt_int(n)}</td>"
            f"<td data-label='Accounts' class='num'>{len(accounts[(kind, message)])}</td></tr>"
        )
    more = len(ranked) - MAX_REASONS
    note = f"<p class='note'>… and {more} more reasons, listed per account below.</p>" if more > 0 else ""
    title = "What differs, and why" if report.kind == "verify" else "Why items were not copied"
    return (
        f"<section id='reasons'><h2>{title}</h2><div class='scroll'><table class='reasons cards'><thead><tr>"
        "<th scope='col'>What</th><th scope='col' style='text-align:left'>Reason</th><th scope='col'>Lines</th>"
        f"<th scope='col'>Accounts</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>{note}</section>"
    )


# -- per account ----------------------------------------------------------------------------------
def _details(report: Report, interactive: bool) -> str:
    kinds = sorted({x.kind for a in report.accounts for x in a.log}, key=kind_order)
    controls = ""
    if interactive and kinds:
        options = "".join(f"<option value='{e(k)}'>{e(kind_words(k)[0])}</option>" for k in kinds)
        controls = (
            "<div class='controls'><label>Show <select id='kind-filter' onchange='filterLog(this.value)'>"
            f"<option value=''>every kind of line</option>{options}</select></label></div>"
        )
    sections = "".join(_account(report, index, a) for index, a in enumerate(report.accounts))
    return f"<section id='details'><h2>Per account</h2>{controls}{sections}</section>"


def _types(counts: dict[str, dict[str, int]]) -> list[str]:
    known = [t for t in ALL_ITEM_TYPES if t in counts]
    return known + sorted(t for t in counts if t not in ALL_ITEM_TYPES)


def _account(report: Report, index: int, a: AccountReport) -> str:
    search = f"{a.pair.source} {a.pair.destination} {a.status} {STATUS_WORDS.get(a.status, '')}".lower()
    facts = [f"started {e(fmt_time(a.started))}", f"took {e(fmt_duration(a.duration))}"]
    if report.kind != "verify":
        items = sum(a.total(o) for o in _MIGRATION)
        facts.append(e(fmt_rate(items, a.duration)))
        if a.sizes is not None:
            facts.append(f"{e(fmt_bytes(a.sizes.get('migrated', 0)))} copied")
    error = f"<p class='err'>Could not be {'verified' if report.kind == 'verify' else 'migrated'}: {e(a.error)}</p>" if a.error else ""
    table = _type_table(report, a)
    by_kind: dict[str, list[LogEntry]] = {}
    for x in a.log:
        by_kind.setdefault(x.kind, []).append(x)
    groups = "".join(_group(k, by_kind[k]) for k in sorted(by_kind, key=kind_order))
    if not groups:
        groups = "<p class='note'>Nothing to report: no item needed a remark.</p>"
    return (
        f"<section class='acct' id='acct-{index}' data-search='{e(search)}'>"
        f"<h3>{e(a.pair.source)} → {e(a.pair.destination)} {_status(a.status)}</h3>"
        f"<p class='meta'>{' · '.join(facts)}</p>{error}{table}{groups}</section>"
    )


def _type_table(report: Report, a: AccountReport) -> str:
    if not a.counts:
        return ""
    outcomes = [o for o in report.outcomes if report.kind == "verify" or o != "ambiguous" or a.total(o)]
    head = "".join(f"<th scope='col'>{e(_words(report.kind, o)[1])}</th>" for o in outcomes)
    rows = []
    for t in _types(a.counts):
        cells = "".join(_num(_words(report.kind, o)[1], a.counts[t].get(o, 0)) for o in outcomes)
        rows.append(f"<tr><td data-label='Item type'>{e(t)}</td>{cells}</tr>")
    if len(rows) > 1:
        total = "".join(f"<th>{fmt_int(a.total(o))}</th>" for o in outcomes)
        rows.append(f"<tr><th scope='row'>total</th>{total}</tr>")
    return f"<div class='scroll'><table class='types'><thead><tr><th scope='col'>Item type</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def _group(kind: str, entries: Sequence[LogEntry]) -> str:
    """The lines of one kind: one collapsible group with its count, reasons inside, items by label."""
    title, hint, problem = kind_words(kind)
    by_reason: dict[str, list[LogEntry]] = {}
    for x in entries:
        by_reason.setdefault(x.message, []).append(x)
    reasons = sorted(by_reason.items(), key=lambda kv: -len(kv[1]))
    opened = problem and len(entries) <= _OPEN_UP_TO
    body: list[str] = []
    singles: list[LogEntry] = []
    for message, xs in reasons:
        labelled = [x for x in xs if x.item]
        if len(reasons) == 1:
            body.append(f"<p class='why'>{e(message)}</p>{_items(labelled)}")
        elif len(xs) == 1:
            singles.append(xs[0])
        elif not labelled:
            body.append(f"<p class='why'>{e(message)} <span class='n'>{len(xs)}</span></p>")
        else:
            body.append(
                f"<details class='reason'{' open' if opened and len(xs) <= 20 else ''}><summary>{e(message)} "
                f"<span class='n'>{fmt_int(len(xs))}</span></summary>{_items(labelled)}</details>"
            )
    if singles:
        body.append(_items(singles, reasons=True))
    return (
        f"<details class='group' data-kind='{e(kind)}' style='--c:var(--{e(kind)})'{' open' if opened else ''}>"
        f"<summary>{e(title)} <span class='n'>{fmt_int(len(entries))}</span> <span class='hint'>{e(hint)}</span></summary>"
        f"{''.join(body)}</details>"
    )


def _items(entries: Sequence[LogEntry], reasons: bool = False) -> str:
    if not entries:
        return ""
    lines = []
    for x in entries[:MAX_ITEMS_PER_REASON]:
        where = " · ".join(e(p) for p in (x.item_type, x.folder) if p)
        why = f"<span class='why'>{e(x.message)}</span>" if reasons else ""
        label = e(x.item) if x.item else e(x.message if not reasons else "")
        lines.append(
            f"<li><span class='label'>{label}</span> <span class='where'>{where}</span> "
            f"<time datetime='{e(x.time.isoformat())}'>{e(x.time.astimezone(dt.timezone.utc).strftime('%H:%M:%S'))}</time>{why}</li>"
        )
    more = len(entries) - MAX_ITEMS_PER_REASON
    if more > 0:
        lines.append(f"<li class='hint'>… and {fmt_int(more)} more (the JSON report lists them all)</li>")
    return f"<ul class='items'>{''.join(lines)}</ul>"
