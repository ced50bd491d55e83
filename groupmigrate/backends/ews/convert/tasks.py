"""Tasks: exchangelib ``Task`` <-> :class:`~groupmigrate.items.Task`.

The completion date is written through PidLidTaskDateCompleted, since EWS's CompleteDate is
set by the server. Task recurrences use the same RRULE mapping as calendars, plus
regeneration (``X-REGENERATE=1``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from groupmigrate.backends.ews.convert.common import (
    body_from_ews,
    body_to_ews,
    categories,
    ews_categories,
    ews_date,
    ews_datetime,
    plain_date,
    utc,
)
from groupmigrate.backends.ews.convert.vocabulary import IMPORTANCE, TASK_STATUS
from groupmigrate.backends.ews.models import TaskItem
from groupmigrate.backends.ews.recurrence import from_rrule, to_rrule
from groupmigrate.items import Importance, Task, TaskStatus

__all__ = ["FIELDS", "to_ews", "to_neutral"]

FIELDS = (
    "subject", "body", "start_date", "due_date", "complete_date", "date_completed", "status",
    "percent_complete", "importance", "recurrence", "categories", "item_class", "reminder_is_set",
    "reminder_due_by", "owner", "task_owner", "total_work", "actual_work", "mileage", "billing_information",
    "companies",
)  # fmt: skip


def to_neutral(item: Any, item_id: str) -> Task:
    body, _ = body_from_ews(item.body)
    completed = utc(getattr(item, "date_completed", None)) or utc(item.complete_date)
    recurrence = None
    if item.recurrence is not None and item.recurrence.pattern is not None:
        recurrence = to_rrule(item.recurrence, all_day=True)
    percent = int(Decimal(item.percent_complete or 0))
    status = TASK_STATUS.from_ews(item.status, TaskStatus.NOT_STARTED)
    return Task(
        subject=item.subject,
        body=body,
        start=plain_date(item.start_date),
        due=plain_date(item.due_date),
        completed=completed if status == TaskStatus.COMPLETED else None,
        status=status,
        percent_complete=max(0, min(100, percent)),
        importance=IMPORTANCE.from_ews(item.importance, Importance.NORMAL),
        recurrence=recurrence,
        categories=categories(item.categories),
        reminder_at=utc(item.reminder_due_by),
        reminder_is_set=bool(item.reminder_is_set),
        owner=getattr(item, "task_owner", None) or getattr(item, "owner", None) or None,
        total_work=item.total_work,
        actual_work=item.actual_work,
        mileage=item.mileage or None,
        billing_information=item.billing_information or None,
        companies=tuple(item.companies or ()),
        source_id=item_id,
    )


def to_ews(task: Task) -> tuple[TaskItem, list[str]]:
    warnings: list[str] = []
    recurrence = None
    if task.recurrence:
        anchor = task.start or task.due or dt.date.today()
        try:
            recurrence = from_rrule(task.recurrence, anchor, task=True)
        except (ValueError, KeyError) as e:
            warnings.append(f"recurrence {task.recurrence!r} cannot be expressed in EWS ({e}); created once")
    completed = task.completed
    if isinstance(completed, dt.date) and not isinstance(completed, dt.datetime):
        completed = dt.datetime.combine(completed, dt.time(12), tzinfo=dt.timezone.utc)
    percent = task.percent_complete
    if task.status == TaskStatus.COMPLETED:
        percent = 100
    elif task.status == TaskStatus.NOT_STARTED:
        percent = 0
    item = TaskItem(
        subject=task.subject,
        body=body_to_ews(task.body),
        start_date=ews_date(task.start),
        due_date=ews_date(task.due),
        status=TASK_STATUS.to_ews(task.status),
        percent_complete=Decimal(percent),
        importance=IMPORTANCE.to_ews(task.importance),
        recurrence=recurrence,
        categories=ews_categories(task.categories),
        date_completed=ews_datetime(completed) if task.status == TaskStatus.COMPLETED and completed else None,
        reminder_is_set=bool(task.reminder_is_set),
        reminder_due_by=ews_datetime(task.reminder_at),
        # Owner is read-only in EWS; the server shows PidLidTaskOwner as the task's owner.
        task_owner=task.owner,
        total_work=task.total_work,
        actual_work=task.actual_work,
        mileage=task.mileage,
        billing_information=task.billing_information,
        companies=list(task.companies) or None,
    )
    return item, warnings
