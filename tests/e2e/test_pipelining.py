"""Work overlaps on a server far away: a folder is copied while the next folders are listed,
and a folder's next batch is fetched while the current one is written."""

from __future__ import annotations

import groupmigrate as gm
from groupmigrate.testing import EWSTestServer
from groupmigrate.testing.conformance import sample_message

from .conftest import route_endpoints

LATENCY = 0.05  # seconds the test servers wait before answering each request


def test_one_worker_lists_copies_and_fetches_ahead_at_the_same_time(tmp_path) -> None:
    with EWSTestServer(profile="exchange-online") as src, EWSTestServer(profile="workmail") as dst:
        src.add_oauth_app("tenant", "app", "app-secret-value")
        src.add_mailbox("alice@contoso.com")
        dst.add_mailbox("admin@example.org", password="admin-password-value")
        dst.add_mailbox("alice@example.org")
        dst.grant_impersonation("admin@example.org", "alice@example.org")
        for n in range(230):  # three batches of at most 100 mails
            src.seed_message("alice@contoso.com", ("Inbox", "Big folder"), sample_message(n).mime)
        for n in range(6):
            src.seed_message("alice@contoso.com", (f"Small {n}",), sample_message(500 + n).mime)
        src.knobs.latency = dst.knobs.latency = LATENCY
        source, destination = route_endpoints(src, dst, "exchange-online", "workmail")
        migrator = gm.Migrator(source, destination, state=str(tmp_path / "state.db"), workers=1)
        result = migrator.run([gm.AccountPair("alice@contoso.com", "alice@example.org")])

        assert result.status == "completed", result
        assert len(dst.folder_items("alice@example.org", ("Inbox", "Big folder"))) == 230
        assert src.write_operations() == []
        # The servers log each request when answering it.
        syncs = [op.time for op in src.operations if op.operation == "SyncFolderItems"]
        creates = [op.time for op in dst.operations if op.operation == "CreateItem"]
        assert min(creates) < max(syncs), "copying waited until every folder was listed"
        big = [op for op in src.operations if op.operation == "GetItem"] + [
            op for op in dst.operations if op.operation == "CreateItem"
        ]
        order = [op.operation for op in sorted(big, key=lambda op: op.time)]
        # One worker, without fetching ahead: GetItem, CreateItem, GetItem, CreateItem ...
        assert any(a == b == "GetItem" for a, b in zip(order, order[1:])), order
