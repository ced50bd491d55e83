"""The Celery side of a migration on many workers: the app and the task that migrates one account.

A worker is started with the migration's configuration file (the same file, or a copy at the
same path, on every machine; secrets come from its ``*_env`` / ``*_file`` keys there)::

    groupmigrate worker migration.toml
    # or, with Celery's own command line:
    GROUPMIGRATE_CONFIG=migration.toml celery -A groupmigrate.celery.worker worker

The coordinator (:mod:`groupmigrate.celery.coordinator`) starts a run in the PostgreSQL state
store and sends one task per account pair. The messages carry the configuration file's path,
the run id, the pair's key and the mode: never a secret.

A task may be delivered more than once: tasks are acknowledged when they end
(``acks_late``), so a task whose worker died goes to another worker. Each delivery first
claims its account in the state store (a lease, renewed while it works): an account another
live worker holds is tried again later; an account finished in this run is not migrated
again; otherwise the migration continues from the state store, and provenance keeps every
item exactly once, whatever the earlier delivery left behind.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from celery import Celery

from groupmigrate.accounts import AccountPair
from groupmigrate.core.migrator import Migrator
from groupmigrate.core.state import StateStore
from groupmigrate.errors import ConfigError
from groupmigrate.frontdoors.config import Config, WorkersConfig, load_config

__all__ = ["FINISHED", "TASK", "WorkerContext", "app", "make_app", "migrate_account"]

log = logging.getLogger("groupmigrate.celery")

#: the name the coordinator sends tasks under
TASK = "groupmigrate.migrate_account"
#: the queue of groupmigrate's tasks
QUEUE = "groupmigrate"
#: account statuses that end an account's part in a run
FINISHED = frozenset({"completed", "completed_with_errors", "failed", "cancelled"})


def make_app(workers: WorkersConfig) -> Celery:
    """A Celery app for ``workers``: acknowledged late, one task at a time per worker process."""
    celery = Celery("groupmigrate", broker=workers.broker_url(), set_as_current=False)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=QUEUE,
        broker_transport_options={"visibility_timeout": workers.visibility_timeout},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    celery.task(name=TASK, bind=True, acks_late=True, max_retries=None)(_task)
    return celery


@attrs.define
class WorkerContext:
    """What one worker process keeps between tasks of one configuration file."""

    config: Config
    store: StateStore
    pairs: dict[str, AccountPair]
    migrator: Callable[[], Migrator]


_contexts: dict[str, WorkerContext] = {}
_contexts_lock = threading.Lock()


def context(config_path: str) -> WorkerContext:
    """The configuration, state store, accounts and endpoints of ``config_path``, loaded once per process."""
    key = str(Path(config_path).resolve())
    with _contexts_lock:
        found = _contexts.get(key)
        if found is None:
            found = _contexts[key] = _load(config_path)
        return found


def _load(config_path: str) -> WorkerContext:
    config = load_config(config_path)
    if config.workers is None:
        raise ConfigError("the [workers] table is required to migrate on workers", key="workers")
    store = _open_store(str(config.migration.state), config.workers.lease)
    pairs = {p.key: p for p in config.read_accounts()}
    source, destination = config.source.build_source(), config.destination.build_destination()
    limits = _shared_limits(config.workers)

    def migrator() -> Migrator:
        return Migrator(source, destination, state=store, workers=config.migration.workers,
                        item_types=config.migration.item_types, since=config.migration.since,
                        shared_limits=limits)  # fmt: skip

    return WorkerContext(config, store, pairs, migrator)


def _open_store(state: str, lease: float) -> StateStore:
    """The state store, its claims on accounts leased for ``lease`` seconds: a worker that dies
    gives its account back after that long."""
    from groupmigrate.core.state.url import is_postgres_url

    if not is_postgres_url(state):
        raise ConfigError("workers on several processes share the state: give a postgresql:// URL", key="migration.state")
    from groupmigrate.core.state.postgres import PostgresStateStore

    return PostgresStateStore(state, writer_lease=lease)


def _shared_limits(workers: WorkersConfig) -> Any:
    url = workers.limits_url()
    if url is None:
        return None
    from groupmigrate.celery.redis_limits import RedisLimits

    capacities = {side: n for side, n in (("source", workers.source_connections),
                                          ("destination", workers.destination_connections)) if n}  # fmt: skip
    return RedisLimits(url, capacities, per_mailbox=workers.per_mailbox, lease=workers.lease)


class Retry(Exception):
    """The account is held by another live worker: the task is tried again later."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"held by another worker; again in {countdown:.0f} s")
        self.countdown = countdown


def migrate_account(config_path: str, run_id: str, pair_key: str, mode: str) -> str:
    """Migrate one account as part of run ``run_id``; returns the account's status.

    Raises:
        Retry: another live worker holds the account (the task is sent again later).
    """
    ctx = context(config_path)
    store = ctx.store
    pair = ctx.pairs.get(pair_key)
    if pair is None:
        store.start_account(run_id, pair_key, pair_key, "")
        store.finish_account(run_id, pair_key, "failed", f"{pair_key}: not in the accounts file of {config_path}")
        return "failed"
    if store.get_run(run_id).status == "cancelled":
        return "cancelled"
    done = {a.pair_key: a.status for a in store.accounts(run_id)}
    if done.get(pair_key) in FINISHED:
        return done[pair_key]  # a second delivery of a task that ended
    assert ctx.config.workers is not None
    lease = ctx.config.workers.lease
    with store.writer():
        owner = getattr(store, "owner", f"pid-{os.getpid()}")
        if not store.claim_account(run_id, pair_key, owner, lease):
            raise Retry(countdown=max(1.0, lease / 3))
        migrator = ctx.migrator()
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(store, migrator, run_id, pair_key, owner, lease, stop),
                                   name="groupmigrate-claim", daemon=True)  # fmt: skip
        watcher.start()
        try:
            statuses = migrator.run_accounts(run_id, [pair], mode)
        finally:
            stop.set()
            watcher.join(timeout=5)
            store.release_claim(run_id, pair_key, owner)
    return statuses.get(pair_key, "failed")


def _watch(store: StateStore, migrator: Migrator, run_id: str, pair_key: str, owner: str, lease: float, stop: threading.Event) -> None:
    """While the account is migrated: renew its claim, tell the state store this worker lives,
    and stop at the next batch when the run was cancelled or the claim was lost."""
    info = {"run": run_id, "pair": pair_key}
    while not stop.wait(min(5.0, lease / 3)):
        try:
            store.heartbeat(owner, info)
            if not store.renew_claim(run_id, pair_key, owner, lease):
                log.warning("%s: another worker took the account over; stopping at the next batch", pair_key)
                migrator.cancel()
            elif store.get_run(run_id).status == "cancelled":
                migrator.cancel()
        except Exception:  # noqa: BLE001 - the state store is briefly unreachable: try again next time
            log.warning("%s: the state store could not be reached to renew the claim", pair_key, exc_info=True)


def _task(self: Any, config_path: str, run_id: str, pair_key: str, mode: str) -> str:
    try:
        return migrate_account(config_path, run_id, pair_key, mode)
    except Retry as exc:
        raise self.retry(countdown=exc.countdown) from None


def _app_from_environment() -> Celery:
    path = os.environ.get("GROUPMIGRATE_CONFIG")
    if not path:
        return Celery("groupmigrate", set_as_current=False)
    config = load_config(path)
    if config.workers is None:
        raise ConfigError(f"{path}: the [workers] table is required to start a worker", key="workers")
    return make_app(config.workers)


#: the app ``celery -A groupmigrate.celery.worker`` starts: configured from ``GROUPMIGRATE_CONFIG``
app = _app_from_environment()
