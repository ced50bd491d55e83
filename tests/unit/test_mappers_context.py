"""MapContext: once-per-account notices, counting, summaries; size formatting."""

from __future__ import annotations

import threading

import attrs
import pytest

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Attendee, Contact, Event, Item, Note
from groupmigrate.core.mappers import Change, MapContext, format_size, map_item


@pytest.mark.parametrize(
    ("size", "other", "text"),
    [
        (0, None, "0 bytes"),
        (1023, None, "1023 bytes"),
        (1024, None, "1.0 KB"),
        (10_000, None, "9.8 KB"),
        (24_117_248, None, "23.0 MB"),
        (25_270_000, 24_117_248, "24.1 MB"),
        (24_117_249, 24_117_248, "23.0 MB (24,117,249 bytes)"),
        (24_117_248, 24_117_248, "23.0 MB"),
    ],
)
def test_format_size(size: int, other: int | None, text: str) -> None:
    assert format_size(size, other) == text


def test_summary_totals_every_rule() -> None:
    ctx = MapContext(owner="alice@example.org")
    caps = Capabilities(
        supports_distribution_lists=False, supports_note_color=False, preserves_organizer=False,
        preserves_attendee_status=False, max_item_size=5000,
    )
    items: list[Item] = [
        Contact(display_name="Team", is_distribution_list=True),
        Contact(display_name="Big", notes="x" * 5000),
        Note(subject="n", color="blue"),
        Event(organizer="bob@example.com", attendees=(Attendee("c@example.com", response="accepted"), Attendee("d@example.com", response="declined"))),
    ]
    for item in items:
        map_item(item, caps, ctx)
    assert ctx.summary() == [
        Change("changed", "organizer", "mailbox owner made organizer: 1 item(s)", 1),
        Change("dropped", "attendees.response", "attendee responses dropped: 2 on 1 item(s)", 2),
        Change("dropped", "color", "the destination does not store note colours; dropped: 1 item(s)", 1),
        Change("skipped", "is_distribution_list", "items skipped (is_distribution_list): 1 item(s)", 1),
    ]


def test_unsupported_fields_from_capabilities() -> None:
    """A route may list fields it cannot store on its capabilities as well as on the context."""

    caps = Capabilities(unsupported_fields={"contacts.job_title"})
    result = map_item(Contact(display_name="A", job_title="CEO", company="X"), caps, MapContext(owner="a@example.org"))
    assert result.item == Contact(display_name="A", company="X")
    assert [(c.kind, c.field) for c in result.changes] == [("dropped", "job_title")]


def test_context_shared_by_worker_threads() -> None:
    ctx = MapContext(owner="alice@example.org")
    caps = Capabilities(preserves_organizer=False)
    event = Event(organizer="bob@example.com")
    notices: list[Change] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(500):
            changes = map_item(event, caps, ctx).changes
            with lock:
                notices.extend(changes)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(notices) == 1
    assert ctx.counted("changed", "organizer") == (4000, 4000)
