"""Errors raised by :mod:`ddfa.nets`."""

from __future__ import annotations


class NetError(ValueError):
    """Invalid network name, configuration or input tensor."""
