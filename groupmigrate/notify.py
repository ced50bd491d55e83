"""Deprecated alias of :mod:`groupmigrate.frontdoors.notify` (moved in 0.2); import from there."""

import warnings

from groupmigrate.frontdoors.notify import *  # noqa: F403
from groupmigrate.frontdoors.notify import __all__  # noqa: F401

warnings.warn(
    "groupmigrate.notify moved to groupmigrate.frontdoors.notify; this alias will be removed",
    DeprecationWarning,
    stacklevel=2,
)
