"""Deprecated alias of :mod:`groupmigrate.core.migrator` (moved in 0.2); import from there."""

import warnings

from groupmigrate.core.migrator import *  # noqa: F403
from groupmigrate.core.migrator import __all__  # noqa: F401

warnings.warn(
    "groupmigrate.migrator moved to groupmigrate.core.migrator; this alias will be removed",
    DeprecationWarning,
    stacklevel=2,
)
