"""The DAV backend against a real Radicale: discovery, folders, exactly-once writes, errors, auth, TLS.

Seeding goes over plain HTTP as the user (the harness's own requests); what the backend did is
read from Radicale's request log and its collections.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from groupmigrate.auth import BasicAuth, TokenProvider
import groupmigrate as gm
from groupmigrate.backends.dav import ical, vcard
from groupmigrate.backends.dav import source as source_module
from groupmigrate.backends.dav.destination import DavDestination, DavDestinationMailbox
from groupmigrate.backends.dav.plugin import BACKEND
from groupmigrate.backends.dav.source import DavSource, DavSourceMailbox
from groupmigrate.backends.memory import MemoryDestination, MemoryServer
from groupmigrate.core.executor import Executor
from groupmigrate.errors import (
    AccessDenied,
    AuthenticationError,
    ConfigError,
    ConnectionFailed,
    MailboxNotFound,
    OutcomeUnknown,
    SourceIsReadOnly,
    Throttled,
)
from groupmigrate.items import Contact, Event, Folder, Item, Task
from groupmigrate.protocols import SupportsFolderRename, SupportsProvenance, SupportsQuota, SupportsSyncState
from groupmigrate.testing.conformance import stamp_for
from groupmigrate.testing.radicale import RadicaleServer

from .conftest import DavUser

pytestmark = pytest.mark.timeout(60)

UTC = dt.timezone.utc


def event(n: int, uid: str | None = None) -> Event:
    start = dt.datetime(2026, 2, 2, 8 + n % 10, tzinfo=UTC)
    return Event(subject=f"Event {n}", start=start, end=start + dt.timedelta(hours=1), timezone="UTC",
                 uid=uid if uid is not None else f"event-{n}")  # fmt: skip


def ics(item: Item, uid: str) -> bytes:
    return ical.item_to_ical(item, uid=uid)  # type: ignore[arg-type]


def source(server: RadicaleServer, user: DavUser, **kwargs: Any) -> DavSourceMailbox:
    return DavSource(server.url, BasicAuth(user.name, user.password), profile="radicale", **kwargs).open_mailbox(user.name)


def destination(server: RadicaleServer, user: DavUser, **kwargs: Any) -> DavDestinationMailbox:
    kwargs.setdefault("profile", "radicale")
    endpoint = DavDestination(server.url, BasicAuth(user.name, user.password), read_timeout=10, **kwargs)
    return endpoint.open_mailbox(user.name)


def calendar(dst: DavDestinationMailbox, name: str = "Lost and found") -> Folder:
    return dst.ensure_folder(Folder((name,), kind="calendar"))


# -- the plug-in ------------------------------------------------------------------------------------


def test_plain_http_only_to_loopback() -> None:
    with pytest.raises(ConfigError) as refused:
        BACKEND.settings({"url": "http://dav.example.org/"})
    assert refused.value.key == "url" and "loopback" in str(refused.value)
    with pytest.raises(ConfigError) as direct:
        DavSource("http://dav.example.org/", BasicAuth("u", "p"))
    assert direct.value.key == "url"
    settings = BACKEND.settings({"url": "http://127.0.0.1:5232/", "principal_url": "/{user}/"}, profile="radicale")
    assert settings.options["principal_url"] == "/{user}/"
    with pytest.raises(ConfigError) as template:
        BACKEND.settings({"url": "https://dav.example.org/", "principal_url": "/{name}/"})
    assert template.value.key == "principal_url"


def test_capabilities_and_abilities(radicale: RadicaleServer, dav_user: DavUser) -> None:
    caps = DavDestination(radicale.url, profile="radicale", max_connections=2).capabilities
    assert caps.item_types == {"calendar", "contacts", "tasks", "notes"}
    assert caps.supports_provenance and caps.supports_sync_state and caps.max_connections == 2
    assert caps.max_item_size == 10 * 1024 * 1024
    dst = destination(radicale, dav_user)
    assert isinstance(dst, SupportsProvenance) and isinstance(dst, SupportsFolderRename) and isinstance(dst, SupportsQuota)
    assert isinstance(source(radicale, dav_user), SupportsSyncState)
    assert dst.free_space() is None  # Radicale keeps no quota


# -- discovery and folders ---------------------------------------------------------------------------


def test_discovery_through_well_known(radicale: RadicaleServer, dav_user: DavUser) -> None:
    mark = radicale.log_mark()
    mailbox = source(radicale, dav_user)
    mailbox.check()
    homes = mailbox.homes()
    assert homes.principal == homes.calendar_home == homes.addressbook_home == f"/{dav_user.name}/"
    seen = [(r["method"], r["path"], r["status"]) for r in radicale.requests(dav_user.name, since=mark)]
    assert ("PROPFIND", "/.well-known/caldav", 301) in seen and ("PROPFIND", "/", 207) in seen


def test_discovery_by_principal_template(radicale: RadicaleServer, dav_user: DavUser) -> None:
    endpoint = DavSource(radicale.url, profile="radicale", principal_url="/{user}/")
    mailbox = endpoint.open_mailbox(dav_user.name, BasicAuth(dav_user.name, dav_user.password))
    assert mailbox.homes().calendar_home == f"/{dav_user.name}/"
    # the endpoint's credentials are not another mailbox's own without a template
    other = DavSource(radicale.url, BasicAuth(dav_user.name, dav_user.password))
    with pytest.raises(ConfigError) as refused:
        other.open_mailbox("someone-else")
    assert refused.value.key == "principal_url"


def test_two_mailboxes_on_one_principal_are_refused(radicale: RadicaleServer, dav_user: DavUser) -> None:
    """Two accounts whose settings lead to the same principal would merge their calendars."""
    endpoint = DavDestination(radicale.url, BasicAuth(dav_user.name, dav_user.password), principal_url="/{local_part}/")
    endpoint.open_mailbox(f"{dav_user.name}@a.example").check()
    with pytest.raises(AccessDenied) as merged:
        endpoint.open_mailbox(f"{dav_user.name}@b.example").check()
    assert f"{dav_user.name}@a.example" in str(merged.value)


def test_unknown_principal_is_mailbox_not_found(radicale: RadicaleServer, dav_user: DavUser) -> None:
    endpoint = DavSource(radicale.url, BasicAuth(dav_user.name, dav_user.password), principal_url="/{user}/nothere/")
    with pytest.raises(MailboxNotFound) as missing:
        endpoint.open_mailbox(dav_user.name).check()
    assert f"/{dav_user.name}/nothere/" in str(missing.value)


def test_folders_with_names_kinds_and_roles(radicale: RadicaleServer, dav_user: DavUser) -> None:
    user = dav_user.name
    personal = radicale.make_calendar(user, "personal", display_name="Persönlich ✓", color="#FF0000",
                                      components=("VEVENT", "VTODO", "VJOURNAL"))  # fmt: skip
    radicale.put(user, personal + "e.ics", ics(event(1), "e1"))
    radicale.put(user, personal + "t.ics", ics(Task(subject="Shared task"), "t1"))
    radicale.make_calendar(user, "work", display_name="Persönlich ✓")  # the same name twice
    radicale.make_calendar(user, "todo", display_name="Chores", components=("VTODO",))
    radicale.make_addressbook(user, "book", display_name="Contacts")
    folders = source(radicale, dav_user).folders()
    by_path = {f.path: f for f in folders}
    assert sorted(by_path) == sorted([("Persönlich ✓",), ("Persönlich ✓ (Tasks)",), ("Persönlich ✓ (work)",), ("Chores",),
                                      ("Contacts",)])  # fmt: skip
    assert by_path[("Persönlich ✓",)].kind == "calendar" and by_path[("Persönlich ✓",)].role == "calendar"
    assert by_path[("Persönlich ✓",)].folder_id == "/" + user + "/personal/#VEVENT"
    assert by_path[("Persönlich ✓ (Tasks)",)].kind == "tasks" and by_path[("Persönlich ✓ (Tasks)",)].role is None
    assert by_path[("Chores",)].role == "tasks" and by_path[("Contacts",)].role == "contacts"
    assert by_path[("Persönlich ✓",)].display_name == "Persönlich ✓"
    # every resource is in exactly one folder: the task only in the tasks folder
    mailbox = source(radicale, dav_user)
    listed = {f.path: [r.id for r in mailbox.list_items(f)] for f in folders}
    assert listed[("Persönlich ✓",)] == [personal + "e.ics"] and listed[("Persönlich ✓ (Tasks)",)] == [personal + "t.ics"]


def test_destination_places_folders_by_role_then_path(radicale: RadicaleServer, dav_user: DavUser) -> None:
    user = dav_user.name
    radicale.make_calendar(user, "default", display_name="Calendar")
    dst = destination(radicale, dav_user)
    placed = dst.ensure_folder(Folder(("Kalender",), kind="calendar", role="calendar"))
    assert placed.folder_id == f"/{user}/default/#VEVENT"
    made = dst.ensure_folder(Folder(("Projekte", "2026"), kind="tasks", role=None))
    assert made.path == ("Projekte/2026",) and made.kind == "tasks"
    assert dst.ensure_folder(Folder(("Projekte", "2026"), kind="tasks")).folder_id == made.folder_id
    renamed = dst.rename_folder(made, "Projekte 2027")
    assert renamed.path == ("Projekte 2027",) and renamed.folder_id == made.folder_id
    mkcalendars = [r for r in radicale.write_operations(user) if r["method"] == "MKCALENDAR"]
    assert len(mkcalendars) == 2  # the seeded one and the tasks list


# -- exactly once ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["504 after apply", "dropped after apply"])
def test_lost_put_answer_is_found_by_its_stamp(radicale: RadicaleServer, dav_user: DavUser, fault: str) -> None:
    dst = destination(radicale, dav_user)
    target = calendar(dst)
    items = [event(n) for n in range(3)]
    stamps = [stamp_for(f"lost-{fault}-{n}") for n in range(3)]
    radicale.fail_next("PUT", status=504, after_apply=True, drop=fault.startswith("dropped"), user=dav_user.name,
                       path_contains=stamps[1])  # fmt: skip
    results = dst.create_items(target, items, stamps)
    assert results[0].ok and results[2].ok and results[1].maybe_applied and not results[1].ok, results
    assert dst.find_stamps(target, [stamps[1]]) == {stamps[1]: [f"{target.folder_id.split('#')[0]}{stamps[1]}.ics"]}  # type: ignore[union-attr]
    # the executor settles it by the stamp, and sends nothing again
    executor = Executor(source_connections=1, destination_connections=2, batch_bytes=1 << 20, max_throttle_wait=5,
                        cancel=threading.Event())  # fmt: skip
    radicale.fail_next("PUT", status=504, after_apply=True, drop=fault.startswith("dropped"), user=dav_user.name)
    more = [event(n) for n in range(3, 5)]
    written = executor.create("test", dst, target, more, [stamp_for(f"more-{fault}-{n}") for n in range(2)], use_stamps=True)
    assert [w.status for w in written] == ["created", "created"], written
    assert executor.stats["reconciled"] == 1 and executor.stats["resent"] == 0
    assert dst.count(target) == 5
    puts = [r for r in radicale.write_operations(dav_user.name) if r["method"] == "PUT"]
    assert len(puts) == 5, "a PUT was sent twice"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_gateway_errors_on_a_write_are_outcome_unknown(radicale: RadicaleServer, dav_user: DavUser, status: int) -> None:
    dst = destination(radicale, dav_user)
    target = calendar(dst, f"Gateway {status}")
    radicale.fail_next("PUT", status=status, after_apply=True, user=dav_user.name)
    (result,) = dst.create_items(target, [event(1)], [stamp_for(f"gateway-{status}")])
    assert result.maybe_applied and not result.ok and str(status) in (result.error or ""), result
    assert dst.find_stamps(target, [stamp_for(f"gateway-{status}")])  # it was applied: the stamp finds it
    # a read answered so is only a connection failure (it may be repeated)
    radicale.fail_next("PROPFIND", status=status, after_apply=False, user=dav_user.name)
    with pytest.raises(ConnectionFailed) as read:
        dst.count(target)
    assert not isinstance(read.value, OutcomeUnknown)


def test_uid_conflict_gets_a_new_uid_and_a_warning(radicale: RadicaleServer, dav_user: DavUser) -> None:
    user = dav_user.name
    radicale.make_calendar(user, "work", display_name="Work")
    radicale.put(user, f"/{user}/work/by-hand.ics", ics(event(7), "shared-uid-7"))
    dst = destination(radicale, dav_user)
    target = dst.ensure_folder(Folder(("Work",), kind="calendar"))
    (result,) = dst.create_items(target, [event(8, uid="shared-uid-7")], [stamp_for("uid-conflict")])
    assert result.ok and result.item_id == f"/{user}/work/{stamp_for('uid-conflict')}.ics", result
    assert any("shared-uid-7" in w and "new UID" in w for w in result.warnings), result.warnings
    stored = radicale.list(user, f"/{user}/work/")
    assert len(stored) == 2
    copy = ical.ical_to_item(stored[result.item_id], source_id=result.item_id)
    assert isinstance(copy, Event) and copy.uid not in (None, "shared-uid-7") and copy.subject == "Event 8"
    # the same stamp again is this item, found under its name: never a second copy
    (again,) = dst.create_items(target, [event(8, uid="shared-uid-7")], [stamp_for("uid-conflict")])
    assert again.ok and again.item_id == result.item_id and any("not written again" in w for w in again.warnings)
    assert dst.find_stamps(target)[stamp_for("uid-conflict")] == [result.item_id]
    assert len(radicale.list(user, f"/{user}/work/")) == 2


def test_meetings_keep_their_uid(radicale: RadicaleServer, dav_user: DavUser) -> None:
    dst = destination(radicale, dav_user)
    target = calendar(dst, "Meetings")
    (result,) = dst.create_items(target, [event(9, uid="meeting-uid-9@example.org")], [stamp_for("meeting")])
    assert result.ok and not result.warnings
    data = radicale.get(dav_user.name, result.item_id or "")
    assert ical.ical_uid(data) == "meeting-uid-9@example.org" and ical.ical_stamp(data) == stamp_for("meeting")


def test_refusals_are_per_item(radicale: RadicaleServer, dav_user: DavUser) -> None:
    dst = destination(radicale, dav_user, max_item_bytes=4000)
    target = calendar(dst, "Limits")
    big = Event(subject="Big", start=dt.datetime(2026, 2, 2, 9, tzinfo=UTC), end=dt.datetime(2026, 2, 2, 10, tzinfo=UTC),
                timezone="UTC", body="x" * 5000, uid="big")  # fmt: skip
    contact = Contact(display_name="Not here", emails=("n@example.org",))
    mark = radicale.log_mark()
    results = dst.create_items(target, [event(1), big, contact, event(2)], None)
    assert results[0].ok and results[3].ok
    assert results[1].code == "TooLarge" and "at most" in (results[1].error or "") and not results[1].transient
    assert results[2].code == "UnsupportedItemType"
    assert len([r for r in radicale.write_operations(dav_user.name, since=mark) if r["method"] == "PUT"]) == 2


def test_the_servers_size_limit(radicale_factory: Callable[..., RadicaleServer]) -> None:
    """Radicale answers 412 for a resource over its ``max_resource_size``: with no resource of
    that name there, the item is refused for good, naming the size; stated as
    ``max_item_bytes``, the item is refused before anything is sent."""
    server = radicale_factory(config={"server": {"max_resource_size": "20000"}})
    server.add_user("sized", "sized-password")
    user = DavUser("sized", "sized-password", server.principal_url("sized"))
    big = Event(subject="Big", start=dt.datetime(2026, 2, 2, 9, tzinfo=UTC), end=dt.datetime(2026, 2, 2, 10, tzinfo=UTC),
                timezone="UTC", body="y" * 30000, uid="big-one")  # fmt: skip
    dst = destination(server, user, profile="generic")
    target = calendar(dst, "Sized")
    small, over = dst.create_items(target, [event(1), big], [stamp_for("small"), stamp_for("big")])
    assert small.ok and over.code == "PreconditionFailed" and "larger than the server accepts" in (over.error or "")
    assert not over.transient and not over.maybe_applied and dst.count(target) == 1
    stated = destination(server, user, profile="generic", max_item_bytes=20000)
    mark = server.log_mark()
    (refused,) = stated.create_items(target, [big], [stamp_for("big")])
    assert refused.code == "TooLarge" and "20,000 bytes at most" in (refused.error or "")
    assert server.write_operations("sized", since=mark) == []


def test_throttling_and_not_applied_failures(radicale: RadicaleServer, dav_user: DavUser) -> None:
    dst = destination(radicale, dav_user)
    target = calendar(dst, "Busy")
    radicale.fail_next("PUT", status=429, after_apply=False, retry_after=7, user=dav_user.name, count=2)
    with pytest.raises(Throttled) as busy:
        dst.create_items(target, [event(1), event(2)], [stamp_for("busy-1"), stamp_for("busy-2")])
    assert busy.value.retry_after == 7
    assert dst.count(target) == 0
    radicale.fail_next("PUT", status=507, after_apply=False, user=dav_user.name)
    (full,) = dst.create_items(target, [event(3)], [stamp_for("full")])
    assert full.code == "QuotaExceeded" and not full.transient and not full.maybe_applied


# -- credentials, TLS, the source's guard --------------------------------------------------------------


def test_wrong_password_names_the_user_never_the_password(radicale: RadicaleServer, dav_user: DavUser,
                                                          caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    secret = "Sup3r-Secret-Passw0rd"
    caplog.set_level(logging.DEBUG)
    endpoint = DavSource(radicale.url, BasicAuth(dav_user.name, secret), profile="radicale")
    mailbox = endpoint.open_mailbox(dav_user.name)
    with pytest.raises(AuthenticationError) as refused:
        mailbox.check()
    text = f"{refused.value!s} {refused.value!r} {endpoint!r} {mailbox!r} {mailbox.client!r} {caplog.text}"
    assert dav_user.name in str(refused.value)
    assert secret not in text and "Basic " not in text


def test_tls_verified_against_the_ca_file(radicale_factory: Callable[..., RadicaleServer]) -> None:
    server = radicale_factory(tls=True)
    server.add_user("tls-user", "tls-password")
    auth = BasicAuth("tls-user", "tls-password")
    with pytest.raises(ConfigError) as untrusted:
        DavSource(server.url, auth).open_mailbox("tls-user").check()
    assert untrusted.value.key == "ca_file" and "certificate" in str(untrusted.value)
    DavSource(server.url, auth, ca_file=server.ca_file).open_mailbox("tls-user").check()


def test_bearer_token_and_its_renewal(radicale: RadicaleServer, dav_user: DavUser) -> None:
    radicale.add_token("good-token-1", dav_user.name)
    handed = iter(["expired-token", "good-token-1"])
    provider = TokenProvider(lambda: next(handed))
    endpoint = DavSource(radicale.url, profile="radicale", principal_url="/{user}/")
    mailbox = endpoint.open_mailbox(dav_user.name, provider)
    mailbox.check()  # the first token is refused, dropped, and a fresh one used once
    auths = [r["auth"] for r in radicale.requests(dav_user.name)]
    assert "bearer" in auths
    bad = DavSource(radicale.url, profile="radicale", principal_url="/{user}/")
    with pytest.raises(AuthenticationError):
        bad.open_mailbox(dav_user.name, TokenProvider(lambda: "never-valid")).check()


def test_unreachable_server_is_a_connection_failure() -> None:
    with pytest.raises(ConnectionFailed) as down:
        DavSource("http://127.0.0.1:9/", BasicAuth("u", "p"), connect_timeout=2).open_mailbox("u").check()
    assert "unreachable" in str(down.value)


def test_source_cannot_write(radicale: RadicaleServer, dav_user: DavUser) -> None:
    mailbox = source(radicale, dav_user)
    with pytest.raises(SourceIsReadOnly):
        mailbox.client.request("PUT", mailbox.client.url(f"/{dav_user.name}/x.ics"), body=b"x")


def test_source_sees_no_write_during_list_fetch_and_sync(radicale: RadicaleServer, dav_user: DavUser) -> None:
    user = dav_user.name
    cal = radicale.make_calendar(user, "cal", display_name="Cal", components=("VEVENT", "VTODO"))
    radicale.put(user, cal + "a.ics", ics(event(1), "a"))
    radicale.put(user, cal + "b.ics", ics(Task(subject="t"), "b"))
    book = radicale.make_addressbook(user, "book", display_name="Book")
    radicale.put(user, book + "c.vcf", vcard.contact_to_vcard(Contact(display_name="C", emails=("c@example.org",)), uid="c"))
    mark = radicale.log_mark()
    mailbox = source(radicale, dav_user)
    mailbox.check()
    for folder in mailbox.folders():
        list(mailbox.fetch(folder, list(mailbox.list_items(folder))))
        state = mailbox.sync_items(folder, None).state
        mailbox.sync_items(folder, state)
        mailbox.count(folder)
    assert radicale.requests(user, since=mark), "nothing was read"
    assert radicale.write_operations(user, since=mark) == []


_NO_START = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Elsewhere//EN\r\nBEGIN:VEVENT\r\nUID:odd\r\n"
             b"DTSTAMP:20260101T000000Z\r\nSUMMARY:Private details\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _damage(monkeypatch: pytest.MonkeyPatch, href: str, data: bytes) -> None:
    """Replace the data of ``href`` in every multiget answer of the source (Radicale refuses
    to store what its own parser cannot read, so the damage is done on the way)."""
    real = getattr(source_module, "multiget")

    def damaged(*args: Any, **kwargs: Any) -> dict[str, tuple[str | None, bytes]]:
        answer: dict[str, tuple[str | None, bytes]] = real(*args, **kwargs)
        if href in answer:
            answer[href] = (None, data)
        return answer

    monkeypatch.setattr(source_module, "multiget", damaged)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(b"BEGIN:VCALENDAR\r\nthis is no iCalendar at all\r\n", "not iCalendar data"), (_NO_START, "VEVENT 'odd': no readable DTSTART")],
    ids=["garbage", "no-start"],
)
def test_unreadable_resource_is_named_not_lost(radicale: RadicaleServer, dav_user: DavUser, tmp_path: Any,
                                               monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                               damage: bytes, reason: str) -> None:  # fmt: skip
    """A resource the converter cannot read is reported as failed under its href with the
    converter's reason (never its data), the rest is copied, and once the resource can be
    read the next run copies it, once."""
    user = dav_user.name
    cal = radicale.make_calendar(user, "odd", display_name="Odd")
    radicale.put(user, cal + "good.ics", ics(event(1), "good"))
    radicale.put(user, cal + "odd.ics", ics(event(2), "odd"))
    _damage(monkeypatch, cal + "odd.ics", damage)
    memory = MemoryServer()
    memory.add_mailbox("carol@example.org")
    pairs = [gm.AccountPair(user, "carol@example.org", source_auth=BasicAuth(user, dav_user.password))]
    state = str(tmp_path / "s.db")
    with caplog.at_level(logging.WARNING, logger="groupmigrate.dav"):
        report = gm.Migrator(DavSource(radicale.url), MemoryDestination(memory), state=state).run(pairs)
    account = report.accounts[0]
    assert account.counts["calendar"]["migrated"] == 1 and account.counts["calendar"]["failed"] == 1, account.counts
    (failed,) = [e for e in account.log if e.kind == "failed"]
    assert failed.item == cal + "odd.ics" and failed.folder == "Odd", failed
    assert failed.message.startswith("unreadable iCalendar data: ") and reason in failed.message, failed.message
    assert "deleted or moved" not in failed.message and "Private details" not in failed.message
    assert f"{cal}odd.ics cannot be read" in caplog.text
    assert [i.subject for i in memory.items("carol@example.org", ("Calendar",))] == ["Event 1"]  # type: ignore[union-attr]

    monkeypatch.undo()  # the resource reads again
    fixed = gm.Migrator(DavSource(radicale.url), MemoryDestination(memory), state=state).run(pairs)
    assert fixed.accounts[0].status == "completed", fixed.accounts[0].log
    assert fixed.totals()["migrated"] == 1 and not fixed.totals().get("failed"), fixed.totals()
    again = gm.Migrator(DavSource(radicale.url), MemoryDestination(memory), state=state).run(pairs)
    assert again.totals().get("migrated", 0) == 0
    assert sorted(i.subject for i in memory.items("carol@example.org", ("Calendar",))) == ["Event 1", "Event 2"]  # type: ignore[union-attr]


def test_fetch_gives_an_unreadable_card_in_its_place(radicale: RadicaleServer, dav_user: DavUser,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The source's fetch keeps the order of the refs: a card the converter refuses comes as
    Unreadable with the reason, a card gone since the listing is left out."""
    user = dav_user.name
    book = radicale.make_addressbook(user, "book", display_name="Book")
    for name in ("a", "b", "c"):
        radicale.put(user, f"{book}{name}.vcf", vcard.contact_to_vcard(Contact(display_name=name.upper()), uid=name))
    mailbox = source(radicale, dav_user)
    (folder,) = mailbox.folders()
    refs = list(mailbox.list_items(folder))
    radicale.delete(user, f"{book}c.vcf")
    _damage(monkeypatch, f"{book}b.vcf", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    got = list(mailbox.fetch(folder, refs))
    assert [g.source_id for g in got] == [f"{book}a.vcf", f"{book}b.vcf"]
    assert isinstance(got[0], Contact) and got[0].display_name == "A"
    broken = got[1]
    assert isinstance(broken, gm.Unreadable) and broken.item_type == "contacts" and broken.label == f"{book}b.vcf"
    assert broken.reason == "unreadable vCard data: not a vCard: no BEGIN:VCARD line", broken.reason
