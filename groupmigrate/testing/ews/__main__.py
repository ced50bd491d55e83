"""Run an EWS test server from the command line.

    python -m groupmigrate.testing.ews --profile exchange-online --port 8080 --store ./ews-store \\
        --samples 2 --user admin@contoso.com:Admin-Pa55 --grant-all \\
        --oauth-app contoso-tenant:migration-app:App-S3cret

Creates the mailboxes, logins, OAuth apps and impersonation grants asked for, seeds sample
mailboxes, prints the EWS URL, the token URL and the ``[source]``/``[destination]`` tables
for a groupmigrate configuration, and serves until Ctrl-C (or SIGTERM).

Secrets read from environment variables (``--user-env``, ``--oauth-app-env``) are never
printed: the printed configuration names the same variables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Optional, TextIO

import attrs

from groupmigrate.testing.ews.knobs import PROFILES
from groupmigrate.testing.ews.server import EWSTestServer

__all__ = ["main"]

#: Variables the printed configuration reads secrets given on the command line from.
PASSWORD_VARIABLE = "EWS_TEST_PASSWORD"
CLIENT_SECRET_VARIABLE = "EWS_TEST_CLIENT_SECRET"


@attrs.frozen
class _Secret:
    value: str = attrs.field(repr=False)
    #: the environment variable it came from, or None when given on the command line
    variable: Optional[str] = None


@attrs.frozen
class _Login:
    address: str
    secret: _Secret


@attrs.frozen
class _App:
    tenant_id: str
    client_id: str
    secret: _Secret


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m groupmigrate.testing.ews",
        description="Run an EWS test server (Exchange Web Services on loopback) until Ctrl-C.",
        epilog=(
            "Example: python -m groupmigrate.testing.ews --samples 2 --user admin@contoso.com:Admin-Pa55 "
            "--grant-all --oauth-app contoso-tenant:migration-app:App-S3cret"
        ),
    )
    server = parser.add_argument_group("server")
    server.add_argument("--profile", choices=sorted(PROFILES), default="exchange-online",
                        help="the server to imitate (default: exchange-online)")  # fmt: skip
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    server.add_argument("--port", type=int, default=0, help="TCP port (default: 0, a free port)")
    server.add_argument("--store", metavar="DIR", default=None,
                        help="keep mailboxes, items, logins and grants in DIR; a restart over DIR sees them again "
                             "(default: in memory)")  # fmt: skip
    boxes = parser.add_argument_group("mailboxes")
    boxes.add_argument("--mailbox", action="append", default=[], metavar="ADDRESS[:PASSWORD]",
                       help="an empty mailbox, with its owner's password if given (repeatable)")  # fmt: skip
    boxes.add_argument("--sample-mailboxes", action="append", default=[], metavar="ADDRESS,...",
                       help="mailboxes filled with sample items of every type (repeatable)")  # fmt: skip
    boxes.add_argument("--samples", type=int, default=0, metavar="N",
                       help="N sample mailboxes: alice, bob, carol... at --sample-domain")  # fmt: skip
    boxes.add_argument("--sample-domain", default="contoso.com", metavar="DOMAIN", help="domain of --samples (default: contoso.com)")
    boxes.add_argument("--sample-mails", type=int, default=40, metavar="N", help="messages per sample mailbox (default: 40)")
    boxes.add_argument("--seed", type=int, default=0, help="the same seed gives the same sample content (default: 0)")
    boxes.add_argument("--sample-date", type=dt.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                       help="anchor date of the sample dates: mail before it, meetings after it (default: today)")  # fmt: skip
    logins = parser.add_argument_group("logins and permissions")
    logins.add_argument("--user", action="append", default=[], metavar="ADDRESS:PASSWORD",
                        help="a login (Basic authentication), e.g. an admin that impersonates mailboxes (repeatable)")  # fmt: skip
    logins.add_argument("--user-env", action="append", default=[], metavar="ADDRESS:VARIABLE",
                        help="a login whose password is read from the environment variable VARIABLE (repeatable)")  # fmt: skip
    logins.add_argument("--oauth-app", action="append", default=[], metavar="TENANT:CLIENT_ID:SECRET",
                        help="an app-only OAuth client; it may impersonate every mailbox (repeatable)")  # fmt: skip
    logins.add_argument("--oauth-app-env", action="append", default=[], metavar="TENANT:CLIENT_ID:VARIABLE",
                        help="an app-only OAuth client whose secret is read from VARIABLE (repeatable)")  # fmt: skip
    logins.add_argument("--grant", action="append", default=[], metavar="USER:MAILBOX",
                        help="let USER impersonate MAILBOX (repeatable)")  # fmt: skip
    logins.add_argument("--grant-all", action="store_true",
                        help="let every --user/--user-env login impersonate every mailbox of the server")  # fmt: skip
    return parser


def _split(spec: str, parts: int, form: str, option: str) -> list[str]:
    fields = spec.split(":", parts - 1)
    if len(fields) != parts or not all(fields):
        raise _UsageError(f"{option} expects {form}, got {spec.split(':', 1)[0]!r}...")
    return fields


def _from_env(variable: str, option: str) -> _Secret:
    value = os.environ.get(variable)
    if not value:
        raise _UsageError(f"{option}: the environment variable {variable} is not set or empty")
    return _Secret(value, variable)


def _logins(args: argparse.Namespace) -> list[_Login]:
    found = []
    for spec in args.user:
        address, password = _split(spec, 2, "ADDRESS:PASSWORD (or use --user-env ADDRESS:VARIABLE)", "--user")
        found.append(_Login(address, _Secret(password)))
    for spec in args.user_env:
        address, variable = _split(spec, 2, "ADDRESS:VARIABLE", "--user-env")
        found.append(_Login(address, _from_env(variable, "--user-env")))
    return found


def _apps(args: argparse.Namespace) -> list[_App]:
    found = []
    for spec in args.oauth_app:
        tenant, client, secret = _split(spec, 3, "TENANT:CLIENT_ID:SECRET", "--oauth-app")
        found.append(_App(tenant, client, _Secret(secret)))
    for spec in args.oauth_app_env:
        tenant, client, variable = _split(spec, 3, "TENANT:CLIENT_ID:VARIABLE", "--oauth-app-env")
        found.append(_App(tenant, client, _from_env(variable, "--oauth-app-env")))
    return found


def _sample_addresses(args: argparse.Namespace) -> list[str]:
    from groupmigrate.testing.ews.samples import sample_addresses

    found: list[str] = []
    for spec in args.sample_mailboxes:
        found += [a.strip() for a in spec.split(",") if a.strip()]
    if args.samples < 0:
        raise _UsageError("--samples must be 0 or more")
    found += sample_addresses(args.samples, args.sample_domain)
    for address in found:
        if "@" not in address:
            raise _UsageError(f"--sample-mailboxes: {address!r} is not an email address")
    unique: dict[str, str] = {}
    for address in found:
        unique.setdefault(address.lower(), address)
    return list(unique.values())


def _setup(server: EWSTestServer, args: argparse.Namespace, logins: list[_Login], apps: list[_App], out: TextIO) -> None:
    from groupmigrate.testing.ews.samples import seed_sample_mailbox

    for spec in args.mailbox:
        address, _, password = spec.partition(":")
        server.add_mailbox(address, password=password or None)
    samples = _sample_addresses(args)
    for address in samples:
        if server.store.mailbox(address) is not None:
            print(f"  {address}: kept from the store (not seeded again)", file=out, flush=True)
            continue
        print(f"  seeding {address}...", file=out, flush=True)
        seed_sample_mailbox(server, address, seed=args.seed, mails=args.sample_mails, today=args.sample_date)
    for login in logins:
        server.add_user(login.address, login.secret.value)
    for app in apps:
        server.add_oauth_app(app.tenant_id, app.client_id, app.secret.value)
    for spec in args.grant:
        actor, mailbox = _split(spec, 2, "USER:MAILBOX", "--grant")
        server.grant_impersonation(actor, mailbox)
    if args.grant_all:
        for login in logins:
            for mb in _mailboxes(server):
                if mb.lower() != login.address.lower():
                    server.grant_impersonation(login.address, mb)


def _mailboxes(server: EWSTestServer) -> list[str]:
    with server.store.lock:
        return sorted(mb.address for mb in server.store.mailboxes.values())


def _grants_of(server: EWSTestServer, address: str) -> list[str]:
    with server.store.lock:
        return sorted(m for a, m in server.directory.grants if a == address.lower())


def _variable(secret: _Secret, default: str) -> str:
    return secret.variable or default


def _from_store(
    server: EWSTestServer, logins: list[_Login], apps: list[_App], owners: list[str]
) -> tuple[list[_Login], list[_App]]:
    """Logins and apps a persistent store keeps from an earlier start (their secrets stay unprinted)."""
    given = {x.address.lower() for x in logins} | {a.partition(":")[0].lower() for a in owners}
    given_apps = {(a.tenant_id.lower(), a.client_id.lower()) for a in apps}
    with server.store.lock:
        users = sorted(a for a in server.directory.users if a not in given)
        stored_apps = sorted(k for k in server.directory.apps if k not in given_apps)
    return [_Login(a, _Secret("")) for a in users], [_App(t, c, _Secret("")) for t, c in stored_apps]


def _banner(server: EWSTestServer, args: argparse.Namespace, logins: list[_Login], apps: list[_App]) -> str:
    from groupmigrate.testing.ews.samples import endpoint_toml, mailbox_counts

    profile = server.profile.name
    stored_logins, stored_apps = _from_store(server, logins, apps, args.mailbox)
    logins, apps = logins + stored_logins, apps + stored_apps
    lines = [f"EWS test server ({profile} profile)", f"  EWS URL:    {server.url}"]
    for tenant in dict.fromkeys(a.tenant_id for a in apps):
        lines.append(f"  token URL:  {server.token_url(tenant)}")
    if not apps:
        lines.append(f"  token URL:  {server.token_url('TENANT')} (with --oauth-app TENANT:CLIENT_ID:SECRET)")
    lines.append(f"  store:      {os.path.abspath(args.store) if args.store else 'in memory (gone on exit; keep it with --store DIR)'}")
    lines.append("  mailboxes:")
    for address in _mailboxes(server):
        counts = mailbox_counts(server, address)
        lines.append(f"    {address:<28} " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    if not _mailboxes(server):
        lines.append("    (none: add --samples N, --sample-mailboxes or --mailbox)")
    for login in logins:
        grants = _grants_of(server, login.address)
        kept = ", from the store" if login in stored_logins else ""
        lines.append(f"  login:      {login.address} (Basic{kept}), impersonates {len(grants)} mailbox(es)")
    for app in apps:
        kept = ", from the store" if app in stored_apps else ""
        lines.append(f"  OAuth app:  tenant {app.tenant_id}, client {app.client_id} (impersonates every mailbox{kept})")

    exports: dict[str, str] = {}
    notes: list[str] = []

    def basic(side: str, login: _Login) -> str:
        variable = _variable(login.secret, PASSWORD_VARIABLE)
        if login.secret.variable is None and login.secret.value:
            exports[variable] = login.secret.value
        elif not login.secret.value:
            notes.append(f"(set {variable} to the password of {login.address})")
        return endpoint_toml(side, server.url, profile, username=login.address, secret_env=variable,
                             impersonation=bool(_grants_of(server, login.address)))  # fmt: skip

    def oauth(side: str, app: _App) -> str:
        variable = _variable(app.secret, CLIENT_SECRET_VARIABLE)
        if app.secret.variable is None and app.secret.value:
            exports[variable] = app.secret.value
        elif not app.secret.value:
            notes.append(f"(set {variable} to the secret of the app {app.client_id})")
        return endpoint_toml(side, server.url, profile, tenant_id=app.tenant_id, client_id=app.client_id,
                             token_url=server.token_url(app.tenant_id), secret_env=variable)  # fmt: skip

    chosen_login = next((x for x in logins if _grants_of(server, x.address)), logins[0] if logins else None)
    chosen_app = apps[0] if apps and profile != "workmail" else None  # groupmigrate takes WorkMail with Basic only
    tables = []
    for side, first in (("source", "oauth"), ("destination", "basic")):
        if chosen_app is not None and (first == "oauth" or chosen_login is None):
            tables.append(oauth(side, chosen_app))
        elif chosen_login is not None:
            tables.append(basic(side, chosen_login))
    lines.append("")
    if tables:
        lines.append("For groupmigrate: use [source] when this server is the source, [destination] when it is")
        lines.append("the destination (migration.toml); accounts.csv lists the mailboxes above.")
        lines.append("")
        lines += [t.rstrip("\n") + "\n" for t in tables]
        for variable, value in exports.items():
            lines.append(f"export {variable}={shlex.quote(value)}")
        lines += list(dict.fromkeys(notes))
        if chosen_login is not None and not _grants_of(server, chosen_login.address):
            who = chosen_login.address
            lines.append(f"({who} impersonates no mailbox: add --grant {who}:MAILBOX or --grant-all)")
    else:
        lines.append("No login yet: add --user ADDRESS:PASSWORD with --grant-all, or --oauth-app TENANT:CLIENT_ID:SECRET.")
    lines.append("")
    lines.append("Ready; Ctrl-C stops the server.")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        logins, apps = _logins(args), _apps(args)
        _sample_addresses(args)
        for spec in args.grant:
            _split(spec, 2, "USER:MAILBOX", "--grant")
        if args.grant_all and not logins:
            raise _UsageError("--grant-all needs a login to grant to (--user or --user-env)")
        if args.sample_mails < 0:
            raise _UsageError("--sample-mails must be 0 or more")
    except _UsageError as exc:
        parser.error(str(exc))
    try:
        server = EWSTestServer(profile=args.profile, host=args.host, port=args.port, store_dir=args.store)
    except OSError as exc:
        print(f"{parser.prog}: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    try:
        try:
            _setup(server, args, logins, apps, out)
        except (_UsageError, KeyError, ValueError) as exc:
            print(f"{parser.prog}: error: {exc}", file=sys.stderr)
            return 2
        print(_banner(server, args, logins, apps), file=out, flush=True)

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not stop.wait(0.5):
            pass
        print("stopping...", file=out, flush=True)
    except KeyboardInterrupt:  # Ctrl-C while seeding
        return 130
    finally:
        server.stop()
    print("stopped", file=out, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
