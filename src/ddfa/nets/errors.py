"""Errors raised by :mod:`ddfa.nets`."""

from __future__ import annotations

from ddfa.errors import InputError


class NetError(InputError):
    """Invalid network name, configuration or input tensor."""
