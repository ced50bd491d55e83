"""Tasks: status, percent complete, dates and recurrence pass through unchanged."""

from __future__ import annotations

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Task
from groupmigrate.core.mappers._base import MapContext, MapResult
from groupmigrate.core.mappers._common import drop_fields, unsupported_fields

__all__ = ["map_task"]


def map_task(task: Task, caps: Capabilities, ctx: MapContext) -> MapResult:
    """Map one task.

    Status, percent complete, start, due and completion dates are kept exactly (dates stay
    dates: a task due on a day has no time zone to shift it). Only fields the route cannot
    store are dropped, and counted.

    Args:
        task: the source task.
        caps: the route's capabilities.
        ctx: the account's mapping context.

    Returns:
        The task to create.
    """
    item, changes = drop_fields(task, unsupported_fields(task, caps, ctx), ctx)
    return MapResult(item, changes=changes)
