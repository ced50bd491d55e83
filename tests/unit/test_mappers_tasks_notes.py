"""Task and note mappers: everything kept; note colour only where supported."""

from __future__ import annotations

import datetime as dt

import pytest

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Note, Task
from groupmigrate.core.mappers import Change, MapContext, map_item

UTC = dt.timezone.utc
COLOUR_NOTICE = Change(
    "notice",
    "color",
    "the destination does not store note colours; it is dropped from every item of this account that has it",
)

TASKS = [
    Task(subject="Report", status="in_progress", percent_complete=40, start=dt.date(2024, 3, 1), due=dt.date(2024, 3, 31)),
    Task(subject="Done", status="completed", percent_complete=100, due=dt.date(2024, 1, 5),
         completed=dt.datetime(2024, 1, 4, 16, 30, tzinfo=UTC), importance="high"),
    Task(subject="Waiting", status="waiting", percent_complete=10, recurrence="FREQ=MONTHLY;BYMONTHDAY=1",
         categories=("Work",), body="details"),
    Task(subject="Later", status="deferred", completed=dt.date(2024, 2, 1)),
]


@pytest.mark.parametrize("task", TASKS, ids=[t.subject for t in TASKS])
def test_task_kept_exactly(task: Task) -> None:
    result = map_item(task, Capabilities(preserves_organizer=False, supports_note_color=False), MapContext(owner="a@example.org"))
    assert result.item is task
    assert result.changes == []


def test_task_unsupported_field() -> None:
    ctx = MapContext(owner="a@example.org", unsupported_fields={"tasks.recurrence"})
    result = map_item(TASKS[2], Capabilities(), ctx)
    assert isinstance(result.item, Task)
    assert result.item.recurrence is None
    assert (result.item.status, result.item.percent_complete, result.item.body) == ("waiting", 10, "details")
    assert [(c.kind, c.field) for c in result.changes] == [("notice", "recurrence")]


def test_task_not_on_route() -> None:
    result = map_item(TASKS[0], Capabilities(item_types=frozenset({"mail"})), MapContext(owner="a@example.org"))
    assert result.item is None and result.skip_reason == "item type 'tasks' is not supported by the destination"


YELLOW = Note(subject="Groceries", body="milk", color="yellow", created=dt.datetime(2024, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("note", "caps", "expected", "changes"),
    [
        pytest.param(YELLOW, Capabilities(), YELLOW, [], id="colour-kept"),
        pytest.param(
            YELLOW,
            Capabilities(supports_note_color=False),
            Note(subject="Groceries", body="milk", created=dt.datetime(2024, 1, 1, tzinfo=UTC)),
            [COLOUR_NOTICE],
            id="colour-dropped",
        ),
        pytest.param(Note(subject="plain"), Capabilities(supports_note_color=False), Note(subject="plain"), [], id="no-colour"),
    ],
)
def test_note_mapping(note: Note, caps: Capabilities, expected: Note, changes: list[Change]) -> None:
    result = map_item(note, caps, MapContext(owner="a@example.org"))
    assert result.item == expected
    assert result.changes == changes


def test_note_colour_counted_for_every_note() -> None:
    ctx = MapContext(owner="a@example.org")
    caps = Capabilities(supports_note_color=False)
    notes = [YELLOW, Note(subject="b", color="blue"), Note(subject="c"), Note(subject="d", color="pink")]
    changes = [map_item(n, caps, ctx).changes for n in notes]
    assert changes == [[COLOUR_NOTICE], [], [], []]
    assert ctx.counted("dropped", "color") == (3, 3)
    [total] = ctx.summary()
    assert total == Change("dropped", "color", "the destination does not store note colours; dropped: 3 item(s)", 3)


def test_note_too_large() -> None:
    result = map_item(Note(subject="big", body="x" * 2000), Capabilities(max_item_size=1024), MapContext(owner="a@example.org"))
    assert result.item is None
    assert result.skip_reason == "item size 2.2 KB is over the destination limit of 1.0 KB"
