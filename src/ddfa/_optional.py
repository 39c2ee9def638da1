"""Optional dependencies: training, export from ``.pt`` and the torch backend need the ``[train]`` extra.

``pip install ddfa`` is the inference install (ONNX Runtime); modules that need
torch, onnx or scipy call :func:`require` before importing them, so a missing one
raises :class:`MissingDependencyError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ddfa.errors import DDFAError

__all__ = ["MissingDependencyError", "require"]

EXTRA_HINT = 'pip install "ddfa[train]"'


class MissingDependencyError(DDFAError, ImportError):
    """An optional dependency (torch, onnx, scipy) is not installed."""


def require(module: str, feature: str = "this feature") -> ModuleType:
    """Import and return ``module``, or raise :class:`MissingDependencyError` naming the ``[train]`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        if getattr(exc, "name", None) not in (None, top) and not str(exc.name).startswith(top + "."):
            raise  # the module is there but one of its own imports failed
        raise MissingDependencyError(
            f"{feature} needs {top}, which is not installed: {EXTRA_HINT} (or pip install \".[train]\" in a clone)"
        ) from None
