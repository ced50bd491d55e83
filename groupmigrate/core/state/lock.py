"""The writer lock of a state file: an exclusive ``flock`` on ``<state file>.lock``.

While held, the lock file names its holder (pid, host, start time) as JSON, so that a
refused writer can say who is in the way; it is emptied on release. The operating system
releases the lock when its holder exits, even when killed, which is how a run left
``running`` in the file is recognised as interrupted: nobody holds the lock any more.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from groupmigrate.core.state.records import _now, _ts
from groupmigrate.errors import StateError, StateLocked

__all__ = ["LockFile"]

#: How long a writer keeps trying when the lock is taken only for an instant (a reader's probe).
_LOCK_GRACE = 0.25


def _lock_time(value: str | None) -> str:
    """``2026-12-01 14:02:11 UTC`` from an ISO time (as written in the lock file)."""
    if not value:
        return "an unknown time"
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class LockFile:
    """The exclusive lock on ``path``, guarding the state file ``state_path``.

    Not re-entrant and not thread-safe by itself: the store that owns it counts nested
    writers and serialises access.
    """

    def __init__(self, path: str, state_path: str) -> None:
        self.path = path
        self._state_path = state_path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write the holder's name into the file.

        Raises :class:`~groupmigrate.errors.StateLocked` (naming the holder) when another
        process holds it for longer than a reader's probe, :class:`~groupmigrate.errors.StateError`
        when the file cannot be opened or locked.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StateError(f"cannot open the lock file {self.path}: {exc.strerror or exc}") from exc
        deadline = time.monotonic() + _LOCK_GRACE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # Readers probe the lock for an instant; only a lock held longer is a writer.
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise self._locked_error() from None
                time.sleep(0.01)
            except OSError as exc:
                os.close(fd)
                raise StateError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": _ts(_now())}
        data = json.dumps(holder).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (nothing happens when it is not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # the file names no holder while nobody holds it
            # Unlock explicitly: a child forked meanwhile shares the descriptor, and closing
            # ours alone would leave the lock held until the child exits.
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass
        finally:
            os.close(fd)

    def is_free(self) -> bool:
        """Whether no process holds the lock (probed without waiting, released at once)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return False
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        finally:
            os.close(fd)

    def _read_holder(self) -> dict[str, str]:
        for _ in range(20):  # the holder writes its name right after taking the lock
            try:
                raw = Path(self.path).read_text(encoding="utf-8")
                data = json.loads(raw)
                if isinstance(data, dict) and data:
                    return {str(k): str(v) for k, v in data.items()}
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        return {}

    def _locked_error(self) -> StateLocked:
        holder = self._read_holder()
        where = os.path.abspath(self._state_path)
        if holder:
            who = (
                f"process {holder.get('pid', '?')} on host {holder.get('host', '?')} "
                f"since {_lock_time(holder.get('started'))}"
            )
        else:
            who = f"another process (its lock file {self.path} does not name it)"
        return StateLocked(f"state file {where} is in use by {who}; wait for it to finish, or stop it", holder)
