"""Per-server limits shared through Redis by every worker, on every machine.

:class:`RedisLimits` is a :class:`~groupmigrate.core.limits.SharedLimit`: give the same
configuration to every worker's :class:`~groupmigrate.core.migrator.Migrator` and a server's
limit holds across all of them::

    from groupmigrate.celery.redis_limits import RedisLimits

    limits = RedisLimits(
        "redis://:password@redis.internal:6379/0",
        capacities={"source": 27, "destination": 10},
        per_mailbox={"destination"},
    )
    Migrator(source, destination, shared_limits=limits, ...)

Choosing the capacities (slots per scope, the same in every worker):

- ``capacities`` names the sides to limit and their slots; a side left out is not limited
  across workers (each Migrator still keeps its own connection limit).
- A side's scope is the whole server (:func:`~groupmigrate.core.limits.server_identity` of its
  endpoint), or, for a side in ``per_mailbox``, one mailbox on that server.
- Exchange Online: EWSMaxConcurrency is 27 concurrent requests. Counted per server,
  ``capacities={"source": 27}`` keeps every call of the app or service account (all workers
  together) within it; that is the safe reading. Give a little less (e.g. 24) when other
  tools use the same account.
- Dovecot (IMAP): ``mail_max_userip_connections`` is 10 per user and client address:
  ``capacities={"destination": 10}, per_mailbox={"destination"}``. Every worker opens its
  own connections, so counting per user across all machines is the safe side (Dovecot counts
  per address of each machine); use the server's setting when it differs from 10.
- Amazon WorkMail (EWS) allows few concurrent requests per organization: 4 is a safe start
  (``capacities={"destination": 4}``), lower when it still throttles.
- CalDAV/CardDAV servers state no number: start from each worker's ``max_connections`` times
  the number of workers you would let loose on the server, and lower it when it throttles.

How it works (one scope, key ``K``, in Redis under ``<prefix>{K}:…``):

- The slots are a sorted set of *leases*: one member per held slot, scored by the time (the
  Redis server's clock, so that the machines' clocks do not matter) at which it expires.
  Taking a slot is one Lua script, atomic: drop expired leases, add one if fewer than the
  scope's limit are held, else answer how long until the first lease expires. Giving it back
  removes the member.
- A held slot's lease (``lease`` seconds, 30 by default) is renewed every third of it by one
  thread per process, for every slot the process holds, in one round trip. A worker that
  dies (even by SIGKILL) stops renewing: its slots come back within ``lease`` seconds, never
  earlier than two thirds of it. Renewal rather than one lease per request, because a
  request may legitimately take as long as the backend's read timeout (a minute for EWS):
  a lease that long would keep a dead worker's slots for as long.
- Waiting is no busy loop: a worker that finds every slot held blocks on a wake-up list
  (``BLPOP``), which each release pushes to, for at most ``poll`` seconds (then it tries
  again: a waiter woken for a slot another one took, or a lease that expired, is not lost).
  The first try and every try after a wake-up is the same atomic script, so the count is
  exact whatever wakes whom.
- Throttling (:meth:`RedisLimits.throttled`) sets the scope's *paused until* time; every
  worker reads it with the same script before taking a slot and sleeps until then (with a
  little jitter, so that they do not all start in the same millisecond). The first report of
  a throttling episode also halves the scope's limit for everyone; successes let it grow back
  by one every 20, as each process's own limit does. A halved limit is forgotten after ten
  minutes without news.
- Every wait honours the cancel event given to :meth:`RedisLimits.slot`, within ``poll``
  seconds. When Redis cannot be reached or refuses (down, wrong password), taking a slot
  raises :class:`~groupmigrate.core.limits.SharedLimitUnavailable` naming the Redis URL
  without its password, after at most ``connect_timeout`` or ``timeout`` seconds and one
  retry; giving a slot back or reporting throttling logs a warning instead (a slot that
  could not be given back expires with its lease).

Needs Redis 6.0 or later (fractional ``BLPOP`` timeouts), one server (or a proxy in front of
several): the keys of one scope share a hash tag, as a Redis Cluster would need, but this
class does not speak the cluster protocol. Waiters are not served in order: under heavy
contention one may wait longer than another.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from groupmigrate.core.limits import SIDES, SharedLimitUnavailable, Side, SlotCancelled, scope_key
from groupmigrate.errors import ConfigError

__all__ = ["RedisLimits", "SlotTimeout", "Usage"]

log = logging.getLogger("groupmigrate")

#: successes that let a limit halved by throttling grow back by one slot
GROW_EVERY = 20
#: a halved limit without news for this long is forgotten (milliseconds)
FORGET_MS = 600_000

# Every script reads the time from the Redis server (milliseconds), never from the worker.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: slots, paused-until, limit. ARGV: token, capacity, lease (ms).
# Answers {1, 0, limit} when taken, {2, ms to wait, limit} when paused,
# {0, ms until the first lease expires, limit} when every slot is held.
_TAKE = _NOW + """
local capacity = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local limit = math.max(1, math.min(capacity, tonumber(redis.call('GET', KEYS[3]) or capacity)))
local function take()
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]) + 1000)
  return {1, 0, limit}
end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return take()  -- taken by an earlier attempt whose answer was lost
end
local paused = tonumber(redis.call('GET', KEYS[2]) or 0)
if paused > now then
  return {2, paused - now, limit}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < limit then
  return take()
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now, limit}
"""

# KEYS: slots, wake-up list. ARGV: token, capacity.
_GIVE_BACK = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then
  redis.call('LPUSH', KEYS[2], '1')
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('PEXPIRE', KEYS[2], 60000)
end
return removed
"""

# KEYS: slots. ARGV: lease (ms), tokens... Answers the tokens no longer held.
_RENEW = _NOW + """
local lease = tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
  else
    table.insert(lost, ARGV[i])
  end
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]) + 1000)
end
return lost
"""

# KEYS: paused-until, limit, successes. ARGV: pause (ms), capacity, forget (ms). Answers the limit.
_THROTTLED = _NOW + """
local pause = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[1]) or 0)
local limit = math.max(1, math.min(capacity, tonumber(redis.call('GET', KEYS[2]) or capacity)))
if paused <= now then  -- a new throttling episode: fewer slots for every worker
  limit = math.max(1, math.floor(limit / 2))
  redis.call('SET', KEYS[2], limit, 'PX', ARGV[3])
  redis.call('DEL', KEYS[3])
end
if now + pause > paused then
  redis.call('SET', KEYS[1], now + pause, 'PX', pause + 1000)
end
return limit
"""

# KEYS: limit, successes, wake-up list. ARGV: capacity, successes per slot, forget (ms). Answers the limit.
_SUCCEEDED = """
local capacity = tonumber(ARGV[1])
local limit = tonumber(redis.call('GET', KEYS[1]) or capacity)
if limit >= capacity then
  redis.call('DEL', KEYS[1], KEYS[2])
  return capacity
end
local n = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if n >= tonumber(ARGV[2]) then
  limit = limit + 1
  redis.call('DEL', KEYS[2])
  if limit >= capacity then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], limit, 'PX', ARGV[3])
  end
  redis.call('LPUSH', KEYS[3], '1')
  redis.call('LTRIM', KEYS[3], 0, capacity - 1)
  redis.call('PEXPIRE', KEYS[3], 60000)
end
return limit
"""

# KEYS: slots, paused-until, limit. ARGV: capacity. Answers {held, limit, ms paused}.
_USAGE = _NOW + """
local capacity = tonumber(ARGV[1])
local held = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local limit = math.max(1, math.min(capacity, tonumber(redis.call('GET', KEYS[3]) or capacity)))
local paused = tonumber(redis.call('GET', KEYS[2]) or 0)
return {held, limit, math.max(0, paused - now)}
"""


class SlotTimeout(SharedLimitUnavailable):
    """No slot became free within the ``timeout`` given to :meth:`RedisLimits.slot`."""


@attrs.frozen
class Usage:
    """A scope's state: slots ``held`` (unexpired leases), its ``limit`` now (the capacity,
    or less after throttling), its ``capacity``, and the seconds it stays ``paused``."""

    held: int
    limit: int
    capacity: int
    paused: float


def redacted(url: str) -> str:
    """A Redis URL without user name and password (``redis://host:port/db``, ``unix:///path``)."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "unix":
            return f"unix://{parts.path}"
        host = parts.hostname or "localhost"
        port = parts.port or 6379
    except ValueError:
        return "<not a Redis URL>"
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}:{port}{parts.path or '/0'}"


class _Names:
    """The Redis keys of one scope; they share a hash tag, as a cluster needs for a script."""

    __slots__ = ("slots", "paused", "limit", "successes", "wake")

    def __init__(self, prefix: str, key: str) -> None:
        base = f"{prefix}{{{key}}}"
        self.slots = f"{base}:slots"
        self.paused = f"{base}:paused-until"
        self.limit = f"{base}:limit"
        self.successes = f"{base}:successes"
        self.wake = f"{base}:wake"


class RedisLimits:
    """Slots per server scope, kept in Redis and shared by every worker that uses the same Redis.

    See the module documentation for choosing ``capacities`` and for how it works.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS) or
            ``unix:///path/to/socket``.
        capacities: slots per scope, by side (``source``, ``destination``); a side left out is
            not limited across workers.
        per_mailbox: sides whose scope is one mailbox on the server, not the whole server.
        lease: seconds until the slots of a worker that stopped (died, froze) come back; held
            slots are renewed every third of it.
        prefix: of every Redis key this uses.
        connect_timeout: seconds to wait for Redis to accept a connection.
        timeout: seconds to wait for one answer from Redis.
        poll: longest wait for a wake-up before trying again; also how soon a cancel is seen.
        default_pause: seconds every worker pauses a scope whose server throttled without
            saying for how long.
    """

    def __init__(
        self,
        url: str,
        capacities: Mapping[str, int],
        *,
        per_mailbox: Iterable[str] = (),
        lease: float = 30.0,
        prefix: str = "groupmigrate:limit:",
        connect_timeout: float = 5.0,
        timeout: float = 5.0,
        poll: float = 0.25,
        default_pause: float = 1.0,
    ) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError("is not a redis://, rediss:// or unix:// URL (the value is not shown)", key="url")
        unknown = sorted(set(capacities) - set(SIDES)) + sorted(set(per_mailbox) - set(SIDES))
        if unknown:
            raise ConfigError(f"unknown side(s) {unknown}; the sides are {list(SIDES)}", key="capacities")
        for side, capacity in capacities.items():
            if not isinstance(capacity, int) or capacity < 1:
                raise ConfigError(f"{side}: must be a whole number of slots, at least 1", key="capacities")
        if not lease >= 0.3:
            raise ConfigError("must be at least 0.3 seconds", key="lease")
        for name, value in (("connect_timeout", connect_timeout), ("timeout", timeout), ("poll", poll)):
            if not value > 0:
                raise ConfigError("must be a positive number of seconds", key=name)
        if not poll < timeout:
            raise ConfigError("must be shorter than timeout (a wait for a wake-up is one answer from Redis)", key="poll")
        self.where = redacted(url)
        self.capacities: dict[str, int] = dict(capacities)
        self.per_mailbox = frozenset(per_mailbox)
        self.lease = float(lease)
        self.prefix = prefix
        self.poll = poll
        self.default_pause = default_pause
        self._lease_ms = max(1, round(self.lease * 1000))
        try:
            self._redis = redis.Redis.from_url(
                url,
                socket_connect_timeout=connect_timeout,
                socket_timeout=timeout,
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),  # a connection Redis dropped is remade once
                health_check_interval=0,
            )
        except ValueError as exc:  # an unusable URL: redis-py's message may quote it
            raise ConfigError(f"cannot be used ({type(exc).__name__}; the value is not shown)", key="url") from None
        self._take_script = self._redis.register_script(_TAKE)
        self._give_back_script = self._redis.register_script(_GIVE_BACK)
        self._renew_script = self._redis.register_script(_RENEW)
        self._throttled_script = self._redis.register_script(_THROTTLED)
        self._succeeded_script = self._redis.register_script(_SUCCEEDED)
        self._usage_script = self._redis.register_script(_USAGE)
        self._names: dict[str, _Names] = {}
        self._reduced: set[str] = set()  # scopes whose limit was below capacity at the last answer
        self._warned = 0.0
        self._closed = False
        self._start_process()

    def _start_process(self) -> None:
        """State of this process; a forked child starts afresh (its parent's threads and slots are not its own)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}  # token -> key
        self._unsure: dict[str, str] = {}  # token -> key: taken, perhaps, by an attempt whose answer was lost
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()
        self._tokens = itertools.count(1)
        self._me = f"{socket.gethostname()}:{self._pid}:{uuid.uuid4().hex[:8]}"

    def __repr__(self) -> str:
        return (
            f"RedisLimits({self.where!r}, capacities={self.capacities!r}, "
            f"per_mailbox={sorted(self.per_mailbox)!r}, lease={self.lease:g})"
        )

    # -- the SharedLimit protocol ---------------------------------------------------------------
    def key(self, side: Side, server: str, mailbox: str | None) -> str | None:
        """The scope of a call: None when ``side`` is not limited; the mailbox's own scope when
        ``side`` is counted per mailbox (the server's, when the call is for no one mailbox)."""
        if side not in self.capacities:
            return None
        return scope_key(side, server, mailbox if side in self.per_mailbox else None)

    @contextlib.contextmanager
    def slot(self, key: str, cancel: threading.Event | None = None, timeout: float | None = None) -> Iterator[None]:
        """Hold one slot of ``key`` for the ``with`` block (see :meth:`SharedLimit.slot
        <groupmigrate.core.limits.SharedLimit.slot>`); with ``timeout``, raise
        :class:`SlotTimeout` when none is free within that many seconds."""
        token = self._take(key, cancel, timeout)
        try:
            yield
        finally:
            self._give_back(key, token)

    def throttled(self, key: str, retry_after: float | None) -> None:
        """Pause ``key`` for every worker for ``retry_after`` seconds (``default_pause`` when None)."""
        pause = self.default_pause if retry_after is None else retry_after
        names = self._scope(key)
        try:
            limit = int(self._throttled_script(
                keys=[names.paused, names.limit, names.successes],
                args=[max(0, round(pause * 1000)), self._capacity(key), FORGET_MS],
            ))  # fmt: skip
        except RedisError as exc:
            self._warn(f"the pause of {key} could not be shared: {exc}")
            return
        self._note(key, limit)
        log.info("shared limit %s: throttled, every worker pauses %.1f s; %d slot(s) now", key, pause, limit)

    def succeeded(self, key: str) -> None:
        """Count a success toward growing back a limit that throttling reduced."""
        if key not in self._reduced:
            return
        names = self._scope(key)
        try:
            limit = int(self._succeeded_script(
                keys=[names.limit, names.successes, names.wake], args=[self._capacity(key), GROW_EVERY, FORGET_MS]
            ))  # fmt: skip
        except RedisError as exc:
            self._warn(f"a success of {key} could not be counted: {exc}")
            return
        self._note(key, limit)

    # -- more ---------------------------------------------------------------------------------------
    def usage(self, key: str) -> Usage:
        """The state of ``key`` now (for monitoring and tests)."""
        names = self._scope(key)
        capacity = self._capacity(key)
        held, limit, paused = self._ask(self._usage_script, [names.slots, names.paused, names.limit], [capacity])
        return Usage(int(held), int(limit), capacity, int(paused) / 1000)

    def close(self) -> None:
        """Stop renewing (slots still held expire with their leases) and close the connections."""
        self._closed = True
        self._stop.set()
        renewer = self._renewer
        if renewer is not None and renewer is not threading.current_thread():
            renewer.join(timeout=5)
        self._redis.close()

    def __enter__(self) -> RedisLimits:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside -------------------------------------------------------------------------------------
    def _capacity(self, key: str) -> int:
        side = key.partition(":")[0]
        capacity = self.capacities.get(side)
        if capacity is None:
            raise ValueError(f"{key!r}: not a key of these limits (its side must be one of {sorted(self.capacities)})")
        return capacity

    def _scope(self, key: str) -> _Names:
        names = self._names.get(key)
        if names is None:
            names = _Names(self.prefix, key)
            if len(self._names) < 10_000:  # per-mailbox scopes are many: keep a bounded cache
                self._names[key] = names
        return names

    def _note(self, key: str, limit: int) -> None:
        if limit < self._capacity(key):
            self._reduced.add(key)
        else:
            self._reduced.discard(key)

    def _ask(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except RedisError as exc:
            raise SharedLimitUnavailable(f"shared limits: Redis at {self.where} cannot be used: {exc}") from exc

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned >= 60:  # a Redis that is down would otherwise warn for every call
            self._warned = now
            log.warning("shared limits (Redis at %s): %s", self.where, message)

    def _take(self, key: str, cancel: threading.Event | None, timeout: float | None) -> str:
        if self._closed:
            raise SharedLimitUnavailable(f"shared limits: Redis at {self.where}: closed")
        if os.getpid() != self._pid:
            self._start_process()
        capacity = self._capacity(key)
        names = self._scope(key)
        token = f"{self._me}:{next(self._tokens)}"
        sleeper = cancel if cancel is not None else threading.Event()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if sleeper.is_set():
                raise SlotCancelled(f"{key}: cancelled while waiting for a slot")
            if self._unsure:
                self._drop_unsure()
            try:
                status, wait_ms, limit = self._ask(
                    self._take_script, [names.slots, names.paused, names.limit], [token, capacity, self._lease_ms]
                )
            except SharedLimitUnavailable:
                # the script may have run and only its answer been lost: that slot is given back
                # as soon as Redis answers again, not left to its lease
                with self._lock:
                    self._unsure[token] = key
                self._start_renewer()
                raise
            self._note(key, int(limit))
            if int(status) == 1:
                self._hold(token, key)
                return token
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise SlotTimeout(f"{key}: no slot free within {timeout:g} s")
            wait = int(wait_ms) / 1000
            if int(status) == 2:  # paused: sleep until the server may be asked again
                wait += random.uniform(0, min(0.1, 0.1 * wait) + 0.005)
                if sleeper.wait(wait if left is None else min(wait, left)):
                    raise SlotCancelled(f"{key}: cancelled while the server is paused")
            else:  # every slot held: wait for one to be given back, or the first lease to expire
                block = min(self.poll, max(wait, 0.01)) * random.uniform(0.8, 1.0)
                if left is not None:
                    block = min(block, max(left, 0.01))
                self._ask(_Blpop(self._redis), [names.wake], [round(block, 3)])

    def _give_back(self, key: str, token: str) -> None:
        with self._lock:
            self._held.pop(token, None)
        names = self._scope(key)
        try:
            self._give_back_script(keys=[names.slots, names.wake], args=[token, self._capacity(key)])
        except RedisError as exc:
            self._warn(f"a slot of {key} could not be given back (it expires within {self.lease:g} s): {exc}")

    def _hold(self, token: str, key: str) -> None:
        with self._lock:
            self._held[token] = key
        self._start_renewer()

    def _start_renewer(self) -> None:
        with self._lock:
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_forever, name=f"groupmigrate-leases-{self.where}", daemon=True
                )
                self._renewer.start()

    def _renew_forever(self) -> None:
        stop = self._stop
        while not stop.wait(self.lease / 3):
            try:
                self._renew()
                if self._unsure:
                    self._drop_unsure()
            except Exception:  # noqa: BLE001 - renewing must go on, or every held slot expires
                log.exception("shared limits (Redis at %s): renewing leases failed", self.where)

    def _drop_unsure(self) -> None:
        """Give back the slots that attempts whose answers were lost may have taken (when Redis answers)."""
        with self._lock:
            unsure = dict(self._unsure)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for token, key in unsure.items():
                names = self._scope(key)
                self._give_back_script(keys=[names.slots, names.wake], args=[token, self._capacity(key)], client=pipe)
            pipe.execute()
        except RedisError:
            return  # still unreachable: tried again later
        with self._lock:
            for token in unsure:
                self._unsure.pop(token, None)

    def _renew(self) -> None:
        with self._lock:
            by_key: dict[str, list[str]] = {}
            for token, key in self._held.items():
                by_key.setdefault(key, []).append(token)
        if not by_key:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for key, tokens in by_key.items():
                self._renew_script(keys=[self._scope(key).slots], args=[self._lease_ms, *tokens], client=pipe)
            answers = pipe.execute()
        except RedisError as exc:
            self._warn(f"leases could not be renewed (they expire within {self.lease:g} s): {exc}")
            return
        with self._lock:
            for key, lost in zip(by_key, answers):
                gone = [t for t in (x.decode() if isinstance(x, bytes) else str(x) for x in lost) if t in self._held]
                if gone:
                    log.warning(
                        "shared limit %s: %d lease(s) of this process expired before renewal (a pause of more "
                        "than %.0f s?); more calls than its capacity may run until they end", key, len(gone), self.lease,
                    )  # fmt: skip


class _Blpop:
    """``BLPOP`` called like a script, so that its errors are reported like the scripts' own."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def __call__(self, keys: list[str], args: list[float]) -> Any:
        return self._client.blpop(keys, timeout=args[0])
