"""Mail: the MIME is passed on untouched; only the route's limits can stop a message."""

from __future__ import annotations

from groupmigrate.capabilities import Capabilities
from groupmigrate.items import Message
from groupmigrate.core.mappers._base import MapContext, MapResult, format_size
from groupmigrate.core.mappers._common import drop_fields, skip, unsupported_fields

__all__ = ["map_message"]


def map_message(message: Message, caps: Capabilities, ctx: MapContext) -> MapResult:
    """Map one message.

    A message whose attachments total ``caps.max_attachment_size`` or more is skipped, the
    reason giving both sizes. Properties the route cannot store are dropped and counted.
    The MIME itself is never changed here.

    Args:
        message: the source message.
        caps: the route's capabilities.
        ctx: the account's mapping context.

    Returns:
        The message to create (the same object when nothing changed), or a skip.
    """
    reason = _attachment_limit(message, caps.max_attachment_size)
    if reason is not None:
        return skip(ctx, "attachments", reason)
    item, changes = drop_fields(message, unsupported_fields(message, caps, ctx), ctx)
    return MapResult(item, changes=changes)


def _attachment_limit(message: Message, limit: int | None) -> str | None:
    # Decoded attachments are never larger than the encoded MIME around them, so a message
    # smaller than the limit cannot reach it: most messages are never parsed here.
    if limit is None or message.content.size < limit:
        return None
    total = message.attachment_bytes
    if total < limit:
        return None
    return (
        f"attachments total {format_size(total, limit)} reach the destination limit of "
        f"{format_size(limit, total)}"
    )
