"""A side naming an endpoint per item type: ``mail = "imap"``, ``calendar = "dav"``."""

from __future__ import annotations

from pathlib import Path

import pytest

from groupmigrate.core.combined import CombinedDestination
from groupmigrate.errors import ConfigError
from groupmigrate.frontdoors.config import CombinedEndpointConfig, load_config

HEAD = """
[source]
backend = "memory"
file = "source.pickle"

[migration]
accounts = "accounts.csv"
"""

COMBINED = """
[destination]
mail = "mailstore"
calendar = "groupware"
contacts = "groupware"

[destination.mailstore]
backend = "memory"
file = "mail.pickle"

[destination.groupware]
backend = "memory"
file = "groupware.pickle"
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "migration.toml"
    path.write_text(HEAD + text, encoding="utf-8")
    return load_config(path, environ={})


def test_a_destination_per_item_type_builds_one_combined_destination(tmp_path: Path) -> None:
    config = load(tmp_path, COMBINED)
    side = config.destination
    assert isinstance(side, CombinedEndpointConfig)
    assert dict(side.types) == {"mail": "mailstore", "calendar": "groupware", "contacts": "groupware"}
    assert side.endpoints["mailstore"].options["file"] == tmp_path / "mail.pickle"
    destination = side.build_destination()
    assert isinstance(destination, CombinedDestination)
    assert destination.capabilities.item_types == {"mail", "calendar", "contacts"}
    # one endpoint serving two types is built once
    assert destination.parts["calendar"] is destination.parts["contacts"]
    assert side.describe() == f"mail: {tmp_path / 'mail.pickle'}; contacts, calendar: {tmp_path / 'groupware.pickle'}"
    (tmp_path / "accounts.csv").write_text("source,destination\nalice@contoso.com,alice@example.org\n", encoding="utf-8")
    assert [p.destination for p in config.read_accounts()] == ["alice@example.org"]


def test_the_endpoint_table_name_is_its_backend_by_default(tmp_path: Path) -> None:
    config = load(tmp_path, '[destination]\nmail = "memory"\n[destination.memory]\nfile = "m.pickle"\n')
    assert config.destination.endpoints["memory"].backend == "memory"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[destination]\nmail = "mailstore"\n', "destination.mail", "no [destination.mailstore] table"),
        ('[destination]\nmail = ""\n', "destination.mail", "must name an endpoint"),
        ('[destination]\nmail = "memory"\nurl = "https://x.example.org"\n[destination.memory]\n', "destination.url", ""),
        ('[destination]\ncalendar = "imap"\n[destination.imap]\nhost = "imap.example.org"\n', "destination.calendar",
         "cannot hold calendar"),
        ('[destination]\nmail = "box"\n[destination.box]\nbackend = "nosuch"\n', "destination.box.backend", "no backend"),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert raised.value.key == key
    assert words in str(raised.value)
