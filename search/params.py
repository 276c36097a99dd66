"""Checks of strategy parameters that name the field and the reason, for clear 4xx answers."""

from __future__ import annotations

from typing import Any


class ParameterError(ValueError):
    """A bad budget or strategy parameter; ``field`` names it so callers can point at it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def require_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    minimum_name: str = "",
    maximum_name: str = "",
) -> int:
    """``value`` as an int within [minimum, maximum], else :class:`ParameterError` naming ``name`` and the bound."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(name, f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"{name} must be >= {_bound(minimum, minimum_name)}, got {value}")
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"{name} must be <= {_bound(maximum, maximum_name)}, got {value}")
    return value


def _bound(value: int, name: str) -> str:
    return f"{name} ({value})" if name else str(value)
