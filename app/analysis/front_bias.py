"""How much of a Pareto front is simply "the bigger the better": size figures along the front of score against cost.

The front is that of the report's cells with the score maximised and ``costs`` minimised (the
search's ``minimize`` where the report comes from a multi-objective search, ``latency_ms`` included
when every cell carries its measured latency; else ``params``).
Along it:

- ``kendall_score_params``: Kendall tau-b between score and #params over the front's cells.
  +1 means that climbing the front in score is exactly buying parameters.  When ``params`` is the
  only cost this is +1 by construction (a front in (score, params) rises with #params), so the
  figure says something for fronts over FLOPs or latency, or several costs;
- ``same_order_share``: the share of pairs of front cells that score and #params put in the same
  order (ties in either count as not the same): 1.0 is a front sorted identically by score and size;
- ``bigger_half_share``: the share of front cells with more parameters than the median cell of the
  report; a front of mostly big cells says the score's best trade-offs sit among the big networks.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from search.pareto import front_order

#: costs a report row may carry (``latency_ms`` only when the search measured it)
ROW_COSTS = ("params", "flops", "latency_ms")


def front_costs(minimize: Sequence[str], rows: Sequence[Any]) -> tuple[str, ...]:
    """The costs of the report's front: those of ``minimize`` every row carries, else ``params``."""
    return tuple(c for c in minimize if c in ROW_COSTS and all(getattr(r, c, None) is not None for r in rows)) or ("params",)


def front_bias(rows: Sequence[Any], minimize: Sequence[str] = ()) -> dict[str, Any]:
    """The front's size figures (see the module doc); ``None`` where undefined (fewer than two front cells)."""
    costs = front_costs(minimize, rows)
    front = [rows[i] for i in front_order(rows, costs)]
    median = float(np.median([r.params for r in rows])) if rows else math.nan
    pairs = list(itertools.combinations(front, 2))
    same = sum((a.score - b.score) * (a.params - b.params) > 0 for a, b in pairs)
    return {
        "costs": list(costs),
        "size": len(front),
        "kendall_score_params": _kendall_or_none(front),
        "same_order_share": round(same / len(pairs), 4) if pairs else None,
        "bigger_half_share": round(sum(r.params > median for r in front) / len(front), 4) if front else None,
    }


def _kendall_or_none(front: Sequence[Any]) -> float | None:
    """Kendall tau-b of score and #params over the front's finite scores; ``None`` for fewer than two or a constant side."""
    finite = [r for r in front if math.isfinite(r.score)]
    if len(finite) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        tau = float(stats.kendalltau([r.score for r in finite], [r.params for r in finite]).statistic)
    return None if math.isnan(tau) else round(tau, 4)


def front_lines(figures: dict[str, Any]) -> list[str]:
    """Markdown lines of the front's size figures."""
    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return [
        f"Front of score against {', '.join(figures['costs'])}: {figures['size']} cells.",
        "",
        f"- Kendall of score and #params along the front: {show(figures['kendall_score_params'])}"
        + (" (1 by construction: #params is the only cost)" if figures["costs"] == ["params"] else ""),
        f"- share of front pairs ordered the same by score and #params: {show(figures['same_order_share'])}",
        f"- share of the front above the median #params of all cells: {show(figures['bigger_half_share'])}",
    ]
