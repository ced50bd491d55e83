"""Re-running migrations into and out of IMAP, against a real Dovecot: after a crash, after a
trial, and after the state file was lost.

- Killed and resumed: the migration runs in a process of its own (this module, run with
  ``python -m tests.imap.test_imap_resume``) that is SIGKILLed while it copies, at a moment
  when the destination holds messages the state file does not know of yet (an APPEND was
  answered, its batch not committed). A second run with the same state file finishes the job.
  Dovecot → Dovecot, and Exchange Online (EWS test server) → Dovecot.
- Trial, full, delta: the trial copies the last 10 days, the full run everything else and
  nothing twice, a delta run only what arrived since (a new UID with an old date, a new
  folder), not a message whose flags changed.
- A lost state file: a full run with a fresh state over an already migrated Dovecot creates
  nothing twice. IMAP keeps no provenance stamp, so the migrator recognises the copies by
  content.

What the servers hold is compared per folder: the multiset of the SHA-256 of each message's
bytes as fetched with ``BODY.PEEK[]`` from both sides (with flags and INTERNALDATE between
two Dovecots; with the Message-ID from Exchange), so a message copied twice, lost or altered
shows. The source never sees a write: Dovecot's rawlog of the source user holds no write
command beyond the ones this module sent itself (seeding, the user's own actions between
runs), and the EWS source answers none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import imaplib
import itertools
import json
import os
import queue
import re
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from imapclient import imap_utf7

import groupmigrate as gm
from groupmigrate import events as ev
from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials
from groupmigrate.backends.imap.destination import IMAPDestination, IMAPDestinationMailbox
from groupmigrate.backends.imap.source import IMAPSource
from groupmigrate.core.report import Report
from groupmigrate.core.state import SqliteStateStore

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.imap.test_imap_resume"
UTC = dt.timezone.utc
TENANT, CLIENT_ID, CLIENT_SECRET = "resume-tenant", "resume-app", "resume-app-secret-value"

_users = itertools.count(1)

FolderPath = tuple[str, ...]


# --- endpoints (built the same way in the test and in the worker process) ---------------------------


def dovecot_settings(server: Any) -> dict[str, Any]:
    """What the worker needs to reach a DovecotServer (it must not start one of its own)."""
    return {"host": server.host, "port": server.port, "tls_port": server.tls_port, "ca_file": server.ca_file,
            "master_user": server.master_user, "master_password": server.master_password}  # fmt: skip


def imap_source(s: dict[str, Any]) -> IMAPSource:
    """Every source mailbox opened by Dovecot's master user (``user*master``) over IMAPS."""
    return IMAPSource(s["host"], s["tls_port"], profile="dovecot", ca_file=s["ca_file"],
                      auth=BasicAuth(s["master_user"], s["master_password"]), admin_login="master-separator")  # fmt: skip


def imap_destination(s: dict[str, Any]) -> IMAPDestination:
    """Every destination mailbox opened by the master user with SASL PLAIN and an authorization id (STARTTLS)."""
    return IMAPDestination(s["host"], s["port"], profile="dovecot", tls="starttls", ca_file=s["ca_file"],
                           auth=BasicAuth(s["master_user"], s["master_password"]), admin_login="plain-authzid")  # fmt: skip


def ews_source(s: dict[str, Any]) -> gm.EWSSource:
    return gm.EWSSource(url=s["url"], profile="exchange-online", impersonation=True,
                        auth=OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=s["token_url"]))  # fmt: skip


def source_for(config: dict[str, Any]) -> Any:
    return ews_source(config["source"]) if config["source"].get("kind") == "ews" else imap_source(config["source"])


# --- the worker process ---------------------------------------------------------------------------------


def worker_main(config: dict[str, Any]) -> int:
    """One migration run, printing a line per event the test waits for::

        STARTED <run id>
        MIGRATED <items so far>
        APPENDED <call> <messages stored>   (with pause_after_append: then it holds, for the kill)
        DONE <status> <totals as JSON>

    ``pause_after_append = n``: the n-th call of IMAPDestinationMailbox.create_items returns its
    answers (the messages are on the destination) and the thread holds before the migrator
    commits the batch; the test kills the process there. Nothing else is changed.
    """
    pause = config.get("pause_after_append")
    if pause:
        original = IMAPDestinationMailbox.create_items
        calls = itertools.count(1)
        lock = threading.Lock()

        def create_items(self: Any, folder: Any, items: Any, stamps: Any = None) -> Any:
            results = original(self, folder, items, stamps)
            with lock:
                call = next(calls)
            if call == pause:
                print(f"APPENDED {call} {sum(1 for r in results if r.ok)}", flush=True)
                threading.Event().wait()  # the answers are in hand, the batch not committed: killed here
            return results

        IMAPDestinationMailbox.create_items = create_items  # type: ignore[method-assign]

    migrated = 0

    def on_event(event: Any) -> None:
        nonlocal migrated
        if isinstance(event, ev.RunStarted):
            print(f"STARTED {event.run_id}", flush=True)
        elif isinstance(event, ev.ItemMigrated):
            migrated += 1
            print(f"MIGRATED {migrated}", flush=True)

    pairs = [gm.AccountPair(s, d) for s, d in config["pairs"]]
    migrator = gm.Migrator(source_for(config), imap_destination(config["destination"]), state=config["state"],
                           workers=config.get("workers", 2), on_event=on_event)  # fmt: skip
    report = migrator.run(pairs, mode=config.get("mode", "full"))
    print(f"DONE {report.status} {json.dumps(report.totals())}", flush=True)
    return 0


class Worker:
    """One run of :func:`worker_main` in its own process, its output lines arriving on a queue."""

    def __init__(self, config: dict[str, Any], log: Path) -> None:
        self.log = log
        self._stderr = log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", MODULE, json.dumps(config)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True)  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.migrated = 0
        self.appended: int | None = None
        self.done: str | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _take(self, line: str | None) -> str | None:
        if line is not None:
            if line.startswith("MIGRATED "):
                self.migrated = int(line.split()[1])
            elif line.startswith("APPENDED "):
                self.appended = int(line.split()[2])
            elif line.startswith("DONE "):
                self.done = line
        return line

    def kill_when(self, condition: Callable[[], bool], timeout: float = 90, poll: float | None = None) -> bool:
        """SIGKILL the process once ``condition()`` holds (checked after each line, and every
        ``poll`` seconds); True when the kill landed before the run ended."""
        deadline = time.monotonic() + timeout
        while True:
            wait = deadline - time.monotonic() if poll is None else min(poll, deadline - time.monotonic())
            try:
                line = self._take(self.lines.get(timeout=max(0.0, wait)))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    self.kill()
                    pytest.fail(f"the migration process made no progress in time; stderr:\n{self.stderr()}")
                line = ""
            if line is None or self.done:
                self.proc.wait(timeout=10)
                return False
            if condition():
                break
        if self.proc.poll() is not None:
            return False
        self.kill()
        return self.proc.returncode == -signal.SIGKILL

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._stderr.close()

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


# --- a Dovecot mailbox as its user sees it (plain imaplib, one session) ------------------------------------


def mutf7(name: str) -> str:
    """A mailbox name in modified UTF-7 (RFC 3501 5.1.3)."""
    return bytes(imap_utf7.encode(name)).decode("ascii")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: user → the write commands this module's own sessions sent as that user (seeding, and what
#: the user does between runs), to tell them from the migration's in Dovecot's rawlog
HARNESS_WRITES: dict[str, Counter[str]] = {}

_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) (?P<name>.*)$')


class Box:
    """A user's Dovecot mailbox through one IMAPS session of the user's own: seeding, reading back."""

    def __init__(self, server: Any, user: str, password: str) -> None:
        self.user = user
        self.own = HARNESS_WRITES.setdefault(user.lower(), Counter())
        self.imap = imaplib.IMAP4_SSL(server.host, server.tls_port, ssl_context=ssl.create_default_context(cafile=server.ca_file))
        self.imap.login(user, password)

    def close(self) -> None:
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def __enter__(self) -> Box:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def name(path: FolderPath) -> str:
        return _quoted(mutf7("/".join(path)))

    def create(self, path: FolderPath) -> None:
        """The folder and its missing parents."""
        existing = set(self.paths())
        for depth in range(1, len(path) + 1):
            if path[:depth] not in existing and path[:depth] != ("INBOX",):
                self.own["CREATE"] += 1
                typ, data = self.imap.create(self.name(path[:depth]))
                assert typ == "OK", data

    def append(self, path: FolderPath, mime: bytes, flags: Sequence[str] = (), received: dt.datetime | None = None) -> int:
        when = imaplib.Time2Internaldate(received) if received is not None else None
        self.own["APPEND"] += 1
        typ, data = self.imap.append(self.name(path), f"({' '.join(flags)})" if flags else None, when, mime)
        assert typ == "OK", data
        match = re.search(rb"APPENDUID \d+ (\d+)", data[0])
        assert match, data
        return int(match.group(1))

    def add_flags(self, path: FolderPath, uid: int, flags: str) -> None:
        """What the user's mail client does when a message is read or flagged."""
        self.own.update(["SELECT", "UID STORE"])
        typ, data = self.imap.select(self.name(path))
        assert typ == "OK", data
        typ, data = self.imap.uid("STORE", str(uid), "+FLAGS", flags)
        assert typ == "OK", data
        self.imap.close()

    def paths(self) -> list[FolderPath]:
        """Every selectable folder, as a path of decoded names."""
        typ, data = self.imap.list('""', "*")
        assert typ == "OK", data
        out: list[FolderPath] = []
        for raw in data:
            line = b"".join(raw) if isinstance(raw, tuple) else raw
            match = _LIST_LINE.match(line or b"")
            if match is None or b"\\noselect" in match.group("flags").lower():
                continue
            name = match.group("name")
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
            out.append(tuple(imap_utf7.decode(name).split("/")))
        return out

    def read(self, path: FolderPath) -> list[dict[str, Any]]:
        """``{"uid", "uidvalidity", "sha256", "mime", "flags", "internaldate"}`` of every message, by UID
        (EXAMINE: nothing changes)."""
        typ, data = self.imap.select(self.name(path), readonly=True)
        if typ != "OK":
            return []
        if int(data[0] or 0) == 0:
            return []
        uidvalidity = int(self.imap.response("UIDVALIDITY")[1][0])
        typ, data = self.imap.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        assert typ == "OK", data
        out: list[dict[str, Any]] = []
        for i, entry in enumerate(data):
            if not isinstance(entry, tuple):
                continue
            following = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
            head = (entry[0] + b" " + following).decode("ascii", "replace")
            flags = sorted(f for f in re.search(r"FLAGS \(([^)]*)\)", head).group(1).split() if f != "\\Recent")
            when = dt.datetime.strptime(re.search(r'INTERNALDATE "([^"]+)"', head).group(1).strip(), "%d-%b-%Y %H:%M:%S %z")
            uid = int(re.search(r"UID (\d+)", head).group(1))
            out.append({"uid": uid, "uidvalidity": uidvalidity, "mime": entry[1], "sha256": hashlib.sha256(entry[1]).hexdigest(),
                        "flags": tuple(flags), "internaldate": when.astimezone(UTC)})  # fmt: skip
        return sorted(out, key=lambda m: m["uid"])

    def ids(self) -> set[str]:
        """The backend's id (``<UIDVALIDITY>.<UID>``) of every message in the mailbox."""
        return {f"{m['uidvalidity']}.{m['uid']}" for path in self.paths() for m in self.read(path)}

    def total(self) -> int:
        return sum(len(self.read(path)) for path in self.paths())


def contents(box: Box, path: FolderPath) -> Counter[tuple[Any, ...]]:
    """The folder as a multiset of (SHA-256 of the bytes, flags, INTERNALDATE)."""
    return Counter((m["sha256"], m["flags"], m["internaldate"]) for m in box.read(path))


def digests(box: Box, path: FolderPath) -> Counter[str]:
    return Counter(m["sha256"] for m in box.read(path))


# --- mail --------------------------------------------------------------------------------------------------


def rfc2822(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def mail(n: int, tag: str, when: dt.datetime, *, message_id: str | None = "auto", received_via: str | None = None) -> bytes:
    """A message a real mailbox holds: plain, or (every 7th) with an attachment; some with
    non-ASCII headers. The same arguments give the same bytes."""
    headers = []
    if received_via:
        headers.append(f"Received: from {received_via} by mx.old-host.example with ESMTPS; {rfc2822(when)}")
    subject = f"Quarterly figures #{n} ({tag})" if n % 5 else f"=?utf-8?q?Gr=C3=BC=C3=9Fe_#{n}_=E2=80=93_{tag}?="
    headers += [f"From: Partner {n % 13} <partner{n % 13}@fabrikam.example>", "To: alice@old-host.example",
                f"Subject: {subject}", f"Date: {rfc2822(when)}"]  # fmt: skip
    if message_id == "auto":
        headers.append(f"Message-ID: <{tag}-{n}@fabrikam.example>")
    elif message_id is not None:
        headers.append(f"Message-ID: {message_id}")
    headers.append("MIME-Version: 1.0")
    text = f"Figures for item {n} in {tag}.\r\n" + "Lorem ipsum dolor sit amet. " * (n % 9 + 1)
    if n % 7:
        headers += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        return ("\r\n".join(headers) + "\r\n\r\n" + text + "\r\nGrüße\r\n").encode("utf-8")
    boundary = f"=_b{n}"
    attachment = hashlib.sha256(f"{tag}{n}".encode()).hexdigest() * 8
    headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    return ("\r\n".join(headers) + f"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--{boundary}\r\nContent-Type: text/csv; name=\"figures-{n}.csv\"\r\n"
            f"Content-Disposition: attachment; filename=\"figures-{n}.csv\"\r\n\r\n{attachment}\r\n--{boundary}--\r\n").encode("utf-8")  # fmt: skip


#: a hosted mailbox: nested folders under INBOX and under a SPECIAL-USE folder, non-ASCII names
#: (one with "&", which modified UTF-7 writes "&-"); the shares of the messages
LAYOUT: dict[FolderPath, float] = {
    ("INBOX",): 0.25,
    ("INBOX", "Projects"): 0.10,
    ("INBOX", "Projects", "2026"): 0.13,
    ("Sent",): 0.13,
    ("Archive", "2019"): 0.10,
    ("Entwürfe – Ärger & Öl",): 0.13,
    ("Kunden", "Müller & Söhne"): 0.16,
}


def seed_dovecot(box: Box, total: int, now: dt.datetime, tag: str = "m") -> dict[FolderPath, int]:
    """``total`` messages in LAYOUT's folders, one every 7 hours back from ``now``, some read,
    flagged or with a keyword. INBOX also holds an exact twin of a message, two messages
    without Message-ID, one mail delivered twice (same Message-ID and body, another Received
    header) and two different messages with one Message-ID. Returns the count per folder."""
    counts = {path: int(total * share) for path, share in LAYOUT.items()}
    counts[("INBOX",)] += total - sum(counts.values())
    n, previous = 0, (b"", now)
    for path in LAYOUT:
        box.create(path)
        for i in range(counts[path]):
            n += 1
            when = (now - dt.timedelta(hours=7 * n + 3, minutes=n)).replace(microsecond=0)
            flags = (["\\Seen"] if n % 2 else []) + (["\\Flagged"] if n % 11 == 0 else []) + (["Finance"] if n % 6 == 0 else [])
            special = i if path == ("INBOX",) else None
            if special == 1:  # the exact twin of the message before
                data, when = previous
            elif special in (2, 3):
                data = mail(n, tag, when, message_id=None)
            elif special in (4, 5):  # on a list and in To: the same mail delivered twice
                when = previous[1] if special == 5 else when
                data = mail(4, tag, when, received_via=f"relay{special}.example.net")
            elif special in (6, 7):  # two different messages, one Message-ID (a careless mailer)
                data = mail(n, tag, when, message_id=f"<shared-{tag}@fabrikam.example>")
            else:
                data = mail(n, tag, when)
            box.append(path, data, flags, when)
            previous = (data, when)
    return counts


def assert_same_folders(src: Box, dst: Box, paths: Iterable[FolderPath]) -> int:
    """Every source message once in its destination folder, nowhere else; returns how many."""
    checked = 0
    for path in paths:
        want, got = contents(src, path), contents(dst, path)
        assert got == want, (path, f"missing: {sum((want - got).values())}, extra: {sum((got - want).values())}")
        checked += sum(want.values())
    assert dst.total() == checked, "the destination holds messages in other folders too"
    return checked


def verify_clean(migrator: gm.Migrator, pairs: list[gm.AccountPair], total: int) -> dict[str, int]:
    """verify(): completed, every source message migrated or present, nothing missing, extra or duplicated."""
    report = migrator.verify(pairs)
    totals = report.totals()
    assert report.status == "completed" and all(a.status == "completed" for a in report.accounts), report.summary()
    assert (totals.get("missing", 0), totals.get("duplicate", 0), totals.get("extra", 0)) == (0, 0, 0), report.summary()
    assert totals.get("source", 0) == total, totals
    assert totals.get("migrated", 0) + totals.get("present", 0) == total, totals
    return totals


def migration_writes(server: Any, user: str) -> list[str]:
    """The write commands the user's sessions sent (Dovecot's rawlog) beyond this module's own."""
    sent, own = Counter(server.write_commands(user)), HARNESS_WRITES.get(user.lower(), Counter())
    assert own <= sent, f"the rawlog misses commands the harness sent: {own - sent}"
    return sorted((sent - own).elements())


def new_pair(dovecot: Any) -> tuple[gm.AccountPair, tuple[str, str], tuple[str, str]]:
    n = next(_users)
    src, dst = (f"resume{n}@old-host.example", f"src-pw-{n}-value"), (f"resume{n}@new-host.example", f"dst-pw-{n}-value")
    dovecot.add_user(*src)
    dovecot.add_user(*dst)
    return gm.AccountPair(src[0], dst[0]), src, dst


# --- the state after a kill ---------------------------------------------------------------------------------


def recorded(state: str, outcomes: Iterable[str] = ("migrated", "present")) -> set[str]:
    """The destination ids the state file records for items of ``outcomes``."""
    store = SqliteStateStore(state)
    try:
        report = Report.from_state(store)
        return {m.destination_id for a in report.accounts for m in store.mappings(a.pair.key)
                if m.outcome in outcomes and m.destination_id}  # fmt: skip
    finally:
        store.close()


def check_state_after_kill(state: str, dst: Box) -> dict[str, set[str]]:
    """The state file of a killed run opens cleanly, shows the run interrupted, and claims no
    message the destination does not hold. Returns the ids it records and those the destination holds."""
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = SqliteStateStore(state)
    try:
        assert Report.from_state(store).status == "interrupted"
    finally:
        store.close()
    claimed, held = recorded(state), dst.ids()
    assert claimed <= held, f"{len(claimed - held)} message(s) recorded as copied are not on the destination"
    return {"recorded": claimed, "held": held}


# --- 1. and 2. killed and resumed ---------------------------------------------------------------------------


def maildir_count(dovecot: Any, user: str) -> int:
    """Messages the user's Maildir holds (committed: in a cur/ or new/ directory)."""
    root = Path(dovecot.workdir) / "home" / user.lower() / "Maildir"
    try:
        return sum(len(os.listdir(d)) for pattern in ("**/cur", "**/new") for d in root.glob(pattern))
    except OSError:
        return 0


def wait_for_sessions_to_end(dovecot: Any, user: str, timeout: float = 15) -> None:
    """Until every IMAP session of ``user`` that logged in has ended (Dovecot's log says
    "Disconnected" for it): a command the server received whole before the client died is
    carried out first."""
    user = re.escape(user.lower())
    started_re = re.compile(rf"Login: user=<{user}>.*?session=<([^>]+)>")
    ended_re = re.compile(rf"imap\({user}\)<\d+><([^>]+)>: (?:Info: )?Disconnected")
    deadline = time.monotonic() + timeout
    while True:
        log = dovecot.log_text()
        open_sessions = set(started_re.findall(log)) - set(ended_re.findall(log))
        if not open_sessions:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{len(open_sessions)} IMAP session(s) of {user} did not end within {timeout} s")
        time.sleep(0.02)


def kill_and_resume(dovecot: Any, tmp_path: Path, config: dict[str, Any], source: Any, pair: gm.AccountPair,
                    dst_login: tuple[str, str], total: int, kills: list[tuple[str, int]]) -> dict[str, Any]:  # fmt: skip
    """Run the migration in a worker process and SIGKILL it as ``kills`` say, each time with
    the same state file; then finish it in this process and check the outcome adds up.

    Kinds of kill: ``("appended", n)``: the n-th APPEND (a batch) of the run was answered, its
    batch not committed yet; ``("migrated", n)``: n messages were committed in the run;
    ``("stored", n)``: the destination's Maildir holds n messages more than before the run.
    """
    state = config["state"]
    after_kills: list[dict[str, Any]] = []
    unrecorded: set[str] = set()  # copies a killed run made without recording them
    held: set[str] = set()
    for i, (kind, value) in enumerate(kills):
        worker = Worker({**config, "pause_after_append": value if kind == "appended" else None}, tmp_path / f"run-{i}.log")
        start = maildir_count(dovecot, pair.destination)
        if kind == "appended":
            landed = worker.kill_when(lambda: worker.appended is not None)
        elif kind == "migrated":
            landed = worker.kill_when(lambda: worker.migrated >= value)
        else:
            landed = worker.kill_when(lambda: maildir_count(dovecot, pair.destination) >= start + value, poll=0.005)
        assert landed, f"run {i} ended before the kill ({kind} {value}): {worker.done}\n{worker.stderr()}"
        # an APPEND the killed process had sent whole is still carried out: count once it is done
        wait_for_sessions_to_end(dovecot, pair.destination)
        with Box(dovecot, *dst_login) as dst:
            seen = check_state_after_kill(state, dst)
        held = seen["held"]
        assert 0 < len(held) < total, f"run {i}: not killed mid-run: {len(held)} of {total} on the destination"
        if kind == "appended":  # the batch held at the kill is on the destination, not in the state
            assert held - seen["recorded"], f"run {i}: no message stored without being recorded"
        unrecorded |= held - seen["recorded"]
        after_kills.append({"kill": f"{kind} {value}", "held": len(held), "recorded": len(seen["recorded"])})

    destination = imap_destination(config["destination"])
    report = gm.Migrator(source, destination, state=state, workers=2).run([pair])
    totals = report.totals()
    assert report.status == "completed", report.accounts[0].error
    assert (totals["failed"], totals["ambiguous"]) == (0, 0), totals
    # what the destination lacked was copied; every copy made before the kill, recorded or
    # not, was recognised and not copied again
    assert (totals["migrated"], totals["duplicate"]) == (total - len(held), len(held)), (totals, after_kills)
    # the copies killed runs made without recording them were recognised by their content, and
    # only those: nothing else is taken for already there
    assert recorded(state, ["present"]) == unrecorded, after_kills
    verified = verify_clean(gm.Migrator(source, destination, state=state), [pair], total)
    assert verified.get("present", 0) == len(unrecorded), (verified, after_kills)
    return {"kills": after_kills, "resumed": totals, "verified": verified}


def resume_dovecot_to_dovecot(dovecot: Any, tmp_path: Path, total: int, kills: list[tuple[str, int]]) -> dict[str, Any]:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    pair, src_login, dst_login = new_pair(dovecot)
    with Box(dovecot, *src_login) as src:
        counts = seed_dovecot(src, total, now)
    settings = dovecot_settings(dovecot)
    config = {"source": settings, "destination": settings, "pairs": [[pair.source, pair.destination]],
              "state": str(tmp_path / "state.db"), "workers": 2}  # fmt: skip
    outcome = kill_and_resume(dovecot, tmp_path, config, imap_source(settings), pair, dst_login, total, kills)
    with Box(dovecot, *src_login) as src, Box(dovecot, *dst_login) as dst:
        assert assert_same_folders(src, dst, counts) == total
    # the MX points to the new host later: a delta run after the resumed one copies only the late mail
    with Box(dovecot, *src_login) as src:
        for k, path in enumerate([("INBOX",), ("Kunden", "Müller & Söhne")]):
            src.append(path, mail(5000 + k, "late", now), [], now)
    delta = gm.Migrator(imap_source(settings), imap_destination(settings), state=config["state"]).run([pair], mode="delta")
    assert (delta.status, delta.totals()["migrated"], delta.totals()["duplicate"]) == ("completed", 2, 0), delta.totals()
    with Box(dovecot, *src_login) as src, Box(dovecot, *dst_login) as dst:
        assert assert_same_folders(src, dst, counts) == total + 2
    assert migration_writes(dovecot, src_login[0]) == []
    return outcome


def test_dovecot_to_dovecot_killed_mid_append_resumes_to_an_exact_copy(dovecot: Any, tmp_path: Path) -> None:
    resume_dovecot_to_dovecot(dovecot, tmp_path, total=300, kills=[("appended", 2)])


@pytest.mark.slow
def test_dovecot_to_dovecot_killed_four_times_resumes_to_an_exact_copy(dovecot: Any, tmp_path: Path) -> None:
    resume_dovecot_to_dovecot(dovecot, tmp_path, total=900,
                              kills=[("appended", 1), ("migrated", 150), ("stored", 1), ("appended", 2)])  # fmt: skip


#: Exchange folders, and where Dovecot keeps them (by role: Inbox is INBOX, Sent Items is \Sent)
EWS_LAYOUT: dict[FolderPath, FolderPath] = {
    ("Inbox",): ("INBOX",),
    ("Inbox", "Projects", "2026"): ("INBOX", "Projects", "2026"),
    ("Sent Items",): ("Sent",),
    ("Archiv – Ärger & Öl",): ("Archiv – Ärger & Öl",),
    ("Archiv – Ärger & Öl", "Müller & Söhne"): ("Archiv – Ärger & Öl", "Müller & Söhne"),
}


def seed_ews(server: Any, address: str, total: int, now: dt.datetime) -> None:
    """``total`` messages over EWS_LAYOUT; the Inbox also holds an exact copy of a message and one without Message-ID."""
    paths = list(EWS_LAYOUT)
    for n in range(total - 1):
        when = (now - dt.timedelta(hours=5 * n + 1)).replace(microsecond=0)
        data = mail(n, "ews", when, message_id=None if n == 3 else "auto")
        server.seed_message(address, paths[n % len(paths)], data, is_read=n % 2 == 0, received=when,
                            categories=("Finance",) if n % 6 == 0 else ())  # fmt: skip
    twin = mail(5, "ews", (now - dt.timedelta(hours=26)).replace(microsecond=0))  # the same bytes as message 5
    server.seed_message(address, ("Inbox",), twin, received=(now - dt.timedelta(hours=2)).replace(microsecond=0))


def ews_contents(source: Any, address: str) -> dict[FolderPath, Counter[tuple[Any, ...]]]:
    """Per Dovecot folder the source messages should be in: (Message-ID, SHA-256 of the bytes, read)."""
    mailbox = source.open_mailbox(address)
    try:
        out: dict[FolderPath, Counter[tuple[Any, ...]]] = {}
        for folder in mailbox.folders():
            if folder.kind != "mail":
                continue
            items = [m for m in mailbox.fetch(folder, list(mailbox.list_items(folder))) if isinstance(m, gm.Message)]
            if items:
                target = EWS_LAYOUT[folder.path]
                out[target] = Counter((m.message_id, hashlib.sha256(m.mime).hexdigest(), m.is_read) for m in items)
        return out
    finally:
        mailbox.close()


def resume_exchange_to_dovecot(dovecot: Any, tmp_path: Path, register_source: Callable[..., None], total: int,
                               kills: list[tuple[str, int]]) -> dict[str, Any]:  # fmt: skip
    from groupmigrate.testing import EWSTestServer

    now = dt.datetime.now(UTC).replace(microsecond=0)
    n = next(_users)
    pair = gm.AccountPair(f"ews{n}@contoso.com", f"ews{n}@new-host.example")
    dst_login = (pair.destination, f"dst-pw-{n}-value")
    dovecot.add_user(*dst_login)
    with EWSTestServer(profile="exchange-online") as src:
        src.add_oauth_app(TENANT, CLIENT_ID, CLIENT_SECRET)
        src.add_mailbox(pair.source)
        seed_ews(src, pair.source, total, now)
        register_source(src)
        source = ews_source({"url": src.url, "token_url": src.token_url(TENANT)})
        expected = ews_contents(source, pair.source)
        assert sum(sum(c.values()) for c in expected.values()) == total
        config: dict[str, Any] = {"source": {"kind": "ews", "url": src.url, "token_url": src.token_url(TENANT)},
                  "destination": dovecot_settings(dovecot), "pairs": [[pair.source, pair.destination]],
                  "state": str(tmp_path / "state.db"), "workers": 2}  # fmt: skip
        outcome = kill_and_resume(dovecot, tmp_path, config, source, pair, dst_login, total, kills)
        # a delta run after the resumed one copies only the late mail
        for k, path in enumerate([("Inbox",), ("Archiv – Ärger & Öl", "Müller & Söhne")]):
            src.seed_message(pair.source, path, mail(5000 + k, "ews", now), received=now)
        register_source(src)
        delta = gm.Migrator(source, imap_destination(config["destination"]), state=config["state"]).run([pair], mode="delta")
        assert (delta.status, delta.totals()["migrated"], delta.totals()["duplicate"]) == ("completed", 2, 0), delta.totals()
        expected = ews_contents(source, pair.source)
        assert src.write_operations() == []
    with Box(dovecot, *dst_login) as dst:
        for path, want in expected.items():
            got = Counter((gm.Message.from_mime(m["mime"]).message_id, m["sha256"], "\\Seen" in m["flags"]) for m in dst.read(path))
            assert got == want, (path, f"missing: {sum((want - got).values())}, extra: {sum((got - want).values())}")
        assert dst.total() == total + 2, "the destination holds messages in other folders too"
    return outcome


def test_exchange_online_to_dovecot_killed_mid_append_resumes_to_an_exact_copy(dovecot: Any, tmp_path: Path,
                                                                               register_source: Callable[..., None]) -> None:  # fmt: skip
    resume_exchange_to_dovecot(dovecot, tmp_path, register_source, total=300, kills=[("appended", 2)])


@pytest.mark.slow
def test_exchange_online_to_dovecot_killed_three_times_resumes_to_an_exact_copy(dovecot: Any, tmp_path: Path,
                                                                                register_source: Callable[..., None]) -> None:  # fmt: skip
    resume_exchange_to_dovecot(dovecot, tmp_path, register_source, total=900,
                               kills=[("appended", 1), ("migrated", 120), ("stored", 1)])  # fmt: skip


# --- 3. trial, then full, then delta -------------------------------------------------------------------------

#: received this long ago: within the trial's 10 days, and before them (10 days and 4 hours is just outside)
RECENT = (dt.timedelta(hours=1), dt.timedelta(days=2), dt.timedelta(days=5), dt.timedelta(days=9, hours=20))
OLD = (dt.timedelta(days=10, hours=4), dt.timedelta(days=30), dt.timedelta(days=200), dt.timedelta(days=800))
TRIAL_FOLDERS: tuple[FolderPath, ...] = (("INBOX",), ("INBOX", "Projects"), ("Sent",), ("Entwürfe – Ärger & Öl",), ("Archive", "2019"))


def test_dovecot_trial_then_full_then_delta(dovecot: Any, tmp_path: Path) -> None:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    pair, src_login, dst_login = new_pair(dovecot)
    n = itertools.count()
    with Box(dovecot, *src_login) as src:
        for path in TRIAL_FOLDERS:
            src.create(path)
            for age in OLD if path == ("Archive", "2019") else RECENT + OLD:  # the archive: old mail only
                k = next(n)
                src.append(path, mail(k, "trial", now - age), ["\\Seen"] if k % 3 else [], now - age)
    settings = dovecot_settings(dovecot)
    source, destination = imap_source(settings), imap_destination(settings)
    state = str(tmp_path / "state.db")
    recent, old = len(RECENT) * (len(TRIAL_FOLDERS) - 1), len(OLD) * len(TRIAL_FOLDERS)

    trial = gm.Migrator(source, destination, state=state).run([pair], mode="trial")
    assert trial.status == "completed", trial.accounts[0].error
    assert (trial.totals()["migrated"], trial.totals()["duplicate"]) == (recent, 0), trial.totals()
    with Box(dovecot, *src_login) as src, Box(dovecot, *dst_login) as dst:
        for path in TRIAL_FOLDERS:  # the last 10 days, to the second
            wanted = Counter((m["sha256"], m["flags"], m["internaldate"]) for m in src.read(path)
                             if m["internaldate"] >= now - dt.timedelta(days=10))  # fmt: skip
            assert contents(dst, path) == wanted, path
    # a delta needs a full migration first: the trial copied only the last days
    with pytest.raises(gm.StateError, match="trial"):
        gm.Migrator(source, destination, state=state).run([pair], mode="delta")

    full = gm.Migrator(source, destination, state=state).run([pair])
    assert full.status == "completed", full.accounts[0].error
    assert (full.totals()["migrated"], full.totals()["duplicate"], full.totals()["failed"]) == (old, recent, 0), full.totals()
    with Box(dovecot, *src_login) as src, Box(dovecot, *dst_login) as dst:
        assert assert_same_folders(src, dst, TRIAL_FOLDERS) == recent + old

    # after the full run: new mail, a message moved in from a local archive (a new UID with an
    # old date), a new folder, and a message the user flagged (its flags changed, not its content)
    with Box(dovecot, *src_login) as src:
        arrived = [src.append(("INBOX",), mail(100, "late", now), [], now),
                   src.append(("Sent",), mail(101, "late", now), ["\\Seen"], now),
                   src.append(("INBOX",), mail(102, "late", now - dt.timedelta(days=400)), ["\\Seen"], now - dt.timedelta(days=400))]  # fmt: skip
        src.create(("INBOX", "Projects", "2027"))
        arrived += [src.append(("INBOX", "Projects", "2027"), mail(103 + i, "late", now), [], now) for i in range(2)]
        flagged = src.read(("INBOX",))[0]["uid"]
        src.add_flags(("INBOX",), flagged, "(\\Flagged)")

    delta = gm.Migrator(source, destination, state=state).run([pair], mode="delta")
    assert delta.status == "completed", delta.accounts[0].error
    # only the new UIDs were copied; the flagged message was listed (CONDSTORE: its flags
    # changed) and found already migrated; nothing else was even looked at
    assert (delta.totals()["migrated"], delta.totals()["duplicate"], delta.totals()["failed"]) == (len(arrived), 1, 0), delta.totals()
    folders = (*TRIAL_FOLDERS, ("INBOX", "Projects", "2027"))
    with Box(dovecot, *src_login) as src, Box(dovecot, *dst_login) as dst:
        for path in folders:  # the flag change is not carried: compare the messages themselves
            assert digests(dst, path) == digests(src, path), path
        assert dst.total() == recent + old + len(arrived)
    again = gm.Migrator(source, destination, state=state).run([pair], mode="delta")
    assert (again.status, again.totals()["migrated"]) == ("completed", 0), again.totals()
    verify_clean(gm.Migrator(source, destination, state=state), [pair], recent + old + len(arrived))
    assert migration_writes(dovecot, src_login[0]) == []


@pytest.mark.parametrize("sent", ["Sent Items", "Gesendete Elemente"])
def test_exchange_online_to_dovecot_delta_puts_a_new_subfolder_of_sent_under_sent(
    dovecot: Any, tmp_path: Path, register_source: Callable[..., None], sent: str
) -> None:
    """A subfolder of the Sent folder goes under Dovecot's \\Sent folder in every run, also when
    it first appears in a later run (a delta, or a run resumed after a kill), whose session
    maps the Sent folder from the state file. A German mailbox names it "Gesendete Elemente"."""
    from groupmigrate.testing import EWSTestServer

    now = dt.datetime.now(UTC).replace(microsecond=0)
    n = next(_users)
    pair = gm.AccountPair(f"sent{n}@contoso.com", f"sent{n}@new-host.example")
    dst_login = (pair.destination, f"dst-pw-{n}-value")
    dovecot.add_user(*dst_login)
    with EWSTestServer(profile="exchange-online") as src:
        src.add_oauth_app(TENANT, CLIENT_ID, CLIENT_SECRET)
        src.add_mailbox(pair.source)
        folder = src.find_folder(pair.source, ("Sent Items",))
        with src.store.lock:  # the well-known folder as a localized mailbox names it
            folder.display_name = sent
            src.store.touch_folder(folder)
        for k, path in enumerate([("Inbox",), (sent,), (sent, "2025")]):
            src.seed_message(pair.source, path, mail(k, "sent", now - dt.timedelta(days=k)), received=now - dt.timedelta(days=k))
        register_source(src)
        source, destination = ews_source({"url": src.url, "token_url": src.token_url(TENANT)}), imap_destination(dovecot_settings(dovecot))
        state = str(tmp_path / "state.db")
        full = gm.Migrator(source, destination, state=state).run([pair])
        assert (full.status, full.totals()["migrated"]) == ("completed", 3), full.totals()
        # later: a new subfolder of Sent, with a message (the test acting as the user)
        src.seed_message(pair.source, (sent, "2026"), mail(10, "sent", now), received=now)
        register_source(src)
        delta = gm.Migrator(source, destination, state=state).run([pair], mode="delta")
        assert (delta.status, delta.totals()["migrated"]) == ("completed", 1), delta.totals()
        assert src.write_operations() == []
    with Box(dovecot, *dst_login) as dst:
        holding = {path: len(dst.read(path)) for path in dst.paths() if dst.read(path)}
    assert holding == {("INBOX",): 1, ("Sent",): 1, ("Sent", "2025"): 1, ("Sent", "2026"): 1}, holding


# --- 4. the state file was lost ---------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["full", "trial"])
def test_dovecot_fresh_state_over_migrated_destination_creates_nothing_twice(dovecot: Any, tmp_path: Path, first: str) -> None:
    """The state file of the first run is lost (a new machine, a deleted directory): a full run
    with a new one finds every copy on the destination by content and creates none again. The
    first run was a whole migration, or a trial (the destination holds the last 10 days)."""
    now = dt.datetime.now(UTC).replace(microsecond=0)
    pair, src_login, dst_login = new_pair(dovecot)
    total = 80
    with Box(dovecot, *src_login) as src:
        counts = seed_dovecot(src, total, now, tag="lost")
        recent = sum(1 for p in counts for m in src.read(p) if m["internaldate"] >= now - dt.timedelta(days=10))
    assert 0 < recent < total
    settings = dovecot_settings(dovecot)
    source, destination = imap_source(settings), imap_destination(settings)
    lost, fresh = str(tmp_path / "lost.db"), str(tmp_path / "fresh.db")
    before = gm.Migrator(source, destination, state=lost).run([pair], mode=first)
    on_destination = total if first == "full" else recent
    assert (before.status, before.totals()["migrated"]) == ("completed", on_destination), before.totals()
    # meanwhile a mail arrives at the new host (the MX points to it): the user's, not the source's
    with Box(dovecot, *dst_login) as dst:
        dst.append(("INBOX",), mail(999, "new-host", now), [], now)

    again = gm.Migrator(source, destination, state=fresh).run([pair])
    totals = again.totals()
    assert again.status == "completed", again.accounts[0].error
    # IMAP keeps no provenance stamp: the copies are recognised by content and reported as
    # already there ("duplicate" in a run's counts, "present" in verify)
    assert (totals["migrated"], totals["duplicate"], totals["failed"]) == (total - on_destination, on_destination, 0), totals
    report = gm.Migrator(source, destination, state=fresh).verify([pair])
    vt = report.totals()
    assert report.status == "completed", report.summary()
    assert (vt["source"], vt["migrated"], vt["present"]) == (total, total - on_destination, on_destination), vt
    assert (vt["missing"], vt["duplicate"], vt["extra"]) == (0, 0, 1), vt  # the extra one: the user's new mail
    with Box(dovecot, *src_login) as src, Box(dovecot, *dst_login) as dst:
        for path in counts:
            want = digests(src, path) + (Counter({hashlib.sha256(mail(999, "new-host", now)).hexdigest(): 1}) if path == ("INBOX",) else Counter())
            assert digests(dst, path) == want, path
        assert dst.total() == total + 1
    assert migration_writes(dovecot, src_login[0]) == []


if __name__ == "__main__":
    sys.exit(worker_main(json.loads(sys.argv[1])))
