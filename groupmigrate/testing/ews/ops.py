"""Importing this module registers every implemented EWS operation with the service."""

from groupmigrate.testing.ews import (  # noqa: F401
    ops_attachments,
    ops_export,
    ops_folders,
    ops_items,
    ops_misc,
    ops_sync,
)
