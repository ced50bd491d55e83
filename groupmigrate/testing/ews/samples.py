"""Sample mailboxes for the EWS test server, and the client configuration that reaches them.

:func:`seed_sample_mailbox` fills a mailbox with every item type a migration moves: mail in
nested folders (plain, HTML, inline images, attachments from a few KB to several MB, replies,
sent mail), contacts (one with a photo, some in a subfolder), calendar items (a weekly series
with a moved and a cancelled occurrence, a daily series, an all-day event, meetings with
attendees and an attachment), tasks and sticky notes. The content depends only on the seed,
the mailbox address and the anchor date, so the same arguments give the same mailbox.

:func:`endpoint_toml` and :func:`write_client_files` write what ``groupmigrate`` needs to
point at a test server: a ``[source]``/``[destination]`` table and an accounts file.

Example::

    from groupmigrate.testing import EWSTestServer
    from groupmigrate.testing.ews.samples import seed_sample_mailbox

    with EWSTestServer(profile="exchange-online") as server:
        summary = seed_sample_mailbox(server, "alice@contoso.com", seed=7)
        print(summary.counts)   # {'mail': 40, 'contacts': 8, 'calendar': 8, 'tasks': 4, 'notes': 3}
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Iterable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import attrs

from groupmigrate.items import (
    Attachment, Attendee, Contact, Event, FlagStatus, Importance, Note, NoteColor, Phone, PostalAddress, Response,
    Sensitivity, ShowAs, Task, TaskStatus,
)  # fmt: skip

if TYPE_CHECKING:
    from groupmigrate.testing.ews.server import EWSTestServer

__all__ = [
    "ITEM_TYPES",
    "MAIL_FOLDERS",
    "SampleSummary",
    "endpoint_toml",
    "mailbox_counts",
    "sample_addresses",
    "seed_sample_mailbox",
    "write_client_files",
]

UTC = dt.timezone.utc
ITEM_TYPES = ("mail", "contacts", "calendar", "tasks", "notes")

#: The mail folders of a sample mailbox (paths under the top of the mailbox).
MAIL_FOLDERS: tuple[tuple[str, ...], ...] = (
    ("Inbox",),
    ("Inbox", "Projects"),
    ("Inbox", "Projects", "Apollo 2026"),
    ("Inbox", "Newsletters"),
    ("Archiv – Kunden & Verträge",),
    ("Sent Items",),
)
_FOLDER_WEIGHTS = (40, 14, 10, 10, 12, 14)
_SUPPLIERS = ("Contacts", "Suppliers")

_FIRST = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
          "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yvonne")  # fmt: skip
_GIVEN = ("Anna", "Ben", "Chloé", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
          "Mateo", "Nora", "Oskar", "Priya", "Quentin", "Rosa", "Søren", "Tomás")  # fmt: skip
_SURNAMES = ("Fischer", "García", "Jensen", "Kowalski", "Müller", "Nakamura", "O'Brien", "Petrov", "Rossi",
             "Schmidt", "Silva", "Ødegaard", "Dubois", "Novak", "Yilmaz", "Andersson")  # fmt: skip
_COMPANIES = (("Fabrikam", "fabrikam.example"), ("Northwind Traders", "northwind.example"),
              ("Tailspin Toys", "tailspin.example"), ("Wide World Importers", "wideworld.example"),
              ("Litware", "litware.example"), ("Adventure Works", "adventure-works.example"))  # fmt: skip
_CITIES = (("Berlin", "10115", "Germany"), ("Lyon", "69002", "France"), ("Seattle", "98101", "United States"),
           ("Kraków", "31-001", "Poland"), ("Osaka", "530-0001", "Japan"), ("Porto", "4000-001", "Portugal"))  # fmt: skip
_TOPICS = ("quarterly figures", "contract renewal", "shipping schedule", "budget 2026", "offsite planning",
           "release notes", "invoice 4711", "design review", "hiring update", "security audit",
           "Übersicht Lieferungen", "customer feedback", "travel request", "price list", "roadmap")  # fmt: skip
_WORDS = ("please", "find", "the", "numbers", "attached", "we", "agreed", "on", "next", "steps", "for", "this",
          "week", "and", "the", "draft", "looks", "good", "to", "me", "could", "you", "check", "before", "Friday",
          "thanks", "again", "for", "your", "help", "with", "schedule", "budget", "delivery", "team")  # fmt: skip
_ATTACHMENTS = (("report.pdf", "application", "pdf", b"%PDF-1.7\n"),
                ("figures.xlsx", "application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
                ("minutes.docx", "application", "vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04"),
                ("photo.jpg", "image", "jpeg", b"\xff\xd8\xff\xe0"),
                ("archive.zip", "application", "zip", b"PK\x03\x04"))  # fmt: skip
#: A 1x1 PNG, the contact photo and inline image of the samples.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@attrs.frozen
class SampleSummary:
    """What :func:`seed_sample_mailbox` stored.

    Attributes:
        address: The mailbox.
        counts: Items per item type (a recurring series counts once).
        mail_bytes: The size of all messages as MIME.
        largest_mail: The size of the largest message as MIME.
        folders: The folders created, as paths.
    """

    address: str
    counts: Mapping[str, int]
    mail_bytes: int
    largest_mail: int
    folders: tuple[tuple[str, ...], ...]


def sample_addresses(count: int, domain: str = "contoso.com") -> list[str]:
    """``count`` distinct addresses (alice, bob, carol, ... then user21, user22, ...) at ``domain``."""
    names = list(_FIRST[:count]) + [f"user{i + 1}" for i in range(len(_FIRST), count)]
    return [f"{name}@{domain}" for name in names]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _paragraphs(rng: random.Random, size: int) -> list[str]:
    paragraphs: list[str] = []
    total = 0
    while total < size:
        text = _words(rng, rng.randint(12, 40)).capitalize() + "."
        paragraphs.append(text)
        total += len(text) + 2
    return paragraphs


def _size_classes(rng: random.Random, count: int) -> list[str]:
    """A realistic mix: mostly small mail, some attachments, a few megabytes, one large message."""
    huge = 1 if count >= 30 else 0
    large = max(1, count * 6 // 100) if count >= 10 else 0
    attachment = max(1, count * 15 // 100) if count >= 4 else 0
    inline = max(1, count * 10 // 100) if count >= 6 else 0
    html = count * 30 // 100
    classes = ["huge"] * huge + ["large"] * large + ["attachment"] * attachment + ["inline"] * inline + ["html"] * html
    classes += ["text"] * (count - len(classes))
    rng.shuffle(classes)
    return classes[:count]


def _attachment(rng: random.Random, size: int) -> tuple[str, str, str, bytes]:
    name, maintype, subtype, magic = rng.choice(_ATTACHMENTS)
    return name, maintype, subtype, magic + rng.randbytes(max(0, size - len(magic)))


def _mail(
    rng: random.Random, n: int, owner: str, owner_name: str, size_class: str, received: dt.datetime, sent: bool,
    seed: int, thread_of: Optional[tuple[str, str]],
) -> tuple[bytes, str, str]:
    """A message as MIME, its Message-ID and its subject."""
    company, domain = rng.choice(_COMPANIES)
    given, surname = rng.choice(_GIVEN), rng.choice(_SURNAMES)
    partner = f"{given} {surname} <{given.lower()}.{n}@{domain}>"
    me = f"{owner_name} <{owner}>"
    msg = EmailMessage()
    msg["From"] = me if sent else partner
    msg["To"] = partner if sent else me
    if rng.random() < 0.25:
        msg["Cc"] = f"{rng.choice(_GIVEN)} <team{n}@{domain}>"
    if thread_of is not None:
        subject = f"Re: {thread_of[1]}"
        msg["In-Reply-To"] = thread_of[0]
        msg["References"] = thread_of[0]
    else:
        subject = f"{rng.choice(_TOPICS).capitalize()} – {company} #{n}"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(received)
    local = owner.split("@", 1)[0]
    message_id = f"<sample.{seed}.{n}.{local}@{domain}>"
    msg["Message-ID"] = message_id
    target = {"text": rng.randint(300, 3000), "html": rng.randint(3000, 30000)}.get(size_class, rng.randint(400, 4000))
    paragraphs = _paragraphs(rng, target)
    greeting = given if sent else owner_name.split(" ")[0]
    msg.set_content(f"Hello {greeting},\n\n" + "\n\n".join(paragraphs) + "\n\nRegards\n")
    if size_class != "text":
        html = "".join(f"<p>{p}</p>" for p in paragraphs)
        if size_class == "inline":
            html += '<p><img src="cid:logo@sample" alt="logo"></p>'
        msg.add_alternative(f"<html><body><p>Hello {greeting},</p>{html}<p>Regards</p></body></html>", subtype="html")
        if size_class == "inline":
            html_part = msg.get_body(preferencelist=("html",))
            assert html_part is not None
            html_part.add_related(PNG * rng.randint(20, 400), maintype="image", subtype="png", cid="<logo@sample>",
                                  filename="logo.png")  # fmt: skip
    sizes = {
        "attachment": [rng.randint(20_000, 500_000) for _ in range(rng.randint(1, 2))],
        "large": [rng.randint(600_000, 2_500_000)],
        "huge": [rng.randint(5_000_000, 8_000_000)],
    }.get(size_class, [])
    for size in sizes:
        name, maintype, subtype, content = _attachment(rng, size)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    for i, part in enumerate(p for p in msg.walk() if p.is_multipart()):  # no random boundaries
        part.set_boundary(f"=_sample.{seed}.{n}.{i}")
    return msg.as_bytes(), message_id, subject


def _anchor(today: Optional[dt.date]) -> dt.datetime:
    day = today or dt.datetime.now(UTC).date()
    return dt.datetime.combine(day, dt.time(), tzinfo=UTC)


def seed_sample_mailbox(
    server: EWSTestServer,
    address: str,
    *,
    seed: int = 0,
    mails: int = 40,
    today: Optional[dt.date] = None,
    password: Optional[str] = None,
) -> SampleSummary:
    """Create ``address`` on ``server`` (if needed) and fill it with sample items of every type.

    Args:
        server: The test server.
        address: The mailbox.
        seed: Same seed, address and ``today``: same content.
        mails: How many messages (spread over the mail folders, newest about an hour before
            ``today``'s midnight, oldest about half a year earlier).
        today: The anchor date of the sample dates (mail in the past, meetings ahead);
            default today (UTC).
        password: The mailbox owner's password, if the owner should be able to log in.

    Returns:
        What was stored.
    """
    rng = random.Random(f"groupmigrate-samples:{seed}:{address.lower()}")
    now = _anchor(today)
    local = address.split("@", 1)[0]
    owner_name = local.replace(".", " ").title()
    server.add_mailbox(address, password=password, display_name=owner_name)
    for path in MAIL_FOLDERS:
        server.seed_folder(address, path, kind="mail")
    server.seed_folder(address, _SUPPLIERS, kind="contacts")

    mail_bytes = largest = 0
    sent_thread: list[tuple[str, str]] = []
    classes = _size_classes(rng, mails)
    for n, size_class in enumerate(classes):
        received = now - dt.timedelta(minutes=47 + n * (180 * 24 * 60 // max(mails, 1)) + rng.randint(0, 600))
        path = rng.choices(MAIL_FOLDERS, weights=_FOLDER_WEIGHTS)[0]
        sent = path == ("Sent Items",)
        thread_of = rng.choice(sent_thread) if sent_thread and not sent and rng.random() < 0.3 else None
        mime, message_id, subject = _mail(rng, n, address, owner_name, size_class, received, sent, seed, thread_of)
        if sent and not subject.startswith("Re:"):
            sent_thread.append((message_id, subject))
        flag = FlagStatus.FLAGGED if rng.random() < 0.08 else FlagStatus.COMPLETE if rng.random() < 0.04 else FlagStatus.NONE
        categories = (rng.choice(("Finance", "Travel", "Important", "Customers")),) if rng.random() < 0.2 else ()
        importance = Importance.HIGH if rng.random() < 0.06 else Importance.LOW if rng.random() < 0.04 else Importance.NORMAL
        server.seed_message(address, path, mime, is_read=sent or n > 4 and rng.random() < 0.85, flag=flag,
                            categories=categories, importance=importance, received=received)  # fmt: skip
        mail_bytes += len(mime)
        largest = max(largest, len(mime))

    contacts = _contacts(rng, local)
    for contact, folder in contacts:
        server.seed_item(address, contact, folder)
    events = _events(rng, now, address)
    for event in events:
        server.seed_item(address, event)
    tasks = _tasks(rng, now)
    for task in tasks:
        server.seed_item(address, task)
    notes = _notes(rng)
    for note in notes:
        server.seed_item(address, note)
    counts = {"mail": len(classes), "contacts": len(contacts), "calendar": len(events), "tasks": len(tasks),
              "notes": len(notes)}  # fmt: skip
    return SampleSummary(address, counts, mail_bytes, largest, (*MAIL_FOLDERS, _SUPPLIERS))


def _contacts(rng: random.Random, owner_local: str) -> list[tuple[Contact, Optional[tuple[str, ...]]]]:
    found: list[tuple[Contact, Optional[tuple[str, ...]]]] = []
    people = rng.sample([(g, s) for g in _GIVEN for s in _SURNAMES], 8)
    for i, (given, surname) in enumerate(people):
        company, domain = rng.choice(_COMPANIES)
        city, postal, country = rng.choice(_CITIES)
        email = f"{given.lower()}.{surname.lower()}@{domain}".replace("'", "").replace(" ", "")
        email = email.encode("ascii", "ignore").decode()
        phones = [Phone("business", f"+{rng.randint(1, 99)} {rng.randint(10, 999)} {rng.randint(100000, 9999999)}")]
        if i % 2 == 0:
            phones.append(Phone("mobile", f"+49 151 {rng.randint(1000000, 9999999)}"))
        found.append((
            Contact(
                display_name=f"{given} {surname}", given_name=given, surname=surname, emails=(email,),
                phones=tuple(phones), company=company, job_title=rng.choice(("CFO", "Buyer", "Engineer", "Account manager")),
                addresses=(PostalAddress("business", f"{rng.choice(('Main', 'Market', 'Harbour'))} Street {i + 1}", city,
                                         None, postal, country),),
                birthday=dt.date(rng.randint(1960, 2000), rng.randint(1, 12), rng.randint(1, 28)) if i % 3 == 0 else None,
                websites=(f"https://www.{domain}",) if i % 2 else (),
                notes=f"Met {owner_local} at the {rng.choice(('fair', 'kick-off', 'conference'))}." if i % 4 == 1 else None,
                photo=PNG if i == 0 else None,
                categories=("Customers",) if i % 3 == 1 else (),
            ),
            _SUPPLIERS if i >= 6 else None,
        ))  # fmt: skip
    return found


def _events(rng: random.Random, now: dt.datetime, owner: str) -> list[Event]:
    local = owner.split("@", 1)[0]
    domain = owner.split("@", 1)[-1]
    monday = (now + dt.timedelta(days=7 - now.weekday())).replace(hour=8)  # 08:00 UTC next Monday
    colleague = f"{rng.choice(_FIRST)}@{domain}"
    weekly = Event(
        subject="Team sync", start=monday + dt.timedelta(hours=1), end=monday + dt.timedelta(hours=1, minutes=30),
        timezone="Europe/Berlin", recurrence="FREQ=WEEKLY;BYDAY=MO;COUNT=12", location="Room 4", organizer=owner,
        uid=f"sample-sync-{local}@{domain}", reminder_minutes=15,
        attendees=(Attendee(colleague, colleague.split("@")[0].title(), "required", Response.ACCEPTED),),
        exceptions=(Event(subject="Team sync (moved)", start=monday + dt.timedelta(days=8, hours=3),
                          end=monday + dt.timedelta(days=8, hours=3, minutes=30),
                          recurrence_id=monday + dt.timedelta(days=7, hours=1)),),
        deleted_occurrences=(monday + dt.timedelta(days=21, hours=1),),
    )  # fmt: skip
    daily = Event(
        subject="Stand-up", start=monday + dt.timedelta(hours=1, minutes=45), end=monday + dt.timedelta(hours=2),
        timezone="Europe/Berlin", recurrence="FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=20", uid=f"sample-standup-{local}@{domain}",
        reminder_minutes=5,
    )  # fmt: skip
    holiday = Event(subject="Company holiday", start=(monday + dt.timedelta(days=18)).date(),
                    end=(monday + dt.timedelta(days=19)).date(), is_all_day=True, show_as=ShowAs.AWAY,
                    uid=f"sample-holiday-{local}@{domain}")  # fmt: skip
    events = [weekly, daily, holiday]
    places = ("Room 1", "Room 2", "Teams", "Cafeteria", "Customer site")
    for i in range(5):
        start = monday + dt.timedelta(days=rng.randint(-40, 30), hours=rng.randint(0, 8))
        company, partner_domain = rng.choice(_COMPANIES)
        partner = f"{rng.choice(_GIVEN).lower()}@{partner_domain}"
        events.append(Event(
            subject=f"{rng.choice(_TOPICS).capitalize()} with {company}", start=start,
            end=start + dt.timedelta(minutes=rng.choice((30, 45, 60, 90))),
            timezone=rng.choice(("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")),
            location=rng.choice(places), organizer=owner, uid=f"sample-meeting-{i}-{local}@{domain}",
            body="Agenda:\n1. status\n2. next steps" if i % 2 == 0 else None,
            attendees=(Attendee(partner, None, "required", Response.TENTATIVE),) if i != 3 else (),
            sensitivity=Sensitivity.PRIVATE if i == 3 else Sensitivity.NORMAL,
            attachments=(Attachment("agenda.txt", b"1. status\n2. next steps\n", "text/plain"),) if i == 1 else (),
            reminder_minutes=15 if i % 2 else None,
        ))  # fmt: skip
    return events


def _tasks(rng: random.Random, now: dt.datetime) -> list[Task]:
    return [
        Task(subject="Submit expense report", status=TaskStatus.IN_PROGRESS, percent_complete=40,
             due=(now + dt.timedelta(days=rng.randint(2, 9))).date(), importance=Importance.HIGH),
        Task(subject="Renew TLS certificate", status=TaskStatus.COMPLETED, percent_complete=100,
             completed=now - dt.timedelta(days=rng.randint(1, 20))),
        Task(subject="Prepare offsite agenda", body="rooms, catering, travel", status=TaskStatus.NOT_STARTED,
             start=now.date(), due=(now + dt.timedelta(days=21)).date()),
        Task(subject="Call back Northwind", status=TaskStatus.WAITING, categories=("Customers",)),
    ]  # fmt: skip


def _notes(rng: random.Random) -> list[Note]:
    return [
        Note(subject="Wi-Fi", body="guest network: Contoso-Guest", color=NoteColor.YELLOW),
        Note(subject="Ideas", body="- faster onboarding\n- fewer meetings", color=rng.choice((NoteColor.BLUE, NoteColor.GREEN))),
        Note(subject="Parking", body=f"level {rng.randint(-3, -1)}, spot {rng.randint(1, 200)}"),
    ]  # fmt: skip


_KIND_BY_CLASS = (("IPM.StickyNote", "notes"), ("IPM.Contact", "contacts"), ("IPM.DistList", "contacts"),
                  ("IPM.Appointment", "calendar"), ("IPM.Task", "tasks"))  # fmt: skip


def mailbox_counts(server: EWSTestServer, address: str) -> dict[str, int]:
    """Items per item type in the folders of ``address`` (as the store holds them, any origin)."""
    counts = dict.fromkeys(ITEM_TYPES, 0)
    for path in server.folder_paths(address):
        for item in server.folder_items(address, path):
            item_class = item.item_class
            kind = next((k for prefix, k in _KIND_BY_CLASS if item_class.startswith(prefix)), "mail")
            counts[kind] += 1
    return counts


# -- client configuration ---------------------------------------------------------------
def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def endpoint_toml(
    side: str,
    url: str,
    profile: str,
    *,
    username: Optional[str] = None,
    tenant_id: Optional[str] = None,
    client_id: Optional[str] = None,
    token_url: Optional[str] = None,
    secret_env: Optional[str] = None,
    secret_file: Optional[str] = None,
    impersonation: bool = True,
) -> str:
    """A ``[source]`` or ``[destination]`` table (``side``) for an EWS endpoint.

    With ``username`` the endpoint logs in with Basic authentication, with ``tenant_id`` and
    ``client_id`` with app-only OAuth. The secret is never written: ``secret_env`` names the
    environment variable holding it, ``secret_file`` the file.
    """
    if side not in ("source", "destination"):
        raise ValueError(f"side must be 'source' or 'destination', got {side!r}")
    lines = [f"[{side}]", 'backend = "ews"', f"url = {_quote(url)}", f"profile = {_quote(profile)}",
             f"impersonation = {'true' if impersonation else 'false'}"]  # fmt: skip
    if username is None and tenant_id is None:
        return "\n".join(lines) + "\n"
    key = "password" if username is not None else "client_secret"
    lines += ["", f"[{side}.auth]"]
    if username is not None:
        lines += ['type = "basic"', f"username = {_quote(username)}"]
    else:
        lines += ['type = "oauth2"', f"tenant_id = {_quote(tenant_id or '')}", f"client_id = {_quote(client_id or '')}"]
        if token_url:
            lines.append(f"token_url = {_quote(token_url)}")
    if secret_env:
        lines.append(f"{key}_env = {_quote(secret_env)}")
    elif secret_file:
        lines.append(f"{key}_file = {_quote(secret_file)}")
    return "\n".join(lines) + "\n"


def write_client_files(
    directory: str | Path,
    source: str,
    destination: str,
    pairs: Iterable[tuple[str, str]],
    secrets: Mapping[str, str] = {},
    state: str = "migration.db",
    report: str = "report.html",
    workers: int = 3,
) -> Path:
    """Write ``migration.toml`` (``source`` and ``destination`` tables from :func:`endpoint_toml`),
    ``accounts.csv`` (``pairs``) and the files in ``secrets`` (name -> content, readable by the
    owner only) to ``directory``; return the path of ``migration.toml``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in secrets.items():
        path = folder / name
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(value + "\n", encoding="utf-8")
    rows: Sequence[tuple[str, str]] = list(pairs)
    (folder / "accounts.csv").write_text("source,destination\n" + "".join(f"{s},{d}\n" for s, d in rows), encoding="utf-8")
    config = folder / "migration.toml"
    partial = folder / ".migration.toml.partial"
    partial.write_text(
        f"{source}\n{destination}\n[migration]\naccounts = \"accounts.csv\"\nworkers = {workers}\n"
        f"state = {_quote(state)}\nreport = {_quote(report)}\n",
        encoding="utf-8",
    )
    partial.replace(config)  # whoever waits for the file never reads half of it
    return config
