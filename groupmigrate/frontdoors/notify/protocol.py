"""What a notifier is: the run info it is given, the report it reads, and how all are called."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from groupmigrate.accounts import AccountPair
from groupmigrate.items import ALL_ITEM_TYPES

__all__ = ["AccountReportLike", "Notifier", "ReportLike", "RunInfo", "logger", "notify_all"]

#: The logger of every notifier, named after the package rather than its modules.
logger = logging.getLogger("groupmigrate.frontdoors.notify")

_METHODS = ("submitted", "started", "finished")


@attrs.frozen
class RunInfo:
    """What a submission or start notification says about the run.

    Notifiers also accept a plain mapping with these keys (others are ignored).

    Args:
        run_id: The run's identifier in the state store, when it is known already.
        mode: ``full``, ``trial`` or ``delta``.
        item_types: The item types being migrated.
        since: In ``full`` mode, the earliest time migrated (None: everything).
        source: A description of the source (e.g. its URL), shown to the reader.
        destination: A description of the destination.
    """

    run_id: str | None = None
    mode: str = "full"
    item_types: tuple[str, ...] = ALL_ITEM_TYPES
    since: dt.datetime | None = None
    source: str | None = None
    destination: str | None = None

    @classmethod
    def of(cls, value: RunInfo | Mapping[str, Any]) -> RunInfo:
        """``value`` itself, or a RunInfo made from a mapping's known keys."""
        if isinstance(value, RunInfo):
            return value
        known = {field.name for field in attrs.fields(cls)}
        fields = {key: item for key, item in value.items() if key in known}
        if "item_types" in fields:
            fields["item_types"] = tuple(fields["item_types"])
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """The run info as JSON-ready data."""
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "item_types": list(self.item_types),
            "since": self.since.isoformat() if self.since else None,
            "source": self.source,
            "destination": self.destination,
        }


class AccountReportLike(Protocol):
    """The part of :class:`groupmigrate.core.report.AccountReport` a notifier reads."""

    @property
    def pair(self) -> AccountPair: ...

    @property
    def status(self) -> str: ...

    @property
    def counts(self) -> Mapping[str, Mapping[str, int]]: ...


class ReportLike(Protocol):
    """The part of :class:`groupmigrate.core.report.Report` a notifier reads."""

    @property
    def run_id(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def started(self) -> dt.datetime | None: ...

    @property
    def finished(self) -> dt.datetime | None: ...

    @property
    def accounts(self) -> Sequence[AccountReportLike]: ...

    def totals(self) -> Mapping[str, int]: ...

    def to_json(self) -> str: ...


@runtime_checkable
class Notifier(Protocol):
    """Receives the three announcements of a migration.

    Implementations may raise on failure; :func:`notify_all` contains the damage.
    """

    def submitted(self, pairs: Sequence[AccountPair], *, run_info: RunInfo) -> None:
        """The account list was accepted; the migration will start."""

    def started(self, pairs: Sequence[AccountPair], *, run_info: RunInfo) -> None:
        """The migration started."""

    def finished(self, report: ReportLike, *, report_location: str | None) -> None:
        """The migration ended; ``report_location`` is the report's path or URL, if any."""


def notify_all(
    notifiers: Iterable[Notifier],
    method: Literal["submitted", "started", "finished"],
    *args: Any,
    **kwargs: Any,
) -> list[tuple[Notifier, Exception]]:
    """Call ``method`` on every notifier; log failures instead of raising them.

    Args:
        notifiers: The notifiers to call, in order.
        method: ``"submitted"``, ``"started"`` or ``"finished"``.
        *args: Passed on to the method.
        **kwargs: Passed on to the method; a ``run_info`` mapping becomes a :class:`RunInfo`.

    Returns:
        The notifiers that failed, each with its exception.

    Raises:
        ValueError: ``method`` is not one of the three (a programming error).
    """
    if method not in _METHODS:
        raise ValueError(f"unknown notification {method!r}; expected one of {', '.join(_METHODS)}")
    if isinstance(kwargs.get("run_info"), Mapping):
        kwargs["run_info"] = RunInfo.of(kwargs["run_info"])  # every notifier then sees a RunInfo
    failures: list[tuple[Notifier, Exception]] = []
    for notifier in notifiers:
        try:
            getattr(notifier, method)(*args, **kwargs)
        except Exception as exc:  # a notification must never abort the migration
            logger.warning("%s notification through %r failed: %s", method, notifier, exc)
            logger.debug("details of the failed %s notification", method, exc_info=True)
            failures.append((notifier, exc))
    return failures
