"""Every strategy's parameters as command-line options, derived from their declarations (``naswot search``, bench scripts)."""

from __future__ import annotations

import argparse
from typing import Any

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
