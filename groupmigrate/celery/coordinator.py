"""Start a migration on many workers, follow it, and end it: the coordinator.

::

    from groupmigrate.frontdoors.config import load_config
    from groupmigrate.celery.coordinator import submit, wait

    config = load_config("migration.toml")          # [migration] state = "postgresql://..."
    run_id = submit(config, mode="full")            # one task per account pair
    report = wait(config, run_id, on_event=print)   # the same Report as a one-process run

or ``groupmigrate migrate migration.toml --queue celery``. The run lives in the PostgreSQL state
store: workers write their accounts' progress there, and :func:`wait` reads it, telling each
account's start and end as events and giving back the run's report. ``wait`` can be left and
called again (from another machine, too): the run does not depend on the coordinator.

An account whose worker died (it reads as interrupted) and whose task did not come back from
the broker within ``[workers] visibility_timeout`` is sent again: accounts are claimed in the
state store, so a second task for an account that is being migrated waits, and one for an
account that finished returns at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from groupmigrate import events as ev
from groupmigrate.accounts import AccountPair
from groupmigrate.celery.worker import FINISHED, QUEUE, TASK, make_app
from groupmigrate.core.report import Report
from groupmigrate.core.state import StateStore, open_state
from groupmigrate.core.state.url import is_postgres_url
from groupmigrate.errors import ConfigError
from groupmigrate.frontdoors.config import Config

__all__ = ["cancel", "submit", "wait"]


def _store(config: Config) -> StateStore:
    if config.workers is None:
        raise ConfigError("the [workers] table (the Celery broker) is required to migrate on workers", key="workers")
    if not is_postgres_url(str(config.migration.state)):
        raise ConfigError("workers on several processes share the state: give a postgresql:// URL", key="migration.state")
    return open_state(str(config.migration.state))


def submit(config: Config, mode: str = "full", pairs: Iterable[AccountPair] | None = None) -> str:
    """Start a run of ``mode`` for ``pairs`` (default: the accounts file) and send one task per
    pair to the workers; returns the run id."""
    if mode not in ("full", "trial", "delta"):
        raise ValueError(f"mode: {mode!r} is not one of full, trial, delta")
    chosen = list(pairs) if pairs is not None else config.read_accounts()
    store = _store(config)
    try:
        since = config.migration.since if mode == "full" else None
        run_id = store.start_run(mode, since, config.migration.item_types)
        store.enqueue_accounts(run_id, [p.key for p in chosen])
        _send(config, run_id, [p.key for p in chosen], mode)
        return run_id
    finally:
        store.close()


def _send(config: Config, run_id: str, keys: Iterable[str], mode: str) -> None:
    assert config.workers is not None
    app = make_app(config.workers)
    try:
        with app.connection_for_write() as connection:
            for key in keys:
                app.send_task(TASK, args=[str(config.path.resolve()), run_id, key, mode], queue=QUEUE, connection=connection)
    finally:
        app.close()


def wait(
    config: Config,
    run_id: str,
    *,
    pairs: Iterable[AccountPair] | None = None,
    on_event: Callable[[ev.Event], None] | None = None,
    poll: float = 1.0,
    timeout: float | None = None,
) -> Report:
    """Follow run ``run_id`` until every account of ``pairs`` (default: the accounts file)
    ended; finish the run and return its report.

    Events: :class:`~groupmigrate.events.AccountStarted` and
    :class:`~groupmigrate.events.AccountFinished` per account as workers report them,
    :class:`~groupmigrate.events.RunFinished` at the end.

    Raises:
        TimeoutError: ``timeout`` seconds passed first (the run goes on; call again to follow it).
    """
    store = _store(config)
    by_key = {p.key: p for p in (list(pairs) if pairs is not None else config.read_accounts())}
    began = time.monotonic()
    resend_after = config.workers.visibility_timeout if config.workers is not None else 600.0
    seen: dict[str, str] = {}
    quiet_since: dict[str, float] = {}
    try:
        run = store.get_run(run_id)
        wanted = list(by_key)
        while True:
            accounts = {a.pair_key: a for a in store.accounts(run_id)}
            for key in wanted:
                status = accounts[key].status if key in accounts else "waiting"
                if status != seen.get(key):
                    _tell(on_event, run_id, by_key[key], status, accounts.get(key))
                    seen[key] = status
                    quiet_since[key] = time.monotonic()
            if store.get_run(run_id).status == "cancelled" or all(seen.get(k) in FINISHED for k in wanted):
                break
            # an account whose worker died reads as interrupted; its task comes back from the
            # broker after the visibility timeout, and is sent again if it does not (claims keep
            # it once). Accounts still waiting are queued, however long: they are not sent again.
            lost = [k for k in wanted if seen.get(k) == "interrupted" and time.monotonic() - quiet_since[k] > resend_after]
            if lost:
                _send(config, run_id, lost, run.mode)
                for key in lost:
                    quiet_since[key] = time.monotonic()
            if timeout is not None and time.monotonic() - began > timeout:
                raise TimeoutError(f"run {run_id} is still going after {timeout:.0f} s; call wait() again to follow it")
            time.sleep(poll)
        statuses = [seen.get(k) for k in wanted]
        if store.get_run(run_id).status != "cancelled":
            status = "completed" if all(s == "completed" for s in statuses) else "completed_with_errors"
            store.finish_run(run_id, status)
        final = store.get_run(run_id).status
        if on_event is not None:
            on_event(ev.RunFinished(run_id, final))
        return Report.from_state(store, run_id)
    finally:
        store.close()


def _tell(on_event: Callable[[ev.Event], None] | None, run_id: str, pair: AccountPair, status: str, record: object) -> None:
    if on_event is None:
        return
    if status == "running":
        on_event(ev.AccountStarted(run_id, pair))
    elif status in FINISHED:
        on_event(ev.AccountFinished(run_id, pair, status, getattr(record, "error", None)))


def cancel(config: Config, run_id: str) -> None:
    """Cancel run ``run_id``: workers stop at their next batch, tasks not started return at once.
    What was committed stays; a new run resumes from there."""
    store = _store(config)
    try:
        store.finish_run(run_id, "cancelled")
    finally:
        store.close()
