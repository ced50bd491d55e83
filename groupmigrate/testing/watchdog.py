"""A watchdog per test server, for a test process that dies without stopping its server.

The test servers (Dovecot, PostgreSQL, Redis) run as processes of their own. Each gets a
watchdog: a small Python process in a session of its own that reads its stdin, a pipe from
the test process, to the end. :func:`stop_watchdog` writes ``stopped`` first and the watchdog
just exits; end of file without it means the test process is gone (killed, ``os._exit``): then
the watchdog stops the server, if the pid is still that server (its command line holds
``marker`` and it is not a zombie), and removes the server's directories.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["start_watchdog", "stop_watchdog"]

_SCRIPT = r"""
import os, shutil, signal, sys, time
if sys.stdin.buffer.read():
    sys.exit(0)
pid, marker, first, grace = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3], float(sys.argv[4])
paths = [p for p in sys.argv[5:] if p]
def ours():
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            zombie = f.read().rpartition(b")")[2].split()[0] == b"Z"
        return marker in cmdline and not zombie
    except (OSError, IndexError):
        return False
if ours():
    try:
        os.kill(pid, signal.SIGCONT)  # a frozen server cannot stop
        os.kill(pid, getattr(signal, first))
    except OSError:
        pass
    deadline = time.monotonic() + grace
    while ours() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
for path in paths:
    shutil.rmtree(path, ignore_errors=True)
"""


def start_watchdog(
    pid: int, marker: str, paths: Sequence[Path | str | None], *, first_signal: str = "SIGTERM", grace: float = 0.25
) -> subprocess.Popen[bytes]:
    """Watch the server ``pid`` (whose command line holds ``marker``) for the test process: if
    that dies first, send it ``first_signal``, then SIGKILL after ``grace`` seconds, and remove ``paths``."""
    return subprocess.Popen(
        [sys.executable, "-I", "-c", _SCRIPT, str(pid), marker, first_signal, str(grace), *(str(p or "") for p in paths)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_watchdog(watchdog: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Tell ``watchdog`` the server was stopped as planned, and wait for it to exit."""
    if watchdog is None:
        return
    if watchdog.stdin is not None:
        with contextlib.suppress(OSError):
            watchdog.stdin.write(b"stopped")
            watchdog.stdin.close()
    try:
        watchdog.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - it exits at once after "stopped"
        watchdog.kill()
        watchdog.wait()
