"""The ``[workers]`` table of a configuration file: a migration on many worker processes.

See ``docs/howto/many-workers.rst``. Broker and Redis URLs are written without passwords;
passwords come from ``broker_password_env`` / ``_file`` and ``limits_password_env`` / ``_file``.
"""

from __future__ import annotations

import attrs

from groupmigrate.auth import Secret
from groupmigrate.errors import ConfigError
from groupmigrate.frontdoors.tables import Table

__all__ = ["WorkersConfig", "read_workers"]


@attrs.frozen
class WorkersConfig:
    """The ``[workers]`` table: running a migration on many worker processes (Celery).

    Attributes:
        broker: The Celery broker's URL (``redis://host:6379/0``), without its password.
        broker_password: The broker's password (``broker_password_env`` / ``_file``), if any.
        limits: The Redis that keeps each server's connection limit for all workers
            (``redis://host:6379/1``); None: each worker keeps only its own limits.
        limits_password: Its password, if any.
        source_connections: Concurrent requests to the source server, all workers together
            (Exchange Online: 27 per app); None: not limited across workers.
        destination_connections: The same for the destination.
        per_mailbox: Sides whose limit counts per mailbox (Dovecot: connections per user).
        lease: Seconds a worker's hold on an account lasts without renewal (a worker that
            dies gives its accounts back after this); also the lease of the server slots.
        visibility_timeout: Seconds before the broker hands a task whose worker vanished to
            another worker.
    """

    broker: str
    broker_password: Secret | None = None
    limits: str | None = None
    limits_password: Secret | None = None
    source_connections: int | None = None
    destination_connections: int | None = None
    per_mailbox: tuple[str, ...] = ()
    lease: float = 60.0
    visibility_timeout: float = 600.0

    def broker_url(self) -> str:
        """The broker URL with its password (for the Celery app only; never log it)."""
        return _with_password(self.broker, self.broker_password)

    def limits_url(self) -> str | None:
        return None if self.limits is None else _with_password(self.limits, self.limits_password)


def _with_password(url: str, password: Secret | None) -> str:
    import urllib.parse

    if password is None:
        return url
    parts = urllib.parse.urlsplit(url)
    user = urllib.parse.unquote(parts.username or "")
    netloc = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password.reveal(), safe='')}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def read_workers(table: Table) -> WorkersConfig:
    table.only("broker", "limits", "source_connections", "destination_connections", "per_mailbox", "lease",
               "visibility_timeout", secrets=("broker_password", "limits_password"))  # fmt: skip
    urls: dict[str, str | None] = {}
    for name in ("broker", "limits"):
        value = table.string(name)
        if value is not None and (":" in (value.split("//", 1)[1].split("@", 1)[0] if "@" in value else "")):
            raise ConfigError(f"must not hold a password; give it as {name}_password_env or {name}_password_file",
                              key=table.key(name))  # fmt: skip
        if value is not None and not value.startswith(("redis://", "rediss://", "amqp://", "amqps://", "unix://")):
            raise ConfigError("must be a redis://, rediss://, amqp:// or unix:// URL", key=table.key(name))
        urls[name] = value
    if urls["broker"] is None:
        raise ConfigError("is required (the Celery broker, e.g. redis://127.0.0.1:6379/0)", key=table.key("broker"))
    limits = urls["limits"]
    if limits is not None and not limits.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("must be a Redis URL (redis://, rediss:// or unix://)", key=table.key("limits"))
    per_mailbox = table.raw("per_mailbox") or []
    if not isinstance(per_mailbox, list) or any(s not in ("source", "destination") for s in per_mailbox):
        raise ConfigError('must be a list of "source" and "destination"', key=table.key("per_mailbox"))
    connections = {}
    for name in ("source_connections", "destination_connections"):
        connections[name] = table.integer(name, 0, 0, 10_000) or None
    lease = table.raw("lease")
    visibility = table.raw("visibility_timeout")
    for name, value in (("lease", lease), ("visibility_timeout", visibility)):
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or not 1 <= value <= 86_400):
            raise ConfigError("must be a number of seconds from 1 to 86400", key=table.key(name))
    return WorkersConfig(
        broker=urls["broker"], broker_password=table.secret("broker_password", required=False),
        limits=limits, limits_password=table.secret("limits_password", required=False),
        source_connections=connections["source_connections"],
        destination_connections=connections["destination_connections"],
        per_mailbox=tuple(per_mailbox), lease=float(lease or 60.0), visibility_timeout=float(visibility or 600.0),
    )  # fmt: skip
