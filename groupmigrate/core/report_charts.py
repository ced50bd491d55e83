"""Inline SVG charts of the HTML report: items by outcome, a stacked mini bar, the timeline.

Every chart is plain markup (no script, no external resource); labels and numbers are HTML
next to the SVG, so they stay readable at any width.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from groupmigrate.core.report_assets import e, fmt_bytes, fmt_duration, fmt_int, fmt_rate, kind_words

if TYPE_CHECKING:
    from groupmigrate.core.report import AccountReport, Report
    from groupmigrate.core.state import LogEntry

__all__ = ["MAX_TIMELINE_ACCOUNTS", "outcome_bars", "stacked_bar", "timeline"]

#: accounts drawn on the timeline (the first ones to start); the table lists them all
MAX_TIMELINE_ACCOUNTS = 40
#: log kinds drawn as ticks on the timeline, in drawing order (the last on top)
_TICK_KINDS = ("notice", "changed", "dropped", "repaired", "recovered", "duplicate", "skipped", "ambiguous", "failed", "error")


def outcome_bars(rows: Sequence[tuple[str, str, str, int, int | None]], shares: bool = True) -> str:
    """One bar per ``(css class, title, meaning, count, bytes)`` row, as long as its share of the
    largest; count, share of the whole and bytes beside it."""
    top = max([n for *_, n, _ in rows] + [1])
    whole = sum(n for *_, n, _ in rows) or 1
    out = []
    for css, title, meaning, n, size in rows:
        share = f" <span class='hint'>{100 * n / whole:.0f}%</span>" if shares else ""
        size_text = f" <span class='hint'>{e(fmt_bytes(size))}</span>" if size else ""
        out.append(
            f"<span title='{e(meaning)}'>{e(title)}</span>"
            f"<svg viewBox='0 0 100 10' preserveAspectRatio='none' role='img' aria-label='{e(title)}: {n}'>"
            f"<rect class='track' width='100' height='10'/><rect class='{e(css)}' width='{100 * n / top:.2f}' height='10'/></svg>"
            f"<span class='num'>{fmt_int(n)}{share}{size_text}</span>"
        )
    return f"<div class='bars'>{''.join(out)}</div>"


def stacked_bar(counts: dict[str, int], outcomes: Sequence[str], css: str = "mini") -> str:
    """A thin bar split by outcome (a glance at one account's result)."""
    total = sum(counts.get(o, 0) for o in outcomes)
    if not total:
        return ""
    x = 0.0
    parts = []
    for o in outcomes:
        n = counts.get(o, 0)
        if n:
            w = 100 * n / total
            parts.append(f"<rect class='o-{e(o)}' x='{x:.2f}' width='{w:.2f}' height='10'><title>{e(o)} {n}</title></rect>")
            x += w
    return f"<svg class='{e(css)}' viewBox='0 0 100 10' preserveAspectRatio='none' aria-hidden='true'>{''.join(parts)}</svg>"


def _seconds(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds()


def timeline(report: Report) -> str:
    """Each account's span from start to finish on the run's clock, with a tick where items were logged.

    The state file gives every log entry a time, and each account its start and finish; an
    item migrated without any remark has no time of its own, so the ticks show when items
    were skipped, failed, found already there or changed, and the spans when accounts worked.
    """
    accounts = [a for a in report.accounts if a.started is not None]
    if not accounts or report.started is None:
        return ""
    start = min([report.started, *(a.started for a in accounts if a.started)])
    ends = [report.finished, *(a.finished for a in accounts), *(x.time for a in accounts for x in a.log)]
    end = max([start, *(t for t in ends if t is not None)])
    span = max(_seconds(start, end), 1e-3)
    accounts.sort(key=lambda a: a.started or start)
    rows = [_timeline_row(a, start, span, end) for a in accounts[:MAX_TIMELINE_ACCOUNTS]]
    more = len(accounts) - MAX_TIMELINE_ACCOUNTS
    if more > 0:
        rows.append(f"<p class='note'>… and {more} more accounts (see the table).</p>")
    axis = "".join(f"<span>{e(fmt_duration(span * f))}</span>" for f in (0, 0.25, 0.5, 0.75, 1))
    shown = sorted({x.kind for a in accounts for x in a.log if _ticked(x)}, key=_TICK_KINDS.index)
    legend = "".join(f"<span><span class='sw' style='--c:var(--{e(k)})'></span>{e(kind_words(k)[0])}</span>" for k in shown)
    return (
        "<figure class='timeline'><figcaption>Accounts over time</figcaption>"
        f"{''.join(rows)}<div class='tl-axis' aria-hidden='true'>{axis}</div>"
        f"<div class='legend'><span><span class='sw' style='--c:#cfe3d0'></span>account at work</span>{legend}</div>"
        "<p class='note'>Ticks mark items logged at that moment (skipped, failed, already there, changed); "
        "items copied without a remark are counted, not timed.</p></figure>"
    )


def _ticked(entry: LogEntry) -> bool:
    """Whether a log line is drawn: lines about items, and an account's error."""
    return entry.kind == "error" or (entry.kind in _TICK_KINDS and entry.item_type is not None)


def _timeline_row(a: AccountReport, start: dt.datetime, span: float, end: dt.datetime) -> str:
    assert a.started is not None
    x0 = 1000 * _seconds(start, a.started) / span
    x1 = 1000 * _seconds(start, a.finished or end) / span
    ticks: dict[tuple[str, int], None] = {}  # one tick per kind and pixel column is enough
    for entry in a.log:
        if _ticked(entry):
            ticks[(entry.kind, round(1000 * _seconds(start, entry.time) / span))] = None
    lines = "".join(
        f"<line class='k-{e(k)}' x1='{x}' x2='{x}' y1='2' y2='14'/>"
        for k, x in sorted(ticks, key=lambda t: _TICK_KINDS.index(t[0]) if t[0] in _TICK_KINDS else 0)
    )
    seconds = a.duration
    if "source" in (o for by in a.counts.values() for o in by):  # a verification: the source items checked
        items, done = a.total("source"), "checked"
    else:
        items, done = sum(a.total(o) for o in ("migrated", "duplicate", "skipped", "failed", "ambiguous")), "processed"
    label = f"{a.pair.source} · {fmt_int(items)} items {done} in {fmt_duration(seconds)} · {fmt_rate(items, seconds)}"
    if a.error:
        label = f"{a.pair.source} · failed after {fmt_duration(seconds)}: {a.error}"
    return (
        f"<div class='tl-row'><div class='tl-label'>{e(label)}</div>"
        f"<svg viewBox='0 0 1000 16' preserveAspectRatio='none' role='img' aria-label='{e(label)}'>"
        f"<rect class='track' width='1000' height='16'/>"
        f"<rect class='span st-{e(a.status)}' x='{x0:.1f}' width='{max(x1 - x0, 2):.1f}' height='16'/>{lines}</svg></div>"
    )
