"""Backends: one sub-package per protocol family."""
