"""The Redis harness: a server of its own on loopback that never outlives the tests that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from groupmigrate.testing.redis import RedisError, RedisServer

_START = (
    "from groupmigrate.testing.redis import RedisServer\n"
    "import sys, time\n"
    "server = RedisServer()\n"
    "print(server.pid, server.workdir, flush=True)\n"
    "if sys.argv[1] == 'wait':\n"
    "    time.sleep(60)\n"
)


def _gone(pid: int, workdir: Path, within: float = 5) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                alive = f.read().rpartition(b")")[2].split()[0] != b"Z"
        except OSError:
            alive = False
        if not alive and not workdir.exists():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("end", ["killed", "exits without stopping it"])
def test_the_server_ends_with_the_process_that_started_it(redis_factory, end: str) -> None:  # type: ignore[no-untyped-def]
    redis_factory().stop()  # skips without Redis
    proc = subprocess.Popen([sys.executable, "-c", _START, "wait" if end == "killed" else "exit"],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    pid, workdir = proc.stdout.readline().split()
    if end == "killed":
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert _gone(int(pid), Path(workdir))


def test_restart_empties_the_server_on_the_same_port_and_stop_cleans_up(redis_factory) -> None:  # type: ignore[no-untyped-def]
    server: RedisServer = redis_factory(password="pw-1")
    port, workdir = server.port, server.workdir
    assert server.url == f"redis://:pw-1@127.0.0.1:{port}/0"
    server.command("SET", "k", "v")
    assert server.command("GET", "k") == b"v"
    assert server.command("CONFIG", "GET", "save") == [b"save", b""]  # no persistence
    server.restart()
    assert server.port == port and server.command("GET", "k") is None
    with pytest.raises(RedisError, match="WRONGTYPE"):
        server.command("SET", "s", "1") and server.command("LPUSH", "s", "x")
    server.stop()
    assert not server.running and not workdir.exists()
