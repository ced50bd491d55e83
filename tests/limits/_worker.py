"""A worker process for the shared-limit tests: ``python _worker.py <task> <json arguments>``.

Tasks:

- ``hammer``: ``threads`` threads each take a slot of ``key`` ``rounds`` times, and while they
  hold it count themselves in Redis (``<prefix>now``: holders now, ``<prefix>peak``: the
  most at once, ``<prefix>rounds``: slots held in all). They start when ``<prefix>go`` exists.
- ``hold``: take ``slots`` slots of ``key`` (one thread each), print ``holding``, and keep them
  until killed.
- ``throttle``: report the server throttled ``key`` for ``seconds``; print the wall-clock time.
- ``migrate``: a Migrator reading ``accounts`` from the EWS server ``ews_url`` into an in-memory
  destination, with shared limits; print ``ready``, wait for a line on stdin, run, print the
  accounts' statuses and counts as JSON.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from typing import Any

import redis

from groupmigrate.celery.redis_limits import RedisLimits

# KEYS: holders now, peak. Counts one more holder and keeps the peak.
_ENTER = """
local now = redis.call('INCR', KEYS[1])
local peak = tonumber(redis.call('GET', KEYS[2]) or 0)
if now > peak then redis.call('SET', KEYS[2], now) end
return now
"""


def _limits(a: dict[str, Any]) -> RedisLimits:
    return RedisLimits(a["url"], {"source": a["capacity"]}, prefix=a["prefix"], lease=a.get("lease", 30.0))


def hammer(a: dict[str, Any]) -> None:
    limits = _limits(a)
    client = redis.Redis.from_url(a["url"])
    enter = client.register_script(_ENTER)
    now, peak, rounds, go = (a["prefix"] + name for name in ("now", "peak", "rounds", "go"))
    while not client.exists(go):
        time.sleep(0.005)

    def run() -> None:
        for _ in range(a["rounds"]):
            with limits.slot(a["key"]):
                enter(keys=[now, peak])
                time.sleep(random.uniform(0.001, 0.004))
                client.incr(rounds)
                client.decr(now)

    threads = [threading.Thread(target=run) for _ in range(a["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    limits.close()
    print("done", flush=True)


def hold(a: dict[str, Any]) -> None:
    limits = _limits(a)
    taken = threading.Semaphore(0)

    def keep() -> None:
        with limits.slot(a["key"]):
            taken.release()
            threading.Event().wait()

    for _ in range(a["slots"]):
        threading.Thread(target=keep, daemon=True).start()
    for _ in range(a["slots"]):
        taken.acquire()
    print("holding", flush=True)
    threading.Event().wait()


def throttle(a: dict[str, Any]) -> None:
    limits = _limits(a)
    limits.throttled(a["key"], a["seconds"])
    print(json.dumps(time.time()), flush=True)
    limits.close()


def migrate(a: dict[str, Any]) -> None:
    import groupmigrate as gm
    from groupmigrate.backends.memory import MemoryDestination, MemoryServer

    source = gm.EWSSource(
        url=a["ews_url"], profile="exchange-online", impersonation=True, max_connections=4,
        auth=gm.OAuth2ClientCredentials("tenant", "app", "app-secret-value", token_url=a["token_url"]),
    )  # fmt: skip
    server = MemoryServer()
    pairs = []
    for address in a["accounts"]:
        target = address.replace("@contoso.com", "@example.org")
        server.add_mailbox(target)
        pairs.append(gm.AccountPair(address, target))
    limits = None
    if a["capacity"]:
        limits = RedisLimits(a["url"], {"source": a["capacity"]}, prefix=a["prefix"])
    migrator = gm.Migrator(source, MemoryDestination(server), state=a["state"], workers=4, shared_limits=limits)
    print("ready", flush=True)
    sys.stdin.readline()
    report = migrator.run(pairs)
    print(json.dumps({acc.pair.source: [acc.status, acc.error, acc.counts] for acc in report.accounts}), flush=True)
    if limits is not None:
        limits.close()


if __name__ == "__main__":
    {"hammer": hammer, "hold": hold, "throttle": throttle, "migrate": migrate}[sys.argv[1]](json.loads(sys.argv[2]))
