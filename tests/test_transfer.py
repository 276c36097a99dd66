"""bench/transfer.py's pure parts: the table each column is read from, and seeded bootstrap intervals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import transfer  # noqa: E402


def test_each_column_comes_from_the_largest_table_holding_it(monkeypatch):
    columns = {Path("big"): {"params": {}, "synflow": {}}, Path("small"): {"params": {}, "naswot": {}}}
    monkeypatch.setattr(transfer, "read_columns", lambda path: columns[path])
    assert transfer.column_sources([Path("big"), Path("small")]) == {"params": Path("big"), "synflow": Path("big"), "naswot": Path("small")}


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    scores = [float(i % 17) for i in range(200)]
    accuracy = [float(i % 17 + (i % 5)) for i in range(200)]
    first = transfer.bootstrap(scores, accuracy, resamples=50, seed=3)
    assert first == transfer.bootstrap(scores, accuracy, resamples=50, seed=3), "the same seed gives the same intervals"
    for figure in first:
        assert figure.low <= figure.value <= figure.high and figure.high - figure.low < 0.2, figure


def test_undefined_values_rank_below_every_defined_one():
    assert list(transfer.floored([2.0, float("-inf"), 5.0])) == [2.0, 1.0, 5.0]


def test_the_ensemble_needs_a_table_for_every_default_member():
    assert transfer.ensemble_tables({"synflow": Path("a"), "jacob_cov": Path("a")}) is None
    assert transfer.ensemble_tables({"synflow": Path("a"), "jacob_cov": Path("a"), "meco": Path("b")}) == [Path("a"), Path("b")]


@pytest.mark.parametrize("space", ["nb201", "nb-macro"])
def test_the_committed_tables_of_a_space_are_found_largest_first(space):
    tables = transfer.space_tables(space)
    sizes = [len(next(iter(transfer.read_columns(p).values()))) for p in tables]
    assert tables and sizes == sorted(sizes, reverse=True), f"{space}: {list(zip(tables, sizes))}"
