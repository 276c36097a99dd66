"""scoring.calibration: per-score verdicts against size, the calibrated scorer chosen by cross-validation, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from scoring.calibration import MAX_LABELS, CalibrationError, calibrate, model_from_json
from scoring.calibration.fit import Validated, choose
from scoring.calibration.stats import kendall, kendall_resampled, resamples

N = 40


def made_up(n: int = N, seed: int = 0) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Labels and scores: synflow follows the labels closely, meco loosely, size not at all."""
    rng = np.random.default_rng(seed)
    labels = rng.normal(size=n)
    values = {
        "synflow": labels + 0.3 * rng.normal(size=n),
        "meco": labels + 2.0 * rng.normal(size=n),
        "params": rng.normal(size=n),
        "flops": rng.normal(size=n),
        "ensemble": labels + 1.0 * rng.normal(size=n),
    }
    return [f"net{i}" for i in range(n)], labels, values


@pytest.fixture(scope="module")
def result():
    archs, labels, values = made_up()
    return calibrate(archs, labels, values, seed=3)


def test_each_score_is_reported_with_kendall_spearman_and_an_interval(result):
    archs, labels, values = made_up()
    for report in result.scores:
        assert report.kendall == pytest.approx(stats.kendalltau(values[report.name], labels).statistic), f"{report.name}: Kendall"
        assert report.spearman == pytest.approx(stats.spearmanr(values[report.name], labels).statistic), f"{report.name}: Spearman"
        assert report.interval[0] <= report.kendall <= report.interval[1], f"{report.name}: interval {report.interval} misses its own value"


def test_a_score_that_follows_the_labels_beats_size_and_size_does_not(result):
    by_name = {r.name: r for r in result.scores}
    assert by_name["synflow"].beats_size > 0.99, "synflow tracks the labels: P(beats size) should be near 1"
    assert by_name["params"].beats_size == 0.0, "params can never beat the better of params and flops"


def test_the_fit_beats_the_default_when_one_score_is_much_better(result):
    assert result.chosen.name != "ensemble", "a close single score should win over the noisier default"
    cv = {v.name: v for v in result.validated}
    assert set(cv) == {"ensemble", "rank_ensemble", "trees"}, "every candidate is cross-validated on the same folds"
    assert result.chosen.kendall == max(v.kendall for v in result.validated), "the fit with the best CV Kendall"
    low, high = result.chosen.interval
    assert low <= result.chosen.kendall <= high


@pytest.mark.parametrize(
    "gains, chosen",
    [((0.10, -0.06, 0.10, -0.06), "ensemble"), ((0.03, 0.02, 0.03, 0.02), "trees"), ((-0.01, 0.0, -0.01, 0.0), "ensemble")],
    ids=["noisy-gain-keeps-the-default", "steady-gain-takes-the-fit", "the-default-is-best"],
)
def test_a_fit_replaces_the_default_only_when_its_paired_gain_is_steady(gains, chosen):
    default = (0.5, 0.6, 0.4, 0.5)
    fit = tuple(d + g for d, g in zip(default, gains))
    validated = [Validated("ensemble", default, (0, 1), 0.05), Validated("trees", fit, (0, 1), 0.05)]
    assert choose(validated, 100).name == chosen


def test_the_default_stays_when_no_score_tells_more_than_it():
    archs, labels, values = made_up()
    values = {**values, "ensemble": labels.copy()}
    assert calibrate(archs, labels, values).chosen.name == "ensemble", "a perfect default cannot be beaten"


def test_same_input_and_seed_give_the_same_result(result):
    archs, labels, values = made_up()
    again = calibrate(archs, labels, values, seed=3)
    assert json.dumps(again.to_json()) == json.dumps(result.to_json())


def test_the_model_ranks_new_networks_from_their_values_only(result):
    archs, labels, values = made_up(200, seed=9)
    ranked = result.model.predict(values)
    assert len(ranked) == 200 and stats.kendalltau(ranked, labels).statistic > 0.6, "the fit should carry over to unseen networks"


def test_unlabelled_networks_never_reach_the_fit():
    """Fitting on the first 30 networks: whatever the others' values and labels, the model is the same."""
    archs, labels, values = made_up(60)
    first = calibrate(archs[:30], labels[:30], {k: v[:30] for k, v in values.items()}, seed=1)
    rng = np.random.default_rng(5)
    changed = {k: np.concatenate([v[:30], rng.normal(size=30)]) for k, v in values.items()}
    cut = {k: v[:30] for k, v in changed.items()}
    second = calibrate(archs[:30], labels[:30], cut, seed=1)
    assert json.dumps(first.model.to_json()) == json.dumps(second.model.to_json())


def test_lower_is_better_labels_are_turned_around():
    archs, labels, values = made_up()
    as_error = calibrate(archs, -labels, values, higher_is_better=False, seed=3)
    assert json.dumps(as_error.to_json()) == json.dumps(calibrate(archs, labels, values, seed=3).to_json())


def test_undefined_values_rank_lowest():
    archs, labels, values = made_up()
    values["meco"][np.argmin(labels)] = float("nan")
    report = {r.name: r for r in calibrate(archs, labels, values).scores}["meco"]
    assert np.isfinite(report.kendall), "an undefined value is ranked lowest, not propagated"


def test_bootstrap_kendall_matches_scipy_on_each_resample():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=25), rng.normal(size=25)
    x[4] = -np.inf
    rows = resamples(25, seed=2, count=30)
    assert np.allclose(kendall_resampled(x, y, rows), [kendall(x[r], y[r]) for r in rows])


def _bad(field_change):
    archs, labels, values = made_up()
    labels = list(labels)
    field_change(archs, labels, values)
    return archs, labels, values


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda a, l, v: l.__setitem__(7, float("nan")), "labels[7]"),
        (lambda a, l, v: l.__setitem__(2, "high"), "labels[2]"),
        (lambda a, l, v: a.__setitem__(9, a[3]), "labels[9]"),
        (lambda a, l, v: v.__setitem__("no_such_score", v["meco"]), "values['no_such_score']"),
        (lambda a, l, v: v.__setitem__("meco", v["meco"][:-1]), "values['meco']"),
        (lambda a, l, v: v.pop("flops"), "values['flops']"),
    ],
    ids=["nan-label", "text-label", "duplicate", "unknown-score", "short-column", "no-size"],
)
def test_bad_input_is_refused_naming_the_field(change, field):
    archs, labels, values = _bad(change)
    with pytest.raises(CalibrationError) as caught:
        calibrate(archs, labels, values)
    assert caught.value.field == field, f"expected the error to name {field}, got {caught.value}"


@pytest.mark.parametrize("n", [9, MAX_LABELS + 1], ids=["too-few", "too-many"])
def test_label_counts_out_of_range_are_refused_not_truncated(n):
    labels = list(range(n))
    with pytest.raises(CalibrationError, match="labels"):
        calibrate([str(i) for i in range(n)], labels, {"params": labels, "flops": labels})


def test_a_given_reference_places_the_ranks_and_never_the_labels():
    """Score values of unlabelled networks (e.g. the space's reference sample) only place the ranks."""
    archs, labels, values = made_up(30)
    _, _, others = made_up(50, seed=8)
    values = {**values, "synflow": labels.copy(), "ensemble": np.zeros(30) + np.arange(30) % 3}  # a poor default: a fit wins
    result = calibrate(archs, labels, values, reference=others, seed=2)
    assert result.model.kind != "default", "the perfect synflow should be fitted"
    for name, ref in result.model.reference.items():
        assert ref == sorted(others[name].tolist()), f"{name}: ranked against the given reference"


def interaction(values: dict, labels: np.ndarray) -> None:
    """meco follows the labels on even networks and their reverse on odd ones, synflow says which: only trees can use it."""
    parity = (np.arange(len(labels)) % 2).astype(float)
    values.update(meco=np.where(parity > 0, labels, -labels) + 0.01 * np.arange(len(labels)), synflow=parity)


@pytest.mark.parametrize("kind", ["default", "rank_ensemble", "trees"])
def test_a_model_read_back_from_json_ranks_as_the_original(kind):
    archs, labels, values = made_up()
    values["ensemble"] = labels.copy() if kind == "default" else np.arange(N) % 3.0  # a perfect default, or a poor one
    if kind == "trees":
        interaction(values, labels)
    model = calibrate(archs, labels, values, seed=1).model
    assert model.kind == kind, "the made-up data should choose this kind"
    _, _, others = made_up(80, seed=4)
    read = model_from_json(json.loads(json.dumps(model.to_json())))
    assert read.kind == model.kind and np.array_equal(read.predict(others), model.predict(others)), f"{model.kind}: same ranking after JSON"
