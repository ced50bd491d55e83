"""Deprecated alias of :mod:`groupmigrate.frontdoors.config` (moved in 0.2); import from there."""

import warnings

from groupmigrate.frontdoors.config import *  # noqa: F403
from groupmigrate.frontdoors.config import __all__  # noqa: F401

warnings.warn(
    "groupmigrate.config moved to groupmigrate.frontdoors.config; this alias will be removed",
    DeprecationWarning,
    stacklevel=2,
)
