"""Fetch and create throughput over EWS: exchangelib as shipped vs the groupmigrate EWS backend.

Both run against the same EWS test server in one process, one connection each:

* fetch: the MIME and the flags of every message of a folder. exchangelib as shipped is used
  the way its documentation shows (``account.fetch(ids, only_fields=[...])``, chunks of 100);
  the backend fetches byte-bounded batches (at most 100 items and 16 MB per GetItem).
* create: the same messages written back into a new folder (``bulk_create`` vs
  ``create_items``).

Run: ``python benchmarks/ews_fetch_create.py`` (``--quick`` for a smaller run). exchangelib
as shipped runs first, because the backend's corrections to timestamp parsing are
process-wide once installed (they do not change throughput).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

from exchangelib import IMPERSONATION, Account, Configuration, Credentials, FaultTolerance
from exchangelib.items import Message as EWSMessage

from groupmigrate.auth import BasicAuth
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.items import Folder, ItemRef, Message
from groupmigrate.testing import EWSTestServer

ADDR = "bench@contoso.com"
ADMIN, ADMIN_PW = "svc@contoso.com", "bench-pw"
MB = 1024 * 1024


def mime(n: int, size: int) -> bytes:
    head = (
        f"From: Sender <sender@example.org>\r\nTo: {ADDR}\r\nSubject: Benchmark {n}\r\n"
        f"Message-ID: <bench-{n}-{size}@example.org>\r\nDate: Mon, 5 Jan 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n"
    return head + line * (size // len(line) + 1)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def batches(refs: Sequence[ItemRef], max_items: int = 100, max_bytes: int = 16 * MB) -> list[list[ItemRef]]:
    out: list[list[ItemRef]] = [[]]
    size = 0
    for ref in refs:
        if out[-1] and (len(out[-1]) >= max_items or size + ref.size > max_bytes):
            out.append([])
            size = 0
        out[-1].append(ref)
        size += ref.size
    return out


def stock_account(server: EWSTestServer) -> Account:
    config = Configuration(
        service_endpoint=server.url,
        credentials=Credentials(ADMIN, ADMIN_PW),
        auth_type="basic",
        retry_policy=FaultTolerance(max_wait=600),
    )
    return Account(ADDR, config=config, autodiscover=False, access_type=IMPERSONATION)


def run_case(server: EWSTestServer, count: int, size: int, label: str) -> list[dict[str, Any]]:
    path = (f"Bench {label}",)
    for i in range(count):
        server.seed_message(ADDR, path, mime(i, size), is_read=bool(i % 2))
    total = sum(len(mime(i, size)) for i in range(count))
    rows = []

    # exchangelib as shipped
    server.seed_folder(ADDR, (f"Stock copy {label}",))
    account = stock_account(server)
    folder = account.msg_folder_root / path[0]
    ids = list(folder.all().values_list("id", "changekey"))
    seconds, fetched = timed(lambda: list(account.fetch(ids, only_fields=["mime_content", "is_read", "categories", "importance", "datetime_received"])))
    assert len(fetched) == count and all(m.mime_content for m in fetched)
    rows.append({"case": label, "what": "fetch", "client": "exchangelib as shipped", "s": seconds, "items": count, "bytes": total})
    target = account.msg_folder_root / f"Stock copy {label}"
    copies = [EWSMessage(account=account, mime_content=m.mime_content, is_read=m.is_read) for m in fetched]

    def stock_create() -> list[Any]:
        return list(account.bulk_create(folder=target, items=copies, message_disposition="SaveOnly"))

    seconds, created = timed(stock_create)
    assert len(created) == count
    rows.append({"case": label, "what": "create", "client": "exchangelib as shipped", "s": seconds, "items": count, "bytes": total})
    account.protocol.close()

    # the groupmigrate backend
    source = EWSSource(url=server.url, auth=BasicAuth(ADMIN, ADMIN_PW), profile="exchange", max_connections=1)
    mailbox = source.open_mailbox(ADDR)
    src_folder = next(f for f in mailbox.folders() if f.path == path)
    refs = list(mailbox.list_items(src_folder))
    seconds, items = timed(lambda: [m for b in batches(refs) for m in mailbox.fetch(src_folder, b)])
    assert len(items) == count
    rows.append({"case": label, "what": "fetch", "client": "groupmigrate backend", "s": seconds, "items": count, "bytes": total})
    destination = EWSDestination(url=server.url, auth=BasicAuth(ADMIN, ADMIN_PW), profile="exchange", max_connections=1)
    dst = destination.open_mailbox(ADDR)
    dst_folder = dst.ensure_folder(Folder((f"Backend copy {label}",), kind="mail"))
    messages: list[Message] = [m for m in items if isinstance(m, Message)]

    def ours_create() -> list[Any]:
        results = []
        chunk: list[Message] = []
        for message in messages:
            if chunk and (len(chunk) >= 100 or sum(m.size for m in chunk) + message.size > 16 * MB):
                results += dst.create_items(dst_folder, chunk)
                chunk = []
            chunk.append(message)
        return results + (dst.create_items(dst_folder, chunk) if chunk else [])

    seconds, results = timed(ours_create)
    assert len(results) == count and all(r.ok for r in results)
    rows.append({"case": label, "what": "create", "client": "groupmigrate backend", "s": seconds, "items": count, "bytes": total})
    source.close()
    destination.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 x 100 KB and 5 x 1 MB instead of 500 x 100 KB and 50 x 1 MB")
    args = parser.parse_args()
    cases = [(50, 100 * 1024, "50 x 100 KB"), (5, MB, "5 x 1 MB")] if args.quick else [
        (500, 100 * 1024, "500 x 100 KB"),
        (50, MB, "50 x 1 MB"),
    ]
    rows: list[dict[str, Any]] = []
    with EWSTestServer(profile="exchange") as server:
        server.add_mailbox(ADDR)
        server.add_user(ADMIN, ADMIN_PW)
        server.grant_impersonation(ADMIN, ADDR)
        for count, size, label in cases:
            rows += run_case(server, count, size, label)
    print(f"{'case':<14} {'what':<7} {'client':<24} {'seconds':>8} {'items/s':>9} {'MB/s':>7}")
    for row in rows:
        print(
            f"{row['case']:<14} {row['what']:<7} {row['client']:<24} {row['s']:>8.2f} "
            f"{row['items'] / row['s']:>9.1f} {row['bytes'] / MB / row['s']:>7.2f}"
        )


if __name__ == "__main__":
    main()
