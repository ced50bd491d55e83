"""Shared pieces of the benchmarks: a deterministic mailbox generator, EWS test servers in their
own processes, client-side measurement (wall time, CPU, peak RSS), tables and JSON results.

How the client is measured
--------------------------
The two EWS test servers (source and destination) each run in a child process started with
``multiprocessing`` (spawn) and are driven over a pipe (:class:`ServerProcess`). The process
running the benchmark script is therefore the migration *client* and nothing else:

* client CPU is ``resource.getrusage(RUSAGE_SELF)`` user + system time (all threads of this
  process, nothing of the children) taken before and after a variant;
* peak RSS is the kernel's high-water mark ``VmHWM`` of this process, reset before each variant by
  writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0); where that is refused, a 10 ms
  sampler of ``VmRSS`` is used instead (``rss_method`` in the results says which);
* server CPU is each server process's ``time.process_time()``, asked over the pipe before and
  after, so a table can show which side was busy.

Mailboxes are generated from a seed inside the server process (``seed_generated``), so the
client never holds the generated data. Item ``i`` depends only on ``(seed, i)``: a mailbox of
1,000 items is the first 1,000 items of one of 10,000.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
UTC = dt.timezone.utc
MB = 1_000_000
KB = 1_000

# Fixed "now" of the generated mailboxes (dates are part of what is generated, so fixed too).
EPOCH = dt.datetime(2026, 1, 1, tzinfo=UTC)

SOURCE_PROFILE, DESTINATION_PROFILE = "exchange-online", "workmail"
TENANT, CLIENT_ID, CLIENT_SECRET = "bench-tenant", "bench-app", "bench-app-secret"
ADMIN, ADMIN_PASSWORD = "migration-admin@example.org", "bench-admin-password"
USER_PASSWORD = "bench-user-password"

# --------------------------------------------------------------------------------------------
# The mailbox generator
# --------------------------------------------------------------------------------------------

#: Item-type shares and mail sizes of each mix. A mail size band is (share, low, high) in bytes
#: of MIME; sizes are drawn log-uniformly within a band. Bands above 100 KB carry attachments.
MIXES: dict[str, dict[str, Any]] = {
    # Like a real business mailbox: mostly 5-100 KB, a tail of attachments up to 20 MB.
    "mail-heavy": {
        "types": {"mail": 0.90, "contacts": 0.05, "calendar": 0.03, "tasks": 0.015, "notes": 0.005},
        "mail_sizes": [(0.88, 5 * KB, 100 * KB), (0.10, 100 * KB, 2 * MB), (0.02, 2 * MB, 20 * MB)],
        "mail_folders": "spread",
    },
    # The same item types and small mails only (no attachment tail).
    "small-mixed": {
        "types": {"mail": 0.90, "contacts": 0.05, "calendar": 0.03, "tasks": 0.015, "notes": 0.005},
        "mail_sizes": [(1.0, 5 * KB, 100 * KB)],
        "mail_folders": "spread",
    },
    # Small mails (2-10 KB) all in the Inbox: the worst case for anything kept per folder.
    "small": {
        "types": {"mail": 1.0},
        "mail_sizes": [(1.0, 2 * KB, 10 * KB)],
        "mail_folders": "inbox",
    },
    # 20 MB mails (attachments of 14.5 MB in all, base64 in the MIME) for the memory benchmark.
    "huge": {
        "types": {"mail": 1.0},
        "mail_sizes": [(1.0, 20 * MB, 20 * MB)],
        "mail_folders": "inbox",
    },
    # The same, dealt round-robin into four folders (so that four workers hold batches at once).
    "huge-4-folders": {
        "types": {"mail": 1.0},
        "mail_sizes": [(1.0, 20 * MB, 20 * MB)],
        "mail_folders": [("Inbox",), ("Sent Items",), ("Archive 2024",), ("Inbox", "Projects")],
    },
}

#: Mail folders and their share of the mail, for ``"spread"`` mixes.
MAIL_FOLDERS: list[tuple[tuple[str, ...], float]] = [
    (("Inbox",), 0.40),
    (("Inbox", "Projects"), 0.08),
    (("Inbox", "Projects", "2025"), 0.05),
    (("Inbox", "Newsletters"), 0.05),
    (("Sent Items",), 0.20),
    (("Archive 2024",), 0.10),
    (("Archive 2024", "Customers – Übersicht"), 0.05),
    (("Deleted Items",), 0.04),
    (("Drafts",), 0.03),
]

_FIRST = ("Anna Ben Clara David Emma Felix Greta Hugo Ida Jonas Karla Leon Mia Noah Olga Paul Rosa Sven "
          "Tina Uwe Vera Willi Xenia Yusuf Zoe Ahmed Beatriz Chen Dmitri Eleni Fatima Goran Hana Ivan").split()
_LAST = ("Müller Schmidt Weber Fischer Wagner Becker Hoffmann Schulz Koch Richter Klein Wolf Neumann "
         "Schwarz Braun Zimmermann Krüger Hartmann Lange Werner Krause Meier Lehmann Köhler Huber").split()
_DOMAINS = ("fabrikam.example", "northwind.example", "tailspin.example", "wingtip.example", "litware.example")
_WORDS = None  # the generated vocabulary, built once per process


def _vocabulary() -> list[str]:
    global _WORDS
    if _WORDS is None:
        rng = random.Random("groupmigrate-benchmark-vocabulary")
        letters = "etaoinshrdlucmfwypvbgkqjxz"
        weights = [12, 9, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1]
        words: set[str] = set()
        while len(words) < 3000:
            words.add("".join(rng.choices(letters, weights, k=rng.choice((2, 3, 4, 5, 5, 6, 7, 8, 9, 11)))))
        _WORDS = sorted(words) + ["Übersicht", "Größe", "naïve", "café", "Zürich", "Ærø"]
    return _WORDS


_CORPUS: str | None = None


def _corpus() -> str:
    """About 2 MB of text in 72-column lines, from which bodies are sliced."""
    global _CORPUS
    if _CORPUS is None:
        rng = random.Random("groupmigrate-benchmark-corpus")
        words = _vocabulary()
        lines, line, total = [], [], 0
        while total < 2_000_000:
            w = rng.choice(words)
            if sum(len(x) + 1 for x in line) + len(w) > 72:
                text = " ".join(line)
                if rng.random() < 0.15:
                    text += "."
                lines.append(text)
                total += len(text) + 1
                line = []
                if rng.random() < 0.1:
                    lines.append("")
            line.append(w)
        _CORPUS = "\n".join(lines)
    return _CORPUS


def _text(rng: random.Random, size: int) -> str:
    corpus = _corpus()
    size = max(16, min(size, len(corpus) - 1))
    start = rng.randrange(0, len(corpus) - size)
    return corpus[start : start + size]


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = f"{first}.{last}".lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
    return f"{first} {last}", f"{local}@{rng.choice(_DOMAINS)}"


def _header_words(text: str) -> str:
    """``text`` as an RFC 2047 encoded word when it is not ASCII."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def _filename_param(name: str) -> str:
    """``filename=`` of Content-Disposition, RFC 2231-encoded when not ASCII."""
    try:
        name.encode("ascii")
        return f'filename="{name}"'
    except UnicodeEncodeError:
        import urllib.parse

        return "filename*=utf-8''" + urllib.parse.quote(name.encode(), safe="")


def _pick_band(rng: random.Random, bands: list[tuple[float, int, int]]) -> int:
    r = rng.random()
    for share, low, high in bands:
        if r < share:
            break
        r -= share
    if low == high:
        return low
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def _b64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


_ATTACHMENT_TYPES = (
    ("application/pdf", "pdf"), ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ("image/jpeg", "jpg"), ("application/zip", "zip"), ("application/vnd.ms-excel", "xls"),
)  # fmt: skip


def make_mime(index: int, seed: int, size: int, received: dt.datetime, owner: str, rng: random.Random) -> bytes:
    """A MIME message of about ``size`` bytes; above 100 KB most of it is attachments."""
    sender_name, sender = _person(rng)
    to_name, to_addr = owner.split("@")[0].title(), owner
    subject = " ".join(rng.choice(_vocabulary()) for _ in range(rng.randint(3, 9))).capitalize()
    if rng.random() < 0.2:
        subject = "Re: " + subject
    if rng.random() < 0.1:
        subject += " – Übersicht"
    boundary = f"----=_Part_{seed}_{index}_{rng.getrandbits(40):x}"
    alt = f"----=_Alt_{seed}_{index}_{rng.getrandbits(40):x}"
    date = received - dt.timedelta(seconds=rng.randint(2, 600))
    head = [
        f"Received: from mail{rng.randint(1, 40)}.{sender.split('@')[1]} (mail{rng.randint(1, 40)}."
        f"{sender.split('@')[1]} [10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}])"
        f" by mx.contoso.com with ESMTPS id {rng.getrandbits(48):x}; {received.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"From: {_header_words(sender_name)} <{sender}>",
        f"To: {_header_words(to_name)} <{to_addr}>",
    ]
    if rng.random() < 0.3:
        cc_name, cc = _person(rng)
        head.append(f"Cc: {_header_words(cc_name)} <{cc}>")
    head += [
        f"Subject: {_header_words(subject)}",
        f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: <{seed}.{index}.{rng.getrandbits(64):x}@{sender.split('@')[1]}>",
        "MIME-Version: 1.0",
        f"X-Mailer: Benchmark Mailer {rng.randint(1, 9)}.{rng.randint(0, 9)}",
    ]
    attach = size > 100 * KB
    body_budget = size - 1200
    attachments: list[tuple[str, str, int]] = []
    if attach:
        body_budget = min(max(2000, int(size * 0.03)), 40 * KB)
        remaining = size - body_budget - 1500
        count = 1 if remaining < 1 * MB else rng.randint(1, 3)
        for k in range(count):
            part = remaining // (count - k)
            remaining -= part
            ctype, ext = rng.choice(_ATTACHMENT_TYPES)
            raw = max(1, int((part - 300) * 0.75 * 76 / 78))  # base64 + CRLF per 76 chars
            attachments.append((ctype, f"{rng.choice(_vocabulary())}-{index}-{k}.{ext}", raw))
    text_len = max(200, int(body_budget * 0.4))
    html_len = max(200, body_budget - text_len - 400)
    plain = _text(rng, text_len).replace("\n", "\r\n")
    html_body = "<html><body>" + "".join(f"<p>{p}</p>" for p in _text(rng, html_len).split("\n\n")) + "</body></html>"
    html_body = html_body.replace("\n", "\r\n")
    alt_part = (
        f"--{alt}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{plain}\r\n"
        f"--{alt}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html_body}\r\n"
        f"--{alt}--\r\n"
    ).encode()
    if not attachments:
        head.append(f'Content-Type: multipart/alternative; boundary="{alt}"')
        return ("\r\n".join(head) + "\r\n\r\n").encode() + alt_part
    head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    parts = [("\r\n".join(head) + "\r\n\r\n").encode(), f"--{boundary}\r\nContent-Type: multipart/alternative; "
             f'boundary="{alt}"\r\n\r\n'.encode(), alt_part]
    for ctype, name, raw in attachments:
        parts.append(
            f'--{boundary}\r\nContent-Type: {ctype}; name="{_header_words(name)}"\r\n'
            f"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; {_filename_param(name)}\r\n\r\n".encode()
        )
        parts.append(_b64_lines(rng.randbytes(raw)))
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def _pick_type(rng: random.Random, types: dict[str, float]) -> str:
    r = rng.random()
    for kind, share in types.items():
        if r < share:
            return kind
        r -= share
    return "mail"


def _pick_folder(rng: random.Random) -> tuple[str, ...]:
    r = rng.random()
    for path, share in MAIL_FOLDERS:
        if r < share:
            return path
        r -= share
    return MAIL_FOLDERS[0][0]


_PHOTO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def generate(seed: int, count: int, mix: str, owner: str, start: int = 0) -> Iterator[dict[str, Any]]:
    """Yield ``count`` generated items (from index ``start``): dicts with ``kind``, ``folder`` and
    either ``mime`` (mail) or ``item`` (a groupmigrate.items object)."""
    from groupmigrate.items import Attendee, Contact, Event, Note, Phone, PostalAddress, Task

    spec = MIXES[mix]
    for index in range(start, start + count):
        rng = random.Random(f"{seed}:{mix}:{index}")
        kind = _pick_type(rng, spec["types"])
        received = EPOCH - dt.timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
        if kind == "mail":
            size = _pick_band(rng, spec["mail_sizes"])
            where = spec["mail_folders"]
            if where == "spread":
                folder = _pick_folder(rng)
            elif isinstance(where, list):
                folder = where[index % len(where)]
            else:
                folder = ("Inbox",)
            yield {
                "kind": "mail", "folder": folder, "received": received,
                "mime": make_mime(index, seed, size, received, owner, rng),
                "is_read": rng.random() < 0.8, "flag": "Flagged" if rng.random() < 0.05 else "NotFlagged",
                "categories": ("Finance",) if rng.random() < 0.1 else (),
                "importance": "High" if rng.random() < 0.05 else "Normal",
            }  # fmt: skip
        elif kind == "contacts":
            name, address = _person(rng)
            first, last = name.split(" ", 1)
            yield {"kind": kind, "item": Contact(
                display_name=f"{name} ({index})", given_name=first, surname=last, emails=(address,),
                phones=(Phone("business", f"+49 30 {rng.randint(1000000, 9999999)}"),
                        Phone("mobile", f"+49 170 {rng.randint(1000000, 9999999)}")),
                addresses=(PostalAddress("business", f"Hauptstraße {rng.randint(1, 200)}", "Berlin", None,
                                         f"{rng.randint(10000, 14999)}", "Germany"),),
                company=address.split("@")[1].split(".")[0].title(), job_title=rng.choice(("CFO", "Engineer", "Sales")),
                birthday=dt.date(1960 + rng.randint(0, 40), rng.randint(1, 12), rng.randint(1, 28)),
                notes=_text(rng, rng.randint(0, 400)) or None, photo=_PHOTO if rng.random() < 0.1 else None,
                websites=(f"https://www.{address.split('@')[1]}/",),
            )}  # fmt: skip
        elif kind == "calendar":
            start_at = (EPOCH + dt.timedelta(days=rng.randint(-700, 200))).replace(hour=rng.randint(7, 17))
            attendees = tuple(Attendee(_person(rng)[1], None, "required", "accepted") for _ in range(rng.randint(0, 4)))
            r = rng.random()
            if r < 0.1:
                day = start_at.date()
                event = Event(subject=f"Holiday {index}", start=day, end=day + dt.timedelta(days=1), is_all_day=True,
                              show_as="away", uid=f"bench-{seed}-{index}@contoso")
            else:
                event = Event(
                    subject=f"Meeting {index}: " + " ".join(rng.choice(_vocabulary()) for _ in range(4)),
                    start=start_at, end=start_at + dt.timedelta(minutes=rng.choice((30, 60, 90))),
                    timezone=rng.choice(("Europe/Berlin", "America/New_York", "UTC")),
                    location=f"Room {rng.randint(1, 40)}", body=_text(rng, rng.randint(50, 2000)),
                    attendees=attendees, uid=f"bench-{seed}-{index}@contoso", reminder_minutes=15,
                    recurrence="FREQ=WEEKLY;COUNT=10" if r > 0.8 else None,
                )  # fmt: skip
            yield {"kind": kind, "item": event}
        elif kind == "tasks":
            done = rng.random() < 0.3
            status = "completed" if done else ("in_progress" if rng.random() < 0.5 else "not_started")
            yield {"kind": kind, "item": Task(
                subject=f"Task {index}: " + " ".join(rng.choice(_vocabulary()) for _ in range(4)),
                body=_text(rng, rng.randint(0, 1000)) or None, due=(EPOCH + dt.timedelta(days=rng.randint(-300, 60))).date(),
                status=status, percent_complete={"completed": 100, "in_progress": 50}.get(status, 0),
                completed=(EPOCH - dt.timedelta(days=rng.randint(1, 300))) if done else None,
            )}  # fmt: skip
        else:
            yield {"kind": kind, "item": Note(
                subject=f"Note {index}", body=_text(rng, rng.randint(20, 800)),
                color=rng.choice(("yellow", "blue", "green")),
            )}  # fmt: skip


# --------------------------------------------------------------------------------------------
# EWS test servers in child processes
# --------------------------------------------------------------------------------------------


def _proc_status(field: str, pid: str = "self") -> int | None:
    """A ``kB`` field of /proc/<pid>/status in bytes (VmRSS, VmHWM), None when unavailable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class _ServerSide:
    """What runs in the server process: one EWSTestServer and the commands the client may send."""

    def __init__(self, profile: str) -> None:
        from groupmigrate.testing import EWSTestServer

        self.server = EWSTestServer(profile=profile)

    def url(self) -> str:
        return self.server.url

    def token_url(self, tenant: str) -> str:
        return self.server.token_url(tenant)

    def add_mailbox(self, address: str, password: str | None = None) -> None:
        self.server.add_mailbox(address, password=password)

    def grant_impersonation(self, actor: str, mailbox: str) -> None:
        self.server.grant_impersonation(actor, mailbox)

    def add_oauth_app(self, tenant: str, client_id: str, secret: str) -> None:
        self.server.add_oauth_app(tenant, client_id, secret)

    def set_knob(self, name: str, value: Any) -> None:
        setattr(self.server.knobs, name, value)

    def seed_generated(self, address: str, seed: int, count: int, mix: str, start: int = 0,
                       kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Generate and store ``count`` items (only those of ``kinds`` when given); returns counts
        and MIME bytes per type."""
        began = time.perf_counter()
        counts: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for spec in generate(seed, count, mix, address, start):
            kind = spec["kind"]
            if kinds is not None and kind not in kinds:
                continue
            if kind == "mail":
                self.server.seed_message(address, spec["folder"], spec["mime"], is_read=spec["is_read"],
                                         flag=spec["flag"], categories=spec["categories"],
                                         importance=spec["importance"], received=spec["received"])  # fmt: skip
                size = len(spec["mime"])
            else:
                self.server.seed_item(address, spec["item"])
                size = 0
            counts[kind] = counts.get(kind, 0) + 1
            sizes[kind] = sizes.get(kind, 0) + size
        return {"counts": counts, "mime_bytes": sizes, "seconds": time.perf_counter() - began}

    def mailbox_stats(self, address: str) -> dict[str, Any]:
        """Items and bytes (the EWS Size property) per folder path of a mailbox."""
        out: dict[str, Any] = {"folders": {}, "items": 0, "bytes": 0}
        for path in self.server.folder_paths(address):
            items = self.server.folder_items(address, path)
            if not items:
                continue
            size = sum(i.size for i in items)
            out["folders"]["/".join(path)] = {"items": len(items), "bytes": size}
            out["items"] += len(items)
            out["bytes"] += size
        return out

    def operation_counts(self, mailbox: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.server.operations:
            if mailbox is None or (op.mailbox or "").lower() == mailbox.lower():
                counts[op.operation] = counts.get(op.operation, 0) + 1
        return counts

    def clear_operations(self) -> None:
        self.server.clear_operations()

    def cpu(self) -> float:
        return time.process_time()

    def rss(self) -> int | None:
        return _proc_status("VmRSS")

    def stop(self) -> None:
        self.server.stop()


def _serve(conn: Any, profile: str) -> None:
    try:
        side = _ServerSide(profile)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send((False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return
    conn.send((True, side.url()))
    while True:
        try:
            method, args, kwargs = conn.recv()
        except EOFError:
            break
        if method == "exit":
            side.stop()
            conn.send((True, None))
            break
        try:
            conn.send((True, getattr(side, method)(*args, **kwargs)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            conn.send((False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class ServerProcess:
    """An EWSTestServer of ``profile`` running in a child process, driven over a pipe."""

    def __init__(self, profile: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._lock = threading.Lock()
        self.profile = profile
        self.process = ctx.Process(target=_serve, args=(child, profile), daemon=True, name=f"ews-{profile}")
        self.process.start()
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"test server ({profile}) did not start: {value}")
        self.url: str = value

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._conn.send((method, args, kwargs))
            ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"test server ({self.profile}) {method} failed: {value}")
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **k: self.call(name, *a, **k)

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.call("exit")
            except (RuntimeError, OSError, EOFError):
                pass
            self.process.join(10)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(5)


class Servers:
    """A source (Exchange Online-like) and a destination (WorkMail-like) server, each in its own
    process, with the credentials the migration uses: an app-only OAuth client with
    impersonation on the source, an admin with impersonation grants on the destination."""

    def __init__(self, source_profile: str = SOURCE_PROFILE, destination_profile: str = DESTINATION_PROFILE) -> None:
        self.source = ServerProcess(source_profile)
        self.destination = ServerProcess(destination_profile)
        self.source_profile, self.destination_profile = source_profile, destination_profile
        self.source.add_oauth_app(TENANT, CLIENT_ID, CLIENT_SECRET)
        self.destination.add_mailbox(ADMIN, password=ADMIN_PASSWORD)
        self._token_url = self.source.token_url(TENANT)

    def pin(self, spec: str | None) -> str | None:
        """Pin this process and the servers to CPUs: ``spec`` is ``CLIENT:SERVERS``, each a
        comma-separated list of CPU numbers (``0:1`` on two cores). Returns what was set."""
        if not spec:
            return None
        client, _, servers = spec.partition(":")
        mine = {int(c) for c in client.split(",") if c}
        theirs = {int(c) for c in servers.split(",") if c} or mine
        os.sched_setaffinity(0, mine)
        for server in (self.source, self.destination):
            os.sched_setaffinity(server.process.pid, theirs)
        return f"client on CPU {sorted(mine)}, both servers on CPU {sorted(theirs)}"

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.source.close()
        self.destination.close()

    def add_source_mailbox(self, address: str, seed: int, count: int, mix: str,
                           kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
        """A source mailbox (with a password, for per-user clients) filled from the generator."""
        self.source.add_mailbox(address, password=USER_PASSWORD)
        seeded = self.source.seed_generated(address, seed, count, mix, kinds=kinds)
        seeded["stats"] = self.source.mailbox_stats(address)
        return seeded

    def add_destination_mailbox(self, address: str) -> None:
        self.destination.add_mailbox(address, password=USER_PASSWORD)
        self.destination.grant_impersonation(ADMIN, address)

    def set_latency(self, seconds: float) -> None:
        self.source.set_knob("latency", seconds)
        self.destination.set_knob("latency", seconds)

    def cpu(self) -> tuple[float, float]:
        return self.source.cpu(), self.destination.cpu()

    def endpoints(self) -> Endpoints:
        return Endpoints(self.source.url, self.destination.url, self._token_url, self.source_profile,
                         self.destination_profile)

    def ews_source(self, **kwargs: Any) -> Any:
        return self.endpoints().ews_source(**kwargs)

    def ews_destination(self, **kwargs: Any) -> Any:
        return self.endpoints().ews_destination(**kwargs)


@dataclasses.dataclass
class Endpoints:
    """Where the two servers listen and how to log in: enough for another process to migrate."""

    source_url: str
    destination_url: str
    token_url: str
    source_profile: str = SOURCE_PROFILE
    destination_profile: str = DESTINATION_PROFILE

    def ews_source(self, **kwargs: Any) -> Any:
        from groupmigrate.auth import OAuth2ClientCredentials
        from groupmigrate.backends.ews import EWSSource

        return EWSSource(
            url=self.source_url, profile=self.source_profile, impersonation=True,
            auth=OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=self.token_url), **kwargs,
        )  # fmt: skip

    def ews_destination(self, **kwargs: Any) -> Any:
        from groupmigrate.auth import BasicAuth
        from groupmigrate.backends.ews import EWSDestination

        return EWSDestination(
            url=self.destination_url, profile=self.destination_profile, impersonation=True,
            auth=BasicAuth(ADMIN, ADMIN_PASSWORD), **kwargs,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads, none of its children)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _RssSampler(threading.Thread):
    def __init__(self, interval: float = 0.01) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.interval = interval
        self.peak = _proc_status("VmRSS") or 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.peak = max(self.peak, _proc_status("VmRSS") or 0)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, _proc_status("VmRSS") or 0)


class Meter:
    """Wall time, client CPU, client peak RSS and server CPU over a ``with`` block."""

    def __init__(self, servers: Servers | None = None, sample_rss: bool = False) -> None:
        self.servers = servers
        self.sample_rss = sample_rss
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Meter:
        self._hwm = reset_peak_rss()
        self._sampler = _RssSampler() if (self.sample_rss or not self._hwm) else None
        if self._sampler is not None:
            self._sampler.start()
        self._rss0 = _proc_status("VmRSS")
        self._srv0 = self.servers.cpu() if self.servers else (0.0, 0.0)
        self._cpu0 = cpu_seconds()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t0
        cpu = cpu_seconds() - self._cpu0
        srv1 = self.servers.cpu() if self.servers else (0.0, 0.0)
        sampled = self._sampler.stop() if self._sampler is not None else None
        hwm = _proc_status("VmHWM") if self._hwm else None
        peak = max(x for x in (hwm, sampled, 0) if x is not None)
        self.result = {
            "wall_s": wall,
            "client_cpu_s": cpu,
            "source_server_cpu_s": srv1[0] - self._srv0[0],
            "destination_server_cpu_s": srv1[1] - self._srv0[1],
            "rss_start_bytes": self._rss0,
            "peak_rss_bytes": peak,
            "rss_method": "VmHWM after clear_refs" if self._hwm else "VmRSS sampled every 10 ms",
        }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("exchangelib", "lxml", "requests"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            versions[mod] = None
    try:
        from lxml import etree

        versions["libxml2"] = ".".join(map(str, etree.LIBXML_VERSION))
    except Exception:  # noqa: BLE001
        pass
    try:
        commit = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain"], capture_output=True,
                                    text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {
        "load_average_at_end": os.getloadavg(),
        "malloc_environment": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {
        "benchmark": name,
        "command": " ".join([".venv/bin/python", os.path.relpath(sys.argv[0], HERE.parent)] + sys.argv[1:]),
        "finished": dt.datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **payload,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "-"
        if abs(value) >= 100 or digits == 0:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(headers: list[str], rows: list[list[Any]], title: str | None = None) -> str:
    cells = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def mib(n: int | None) -> float | None:
    return None if n is None else n / (1024 * 1024)


def log(*args: Any) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Running the Migrator
# --------------------------------------------------------------------------------------------


def warm_up() -> None:
    """Import what a migration imports, so that import time is not measured as migration time."""
    import exchangelib  # noqa: F401
    import exchangelib.services  # noqa: F401

    import groupmigrate.backends.ews  # noqa: F401
    import groupmigrate.core.mappers  # noqa: F401
    import groupmigrate.backends.ews.destination  # noqa: F401
    import groupmigrate.backends.ews.source  # noqa: F401
    import groupmigrate.core.migrator  # noqa: F401


def run_migrator(servers: Servers | Endpoints, pairs: list[tuple[str, str]], state: str, workers: int,
                 capabilities: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Run a full migration of ``pairs`` ((source, destination) addresses) with a fresh
    EWSSource/EWSDestination; returns the Report. ``capabilities`` overrides fields of the
    route's capabilities (e.g. ``max_batch_items``) for experiments."""
    import attrs

    from groupmigrate.accounts import AccountPair
    from groupmigrate.core.migrator import Migrator

    source = servers.ews_source(max_connections=max(4, workers))
    destination = servers.ews_destination(max_connections=max(4, workers))
    migrator = Migrator(source, destination, state=state, workers=workers, **kwargs)
    if capabilities:
        migrator.capabilities = attrs.evolve(migrator.capabilities, **capabilities)
    try:
        return migrator.run([AccountPair(s, d) for s, d in pairs], mode="full")
    finally:
        close = getattr(migrator.state, "close", None)
        if close is not None:
            close()


def report_counts(report: Any) -> dict[str, int]:
    totals = report.totals()
    return {k: int(v) for k, v in totals.items()}


class ThreadProfiler:
    """cProfile of the calling thread and of every thread started while it is active
    (``threading.setprofile``), merged into one ``pstats.Stats``."""

    def __init__(self) -> None:
        import cProfile

        self._cls = cProfile.Profile
        self.profiles: list[Any] = []
        self._lock = threading.Lock()

    def _start_in_thread(self, frame: Any, event: str, arg: Any) -> None:
        prof = self._cls()
        with self._lock:
            self.profiles.append(prof)
        prof.enable()

    def __enter__(self) -> ThreadProfiler:
        threading.setprofile(self._start_in_thread)
        main = self._cls()
        self.profiles.append(main)
        main.enable()
        self._main = main
        return self

    def __exit__(self, *exc: object) -> None:
        self._main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]

    def stats(self) -> Any:
        import pstats

        stats = None
        for prof in self.profiles:
            try:
                prof.create_stats()
            except Exception:  # noqa: BLE001 - a profiler of a finished thread
                pass
            if not getattr(prof, "stats", None):
                continue
            if stats is None:
                stats = pstats.Stats(prof)
            else:
                stats.add(prof)
        return stats

    def dump(self, name: str, top: int = 30) -> Path | None:
        import io
        import pstats

        stats = self.stats()
        if stats is None:
            return None
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{name}.pstats"
        stats.dump_stats(str(path))
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(str(path), stream=buf).sort_stats(key).print_stats(top)
            text = buf.getvalue()
            (RESULTS / f"{name}.{key}.txt").write_text(text, encoding="utf-8")
        print(f"profile: {path} (top {top} by tottime and cumulative in {name}.tottime.txt / .cumulative.txt)",
              file=sys.stderr)
        return path


# --------------------------------------------------------------------------------------------
# py-spy summaries
# --------------------------------------------------------------------------------------------


def spy_summary(path: str | Path, top: int = 25, match: str | None = None) -> str:
    """Summarize a ``py-spy record -f raw`` file: share of samples per function, self and
    inclusive (a function counted once per stack). ``match`` keeps only stacks containing it."""
    selfc: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if match and match not in stack:
            continue
        n = int(count)
        total += n
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        selfc[frames[-1]] = selfc.get(frames[-1], 0) + n
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + n
    lines = [f"{total} samples" + (f" in stacks containing {match!r}" if match else "")]
    for title, table in (("self", selfc), ("inclusive", incl)):
        lines.append(f"-- {title}")
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"{100 * n / max(total, 1):6.1f}%  {frame}")
    return "\n".join(lines)



# --------------------------------------------------------------------------------------------
# What-if experiments: proposed fixes applied to this process only, to measure their effect
# --------------------------------------------------------------------------------------------


def _mmap_threshold() -> None:
    """glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB), so
    after the first big message every 20-30 MB buffer comes from the heap arenas of the worker
    threads, which keep the memory; pin the threshold at 1 MiB (mallopt(M_MMAP_THRESHOLD))."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    libc = ctypes.CDLL(name)
    m_mmap_threshold = -3
    if hasattr(libc, "mallopt"):
        libc.mallopt(m_mmap_threshold, 1024 * 1024)


WHAT_IFS = {
    "mmap-threshold": _mmap_threshold,
}


def apply_what_ifs(names: list[str] | None) -> list[str]:
    """Apply the named experiments (see :data:`WHAT_IFS`) to this process; returns their names."""
    applied = []
    for name in names or []:
        if name not in WHAT_IFS:
            raise SystemExit(f"unknown --what-if {name!r}; choose from {', '.join(WHAT_IFS)}")
        WHAT_IFS[name]()
        applied.append(name)
    return applied


if __name__ == "__main__":
    # .venv/bin/python benchmarks/_common.py spy FILE [TOP] [MATCH]
    if len(sys.argv) >= 3 and sys.argv[1] == "spy":
        print(spy_summary(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 25,
                          sys.argv[4] if len(sys.argv) > 4 else None))
