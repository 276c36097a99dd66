"""The selection rules of bench/ensemble_study.py on a small synthetic table: the ranking bar, then search quality."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import ensemble_study as study  # noqa: E402

from searchspace import get_space  # noqa: E402
from searchspace.nb201.accuracy import TARGETS  # noqa: E402

NB201 = get_space("nb201")
CELLS = NB201.sample(240, seed=1, unique=True)


def truth() -> dict[str, dict[str, float]]:
    """Made-up accuracies: the same order on every target."""
    rng = random.Random(0)
    base = {a: rng.random() for a in CELLS}
    return {a: {t: 80 + 10 * base[a] + k for k, t in enumerate(TARGETS)} for a in CELLS}


@pytest.mark.parametrize(
    "pairs, meets",
    [([(0.70, 0.88)] * 3, True), ([(0.80, 0.95), (0.69, 0.95), (0.80, 0.95)], False), ([(0.80, 0.95), (0.80, 0.87), (0.80, 0.95)], False)],
    ids=["at-the-bar", "one-kendall-below", "one-spearman-below"],
)
def test_the_bar_needs_every_target(pairs, meets):
    assert study.meets_bar(pairs) is meets, f"{pairs} should {'' if meets else 'not '}meet the bar {study.BAR}"


@pytest.fixture(scope="module")
def ranked() -> list[tuple]:
    """Three candidates: the truth itself, the truth with its top twentieth scored as middling cells, and the truth reversed."""
    accuracy = truth()
    c10 = {a: accuracy[a]["cifar10_test"] for a in CELLS}
    ordered = sorted(c10.values())
    cut, middle = ordered[-len(CELLS) // 20], ordered[len(CELLS) // 2]
    tables = {
        "exact": dict(c10),
        "top-demoted": {a: (middle + (v - cut) / 100 if v >= cut else v) for a, v in c10.items()},
        "reversed": {a: -v for a, v in c10.items()},
    }
    return study.rank_by_search(tables, CELLS, accuracy, runs=3)


def test_a_candidate_below_the_bar_is_not_ranked(ranked):
    assert "reversed" not in [name for _, name, _, _ in ranked], "a candidate that ranks backwards passed the bar"


def test_candidates_are_ordered_by_what_their_searches_find(ranked):
    names = [name for _, name, _, _ in ranked]
    assert names == ["exact", "top-demoted"], f"order {names}: the candidate whose top cells are best must come first"


def test_members_of_one_pass_cost_it_once_and_size_is_free():
    costs = study.parse_costs("az_trainability=1.6,az_expressivity=1.2,synflow=0.1")
    cost = study.ensemble_cost("ensemble:az_expressivity+az_trainability+synflow+flops", costs)
    assert cost == pytest.approx(1.7), "the AZ pass is paid once, at its dearest member, flops nothing"


def test_a_member_without_a_cost_is_named():
    with pytest.raises(SystemExit, match="'meco'"):
        study.ensemble_cost("ensemble:synflow+meco", study.parse_costs("synflow=0.1"))


@pytest.mark.parametrize("text", ["nonsense=1", "synflow=cheap", "synflow"], ids=["unknown-score", "not-a-number", "no-ratio"])
def test_a_malformed_cost_is_refused(text):
    with pytest.raises(SystemExit, match="--cost"):
        study.parse_costs(text)


def write_table(path: Path, cells: list[str], columns: dict[str, dict[str, float]]) -> Path:
    """A score table and its meta file, as ``naswot table`` writes them (the settings the study reads: space and seed)."""
    names = list(columns)
    lines = [",".join(["index", "arch", *names])] + [",".join(["", a, *(repr(columns[n][a]) for n in names)]) for a in cells]
    path.write_text("\n".join(lines) + "\n")
    path.with_name(path.name + ".meta.json").write_text('{"space": "nb201", "seed": 0}')
    return path


def test_the_worse_space_orders_candidates(tmp_path):
    """synflow ranks well on one space only, jacob_cov on the other only: together they are best by the worse space."""
    cells = NB201.sample(300, seed=0, unique=True)
    rng = random.Random(1)
    acc = {a: rng.random() for a in cells}
    noise = lambda: {a: rng.random() for a in cells}  # noqa: E731
    studies = []
    for k, (good, bad) in enumerate([("synflow", "jacob_cov"), ("jacob_cov", "synflow")]):
        table = write_table(tmp_path / f"t{k}.csv", cells, {good: dict(acc), bad: noise(), "flops": noise()})
        studies.append(study.SpaceStudy("nb201", [table], {a: {"cifar10_test": acc[a]} for a in cells}))
    rows = study.rank_by_worse_space(studies, ["ensemble:synflow+flops", "ensemble:synflow+jacob_cov", "ensemble:jacob_cov+flops"])
    assert [name for _, name, _ in rows][0] == "ensemble:synflow+jacob_cov", rows
    assert all(worse == min(k for k, _ in pairs) for worse, _, pairs in rows), "a candidate's figure is its worse space's Kendall"
