"""Backends as plug-ins: what a backend declares, and how installed backends are found.

A backend is one folder (``groupmigrate/backends/<name>/`` in this package, or any module of
another distribution) exposing a :class:`Backend` object, registered in the
``groupmigrate.backends`` entry-point group::

    # pyproject.toml of a package shipping a backend
    [project.entry-points."groupmigrate.backends"]
    dirmail = "gm_dirmail:BACKEND"

The core reads only what the object declares: its options (the configuration schema of its
``[source]`` / ``[destination]`` table), the kinds of credentials it accepts, its profiles
with their :class:`~groupmigrate.capabilities.Capabilities`, and factories for a source and a
destination. Nothing in the core names a concrete backend.
"""

from __future__ import annotations

import importlib.metadata
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from groupmigrate.auth import Credentials, Secret
from groupmigrate.capabilities import Capabilities
from groupmigrate.errors import ConfigError

if TYPE_CHECKING:
    from groupmigrate.protocols import Destination, Source

__all__ = ["ENTRY_POINT_GROUP", "OPTION_KINDS", "Backend", "Option", "Settings", "available_backends", "get_backend"]

#: The entry-point group backends register in.
ENTRY_POINT_GROUP = "groupmigrate.backends"
#: What an option's value may be: text, an http(s) URL, a boolean, an integer in a range, a
#: path (relative to the configuration file), one of ``choices``, or a secret (given as the
#: value, ``<name>_env`` or ``<name>_file``, never shown).
OPTION_KINDS = ("string", "url", "bool", "int", "path", "choice", "secret")


@attrs.frozen
class Option:
    """One key of a backend's configuration table."""

    name: str
    kind: str = attrs.field(validator=attrs.validators.in_(OPTION_KINDS))
    help: str = ""
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 1_000_000


@attrs.frozen
class Settings:
    """A configured endpoint, as a backend's factories receive it.

    ``options`` holds every declared option (missing ones at their default) after the
    backend's own ``prepare`` hook checked and completed them.
    """

    backend: str
    profile: str
    options: Mapping[str, Any]
    auth: Credentials | None = None


def _no_prepare(options: dict[str, Any], profile: str, auth: Credentials | None) -> dict[str, Any]:
    return options


@attrs.frozen
class Backend:
    """What a backend declares to the core.

    Attributes:
        name: the name configuration files use (``backend = "ews"``).
        summary: one line for ``groupmigrate backends``.
        options: its configuration schema.
        credentials: the :attr:`Credentials.kind` values it accepts in ``[<side>.auth]``.
        requires_credentials: every mailbox needs credentials (the endpoint's, or per account
            in the accounts file); False for servers that open mailboxes without them.
        profiles: profile name → capabilities (a backend without variants has one profile).
        default_profile: the profile used when the table names none.
        source: builds a :class:`~groupmigrate.protocols.Source` from settings (None: cannot read).
        destination: builds a :class:`~groupmigrate.protocols.Destination` (None: cannot write).
        prepare: checks options together and fills defaults that depend on each other; raises
            :class:`~groupmigrate.errors.ConfigError` with ``key`` set to the option's name.
        demo: ``demo(role)`` (``"source"`` or ``"destination"``) gives a demo server for
            ``groupmigrate demo``: an object with ``description``, ``capabilities``,
            ``add_mailbox(address, password=None)``, ``seed_folder``, ``seed_message(address,
            path, mime, **fields)``, ``seed_item(address, item)``, ``add_resolvable``,
            ``write_operations()``, ``endpoint()`` and ``close()`` (None: no demo server).
    """

    name: str
    summary: str
    options: tuple[Option, ...]
    profiles: Mapping[str, Capabilities]
    default_profile: str
    credentials: tuple[str, ...] = ()
    requires_credentials: bool = True
    source: Callable[[Settings], Source] | None = None
    destination: Callable[[Settings], Destination] | None = None
    prepare: Callable[[dict[str, Any], str, Credentials | None], dict[str, Any]] = _no_prepare
    demo: Callable[[str], Any] | None = None

    def settings(self, options: Mapping[str, Any], profile: str | None = None, auth: Credentials | None = None) -> Settings:
        """Check ``options`` against the schema (as a configuration file's values would be) and
        return the settings the factories take.

        Raises:
            ConfigError: naming the option (``key``) that is unknown, missing or invalid.
        """
        profile = profile or self.default_profile
        if profile not in self.profiles:
            raise ConfigError(f"must be one of {', '.join(repr(p) for p in self.profiles)}, not {profile!r}", key="profile")
        if auth is not None and auth.kind not in self.credentials:
            accepted = ", ".join(repr(c) for c in self.credentials) or "none"
            raise ConfigError(f"backend {self.name!r} accepts credentials of type {accepted}, not {auth.kind!r}", key="auth.type")
        known = {o.name: o for o in self.options}
        for name in options:
            if name not in known:
                raise ConfigError(f"unknown key for backend {self.name!r}", key=name)
        values: dict[str, Any] = {}
        for option in self.options:
            value = options.get(option.name)
            if value is None:
                if option.required:
                    raise ConfigError("is required", key=option.name)
                values[option.name] = option.default
            else:
                values[option.name] = check_value(option, value)
        return Settings(self.name, profile, self.prepare(values, profile, auth), auth)

    def build_source(self, settings: Settings) -> Source:
        if self.source is None:
            raise ConfigError(f"backend {self.name!r} cannot be a source", key="backend")
        return self.source(settings)

    def build_destination(self, settings: Settings) -> Destination:
        if self.destination is None:
            raise ConfigError(f"backend {self.name!r} cannot be a destination", key="backend")
        return self.destination(settings)


def check_value(option: Option, value: Any) -> Any:
    """``value`` checked against ``option``'s kind; ConfigError (``key`` = the option's name) if wrong."""
    kind, key = option.kind, option.name
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError("must be true or false", key=key)
        return value
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or not option.low <= value <= option.high:
            raise ConfigError(f"must be an integer between {option.low} and {option.high}", key=key)
        return value
    if kind == "secret":
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str) or not value:
            raise ConfigError("must be a non-empty string", key=key)  # never echo: it may be the secret
        return Secret(value)
    if kind == "path" and isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("must be a non-empty string", key=key)
    value = value.strip()
    if kind == "url":
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"must be an http:// or https:// URL, not {value!r}", key=key)
    if kind == "choice" and value not in option.choices:
        raise ConfigError(f"must be one of {', '.join(repr(c) for c in option.choices)}, not {value!r}", key=key)
    return Path(value) if kind == "path" else value


_lock = threading.Lock()
_found: dict[str, Backend] | None = None


def available_backends(refresh: bool = False) -> dict[str, Backend]:
    """Every backend installed (entry points of the ``groupmigrate.backends`` group), by name.

    A backend whose entry point cannot be loaded is left out; :func:`get_backend` names it
    with the reason.
    """
    global _found
    with _lock:
        if _found is None or refresh:
            found: dict[str, Backend] = {}
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                try:
                    backend = ep.load()
                except Exception:  # a broken third-party package must not break the others
                    continue
                if isinstance(backend, Backend):
                    found.setdefault(ep.name, backend)
            _found = found
        return dict(_found)


def get_backend(name: str) -> Backend:
    """The installed backend called ``name``.

    Raises:
        ConfigError: no such backend is installed (or it cannot be loaded: the reason is given).
    """
    backends = available_backends()
    if name in backends:
        return backends[name]
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            loaded = ep.load()
        except Exception as exc:
            raise ConfigError(f"backend {name!r} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}", key="backend") from None
        raise ConfigError(f"entry point {ep.value} of backend {name!r} is not a groupmigrate Backend: {loaded!r}", key="backend")
    installed = ", ".join(repr(n) for n in sorted(backends)) or "none"
    raise ConfigError(f"no backend {name!r} is installed (installed: {installed})", key="backend")
