"""Checks of strategy parameters that name the field and the reason, for clear 4xx answers."""

from __future__ import annotations

from typing import Any


def require_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    minimum_name: str = "",
    maximum_name: str = "",
) -> int:
    """``value`` as an int within [minimum, maximum], else ValueError naming ``name`` and the bound."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {_bound(minimum, minimum_name)}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {_bound(maximum, maximum_name)}, got {value}")
    return value


def _bound(value: int, name: str) -> str:
    return f"{name} ({value})" if name else str(value)
