"""Deprecated alias of :mod:`groupmigrate.core.sanitize` (moved in 0.2); import from there."""

import warnings

from groupmigrate.core.sanitize import *  # noqa: F403
from groupmigrate.core.sanitize import __all__  # noqa: F401

warnings.warn(
    "groupmigrate.sanitize moved to groupmigrate.core.sanitize; this alias will be removed",
    DeprecationWarning,
    stacklevel=2,
)
