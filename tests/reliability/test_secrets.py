"""No secret leaks: not in output, DEBUG logs (exchangelib's included), reports, the state
file, exception texts, or the repr of any object a user can hold.

Two flows with recognizable secrets (an admin password, per-user passwords from the
accounts file, an OAuth client secret) against two EWS test servers:

* the command line, each stage in its own process with ``-vv`` (DEBUG logging on,
  exchangelib's too), secrets given through environment variables;
* the API, in this process, with every log record captured at DEBUG.

Every place is searched for each secret in every form it could take on the wire: as is,
URL-encoded (the token request), base64 of ``user:password`` (a Basic header), and for the
bearer tokens the server issues, their recognizable prefix.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import subprocess
import sys
import traceback
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from groupmigrate.accounts import AccountPair, read_accounts_csv
from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials, Secret
from groupmigrate.backends.ews import EWSDestination, EWSSource
from groupmigrate.frontdoors.config import load_config
from groupmigrate.errors import GroupmigrateError
from groupmigrate.core.report import Report
from groupmigrate.core.state import SqliteStateStore
from groupmigrate.testing import EWSTestServer

from .support import (
    ADMIN,
    ADMIN_PASSWORD,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    prepare_servers,
    seed_mails,
)

ROOT = Path(__file__).resolve().parents[2]
BOB_SOURCE_PASSWORD = "B0b-Src-Pw-91c3"
CAROL_PASSWORD = "Car0l-Dst-Pw-55d1"
WRONG_PASSWORD = "Wr0ng-Pw-c0ffee"
#: base64url of '{"tid":' : how every access token of the test server begins
TOKEN_PREFIX = "eyJ0aWQiOi"

USERS = {
    "alice": {},
    "bob": {"source_username": "bob@contoso.com", "source_password": BOB_SOURCE_PASSWORD},
    "carol": {"destination_username": "carol@example.org", "destination_password": CAROL_PASSWORD},
}


def needles() -> dict[str, str]:
    """Every secret in every form it might take, by a name for messages."""
    forms: dict[str, str] = {"bearer token": TOKEN_PREFIX}
    credentials = [
        (ADMIN, ADMIN_PASSWORD),
        ("bob@contoso.com", BOB_SOURCE_PASSWORD),
        ("carol@example.org", CAROL_PASSWORD),
        (ADMIN, WRONG_PASSWORD),
        (CLIENT_ID, CLIENT_SECRET),
    ]
    for user, secret in credentials:
        forms[secret] = secret
        forms[f"{secret} (URL-encoded)"] = urllib.parse.quote_plus(secret)
        forms[f"{secret} (base64)"] = base64.b64encode(secret.encode()).decode()
        basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
        forms[f"Basic {user}:{secret}"] = basic
    return forms


class Haystack:
    """The places searched, each with its text."""

    def __init__(self) -> None:
        self.places: dict[str, bytes] = {}

    def add(self, name: str, content: str | bytes) -> None:
        data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
        assert name not in self.places, name
        self.places[name] = data

    def add_file(self, path: Path) -> None:
        if path.exists():
            self.add(str(path.name), path.read_bytes())

    def hits(self) -> list[str]:
        found = []
        for place, data in self.places.items():
            lowered = data.lower()
            for name, needle in needles().items():
                if needle.encode().lower() in lowered:
                    found.append(f"{name!r} in {place}")
        return found


# --- servers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(register_source: Any) -> Iterator[tuple[EWSTestServer, EWSTestServer]]:
    with EWSTestServer(profile="exchange-online") as src, EWSTestServer(profile="workmail") as dst:
        prepare_servers(src, dst)
        for i, user in enumerate(USERS):
            src.add_mailbox(f"{user}@contoso.com", password=BOB_SOURCE_PASSWORD if user == "bob" else None)
            seed_mails(src, f"{user}@contoso.com", ("Inbox",), range(i * 10, i * 10 + 6), user)
            dst.add_mailbox(f"{user}@example.org", password=CAROL_PASSWORD if user == "carol" else None)
            dst.grant_impersonation(ADMIN, f"{user}@example.org")
        register_source(src, label="secrets source")
        yield src, dst


def write_config(directory: Path, src: EWSTestServer, dst: EWSTestServer, name: str = "migration") -> Path:
    columns = ["source", "destination", "source_username", "source_password", "destination_username", "destination_password"]
    rows = [",".join(columns)]
    for user, extra in USERS.items():
        rows.append(",".join([f"{user}@contoso.com", f"{user}@example.org"] + [extra.get(c, "") for c in columns[2:]]))
    (directory / "accounts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = directory / f"{name}.toml"
    config.write_text(
        f"""
[source]
url = "{src.url}"
profile = "exchange-online"
impersonation = true

[source.auth]
type = "oauth2"
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret_env = "GM_TEST_CLIENT_SECRET"
token_url = "{src.token_url(TENANT)}"

[destination]
url = "{dst.url}"
profile = "workmail"
impersonation = true

[destination.auth]
type = "basic"
username = "{ADMIN}"
password_env = "GM_TEST_ADMIN_PASSWORD"

[migration]
accounts = "accounts.csv"
state = "migration.db"
report = "report.html"
workers = 2
""",
        encoding="utf-8",
    )
    return config


# --- the command line ----------------------------------------------------------------------------


def run_together(steps: dict[str, tuple[list[str], dict[str, str], int]], cwd: Path, hay: Haystack) -> dict[str, str]:
    """Run independent command lines at the same time (``groupmigrate -vv ...``); check their
    exit codes; keep their output (in files, so that a chatty DEBUG log never blocks a pipe)."""
    procs = {}
    for i, (name, (args, env, expected)) in enumerate(steps.items()):
        out, err = (cwd / f"cli-{len(hay.places)}-{i}.out").open("w+"), (cwd / f"cli-{len(hay.places)}-{i}.err").open("w+")
        proc = subprocess.Popen([sys.executable, "-m", "groupmigrate.frontdoors.cli", "-vv", *args], cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        procs[name] = (proc, expected, out, err)
    outputs = {}
    for name, (proc, expected, out, err) in procs.items():
        proc.wait(timeout=180)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        out.close()
        err.close()
        hay.add(f"{name}: stdout", stdout)
        hay.add(f"{name}: stderr", stderr)
        assert proc.returncode == expected, f"{name}: exit {proc.returncode}\n{stdout[-1500:]}\n{stderr[-3000:]}"
        outputs[name] = stdout
    return outputs


def test_command_line_flow_leaks_no_secret(servers, tmp_path, figures):
    src, dst = servers
    config = write_config(tmp_path, src, dst)
    env = {**os.environ, "GM_TEST_CLIENT_SECRET": CLIENT_SECRET, "GM_TEST_ADMIN_PASSWORD": ADMIN_PASSWORD}
    hay = Haystack()
    wrong = {**env, "GM_TEST_ADMIN_PASSWORD": WRONG_PASSWORD}
    out = run_together(
        {
            "check": (["check", str(config)], env, 0),
            "analyze": (["analyze", str(config), "--json"], env, 0),
            # a wrong password, given the same way: the check fails with a message and no secret
            "check with a wrong password": (["check", str(config)], wrong, 3),
        },
        tmp_path, hay,
    )  # fmt: skip
    assert "FAIL" in out["check with a wrong password"] and "credentials" in out["check with a wrong password"]
    out.update(run_together({"migrate": (["migrate", str(config)], env, 0)}, tmp_path, hay))
    out.update(
        run_together(
            {
                "verify": (["verify", str(config)], env, 0),
                "report": (["report", "migration.db", "--json", "--html", "from-state.html"], env, 0),
            },
            tmp_path, hay,
        )  # fmt: skip
    )
    assert '"migrated": 18' in out["report"], out["report"][-2000:]
    # DEBUG logging really was on, exchangelib's included, with its request headers
    debug = hay.places["migrate: stderr"].decode()
    assert " DEBUG exchangelib" in debug, debug[-2000:]
    assert "uthorization" in debug, "exchangelib's request headers were not logged"

    for path in (tmp_path / "report.html", tmp_path / "from-state.html"):
        assert path.exists(), path
        hay.add_file(path)
    for suffix in ("", "-wal", "-shm"):
        hay.add_file(tmp_path / f"migration.db{suffix}")
    assert hay.hits() == []
    figures["secrets: command line"] = {"places_checked": len(hay.places), "secret_forms": len(needles()), "hits": 0}


# --- the API -------------------------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.stream = io.StringIO()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")
        if record.exc_info:
            self.stream.write("".join(traceback.format_exception(*record.exc_info)))


@pytest.fixture
def debug_log() -> Iterator[_Capture]:
    root = logging.getLogger()
    handler = _Capture()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _texts(obj: Any) -> Iterable[str]:
    yield repr(obj)
    yield str(obj)


def _error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)) + repr(error) + str(error)


def test_api_flow_leaks_no_secret(servers, tmp_path, debug_log, figures):
    from groupmigrate.core.migrator import Migrator

    src, dst = servers
    hay = Haystack()
    events: list[Any] = []
    source = EWSSource(
        url=src.url, profile="exchange-online", impersonation=True,
        auth=OAuth2ClientCredentials(TENANT, CLIENT_ID, Secret(CLIENT_SECRET), token_url=src.token_url(TENANT)),
    )  # fmt: skip
    destination = EWSDestination(url=dst.url, profile="workmail", impersonation=True, auth=BasicAuth(ADMIN, ADMIN_PASSWORD))
    write_config(tmp_path, src, dst)
    pairs = read_accounts_csv(tmp_path / "accounts.csv")
    state = tmp_path / "api.db"
    migrator = Migrator(source, destination, state=str(state), workers=2, on_event=events.append)

    checks = migrator.check(pairs)
    assert all(c.ok for c in checks), [c.message for c in checks]
    analysis = migrator.analyze(pairs)
    report = migrator.run(pairs)
    assert report.totals()["migrated"] + report.totals()["duplicate"] == 18, report.summary()
    verify = migrator.verify(pairs)
    assert verify.ok, verify.summary()
    store = SqliteStateStore(state)
    from_state = Report.from_state(store)

    # failures on the way: wrong password, wrong client secret, a per-user login refused
    errors: list[BaseException] = []
    wrong_destination = EWSDestination(url=dst.url, profile="workmail", auth=BasicAuth(ADMIN, WRONG_PASSWORD))
    wrong_source = EWSSource(
        url=src.url, profile="exchange-online",
        auth=OAuth2ClientCredentials(TENANT, CLIENT_ID, WRONG_PASSWORD, token_url=src.token_url(TENANT)),
    )  # fmt: skip
    for endpoint, address, auth in (
        (wrong_destination, "alice@example.org", None),
        (wrong_source, "alice@contoso.com", None),
        (destination, "carol@example.org", BasicAuth("carol@example.org", WRONG_PASSWORD)),
        (source, "bob@contoso.com", BasicAuth("bob@contoso.com", WRONG_PASSWORD)),
    ):
        mailbox = endpoint.open_mailbox(address, auth)
        try:
            with pytest.raises(GroupmigrateError) as caught:
                mailbox.check()
            errors.append(caught.value)
            hay.add(f"repr of mailbox {address} ({endpoint!r})", repr(mailbox) + str(mailbox))
        finally:
            mailbox.close()
    failed_checks = Migrator(wrong_source, wrong_destination, state=str(tmp_path / "wrong.db")).check(pairs)
    # only the per-user logins (bob on the source, carol on the destination) still work
    assert sorted((c.pair.source, c.side) for c in failed_checks if c.ok) == [
        ("bob@contoso.com", "source"), ("carol@contoso.com", "destination")
    ], failed_checks

    config = load_config(tmp_path / "migration.toml", environ={"GM_TEST_CLIENT_SECRET": CLIENT_SECRET, "GM_TEST_ADMIN_PASSWORD": ADMIN_PASSWORD})

    objects: dict[str, Any] = {
        "source": source, "destination": destination, "source.settings": source.settings,
        "destination.settings": destination.settings, "migrator": migrator, "pairs": pairs,
        "checks": checks, "failed checks": failed_checks, "analysis": analysis, "analysis summary": analysis.summary(),
        "report": report, "report accounts": report.accounts, "verify": verify, "from_state": from_state,
        "state store": store, "config": config, "config.source": config.source, "config.destination": config.destination,
        "config.migration": config.migration, "source auth": source.settings.auth, "destination auth": destination.settings.auth,
        "secret": Secret(CLIENT_SECRET), "events": events, "wrong endpoints": (wrong_source, wrong_destination),
    }  # fmt: skip
    for side in (source, destination):
        for key, connection in getattr(side, "_connections", {}).items():
            objects[f"connection {key}"] = connection
            objects[f"protocol {key}"] = connection.protocol
            objects[f"protocol auth {key}"] = getattr(connection.protocol, "_http_auth", None)
    for name, obj in objects.items():
        hay.add(f"repr/str of {name}", "\n".join(_texts(obj)))
    for i, error in enumerate(errors):
        hay.add(f"error {i} ({type(error).__name__})", _error_text(error))
    for name, text in (("report summary", report.summary()), ("report json", report.to_json()), ("report html", report.to_html()),
                       ("report _repr_html_", report._repr_html_()), ("verify json", verify.to_json())):  # fmt: skip
        hay.add(name, text)
    store.close()
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{state}{suffix}")
        if path.exists():
            hay.add(f"state file {path.name}", path.read_bytes())
    log_text = debug_log.stream.getvalue()
    assert "DEBUG exchangelib" in log_text and "uthorization" in log_text, "DEBUG logging of exchangelib was not captured"
    hay.add("DEBUG log", log_text)
    assert hay.hits() == []
    figures["secrets: API"] = {"places_checked": len(hay.places), "secret_forms": len(needles()), "hits": 0,
                               "log_lines": log_text.count("\n")}  # fmt: skip
    for endpoint in (source, destination, wrong_source, wrong_destination):
        endpoint.close()


def test_secret_refuses_to_travel():
    """A Secret never shows itself and cannot be pickled into a file by accident."""
    import pickle

    secret = Secret(ADMIN_PASSWORD)
    auth = BasicAuth(ADMIN, ADMIN_PASSWORD)
    pair = AccountPair("a@contoso.com", "a@example.org", destination_auth=auth)
    for text in (repr(secret), str(secret), f"{secret}", repr(auth), str(auth), repr(pair), str(pair), f"{auth!r}"):
        assert ADMIN_PASSWORD not in text
    with pytest.raises(TypeError):
        pickle.dumps(auth)
