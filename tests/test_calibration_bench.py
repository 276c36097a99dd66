"""bench/calibration.py's draws: the calibration sees the k labelled cells only, and is judged on the others."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import calibration as bench  # noqa: E402

from scoring.calibration import calibrate  # noqa: E402

N = 120


def space() -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    labels = rng.normal(size=N)
    values = {"synflow": labels + rng.normal(size=N), "params": rng.normal(size=N), "flops": rng.normal(size=N), "ensemble": labels + 0.5 * rng.normal(size=N)}
    return [f"cell{i}" for i in range(N)], labels, values


def test_a_draw_calibrates_on_its_k_cells_only(monkeypatch):
    archs, labels, values = space()
    seen = []

    def spy(archs_given, labels_given, values_given, **options):
        seen.append((list(archs_given), {n: len(v) for n, v in values_given.items()}))
        return calibrate(archs_given, labels_given, values_given, **options)

    monkeypatch.setattr(bench, "calibrate", spy)
    whole = {n: 0.5 for n in values}
    figures = bench.one_draw(archs, labels, values, 20, seed=3, whole=whole)
    (given, lengths), = seen
    assert len(set(given)) == 20 and set(lengths.values()) == {20}, "the calibration gets the k labelled cells' values and nothing else"
    assert -1 <= figures["calibrated"] <= 1 and figures["model"] in ("default", "rank_ensemble", "trees")


def test_same_seed_same_draw():
    archs, labels, values = space()
    whole = {n: 0.5 for n in values}
    assert bench.one_draw(archs, labels, values, 20, 4, whole) == bench.one_draw(archs, labels, values, 20, 4, whole)
