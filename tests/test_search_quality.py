"""The pure parts of bench/search_quality.py and bench/table_search.py on a small synthetic score table."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import search_quality as sq  # noqa: E402
import table_search as ts  # noqa: E402

from search import run_search  # noqa: E402
from searchspace import EncodingError, get_space  # noqa: E402

NB201 = get_space("nb201")


def synthetic(n: int, seed: int = 0):
    """A table of n cells (score = number of conv edges plus noise) and a made-up accuracy table."""
    rng = random.Random(seed)
    cells = NB201.sample(n, seed=seed, unique=True)
    table = {a: sum(op in (2, 3) for op in NB201.ops(a)) + rng.random() for a in cells}
    truth = {a: {t: 80 + table[a] + k for k, t in enumerate(ts.TARGETS)} for a in cells}
    return table, truth


def test_pool_space_draws_and_mutates_inside_the_pool():
    table, _ = synthetic(400)
    space, mode = ts.simulation_space(NB201, table)
    assert mode == "pool" and space.size == 400
    rng = random.Random(0)
    for _ in range(300):
        a = space.random(rng)
        b = space.mutate(a, rng)
        assert a in table and b in table and b != a
        if space.adjacent[a]:
            assert sum(x != y for x, y in zip(NB201.ops(a), NB201.ops(b))) == 1
    with pytest.raises(EncodingError, match="not in the pool"):
        space.canonical(next(a for a in NB201.enumerate() if a not in table))


def test_an_isolated_cell_restarts_at_another_pool_cell():
    a = NB201.example
    far = [c for c in NB201.sample(50, seed=1, unique=True) if sum(x != y for x, y in zip(NB201.ops(a), NB201.ops(c))) > 1][:3]
    space = ts.PoolSpace(NB201, [a, *far])
    assert space.isolated >= 1 and not space.adjacent[a]
    assert {space.mutate(a, random.Random(s)) for s in range(30)} == set(far)


def test_a_table_of_the_whole_space_runs_on_the_whole_space():
    table = {a: 0.0 for a in NB201.enumerate()}
    space, mode = ts.simulation_space(NB201, table)
    assert mode == "full" and space is NB201


def test_quality_statistics_of_the_chosen_cells():
    table, truth = synthetic(300)
    space, _ = ts.simulation_space(NB201, table)
    results = ts.run_many("random", space, ts.table_scorer(table), 300, 3)  # the whole pool: always the top cell
    q = ts.quality("random", 300, results, truth, table)
    top = max(table, key=table.get)
    assert q.top_hit == 100.0 and q.runs == 3 and q.evaluated == 300
    assert q.accuracy["cifar10_test"] == (truth[top]["cifar10_test"], 0.0)
    assert q.score_percentile == pytest.approx(100 * 299 / 300)

    few = ts.run_many("evolution", space, ts.table_scorer(table), 30, 5)
    picked = [truth[r.best.arch]["cifar100_test"] for r in few]
    mean, std = ts.quality("evolution", 30, few, truth, table).accuracy["cifar100_test"]
    assert mean == pytest.approx(sum(picked) / 5) and std == pytest.approx(math.sqrt(sum((p - mean) ** 2 for p in picked) / 5))
    assert [r.history for r in few] == [run_search("evolution", space, ts.table_scorer(table), budget=30, seed=s).history for s in range(5)]


def test_printed_rows_and_summary_line():
    table, truth = synthetic(200)
    space, mode = ts.simulation_space(NB201, table)
    rows = [
        ts.quality(s, b, ts.run_many(s, space, ts.table_scorer(table), b, 4), truth, table)
        for s, b in (("random", 100), ("evolution", 100), ("area", 10))
    ]
    lines = sq.format_rows(rows, space.size, mode)
    assert len(lines) == 4 and "92.81±0.99" in lines[1] and "100*" in lines[1] and "10 " in lines[3]
    c10 = rows[0].accuracy["cifar10_test"], rows[1].accuracy["cifar10_test"]
    assert sq.summary_line(rows) == f"random_n100_c10={sq.fmt(c10[0])} evolution_b100_c10={sq.fmt(c10[1])}"
    assert sq.summary_line(rows[:1]).endswith("evolution_b100_c10=nan±nan")


def test_full_mode_on_a_partial_table_searches_the_whole_space_and_names_a_missing_cell():
    table = {a: float(i) for i, a in enumerate(NB201.sample(50, seed=2, unique=True))}
    space, mode = ts.simulation_space(NB201, table, "full")
    assert (space, mode) == (NB201, "full"), "--mode full must search the whole space, not the table's pool"
    with pytest.raises(SystemExit, match="does not hold"):
        ts.run_many("random", space, ts.table_scorer(table), 40, 1)
