"""The backend conformance suite on the IMAP backend, against a real Dovecot.

The harness seeds and reads back mailboxes with plain imaplib as the user would (not through
the backend under test), sees the source's writes in Dovecot's rawlog, and loses a write's
answer with a proxy that drops the connection once the server answered the APPEND.

Pairs: the source opened as Dovecot's master user (``user*master``), the destination by SASL
PLAIN with an authorization id, through the proxy; and a destination stating a size limit
(``max_message_bytes``) with a server that announces it as APPENDLIMIT.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import itertools
import re
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from groupmigrate.auth import BasicAuth
from groupmigrate.backends.imap.destination import IMAPDestination
from groupmigrate.backends.imap.source import IMAPSource
from groupmigrate.backends.imap.testing import FaultyProxy
from groupmigrate.items import FlagStatus, Folder, Item, ItemType, Message
from groupmigrate.testing.conformance import BackendConformance
from groupmigrate.testing.conformance._util import folder_at
from groupmigrate.testing.conformance.samples import sample_message
from groupmigrate.testing.dovecot import DovecotServer

pytestmark = pytest.mark.timeout(60)

_users = itertools.count(1)
#: the size limit of the "limited" pair (small, so that the samples at and beyond it stay small)
LIMIT = 64 * 1024


class DovecotMail:
    """A user's mailbox on Dovecot, read and written with plain imaplib (the user's own login)."""

    def __init__(self, server: DovecotServer, user: str, password: str) -> None:
        self.server, self.user, self.password = server, user, password

    def connect(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4_SSL(self.server.host, self.server.tls_port,
                                 ssl_context=ssl.create_default_context(cafile=self.server.ca_file))  # fmt: skip
        imap.login(self.user, self.password)
        return imap

    @staticmethod
    def name(path: Sequence[str]) -> str:
        parts = ["INBOX" if i == 0 and p.lower() == "inbox" else p for i, p in enumerate(path)]
        return "/".join(parts)

    @staticmethod
    def quoted(name: str) -> str:
        return '"' + imaplib_utf7(name).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def create(self, path: Sequence[str]) -> None:
        imap = self.connect()
        try:
            for depth in range(1, len(path) + 1):
                imap.create(self.quoted(self.name(path[:depth])))
        finally:
            imap.logout()

    def append(self, path: Sequence[str], mime: bytes, *, flags: Sequence[str] = (), received: dt.datetime | None = None) -> int:
        """Store a message as a mail client would; returns its UID."""
        imap = self.connect()
        try:
            when = imaplib.Time2Internaldate(received) if received is not None else None
            typ, data = imap.append(self.quoted(self.name(path)), f"({' '.join(flags)})" if flags else None, when, mime)
            assert typ == "OK", data
            match = re.search(rb"APPENDUID \d+ (\d+)", data[0])
            assert match, data
            return int(match.group(1))
        finally:
            imap.logout()

    def seed(self, path: Sequence[str], messages: Sequence[Message]) -> list[int]:
        if self.name(path) != "INBOX":
            self.create(path)
        uids = []
        for message in messages:
            flags = ["\\Seen"] if message.is_read else []
            if message.flag is FlagStatus.FLAGGED:
                flags.append("\\Flagged")
            elif message.flag is FlagStatus.COMPLETE:
                flags.append("$Completed")
            for category in message.categories:
                assert re.fullmatch(r"[A-Za-z0-9$_-]+", category), f"the harness seeds plain keywords only: {category!r}"
                flags.append(category)
            uids.append(self.append(path, message.mime, flags=flags, received=message.received))
        return uids

    def read(self, path: Sequence[str]) -> list[tuple[int, dict[str, Any]]]:
        """``(uid, {"mime", "flags", "internaldate"})`` of every message in the folder."""
        imap = self.connect()
        try:
            typ, _ = imap.select(self.quoted(self.name(path)), readonly=True)
            if typ != "OK":
                return []
            typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
            out = []
            for entry in data:
                if not isinstance(entry, tuple):
                    continue
                head = entry[0].decode()
                uid = int(re.search(r"UID (\d+)", head).group(1))  # type: ignore[union-attr]
                flags = re.search(r"FLAGS \(([^)]*)\)", head).group(1).split()  # type: ignore[union-attr]
                flags = [f for f in flags if f != "\\Recent"]  # says which session saw it first, not the message
                when = re.search(r'INTERNALDATE "([^"]+)"', head).group(1)  # type: ignore[union-attr]
                stamp = imaplib.Internaldate2tuple(f'INTERNALDATE "{when}"'.encode())
                received = dt.datetime.fromtimestamp(__import__("time").mktime(stamp), dt.timezone.utc) if stamp else None
                out.append((uid, {"mime": entry[1], "flags": flags, "internaldate": received}))
            return sorted(out, key=lambda e: e[0])
        finally:
            imap.logout()

    def messages(self, path: Sequence[str]) -> list[Message]:
        """The folder's messages as a person sees them: flags as read state, flag and keywords."""
        out = []
        for uid, data in self.read(path):
            lowered = {f.lower() for f in data["flags"]}
            flag = FlagStatus.FLAGGED if "\\flagged" in lowered else FlagStatus.COMPLETE if "$completed" in lowered else FlagStatus.NONE
            categories = tuple(f for f in data["flags"] if not f.startswith("\\") and f.lower() != "$completed")
            out.append(Message.from_mime(data["mime"], is_read="\\seen" in lowered, flag=flag, categories=categories,
                                         received=data["internaldate"], source_id=str(uid)))  # fmt: skip
        return out

    def delete(self, path: Sequence[str], uid: int) -> None:
        imap = self.connect()
        try:
            imap.select(self.quoted(self.name(path)))
            imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
            imap.expunge()
        finally:
            imap.logout()


def imaplib_utf7(name: str) -> str:
    """A mailbox name in modified UTF-7 (RFC 3501 5.1.3), written out here for the harness."""
    out, pending = [], ""

    def flush() -> None:
        nonlocal pending
        if pending:
            import base64

            out.append("&" + base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=").replace("/", ",") + "-")
            pending = ""

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending += ch
    flush()
    return "".join(out)


def new_user(server: DovecotServer) -> DovecotMail:
    name = f"conf{next(_users)}@example.org"
    password = f"pw-{name}-secret"
    server.add_user(name, password)
    return DovecotMail(server, name, password)


class IMAPHarness:
    """A fresh source and destination user on one Dovecot; the destination reached through a proxy."""

    def __init__(self, server: DovecotServer, proxy: FaultyProxy, *, limited: bool = False) -> None:
        self.server = server
        self.proxy = proxy
        self.src, self.dst = new_user(server), new_user(server)
        self.source_address, self.destination_address = self.src.user, self.dst.user
        admin = BasicAuth(server.master_user, server.master_password)
        self.source_endpoint = IMAPSource(
            server.host, server.port, auth=admin, profile="dovecot", tls="starttls", ca_file=server.ca_file,
            admin_login="master-separator",
        )  # fmt: skip
        self.destination_endpoint = IMAPDestination(
            proxy.host, proxy.port, auth=admin, profile="dovecot", tls="none", admin_login="plain-authzid",
            max_message_bytes=LIMIT if limited else None, read_timeout=10,
        )  # fmt: skip

    def _mail(self, address: str) -> DovecotMail:
        return self.src if address == self.src.user else self.dst

    def seed(self, address: str, folder_path: tuple[str, ...], items: Sequence[Item], kind: ItemType | None = None) -> None:
        assert all(isinstance(i, Message) for i in items), "Dovecot holds mail only"
        mailbox = self._mail(address)
        if not items:
            mailbox.create(folder_path)
            return
        mailbox.seed(folder_path, [i for i in items if isinstance(i, Message)])

    def read_back(self, address: str, folder: Folder) -> list[Item]:
        return list(self._mail(address).messages(folder.path))

    def lose_next_write(self) -> None:
        self.proxy.fail_next_append("lose_answer")

    def source_writes(self) -> list[str]:
        return self.server.write_commands(self.src.user)

    def delete(self, address: str, folder_path: tuple[str, ...], item_id: str) -> None:
        self._mail(address).delete(folder_path, int(item_id.rsplit(".", 1)[1]))


def _appendlimit(line: bytes) -> bytes:
    """Announce the limit as APPENDLIMIT (RFC 7889); Dovecot 2.3 does not."""
    return line.replace(b" IMAP4rev1 ", b" IMAP4rev1 APPENDLIMIT=%d " % LIMIT, 1)


class TestIMAPConformance(BackendConformance):
    @pytest.fixture(params=["dovecot", "dovecot-appendlimit"])
    def harness(self, request: pytest.FixtureRequest, dovecot: DovecotServer) -> Iterator[IMAPHarness]:
        limited = request.param == "dovecot-appendlimit"
        with FaultyProxy(dovecot.host, dovecot.port, rewrite=_appendlimit if limited else None) as proxy:
            harness = IMAPHarness(dovecot, proxy, limited=limited)
            yield harness
            harness.source_endpoint.open_mailbox(harness.source_address).close()

    def test_seeded_folder_is_what_the_source_lists(self, harness: IMAPHarness) -> None:
        """The harness's own check: a seeded folder is found where the suite looks for it."""
        harness.seed(harness.source_address, ("Harness", "Check"), [sample_message(5)])
        mailbox = harness.source_endpoint.open_mailbox(harness.source_address)
        assert [m.message_id for m in mailbox.fetch(folder_at(mailbox, ("Harness", "Check")),
                list(mailbox.list_items(folder_at(mailbox, ("Harness", "Check")))))] == [sample_message(5).message_id]  # fmt: skip

