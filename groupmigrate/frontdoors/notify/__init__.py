"""Notifications: tell people (by mail) or systems (by webhook) how a migration goes.

Three moments are announced, as the hosted migration service does it: the migration was
*submitted* (the account list is accepted), it *started*, and it *finished* (with the
per-account summary and where the full report is). A notifier that fails never stops a
migration: :func:`notify_all` calls each notifier, logs its failure and goes on.

Modules: ``protocol`` (:class:`Notifier`, :class:`RunInfo`, :func:`notify_all`), ``smtp`` and
``messages`` (the mails and their texts), ``webhook`` (JSON over HTTP). Import from
:mod:`groupmigrate.frontdoors.notify` itself.
"""

from __future__ import annotations

from groupmigrate.errors import NotificationError
from groupmigrate.frontdoors.notify.protocol import AccountReportLike as AccountReportLike
from groupmigrate.frontdoors.notify.protocol import Notifier, ReportLike, RunInfo, notify_all
from groupmigrate.frontdoors.notify.smtp import Security as Security
from groupmigrate.frontdoors.notify.smtp import SmtpNotifier
from groupmigrate.frontdoors.notify.webhook import SIGNATURE_HEADER, WebhookNotifier

__all__ = [
    "SIGNATURE_HEADER",
    "NotificationError",
    "Notifier",
    "ReportLike",
    "RunInfo",
    "SmtpNotifier",
    "WebhookNotifier",
    "notify_all",
]
