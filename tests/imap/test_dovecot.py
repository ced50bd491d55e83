"""The Dovecot test server (groupmigrate.testing.dovecot) does what IMAP backend tests rely on.

Logins (password, master user, TLS with the harness's CA), the SPECIAL-USE folders, the
capabilities, APPENDUID, the quota and connection-limit refusals with their exact texts, and
the capture of what each user's sessions sent (commands, write commands).
"""

from __future__ import annotations

import base64
import imaplib
import os
import re
import shutil
import site
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from groupmigrate.testing.dovecot import DovecotError, DovecotServer, parse_commands

from .conftest import ImapUser

pytestmark = pytest.mark.timeout(60)

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: %s\r\n\r\nHello.\r\n"
LOGGED_IN = re.compile(rb"OK \[CAPABILITY [^]]+\] Logged in")
TIMING = re.compile(rb" \([0-9.]+(?: \+ [0-9.]+)* secs\)\.$")


class Raw:
    """A bare IMAP connection: exact response lines, literals as given."""

    def __init__(self, server: DovecotServer, *, tls: bool = False, host: str | None = None) -> None:
        sock = socket.create_connection((server.host, server.tls_port if tls else server.port), 10)
        if tls:
            ctx = ssl.create_default_context(cafile=server.ca_file)
            sock = ctx.wrap_socket(sock, server_hostname=host or server.host)
        self.sock = sock
        self.file = sock.makefile("rb")
        self.greeting = self.file.readline()
        self.count = 0

    def line(self) -> bytes:
        data = self.file.readline()
        if not data:
            raise EOFError("server closed the connection")
        match = re.search(rb"\{(\d+)\}\r\n$", data)
        if match:  # a literal in a response: keep it in the line
            data += self.file.read(int(match.group(1))) + self.line()
        return data

    def send(self, command: bytes) -> tuple[list[bytes], bytes]:
        """Send a command; its untagged responses and the tagged one (status and text, no timing)."""
        self.count += 1
        tag = b"r%d" % self.count
        self.sock.sendall(tag + b" " + command + b"\r\n")
        untagged: list[bytes] = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return untagged, TIMING.sub(b"", line[len(tag) + 1 :].rstrip(b"\r\n"))
            untagged.append(line.rstrip(b"\r\n"))

    def close(self) -> None:
        try:
            self.send(b"LOGOUT")
        except (OSError, EOFError):
            pass
        self.sock.close()


def connect(server: DovecotServer, transport: str) -> imaplib.IMAP4:
    ctx = ssl.create_default_context(cafile=server.ca_file)
    if transport == "imaps":
        return imaplib.IMAP4_SSL(server.host, server.tls_port, ssl_context=ctx, timeout=10)
    imap = imaplib.IMAP4(server.host, server.port, timeout=10)
    if transport == "starttls":
        imap.starttls(ssl_context=ctx)
    return imap


def plain(authzid: str, authcid: str, password: str) -> Callable[[bytes], bytes]:
    return lambda _challenge: f"{authzid}\0{authcid}\0{password}".encode()


def append(server: DovecotServer, user: ImapUser, subject: str) -> None:
    imap = connect(server, "plain")
    imap.login(user.name, user.password)
    typ, _ = imap.append("INBOX", None, None, MESSAGE % subject.encode())
    assert typ == "OK"
    imap.logout()


# -- logins ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["plain", "starttls", "imaps"])
@pytest.mark.parametrize("method", ["LOGIN", "AUTHENTICATE PLAIN"])
def test_a_user_logs_in_with_a_password(
    dovecot: DovecotServer, imap_user: ImapUser, transport: str, method: str
) -> None:
    imap = connect(dovecot, transport)
    assert "AUTH=PLAIN" in imap.capabilities
    answer: tuple[str, object]
    if method == "LOGIN":
        answer = imap.login(imap_user.name, imap_user.password)
    else:
        answer = imap.authenticate("PLAIN", plain("", imap_user.name, imap_user.password))
    assert answer == ("OK", [b"Logged in"])
    assert imap.select("INBOX")[0] == "OK"
    if transport != "plain":
        assert isinstance(imap.sock, ssl.SSLSocket)
        assert imap.sock.version() in ("TLSv1.2", "TLSv1.3")
    imap.logout()


def test_a_wrong_password_or_unknown_user_is_refused(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    master = f"{imap_user.name}*{dovecot.master_user}"
    wrong_plain = base64.b64encode(f"\0{imap_user.name}\0nope".encode())
    attempts = [
        f"LOGIN {imap_user.name} wrong-{imap_user.password}",
        f"LOGIN nosuchuser {imap_user.password}",
        f"LOGIN {master} wrong-{dovecot.master_password}",
        f"LOGIN {master} {imap_user.password}",  # the user's password is no master password
        f"AUTHENTICATE PLAIN {wrong_plain.decode()}",
    ]

    def attempt(command: str) -> bytes:
        raw = Raw(dovecot)
        try:
            return raw.send(command.encode())[1]
        finally:
            raw.close()

    # Dovecot answers failures every half second: try them side by side
    with ThreadPoolExecutor(len(attempts)) as pool:
        answers = list(pool.map(attempt, attempts))
    assert answers == [b"NO [AUTHENTICATIONFAILED] Authentication failed."] * len(attempts)


@pytest.mark.parametrize("form", ["LOGIN user*master", "AUTHENTICATE PLAIN authzid=user"])
def test_the_master_user_opens_another_users_mailbox(
    dovecot: DovecotServer, imap_user: ImapUser, form: str
) -> None:
    append(dovecot, imap_user, "for the master")
    before = len(dovecot.commands(imap_user.name))
    imap = connect(dovecot, "imaps")
    answer: tuple[str, object]
    if form.startswith("LOGIN"):
        answer = imap.login(f"{imap_user.name}*{dovecot.master_user}", dovecot.master_password)
    else:
        answer = imap.authenticate(
            "PLAIN", plain(imap_user.name, dovecot.master_user, dovecot.master_password)
        )
    assert answer[0] == "OK"
    assert imap.select("INBOX", readonly=True) == ("OK", [b"1"])
    assert imap.search(None, "SUBJECT", '"for the master"') == ("OK", [b"1"])
    imap.logout()
    # the session counts as the user's own
    assert dovecot.commands(imap_user.name)[before:] == ["EXAMINE", "SEARCH", "LOGOUT"]
    assert dovecot.commands(dovecot.master_user) == []


def test_tls_verifies_against_ca_file_only(dovecot: DovecotServer) -> None:
    # with ca_file: the certificate holds for 127.0.0.1 and localhost
    for name in ("127.0.0.1", "localhost"):
        assert Raw(dovecot, tls=True, host=name).greeting.startswith(b"* OK")
    # without it (the system's CAs), or for another name: verification fails
    untrusting = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(dovecot.host, dovecot.tls_port, ssl_context=untrusting, timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4(dovecot.host, dovecot.port, timeout=10).starttls(ssl_context=untrusting)
    wrong_name = ssl.create_default_context(cafile=dovecot.ca_file)
    with socket.create_connection((dovecot.host, dovecot.tls_port), 10) as sock:
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            wrong_name.wrap_socket(sock, server_hostname="mail.example.org")


# -- what the server offers -----------------------------------------------------------------------
def test_special_use_folders_exist_and_are_subscribed(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    raw = Raw(dovecot)
    raw.send(f"LOGIN {imap_user.name} {imap_user.password}".encode())
    untagged, status = raw.send(b'LIST (SPECIAL-USE) "" "*"')
    assert status == b"OK List completed"
    roles = {}
    for line in untagged:
        match = re.fullmatch(rb'\* LIST \(([^)]*)\) "(.)" (\S+)', line)
        assert match, line
        assert match.group(2) == b"/"  # the hierarchy separator
        (use,) = [flag for flag in match.group(1).split() if flag != b"\\HasNoChildren"]
        roles[use.decode()] = match.group(3).decode()
    assert roles == {
        "\\Drafts": "Drafts", "\\Sent": "Sent", "\\Trash": "Trash",
        "\\Junk": "Junk", "\\Archive": "Archive",
    }  # fmt: skip
    untagged, _ = raw.send(b'LSUB "" "*"')
    assert {line.rsplit(b" ", 1)[1].decode() for line in untagged} >= set(roles.values())
    # folders nest with "/"
    assert raw.send(b"CREATE Projects/Apollo")[1] == b"OK Create completed"
    untagged, _ = raw.send(b'LIST "" "Projects*"')
    assert untagged == [
        b'* LIST (\\Noselect \\HasChildren) "/" Projects',
        b'* LIST (\\HasNoChildren) "/" Projects/Apollo',
    ]
    raw.close()


def test_capabilities(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    raw = Raw(dovecot)
    greeting = raw.greeting.decode()
    for cap in ("STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "LITERAL+", "ENABLE", "SASL-IR", "ID"):
        assert f" {cap}" in greeting, greeting
    raw.send(f"LOGIN {imap_user.name} {imap_user.password}".encode())
    untagged, _ = raw.send(b"CAPABILITY")
    caps = set(untagged[0].split()[2:])
    wanted = {b"CONDSTORE", b"QRESYNC", b"UIDPLUS", b"MULTIAPPEND", b"SPECIAL-USE", b"LITERAL+",
              b"ENABLE", b"IDLE", b"MOVE", b"ESEARCH", b"BINARY", b"METADATA", b"QUOTA", b"NAMESPACE"}  # fmt: skip
    assert wanted <= caps, wanted - caps
    # CONDSTORE and QRESYNC work, not only advertised
    assert raw.send(b"ENABLE QRESYNC") == ([b"* ENABLED QRESYNC"], b"OK Enabled")
    untagged, status = raw.send(b"SELECT INBOX")
    assert status.startswith(b"OK [READ-WRITE]")
    assert any(b"[HIGHESTMODSEQ " in line for line in untagged), untagged
    raw.close()


def test_append_answers_appenduid_and_multiappend_works(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    raw = Raw(dovecot)
    raw.send(f"LOGIN {imap_user.name} {imap_user.password}".encode())
    one = MESSAGE % b"one"
    _, status = raw.send(b"APPEND INBOX (\\Seen) {%d+}\r\n%s" % (len(one), one))
    match = re.fullmatch(rb"OK \[APPENDUID (\d+) 1\] Append completed", status)
    assert match, status
    two, three = MESSAGE % b"two", MESSAGE % b"three"
    _, status = raw.send(b"APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s" % (len(two), two, len(three), three))
    assert status == b"OK [APPENDUID %s 2:3] Append completed" % match.group(1)
    raw.close()
    imap = connect(dovecot, "plain")
    imap.login(imap_user.name, imap_user.password)
    typ, data = imap.append("Sent", "(\\Seen)", None, MESSAGE % b"via imaplib")
    assert typ == "OK" and re.match(rb"\[APPENDUID \d+ 1\]", data[0]), data
    imap.logout()


def test_append_over_quota_is_refused_with_overquota(dovecot: DovecotServer) -> None:
    dovecot.add_user("quota-user", "quota-password", quota_bytes=2000)
    raw = Raw(dovecot)
    raw.send(b"LOGIN quota-user quota-password")
    small = MESSAGE % b"small"
    assert raw.send(b"APPEND INBOX {%d+}\r\n%s" % (len(small), small))[1].startswith(b"OK [APPENDUID")
    untagged, _ = raw.send(b"GETQUOTAROOT INBOX")
    # in KiB, rounded up
    assert untagged == [b'* QUOTAROOT INBOX "User quota"', b'* QUOTA "User quota" (STORAGE 1 2)']
    big = MESSAGE % (b"x" * 2500)
    refused = b"NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"
    # with LITERAL+ the message is sent and refused; with a synchronizing literal Dovecot
    # refuses at once, without asking for the message
    assert raw.send(b"APPEND INBOX {%d+}\r\n%s" % (len(big), big)) == ([], refused)
    assert raw.send(b"APPEND INBOX {%d}" % len(big)) == ([], refused)
    assert raw.send(b"STATUS INBOX (MESSAGES)")[0] == [b"* STATUS INBOX (MESSAGES 1)"]
    raw.close()
    assert dovecot.commands("quota-user") == ["APPEND", "GETQUOTAROOT", "APPEND", "APPEND", "STATUS", "LOGOUT"]


def test_connections_beyond_the_limit_are_refused(dovecot_factory: Callable[..., DovecotServer]) -> None:
    server = dovecot_factory(max_userip_connections=2)
    server.add_user("limited", "limited-password")
    refused = b"NO [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=2)"

    def login(credentials: bytes) -> tuple[Raw, bytes]:
        raw = Raw(server)
        return raw, raw.send(b"LOGIN " + credentials)[1]

    first, status = login(b"limited limited-password")
    assert LOGGED_IN.fullmatch(status)
    second, status = login(b"limited limited-password")
    assert LOGGED_IN.fullmatch(status)
    third, status = login(b"limited limited-password")
    assert status == refused
    with pytest.raises(EOFError):  # and Dovecot closes the connection
        third.send(b"NOOP")
    # the master user's sessions for the user count too
    assert login(b"limited*master master-secret-value")[1] == refused
    first.close()
    deadline = time.monotonic() + 5
    while (attempt := login(b"limited limited-password"))[1] == refused:
        assert time.monotonic() < deadline, "a freed connection slot was not given back"
        time.sleep(0.05)
    assert LOGGED_IN.fullmatch(attempt[1])
    attempt[0].close()
    second.close()
    assert "Maximum number of connections from user+IP exceeded" in server.log_text()


# -- commands() and write_commands() ------------------------------------------------------------
def test_a_read_only_session_has_no_write_commands(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    append(dovecot, imap_user, "seeded")
    assert dovecot.commands(imap_user.name) == ["APPEND", "LOGOUT"]
    assert dovecot.write_commands(imap_user.name) == ["APPEND"]

    imap = connect(dovecot, "starttls")
    imap.login(imap_user.name, imap_user.password)
    imap.list()
    imap.select("INBOX", readonly=True)
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    assert typ == "OK" and b"Subject: seeded" in data[0][1]
    imap.logout()

    commands = dovecot.commands(imap_user.name)
    assert commands[2:] == ["LIST", "EXAMINE", "UID FETCH", "LOGOUT"]
    assert dovecot.write_commands(imap_user.name) == ["APPEND"]  # the seeding, nothing since
    assert not any(imap_user.password in name for name in commands)


def test_a_writing_session_is_captured(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    imap = connect(dovecot, "imaps")
    imap.login(imap_user.name, imap_user.password)
    imap.create("Projects")
    imap.append("INBOX", None, None, MESSAGE % b"first")
    imap.select("INBOX")
    imap.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
    imap.uid("COPY", "1", "Projects")
    imap.store("1", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    imap.rename("Projects", "Archive/Projects")
    imap.subscribe("Archive/Projects")
    imap.logout()
    assert dovecot.write_commands(imap_user.name) == [
        "CREATE", "APPEND", "SELECT", "UID STORE", "UID COPY", "STORE", "EXPUNGE", "RENAME", "SUBSCRIBE",
    ]  # fmt: skip
    assert dovecot.commands(imap_user.name)[-1] == "LOGOUT"


def test_commands_read_literals_idle_and_refused_appends(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    """Message content that looks like commands is not taken for commands, refused or not."""
    raw = Raw(dovecot)
    raw.send(f"LOGIN {imap_user.name} {imap_user.password}".encode())
    tricky = b"x1 DELETE INBOX\r\nx2 UID EXPUNGE 1:*\r\n"
    # a synchronizing literal refused at once: the client never sends it
    raw.sock.sendall(b"a1 APPEND Missing {%d}\r\n" % len(tricky))
    assert raw.line().startswith(b"a1 NO [TRYCREATE]")
    # one accepted after the server's "+"
    raw.sock.sendall(b"a2 APPEND INBOX {%d}\r\n" % len(tricky))
    assert raw.line().startswith(b"+ ")
    raw.sock.sendall(tricky + b"\r\n")
    assert raw.line().startswith(b"a2 OK [APPENDUID")
    assert raw.send(b"APPEND INBOX {%d+}\r\n%s" % (len(tricky), tricky))[1].startswith(b"OK [APPENDUID")
    raw.sock.sendall(b"a3 EXAMINE INBOX\r\na4 IDLE\r\n")
    while not raw.line().startswith(b"+ "):
        pass
    raw.sock.sendall(b"DONE\r\n")
    while not raw.line().startswith(b"a4 OK"):
        pass
    raw.send(b"uid fetch 1:* (BODY.PEEK[])")
    # while the session is open, what it sent so far is there
    assert dovecot.commands(imap_user.name) == ["APPEND", "APPEND", "APPEND", "EXAMINE", "IDLE", "UID FETCH"]
    raw.close()
    assert dovecot.write_commands(imap_user.name) == ["APPEND", "APPEND", "APPEND"]


def test_parse_commands_without_a_server() -> None:
    stamped = (
        b"1700000000.000001 a SELECT INBOX\n"
        b"1700000000.000002 b APPEND INBOX {6}\n"
        b"1700000000.000003 c NOOP\n"
        b"1700000000.000004 d uid move 1 Trash\n"
    )
    out = b"1700000000.000001 a OK [READ-WRITE] Select completed.\r\n1700000000.000002 b NO [OVERQUOTA] x\r\n"
    assert parse_commands(stamped, out) == ["SELECT", "APPEND", "NOOP", "UID MOVE"]
    # without the server's side, a literal counts as sent (here it swallows "c NOOP")
    assert parse_commands(stamped) == ["SELECT", "APPEND", "UID MOVE"]
    assert parse_commands(b"a IDLE\r\nDONE\r\nb LOGOUT\r\n") == ["IDLE", "LOGOUT"]
    assert parse_commands(b"a APPEND x ~{3+}\r\nabc\r\nb CHECK\r\nc FET") == ["APPEND", "CHECK"]


# -- the server itself ----------------------------------------------------------------------------
def _processes(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            state = (entry / "stat").read_bytes().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state != b"Z":
            found.append(int(entry.name))
    return found


def test_stop_ends_every_process_and_removes_the_workdir(dovecot_factory: Callable[..., DovecotServer]) -> None:
    server = dovecot_factory()
    server.add_user("someone", "some-password")
    imap = connect(server, "plain")
    imap.login("someone", "some-password")
    imap.select("INBOX")
    marker = f"gm-dovecot-{server.port}/"  # Dovecot's process titles: <instance name>/<service>
    assert len(_processes(marker)) >= 4  # log, config, auth, imap-login, imap...
    assert "starting up for imap" in server.log_text()
    assert repr(server).startswith("<DovecotServer running") and server.master_password not in repr(server)
    workdir = server.workdir
    if os.geteuid() == 0:  # mail belongs to the unprivileged user the mail processes run as
        assert (workdir / "home" / "someone" / "Maildir").stat().st_uid != 0
    server.stop()
    assert _processes(marker) == [] and _processes(str(workdir)) == []
    assert not workdir.exists()
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), 2).close()
    server.stop()  # twice is fine


def test_a_given_workdir_is_kept(dovecot_factory: Callable[..., DovecotServer]) -> None:
    parent = Path(tempfile.mkdtemp(prefix="gm-dovecot-test-"))
    try:
        os.chmod(parent, 0o755)
        server = dovecot_factory(workdir=parent / "dovecot")
        server.add_user("kept", "kept-password")
        connect(server, "plain").login("kept", "kept-password")
        server.stop()
        assert (parent / "dovecot" / "dovecot.log").exists()
        assert "kept" in (parent / "dovecot" / "dovecot.log").read_text()
    finally:
        shutil.rmtree(parent)


def test_a_failed_start_raises_with_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("dovecot") is None and not os.path.exists("/usr/sbin/dovecot"):
        pytest.skip("Dovecot is not installed")
    original = DovecotServer._config_text
    monkeypatch.setattr(
        DovecotServer, "_config_text", lambda self: original(self) + "no_such_setting = 1\n"
    )
    before = set(Path(tempfile.gettempdir()).glob("gm-dovecot-*"))
    with pytest.raises(DovecotError, match="Dovecot did not start") as info:
        DovecotServer(master_password="secret-that-must-not-show")
    assert "no_such_setting" in str(info.value)
    assert "secret-that-must-not-show" not in str(info.value)
    assert set(Path(tempfile.gettempdir()).glob("gm-dovecot-*")) - before == set()


UNPRIVILEGED_SCRIPT = """
import imaplib, ssl
from groupmigrate.testing.dovecot import DovecotServer
with DovecotServer() as server:
    server.add_user("alice", "alice-password")
    imap = imaplib.IMAP4_SSL(server.host, server.tls_port,
                             ssl_context=ssl.create_default_context(cafile=server.ca_file))
    imap.login("alice*master", "master-secret-value")
    imap.select("Sent")
    imap.logout()
    print(server.commands("alice"))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become nobody")
def test_runs_as_an_unprivileged_user_too() -> None:
    """As root the tests cover the root set-up; here the same as an ordinary user (nobody)."""
    project = Path(__file__).resolve().parents[2]
    # the virtual environment's interpreter may live where nobody cannot go (/root/.pyenv);
    # the system's interpreter of the same version runs the same packages
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    python = str(system) if system.exists() else sys.executable
    path = os.pathsep.join([str(project), *site.getsitepackages()])
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", python, "-c", UNPRIVILEGED_SCRIPT],
        cwd="/tmp", env={**os.environ, "PYTHONPATH": path, "HOME": "/tmp"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if result.returncode != 0 and "DovecotServer" not in result.stderr:
        pytest.skip(f"nobody cannot run this Python: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['SELECT', 'LOGOUT']"
