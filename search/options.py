"""Every strategy's parameters and the constraints as command-line options, derived from their declarations.

Used by ``naswot search`` and the bench scripts, so neither lists a parameter or a constraint itself.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any

from .base import Constraints
from .runner import declared_params, params_by_name


def add_strategy_options(parser: argparse.ArgumentParser) -> None:
    """One option per declared parameter (``--population-size``), of its type, with its help, bounds and default."""
    for param, strategies in params_by_name().values():
        default = "derived" if param.default is None else param.default
        parser.add_argument(
            param.option, type=param.type, default=None, help=f"{', '.join(strategies)}: {param.help}; {param.range_text()} [{default}]"
        )


def given_params(args: argparse.Namespace, strategy: str | None = None) -> dict[str, Any]:
    """The parameters given on the command line: all of them, or only those ``strategy`` takes."""
    names = [p.name for p in declared_params(strategy)] if strategy is not None else list(params_by_name())
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def add_constraint_options(parser: argparse.ArgumentParser) -> None:
    """One option per field of :class:`~search.Constraints` (``--max-params``), of its type, with its description."""
    for name, info in Constraints.model_fields.items():
        parser.add_argument("--" + name.replace("_", "-"), type=_scalar(info.annotation), default=None, help=f"{info.description} [none]")


def given_constraints(args: argparse.Namespace) -> dict[str, Any] | None:
    """The constraints given on the command line, or None when none is."""
    given = {name: getattr(args, name) for name in Constraints.model_fields if getattr(args, name) is not None}
    return given or None


def _scalar(annotation: Any) -> type:
    """``int`` for ``int | None``: the type an optional field holds."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation
