"""The calibrated scorers a calibration chooses between, each able to rank networks it was not fitted on.

* :class:`DefaultModel`: the label-free default ensemble, as the scorer computes it (the ``ensemble`` value);
* :class:`RankEnsembleModel`: a weighted rank ensemble, ``sum_m w_m * log rank_m(value)``, ranks taken against a
  fixed reference (as :mod:`scoring.ensemble` aggregates, with weights);
* :class:`TreesModel`: extra-trees (scikit-learn) on the same log ranks, the networks' costs among them.

Ranks come from :func:`scoring.ensemble.relative_rank` against each member's reference values (by default the
labelled networks' own values: score values only, never a label), so a model is fixed once fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor

from ..ensemble import PREFIX, _mid_rank, relative_rank
from ..registry import get_score_info

#: the trees' settings (small: a few hundred labels at most in the usual case)
TREES = {"n_estimators": 50, "min_samples_leaf": 2, "max_features": 0.5}


def oriented(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` turned so that higher is better (the registry says which way a score points)."""
    return values if get_score_info(name).higher_is_better else -values


def relative_ranks(values: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """:func:`scoring.ensemble.relative_rank` of each value against the sorted ``reference``: interpolated with numpy
    between the finite reference values, the exact function beyond them (the tails) and for undefined values."""
    ref = sorted(reference)
    knots = np.unique([r for r in ref if np.isfinite(r)])
    out = np.empty(len(values))
    inside = np.isfinite(values) & (values >= knots[0]) & (values <= knots[-1]) if knots.size else np.zeros(len(values), bool)
    if knots.size:
        out[inside] = np.interp(values[inside], knots, [_mid_rank(k, ref) for k in knots])
    out[~inside] = [relative_rank(v, ref) for v in values[~inside]]
    return out


def log_ranks(values: Mapping[str, np.ndarray], members: Sequence[str], reference: Mapping[str, Sequence[float]]) -> np.ndarray:
    """(networks x members) log relative ranks: the features every fitted model reads."""
    return np.column_stack([np.log(relative_ranks(oriented(m, np.asarray(values[m], float)), reference[m])) for m in members])


def members_of(values: Mapping[str, Any], *, ensembles: bool = False) -> list[str]:
    """The scores a fitted model reads, sorted: every given score but ensembles (a rank ensemble holds no ensemble),
    or with them (``ensembles``: the trees)."""
    return sorted(name for name in values if ensembles or not name.startswith(PREFIX))


def reference_of(values: Mapping[str, np.ndarray], members: Sequence[str]) -> dict[str, list[float]]:
    """Each member's sorted, oriented values: the fixed reference ranks are taken against."""
    return {m: sorted(oriented(m, np.asarray(values[m], float)).tolist()) for m in members}


@dataclass(frozen=True)
class DefaultModel:
    """The label-free default: the ``ensemble`` value itself."""

    kind: str = "default"

    def predict(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.asarray(values[PREFIX], float)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "score": PREFIX}


@dataclass(frozen=True)
class RankEnsembleModel:
    """``sum_m weights[m] * log rank_m``, ranks against ``reference``."""

    weights: dict[str, float]
    reference: dict[str, list[float]] = field(repr=False)
    kind: str = "rank_ensemble"

    def predict(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        members = list(self.weights)
        return log_ranks(values, members, self.reference) @ np.array([self.weights[m] for m in members])

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "weights": self.weights, "reference": self.reference}


@dataclass(frozen=True)
class TreesModel:
    """Extra-trees on the members' log ranks; refitted from its training rows and seed when read back."""

    members: tuple[str, ...]
    reference: dict[str, list[float]] = field(repr=False)
    features: np.ndarray = field(repr=False)
    targets: np.ndarray = field(repr=False)
    seed: int = 0
    kind: str = "trees"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_trees", fit_trees(self.features, self.targets, self.seed))

    def predict(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._trees.predict(log_ranks(values, self.members, self.reference))  # type: ignore[attr-defined]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "members": list(self.members), "reference": self.reference, "trees": TREES, "seed": self.seed,
                "features": self.features.tolist(), "targets": self.targets.tolist()}


def fit_trees(features: np.ndarray, targets: np.ndarray, seed: int) -> ExtraTreesRegressor:
    """Extra-trees with :data:`TREES`, seeded, on one thread (same rows and seed, same trees)."""
    return ExtraTreesRegressor(**TREES, random_state=seed, n_jobs=1).fit(features, targets)


Model = DefaultModel | RankEnsembleModel | TreesModel


def model_from_json(data: Mapping[str, Any]) -> Model:
    """The model :meth:`to_json` wrote (the trees refitted from their rows and seed: the same trees)."""
    kind = data.get("kind")
    if kind == "default":
        return DefaultModel()
    if kind == "rank_ensemble":
        return RankEnsembleModel(dict(data["weights"]), {m: list(v) for m, v in data["reference"].items()})
    if kind == "trees":
        return TreesModel(tuple(data["members"]), {m: list(v) for m, v in data["reference"].items()},
                          np.array(data["features"], float), np.array(data["targets"], float), int(data["seed"]))
    raise ValueError(f"model.kind: {kind!r} is not default, rank_ensemble or trees")
