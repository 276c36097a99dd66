"""The one conversion between an undefined value and JSON's ``null``.

A score is ``-inf`` where it is undefined for a network (for NASWOT: K_H singular), and a
statistic is NaN where it is undefined (constant input); JSON has neither, and SQL stores
``NULL``, a score table's CSV an empty cell.  API responses, the stores, the CLI's JSON, the score tables
and the reports all convert here, and rank statistics replace undefined scores by a finite floor here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def json_number(value: float) -> float | None:
    """``value`` as JSON carries it: null when undefined (``-inf``, NaN or any infinity), else unchanged."""
    return value if math.isfinite(value) else None


def from_json_number(value: float | None) -> float:
    """A score back from JSON or SQL: null is ``-inf`` (undefined, ranks below every finite score)."""
    return -math.inf if value is None else float(value)


def table_cell(value: float) -> str:
    """A score as a CSV cell (the score tables): empty when undefined, else its ``repr`` (read back exactly)."""
    return "" if json_number(value) is None else repr(value)


def from_table_cell(text: str) -> float:
    """A score table's cell back: empty is ``-inf``."""
    return from_json_number(float(text) if text else None)


def with_finite_floor(scores: Iterable[float]) -> list[float]:
    """``scores`` with each undefined one (``-inf``, NaN) replaced by one less than the lowest finite score (0.0 when
    none is finite): the same ranks, for rank statistics that take no infinities."""
    values = [float(s) for s in scores]
    finite = [s for s in values if math.isfinite(s)]
    floor = min(finite) - 1.0 if finite else 0.0
    return [s if math.isfinite(s) else floor for s in values]


@dataclass(frozen=True, slots=True)
class Undefined:
    """What a pass returns for a score that is undefined on a network, with the reason a user reads.

    ``run_pass`` turns it into ``-inf`` (the one undefined value, ranking last) and keeps the reason, so a
    response can say *why* (``"undefined": "no feature map or token sequence to read"``) instead of a
    silent 0 or numerical noise.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class Noted:
    """What a pass returns for a value (a float or an :class:`Undefined`) with a note the user reads beside it
    (NASWOT and SWAP: which activations their codes came from); ``run_pass_noted`` keeps the note."""

    value: float | Undefined
    note: str


#: the reason given for a value that came out NaN or infinite without a pass saying why
NOT_FINITE = "the score is not a finite number on this network (NaN or infinite)"
