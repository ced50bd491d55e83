"""Deprecated alias of :mod:`groupmigrate.core.report` (moved in 0.2); import from there."""

import warnings

from groupmigrate.core.report import *  # noqa: F403
from groupmigrate.core.report import __all__  # noqa: F401

warnings.warn(
    "groupmigrate.report moved to groupmigrate.core.report; this alias will be removed",
    DeprecationWarning,
    stacklevel=2,
)
