"""Strategy parameters, each declared once as a :class:`Param`; checks that name the field and the reason.

A strategy module declares its parameters (name, type, default, bounds, one-line help) in a
``PARAMS`` tuple; the runner checks requests against it, and the HTTP request model, the CLI
options, ``GET /v1/strategies`` and the dashboard form are all derived from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the largest integer a parameter or constraint may take: a signed 64-bit integer, what the stores carry
MAX_INT = 2**63 - 1
#: what a relative bound (``at_least`` / ``at_most``) names to be bounded by the search's budget
BUDGET = "budget"


class ParameterError(ValueError):
    """A bad budget or strategy parameter; ``field`` names it so callers can point at it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def require_number(
    name: str,
    value: Any,
    *,
    kind: type = int,
    minimum: float | None = None,
    maximum: float | None = None,
    minimum_name: str = "",
    maximum_name: str = "",
) -> Any:
    """``value`` as a ``kind`` (int or float) within [minimum, maximum], else :class:`ParameterError` naming ``name`` and the bound."""
    if not _is_kind(value, kind):
        raise ParameterError(name, f"{name} must be {'an integer' if kind is int else 'a finite number'}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"{name} must be >= {_bound(minimum, minimum_name)}, got {value}")
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"{name} must be <= {_bound(maximum, maximum_name)}, got {value}")
    return value


def require_int(name: str, value: Any, **bounds: Any) -> int:
    """``value`` as an int within the bounds (see :func:`require_number`)."""
    return require_number(name, value, kind=int, **bounds)


def _is_kind(value: Any, kind: type) -> bool:
    """An int for ``int``; an int or a finite float for ``float`` (a bool is neither)."""
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _bound(value: float, name: str) -> str:
    return f"{name} ({value})" if name else str(value)


def _label(name: str) -> str:
    """How a message names a relative bound: ``the budget``, or the other parameter's name."""
    return "the budget" if name == BUDGET else name


@dataclass(frozen=True)
class Param:
    """One strategy parameter: the single declaration every interface derives from.

    ``minimum`` / ``maximum`` are fixed bounds; ``at_least`` / ``at_most`` name another
    parameter of the same strategy (declared before this one) or :data:`BUDGET`, whose value
    bounds this one as well.  ``default`` None means "derived at run time" (the help says how);
    such a parameter may be given as None.
    """

    name: str
    default: Any
    help: str
    type: type = int
    minimum: float | None = None
    maximum: float | None = None
    at_least: str | None = None
    at_most: str | None = None

    @property
    def option(self) -> str:
        """The command-line flag: ``--population-size``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, known: Mapping[str, Any]) -> Any:
        """``value`` if it is of the declared type within every bound (``known``: the budget and earlier parameters)."""
        if value is None and self.default is None:
            return None
        require_number(self.name, value, kind=self.type, minimum=self.minimum, maximum=self.maximum)
        low, high = known.get(self.at_least or ""), known.get(self.at_most or "")
        if low is not None:
            require_number(self.name, value, kind=self.type, minimum=low, minimum_name=_label(self.at_least or ""))
        if high is not None:
            require_number(self.name, value, kind=self.type, maximum=high, maximum_name=_label(self.at_most or ""))
        return value

    def range_text(self) -> str:
        """The bounds in words, e.g. ``population_size to the budget``."""
        low = _label(self.at_least) if self.at_least else ("any" if self.minimum is None else str(self.minimum))
        high = _label(self.at_most) if self.at_most else ("any" if self.maximum is None else str(self.maximum))
        return f"{low} to {high}"

    def describe(self) -> dict[str, Any]:
        """The declaration as JSON: name, type, default, bounds and help."""
        return {
            "name": self.name, "type": "integer" if self.type is int else "number", "default": self.default,
            "minimum": self.minimum, "maximum": self.maximum, "at_least": self.at_least, "at_most": self.at_most, "help": self.help,
        }


def check_all(params: tuple[Param, ...], budget: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter from ``values`` (the default where absent), checked in declaration order."""
    known: dict[str, Any] = {BUDGET: budget}
    for param in params:
        known[param.name] = param.check(values.get(param.name, param.default), known)
    del known[BUDGET]
    return known
