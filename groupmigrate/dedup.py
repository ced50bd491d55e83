"""Deprecated alias of :mod:`groupmigrate.core.dedup` (moved in 0.2); import from there."""

import warnings

from groupmigrate.core.dedup import *  # noqa: F403
from groupmigrate.core.dedup import __all__  # noqa: F401

warnings.warn(
    "groupmigrate.dedup moved to groupmigrate.core.dedup; this alias will be removed",
    DeprecationWarning,
    stacklevel=2,
)
