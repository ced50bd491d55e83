"""Run an EWS test server from the command line.

    python -m groupmigrate.testing.ews --profile exchange --port 8080 \\
        --mailbox alice@contoso.com:Secret --store ./ews-store

Prints the EWS URL and serves until interrupted.
"""

from __future__ import annotations

import argparse
import threading

from groupmigrate.testing.ews.knobs import PROFILES
from groupmigrate.testing.ews.server import EWSTestServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m groupmigrate.testing.ews", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="exchange-online")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--store", default=None, help="directory of a persistent store")
    parser.add_argument("--mailbox", action="append", default=[], metavar="ADDRESS[:PASSWORD]")
    args = parser.parse_args(argv)
    server = EWSTestServer(profile=args.profile, host=args.host, port=args.port, store_dir=args.store)
    for spec in args.mailbox:
        address, _, password = spec.partition(":")
        server.add_mailbox(address, password=password or None)
    print(f"EWS test server ({args.profile}) at {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
