"""Task and note mappers: everything kept; note colour only where supported."""

from __future__ import annotations

import datetime as dt

import pytest

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Note, Task
from groupmigrate.core.mappers import Change, MapContext, map_item

UTC = dt.timezone.utc
COLOUR_DROPPED = Change("dropped", "color", "the destination does not store note colours; 'yellow' not kept")

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
            [COLOUR_DROPPED],
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
    assert [[c.message for c in each] for each in changes] == [
        [COLOUR_DROPPED.message], ["the destination does not store note colours; 'blue' not kept"], [],
        ["the destination does not store note colours; 'pink' not kept"],
    ]
    assert ctx.counted("dropped", "color") == (3, 3)
    [total] = ctx.summary()
    assert total == Change("dropped", "color", "the destination does not store note colours; dropped: 3 item(s)", 3)


def test_note_too_large() -> None:
    result = map_item(Note(subject="big", body="x" * 2000), Capabilities(max_item_size=1024), MapContext(owner="a@example.org"))
    assert result.item is None
    assert result.skip_reason == "item size 2.2 KB is over the destination limit of 1.0 KB"


def test_note_dates_logged_on_every_note_that_has_them() -> None:
    ctx = MapContext(owner="a@example.org")
    caps = Capabilities(keeps_note_dates=False)
    dated = Note(subject="a", created=dt.datetime(2024, 1, 1, 8, tzinfo=UTC), modified=dt.datetime(2024, 2, 1, tzinfo=UTC),
                 width=200, height=166)
    results = [map_item(n, caps, ctx) for n in (dated, Note(subject="b"), dated)]
    assert [r.item for r in results] == [Note(subject="a", width=200, height=166), Note(subject="b"),
                                         Note(subject="a", width=200, height=166)]
    assert [[(c.kind, c.field, c.message) for c in r.changes] for r in results] == [
        [("dropped", "created", "the destination sets a note's created time itself; 2024-01-01 08:00:00 UTC not kept"),
         ("dropped", "modified", "the destination sets a note's modified time itself; 2024-02-01 00:00:00 UTC not kept")],
        [],
        [("dropped", "created", "the destination sets a note's created time itself; 2024-01-01 08:00:00 UTC not kept"),
         ("dropped", "modified", "the destination sets a note's modified time itself; 2024-02-01 00:00:00 UTC not kept")],
    ]
    assert ctx.counted("dropped", "created") == (2, 2)


def test_note_size_kept_and_checked() -> None:
    note = Note(subject="a", width=320, height=180)
    assert map_item(note, Capabilities(), MapContext(owner="a@example.org")).item is note
    with pytest.raises(ValueError, match="Note.width"):
        Note(width=-1)
