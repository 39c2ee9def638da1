"""Exceptions raised by ddfa.

Every error the library raises on bad input or missing assets derives from
:class:`DDFAError`, so callers can catch the whole family with one clause.
Messages are written for end users: they name the file or argument at fault
and say what is wrong with it.
"""

from __future__ import annotations

__all__ = ["DDFAError", "ImageError", "InputError", "ModelError"]


class DDFAError(Exception):
    """Base class of all ddfa errors."""


class ImageError(DDFAError):
    """An image is missing, unreadable, corrupt, empty, too small or of an unsupported format."""


class InputError(DDFAError, ValueError):
    """A function was called with an argument of the wrong type, shape or value."""


class ModelError(DDFAError):
    """Model weights or assets are missing, corrupt or incompatible."""
