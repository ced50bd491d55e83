"""Analysis before a run: totals, and items over the destination's size limit named up front."""

from __future__ import annotations

import groupmigrate as gm
from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.items import Message


def test_analyze_counts_items_over_the_destination_limit_and_prints_a_totals_line(tmp_path):
    src, dst = MemoryServer(), MemoryServer()
    src.add_mailbox("a@contoso.com")
    dst.add_mailbox("a@example.org")
    for n, size in enumerate((1_000, 2_000, 30_000_000)):
        raw = f"From: x@y.org\r\nSubject: m{n}\r\nMessage-ID: <{n}@y.org>\r\n\r\n".encode() + b"x" * size
        src.add_item("a@contoso.com", ("Inbox",), Message.from_mime(raw))
    limited = gm.Capabilities(name="limited", max_item_size=25 * 1024 * 1024)
    m = gm.Migrator(MemorySource(src), MemoryDestination(dst, limited), state=str(tmp_path / "s.db"))
    analysis = m.analyze([gm.AccountPair("a@contoso.com", "a@example.org")])
    assert analysis.accounts[0].over_limit == {"mail": 1} and analysis.total_over_limit == 1
    lines = analysis.summary().splitlines()
    assert "over the destination's size limit (will be skipped): 1 mail" in lines[0]
    assert lines[-1].startswith("total: 1 account(s), 3 items, 28.6 MB, 1 over the destination's size limit")
    report = m.run([gm.AccountPair("a@contoso.com", "a@example.org")])
    assert report.totals()["skipped"] == 1 and report.totals()["migrated"] == 2  # as announced
