"""``groupmigrate demo``: a whole migration between two built-in test servers.

By default an Exchange Online-like source and an Amazon WorkMail-like destination (two EWS
test servers) run on loopback; ``--source`` / ``--destination`` pick other backends that offer
a demo server (``memory`` does; a backend of another package offers one through
``Backend.demo``). Three
sample mailboxes get every item type, including items that meet the route's limits (an
oversized attachment, an X500 sender, a bad website URL, an exact copy of a mail, which is
copied too: the destination mirrors the source). The demo runs
check → analyze → migrate → verify, writes the HTML report and then checks that the report's
counts match what it seeded, failing loudly if they do not.
"""

from __future__ import annotations

import base64
import datetime as dt
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from groupmigrate.accounts import AccountPair
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError
from groupmigrate.frontdoors.demo_sides import CLIENT_ID, DESTINATION_DOMAIN, SOURCE_DOMAIN, TENANT, demo_side
from groupmigrate.items import (
    Attachment, Attendee, Contact, Event, FlagStatus, Importance, Note, NoteColor, Phone, PostalAddress, Response,
    Sensitivity, ShowAs, Task, TaskStatus,
)  # fmt: skip

__all__ = ["SAMPLE_USERS", "expected_counts", "run_demo", "seed_mailbox"]

UTC = dt.timezone.utc
SAMPLE_USERS = ("alice", "bob", "carol")
X500_BOB = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=4f1c2a-bob"
IMCEAEX_BOB = (
    "IMCEAEX-_o=ExchangeLabs_ou=Exchange+20Administrative+20Group+20+28FYDIBOHF23SPDLT+29"
    "_cn=Recipients_cn=4f1c2a-bob@" + SOURCE_DOMAIN
)
MAILS_PER_BOX = 24
BIG_ATTACHMENT = 24 * 1024 * 1024  # WorkMail refuses attachments of 23 MB or more
PHOTO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _mail(n: int, user: str, received: dt.datetime, sender: str | None = None, attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender or f"Partner {n} <partner{n}@fabrikam.example>"
    msg["To"] = f"{user}@{SOURCE_DOMAIN}"
    msg["Subject"] = f"Quarterly figures #{n} – Übersicht"
    msg["Date"] = format_datetime(received)
    msg["Message-ID"] = make_msgid(f"demo{n}.{user}", domain="fabrikam.example")
    msg.set_content(f"Hello {user},\n\nplease find the figures for item {n} below.\n\nRegards\n")
    msg.add_alternative(f"<p>Hello {user},</p><p>figures for item <b>{n}</b>.</p>", subtype="html")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="scan.bin")
    return msg.as_bytes()


def seed_mailbox(
    server: Any, user: str, now: dt.datetime, oversized: bool, caps: Capabilities | None = None
) -> dict[str, dict[str, int]]:
    """Put sample items into ``user``'s source mailbox; returns the expected outcome counts on
    a route with capabilities ``caps`` (default: WorkMail's limits)."""
    address = f"{user}@{SOURCE_DOMAIN}"
    server.add_mailbox(address, password=f"{user}-source-password")
    folders = [("Inbox",), ("Inbox", "Projects", "2026"), ("Archiv – Ärger & Öl",), ("Sent Items",)]
    for path in folders[1:3]:
        server.seed_folder(address, path, kind="mail")
    duplicate_of: bytes | None = None
    for n in range(MAILS_PER_BOX):
        received = now - dt.timedelta(days=n * 2.5, hours=n)
        sender = f"Bob (old directory) <{IMCEAEX_BOB}>" if n == 3 else None
        mime = _mail(n, user, received, sender=sender)
        server.seed_message(address, folders[n % len(folders)], mime, is_read=n % 2 == 0, received=received,
                            categories=("Finance",) if n % 5 == 0 else (), flag=FlagStatus.FLAGGED if n == 1 else FlagStatus.NONE)  # fmt: skip
        if n == 5:
            duplicate_of = mime
    assert duplicate_of is not None
    server.seed_message(address, folders[5 % len(folders)], duplicate_of, received=now - dt.timedelta(days=12))
    # an exact copy is copied too: the destination mirrors the source
    mail = {"migrated": MAILS_PER_BOX + 1, "duplicate": 0, "skipped": 0}
    if oversized:
        big = _mail(99, user, now - dt.timedelta(days=1), attachment=b"\0" * BIG_ATTACHMENT)
        server.seed_message(address, ("Inbox",), big, received=now - dt.timedelta(days=1))
        limit = BIG_ATTACHMENT if caps is None else caps.max_attachment_size
        if limit is not None and BIG_ATTACHMENT >= limit:
            mail["skipped"] = 1
        else:
            mail["migrated"] += 1
    server.add_resolvable(X500_BOB, f"bob@{SOURCE_DOMAIN}")

    contacts = [
        Contact(display_name="Dana Fischer", given_name="Dana", surname="Fischer", emails=("dana@fabrikam.example",),
                phones=(Phone("business", "+49 30 1234567"),), company="Fabrikam", job_title="CFO",
                birthday=dt.date(1980, 5, 17), photo=PHOTO, websites=("https://fabrikam.example",),
                addresses=(PostalAddress("business", "Hauptstraße 1", "Berlin", None, "10115", "Germany"),)),
        Contact(display_name="Erik Jensen", emails=("erik@northwind.example",), websites=("htp:/not a url",),
                notes="met at the fair"),
        Contact(display_name="Bob (directory)", emails=(X500_BOB,)),
    ]  # fmt: skip
    for contact in contacts:
        server.seed_item(address, contact)

    start = (now + dt.timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    weekly = Event(
        subject="Team sync", start=start, end=start + dt.timedelta(minutes=30), timezone="Europe/Berlin",
        recurrence="FREQ=WEEKLY;COUNT=10", location="Room 4", organizer=address, uid=f"sync-{user}@contoso",
        attendees=(Attendee(f"bob@{SOURCE_DOMAIN}", "Bob", "required", Response.ACCEPTED),
                   Attendee(X500_BOB, "Bob (X500)", "optional", Response.TENTATIVE)),
        exceptions=(Event(subject="Team sync (moved)", start=start + dt.timedelta(days=7, hours=2),
                          end=start + dt.timedelta(days=7, hours=2, minutes=30),
                          recurrence_id=start + dt.timedelta(days=7)),),
        deleted_occurrences=(start + dt.timedelta(days=14),), reminder_minutes=15,
    )  # fmt: skip
    holiday = Event(subject="Company holiday", start=dt.date(2026, 12, 24), end=dt.date(2026, 12, 25), is_all_day=True,
                    show_as=ShowAs.AWAY, uid=f"holiday-{user}@contoso")  # fmt: skip
    review = Event(subject="Budget review", start=start + dt.timedelta(days=1), end=start + dt.timedelta(days=1, hours=1),
                   timezone="America/New_York", uid=f"review-{user}@contoso", sensitivity=Sensitivity.PRIVATE,
                   attachments=(Attachment("agenda.txt", b"1. numbers\n2. more numbers\n", "text/plain"),))  # fmt: skip
    for event in (weekly, holiday, review):
        server.seed_item(address, event)

    tasks = [
        Task(subject="Submit expense report", status=TaskStatus.IN_PROGRESS, percent_complete=40, due=(now + dt.timedelta(days=3)).date(),
             importance=Importance.HIGH),
        Task(subject="Renew certificate", status=TaskStatus.COMPLETED, percent_complete=100, completed=now - dt.timedelta(days=2)),
    ]  # fmt: skip
    for task in tasks:
        server.seed_item(address, task)
    notes = [Note(subject="Wi-Fi", body="guest network: Contoso-Guest", color=NoteColor.YELLOW), Note(subject="Ideas", body="- faster")]
    for note in notes:
        server.seed_item(address, note)
    expected = {
        "mail": mail,
        "contacts": {"migrated": len(contacts)},
        "calendar": {"migrated": 3},
        "tasks": {"migrated": len(tasks)},
        "notes": {"migrated": len(notes)},
    }
    held = getattr(getattr(server, "capabilities", None), "item_types", None)
    for kind, counts in expected.items():
        if held is not None and kind not in held:  # the source holds no such items (IMAP: mail only)
            expected[kind] = {"migrated": 0}
        elif caps is not None and kind not in caps.item_types:  # the route cannot carry them: skipped, with why
            expected[kind] = {"migrated": 0, "skipped": counts["migrated"]}
    return expected


def expected_counts(report_counts: dict[str, dict[str, int]], expected: dict[str, dict[str, int]]) -> list[str]:
    """Differences between a report's counts and the expected ones (empty when they agree)."""
    problems = []
    for item_type, outcomes in expected.items():
        for outcome, n in outcomes.items():
            got = report_counts.get(item_type, {}).get(outcome, 0)
            if got != n:
                problems.append(f"{item_type}/{outcome}: expected {n}, report says {got}")
        failed = report_counts.get(item_type, {}).get("failed", 0)
        if failed:
            problems.append(f"{item_type}/failed: {failed} item(s) failed")
    return problems


def run_demo(
    report_path: str = "report.html", state_path: str | None = None, progress: bool = True, as_json: bool = False,
    keep_servers: bool = False, keep_dir: str = "groupmigrate-demo", source: str = "ews", destination: str = "ews",
) -> int:
    """Run the demo; returns the exit code (0 when the report matches what was seeded).

    With ``keep_servers`` both test servers stay up after the demo until Ctrl-C (or SIGTERM),
    and ``keep_dir`` receives a ``migration.toml`` and ``accounts.csv`` for them (with the
    demo's state file, unless ``state_path`` names another), ready for
    ``groupmigrate check/analyze/migrate/verify``.
    """
    from groupmigrate.core.migrator import Migrator

    out = sys.stderr if as_json else sys.stdout
    began = time.monotonic()
    now = dt.datetime.now(UTC).replace(microsecond=0)
    tmp = tempfile.TemporaryDirectory(prefix="groupmigrate-demo-")
    state = state_path or str(Path(tmp.name) / "migration.db")
    if keep_servers and (source, destination) != ("ews", "ews"):
        raise ConfigError("--keep-servers keeps the two EWS test servers: use it with the default backends")
    if keep_servers and state_path is None:
        state = str(_fresh_state(Path(keep_dir)))
    with demo_side(source, "source") as source_side, demo_side(destination, "destination") as dest_side:
        source_server, dest_server = source_side.server, dest_side.server
        print(f"source:       {source_side.description}", file=out)
        print(f"destination:  {dest_side.description}", file=out)
        route = source_side.capabilities.intersect(dest_side.capabilities)
        expected: dict[str, dict[str, dict[str, int]]] = {}
        pairs = []
        for i, user in enumerate(SAMPLE_USERS):
            expected[user] = seed_mailbox(source_side, user, now, oversized=i == 0, caps=route)
            dest_side.add_mailbox(f"{user}@{DESTINATION_DOMAIN}", password=f"{user}-destination-password")
            # hosting servers have no admin who opens every mailbox: each account logs in itself
            source_auth = source_side.account_auth(f"{user}@{SOURCE_DOMAIN}") if hasattr(source_side, "account_auth") else None
            dest_auth = dest_side.account_auth(f"{user}@{DESTINATION_DOMAIN}") if hasattr(dest_side, "account_auth") else None
            pairs.append(AccountPair(f"{user}@{SOURCE_DOMAIN}", f"{user}@{DESTINATION_DOMAIN}", source_auth, dest_auth))
        source_endpoint, destination_endpoint = source_side.endpoint(), dest_side.endpoint()
        on_event = None
        if progress:
            from groupmigrate.events import TqdmSink

            on_event = TqdmSink(file=out, workers=3)
        migrator = Migrator(source_endpoint, destination_endpoint, state=state, workers=3, on_event=on_event)

        print("\n== check", file=out)
        checks = migrator.check(pairs)
        for c in checks:
            print(f"  {'OK  ' if c.ok else 'FAIL'} {c.side:<11} {c.message}", file=out)
        if not all(c.ok for c in checks):
            print("demo: check failed", file=sys.stderr)
            return 3
        print("\n== analyze", file=out)
        print("  " + migrator.analyze(pairs).summary().replace("\n", "\n  "), file=out)
        print("\n== migrate", file=out)
        report = migrator.run(pairs, mode="full")
        print("\n" + report.summary(), file=out)
        print("\n== verify", file=out)
        verification = migrator.verify(pairs)
        print(verification.summary(), file=out)
        Path(report_path).write_text(report.to_html(), encoding="utf-8")
        print(f"\nreport written to {Path(report_path).resolve()}", file=out)
        problems = []
        for acc in report.accounts:
            user = acc.pair.source.split("@")[0]
            problems += [f"{acc.pair.source}: {p}" for p in expected_counts(acc.counts, expected[user])]
        if verification.totals().get("missing", 0):
            problems.append(f"verify found {verification.totals()['missing']} item(s) missing on the destination")
        source_writes = source_side.write_operations()
        if source_writes:
            problems.append(f"the source saw {len(source_writes)} write operation(s)")
        if as_json:
            print(report.to_json())
        if keep_servers:
            code = _outcome(problems, began, out)
            _keep_serving(source_server, dest_server, pairs, Path(keep_dir), state, out)
            tmp.cleanup()
            return code
    code = _outcome(problems, began, out)
    if code == 0:
        tmp.cleanup()
    return code


def _outcome(problems: list[str], began: float, out: Any) -> int:
    elapsed = time.monotonic() - began
    if problems:
        print("\ndemo FAILED: the report does not match what was seeded:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"\ndemo OK in {elapsed:.1f} s: counts match what was seeded; the source saw no write.", file=out)
    return 0


def _fresh_state(folder: Path) -> Path:
    """The state file in ``folder``; one left by an earlier demo is removed (its servers are gone)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "migration.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    return state.resolve()


def _keep_serving(source_server: Any, dest_server: Any, pairs: list[AccountPair], folder: Path, state: str, out: Any) -> None:
    """Write a configuration for both servers to ``folder`` and serve until Ctrl-C or SIGTERM."""
    import signal
    import threading

    from groupmigrate.testing.ews.samples import endpoint_toml, write_client_files

    admin = f"migration-admin@{DESTINATION_DOMAIN}"
    source_table = endpoint_toml(
        "source", source_server.url, "exchange-online", tenant_id=TENANT, client_id=CLIENT_ID,
        token_url=source_server.token_url(TENANT), secret_file="source-client-secret.txt",
    )  # fmt: skip
    dest_table = endpoint_toml("destination", dest_server.url, "workmail", username=admin, secret_file="destination-password.txt")
    folder = folder.resolve()
    in_folder = Path(state).resolve().parent == folder
    config = write_client_files(
        folder, source_table, dest_table, [(p.source, p.destination) for p in pairs],
        secrets={"source-client-secret.txt": "demo-client-secret", "destination-password.txt": "demo-admin-password"},
        state=Path(state).name if in_folder else str(Path(state).resolve()),
    )  # fmt: skip
    print("\n== servers kept up (Ctrl-C stops them)", file=out)
    print(f"  source (Exchange Online):  {source_server.url}", file=out)
    print(f"    OAuth app: tenant {TENANT}, client {CLIENT_ID}, secret demo-client-secret", file=out)
    print(f"    token URL: {source_server.token_url(TENANT)}", file=out)
    print(f"  destination (WorkMail):    {dest_server.url}", file=out)
    print(f"    admin login: {admin} / demo-admin-password (impersonates the destination mailboxes)", file=out)
    print(f"  configuration: {config} (with accounts.csv and the secret files beside it)", file=out)
    print(f"  try:  groupmigrate verify {config}", file=out)
    print(f"        groupmigrate migrate --delta {config}", file=out, flush=True)
    stop = threading.Event()
    previous = []
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous.append((signum, signal.signal(signum, lambda *_: stop.set())))
    except ValueError:  # not the main thread: Ctrl-C arrives as KeyboardInterrupt
        pass
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous:
            signal.signal(signum, handler)
    print("stopping the test servers", file=out, flush=True)
