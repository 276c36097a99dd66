"""Name -> search space, in the manner of timm's model registry."""

from __future__ import annotations

from collections.abc import Callable

from .base import SearchSpace

_FACTORIES: dict[str, Callable[[], SearchSpace]] = {}
_INSTANCES: dict[str, SearchSpace] = {}


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Decorator: register a zero-argument factory under ``name``."""

    def wrap(factory: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        if name in _FACTORIES:
            raise ValueError(f"search space {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return wrap


def list_spaces() -> list[str]:
    """Names of all registered spaces, sorted."""
    return sorted(_FACTORIES)


def get_space(name: str) -> SearchSpace:
    """The space registered as ``name`` (one shared instance); ``KeyError`` names the choices."""
    if name not in _FACTORIES:
        raise KeyError(f"unknown search space {name!r}; known: {', '.join(list_spaces())}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _FACTORIES[name]()
    return _INSTANCES[name]
