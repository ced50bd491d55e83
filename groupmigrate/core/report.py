"""Reports: what a run (or a verification) did, per account, built from the state store.

Because a report is read back from the state store, another process can produce it later
(``groupmigrate report migration.db``) and it equals the one the run returned.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs

from groupmigrate.accounts import AccountPair
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


def _seconds(started: dt.datetime | None, finished: dt.datetime | None) -> float | None:
    if started is None or finished is None:
        return None
    return max((finished - started).total_seconds(), 0.0)


@attrs.frozen
class AccountReport:
    """One account pair's outcome.

    ``status`` is ``completed``, ``completed_with_errors`` (some items failed or stayed
    ambiguous), ``failed`` (the account could not be migrated, see ``error``), ``cancelled``,
    ``interrupted`` (the process was killed; run again to resume) or ``running``.
    ``counts[item_type][outcome]`` counts items. ``sizes[outcome]`` sums the sizes in bytes
    of the items whose latest outcome this run recorded (items an earlier run had already
    migrated are counted as ``duplicate`` but not sized); ``None`` when the state store
    cannot tell.
    """

    pair: AccountPair
    status: str
    counts: dict[str, dict[str, int]]
    log: list[LogEntry]
    error: str | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    sizes: dict[str, int] | None = None

    def total(self, outcome: str) -> int:
        return sum(by_outcome.get(outcome, 0) for by_outcome in self.counts.values())

    @property
    def duration(self) -> float | None:
        """Seconds from the account's start to its finish (``None`` while unfinished)."""
        return _seconds(self.started, self.finished)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.pair.source,
            "destination": self.pair.destination,
            "status": self.status,
            "error": self.error,
            "started": _iso(self.started), "finished": _iso(self.finished),
            "counts": self.counts, "bytes": self.sizes,
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
                started=a.started,
                finished=a.finished,
                sizes=_sizes(state, run_id, a.pair_key) if run.kind == "migration" else None,
            )
            for a in state.accounts(run_id)
        ]
        return cls(run.run_id, run.mode, run.status, run.started, run.finished, accounts, run.kind)

    @property
    def ok(self) -> bool:
        """True when every account completed and nothing failed or is missing."""
        return all(a.status == "completed" for a in self.accounts)

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes this report counts: :data:`OUTCOMES` or, for a verification, :data:`VERIFY_OUTCOMES`."""
        return VERIFY_OUTCOMES if self.kind == "verify" else OUTCOMES

    def totals(self) -> dict[str, int]:
        return {o: sum(a.total(o) for a in self.accounts) for o in self.outcomes}

    def size_totals(self) -> dict[str, int] | None:
        """Bytes per outcome over all accounts (see :attr:`AccountReport.sizes`); ``None`` when unknown."""
        known = [a.sizes for a in self.accounts if a.sizes is not None]
        if not known:
            return None
        return {o: sum(s.get(o, 0) for s in known) for o in OUTCOMES}

    @property
    def duration(self) -> float | None:
        """Seconds from the run's start to its finish (``None`` while it runs)."""
        return _seconds(self.started, self.finished)

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
        """One self-contained HTML page (inline CSS, JavaScript and SVG; nothing loaded from the
        network): totals, charts, a sortable and filterable table of accounts, the reasons items
        were not copied, and each account's log grouped by kind."""
        from groupmigrate.core.report_html import render_page

        return render_page(self)

    def _repr_html_(self) -> str:
        """The same overview for Jupyter: styled, with totals, accounts and reasons (no script)."""
        from groupmigrate.core.report_html import render_fragment

        return render_fragment(self, interactive=False)


#: the id map's outcome names, as a report counts them
_REPORT_OUTCOME = {"present": "duplicate"}


def _sizes(state: StateStore, run_id: str, pair_key: str) -> dict[str, int] | None:
    """Bytes per report outcome of the id map rows this run wrote last (None: the store cannot say)."""
    sizes = getattr(state, "sizes", None)
    if sizes is None:
        return None
    out = dict.fromkeys(OUTCOMES, 0)
    for outcome, size in sizes(run_id, pair_key).items():
        key = _REPORT_OUTCOME.get(outcome, outcome)
        out[key] = out.get(key, 0) + int(size)
    return out


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
