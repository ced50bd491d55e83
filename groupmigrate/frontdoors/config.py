"""The TOML configuration file: endpoints, migration settings and notifications.

A complete example is ``docs/examples/migration.toml``. Every value is checked when the file
is loaded, and a :class:`~groupmigrate.errors.ConfigError` names the offending key with its
full dotted name (``source.auth.client_secret_env``, ``migration.workers``). Unknown keys are
errors too, so a typo never silently falls back to a default.

Secrets (passwords, client secrets, webhook keys) are given one of three ways, e.g. for
``password``: ``password_env`` (the name of an environment variable), ``password_file`` (a
file holding only the secret, such as a container secret) or ``password`` (the secret itself
in the file; accepted, but warned about). They are held as :class:`~groupmigrate.auth.Secret`
and appear in no repr, message or log.

Relative paths (the accounts file, the state store, the report, secret files) are taken
relative to the directory of the configuration file.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib  # Python 3.11+: the package requires 3.11 for it
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast, get_args

import attrs

from groupmigrate.accounts import AccountPair, Side, read_accounts_csv
from groupmigrate.core.state.url import is_postgres_url, mask_url, url_passwords
from groupmigrate.auth import Auth, BasicAuth, OAuth2ClientCredentials
from groupmigrate.errors import ConfigError
from groupmigrate.items import ALL_ITEM_TYPES, ItemType
from groupmigrate.frontdoors.notify import Notifier, SmtpNotifier, WebhookNotifier
from groupmigrate.frontdoors.tables import Sources, Table
from groupmigrate.frontdoors.workers_config import WorkersConfig, read_workers
from groupmigrate.plugins import Backend, Settings, get_backend
from groupmigrate.protocols import Destination, Source

__all__ = [
    "CombinedEndpointConfig",
    "Config",
    "EndpointConfig",
    "InsecureConfigWarning",
    "MigrationConfig",
    "WorkersConfig",
    "load_config",
]

Mode = Literal["full", "trial", "delta"]
_MODES: tuple[str, ...] = get_args(Mode)
_MAX_WORKERS = 64
_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class InsecureConfigWarning(UserWarning):
    """A secret is written in the configuration file itself."""


@attrs.frozen
class EndpointConfig:
    """One server endpoint: the ``[source]`` or ``[destination]`` table.

    ``backend`` names an installed backend (``groupmigrate backends`` lists them; ``ews`` when
    the table names none, as files written for earlier versions do); the table's other keys
    are that backend's options, checked against its schema.

    Attributes:
        backend: The backend's name.
        profile: One of the backend's profiles.
        auth: The endpoint's own credentials (an admin with impersonation, or app-only
            OAuth); None when every account brings its own in the accounts file.
        options: The backend's options, checked and completed.
    """

    backend: str
    profile: str
    auth: Auth | None
    options: Mapping[str, Any] = attrs.field(factory=dict)

    def __getattr__(self, name: str) -> Any:
        # ``endpoint.url``, ``endpoint.max_connections``...: the backend's options read as attributes.
        try:
            options = object.__getattribute__(self, "options")
        except AttributeError:
            raise AttributeError(name) from None
        if name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r} (backend {self.backend!r} has no such option)")

    def settings(self) -> Settings:
        return Settings(self.backend, self.profile, self.options, self.auth)

    def build_source(self) -> Source:
        """Create the source for this endpoint (imports the backend's libraries on first use)."""
        return get_backend(self.backend).build_source(self.settings())

    def build_destination(self) -> Destination:
        """Create the destination for this endpoint (imports the backend's libraries on first use)."""
        return get_backend(self.backend).build_destination(self.settings())

    def describe(self) -> str:
        """How the endpoint is named in messages: its URL, file or profile (never a secret)."""
        for name in ("url", "file", "host"):
            value = self.options.get(name)
            if value:
                return str(value)
        return f"{self.backend}:{self.profile}"


@attrs.frozen
class CombinedEndpointConfig:
    """A side whose item types live on several servers: ``[destination]`` names an endpoint
    per item type (``mail = "imap"``, ``calendar = "dav"``), and each endpoint is a table of
    its own under it (``[destination.imap]``, ``[destination.dav]``; its ``backend`` is the
    table's name unless it says otherwise).

    Attributes:
        types: item type → the name of the endpoint holding it.
        endpoints: endpoint name → its configuration.
    """

    types: Mapping[ItemType, str]
    endpoints: Mapping[str, EndpointConfig]

    @property
    def backend(self) -> str:
        return "+".join(dict.fromkeys(e.backend for e in self.endpoints.values()))

    @property
    def auth(self) -> Auth | None:
        """The credentials shared by every endpoint, if they all have the same (else None)."""
        found = {id(e.auth): e.auth for e in self.endpoints.values()}
        return next(iter(found.values())) if len(found) == 1 else None

    def needs_account_credentials(self) -> bool:
        """Whether an endpoint opens mailboxes only with per-account credentials."""
        return any(e.auth is None and get_backend(e.backend).requires_credentials for e in self.endpoints.values())

    def build_source(self) -> Source:
        from groupmigrate.core.combined import CombinedSource

        built = {name: e.build_source() for name, e in self.endpoints.items()}
        return CombinedSource({kind: built[name] for kind, name in self.types.items()})

    def build_destination(self) -> Destination:
        from groupmigrate.core.combined import CombinedDestination

        built = {name: e.build_destination() for name, e in self.endpoints.items()}
        return CombinedDestination({kind: built[name] for kind, name in self.types.items()})

    def describe(self) -> str:
        by_endpoint: dict[str, list[str]] = {}
        for kind, name in self.types.items():
            by_endpoint.setdefault(name, []).append(kind)
        return "; ".join(f"{', '.join(kinds)}: {self.endpoints[name].describe()}" for name, kinds in by_endpoint.items())


Endpoint = EndpointConfig | CombinedEndpointConfig


def _state_repr(state: Path | str) -> str:
    return repr(mask_url(state) if isinstance(state, str) else state)


@attrs.frozen
class MigrationConfig:
    """The ``[migration]`` table.

    Attributes:
        accounts: The accounts CSV file.
        item_types: The item types to migrate.
        mode: ``full``, ``trial`` (the last 10 days) or ``delta`` (new since the last run).
        since: In ``full`` mode, migrate only items from this time on (time-zone aware;
            a plain date means midnight UTC).
        workers: Accounts migrated in parallel.
        state: The state store: a SQLite file (a path, relative to the configuration file), or
            a PostgreSQL database given as a ``postgresql://`` URL (kept as written; its password
            is best left to ``PGPASSWORD`` or ``~/.pgpass``, and is never shown in a repr).
        report: Where to write the HTML report, or None for no file.
    """

    accounts: Path
    item_types: tuple[ItemType, ...] = ALL_ITEM_TYPES
    mode: Mode = "full"
    since: dt.datetime | None = None
    workers: int = 4
    state: Path | str = attrs.field(default=Path("migration.db"), repr=_state_repr)
    report: Path | None = None


@attrs.frozen
class Config:
    """A loaded configuration file (see :func:`load_config`).

    Attributes:
        path: The configuration file.
        source: The source endpoint.
        destination: The destination endpoint.
        migration: What to migrate and where to keep state.
        notifiers: Who is told about submission, start and end (mail, webhooks).
    """

    path: Path
    source: Endpoint
    destination: Endpoint
    migration: MigrationConfig
    notifiers: tuple[Notifier, ...] = ()
    workers: WorkersConfig | None = None

    def read_accounts(self) -> list[AccountPair]:
        """Read the accounts file named by ``migration.accounts``.

        A side without admin credentials (no ``[source.auth]`` or ``[destination.auth]``)
        needs per-user credentials on every row; a row without them is reported.

        Raises:
            AccountsFileError: The accounts file has problems.
        """
        sides: list[Side] = []
        for name, side in (("source", self.source), ("destination", self.destination)):
            if isinstance(side, CombinedEndpointConfig):
                needed = side.needs_account_credentials()
            else:
                needed = side.auth is None and get_backend(side.backend).requires_credentials
            if needed:
                sides.append(cast(Side, name))
        return read_accounts_csv(self.migration.accounts, require_auth=sides)


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Config:
    """Load and check a TOML configuration file.

    Args:
        path: The configuration file.
        environ: Where ``*_env`` keys look their variables up; default ``os.environ``.

    Returns:
        The configuration, every value checked.

    Raises:
        ConfigError: The file cannot be read, is not valid TOML, or has a missing, unknown or
            invalid key; ``error.key`` is the key's dotted name.

    Warns:
        InsecureConfigWarning: A secret is written in the file itself.
    """
    file = Path(path)
    try:
        with file.open("rb") as stream:
            data = tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the configuration file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message ends with "(at line N, column M)"; it never quotes values.
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not valid TOML: the file is not UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{file}: not a configuration file: tables or arrays are nested too deeply") from None
    loader = _Loader(file.resolve().parent, os.environ if environ is None else environ)
    config = loader.config(file, data)
    for message in loader.warnings:
        warnings.warn(InsecureConfigWarning(message), stacklevel=2)
    return config


class _Loader(Sources):
    """Builds a :class:`Config` from parsed TOML, one section at a time."""

    def config(self, file: Path, data: Mapping[str, Any]) -> Config:
        root = Table(data, "", self)
        root.only("source", "destination", "migration", "notify", "workers")
        source = self.side(_required_table(root, "source"))
        destination = self.side(_required_table(root, "destination"))
        migration = self.migration(_required_table(root, "migration"))
        notify = root.table("notify")
        notifiers = self.notifiers(notify) if notify is not None else ()
        workers = root.table("workers")
        return Config(file, source, destination, migration, notifiers, read_workers(workers) if workers is not None else None)

    def side(self, table: Table) -> Endpoint:
        """One side: an endpoint, or (when it names an endpoint per item type) a combination."""
        if not any(table.raw(kind) is not None for kind in ALL_ITEM_TYPES):
            return self.endpoint(table)
        types: dict[ItemType, str] = {}
        for kind in ALL_ITEM_TYPES:
            name = table.raw(kind)
            if name is None:
                continue
            if not isinstance(name, str) or not name.strip():
                raise ConfigError("must name an endpoint table under this one (mail = \"imap\" with [...imap])",
                                  key=table.key(kind))  # fmt: skip
            types[kind] = name.strip()
        names = tuple(dict.fromkeys(types.values()))
        table.only(*ALL_ITEM_TYPES, *names)
        endpoints: dict[str, EndpointConfig] = {}
        for name in names:
            sub = table.table(name)
            if sub is None:
                kind = next(k for k, n in types.items() if n == name)
                raise ConfigError(f"names the endpoint {name!r}, but there is no [{table.key(name)}] table",
                                  key=table.key(kind))  # fmt: skip
            endpoints[name] = self.endpoint(sub, default_backend=name)
        for kind, name in types.items():
            backend = get_backend(endpoints[name].backend)
            holds = set().union(*(caps.item_types for caps in backend.profiles.values()))
            if kind not in holds:
                raise ConfigError(f"the endpoint {name!r} (backend {backend.name!r}) cannot hold {kind}", key=table.key(kind))
        return CombinedEndpointConfig(types, endpoints)

    def endpoint(self, table: Table, default_backend: str = "ews") -> EndpointConfig:
        name = table.string("backend", default=default_backend) or default_backend
        try:
            backend = get_backend(name)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key=table.key("backend")) from None
        secrets = tuple(o.name for o in backend.options if o.kind == "secret")
        table.only("backend", "profile", "auth", *(o.name for o in backend.options if o.kind != "secret"), secrets=secrets)
        profile = table.string("profile")
        auth_table = table.table("auth")
        auth = self.auth(auth_table, backend) if auth_table is not None else None
        values: dict[str, Any] = {}
        for option in backend.options:
            if option.kind == "secret":
                values[option.name] = table.secret(option.name, required=False)
            elif option.kind == "path":
                values[option.name] = table.path(option.name)
            elif table.raw(option.name) is not None:
                values[option.name] = table.raw(option.name)
        try:
            settings = backend.settings(values, profile, auth)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key=table.key(exc.key or "backend")) from None
        return EndpointConfig(backend.name, settings.profile, auth, dict(settings.options))

    def auth(self, table: Table, backend: Backend) -> Auth:
        kind = table.choice("type", tuple(k for k in backend.credentials if k in ("basic", "oauth2")))
        if kind == "basic":
            table.only("type", "username", secrets=("password",))
            return BasicAuth(table.required_string("username"), table.required_secret("password"))
        table.only(
            "type", "tenant_id", "client_id", "token_url", "scope", "certificate_file", "thumbprint",
            secrets=("client_secret", "private_key", "private_key_password"),
        )  # fmt: skip
        scope = table.string("scope")
        private_key = table.secret("private_key", required=False)
        client_secret = table.secret("client_secret", required=private_key is None)
        certificate_file = table.path("certificate_file")
        certificate = None
        if certificate_file is not None:
            try:
                certificate = certificate_file.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read the certificate {certificate_file}: {getattr(exc, 'strerror', None) or 'not a PEM file'}",
                                  key=table.key("certificate_file")) from None  # fmt: skip
        fields: dict[str, Any] = {
            "tenant_id": table.required_string("tenant_id"),
            "client_id": table.required_string("client_id"),
            "client_secret": client_secret,
            "token_url": table.url("token_url"),
            "private_key": private_key,
            "certificate": certificate,
            "thumbprint": table.string("thumbprint"),
            "private_key_password": table.secret("private_key_password", required=False),
            **({"scope": scope} if scope else {}),
        }
        try:
            return OAuth2ClientCredentials(**fields)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key=table.key(exc.key or "type")) from None

    def migration(self, table: Table) -> MigrationConfig:
        table.only("accounts", "item_types", "mode", "since", "workers", "state", "report")
        accounts = table.path("accounts")
        if accounts is None:
            raise ConfigError("is required (the accounts CSV file)", key=table.key("accounts"))
        mode = cast(Mode, table.choice("mode", _MODES, default="full"))
        since = _since(table)
        if since is not None and mode != "full":
            raise ConfigError(f'applies only to mode = "full" (mode is {mode!r})', key=table.key("since"))
        return MigrationConfig(
            accounts=accounts,
            item_types=_item_types(table),
            mode=mode,
            since=since,
            workers=table.integer("workers", 4, 1, _MAX_WORKERS),
            state=self.state(table),
            report=table.path("report"),
        )

    def state(self, table: Table) -> Path | str:
        """A path (resolved like every path), or a PostgreSQL URL (kept as it is)."""
        value = table.string("state") or "migration.db"
        if not is_postgres_url(value):
            return self.resolve(value)
        if url_passwords(value):
            self.warnings.append(
                f"{table.key('state')}: the database password is written in the configuration file; "
                "prefer PGPASSWORD or a ~/.pgpass file (or PGPASSFILE)"
            )
        return value

    def notifiers(self, table: Table) -> tuple[Notifier, ...]:
        table.only("smtp", "webhook")
        found: list[Notifier] = [self.smtp(t) for t in table.tables("smtp")]
        found += [self.webhook(t) for t in table.tables("webhook")]
        return tuple(found)

    def smtp(self, table: Table) -> SmtpNotifier:
        table.only("host", "port", "security", "username", "sender", "recipients", "timeout", secrets=("password",))
        security = table.choice("security", tuple(_SMTP_PORTS), default="starttls")
        username = table.string("username")
        password = table.secret("password", required=username is not None)
        if password is not None and username is None:
            raise ConfigError("is required when a password is given", key=table.key("username"))
        return SmtpNotifier(
            host=table.required_string("host"),
            port=table.integer("port", _SMTP_PORTS[security], 1, 65535),
            sender=table.address("sender"),
            recipients=_recipients(table),
            security=cast(Literal["starttls", "ssl", "none"], security),
            username=username,
            password=password,
            timeout=table.seconds("timeout", 30),
        )

    def webhook(self, table: Table) -> WebhookNotifier:
        table.only("url", "timeout", secrets=("secret",))
        url = table.url("url")
        if url is None:
            raise ConfigError("is required", key=table.key("url"))
        return WebhookNotifier(url, secret=table.secret("secret", required=False), timeout=table.seconds("timeout", 10))


def _required_table(root: Table, name: str) -> Table:
    table = root.table(name)
    if table is None:
        raise ConfigError(f"the [{name}] table is required", key=name)
    return table


def _item_types(table: Table) -> tuple[ItemType, ...]:
    value = table.raw("item_types")
    key = table.key("item_types")
    if value is None:
        return ALL_ITEM_TYPES
    if not isinstance(value, list) or not value:
        raise ConfigError(f"must be a non-empty list of {', '.join(ALL_ITEM_TYPES)}", key=key)
    for item_type in value:
        if item_type not in ALL_ITEM_TYPES:
            raise ConfigError(f"unknown item type {item_type!r}; expected {', '.join(ALL_ITEM_TYPES)}", key=key)
    if len(set(value)) != len(value):
        raise ConfigError("lists an item type twice", key=key)
    return tuple(cast(list[ItemType], value))


def _since(table: Table) -> dt.datetime | None:
    value = table.raw("since")
    key = table.key("since")
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            message = "a date-time needs a UTC offset, e.g. 2026-01-01T00:00:00Z (or give a plain date)"
            raise ConfigError(message, key=key)
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.timezone.utc)
    raise ConfigError("must be a TOML date (since = 2026-01-01) or offset date-time, without quotes", key=key)


def _recipients(table: Table) -> list[str]:
    value = table.raw("recipients")
    if not isinstance(value, list) or not value:
        raise ConfigError("must be a non-empty list of email addresses", key=table.key("recipients"))
    return [table.address(f"recipients[{i}]", item) for i, item in enumerate(value)]
