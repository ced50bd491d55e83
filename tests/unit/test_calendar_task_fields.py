"""Calendar and task fields: reminders, resources, files on occurrences, occurrences matched by day."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import attrs

from groupmigrate.backends.ews.convert import calendar as cal
from groupmigrate.capabilities import Capabilities
from groupmigrate.core.mappers import MapContext, map_item
from groupmigrate.items import Attachment, Attendee, Event, Task

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SERIES = Event(
    subject="Series", start=dt.datetime(2026, 3, 2, 9, tzinfo=BERLIN), end=dt.datetime(2026, 3, 2, 10, tzinfo=BERLIN),
    timezone="Europe/Berlin", recurrence="FREQ=WEEKLY;BYDAY=MO;COUNT=6",
)  # fmt: skip


def test_reminder_is_on_when_minutes_are_given_unless_said_otherwise() -> None:
    assert Event(reminder_minutes=15).reminder_is_set is True
    assert Event().reminder_is_set is False
    assert Event(reminder_minutes=15, reminder_is_set=False).reminder_is_set is False
    assert Task(reminder_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)).reminder_is_set is True
    assert Task().reminder_is_set is False


def test_an_occurrence_reported_at_local_midnight_is_matched_by_day() -> None:
    assert cal.instance_index(SERIES, dt.datetime(2026, 3, 9, 9, tzinfo=BERLIN)) == 2
    assert cal.instance_index(SERIES, dt.datetime(2026, 3, 9, 0, tzinfo=BERLIN)) == 2
    assert cal.occurrence_start(SERIES, dt.datetime(2026, 3, 8, 23, tzinfo=dt.timezone.utc)) == dt.datetime(
        2026, 3, 9, 9, tzinfo=BERLIN
    )
    assert cal.instance_index(SERIES, dt.datetime(2026, 3, 10, 0, tzinfo=BERLIN)) is None  # no occurrence that day


def test_resources_become_required_where_the_destination_keeps_none() -> None:
    event = attrs.evolve(SERIES, attendees=(Attendee("room@example.org", role="resource"), Attendee("bob@example.org")))
    result = map_item(event, Capabilities(keeps_resource_attendees=False), MapContext(owner="me@example.org"))
    assert result.item is not None
    assert {a.role for a in result.item.attendees} == {"required"}
    assert any(c.field == "attendees.role" and "room@example.org" in c.message for c in result.changes)


def test_files_of_one_occurrence_are_dropped_and_logged_on_the_item() -> None:
    shared, own = Attachment("agenda.txt", b"a"), Attachment("minutes.txt", b"m")
    moved = Event(subject="moved", start=dt.datetime(2026, 3, 9, 11, tzinfo=BERLIN),
                  end=dt.datetime(2026, 3, 9, 12, tzinfo=BERLIN), recurrence_id=dt.datetime(2026, 3, 9, 9, tzinfo=BERLIN),
                  attachments=(shared, own))  # fmt: skip
    event = attrs.evolve(SERIES, attachments=(shared,), exceptions=(moved,))
    result = map_item(event, Capabilities(keeps_occurrence_attachments=False), MapContext(owner="me@example.org"))
    assert result.item is not None
    assert [a.name for a in result.item.exceptions[0].attachments] == ["agenda.txt"]
    assert any(c.field == "exceptions.attachments" and "minutes.txt" in c.message for c in result.changes)
