"""Searches simulated on a score table: the table's scores stand in for scoring, the trained accuracies judge
the cells each run chose. ``search_quality.py`` and ``ensemble_study.py`` both run them.
"""

from __future__ import annotations

import bisect
import random
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from search import SearchResult, run_search
from searchspace import EncodingError, ModelCost, SearchSpace
from searchspace.nb201.accuracy import TARGETS  # noqa: F401  (NB-201's targets, as the tests name them)


class PoolSpace(SearchSpace):
    """The scored cells of a partial table as a space, for simulating searches on that table only.

    ``random`` draws uniformly from the pool; ``mutate`` picks uniformly among the cell's
    one-decision neighbours (``neighbours``, default ``base.neighbours``) that are in the pool:
    the distribution of the base space's mutation conditioned on landing in the pool.  A cell
    with no neighbour in the pool mutates to a uniformly drawn other pool cell (a restart),
    which keeps the search going where the full space would have offered a neighbour.
    """

    def __init__(self, base: SearchSpace, pool: Iterable[str], neighbours: Callable[[str], Sequence[str]] | None = None):
        self.base = base
        self.pool = sorted({base.canonical(a) for a in pool})
        if not self.pool:
            raise ValueError("the pool is empty")
        members = set(self.pool)
        near = neighbours if neighbours is not None else getattr(base, "neighbours", None)
        if near is None:
            raise ValueError(f"space {base.name!r} lists no neighbours; pass neighbours=")
        self.adjacent = {a: [n for n in near(a) if n in members] for a in self.pool}
        self.isolated = sum(1 for a in self.pool if not self.adjacent[a])
        self.name = f"{base.name}-pool"
        self.description = f"{len(self.pool)} cells of {base.name} (a score table's pool)"
        self.encoding = base.encoding
        self.example = self.pool[0]
        self.input_shape = base.input_shape

    @property
    def size(self) -> int:
        return len(self.pool)

    def canonical(self, arch: Any) -> str:
        if isinstance(arch, str) and arch in self.adjacent:  # the common case, without parsing
            return arch
        c = self.base.canonical(arch)
        if c not in self.adjacent:
            raise EncodingError(f"{c} is not in the pool")
        return c

    def random(self, rng: random.Random) -> str:
        return self.pool[rng.randrange(len(self.pool))]

    def mutate(self, arch: Any, rng: random.Random) -> str:
        c = self.canonical(arch)
        near = self.adjacent[c]
        if near:
            return near[rng.randrange(len(near))]
        if len(self.pool) < 2:
            raise ValueError("a one-cell pool has no other cell to mutate to")
        while (other := self.random(rng)) == c:
            pass
        return other

    def build(self, arch: Any, num_classes: int = 10):
        return self.base.build(self.canonical(arch), num_classes)

    def cost(self, arch: Any, num_classes: int = 10, input_size: int | tuple[int, int] | None = None) -> ModelCost:
        return self.base.cost(self.canonical(arch), num_classes, input_size)

    def enumerate(self) -> Iterator[str]:
        return iter(self.pool)


def table_scorer(table: Mapping[str, float]) -> Callable[[Sequence[str]], list[float]]:
    """A scorer that looks scores up in ``table`` (arch -> score, ``-inf`` singular); a cell the table lacks ends the run."""

    def score(archs: Sequence[str]) -> list[float]:
        try:
            return [table[a] for a in archs]
        except KeyError as exc:
            raise SystemExit(
                f"a search needed {exc.args[0]}, which the table does not hold (--mode full on a partial table needs every cell its searches visit)"
            ) from None

    return score


def simulation_space(base: SearchSpace, table: Mapping[str, float], mode: str = "auto") -> tuple[SearchSpace, str]:
    """The whole space (``"full"``) when the table scores all of it or ``mode`` is ``full``, else the table's pool (``"pool"``)."""
    covers = base.size is not None and len(table) >= base.size and all(a in table for a in base.enumerate())
    if mode == "full" or (mode == "auto" and covers):
        return base, "full"
    return PoolSpace(base, table), "pool"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (as the paper's tables report)."""
    return statistics.fmean(values), statistics.pstdev(values)


def run_many(
    strategy: str, space: SearchSpace, scorer: Callable[[Sequence[str]], Sequence[float]], budget: int, runs: int, **params: Any
) -> list[SearchResult]:
    """``runs`` searches with seeds 0..runs-1."""
    return [run_search(strategy, space, scorer, budget=budget, seed=seed, top_k=1, **params) for seed in range(runs)]


@dataclass
class Quality:
    """How good the cells chosen by one (strategy, budget) were, over runs."""

    strategy: str
    budget: int
    runs: int
    accuracy: dict[str, tuple[float, float]]  # target -> (mean, std)
    score_percentile: float  # mean share of table cells scored below the chosen one, in percent
    top_hit: float  # share of runs that chose the table's top-scored cell, in percent
    evaluated: float  # mean distinct evaluations per run
    exhausted: int  # runs that ended early for want of new cells
    immigrants: float  # mean random immigrants per run (evolution whose mutations kept repeating)
    seconds: float


def quality(
    strategy: str,
    budget: int,
    results: Sequence[SearchResult],
    truth: Mapping[str, Mapping[str, float]],
    table: Mapping[str, float],
    seconds: float = 0.0,
) -> Quality:
    """Accuracy statistics of the best cell of each result, plus how well the score itself was optimised."""
    chosen = [r.best.arch for r in results if r.best is not None]
    if not chosen:
        raise ValueError(f"{strategy} with budget {budget} chose no cell in any run")
    ordered = sorted(table.values())
    top = max(table, key=lambda a: (table[a], a))
    below = [bisect.bisect_left(ordered, table[a]) / len(ordered) * 100 for a in chosen]
    return Quality(
        strategy=strategy,
        budget=budget,
        runs=len(results),
        accuracy={t: mean_std([truth[a][t] for a in chosen]) for t in truth[chosen[0]]},
        score_percentile=statistics.fmean(below),
        top_hit=100 * sum(a == top for a in chosen) / len(chosen),
        evaluated=statistics.fmean(r.evaluated for r in results),
        exhausted=sum(r.exhausted for r in results),
        immigrants=statistics.fmean(r.immigrants for r in results),
        seconds=seconds,
    )
