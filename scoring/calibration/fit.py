"""Fitting a calibrated scorer on labelled networks, and choosing between the candidates by cross-validation.

The rank ensemble's members and weights are chosen greedily with replacement (Caruana et al., ICML 2004):
each step adds one unit of weight to the member that most raises Kendall with the labels, until none does.
The extra-trees regress the labels' ranks on the members' log ranks. Each candidate (and the label-free default)
is scored on the same repeated k-fold splits, fitted on the training part of a fold only. The best mean wins
if it is the default's; a fit replaces the default only when its paired gain over the default on the same
folds exceeds one corrected standard error of the gains (Nadeau & Bengio, 2003), so that fold noise does not.
The trees also read the default ensemble's value (a sum they could not form by splits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.model_selection import RepeatedKFold

from ..ensemble import PREFIX
from .model import DefaultModel, Model, RankEnsembleModel, TreesModel, fit_trees, log_ranks
from .stats import corrected_interval, corrected_se, kendall

#: most units of weight the greedy rank ensemble hands out
MAX_STEPS = 8
FOLDS = 5
REPEATS = 2


@dataclass(frozen=True)
class Validated:
    """One candidate's cross-validated Kendall: its folds' values, their mean and a 95% interval."""

    name: str
    folds: tuple[float, ...]
    interval: tuple[float, float]
    se: float

    @property
    def kendall(self) -> float:
        return float(np.mean(self.folds))

    def to_json(self) -> dict:
        return {"kendall": self.kendall, "interval": list(self.interval), "se": self.se, "folds": list(self.folds)}


def greedy_weights(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Normalised weights over the feature columns (see the module docstring); ties go to the first column."""
    counts = np.zeros(features.shape[1])
    best = -np.inf
    for _ in range(MAX_STEPS):
        trials = [kendall(features @ (counts + np.eye(len(counts))[j]), labels) for j in range(len(counts))]
        j = int(np.argmax(trials))
        if trials[j] <= best + 1e-12:
            break
        counts[j] += 1
        best = trials[j]
    return counts / counts.sum()


def trees_targets(labels: np.ndarray) -> np.ndarray:
    """The labels' ranks in (0, 1]: what the trees regress (a ranking is what is asked of them)."""
    return rankdata(labels) / len(labels)


#: (features, labels, rows) -> predictions on other rows' features, fitted on ``rows`` only
Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def rank_ensemble_fitter(features: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    weights = greedy_weights(features[rows], labels[rows])
    return lambda test: features[test] @ weights


def trees_fitter(seed: int) -> Fitter:
    def fit(features: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        trees = fit_trees(features[rows], trees_targets(labels[rows]), seed)
        return lambda test: trees.predict(features[test])

    return fit


def cross_validate(fitters: Mapping[str, tuple[Fitter, np.ndarray]], labels: np.ndarray, default: np.ndarray | None, seed: int) -> list[Validated]:
    """Each candidate's (fitter, its features) and the default's (when given) Kendall on the held-out part of the same seeded folds."""
    splits = list(RepeatedKFold(n_splits=FOLDS, n_repeats=REPEATS, random_state=seed).split(labels))
    folds: dict[str, list[float]] = {name: [] for name in ([PREFIX] if default is not None else []) + list(fitters)}
    for train, test in splits:
        if default is not None:
            folds[PREFIX].append(kendall(default[test], labels[test]))
        for name, (fitter, features) in fitters.items():
            folds[name].append(kendall(fitter(features, labels, train)(test), labels[test]))
    fraction = test_fraction(len(labels))
    return [Validated(name, tuple(v), corrected_interval(v, fraction), corrected_se(v, fraction)) for name, v in folds.items()]


def test_fraction(n: int) -> float:
    """The share of the labels a fold holds out."""
    return (n // FOLDS) / n


def choose(validated: Sequence[Validated], n: int) -> Validated:
    """The default, unless the best fitted candidate beats it on the same folds by more than one corrected standard
    error of the paired differences (a fit must win by more than the folds' noise); without a default, the best."""
    best = max(validated, key=lambda v: v.kendall)
    default = next((v for v in validated if v.name == PREFIX), None)
    if default is None or best is default:
        return best
    gains = np.subtract(best.folds, default.folds)
    return best if gains.mean() > corrected_se(gains, test_fraction(n)) else default


def fit_chosen(name: str, values: Mapping[str, np.ndarray], members: Sequence[str], reference: dict[str, list[float]], labels: np.ndarray, seed: int) -> Model:
    """The chosen candidate fitted on every label (``members``: the chosen candidate's features)."""
    if name == PREFIX:
        return DefaultModel()
    features = log_ranks(values, members, reference)
    if name == "trees":
        return TreesModel(tuple(members), {m: reference[m] for m in members}, features, trees_targets(labels), seed)
    weights = greedy_weights(features, labels)
    return RankEnsembleModel({m: float(w) for m, w in zip(members, weights) if w > 0}, {m: reference[m] for m, w in zip(members, weights) if w > 0})
