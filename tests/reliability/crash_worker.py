"""A migration in its own process, for the crash tests: it starts nothing itself.

It connects to the two EWS test servers the test started (URLs on the command line), runs
one migration with the given state file and prints one line per event the test waits for::

    STARTED <run id>
    MIGRATED <items so far>
    ACCOUNT <source address> <status> <error, if any>
    DONE <status> <totals as JSON>

The test kills it with SIGKILL at chosen points and starts it again with the same state file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reliability.support import ADMIN, ADMIN_PASSWORD, CLIENT_ID, CLIENT_SECRET, TENANT  # noqa: E402

from groupmigrate import events as ev  # noqa: E402
from groupmigrate.accounts import AccountPair  # noqa: E402
from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials  # noqa: E402
from groupmigrate.backends.ews import EWSDestination, EWSSource  # noqa: E402
from groupmigrate.core.migrator import Migrator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-url", required=True)
    parser.add_argument("--token-url", required=True)
    parser.add_argument("--destination-url", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--pair", action="append", required=True, help="source=destination")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", default="full", choices=("full", "trial", "delta"))
    parser.add_argument("--destination-profile", default="workmail")
    args = parser.parse_args()

    source = EWSSource(
        url=args.source_url, profile="exchange-online", impersonation=True,
        auth=OAuth2ClientCredentials(TENANT, CLIENT_ID, CLIENT_SECRET, token_url=args.token_url),
    )  # fmt: skip
    destination = EWSDestination(
        url=args.destination_url, profile=args.destination_profile, impersonation=True, auth=BasicAuth(ADMIN, ADMIN_PASSWORD)
    )
    pairs = [AccountPair(*p.split("=", 1)) for p in args.pair]
    migrated = 0

    def on_event(event: ev.Event) -> None:
        nonlocal migrated
        if isinstance(event, ev.RunStarted):
            print(f"STARTED {event.run_id}", flush=True)
        elif isinstance(event, ev.ItemMigrated):
            migrated += 1
            print(f"MIGRATED {migrated}", flush=True)

    report = Migrator(source, destination, state=args.state, workers=args.workers, on_event=on_event).run(pairs, mode=args.mode)
    for account in report.accounts:
        print(f"ACCOUNT {account.pair.source} {account.status} {account.error or ''}".rstrip(), flush=True)
    print(f"DONE {report.status} {json.dumps(report.totals())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
