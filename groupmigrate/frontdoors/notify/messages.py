"""The texts of the notification mails: plain text and HTML bodies of each announcement."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Mapping, Sequence

from groupmigrate.accounts import AccountPair
from groupmigrate.frontdoors.notify.protocol import AccountReportLike, ReportLike, RunInfo
from groupmigrate.items import ALL_ITEM_TYPES

__all__ = ["plural", "report_html", "report_text", "run_mail_html", "run_mail_text", "status_summary"]

_OUTCOMES = ("migrated", "duplicate", "skipped", "failed")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def status_summary(report: ReportLike) -> str:
    statuses: dict[str, int] = {}
    for account in report.accounts:
        statuses[account.status] = statuses.get(account.status, 0) + 1
    if not statuses:
        return "no accounts"
    return ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in statuses.items())


def _run_facts(run_info: RunInfo) -> list[tuple[str, str]]:
    facts = [("Run", run_info.run_id)] if run_info.run_id else []
    facts += [("Mode", run_info.mode), ("Item types", ", ".join(run_info.item_types))]
    if run_info.since:
        facts.append(("Since", run_info.since.isoformat()))
    if run_info.source:
        facts.append(("Source", run_info.source))
    if run_info.destination:
        facts.append(("Destination", run_info.destination))
    return facts


def run_mail_text(intro: str, pairs: Sequence[AccountPair], run_info: RunInfo) -> str:
    lines = [intro, ""]
    lines += [f"{label}: {value}" for label, value in _run_facts(run_info)]
    lines += ["", "Accounts:"]
    lines += [f"  {pair.source} -> {pair.destination}" for pair in pairs]
    return "\n".join(lines) + "\n"


def run_mail_html(intro: str, pairs: Sequence[AccountPair], run_info: RunInfo) -> str:
    facts = "".join(f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>" for label, value in _run_facts(run_info))
    rows = "".join(f"<tr><td>{_e(p.source)}</td><td>{_e(p.destination)}</td></tr>" for p in pairs)
    body = (
        f"<p>{_e(intro)}</p><table>{facts}</table>"
        f"<h3>Accounts</h3><table><tr><th>Source</th><th>Destination</th></tr>{rows}</table>"
    )
    return _html_page(body)


def _item_types(counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    known = [t for t in ALL_ITEM_TYPES if t in counts]
    return known + sorted(t for t in counts if t not in ALL_ITEM_TYPES)


def _count_line(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{outcome} {counts.get(outcome, 0)}" for outcome in _OUTCOMES)


def _times(report: ReportLike) -> str:
    started = report.started.isoformat(timespec="seconds") if report.started else "-"
    finished = report.finished.isoformat(timespec="seconds") if report.finished else "-"
    return f"Started: {started}, finished: {finished}"


def _location_text(report_location: str | None) -> str:
    return f"Full report: {report_location}" if report_location else "No report file was written."


def report_text(report: ReportLike, report_location: str | None) -> str:
    lines = [
        f"The migration finished: {status_summary(report)}.",
        "",
        f"Run: {report.run_id} (mode {report.mode})",
        _times(report),
        f"Totals: {_count_line(report.totals())}",
        "",
    ]
    for account in report.accounts:
        lines.append(f"{account.pair.source} -> {account.pair.destination}: {account.status}")
        error = getattr(account, "error", None)
        if error:
            lines.append(f"  error: {error}")
        lines += [f"  {t}: {_count_line(account.counts[t])}" for t in _item_types(account.counts)]
    lines += ["", _location_text(report_location)]
    return "\n".join(lines) + "\n"


def report_html(report: ReportLike, report_location: str | None) -> str:
    parts = [
        f"<p>The migration finished: <b>{_e(status_summary(report))}</b>.</p>",
        f"<p>Run <code>{_e(report.run_id)}</code> (mode {_e(report.mode)})<br>{_e(_times(report))}<br>"
        f"Totals: {_e(_count_line(report.totals()))}</p>",
    ]
    parts += [_account_html(account) for account in report.accounts]
    parts.append(f"<p>{_location_html(report_location)}</p>")
    return _html_page("\n".join(parts))


def _account_html(account: AccountReportLike) -> str:
    head = "".join(f"<th>{o}</th>" for o in _OUTCOMES)
    rows = "".join(
        f"<tr><td>{_e(t)}</td>" + "".join(f"<td>{account.counts[t].get(o, 0)}</td>" for o in _OUTCOMES) + "</tr>"
        for t in _item_types(account.counts)
    )
    error = getattr(account, "error", None)
    error_html = f"<p>error: {_e(error)}</p>" if error else ""
    return (
        f"<h3>{_e(account.pair.source)} &rarr; {_e(account.pair.destination)}: {_e(account.status)}</h3>"
        f"{error_html}<table><tr><th>item type</th>{head}</tr>{rows}</table>"
    )


def _location_html(report_location: str | None) -> str:
    if not report_location:
        return "No report file was written."
    if urllib.parse.urlsplit(report_location).scheme in ("http", "https"):
        return f'Full report: <a href="{_e(report_location)}">{_e(report_location)}</a>'
    return f"Full report: <code>{_e(report_location)}</code>"


def _html_page(body: str) -> str:
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head><body>{body}</body></html>"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
