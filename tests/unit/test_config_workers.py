"""The ``[workers]`` table: the Celery broker, the Redis of the shared limits, leases; every
mistake names its key, and no password is ever written in a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from groupmigrate.errors import ConfigError
from groupmigrate.frontdoors.config import load_config

HEAD = """
[source]
backend = "memory"
[destination]
backend = "memory"
[migration]
accounts = "accounts.csv"
state = "postgresql://gm@db.internal/groupmigrate"
"""


def load(tmp_path: Path, workers: str, env: dict[str, str] | None = None):
    path = tmp_path / "migration.toml"
    path.write_text(HEAD + "[workers]\n" + workers, encoding="utf-8")
    return load_config(path, environ=env or {})


def test_the_workers_table_with_passwords_from_the_environment(tmp_path: Path) -> None:
    config = load(tmp_path, 'broker = "redis://redis.internal:6379/0"\nbroker_password_env = "RP"\n'
                            'limits = "redis://redis.internal:6379/1"\nlimits_password_env = "RP"\n'
                            'source_connections = 27\nper_mailbox = ["destination"]\nlease = 30\n',
                  env={"RP": "S3cret/p@ss"})  # fmt: skip
    workers = config.workers
    assert workers is not None
    assert workers.broker_url() == "redis://:S3cret%2Fp%40ss@redis.internal:6379/0"
    assert workers.limits_url() == "redis://:S3cret%2Fp%40ss@redis.internal:6379/1"
    assert (workers.source_connections, workers.destination_connections, workers.per_mailbox, workers.lease) == (
        27, None, ("destination",), 30.0)
    assert "S3cret" not in repr(config)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('limits = "redis://x:6379/1"\n', "workers.broker"),
        ('broker = "redis://:inline-pw@x:6379/0"\n', "workers.broker"),
        ('broker = "http://x"\n', "workers.broker"),
        ('broker = "redis://x/0"\nlimits = "amqp://x"\n', "workers.limits"),
        ('broker = "redis://x/0"\nper_mailbox = ["both"]\n', "workers.per_mailbox"),
        ('broker = "redis://x/0"\nlease = 0\n', "workers.lease"),
        ('broker = "redis://x/0"\nsource_connections = -1\n', "workers.source_connections"),
        ('broker = "redis://x/0"\nqueue = "q"\n', "workers.queue"),
    ],
)
def test_mistakes_name_their_key_and_never_the_password(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert raised.value.key == key
    assert "inline-pw" not in str(raised.value)
