"""NASWOT and SWAP read the codes of every elementwise rectifier; on NB-201 (nn.ReLU only) the committed score
tables still reproduce bit for bit, on the real CIFAR-10 sample they were scored on, by the fast path and the passes."""

from __future__ import annotations

import csv
import gzip
import math

import pytest

from scoring import naswot
from scoring.data import open_source
from scoring.evaluate import Scorer
from searchspace import get_space

from conftest import ROOT, shared_file

TABLES = ROOT / "bench" / "results"
#: rows by their index column: cells with 65 and 20 ReLU calls, and one whose K_H is singular
NASWOT_ROWS = ("11323", "6384", "3005")
SWAP_ROWS = ("13404", "9285")


def _rows(name: str, indices: tuple[str, ...]) -> list[dict[str, str]]:
    with gzip.open(TABLES / name, "rt") as f:
        rows = {r["index"]: r for r in csv.DictReader(f)}
    return [rows[i] for i in indices]


def _table_value(text: str) -> float:
    return -math.inf if text == "" else float(text)


@pytest.fixture(scope="module")
def source(one_torch_thread):
    return open_source(f"cifar10:{shared_file('cifar10-sample.npz')}")


@pytest.mark.parametrize("row", _rows("nb201-c10-s0-3000.csv.gz", NASWOT_ROWS), ids=NASWOT_ROWS)
def test_naswot_table_rows_reproduce_on_both_paths(source, row):
    want = _table_value(row["naswot"])
    fast = Scorer(get_space("nb201"), source, batch_size=128, seed=0).score_one(row["arch"])
    passes = Scorer(get_space("nb201"), source, batch_size=128, seed=0, scores=("naswot", "swap")).score_one(row["arch"])
    assert fast.score == want, f"fast path: {fast.score!r} != table {want!r}"
    assert passes.values["naswot"] == want, f"pass: {passes.values['naswot']!r} != table {want!r}"
    assert fast.notes == {"naswot": passes.notes["naswot"]} and passes.notes["naswot"].startswith("codes of ReLU x"), "notes differ"
    if want == -math.inf:
        assert fast.undefined == passes.undefined == naswot.SINGULAR, "a singular K_H says so"


@pytest.mark.parametrize("row", _rows("nb201-c10-s0-first300-swap.csv.gz", SWAP_ROWS), ids=SWAP_ROWS)
def test_swap_table_rows_reproduce(source, row):
    got = Scorer(get_space("nb201"), source, batch_size=128, seed=0, scores=("swap",)).score_one(row["arch"])
    assert got.score == float(row["swap"]), f"swap {got.score!r} != table {row['swap']!r}"
