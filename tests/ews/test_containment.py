"""groupmigrate leaves exchangelib as shipped for everyone else in the process.

An embedder (a hosting panel, a notebook) may use exchangelib itself next to groupmigrate.
Here a migration between two EWS test servers runs through groupmigrate, then a probe looks
at exchangelib: a fingerprint of every function, class attribute and field list of every
loaded exchangelib module, its loggers, requests' defaults, and what a plain
``exchangelib.Account`` reads from both servers (including how large the chunks are that its
XML parser is fed). The same probe runs in a fresh interpreter that never imported
groupmigrate; the two results must be identical.
"""

from __future__ import annotations

import email.message
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from groupmigrate import AccountPair, Migrator
from groupmigrate.backends.ews import EWSDestination, EWSSource

from .servers import endpoint_kwargs, served

SRC, DST = "alice@contoso.com", "alice@example.org"

#: The probe. Runs both in this process (after the migration) and in a fresh interpreter; it
#: never imports groupmigrate. Its input is ``PROBE_INPUT`` (modules to import, servers to
#: read); it leaves its result in ``PROBE_RESULT``.
PROBE = r'''
import importlib, inspect, logging, sys, types
import requests

modules, servers = PROBE_INPUT["modules"], PROBE_INPUT["servers"]
for name in modules:
    importlib.import_module(name)

#: caches whose contents legitimately depend on what ran in the process (never behaviour)
CACHES = {"exchangelib.protocol.CachingProtocol._protocol_cache",
          "exchangelib.autodiscover.cache.autodiscover_cache"}
SCALARS = (str, int, float, bool, bytes, type(None))


def where(obj):
    obj = inspect.unwrap(obj) if callable(obj) else obj
    code = getattr(obj, "__code__", None)
    origin = f"{code.co_filename.rsplit('site-packages', 1)[-1]}:{code.co_firstlineno}" if code else ""
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}@{origin}"


def describe(value, depth=0):
    if isinstance(value, (staticmethod, classmethod)):
        return [type(value).__name__, describe(value.__func__, depth)]
    if isinstance(value, property):
        return ["property", *(describe(f, depth) for f in (value.fget, value.fset, value.fdel))]
    if isinstance(value, SCALARS):
        return repr(value)
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
        return where(value)
    if depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        items = [describe(v, depth + 1) for v in value]
        return [type(value).__name__, *(sorted(map(str, items)) if isinstance(value, (set, frozenset)) else items)]
    if depth < 3 and isinstance(value, dict):
        return ["dict", *sorted([repr(k), describe(v, depth + 1)] for k, v in value.items())]
    field_uri = getattr(value, "field_uri", None)
    if hasattr(value, "name") and hasattr(value, "is_required"):  # an exchangelib field
        extra = getattr(value, "value_cls", None)
        return ["field", where(type(value)), value.name, str(field_uri), describe(extra, depth + 1)]
    if callable(value) and hasattr(value, "__wrapped__"):
        return ["wrapped", where(value.__wrapped__)]
    return ["instance", where(type(value))]


snapshot = {}
for name in sorted(m for m in sys.modules if m == "exchangelib" or m.startswith("exchangelib.")):
    module = sys.modules[name]
    for attr, value in sorted(vars(module).items()):
        key = f"{name}.{attr}"
        if attr.startswith("__") or key in CACHES:
            continue
        if isinstance(value, type) and value.__module__ == name:
            for cattr, cvalue in sorted(vars(value).items()):
                ckey = f"{key}.{cattr}"
                # __slotnames__ is copyreg's cache, filled the first time anything copies an
                # instance (exchangelib copies its own Q objects when they are combined)
                if cattr in ("__dict__", "__weakref__", "__doc__", "_abc_impl", "__slotnames__") or ckey in CACHES:
                    continue
                snapshot[ckey] = describe(cvalue)
        else:
            snapshot[key] = describe(value)

loggers = {"": logging.getLogger()}
loggers.update({n: l for n, l in logging.root.manager.loggerDict.items()
                if n.startswith("exchangelib") and isinstance(l, logging.Logger)})
for name, logger in sorted(loggers.items()):
    state = {"filters": [where(type(f)) for f in logger.filters]}
    if name:  # (the root's level and handlers belong to the test runner)
        state.update(level=logger.level, propagate=logger.propagate, disabled=logger.disabled,
                     handlers=[where(type(h)) for h in logger.handlers])
    # a logger left at its defaults behaves like one never created
    if not name or state != {"filters": [], "level": 0, "propagate": True, "disabled": False, "handlers": []}:
        snapshot[f"logger {name!r}"] = state
for cls in (requests.Session, requests.Response, requests.adapters.HTTPAdapter):
    for attr, value in sorted(vars(cls).items()):
        if callable(value) and not attr.startswith("__"):
            snapshot[f"{cls.__module__}.{cls.__qualname__}.{attr}"] = [where(value), str(inspect.signature(value))]

# --- exchangelib itself, used as an embedder would -------------------------------------------
from exchangelib import DELEGATE, UTC, Account, Configuration, Credentials, FailFast
from exchangelib.ewsdatetime import EWSDateTime
import exchangelib.services.common as common

behaviour = {}
try:
    EWSDateTime.from_string("2026-01-02T03:04:05.123Z")
    behaviour["from_string fraction"] = "parsed"
except ValueError as e:
    behaviour["from_string fraction"] = f"ValueError: {e}"
behaviour["from_string plain"] = repr(EWSDateTime.from_string("2026-01-02T03:04:05Z"))

chunks = []
plain_to_xml = common.to_xml


def counting_to_xml(content):
    if isinstance(content, (bytes, bytearray)):
        return plain_to_xml(content)
    parts = list(content)
    chunks.append(max((len(p) for p in parts), default=0))
    return plain_to_xml(b"".join(parts))


common.to_xml = counting_to_xml
try:
    for label, (url, user, password) in sorted(servers.items()):
        config = Configuration(service_endpoint=url, credentials=Credentials(user, password),
                               auth_type="basic", retry_policy=FailFast())
        account = Account(user, config=config, access_type=DELEGATE, autodiscover=False, default_timezone=UTC)
        items = sorted(
            (m.subject, repr(m.datetime_received), repr(m.datetime_created), type(m).__qualname__)
            for m in account.inbox.all().only("subject", "datetime_received", "datetime_created")
        )
        behaviour[label] = items
        account.protocol.close()
finally:
    common.to_xml = plain_to_xml
behaviour["largest parse chunk"] = max(chunks)

PROBE_RESULT = {"snapshot": snapshot, "behaviour": behaviour}
'''


def _probe_here(probe_input: dict[str, Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"PROBE_INPUT": probe_input}
    exec(compile(PROBE, "<containment probe>", "exec"), namespace)  # noqa: S102 - the probe above
    result: dict[str, Any] = json.loads(json.dumps(namespace["PROBE_RESULT"]))
    return result


def _probe_fresh(probe_input: dict[str, Any]) -> dict[str, Any]:
    runner = (
        "import json, sys\n"
        "PROBE_INPUT = json.loads(sys.stdin.read())\n"
        f"exec({PROBE!r})\n"
        "assert not any(m == 'groupmigrate' or m.startswith('groupmigrate.') for m in sys.modules)\n"
        "print(json.dumps(PROBE_RESULT))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", runner], input=json.dumps(probe_input), capture_output=True, text=True,
        timeout=120, cwd=str(Path(__file__).parent), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _mime(n: int) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = "bob@contoso.com"
    msg["To"] = SRC
    msg["Subject"] = f"containment {n}"
    msg["Message-ID"] = f"<containment-{n}@contoso.com>"
    msg["Date"] = "Fri, 02 Jan 2026 03:04:05 +0000"
    msg.set_content(f"body {n}\n" * 200)
    return msg.as_bytes()


def _diff(fresh: dict[str, Any], here: dict[str, Any]) -> list[str]:
    keys = sorted(set(fresh) | set(here))
    return [f"{k}: without groupmigrate {fresh.get(k)!r}, after the migration {here.get(k)!r}"
            for k in keys if fresh.get(k) != here.get(k)]  # fmt: skip


def test_exchangelib_is_as_shipped_after_a_migration(tmp_path: Path) -> None:
    with served("exchange-online", SRC) as source_server, served("exchange", DST) as destination_server:
        assert source_server.knobs.fractional_seconds  # the source writes timestamps with milliseconds
        for n in range(3):
            source_server.seed_message(SRC, ("inbox",), _mime(n))
        migrator = Migrator(
            source=EWSSource(**endpoint_kwargs(source_server)),
            destination=EWSDestination(**endpoint_kwargs(destination_server)),
            state=str(tmp_path / "state.db"), item_types=["mail"], workers=2,
        )  # fmt: skip
        report = migrator.run([AccountPair(source=SRC, destination=DST)], mode="full")
        account = report.accounts[0]
        assert account.status == "completed", account.error
        assert account.counts["mail"]["migrated"] == 3

        probe_input = {
            "modules": sorted(m for m in sys.modules if m == "exchangelib" or m.startswith("exchangelib.")),
            "servers": {
                "source": [source_server.url, SRC, f"pw-{SRC.split('@')[0]}"],
                "destination": [destination_server.url, DST, f"pw-{DST.split('@')[0]}"],
            },
        }
        here = _probe_here(probe_input)
        fresh = _probe_fresh(probe_input)

    changed = _diff(fresh["snapshot"], here["snapshot"])
    assert not changed, "\n".join(changed)
    assert len(fresh["snapshot"]) > 1000  # the probe did look at exchangelib
    changed = _diff(fresh["behaviour"], here["behaviour"])
    assert not changed, "\n".join(changed)
    behaviour = here["behaviour"]
    # exchangelib as shipped: fractional seconds are not parsed, responses are parsed byte by byte
    assert behaviour["from_string fraction"].startswith("ValueError")
    assert behaviour["largest parse chunk"] == 1
    # ...and a plain exchangelib client works against both servers
    assert [s for s, *_ in behaviour["destination"]] == [f"containment {n}" for n in range(3)]
    assert [s for s, *_ in behaviour["source"]] == [f"containment {n}" for n in range(3)]
    assert all(received == "None" for _, received, *_ in behaviour["source"])  # ".123Z" unparsed by exchangelib
