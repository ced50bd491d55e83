"""Limits shared by every worker: a server's own concurrency limit, held across processes and machines.

One :class:`~groupmigrate.core.migrator.Migrator` keeps its calls to each server within the
server's connection limit by itself (the executor's adaptive limit). When many workers
migrate at once against the same servers, each on its own machine or process, a server's
limit must hold across all of them: Exchange Online's EWSMaxConcurrency (27 concurrent
requests), Dovecot's ``mail_max_userip_connections`` (10 per user and client address),
Amazon WorkMail's few. A :class:`SharedLimit` does that: give one to each worker's Migrator
(``Migrator(..., shared_limits=limit)``) and every call the executor makes to a server first
takes a *slot* of that server's scope, within its own local limit:

- a slot is held for the call and given back after it; the number of slots of a scope is
  the same for every worker, however many there are;
- when the server throttles one worker, the pause it asked for is published to every worker
  (:meth:`SharedLimit.throttled`): none of them starts a call there before it is over;
- a worker that dies gives its slots back by itself after a while (the implementation holds
  them as leases that expire).

A scope is named by a *key*, built by the limit (:meth:`SharedLimit.key`) from what the
executor knows: the side (``source`` or ``destination``), the server (:func:`server_identity`
of the endpoint; the same in every worker configured alike) and the mailbox the call is
for, so that the limit can count per server (a service account's or app's budget) or per
mailbox (a user's connections), as the server does. :func:`scope_key` is the one spelling
of keys.

:class:`groupmigrate.celery.redis_limits.RedisLimits` keeps the slots in Redis.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Literal, Protocol, runtime_checkable

from groupmigrate.errors import ConfigError, ConnectionFailed, GroupmigrateError

__all__ = [
    "SharedLimit",
    "SharedLimitUnavailable",
    "Side",
    "SlotCancelled",
    "scope_key",
    "server_identity",
]

Side = Literal["source", "destination"]

SIDES: tuple[Side, ...] = ("source", "destination")


class SharedLimitUnavailable(ConnectionFailed):
    """The store that keeps the shared limits cannot be used (down, unreachable, refusing).

    Raised when taking a slot fails: the call to the server was not made (so, like any
    :class:`~groupmigrate.errors.ConnectionFailed`, it is safe to make again). The message names
    the store (never its password).
    """


class SlotCancelled(GroupmigrateError):
    """Waiting for a slot ended because the cancel event given to :meth:`SharedLimit.slot` was set."""


@runtime_checkable
class SharedLimit(Protocol):
    """Concurrency limits per server scope, shared by every worker that uses the same store.

    Implementations are thread-safe; one instance serves every thread of a process.
    """

    def key(self, side: Side, server: str, mailbox: str | None) -> str | None:
        """The key of the scope a call to ``server`` on ``side`` for ``mailbox`` counts against;
        None when calls on that side are not limited. ``mailbox`` is None when the call is not
        for one mailbox."""

    def slot(self, key: str, cancel: threading.Event | None = None) -> AbstractContextManager[None]:
        """Hold one slot of ``key`` for the ``with`` block.

        Entering waits while every slot is taken or while the scope is paused after
        throttling; it raises :class:`SlotCancelled` as soon as possible after ``cancel`` is
        set, and :class:`SharedLimitUnavailable` when the store cannot be used. Leaving gives
        the slot back and never raises (a slot that cannot be given back expires).
        """

    def throttled(self, key: str, retry_after: float | None) -> None:
        """Tell every worker that the server throttled a call of ``key``: no call of that scope
        starts for ``retry_after`` seconds (None: the server did not say; the limit chooses).
        Never raises."""

    def succeeded(self, key: str) -> None:
        """A call of ``key`` succeeded (a limit reduced after throttling may grow back). Never raises."""


def scope_key(side: Side, server: str, mailbox: str | None = None) -> str:
    """The key of a server scope: ``<side>:<server>``, or ``<side>:<server>:<mailbox>`` for one mailbox.

    The side comes first, so that implementations can tell a key's side from its first field.
    Mailbox addresses are compared without case.
    """
    if side not in SIDES:
        raise ValueError(f"side: {side!r} is not one of {SIDES}")
    return f"{side}:{server}" if mailbox is None else f"{side}:{server}:{mailbox.lower()}"


def server_identity(endpoint: object) -> str:
    """A name of the server ``endpoint`` talks to that every worker configured alike agrees on.

    It is the endpoint's ``limit_scope`` attribute when it has one (a string that names a
    server, or a budget, as the operator sees fit: set it on the endpoint object to make two
    differently configured endpoints count together), else the endpoint's ``repr``, which
    names the server without secrets (EWS: URL and profile; IMAP: host, port, TLS, profile;
    CalDAV/CardDAV: URL, profile, login).

    Raises:
        ConfigError: the endpoint has neither a ``limit_scope`` nor a ``repr`` that is the same
            in every process (the default ``repr`` of an object names its address in memory).
    """
    scope = getattr(endpoint, "limit_scope", None)
    if isinstance(scope, str) and scope:
        return scope
    text = repr(endpoint)
    if " at 0x" in text or not text:
        raise ConfigError(
            f"cannot tell which server {type(endpoint).__name__} talks to: give the endpoint a "
            "limit_scope attribute (a name of its server, the same in every worker)",
            key="shared_limits",
        )
    return text
