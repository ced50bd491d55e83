"""Helpers the suites share."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Folder, Item, ItemType
from groupmigrate.protocols import DestinationMailbox, SourceMailbox, Unreadable
from groupmigrate.testing.conformance.harness import ConformanceHarness

#: limits above this are not sampled (the suite stays fast); a harness states smaller ones
MAX_SAMPLE_BYTES = 32 * 1024 * 1024


def route_caps(h: ConformanceHarness) -> Capabilities:
    """The capabilities of the route from the harness's source to its destination."""
    return h.source_endpoint.capabilities.intersect(h.destination_endpoint.capabilities)


def need(condition: object, reason: str) -> None:
    """Skip the running test unless ``condition`` holds."""
    if not condition:
        pytest.skip(reason)


def need_type(caps: Capabilities, kind: ItemType) -> None:
    need(kind in caps.item_types, f"{caps.name} does not carry {kind} items")


def folder_at(mailbox: SourceMailbox | DestinationMailbox, path: tuple[str, ...]) -> Folder:
    folders = mailbox.folders()
    for folder in folders:
        if folder.path == path:
            return folder
    raise AssertionError(f"folder {'/'.join(path)} not listed; have {[str(f) for f in folders]}")


def key(item: Item) -> str:
    """What tells the suite's sample items apart."""
    for name in ("message_id", "uid", "display_name", "subject"):
        value = getattr(item, name, None)
        if value:
            return str(value)
    return repr(item)


def readable(fetched: Iterable[Item | Unreadable], what: str) -> list[Item]:
    """What a fetch gave, each an item: a sample the source cannot read fails the test with the source's reason."""
    items: list[Item] = []
    for got in fetched:
        assert not isinstance(got, Unreadable), f"{what}: {got.label} cannot be read: {got.reason}"
        items.append(got)
    return items


def by_key(items: list[Item], what: str) -> dict[str, Item]:
    found: dict[str, Item] = {}
    for item in items:
        assert key(item) not in found, f"{what}: {key(item)} listed twice"
        found[key(item)] = item
    return found
