"""Reports: what a run (or a verification) did, per account, built from the state store.

Because a report is read back from the state store, another process can produce it later
(``groupmigrate report migration.db``) and it equals the one the run returned.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable
from typing import Any

import attrs

from groupmigrate.accounts import AccountPair
from groupmigrate.items import ALL_ITEM_TYPES
from groupmigrate.core.state import LogEntry, RunRecord, StateStore

__all__ = ["OUTCOMES", "AccountReport", "LogEntry", "Report", "RunSummary", "list_runs"]

#: The per-item outcomes counted in a report: ``duplicate`` counts items already on the
#: destination (copied by an earlier run, or there before); ``ambiguous`` items were sent, their
#: answer was lost and the destination could not tell whether it holds them.
OUTCOMES = ("migrated", "duplicate", "skipped", "failed", "ambiguous")
#: The outcomes counted by verify, per folder: source = migrated + present + skipped + failed
#: + ambiguous + missing; ``extra`` destination items no source item accounts for;
#: ``duplicate`` copies this migration created more than once.
VERIFY_OUTCOMES = (
    "source", "destination", "migrated", "present", "skipped", "failed", "ambiguous", "missing", "extra", "duplicate",
)  # fmt: skip


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@attrs.frozen
class AccountReport:
    """One account pair's outcome.

    ``status`` is ``completed``, ``completed_with_errors`` (some items failed or stayed
    ambiguous), ``failed`` (the account could not be migrated, see ``error``), ``cancelled``,
    ``interrupted`` (the process was killed; run again to resume) or ``running``.
    ``counts[item_type][outcome]`` counts items.
    """

    pair: AccountPair
    status: str
    counts: dict[str, dict[str, int]]
    log: list[LogEntry]
    error: str | None = None

    def total(self, outcome: str) -> int:
        return sum(by_outcome.get(outcome, 0) for by_outcome in self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.pair.source,
            "destination": self.pair.destination,
            "status": self.status,
            "error": self.error,
            "counts": self.counts,
            "log": [
                {
                    "kind": e.kind, "item_type": e.item_type, "folder": e.folder, "item": e.item,
                    "message": e.message, "time": _iso(e.time),
                }
                for e in self.log
            ],
        }  # fmt: skip


@attrs.frozen
class Report:
    """The outcome of a run (``kind="migration"``) or of a verification (``kind="verify"``)."""

    run_id: str
    mode: str
    status: str
    started: dt.datetime | None
    finished: dt.datetime | None
    accounts: list[AccountReport]
    kind: str = "migration"

    @classmethod
    def from_state(cls, state: StateStore, run_id: str | None = None) -> Report:
        """Read the report of ``run_id`` back from a state store.

        Without ``run_id``: the latest migration run (a later verification does not hide it),
        or the latest run of any kind when no migration ran yet.
        """
        if run_id is None:
            latest = state.latest_run("migration") or state.latest_run(None)
            if latest is None:
                from groupmigrate.errors import StateError

                raise StateError("the state store holds no run yet")
            run_id = latest.run_id
        run = state.get_run(run_id)
        accounts = [
            AccountReport(
                pair=AccountPair(a.source, a.destination),
                status=a.status,
                counts=state.counts(run_id, a.pair_key),
                log=state.log(run_id, a.pair_key),
                error=a.error,
            )
            for a in state.accounts(run_id)
        ]
        return cls(run.run_id, run.mode, run.status, run.started, run.finished, accounts, run.kind)

    @property
    def ok(self) -> bool:
        """True when every account completed and nothing failed or is missing."""
        return all(a.status == "completed" for a in self.accounts)

    def totals(self) -> dict[str, int]:
        outcomes = VERIFY_OUTCOMES if self.kind == "verify" else OUTCOMES
        return {o: sum(a.total(o) for a in self.accounts) for o in outcomes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "kind": self.kind, "mode": self.mode, "status": self.status,
            "started": _iso(self.started), "finished": _iso(self.finished),
            "totals": self.totals(), "accounts": [a.to_dict() for a in self.accounts],
        }  # fmt: skip

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def summary(self) -> str:
        """A few plain-text lines: one per account with its counts."""
        outcomes = VERIFY_OUTCOMES if self.kind == "verify" else OUTCOMES
        lines = [f"{self.kind} {self.run_id} ({self.mode}): {self.status}"]
        for a in self.accounts:
            counts = ", ".join(f"{o} {a.total(o)}" for o in outcomes)
            lines.append(f"  {a.pair.source} -> {a.pair.destination}: {a.status}; {counts}")
            if a.error:
                lines.append(f"    error: {a.error}")
        return "\n".join(lines)

    def to_html(self) -> str:
        """A self-contained HTML page: status and counts per account, and the filterable log."""
        return _render_html(self)

    def _repr_html_(self) -> str:
        return _render_tables(self)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}.completed{color:#17692b}.failed,.completed_with_errors{color:#a31515}
.log td{text-align:left;font-size:.9em}
"""

_JS = """
function filterLog(kind){document.querySelectorAll('tr.entry').forEach(function(r){
r.style.display=(kind===''||r.dataset.kind===kind)?'':'none';});}
"""


def _cell(value: object) -> str:
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _render_tables(report: Report) -> str:
    outcomes = VERIFY_OUTCOMES if report.kind == "verify" else OUTCOMES
    parts = [
        f"<p>{html.escape(report.kind)} <code>{html.escape(report.run_id)}</code>, mode "
        f"{html.escape(report.mode)}: <b class='{html.escape(report.status)}'>{html.escape(report.status)}</b></p>"
    ]
    for acc in report.accounts:
        parts.append(
            f"<h3>{html.escape(acc.pair.source)} &rarr; {html.escape(acc.pair.destination)}: "
            f"<span class='{html.escape(acc.status)}'>{html.escape(acc.status)}</span></h3>"
        )
        if acc.error:
            parts.append(f"<p class='failed'>{html.escape(acc.error)}</p>")
        head = "".join(f"<th>{o}</th>" for o in outcomes)
        rows = []
        for item_type in _types(acc.counts):
            by = acc.counts.get(item_type, {})
            rows.append("<tr>" + _cell(item_type) + "".join(_cell(by.get(o, 0)) for o in outcomes) + "</tr>")
        rows.append("<tr><th>total</th>" + "".join(f"<th>{acc.total(o)}</th>" for o in outcomes) + "</tr>")
        parts.append(f"<table><tr><th>item type</th>{head}</tr>{''.join(rows)}</table>")
    return "\n".join(parts)


def _types(counts: dict[str, dict[str, int]]) -> Iterable[str]:
    known = [t for t in ALL_ITEM_TYPES if t in counts]
    return known + sorted(t for t in counts if t not in ALL_ITEM_TYPES)


def _render_html(report: Report) -> str:
    kinds = sorted({e.kind for a in report.accounts for e in a.log})
    options = "".join(f"<option value='{html.escape(k)}'>{html.escape(k)}</option>" for k in kinds)
    rows = []
    for acc in report.accounts:
        for e in acc.log:
            rows.append(
                f"<tr class='entry' data-kind='{html.escape(e.kind)}'>"
                + _cell(acc.pair.source) + _cell(e.kind) + _cell(e.item_type) + _cell(e.folder)
                + _cell(e.item) + _cell(e.message) + _cell(_iso(e.time)) + "</tr>"
            )  # fmt: skip
    log = (
        "<h2>Detailed log</h2><label>Show <select onchange='filterLog(this.value)'>"
        f"<option value=''>all</option>{options}</select></label>"
        "<table class='log'><tr><th>account</th><th>kind</th><th>item type</th><th>folder</th>"
        f"<th>item</th><th>message</th><th>time</th></tr>{''.join(rows)}</table>"
    )
    title = f"groupmigrate {html.escape(report.kind)} report {html.escape(report.run_id)}"
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style><script>{_JS}</script></head><body><h1>{title}</h1>"
        f"<p>started {html.escape(str(_iso(report.started)))}, finished {html.escape(str(_iso(report.finished)))}</p>"
        f"{_render_tables(report)}{log}</body></html>"
    )


# -- listing runs -------------------------------------------------------------------------------
def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


@attrs.frozen
class RunSummary:
    """One run of a state file in a listing: the run and how many accounts ended in which status."""

    run: RunRecord
    #: account status → number of accounts, e.g. ``{"completed": 2, "failed": 1}``
    accounts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        r = self.run
        return {
            "run_id": r.run_id, "kind": r.kind, "mode": r.mode, "status": r.status,
            "started": _iso(r.started), "finished": _iso(r.finished), "accounts": dict(self.accounts),
        }  # fmt: skip

    def line(self) -> str:
        """``run id  kind  mode  started  finished  status  accounts`` on one line (times in UTC)."""
        r = self.run
        total = sum(self.accounts.values())
        parts = ", ".join(f"{n} {status}" for status, n in self.accounts.items())
        accounts = f"{total} account{'' if total == 1 else 's'}" + (f" ({parts})" if parts else "")
        return (
            f"{r.run_id}  {r.kind:<9}  {r.mode:<6}  {_when(r.started)}  {_when(r.finished):<19}  "
            f"{r.status:<21}  {accounts}"
        )


def list_runs(state: StateStore, kind: str | None = None) -> list[RunSummary]:
    """Every run of the state store (only ``migration`` or ``verify`` runs with ``kind``), oldest first.

    A run whose process died shows as ``interrupted``, as do its unfinished accounts.
    """
    out = []
    for run in state.runs(kind):
        by_status: dict[str, int] = {}
        for account in state.accounts(run.run_id):
            by_status[account.status] = by_status.get(account.status, 0) + 1
        out.append(RunSummary(run, by_status))
    return out
