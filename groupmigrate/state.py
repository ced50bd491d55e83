"""Deprecated alias of :mod:`groupmigrate.core.state` (moved in 0.2); import from there."""

import warnings

from groupmigrate.core.state import *  # noqa: F403
from groupmigrate.core.state import __all__  # noqa: F401

warnings.warn(
    "groupmigrate.state moved to groupmigrate.core.state; this alias will be removed",
    DeprecationWarning,
    stacklevel=2,
)
