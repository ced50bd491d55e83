"""The TOML configuration: defaults, secrets, every validation error naming its key."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from groupmigrate.auth import BasicAuth, OAuth2ClientCredentials, Secret
from groupmigrate.frontdoors.config import Config, EndpointConfig, InsecureConfigWarning, load_config
from groupmigrate.errors import AccountsFileError, ConfigError
from groupmigrate.items import ALL_ITEM_TYPES
from groupmigrate.frontdoors.notify import SmtpNotifier, WebhookNotifier

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
SOURCE_SECRET = "src-Cl1ent-Secret!"
DEST_PASSWORD = "dst-Adm1n-Pa55#"
SMTP_PASSWORD = "smtp-N0tify-Pw%"
WEBHOOK_SECRET = "hook-S1gning-Key&"
ENV = {
    "GM_SOURCE_SECRET": SOURCE_SECRET,
    "GM_DEST_PASSWORD": DEST_PASSWORD,
    "GM_SMTP_PASSWORD": SMTP_PASSWORD,
    "GM_WEBHOOK_SECRET": WEBHOOK_SECRET,
}
ALL_SECRETS = list(ENV.values())

BASE: dict[str, Any] = {
    "source": {
        "url": "https://outlook.office365.com/EWS/Exchange.asmx",
        "profile": "exchange-online",
        "auth": {"type": "oauth2", "tenant_id": "t-1", "client_id": "c-1", "client_secret_env": "GM_SOURCE_SECRET"},
    },
    "destination": {
        "url": "https://ews.mail.us-east-1.awsapps.com/EWS/Exchange.asmx",
        "profile": "workmail",
        "auth": {"type": "basic", "username": "admin@example.org", "password_env": "GM_DEST_PASSWORD"},
    },
    "migration": {"accounts": "accounts.csv"},
}


# --------------------------------------------------------------------------------------------
# A tiny TOML writer for the test tables (strings, numbers, booleans, dates, lists, tables)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if not _is_table(v)]
    out = ("\n".join(lines) + "\n") if lines else ""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += f"\n[{name}]\n" + dump_toml(value, f"{name}.")
        elif _is_table(value):
            for entry in value:
                out += f"\n[[{name}]]\n" + dump_toml(entry, f"{name}.")
    return out


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and bool(value) and isinstance(value[0], dict))


DELETE = object()


def edited(changes: dict[str, Any]) -> dict[str, Any]:
    """BASE with dotted keys set (or removed with DELETE)."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        table = data
        for part in parents:
            table = table.setdefault(part, {})
        if value is DELETE:
            table.pop(last, None)
        else:
            table[last] = value
    return data


@pytest.fixture()
def write(tmp_path: Path) -> Iterator[Any]:
    def _write(data: dict[str, Any] | str, name: str = "migration.toml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else dump_toml(data), encoding="utf-8")
        return path

    yield _write


def load(path: Path, env: dict[str, str] | None = None) -> Config:
    return load_config(path, environ=ENV if env is None else env)


# --------------------------------------------------------------------------------------------
# What loads


def test_the_shipped_example_loads() -> None:
    config = load(EXAMPLES / "migration.toml")
    assert config.source.profile == "exchange-online"
    assert isinstance(config.source.auth, OAuth2ClientCredentials)
    assert config.source.auth.client_secret.reveal() == SOURCE_SECRET
    assert config.source.max_connections == 8
    assert isinstance(config.destination.auth, BasicAuth)
    assert config.destination.auth.password.reveal() == DEST_PASSWORD
    assert config.migration.accounts == EXAMPLES / "accounts.csv"
    assert config.migration.report == EXAMPLES / "report.html"
    assert [type(n) for n in config.notifiers] == [SmtpNotifier, WebhookNotifier]
    assert len(config.read_accounts()) == 3


def test_defaults(write: Any) -> None:
    config = load(write(BASE))
    assert config.source.impersonation is True  # admin credentials given: impersonate
    assert config.source.verify_tls is True and config.source.max_connections == 4
    migration = config.migration
    assert migration.item_types == ALL_ITEM_TYPES
    assert (migration.mode, migration.since, migration.workers, migration.report) == ("full", None, 4, None)
    assert migration.state == config.path.parent / "migration.db"
    assert config.notifiers == ()


def test_paths_are_relative_to_the_config_file(write: Any, tmp_path: Path) -> None:
    data = edited({"migration.state": "/var/lib/gm/state.db", "migration.report": "out/report.html"})
    (tmp_path / "conf").mkdir()
    config = load(write(data, "conf/migration.toml"))
    assert config.migration.accounts == tmp_path / "conf" / "accounts.csv"
    assert config.migration.state == Path("/var/lib/gm/state.db")
    assert config.migration.report == tmp_path / "conf" / "out" / "report.html"


def test_since_date_becomes_midnight_utc(write: Any) -> None:
    config = load(write(edited({"migration.since": dt.date(2026, 1, 1)})))
    assert config.migration.since == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def test_since_offset_datetime_is_kept(write: Any) -> None:
    since = dt.datetime(2026, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    config = load(write(edited({"migration.since": since})))
    assert config.migration.since == dt.datetime(2026, 2, 3, 2, 5, 6, tzinfo=dt.timezone.utc)


def test_item_types_mode_workers(write: Any) -> None:
    changes = {"migration.item_types": ["contacts", "mail"], "migration.mode": "delta", "migration.workers": 64}
    migration = load(write(edited(changes))).migration
    assert (migration.item_types, migration.mode, migration.workers) == (("contacts", "mail"), "delta", 64)


def test_per_user_credentials_without_endpoint_auth(write: Any, tmp_path: Path) -> None:
    data = edited({"destination.auth": DELETE})
    config = load(write(data))
    assert config.destination.auth is None and config.destination.impersonation is False
    (tmp_path / "accounts.csv").write_text(
        "source,destination,destination_username,destination_password\n"
        "a@contoso.com,a@example.org,a@example.org,pw\n"
        "b@contoso.com,b@example.org,,\n",
        encoding="utf-8",
    )
    with pytest.raises(AccountsFileError) as info:
        config.read_accounts()
    assert [(r, c) for r, c, _ in info.value.problems] == [(3, "destination_username")]


def test_autodiscover_profiles_may_omit_the_url(write: Any) -> None:
    config = load(write(edited({"source.url": DELETE, "source.profile": "exchange"})))
    assert config.source.url is None


def test_oauth2_options(write: Any) -> None:
    changes = {"source.auth.token_url": "http://127.0.0.1:8080/token", "source.auth.scope": "custom/.default"}
    auth = load(write(edited(changes))).source.auth
    assert isinstance(auth, OAuth2ClientCredentials)
    assert (auth.token_url, auth.scope, auth.tenant_id, auth.client_id) == (
        "http://127.0.0.1:8080/token", "custom/.default", "t-1", "c-1"
    )  # fmt: skip


def test_notifiers(write: Any) -> None:
    data = edited({
        "notify.smtp": {"host": "smtp.example.org", "security": "ssl", "username": "n@example.org",
                        "password_env": "GM_SMTP_PASSWORD", "sender": "gm@example.org",
                        "recipients": ["It@Example.ORG", "b@example.org"], "timeout": 5},
        "notify.webhook": [{"url": "https://hooks.example.org/a", "secret_env": "GM_WEBHOOK_SECRET"},
                           {"url": "http://127.0.0.1:9/b"}],
    })  # fmt: skip
    smtp, hook_a, hook_b = load(write(data)).notifiers
    assert isinstance(smtp, SmtpNotifier)
    assert (smtp.host, smtp.port, smtp.security, smtp.timeout) == ("smtp.example.org", 465, "ssl", 5.0)
    assert smtp.recipients == ("It@example.org", "b@example.org")
    assert isinstance(hook_a, WebhookNotifier) and isinstance(hook_b, WebhookNotifier)
    assert hook_a.signature(b"x") is not None and hook_b.signature(b"x") is None


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_smtp_default_ports(write: Any, security: str, port: int) -> None:
    smtp = {"host": "h.example.org", "security": security, "sender": "a@example.org", "recipients": ["b@example.org"]}
    [notifier] = load(write(edited({"notify.smtp": smtp}))).notifiers
    assert isinstance(notifier, SmtpNotifier) and notifier.port == port


# --------------------------------------------------------------------------------------------
# Secrets


def test_secret_from_file(write: Any, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(DEST_PASSWORD + "\n", encoding="utf-8")
    data = edited({"destination.auth.password_env": DELETE, "destination.auth.password_file": "secret.txt"})
    auth = load(write(data)).destination.auth
    assert isinstance(auth, BasicAuth) and auth.password.reveal() == DEST_PASSWORD


def test_inline_secret_works_but_warns(write: Any) -> None:
    data = edited({"destination.auth.password_env": DELETE, "destination.auth.password": DEST_PASSWORD})
    with pytest.warns(InsecureConfigWarning, match="destination.auth.password") as caught:
        auth = load(write(data)).destination.auth
    assert isinstance(auth, BasicAuth) and auth.password.reveal() == DEST_PASSWORD
    assert all(DEST_PASSWORD not in str(w.message) for w in caught)
    assert caught[0].filename == __file__  # the warning points at the caller of load_config


def test_environment_defaults_to_os_environ(write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    auth = load_config(write(BASE)).source.auth
    assert isinstance(auth, OAuth2ClientCredentials) and auth.client_secret == Secret(SOURCE_SECRET)


def test_no_secret_in_repr_or_str() -> None:
    config = load(EXAMPLES / "migration.toml")
    texts = [repr(config), str(config), repr(config.source), repr(config.destination), repr(config.notifiers)]
    for text in texts:
        for secret in ALL_SECRETS:
            assert secret not in text
    assert "********" in repr(config.source.auth)


def test_no_secret_in_errors(write: Any, tmp_path: Path) -> None:
    """A secret in the wrong place (a list, a bad key) must not be echoed back."""
    cases = [
        edited({"destination.auth.password_env": DELETE, "destination.auth.password": [DEST_PASSWORD]}),
        edited({"destination.auth.password": DEST_PASSWORD}),  # given twice
        edited({"destination.auth.pasword": DEST_PASSWORD}),  # misspelled key
        edited({"destination.auth.password_env": DELETE, "destination.auth.password": DEST_PASSWORD,
                "migration.workers": 0}),  # fmt: skip
    ]
    for data in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureConfigWarning)
            with pytest.raises(ConfigError) as info:
                load(write(data))
        assert DEST_PASSWORD not in str(info.value) and DEST_PASSWORD not in repr(info.value)
    broken = write(f'[source]\nurl = "{SOURCE_SECRET}\n')  # unterminated string
    with pytest.raises(ConfigError) as info:
        load(broken)
    assert SOURCE_SECRET not in str(info.value)


# --------------------------------------------------------------------------------------------
# Every validation error names its key

ERRORS = [
    ({"sources": {"url": "x"}}, "sources", "unknown key"),
    ({"source.auth.pasword_env": "X"}, "source.auth.pasword_env", "unknown key"),
    ({"migration.worker": 3}, "migration.worker", "unknown key"),
    ({"notify.slack": {"url": "https://x.example.org"}}, "notify.slack", "unknown key"),
    ({"destination.auth.tenant_id": "t"}, "destination.auth.tenant_id", "unknown key"),
    ({"migration.workers": 0}, "migration.workers", "must be an integer between 1 and 64"),
    ({"migration.workers": 65}, "migration.workers", "must be an integer between 1 and 64"),
    ({"migration.workers": "4"}, "migration.workers", "must be an integer between 1 and 64"),
    ({"migration.workers": True}, "migration.workers", "must be an integer between 1 and 64"),
    ({"source.auth.client_secret_env": "GM_UNSET"}, "source.auth.client_secret_env",
     "environment variable GM_UNSET is not set"),
    ({"source.auth.client_secret_env": "GM_EMPTY"}, "source.auth.client_secret_env", "GM_EMPTY is empty"),
    ({"source.auth.client_secret_file": "missing.txt"}, "source.auth.client_secret_file", "give only one of"),
    ({"source.auth.client_secret_env": DELETE, "source.auth.client_secret_file": "missing.txt"},
     "source.auth.client_secret_file", "cannot read"),
    ({"source.auth.client_secret_env": DELETE, "source.auth.client_secret_file": "empty.txt"},
     "source.auth.client_secret_file", "is empty"),
    ({"source.auth.client_secret_env": DELETE}, "source.auth.client_secret", "is required"),
    ({"source.auth.client_id": DELETE}, "source.auth.client_id", "is required"),
    ({"source.auth.type": "ntlm"}, "source.auth.type", "must be one of"),
    ({"source.auth.type": DELETE}, "source.auth.type", "is required"),
    ({"source.auth.token_url": "ftp://x.example.org"}, "source.auth.token_url", "http"),
    ({"source.profile": "gmail"}, "source.profile", "must be one of"),
    ({"source.url": "outlook.office365.com"}, "source.url", "must be an http:// or https:// URL"),
    ({"source.url": 42}, "source.url", "non-empty string"),
    ({"destination.url": DELETE}, "destination.url", "is required for profile 'workmail'"),
    ({"source.profile": "generic", "source.url": DELETE}, "source.url", "is required for profile 'generic'"),
    ({"source.impersonation": False}, "source.impersonation", "needs impersonation = true"),
    ({"destination.auth": DELETE, "destination.impersonation": True}, "destination.impersonation",
     "admin credentials"),
    ({"destination.auth": {"type": "oauth2", "tenant_id": "t", "client_id": "c",
                           "client_secret_env": "GM_DEST_PASSWORD"}}, "destination.auth.type", "accepts only"),
    ({"destination.auth.username": DELETE}, "destination.auth.username", "is required"),
    ({"destination.auth.password_env": DELETE}, "destination.auth.password", "is required"),
    ({"source.max_connections": 28}, "source.max_connections", "between 1 and 27"),
    ({"destination.max_connections": 0}, "destination.max_connections", "between 1 and 64"),
    ({"source.verify_tls": "yes"}, "source.verify_tls", "true or false"),
    ({"source.auth": "oauth2"}, "source.auth", "must be a table"),
    ({"destination": DELETE}, "destination", "is required"),
    ({"migration.accounts": DELETE}, "migration.accounts", "is required"),
    ({"migration.item_types": ["mail", "journal"]}, "migration.item_types", "unknown item type 'journal'"),
    ({"migration.item_types": []}, "migration.item_types", "non-empty list"),
    ({"migration.item_types": ["mail", "mail"]}, "migration.item_types", "twice"),
    ({"migration.mode": "incremental"}, "migration.mode", "must be one of"),
    ({"migration.since": "2026-01-01"}, "migration.since", "without quotes"),
    ({"migration.since": dt.datetime(2026, 1, 1, 8, 0)}, "migration.since", "UTC offset"),
    ({"migration.since": dt.date(2026, 1, 1), "migration.mode": "trial"}, "migration.since", 'mode = "full"'),
    ({"notify.smtp": {"host": "h.example.org", "sender": "a@example.org", "recipients": ["b@example.org"],
                      "security": "tls"}}, "notify.smtp.security", "must be one of"),
    ({"notify.smtp": {"host": "h.example.org", "sender": "nobody", "recipients": ["b@example.org"]}},
     "notify.smtp.sender", "not a valid email address"),
    ({"notify.smtp": {"host": "h.example.org", "sender": "a@example.org", "recipients": []}},
     "notify.smtp.recipients", "non-empty list"),
    ({"notify.smtp": {"host": "h.example.org", "sender": "a@example.org", "recipients": ["b@example.org", "c"]}},
     "notify.smtp.recipients[1]", "not a valid email address"),
    ({"notify.smtp": {"host": "h.example.org", "sender": "a@example.org", "recipients": ["b@example.org"],
                      "username": "u"}}, "notify.smtp.password", "is required"),
    ({"notify.smtp": {"host": "h.example.org", "sender": "a@example.org", "recipients": ["b@example.org"],
                      "password_env": "GM_SMTP_PASSWORD"}}, "notify.smtp.username", "is required"),
    ({"notify.smtp": {"host": "h.example.org", "sender": "a@example.org", "recipients": ["b@example.org"],
                      "port": 0}}, "notify.smtp.port", "between 1 and 65535"),
    ({"notify.smtp": {"sender": "a@example.org", "recipients": ["b@example.org"]}}, "notify.smtp.host", "required"),
    ({"notify.webhook": {"timeout": 5}}, "notify.webhook.url", "is required"),
    ({"notify.webhook": [{"url": "https://a.example.org"}, {"url": "file:///etc/passwd"}]}, "notify.webhook[1].url",
     "http"),
    ({"notify.webhook": {"url": "https://a.example.org", "timeout": 0}}, "notify.webhook.timeout", "above 0"),
    ({"notify.webhook": {"url": "https://a.example.org", "secret_env": "GM_UNSET"}}, "notify.webhook.secret_env",
     "GM_UNSET is not set"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "key", "fragment"), ERRORS, ids=[e[1] + "-" + e[2][:20] for e in ERRORS])
def test_validation_error_names_its_key(write: Any, tmp_path: Path, changes: dict[str, Any], key: str,
                                        fragment: str) -> None:  # fmt: skip
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(write(edited(changes)), env={**ENV, "GM_EMPTY": ""})
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")
    assert fragment in str(info.value)


def test_example_error_messages_read_as_documented(write: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(BASE), env={})
    assert str(info.value) == "source.auth.client_secret_env: environment variable GM_SOURCE_SECRET is not set"
    with pytest.raises(ConfigError) as info:
        load(write(edited({"migration.workers": 100})))
    assert str(info.value) == "migration.workers: must be an integer between 1 and 64"


def test_bad_toml_names_the_line(write: Any) -> None:
    path = write('[source]\nurl = "https://x.example.org"\nprofile = \n')
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 3"):
        load(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load(tmp_path / "nope.toml")


# --------------------------------------------------------------------------------------------
# Building the backends


def test_build_source_and_destination_go_through_the_installed_backend(write: Any) -> None:
    from groupmigrate.backends.ews import EWSDestination, EWSSource

    config = load(write(edited({"source.max_connections": 8, "destination.verify_tls": False})))
    assert (config.source.backend, config.destination.backend) == ("ews", "ews")  # the default when absent
    source, destination = config.source.build_source(), config.destination.build_destination()
    assert isinstance(source, EWSSource) and isinstance(destination, EWSDestination)
    assert source.url == "https://outlook.office365.com/EWS/Exchange.asmx" and source.settings.auth == config.source.auth
    assert source.settings.impersonation and source.settings.verify_tls and source.capabilities.max_connections == 8
    assert source.settings.profile.name == "exchange-online"
    assert destination.settings.verify_tls is False and destination.settings.profile.name == "workmail"


def test_endpoint_config_is_frozen_and_reads_options_as_attributes() -> None:
    endpoint = EndpointConfig(backend="ews", profile="exchange", auth=None, options={"url": None, "impersonation": False})
    assert endpoint.url is None and endpoint.impersonation is False
    with pytest.raises(AttributeError):
        endpoint.url = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no such option"):
        endpoint.folder  # noqa: B018


def test_an_unknown_backend_names_the_key_and_what_is_installed(write: Any) -> None:
    with pytest.raises(ConfigError, match=r"source\.backend: no backend 'imap4' is installed \(installed: .*'ews'.*'memory'"):
        load(write(edited({"source.backend": "imap4"})))


def test_a_key_of_another_backend_is_refused_with_its_name(write: Any) -> None:
    with pytest.raises(ConfigError, match=r"destination\.url: unknown key"):
        load(write(edited({"destination.backend": "memory", "destination.profile": DELETE, "destination.auth": DELETE,
                           "destination.impersonation": DELETE, "destination.verify_tls": DELETE})))  # fmt: skip


def test_config_module_does_not_import_exchangelib() -> None:
    code = "import sys, groupmigrate.frontdoors.config; assert 'exchangelib' not in sys.modules, 'exchangelib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
