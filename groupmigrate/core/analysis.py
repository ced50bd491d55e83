"""Before a run: check that every account can be opened, and count what each holds.

Both only read: nothing is written to either side, and the state file is not touched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import attrs

from groupmigrate.accounts import AccountPair
from groupmigrate.core.combined import RouteCapabilities, for_kind
from groupmigrate.core.mappers import format_size
from groupmigrate.errors import GroupmigrateError
from groupmigrate.items import ALL_ITEM_TYPES, ItemType
from groupmigrate.protocols import Destination, Source, SupportsQuota

__all__ = ["AccountAnalysis", "Analysis", "CheckResult", "analyze", "check"]


@attrs.frozen
class CheckResult:
    """Whether one side of one account pair can be used, and why not."""

    pair: AccountPair
    side: str
    ok: bool
    message: str


@attrs.frozen
class AccountAnalysis:
    pair: AccountPair
    items: dict[str, int]
    bytes: dict[str, int]
    destination_free: int | None
    error: str | None = None
    #: items larger than the destination takes, per item type: they will be skipped and logged
    over_limit: dict[str, int] = attrs.field(factory=dict)


@attrs.frozen
class Analysis:
    accounts: list[AccountAnalysis]

    @property
    def total_items(self) -> int:
        return sum(sum(a.items.values()) for a in self.accounts)

    @property
    def total_bytes(self) -> int:
        return sum(sum(a.bytes.values()) for a in self.accounts)

    @property
    def total_over_limit(self) -> int:
        return sum(sum(a.over_limit.values()) for a in self.accounts)

    def summary(self) -> str:
        failed = sum(1 for a in self.accounts if a.error)
        lines = []
        for a in self.accounts:
            per_type = ", ".join(f"{t} {a.items.get(t, 0)}" for t in ALL_ITEM_TYPES if t in a.items)
            free = "unknown" if a.destination_free is None else format_size(a.destination_free)
            line = f"  {a.pair.source}: {per_type}; destination free: {free}"
            if a.over_limit:
                over = ", ".join(f"{n} {t}" for t, n in sorted(a.over_limit.items()))
                line += f"; over the destination's size limit (will be skipped): {over}"
            lines.append(line + (f"; error: {a.error}" if a.error else ""))
        total = (f"total: {len(self.accounts)} account(s), {self.total_items} items, {format_size(self.total_bytes)}"
                 + (f", {self.total_over_limit} over the destination's size limit" if self.total_over_limit else "")
                 + (f"; {failed} account(s) could not be analysed" if failed else ""))  # fmt: skip
        return "\n".join([*lines, total])


def check(source: Source, destination: Destination, pairs: Sequence[AccountPair], workers: int) -> list[CheckResult]:
    """Try to open every account on both sides; one result per pair and side."""

    def check_pair(pair: AccountPair) -> list[CheckResult]:
        results = []
        for side, endpoint, address, auth in (
            ("source", source, pair.source, pair.source_auth),
            ("destination", destination, pair.destination, pair.destination_auth),
        ):
            try:
                mailbox = endpoint.open_mailbox(address, auth)
                try:
                    mailbox.check()
                finally:
                    mailbox.close()
                can = "read" if side == "source" else "written"
                results.append(CheckResult(pair, side, True, f"{address}: the mailbox can be {can}"))
            except GroupmigrateError as exc:
                results.append(CheckResult(pair, side, False, f"{address}: {exc}"))
        return results

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [r for rs in pool.map(check_pair, pairs) for r in rs]


def analyze(
    source: Source,
    destination: Destination,
    pairs: Sequence[AccountPair],
    *,
    workers: int,
    item_types: Sequence[ItemType],
    since: dt.datetime | None,
    caps: RouteCapabilities | None = None,
) -> Analysis:
    """Count items and bytes per account and item type, the items over the destination's size
    limit (from the route's capabilities), and the destination's free space."""

    def analyze_pair(pair: AccountPair) -> AccountAnalysis:
        items: dict[str, int] = {}
        sizes: dict[str, int] = {}
        over: dict[str, int] = {}
        try:
            src = source.open_mailbox(pair.source, pair.source_auth)
            try:
                for folder in src.folders():
                    if folder.kind not in item_types:
                        continue
                    route = for_kind(caps, folder.kind) if caps is not None else None
                    # items of a type the route does not carry are skipped as such, whatever their size
                    limit = route.max_item_size if route is not None and folder.kind in route.item_types else None
                    for ref in src.list_items(folder, since):
                        items[folder.kind] = items.get(folder.kind, 0) + 1
                        sizes[folder.kind] = sizes.get(folder.kind, 0) + ref.size
                        if limit is not None and ref.size > limit:
                            over[folder.kind] = over.get(folder.kind, 0) + 1
            finally:
                src.close()
            dst = destination.open_mailbox(pair.destination, pair.destination_auth)
            try:
                free = dst.free_space() if isinstance(dst, SupportsQuota) else None
            finally:
                dst.close()
        except GroupmigrateError as exc:
            return AccountAnalysis(pair, items, sizes, None, error=str(exc), over_limit=over)
        return AccountAnalysis(pair, items, sizes, free, over_limit=over)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return Analysis(list(pool.map(analyze_pair, pairs)))
