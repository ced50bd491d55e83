"""Reading TOML tables for the configuration file: typed values, secrets, and keys named in full.

:class:`Table` hands out checked values of one table and names every key with its full
dotted name in a :class:`~groupmigrate.errors.ConfigError`; :class:`Sources` resolves
relative paths and reads secrets from the environment or from files.

Messages never echo a value that may be a secret given in the wrong place: the value of
``password_env`` is shown only when it looks like a variable name, the value of
``password_file`` only when it looks like a file path, URLs without their user info and
query string, and an invalid address not at all.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from groupmigrate.accounts import address_problem, normalize_address
from groupmigrate.auth import Secret, redact_url
from groupmigrate.errors import ConfigError

__all__ = ["Sources", "Table"]

#: A value of ``*_env`` shown in messages: an upper-case variable name of reasonable length.
_VARIABLE_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


def _looks_like_path(value: str, path: Path) -> bool:
    """Whether the value of a ``*_file`` key may be shown: it names a file that exists, or it is
    written as a path (``/``, ``~``, ``./``) into a directory that exists, without white space."""
    if any(c.isspace() or not c.isprintable() for c in value) or len(value) > 1024:
        return False
    try:
        if path.exists():
            return True
        written_as_path = value.startswith(("/", "~", "./", "../", ".\\", "..\\")) or (os.sep in value) or ("/" in value)
        return written_as_path and path.parent.is_dir() and "=" not in value
    except (OSError, ValueError):
        return False


class Table:
    """A TOML table being read: hands out checked values and names every key in full."""

    def __init__(self, data: Mapping[str, Any], prefix: str, sources: Sources) -> None:
        self._data = data
        self._prefix = prefix
        self._sources = sources

    def key(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def only(self, *names: str, secrets: tuple[str, ...] = ()) -> None:
        """Reject keys other than ``names`` and the three spellings of each secret."""
        allowed = set(names) | {f"{s}{suffix}" for s in secrets for suffix in ("", "_env", "_file")}
        unknown = sorted(k for k in self._data if k not in allowed)
        if unknown:
            raise ConfigError("unknown key", key=self.key(unknown[0]))

    def raw(self, name: str) -> Any:
        """The value of ``name`` as parsed, unchecked (None when absent)."""
        return self._data.get(name)

    def table(self, name: str) -> Table | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ConfigError("must be a table", key=self.key(name))
        return Table(value, self.key(name), self._sources)

    def tables(self, name: str) -> list[Table]:
        """A table or an array of tables (``[[notify.webhook]]``), as a list."""
        value = self._data.get(name)
        if value is None:
            return []
        if isinstance(value, dict):
            return [Table(value, self.key(name), self._sources)]
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return [Table(v, f"{self.key(name)}[{i}]", self._sources) for i, v in enumerate(value)]
        raise ConfigError("must be a table or an array of tables", key=self.key(name))

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._data.get(name)
        if value is None:
            if required:
                raise ConfigError("is required", key=self.key(name))
            return default
        if not isinstance(value, str) or not value.strip():
            raise ConfigError("must be a non-empty string", key=self.key(name))
        return value.strip()

    def required_string(self, name: str) -> str:
        value = self.string(name)
        if value is None:
            raise ConfigError("is required", key=self.key(name))
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.string(name, required=default is None, default=default)
        if value not in choices:
            expected = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"must be one of {expected}, not {value!r}", key=self.key(name))
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self._data.get(name, default)
        # bool is an int subclass: reject ``workers = true`` explicitly.
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"must be an integer between {low} and {high}", key=self.key(name))
        return value

    def seconds(self, name: str, default: float) -> float:
        value = self._data.get(name, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 600:
            raise ConfigError("must be a number of seconds above 0 and at most 600", key=self.key(name))
        return float(value)

    def url(self, name: str) -> str | None:
        value = self.string(name)
        if value is not None:
            parts = urllib.parse.urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # Not shown: a URL of this kind often carries a token.
                raise ConfigError("must be an http:// or https:// URL (the value is not shown)", key=self.key(name))
        return value

    def path(self, name: str) -> Path | None:
        value = self.string(name)
        return None if value is None else self._sources.resolve(value)

    def address(self, name: str, value: object | None = None) -> str:
        raw = self.raw(name) if value is None else value
        key = self.key(name)
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError("must be an email address", key=key)
        try:
            return normalize_address(raw.strip())
        except ValueError as exc:
            # Not shown: a value out of place may be a password.
            raise ConfigError(f"is not a valid email address: {address_problem(exc)} (the value is not shown)", key=key) from None

    def secret(self, name: str, *, required: bool) -> Secret | None:
        """Read a secret given as ``name``, ``name_env`` or ``name_file`` (exactly one)."""
        given = [k for k in (name, f"{name}_env", f"{name}_file") if k in self._data]
        if len(given) > 1:
            raise ConfigError(f"give only one of {', '.join(given)}", key=self.key(given[1]))
        if not given:
            if required:
                raise ConfigError(f"is required (as {name}_env, {name}_file or {name})", key=self.key(name))
            return None
        key = given[0]
        value = self._data[key]
        if not isinstance(value, str) or not value:
            # Never echo the value: it may be the secret itself.
            raise ConfigError("must be a non-empty string", key=self.key(key))
        if key.endswith("_env"):
            return self._sources.secret_from_env(value, self.key(key))
        if key.endswith("_file"):
            return self._sources.secret_from_file(value, self.key(key))
        self._sources.warnings.append(
            f"{self.key(key)}: the secret is written in the configuration file; prefer {key}_env or {key}_file"
        )
        return Secret(value)

    def required_secret(self, name: str) -> Secret:
        secret = self.secret(name, required=True)
        if secret is None:  # pragma: no cover - secret(required=True) raises first
            raise ConfigError("is required", key=self.key(name))
        return secret


class Sources:
    """Where relative paths and secrets come from: the configuration file's directory, the environment."""

    def __init__(self, base: Path, environ: Mapping[str, str]) -> None:
        self._base = base
        self._environ = environ
        self.warnings: list[str] = []

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self._base / path

    def secret_from_env(self, variable: str, key: str) -> Secret:
        short = key.rsplit(".", 1)[-1]
        named = f"environment variable {variable}" if _VARIABLE_NAME.match(variable) else (
            f"the environment variable named in {short} (the value is not shown: it does not look like a "
            "variable name; is it the secret itself?)"
        )
        value = self._environ.get(variable)
        if value is None:
            raise ConfigError(f"{named} is not set", key=key)
        if not value.strip():
            raise ConfigError(f"{named} is empty", key=key)
        # A variable filled from a file (``export X=$(cat f)`` keeps no newline, ``docker --env-file``
        # and some CI systems do) ends with a newline that is not part of the secret.
        return Secret(value.rstrip("\r\n"))

    def secret_from_file(self, name: str, key: str) -> Secret:
        path = self.resolve(name)
        short = key.rsplit(".", 1)[-1]
        where = str(path) if _looks_like_path(name, path) else (
            f"the file named in {short} (the value is not shown: it does not look like a file path; "
            "is it the secret itself?)"
        )
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror}", key=key) from None
        except UnicodeDecodeError:
            raise ConfigError(f"{where} is not UTF-8 text", key=key) from None
        except ValueError:  # e.g. a NUL character in the value
            raise ConfigError(f"cannot read {where}", key=key) from None
        # Secret files written by editors or `echo` end with a newline that is not part of it.
        value = text.removeprefix("\ufeff").rstrip("\r\n")
        if not value.strip():
            raise ConfigError(f"{where} is empty", key=key)
        return Secret(value)
