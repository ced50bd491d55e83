"""The Radicale test server (groupmigrate.testing.radicale) does what DAV backend tests rely on.

Discovery through ``/.well-known``, users added without a restart, rights between users, the
request log (writes per user, since a mark), injected faults (applied then answered 504, not
applied, connection dropped), bearer tokens, TLS with the harness's certificate, restart and
clean-up; and the Radicale behaviour DAV backends meet (UID conflicts, content types, sync
tokens, what it accepts).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from groupmigrate.testing.radicale import RadicaleError, RadicaleServer

from .conftest import DavUser, require_radicale

pytestmark = pytest.mark.timeout(60)

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CARDDAV = "{urn:ietf:params:xml:ns:carddav}"
PRINCIPAL = b'<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>'
HOMES = (
    b'<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav">'
    b"<prop><C:calendar-home-set/><A:addressbook-home-set/></prop></propfind>"
)


def event(uid: str, summary: str = "Meeting", extra: str = "") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//groupmigrate//tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n"
        f"DTEND:20240102T110000Z\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def session(user: DavUser | tuple[str, str] | None = None, verify: str | bool = True) -> requests.Session:
    """A session straight to loopback (no proxy from the environment), as ``user``."""
    s = requests.Session()
    s.trust_env = False
    s.verify = verify
    if user is not None:
        s.auth = (user[0], user[1])
    return s


def propfind(s: requests.Session, url: str, body: bytes, depth: str = "0") -> requests.Response:
    return s.request("PROPFIND", url, data=body, headers={"Depth": depth, "Content-Type": "application/xml"})


def hrefs(response: requests.Response, prop: str) -> list[str]:
    """The hrefs inside every ``prop`` element of a multistatus answer."""
    found = []
    for element in ET.fromstring(response.content).iter(prop):
        found += [href.text or "" for href in element.iter(f"{DAV}href")]
    return found


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


# -- discovery and users ----------------------------------------------------------------------------
@pytest.mark.parametrize("service", ["caldav", "carddav"])
def test_well_known_leads_to_the_principal_and_its_homes(
    radicale: RadicaleServer, dav_user: DavUser, service: str
) -> None:
    s = session(dav_user)
    first = s.get(radicale.url + f".well-known/{service}", allow_redirects=False)
    assert first.status_code == 301
    assert first.headers["Location"] == "/"
    root = propfind(s, radicale.url + first.headers["Location"].lstrip("/"), PRINCIPAL)
    assert root.status_code == 207
    principal = hrefs(root, f"{DAV}current-user-principal")
    assert principal == [f"/{dav_user.name}/"]
    assert radicale.url.rstrip("/") + principal[0] == dav_user.principal_url
    homes = propfind(s, dav_user.principal_url, HOMES)
    assert hrefs(homes, f"{CALDAV}calendar-home-set") == principal
    assert hrefs(homes, f"{CARDDAV}addressbook-home-set") == principal


def test_a_user_added_later_logs_in_at_once_without_a_restart(radicale: RadicaleServer) -> None:
    pid = radicale.pid
    name = f"late-{secrets.token_hex(4)}"
    radicale.add_user(name, "first-password")
    assert propfind(session((name, "first-password")), radicale.principal_url(name), PRINCIPAL).status_code == 207
    assert propfind(session((name, "wrong")), radicale.principal_url(name), PRINCIPAL).status_code == 401
    assert radicale.pid == pid and radicale.running
    with pytest.raises(ValueError):
        radicale.add_user(name, "again")


def test_a_user_cannot_read_or_write_another_users_collections(
    radicale: RadicaleServer, dav_user: DavUser
) -> None:
    calendar = radicale.make_calendar(dav_user.name, "private")
    radicale.put(dav_user.name, calendar + "secret.ics", event("secret"))
    intruder = f"intruder-of-{dav_user.name}"
    radicale.add_user(intruder, "intruder-password")
    other = session((intruder, "intruder-password"))
    assert propfind(other, radicale.url.rstrip("/") + calendar, PRINCIPAL, depth="1").status_code in (403, 404)
    assert other.get(radicale.url.rstrip("/") + calendar + "secret.ics").status_code in (403, 404)
    answer = other.put(radicale.url.rstrip("/") + calendar + "planted.ics", data=event("planted"))
    assert answer.status_code in (403, 404)
    assert list(radicale.list(dav_user.name, calendar)) == [calendar + "secret.ics"]
    # the refused write is still recorded, as the intruder's
    assert [(w["method"], w["status"] in (403, 404)) for w in radicale.write_operations(intruder)] == [("PUT", True)]


# -- the request log --------------------------------------------------------------------------------
def test_a_put_is_a_write_of_its_user_and_a_get_is_not(radicale: RadicaleServer, dav_user: DavUser) -> None:
    calendar = radicale.make_calendar(dav_user.name, "work", display_name="Work")
    mark = radicale.log_mark()
    assert radicale.write_operations(dav_user.name, since=mark) == []

    s = session(dav_user)
    url = radicale.url.rstrip("/") + calendar + "one.ics"
    assert s.put(url, data=event("one"), headers={"Content-Type": "text/calendar"}).status_code == 201
    assert s.get(url).status_code == 200

    seen = radicale.requests(dav_user.name, since=mark)
    assert [(r["method"], r["path"], r["status"], r["auth"]) for r in seen] == [
        ("PUT", calendar + "one.ics", 201, "basic"),
        ("GET", calendar + "one.ics", 200, "basic"),
    ]
    assert all(isinstance(r["time"], float) and r["duration"] >= 0 for r in seen)
    writes = radicale.write_operations(dav_user.name, since=mark)
    assert [(w["method"], w["path"]) for w in writes] == [("PUT", calendar + "one.ics")]
    # seeding before the mark is recorded too, and never a password
    assert [w["method"] for w in radicale.write_operations(dav_user.name)][:2] == ["MKCALENDAR", "PUT"]
    assert dav_user.password not in Path(radicale.workdir, "requests.jsonl").read_text()


def test_seeding_helpers_round_trip(radicale: RadicaleServer, dav_user: DavUser) -> None:
    calendar = radicale.make_calendar(
        dav_user.name, "tasks", display_name="Tâches", color="#3366ff", components=("VTODO",)
    )
    book = radicale.make_addressbook(dav_user.name, "contacts", display_name="Contacts")
    assert (calendar, book) == (f"/{dav_user.name}/tasks/", f"/{dav_user.name}/contacts/")
    todo = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t1\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Do\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Ann Example\r\nN:Example;Ann;;;\r\nEND:VCARD\r\n"
    etag = radicale.put(dav_user.name, calendar + "t1.ics", todo)
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)
    radicale.put(dav_user.name, book + "c1.vcf", card)
    assert b"SUMMARY:Do" in radicale.get(dav_user.name, calendar + "t1.ics")
    assert list(radicale.list(dav_user.name, book)) == [book + "c1.vcf"]
    props = propfind(
        session(dav_user), radicale.url.rstrip("/") + calendar,
        b'<propfind xmlns="DAV:" xmlns:I="http://apple.com/ns/ical/" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        b"<prop><displayname/><I:calendar-color/><C:supported-calendar-component-set/></prop></propfind>",
    )  # fmt: skip
    tree = ET.fromstring(props.content)
    assert tree.findtext(f".//{DAV}displayname") == "Tâches"
    assert tree.findtext(".//{http://apple.com/ns/ical/}calendar-color") == "#3366ff"
    assert [c.get("name") for c in tree.iter(f"{CALDAV}comp")] == ["VTODO"]
    radicale.delete(dav_user.name, book + "c1.vcf")
    assert radicale.list(dav_user.name, book) == {}


# -- faults --------------------------------------------------------------------------------------
def test_a_fault_after_apply_stores_the_resource_yet_answers_504(radicale: RadicaleServer, dav_user: DavUser) -> None:
    calendar = radicale.make_calendar(dav_user.name, "cal")
    url = radicale.url.rstrip("/") + calendar + "a.ics"
    rule = radicale.fail_next("PUT", user=dav_user.name)
    assert [f["id"] for f in radicale.pending_faults()] == [rule]

    answer = session(dav_user).put(url, data=event("a"), headers={"Content-Type": "text/calendar"})
    assert answer.status_code == 504
    assert answer.headers["Content-Type"] == "text/html"
    assert b"504 Gateway Timeout" in answer.content
    assert b"UID:a" in radicale.get(dav_user.name, calendar + "a.ics")  # it was applied
    record = radicale.write_operations(dav_user.name)[-1]
    assert (record["status"], record["applied_status"], record["fault"]) == (504, 201, rule)
    assert radicale.pending_faults() == []
    # used up: the next write goes through
    again = session(dav_user).put(url, data=event("a", "v2"), headers={"Content-Type": "text/calendar"})
    assert again.status_code == 204


def test_a_fault_before_apply_answers_503_and_stores_nothing(radicale: RadicaleServer, dav_user: DavUser) -> None:
    calendar = radicale.make_calendar(dav_user.name, "cal")
    radicale.fail_next("PUT", after_apply=False, path_contains="b.ics", retry_after=2, count=2)
    s = session(dav_user)
    base = radicale.url.rstrip("/") + calendar
    assert s.put(base + "other.ics", data=event("other")).status_code == 201  # no match: path
    for _ in range(2):
        answer = s.put(base + "b.ics", data=event("b"))
        assert (answer.status_code, answer.headers["Retry-After"]) == (503, "2")
    assert s.get(base + "b.ics").status_code == 404
    assert s.put(base + "b.ics", data=event("b")).status_code == 201
    statuses = [(r["status"], r.get("applied_status", "-")) for r in radicale.write_operations(dav_user.name)]
    assert statuses[-3:] == [(503, None), (503, None), (201, "-")]


def test_a_dropped_connection_after_apply(radicale: RadicaleServer, dav_user: DavUser) -> None:
    calendar = radicale.make_calendar(dav_user.name, "cal")
    radicale.fail_next(["PUT", "DELETE"], drop=True, user=dav_user.name)
    with pytest.raises(requests.ConnectionError):
        session(dav_user).put(radicale.url.rstrip("/") + calendar + "c.ics", data=event("c"))
    assert b"UID:c" in radicale.get(dav_user.name, calendar + "c.ics")
    record = radicale.write_operations(dav_user.name)[-1]
    assert (record["status"], record["applied_status"]) == (None, 201)


# -- bearer tokens ------------------------------------------------------------------------------
def test_a_bearer_token_acts_as_its_user_and_others_get_401(radicale: RadicaleServer, dav_user: DavUser) -> None:
    token = f"token-for-{dav_user.name}"
    radicale.add_token(token, dav_user.name)
    mark = radicale.log_mark()

    def bearer(value: str) -> requests.Response:
        s = session()
        s.headers["Authorization"] = f"Bearer {value}"
        return propfind(s, dav_user.principal_url, PRINCIPAL)

    assert bearer(token).status_code == 207
    wrong = bearer("not-a-token")
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    radicale.remove_token(token)
    assert bearer(token).status_code == 401
    seen = [(r["user"], r["auth"], r["status"]) for r in radicale.requests(since=mark)]
    assert seen == [(dav_user.name, "bearer", 207), (None, "bearer", 401), (None, "bearer", 401)]


# -- TLS -------------------------------------------------------------------------------------------
def test_tls_server_is_trusted_with_its_ca_file_only(radicale_factory: Callable[..., RadicaleServer]) -> None:
    server = radicale_factory(tls=True)
    assert server.url.startswith("https://127.0.0.1:") and server.ca_file is not None
    server.add_user("alice", "alice-password")
    user = ("alice", "alice-password")
    assert propfind(session(user, verify=server.ca_file), server.principal_url("alice"), PRINCIPAL).status_code == 207
    localhost = server.principal_url("alice").replace("127.0.0.1", "localhost")
    assert propfind(session(user, verify=server.ca_file), localhost, PRINCIPAL).status_code == 207
    with pytest.raises(requests.exceptions.SSLError):
        session(user).get(server.url)  # the system's CAs do not know it


# -- lifetime -------------------------------------------------------------------------------------
def test_restart_keeps_port_users_and_data(radicale_factory: Callable[..., RadicaleServer]) -> None:
    server = radicale_factory()
    server.add_user("alice", "alice-password")
    calendar = server.make_calendar("alice", "cal")
    server.put("alice", calendar + "x.ics", event("x"))
    url, pid = server.url, server.pid
    server.restart()
    assert (server.url, server.running) == (url, True) and server.pid != pid
    assert b"UID:x" in server.get("alice", calendar + "x.ics")


def test_stop_removes_the_workdir_unless_kept() -> None:
    require_radicale()
    with RadicaleServer() as server:
        workdir = server.workdir
    assert not workdir.exists() and not server.running
    kept = RadicaleServer(keep=True)
    kept.add_user("alice", "alice-password")
    kept.make_calendar("alice", "cal")
    kept.stop()
    try:
        with RadicaleServer(workdir=kept.workdir) as again:  # a given workdir: users and data come back
            assert again.users == ["alice"]
            assert again.list("alice", "/alice/cal/") == {}
        assert kept.workdir.exists()
    finally:
        shutil.rmtree(kept.workdir, ignore_errors=True)


def test_a_dead_test_process_takes_its_server_along() -> None:
    require_radicale()
    code = (
        "import os\nfrom groupmigrate.testing.radicale import RadicaleServer\n"
        "s = RadicaleServer()\nprint(s.workdir, s.pid, flush=True)\nos._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    workdir, pid = out.stdout.split()
    deadline = time.monotonic() + 10
    while (Path(workdir).exists() or alive(int(pid))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(workdir).exists()
    assert not alive(int(pid))


def test_a_failed_start_says_why() -> None:
    require_radicale()
    with pytest.raises(RadicaleError, match="max_resource_size"):
        RadicaleServer(config={"server": {"max_resource_size": "-5"}})


# -- Radicale's behaviour that DAV backends meet -----------------------------------------------------
def test_radicale_behaviour_backends_rely_on(radicale: RadicaleServer, dav_user: DavUser) -> None:
    calendar = radicale.make_calendar(dav_user.name, "cal")
    book = radicale.make_addressbook(dav_user.name, "book")
    base = radicale.url.rstrip("/")
    s = session(dav_user)
    radicale.put(dav_user.name, calendar + "one.ics", event("same-uid"))

    # a second resource with the same UID in the collection: 409 with CalDAV's precondition
    conflict = s.put(base + calendar + "two.ics", data=event("same-uid"))
    assert conflict.status_code == 409
    assert ET.fromstring(conflict.content).find(f"{CALDAV}no-uid-conflict") is not None

    # a journal entry is accepted even in a calendar declared for events only
    journal = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VJOURNAL\r\nUID:j1\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Note\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"
    assert s.put(base + calendar + "j1.ics", data=journal).status_code == 201
    # an inline attachment is kept
    attach = "ATTACH;ENCODING=BASE64;VALUE=BINARY;FMTTYPE=text/plain:aGVsbG8=\r\n"
    assert s.put(base + calendar + "att.ics", data=event("att", extra=attach)).status_code == 201
    assert b"aGVsbG8=" in radicale.get(dav_user.name, calendar + "att.ics")
    # a vCard 4 group is kept as such
    group = b"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:g1\r\nKIND:group\r\nFN:Team\r\nMEMBER:urn:uuid:c1\r\nEND:VCARD\r\n"
    assert s.put(base + book + "g1.vcf", data=group).status_code == 201
    assert b"KIND:group" in radicale.get(dav_user.name, book + "g1.vcf")

    listing = propfind(
        s, base + calendar,
        b'<propfind xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/"><prop>'
        b"<getcontenttype/><getetag/><sync-token/><CS:getctag/></prop></propfind>",
        depth="1",
    )  # fmt: skip
    types = {
        r.findtext(f"{DAV}href"): r.findtext(f".//{DAV}getcontenttype")
        for r in ET.fromstring(listing.content).iter(f"{DAV}response")
    }
    assert types == {
        calendar: "text/calendar",
        calendar + "one.ics": "text/calendar;charset=utf-8;component=VEVENT",
        calendar + "j1.ics": "text/calendar;charset=utf-8;component=VJOURNAL",
        calendar + "att.ics": "text/calendar;charset=utf-8;component=VEVENT",
    }
    token = ET.fromstring(listing.content).findtext(f".//{DAV}sync-token") or ""
    assert re.fullmatch(r"http://radicale\.org/ns/sync/[0-9a-f]{64}", token)
