"""Pareto fronts of a score to maximise against costs to minimise: the front, NSGA-II's sorting, hypervolume.

Every function takes an ``(n, m)`` array of objectives **to minimise** (a score enters negated:
see :func:`objectives`); ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in
at least one.  Equal points do not dominate each other, so duplicates of a front point are all
in the front.  A singular score (``-inf``) becomes ``+inf``: the worst value, as everywhere in the
project; a missing cost (``None``, e.g. a latency not measured) is ``+inf`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scoring import COSTS  # the costs a multi-objective search may minimise, each read by this name from an evaluation

from .params import ParameterError


def needs_latency(max_latency_ms: float | None, minimize: Sequence[str]) -> bool:
    """Whether a search must measure ``latency_ms``: bounded by ``max_latency_ms`` or minimising it."""
    return max_latency_ms is not None or "latency_ms" in minimize


def check_minimize(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple when each is a known cost named once; else :class:`ParameterError` naming ``minimize``."""
    for index, name in enumerate(names):
        if name not in COSTS:
            raise ParameterError("minimize", f"minimize[{index}] {name!r} is not a cost; expected one of {', '.join(COSTS)}")
        if name in names[:index]:
            raise ParameterError("minimize", f"minimize[{index}] {name!r} repeats minimize[{list(names).index(name)}]")
    return tuple(names)


def objectives(items: Sequence[Any], minimize: Sequence[str], score: str = "score") -> np.ndarray:
    """The ``(n, 1 + len(minimize))`` array to minimise: minus each item's score, then each named cost.

    ``items`` are objects or mappings carrying ``score`` and the costs by name (a ``None`` is ``+inf``).
    """
    def value(item: Any, name: str, missing: float) -> float:
        found = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
        return missing if found is None else float(found)

    rows = [[-value(item, score, -np.inf), *(value(item, name, np.inf) for name in minimize)] for item in items]
    return np.array(rows, dtype=float).reshape(len(items), 1 + len(minimize))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates."""
    points = np.asarray(points, dtype=float)
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    if points.shape[1] == 2:
        return _non_dominated_2d(points)
    order = np.lexsort(points.T[::-1])  # lexicographic: a point can only be dominated by one before it
    front: list[int] = []
    for i in order:
        p = points[i]
        if front:
            q = points[front]
            if np.any(np.all(q <= p, axis=1) & np.any(q < p, axis=1)):
                continue
        front.append(i)
    mask = np.zeros(len(points), dtype=bool)
    mask[front] = True
    return mask


def _non_dominated_2d(points: np.ndarray) -> np.ndarray:
    """Two objectives in O(n log n): sorted by (f1, f2), a point is dominated iff some strictly earlier one has f2 <= its f2."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    f = points[order]
    new_group = np.ones(len(f), dtype=bool)
    new_group[1:] = np.any(f[1:] != f[:-1], axis=1)
    group = np.cumsum(new_group) - 1  # equal points share a group; they do not dominate each other
    first = np.flatnonzero(new_group)
    best_before = np.concatenate(([np.inf], np.minimum.accumulate(f[:, 1])))[first]  # min f2 over points before each group
    dominated = best_before[group] <= f[:, 1]
    mask = np.zeros(len(f), dtype=bool)
    mask[order] = ~dominated
    return mask


def front_ranks(points: np.ndarray) -> np.ndarray:
    """NSGA-II's fast non-dominated sort: each point's front, 0 for the non-dominated ones (Deb et al. 2002)."""
    points = np.asarray(points, dtype=float)
    ranks = np.full(len(points), -1)
    left = np.arange(len(points))
    rank = 0
    while len(left):
        mask = non_dominated(points[left])
        ranks[left[mask]] = rank
        left = left[~mask]
        rank += 1
    return ranks


def crowding(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance within one front: boundary points ``inf``, others the normalised cuboid's half-perimeter."""
    points = np.asarray(points, dtype=float)
    n, m = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        column = _finite(points[:, j])
        order = np.argsort(column, kind="stable")
        span = column[order[-1]] - column[order[0]]
        distance[order[[0, -1]]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return distance


def _finite(column: np.ndarray) -> np.ndarray:
    """``inf`` (a singular score, a missing cost) replaced by one more than the largest finite value, so spans stay finite."""
    finite = column[np.isfinite(column)]
    top = finite.max() + 1.0 if len(finite) else 0.0
    return np.where(np.isfinite(column), column, top)


def hypervolume(points: np.ndarray, reference: Sequence[float]) -> float:
    """The volume the points dominate up to ``reference`` (all minimised); points not better than it everywhere add nothing.

    Exact: a sweep for two objectives, slicing along the first objective (HSO) for more (fine for fronts of hundreds).
    """
    ref = np.asarray(reference, dtype=float)
    points = np.asarray(points, dtype=float).reshape(-1, len(ref))
    points = points[np.all(points < ref, axis=1)]
    if len(points) == 0:
        return 0.0
    points = points[non_dominated(points)]
    if len(ref) == 1:
        return float(ref[0] - points[:, 0].min())
    if len(ref) == 2:
        f = points[np.lexsort((points[:, 1], points[:, 0]))]
        heights = np.concatenate(([ref[1]], f[:-1, 1])) - f[:, 1]
        return float(np.sum((ref[0] - f[:, 0]) * heights))
    return _slices(points, ref)


def _slices(points: np.ndarray, ref: np.ndarray) -> float:
    """HSO: slabs between consecutive first-objective values, each the (m-1)-volume of the points at or before it."""
    f = points[np.argsort(points[:, 0], kind="stable")]
    edges = np.append(f[1:, 0], ref[0])
    return float(sum((edges[i] - f[i, 0]) * hypervolume(f[: i + 1, 1:], ref[1:]) for i in range(len(f)) if edges[i] > f[i, 0]))


def front_order(items: Sequence[Any], minimize: Sequence[str], score: str = "score") -> list[int]:
    """Indices of the non-dominated items, sorted by the first cost, then the best score, then the order given."""
    points = objectives(items, minimize, score)
    members = np.flatnonzero(non_dominated(points))
    return sorted(members.tolist(), key=lambda i: (*points[i, 1:2], points[i, 0], i))
