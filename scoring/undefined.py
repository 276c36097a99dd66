"""The one conversion between an undefined value and JSON's ``null``.

A score is ``-inf`` where it is undefined for a network (for NASWOT: K_H singular), and a
statistic is NaN where it is undefined (constant input); JSON has neither, and SQL stores
``NULL``.  API responses, the stores, the CLI's JSON and the reports all convert here.
"""

from __future__ import annotations

import math


def json_number(value: float) -> float | None:
    """``value`` as JSON carries it: null when undefined (``-inf``, NaN or any infinity), else unchanged."""
    return value if math.isfinite(value) else None


def from_json_number(value: float | None) -> float:
    """A score back from JSON or SQL: null is ``-inf`` (undefined, ranks below every finite score)."""
    return -math.inf if value is None else float(value)
