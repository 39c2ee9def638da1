"""Name -> constructor registry for regression networks."""

from __future__ import annotations

from typing import Callable, TypeVar

from torch import nn

from .errors import NetError

_Factory = TypeVar("_Factory", bound=Callable[..., nn.Module])
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[_Factory], _Factory]:
    """Decorator registering ``factory(**kwargs) -> nn.Module`` under ``name``."""

    def decorator(factory: _Factory) -> _Factory:
        if name in _REGISTRY:
            raise NetError(f"model {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    """Sorted names accepted by :func:`create_model`."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with constructor ``kwargs``."""
    try:
        factory = _REGISTRY[name]
    except (KeyError, TypeError):
        raise NetError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None
    return factory(**kwargs)
