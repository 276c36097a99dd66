"""Reading score tables in the bench scripts: one file, or several joined on ``arch``."""

from __future__ import annotations

import csv
import json
import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import common  # noqa: E402

from scoring import REFERENCE_SIZE  # noqa: E402
from searchspace import get_space  # noqa: E402

NB201 = get_space("nb201")
#: the seed-0 reference sample and a few cells beyond it
CELLS = NB201.sample(REFERENCE_SIZE + 20, seed=0, unique=True)
SETTINGS = {"space": "nb201", "precision": "exact", "batch_size": 8, "seed": 0, "data": {"identity": "gaussian:3x8x8", "spec": "noise"}}


def write_table(path: Path, archs: list[str], columns: dict[str, dict[str, float]], **settings) -> Path:
    """A table as naswot table writes it, with its ``.meta.json``."""
    names = list(columns)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "arch", *names])
        for a in archs:
            writer.writerow(["", a, *(repr(columns[n][a]) for n in names)])
    meta = {**SETTINGS, "score": names[-1], "scores": names[2:], **settings}
    path.with_name(path.name + ".meta.json").write_text(json.dumps(meta))
    return path


def values(seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    return {a: rng.random() for a in CELLS}


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path, dict[str, dict[str, float]]]:
    """Two tables of the same cells in different orders (the second lacks the last one), sharing params and flops."""
    cols = {"params": values(1), "flops": values(2), "meco": values(3), "synflow": values(4)}
    first = write_table(tmp_path / "a.csv", CELLS, {k: cols[k] for k in ("params", "flops", "meco")})
    second = write_table(tmp_path / "b.csv", list(reversed(CELLS[:-1])), {k: cols[k] for k in ("params", "flops", "synflow")})
    return first, second, cols


def test_joined_tables_hold_the_common_cells_in_the_first_tables_order(pair):
    first, second, cols = pair
    joined = common.read_columns([first, second])
    assert list(joined) == ["params", "flops", "meco", "synflow"], "each column once, the first table's first"
    assert list(joined["synflow"]) == CELLS[:-1], "the cells both tables hold, in the first table's order"
    assert joined["synflow"] == {a: cols["synflow"][a] for a in CELLS[:-1]}, "a column keeps its own table's values"


def test_one_path_reads_as_before(pair):
    first, _, cols = pair
    assert common.read_columns(first)["meco"] == cols["meco"]
    assert common.read_columns([first]) == common.read_columns(first)


def test_an_ensemble_of_columns_from_joined_tables_equals_one_from_a_single_table(pair, tmp_path):
    first, second, cols = pair
    single = write_table(tmp_path / "c.csv", CELLS[:-1], cols)
    name = "ensemble:meco+synflow"
    assert common.read_scores([first, second], name) == common.read_scores(single, name)


def test_a_shared_column_that_differs_is_refused(pair, tmp_path):
    first, _, cols = pair
    other = write_table(tmp_path / "d.csv", CELLS, {"params": values(9), "synflow": cols["synflow"]})
    with pytest.raises(SystemExit, match="'params' differs"):
        common.read_columns([first, other])


def test_tables_of_other_settings_are_not_joined_for_an_ensemble(pair, tmp_path):
    first, _, cols = pair
    other = write_table(tmp_path / "e.csv", CELLS, {"params": cols["params"], "synflow": cols["synflow"]}, seed=1)
    with pytest.raises(SystemExit, match="different settings"):
        common.read_scores([first, other], "ensemble:meco+synflow")


def test_a_missing_column_is_named(pair):
    first, second, _ = pair
    with pytest.raises(SystemExit, match="no column 'zico'"):
        common.read_scores([first, second], "zico")


def test_rows_appended_from_any_stream_of_results_read_back_with_undefined_values_as_minus_inf(tmp_path):
    from app.cli.scoretable import append_results, open_table
    from scoring import ScoredArch

    out, names = tmp_path / "t.csv", ["naswot", "synflow"]
    archs = CELLS[:3]
    results = [ScoredArch(a, {"naswot": float(i), "synflow": -math.inf if i == 1 else i / 2}, {"params": 100 + i, "flops": 200 + i}, 0.1) for i, a in enumerate(archs)]
    assert open_table(out, SETTINGS, names) == set(), "a new table starts empty"
    assert [r.arch for r in append_results(out, iter(results), None, names)] == archs, "each result is yielded as it is written"
    columns = common.read_columns(out)
    assert list(columns["synflow"]) == archs, "rows keep the order of the stream"
    with out.open(newline="") as f:
        raw = list(csv.DictReader(f))
    assert raw[1]["synflow"] == "" and columns["synflow"][archs[1]] == -math.inf, "an undefined value is written empty and read back as -inf"
    assert columns["params"][archs[2]] == 102 and columns["naswot"][archs[2]] == 2.0
    assert open_table(out, SETTINGS, names) == set(archs), "reopening with the same settings resumes after the written cells"
