"""A real Dovecot IMAP server on loopback, for testing IMAP backends against the real thing.

:class:`DovecotServer` writes a Dovecot configuration into a temporary directory (its
*workdir*) and starts ``dovecot -F -c <config>`` from it: its own users, mail, certificate,
runtime sockets, state and log, nothing shared with a system-wide Dovecot (whose ports and
``/run/dovecot`` it never touches). It needs the ``dovecot`` binary (Debian:
``apt-get install dovecot-imapd``; ``bash scripts/test.sh`` installs it when run as root).

.. code-block:: python

    from groupmigrate.testing.dovecot import DovecotServer

    with DovecotServer() as server:
        server.add_user("alice", "alice-password", quota_bytes=10_000_000)
        imap = imaplib.IMAP4_SSL(server.host, server.tls_port,
                                 ssl_context=ssl.create_default_context(cafile=server.ca_file))
        imap.login("alice", "alice-password")
        ...
        assert server.write_commands("alice") == []

What the server offers:

* ``host`` is ``127.0.0.1``; ``port`` is plain IMAP with STARTTLS, ``tls_port`` implicit TLS
  (IMAPS). Both are free ephemeral ports picked at start. The certificate is issued for
  ``127.0.0.1`` and ``localhost`` by a throw-away CA whose certificate is ``ca_file``.
  Plain-text authentication is allowed on the unencrypted port too (``LOGIN`` and
  ``AUTHENTICATE PLAIN``, with ``SASL-IR``).
* Users come from passwd-files (one per user, salted SHA-256 hashes) and can log in as soon
  as :meth:`DovecotServer.add_user` returns. Each has a home ``<workdir>/home/<name>`` with
  mail in Maildir (``mail_location = maildir:~/Maildir``). A wrong password is answered
  ``NO [AUTHENTICATIONFAILED] Authentication failed.`` within half a second (Dovecot's
  growing penalty for repeated failures is switched off).
* A master user: ``LOGIN alice*master <master password>`` or ``AUTHENTICATE PLAIN`` with
  authorization id ``alice`` and authentication id ``master`` opens alice's mailbox as alice.
* One namespace (the personal one, with INBOX), hierarchy separator ``"/"``, with the
  SPECIAL-USE folders ``Drafts`` (``\\Drafts``), ``Sent`` (``\\Sent``), ``Trash``
  (``\\Trash``), ``Junk`` (``\\Junk``) and ``Archive`` (``\\Archive``) created and subscribed
  on first login. Folder names cannot contain ``"."`` (Maildir++ keeps it as its own
  separator on disk; Dovecot answers ``NO`` to such a CREATE).
* Capabilities after login include CONDSTORE, QRESYNC, UIDPLUS, MULTIAPPEND, SPECIAL-USE,
  LITERAL+, ENABLE, IDLE, MOVE, ESEARCH, BINARY, METADATA and QUOTA. Dovecot 2.3 has no
  APPENDLIMIT.
* Quota per user (``quota_bytes``, Dovecot's ``count`` backend; GETQUOTAROOT tells it in
  KiB, rounded up): an APPEND that would exceed it is refused with
  ``NO [OVERQUOTA] Quota exceeded (mailbox for user is full) (0.001 + 0.000 secs).`` (like
  every tagged answer of a logged-in session, it ends with Dovecot's timing). With a
  synchronizing literal Dovecot refuses before asking for the message.
* ``mail_max_userip_connections`` (constructor argument ``max_userip_connections``): a login
  beyond the limit is refused with ``NO [LIMIT] Maximum number of connections from user+IP
  exceeded (mail_max_userip_connections=N)`` and the connection is closed. Sessions opened
  through the master user count for the user they open.
* :meth:`DovecotServer.commands` lists the commands every session of a user sent after it
  logged in (Dovecot's ``rawlog_dir``), including sessions opened through the master user;
  :meth:`DovecotServer.write_commands` those among them that change a mailbox or select one
  read-write. Commands sent before authentication (CAPABILITY, STARTTLS, ID, LOGIN,
  AUTHENTICATE) belong to no user yet and are not listed.

As root the mail processes run as ``nobody``/``nogroup`` (so the workdir and its parents
must be searchable by ``nobody``, as a workdir made under ``/tmp`` is) and Dovecot's own
processes as the package's ``dovecot`` and ``dovenull`` users; as any other user, everything
runs as that user, without chroot.

:meth:`DovecotServer.stop` ends every process of the server and removes the workdir (mail,
and rawlogs, which hold what clients sent, passwords included), unless the caller gave the
workdir. A watchdog process does the same if the test process dies without stopping it.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import datetime
import grp
import hashlib
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groupmigrate.testing.watchdog import start_watchdog, stop_watchdog

__all__ = [
    "DovecotError",
    "DovecotNotInstalled",
    "DovecotServer",
    "WRITE_COMMANDS",
    "find_dovecot",
    "parse_commands",
]

#: Commands that change a mailbox (its messages, flags, name, existence, subscription or
#: metadata) or select it read-write (after SELECT, a FETCH of a body sets ``\\Seen`` and
#: CLOSE expunges).
WRITE_COMMANDS: frozenset[str] = frozenset(
    {
        "STORE", "UID STORE",
        "APPEND",
        "COPY", "UID COPY",
        "MOVE", "UID MOVE",
        "EXPUNGE", "UID EXPUNGE",
        "CREATE", "DELETE", "RENAME",
        "SELECT",
        "SETMETADATA",
        "SUBSCRIBE", "UNSUBSCRIBE",
        # not offered by this server, listed so that an attempt still counts as a write
        "SETACL", "DELETEACL", "SETQUOTA", "REPLACE", "UID REPLACE",
    }
)  # fmt: skip

HOST = "127.0.0.1"
_SEPARATOR = "/"
_SPECIAL_USE = (
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
_STOP_GRACE = 0.25
_PORT_ATTEMPTS = 5
# the longest socket Dovecot creates in base_dir is about 25 characters; sun_path holds 107
_MAX_BASE_DIR = 70
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@=-]{0,99}")


class DovecotNotInstalled(RuntimeError):
    """The ``dovecot`` binary (Debian package ``dovecot-imapd``) is not installed."""


class DovecotError(RuntimeError):
    """Dovecot did not start, or did not accept a configuration; the message has the log's tail."""


def find_dovecot() -> str | None:
    """The path of the ``dovecot`` binary (on ``PATH``, else ``/usr/sbin/dovecot``), or ``None``."""
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


# -- certificate ----------------------------------------------------------------------------------
def _write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "groupmigrate Dovecot test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip

    ca_file, cert_file = directory / "ca.pem", directory / "cert.pem"
    key_file = directory / "key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def _ssha256(password: str) -> str:
    """Dovecot's ``{SSHA256}`` scheme: base64(sha256(password + salt) + salt)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha256(password.encode("utf-8") + salt).digest()
    return "{SSHA256}" + base64.b64encode(digest + salt).decode("ascii")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# -- reading what clients sent (rawlog) -----------------------------------------------------------
_LITERAL_RE = re.compile(rb"~?\{(\d+)(\+|-)?\}\r?$")
# Dovecot 2.3 starts every line of a rawlog file with "<seconds>.<microseconds> "
_STAMP_RE = re.compile(rb"(\d{9,}\.\d{1,9}) ")


def _unstamp(raw: bytes) -> tuple[bytes, list[tuple[int, float]]]:
    """A rawlog file's stream without its line timestamps, and ``(offset, time)`` of each line.

    Without timestamps (other Dovecot versions) the stream is the file, at time 0.
    """
    lines = raw.split(b"\n")
    if not _STAMP_RE.match(lines[0]):
        return raw, [(0, 0.0)]
    parts: list[bytes] = []
    stamps: list[tuple[int, float]] = []
    offset = 0
    for line in lines:
        match = _STAMP_RE.match(line)
        if match:
            stamps.append((offset, float(match.group(1))))
            line = line[match.end() :]
        parts.append(line)
        offset += len(line) + 1
    return b"\n".join(parts), stamps


def _server_events(out: bytes) -> list[tuple[str, bytes]]:
    """The continuation requests and tagged responses in a server stream, in order.

    Each is ``("cont", b"")`` or ``("tagged", tag)``. The literals the server sends (message
    bodies) are skipped, so that their content is never taken for a response.
    """
    events: list[tuple[str, bytes]] = []
    pos = 0
    start_of_response = True
    while pos < len(out):
        end = out.find(b"\n", pos)
        if end < 0:
            break
        line = out[pos:end].rstrip(b"\r")
        if start_of_response:
            if line.startswith(b"+"):
                events.append(("cont", b""))
            elif line and not line.startswith(b"*"):
                events.append(("tagged", line.split(b" ", 1)[0]))
        pos = end + 1
        match = _LITERAL_RE.search(line)
        if match:
            pos += int(match.group(1))
            start_of_response = False  # the response goes on after the literal
        else:
            start_of_response = True
    return events


def _parse_stream(data: bytes, out: bytes | None) -> list[tuple[int, str]]:
    """``(offset, name)`` of every command in a client stream; see :func:`parse_commands`."""
    events = _server_events(out) if out is not None else None
    next_event = 0  # events before it are used up

    def granted(tag: bytes) -> bool:
        """Whether the server's next continuation request comes before its answer to ``tag``."""
        nonlocal next_event
        if events is None:
            return True
        for i in range(next_event, len(events)):
            kind, event_tag = events[i]
            if kind == "cont":
                next_event = i + 1
                return True
            if event_tag == tag:
                next_event = i + 1
                return False
        return False

    commands: list[tuple[int, str]] = []
    pos = 0
    while pos < len(data):
        start = pos
        end = data.find(b"\n", pos)
        if end < 0:
            break  # a command still being sent
        line = data[pos:end].rstrip(b"\r")
        pos = end + 1
        parts = line.split(None, 3)
        tag = parts[0] if parts else b""
        if len(parts) >= 2:
            name = parts[1].upper()
            if name == b"UID" and len(parts) >= 3:
                name = b"UID " + parts[2].upper()
            commands.append((start, name.decode("ascii", "replace")))
            if name == b"IDLE":
                granted(tag)  # "+ idling"; the client's DONE that ends it is no command
        # a literal ends the line: skip it and read on to the end of the command
        while True:
            match = _LITERAL_RE.search(line)
            if not match:
                break
            if match.group(2) is None and not granted(tag):
                break  # refused at once: the client sent neither the literal nor the rest
            pos += int(match.group(1))
            end = data.find(b"\n", pos)
            if end < 0:
                pos = len(data)
                break
            line = data[pos:end].rstrip(b"\r")
            pos = end + 1
    return commands


def parse_commands(data: bytes, out: bytes | None = None) -> list[str]:
    """The command names in what an IMAP client sent (a rawlog ``.in`` file), in order.

    A name is upper-cased, with the ``UID`` prefix kept (``"UID FETCH"``). Rawlog line
    timestamps are removed and literals skipped. A synchronizing literal (``{N}``) counts as
    sent only where the server's side ``out`` (the ``.out`` file) granted it a continuation
    request before answering the command, since a client sends neither the literal nor the
    rest of the command when the server refuses it at once (Dovecot does so for an APPEND
    over quota or to a missing folder). Without ``out``, every literal counts as sent.
    ``DONE``, which ends an IDLE, is not a command.
    """
    stream, _ = _unstamp(data)
    server = _unstamp(out)[0] if out is not None else None
    return [name for _, name in _parse_stream(stream, server)]


def _session_commands(data: bytes, out: bytes | None) -> list[tuple[float, str]]:
    """``(time, name)`` of the commands in a rawlog ``.in`` file."""
    stream, stamps = _unstamp(data)
    server = _unstamp(out)[0] if out is not None else None
    offsets = [offset for offset, _ in stamps]
    timed: list[tuple[float, str]] = []
    for offset, name in _parse_stream(stream, server):
        i = bisect.bisect_right(offsets, offset) - 1
        timed.append((stamps[i][1] if i >= 0 else 0.0, name))
    return timed


# -- the server -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ids:
    """Who runs what: mail processes (uid/gid), Dovecot's internal and login users."""

    mail_uid: int
    mail_gid: int
    internal_user: str
    internal_group: str
    login_user: str
    internal_uid: int
    privileged: bool


def _ids() -> _Ids:
    if os.geteuid() != 0:
        uid, gid = os.geteuid(), os.getegid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            raise DovecotError(
                f"uid {uid} has no entry in the user database; Dovecot needs a user name to run as"
            ) from None
        try:
            group = grp.getgrgid(gid).gr_name
        except KeyError:
            raise DovecotError(
                f"gid {gid} has no entry in the group database; Dovecot needs a group name"
            ) from None
        return _Ids(uid, gid, name, group, name, uid, privileged=False)

    def user(name: str) -> pwd.struct_passwd | None:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            return None

    nobody = user("nobody")
    if nobody is None:
        raise DovecotError("running as root needs the user 'nobody' for the mail processes")
    try:
        mail_gid = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        mail_gid = nobody.pw_gid
    internal = user("dovecot") or nobody
    login = user("dovenull") or nobody
    try:
        internal_group = grp.getgrgid(internal.pw_gid).gr_name
    except KeyError:
        internal_group = "nogroup"
    return _Ids(
        mail_uid=nobody.pw_uid,
        mail_gid=mail_gid,
        internal_user=internal.pw_name,
        internal_group=internal_group,
        login_user=login.pw_name,
        internal_uid=internal.pw_uid,
        privileged=True,
    )


def _reachable(path: Path, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` may traverse every directory down to ``path`` (by mode bits)."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            return False
    return True


@dataclass
class _User:
    name: str
    hashed: str
    quota_bytes: int | None


def _start_watchdog(
    pid: int, config: Path, workdir: Path | None, base_dir: Path | None
) -> subprocess.Popen[bytes]:
    """Stops this Dovecot (known by its configuration file) and removes its directories if the
    test process dies first (see :mod:`groupmigrate.testing.watchdog`)."""
    return start_watchdog(pid, str(config), [workdir, base_dir], first_signal="SIGTERM", grace=0.25)


def _shutdown(
    proc: subprocess.Popen[bytes],
    watchdog: subprocess.Popen[bytes] | None,
    workdir: Path | None,
    base_dir: Path | None,
) -> None:
    """Stop a Dovecot master and every process of its process group; remove its directories.

    The master gets SIGTERM and stops its mail processes (``shutdown_clients``); after a
    short grace the whole group gets SIGKILL, since Dovecot's own shutdown takes one to six
    seconds (it waits for idle login processes). The master is reaped last: until then its
    pid, the group's id, cannot be reused by another process.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        while time.monotonic() < deadline:
            try:
                if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    break  # exited, not reaped
            except ChildProcessError:
                break
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL above
            pass
    if base_dir is not None:
        shutil.rmtree(base_dir, ignore_errors=True)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    stop_watchdog(watchdog, _STOP_TIMEOUT)


class DovecotServer:
    """A real Dovecot on 127.0.0.1 with its own config, users, mail and logs in a temp dir.

    The server starts in the constructor (or raises :class:`DovecotNotInstalled` or
    :class:`DovecotError` with the tail of Dovecot's log) and stops with :meth:`stop` or at
    the end of a ``with`` block. See the module's documentation for what it offers.
    """

    host: str
    port: int
    tls_port: int
    ca_file: str
    master_user: str
    master_password: str
    workdir: Path

    def __init__(
        self,
        *,
        master_user: str = "master",
        master_password: str = "master-secret-value",
        max_userip_connections: int = 10,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        dovecot = find_dovecot()
        if dovecot is None:
            raise DovecotNotInstalled(
                "Dovecot is not installed (Debian: apt-get install dovecot-imapd)"
            )
        if not _NAME_RE.fullmatch(master_user) or master_user != master_user.lower():
            raise ValueError(f"unusable master user name {master_user!r} (lower case, no spaces)")
        if max_userip_connections < 1:
            raise ValueError("max_userip_connections must be at least 1")
        self._dovecot = dovecot
        self.host = HOST
        self.master_user = master_user
        self.master_password = master_password
        self.max_userip_connections = max_userip_connections
        self._ids = _ids()
        self._lock = threading.Lock()
        self._users: dict[str, _User] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._owns_workdir = workdir is None
        self._base_dir_outside: Path | None = None

        if workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="gm-dovecot-"))
        else:
            self.workdir = Path(workdir).resolve()
            self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare()
            self._start()
        except BaseException:
            self._cleanup_after_failure()
            raise

    def __repr__(self) -> str:
        state = "running" if self._proc is not None and self._proc.poll() is None else "stopped"
        return (
            f"<DovecotServer {state} imap://{self.host}:{getattr(self, 'port', '?')} "
            f"imaps://{self.host}:{getattr(self, 'tls_port', '?')} workdir={str(self.workdir)!r}>"
        )

    # -- set-up -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        ids = self._ids
        w = self.workdir
        if ids.privileged:
            # the mail processes (nobody) and Dovecot's own (dovecot, dovenull) must get in
            if self._owns_workdir:
                os.chmod(w, 0o711)
            if not _reachable(w, ids.mail_uid, ids.mail_gid):
                raise DovecotError(
                    f"the workdir {str(w)!r} (or a parent) is not searchable by uid "
                    f"{ids.mail_uid}, which Dovecot's mail processes run as; give a workdir "
                    "under /tmp or leave it to DovecotServer"
                )
        for sub in ("home", "rawlog", "state", "etc"):
            (w / sub).mkdir(exist_ok=True)
        base_dir = w / "run"
        if len(str(base_dir)) > _MAX_BASE_DIR:
            # unix socket paths are short; keep Dovecot's sockets in a short directory of their own
            self._base_dir_outside = Path(tempfile.mkdtemp(prefix="gm-dovecot-run-"))
            base_dir = self._base_dir_outside
        base_dir.mkdir(exist_ok=True)
        self._base_dir = base_dir
        if ids.privileged:
            for sub in ("home", "rawlog"):
                os.chmod(w / sub, 0o711)
            os.chmod(w / "etc", 0o711)
            os.chmod(base_dir, 0o755)
        self._config = w / "etc" / "dovecot.conf"
        # one passwd-file per user: Dovecot looks at a passwd-file again at most once a second,
        # so a user added to a shared one could not log in at once; a new file is read at once
        self._passwd_dir = w / "etc" / "users"
        self._passwd_dir.mkdir(exist_ok=True)
        if ids.privileged:
            os.chown(self._passwd_dir, ids.internal_uid, -1)
            os.chmod(self._passwd_dir, 0o700)
        self._master_passwd = w / "etc" / "master-users"
        self._log = w / "dovecot.log"
        self._stderr = w / "dovecot.stderr"
        ca_file, self._cert, self._key = _write_certificates(w / "etc")
        self.ca_file = str(ca_file)
        self._write_passwd_file(
            self._master_passwd, [f"{self.master_user}:{_ssha256(self.master_password)}\n"]
        )

    def _write_passwd_file(self, path: Path, lines: list[str]) -> None:
        """Replace a passwd-file atomically, readable by Dovecot's auth process only."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
            fh.writelines(lines)
        if self._ids.privileged:
            os.chown(tmp, self._ids.internal_uid, -1)
        os.replace(tmp, path)

    def _write_user(self, user: _User) -> None:
        ids = self._ids
        home = self.workdir / "home" / user.name
        extra = ""
        if user.quota_bytes is not None:
            extra = f"userdb_quota_rule=*:bytes={user.quota_bytes}"
        line = f"{user.name}:{user.hashed}:{ids.mail_uid}:{ids.mail_gid}::{home}::{extra}\n"
        self._write_passwd_file(self._passwd_dir / user.name, [line])

    def _config_text(self) -> str:
        ids = self._ids
        w = self.workdir
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    special_use = {use}\n    auto = subscribe\n  }}"
            for name, use in _SPECIAL_USE
        )
        unprivileged = ""
        if not ids.privileged:
            unprivileged = (
                "service anvil {\n  chroot =\n}\n"
                "service imap-login {\n  chroot =\n}\n"
            )
        return f"""\
# generated by groupmigrate.testing.dovecot for a test server; not for production
protocols = imap
listen = {HOST}
base_dir = {self._base_dir}
state_dir = {w / "state"}
instance_name = gm-dovecot-{self.port}
log_path = {self._log}
info_log_path = {self._log}
debug_log_path = {self._log}
auth_verbose = yes
shutdown_clients = yes
import_environment = TZ

default_internal_user = {ids.internal_user}
default_internal_group = {ids.internal_group}
default_login_user = {ids.login_user}
first_valid_uid = {ids.mail_uid}
last_valid_uid = {ids.mail_uid}
first_valid_gid = {ids.mail_gid}
last_valid_gid = {ids.mail_gid}
mail_uid = {ids.mail_uid}
mail_gid = {ids.mail_gid}

ssl = yes
ssl_cert = <{self._cert}
ssl_key = <{self._key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_master_user_separator = *

passdb {{
  driver = passwd-file
  args = scheme=SSHA256 {self._master_passwd}
  master = yes
  pass = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=SSHA256 {self._passwd_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = {self._passwd_dir}/%u
}}

mail_location = maildir:~/Maildir
mail_fsync = never
mail_plugins = $mail_plugins quota
imap_metadata = yes
mail_attribute_dict = file:%h/dovecot-attributes

namespace inbox {{
  inbox = yes
  separator = {_SEPARATOR}
{mailboxes}
}}

plugin {{
  quota = count:User quota
  quota_vsizes = yes
}}

protocol imap {{
  mail_plugins = $mail_plugins imap_quota
  mail_max_userip_connections = {self.max_userip_connections}
  rawlog_dir = {w / "rawlog"}/%u
}}

# no auth penalty (a delay growing to 15 s after each failed login from the same IP)
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.tls_port}
    ssl = yes
  }}
}}
{unprivileged}"""

    def _start(self) -> None:
        last_error = ""
        for _attempt in range(_PORT_ATTEMPTS):
            self.port, self.tls_port = _free_port(), _free_port()
            if self.port == self.tls_port:
                continue
            self._config.write_text(self._config_text(), encoding="utf-8")
            if self._ids.privileged:
                os.chmod(self._config, 0o644)
            log_start = self._log.stat().st_size if self._log.exists() else 0
            with open(self._stderr, "ab") as err:
                self._proc = subprocess.Popen(
                    [self._dovecot, "-F", "-c", str(self._config)],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    start_new_session=True,
                    cwd=self.workdir,
                )
            owned = self.workdir if self._owns_workdir else None
            watchdog = _start_watchdog(
                self._proc.pid, self._config, owned, self._base_dir_outside
            )
            self._finalizer = weakref.finalize(
                self, _shutdown, self._proc, watchdog, owned, self._base_dir_outside
            )
            error = self._wait_ready()
            if error is None:
                return
            self._finalizer.detach()
            _shutdown(self._proc, watchdog, None, None)
            self._proc = None
            last_error = error
            log = self._read_log(log_start)
            if "Address already in use" not in log + self._read_stderr():
                break
        raise DovecotError(f"Dovecot did not start: {last_error}\n{self._tail()}")

    def _wait_ready(self) -> str | None:
        """``None`` once both ports greet, else why not."""
        assert self._proc is not None
        deadline = time.monotonic() + _START_TIMEOUT
        pending = [self.port, self.tls_port]
        while pending:
            code = self._proc.poll()
            if code is not None:
                return f"dovecot exited with code {code}"
            if time.monotonic() > deadline:
                return f"no answer on port {pending[0]} within {_START_TIMEOUT:.0f} s"
            try:
                with socket.create_connection((HOST, pending[0]), timeout=1.0) as s:
                    if pending[0] == self.port:
                        greeting = s.recv(200)
                        if not greeting.startswith(b"* OK"):
                            time.sleep(0.05)
                            continue
                pending.pop(0)
            except OSError:
                time.sleep(0.05)
        return None

    def _cleanup_after_failure(self) -> None:
        if self._finalizer is not None and self._finalizer.alive:
            self._finalizer()
        if self._base_dir_outside is not None:
            shutil.rmtree(self._base_dir_outside, ignore_errors=True)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- users --------------------------------------------------------------------------------
    def add_user(self, name: str, password: str, *, quota_bytes: int | None = None) -> None:
        """Create a user with an empty mailbox, who can log in at once.

        ``quota_bytes`` limits the size of the user's mail (``None``: no limit).

        Names are letters, digits and ``._+@=-`` (an address is fine), and case-insensitive,
        as Dovecot lowers the case of a login name: ``Alice`` is ``alice``.
        """
        name = name.lower()
        if not _NAME_RE.fullmatch(name) or name == self.master_user.lower():
            raise ValueError(f"unusable user name {name!r}")
        if not password or "\n" in password or "\r" in password:
            raise ValueError("the password must be a non-empty single line")
        if quota_bytes is not None and quota_bytes <= 0:
            raise ValueError("quota_bytes must be positive (None: no quota)")
        with self._lock:
            if name in self._users:
                raise ValueError(f"user {name!r} exists already")
            home = self.workdir / "home" / name
            rawlog = self.workdir / "rawlog" / name
            for directory in (home, rawlog):
                directory.mkdir(mode=0o700)
                if self._ids.privileged:
                    os.chown(directory, self._ids.mail_uid, self._ids.mail_gid)
            user = _User(name, _ssha256(password), quota_bytes)
            self._write_user(user)
            self._users[name] = user

    @property
    def users(self) -> list[str]:
        """The names of the users added so far."""
        with self._lock:
            return list(self._users)

    # -- what clients did ---------------------------------------------------------------------
    def commands(self, user: str) -> list[str]:
        """Every command the user's sessions sent after logging in, in the order they arrived.

        Names are upper-cased with the ``UID`` prefix kept, e.g. ``["LIST", "EXAMINE",
        "UID FETCH", "LOGOUT"]``: no arguments, so no passwords and no message content.
        Sessions opened through the master user count as the user's own. What a session sent
        before logging in (CAPABILITY, STARTTLS, ID, LOGIN, AUTHENTICATE) is not listed.
        """
        user = user.lower()
        directory = self.workdir / "rawlog" / user
        if not _NAME_RE.fullmatch(user) or not directory.is_dir():
            return []
        timed: list[tuple[float, int, int, str]] = []
        # one pair of files per session: <yyyymmdd-hhmmss>.<pid>.<n>.in and .out
        for session, path in enumerate(sorted(directory.glob("*.in"))):
            try:
                data = path.read_bytes()
                out_path = path.with_suffix(".out")
                out = out_path.read_bytes() if out_path.exists() else None
            except OSError:
                continue
            for position, (when, name) in enumerate(_session_commands(data, out)):
                timed.append((when, session, position, name))
        timed.sort()
        return [name for *_, name in timed]

    def write_commands(self, user: str) -> list[str]:
        """Those of :meth:`commands` that change a mailbox or select one read-write.

        That is, those in :data:`WRITE_COMMANDS`; a refused write (an APPEND over quota) is
        listed too: it was sent.
        """
        return [name for name in self.commands(user) if name in WRITE_COMMANDS]

    # -- logs ---------------------------------------------------------------------------------
    def log_text(self) -> str:
        """Dovecot's own log so far (errors, logins, disconnects)."""
        return self._read_log(0)

    def _read_log(self, offset: int) -> str:
        try:
            with open(self._log, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _read_stderr(self) -> str:
        try:
            return self._stderr.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def _tail(self, lines: int = 30) -> str:
        text = (self._read_stderr() + self.log_text()).strip().splitlines()
        return "\n".join(text[-lines:])

    # -- lifetime -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether Dovecot's master process is running."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop every Dovecot process of this server; remove the workdir unless it was given."""
        if self._finalizer is not None and self._finalizer.alive:
            self._finalizer()  # _shutdown(): Dovecot, the watchdog, the owned directories
        elif self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
