"""IMAP: one generated mailbox copied from a real Dovecot to a real Dovecot by the Migrator.

    .venv/bin/python benchmarks/imap.py [--items 1000] [--workers 4]

Two Dovecot servers (``groupmigrate.testing.dovecot.DovecotServer``, Debian's dovecot-imapd)
run on loopback, each with its own configuration, users and mail; the migration logs in with
each server's master user (``alice*master``) over IMAPS with certificate verification, as a
hosting migration would. The source mailbox is filled with the mail of the ``mail-heavy`` mix
of ``throughput.py`` (the same generator: sizes 5 KB-20 MB, nine folders), appended over IMAP
before measuring.

Reported: items/s, MB/s and GB/h of the Migrator, the client's CPU per GB and peak RSS, and
the comparison with imapsync's published figures: about 1.3 GB/h per process on average and
about 13 MiB/s at best (imapsync's documentation and FAQ). imapsync itself is not packaged
in Debian 12, so it is not run side by side here.
Results: a table on stdout and benchmarks/results/imap.json.
"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MB, Meter, generate, log, print_table, report_counts, warm_up, write_json  # noqa: E402

import groupmigrate as gm  # noqa: E402
from groupmigrate.backends.imap import IMAPDestination, IMAPSource  # noqa: E402
from groupmigrate.testing.dovecot import DovecotServer  # noqa: E402

#: imapsync's published figures: average per process, best seen
IMAPSYNC_AVERAGE_GB_PER_H = 1.3
IMAPSYNC_BEST_MIB_PER_S = 13.0


def _seed(server: DovecotServer, user: str, password: str, items: int, seed: int, mix: str) -> tuple[int, int]:
    """Append the generated mail into ``user``'s mailbox; returns (messages, bytes)."""
    from imapclient import IMAPClient

    client = IMAPClient(server.host, server.tls_port, ssl=True, ssl_context=ssl.create_default_context(cafile=server.ca_file))
    client.login(user, password)
    made: set[str] = set()
    count = size = 0
    for spec in generate(seed, items, mix, f"{user}@example.org"):
        if spec["kind"] != "mail":
            continue
        path = ["INBOX" if spec["folder"][0] == "Inbox" else spec["folder"][0], *spec["folder"][1:]]
        parts = [p.replace("/", "-").replace(".", "-") for p in path]
        for depth in range(1, len(parts) + 1):  # parents first: a child made alone leaves no parent
            name = "/".join(parts[:depth])
            if name not in made and name != "INBOX":
                client.create_folder(name)
            made.add(name)
        flags = [b"\\Seen"] if spec["is_read"] else []
        client.append(name, spec["mime"], flags, spec["received"])
        count += 1
        size += len(spec["mime"])
    client.logout()
    return count, size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1000, help="generated items (mail only is kept; default 1000)")
    ap.add_argument("--mix", default="mail-heavy")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--name", default="imap")
    args = ap.parse_args(argv)

    warm_up()
    with DovecotServer(max_userip_connections=20) as src, DovecotServer(max_userip_connections=20) as dst, \
            tempfile.TemporaryDirectory(prefix="gm-bench-") as tmp:  # fmt: skip
        src.add_user("alice", "alice-password-value")
        dst.add_user("alice", "alice-password-value")
        log(f"seeding {args.items} items ({args.mix}, mail only) into the source Dovecot ...")
        t0 = time.perf_counter()
        messages, size = _seed(src, "alice", "alice-password-value", args.items, args.seed, args.mix)
        log(f"seeded {messages} messages, {size / MB:.0f} MB in {time.perf_counter() - t0:.0f} s")

        def endpoint(cls: Any, server: DovecotServer) -> Any:
            return cls(
                server.host, server.tls_port, gm.BasicAuth(server.master_user, server.master_password),
                profile="dovecot", tls="implicit", ca_file=server.ca_file, admin_login="master-separator",
                login_user="local-part", max_connections=max(4, args.workers),
            )

        seeded_writes = len(src.write_commands("alice"))  # the seeding's own APPENDs
        migrator = gm.Migrator(endpoint(IMAPSource, src), endpoint(IMAPDestination, dst),
                               state=str(Path(tmp) / "state.db"), workers=args.workers)  # fmt: skip
        with Meter() as meter:
            report = migrator.run([gm.AccountPair("alice@example.org", "alice@example.org")])
        counts = report_counts(report)
        writes = src.write_commands("alice")[seeded_writes:]
        m = meter.result
        gb = size / 1e9
        row: dict[str, Any] = {
            "messages": messages, "migrated": counts.get("migrated", 0), "bytes": size, "status": report.status, "outcomes": counts,
            "wall_s": m["wall_s"], "items_per_s": messages / m["wall_s"], "mb_per_s": size / MB / m["wall_s"],
            "gb_per_h": gb / (m["wall_s"] / 3600), "client_cpu_s": m["client_cpu_s"],
            "client_cpu_s_per_gb": m["client_cpu_s"] / gb if gb else None, "peak_rss_bytes": m["peak_rss_bytes"],
            "source_write_commands": writes,
        }  # fmt: skip
    print()
    print_table(
        ["messages", "MB", "wall s", "items/s", "MB/s", "GB/h", "client CPU s/GB", "peak RSS MiB", "status"],
        [[row["messages"], row["bytes"] / MB, row["wall_s"], row["items_per_s"], row["mb_per_s"], row["gb_per_h"],
          row["client_cpu_s_per_gb"], row["peak_rss_bytes"] / 2**20, row["status"]]],
        title=f"IMAP: Dovecot -> Dovecot, {args.workers} workers, IMAPS with master-user logins",
    )  # fmt: skip
    ratios = {
        "vs_imapsync_average": row["gb_per_h"] / IMAPSYNC_AVERAGE_GB_PER_H,
        "vs_imapsync_best": (row["mb_per_s"] * MB / 2**20) / IMAPSYNC_BEST_MIB_PER_S,
    }
    print(f"\n{ratios['vs_imapsync_average']:.1f} x imapsync's published average ({IMAPSYNC_AVERAGE_GB_PER_H} GB/h per process), "
          f"{ratios['vs_imapsync_best']:.1f} x its best ({IMAPSYNC_BEST_MIB_PER_S:.0f} MiB/s)")  # fmt: skip
    print(f"migrated {row['migrated']} of {messages}; source write commands during the migration: "
          f"{row['source_write_commands'] or 'none'}")
    path = write_json(args.name, {"parameters": vars(args), "result": row, "ratios": ratios})
    print(f"\nresults: {path}")
    return 0 if report.status == "completed" and not writes and row["migrated"] == messages else 1


if __name__ == "__main__":
    raise SystemExit(main())
