"""Calibration on a user's own labelled networks: how well each score ranks them (against model size), and a
ranking fitted to them when cross-validation says it beats the label-free default.

    result = calibrate(archs, accuracies, {"synflow": [...], "meco": [...], "params": [...], "flops": [...], "ensemble": [...]})
    result.chosen.kendall, result.model.predict(values_of_other_networks)

Only the networks given here (with their labels) reach the fit; ``reference`` (score values of unlabelled
networks, e.g. the space's reference sample) only places ranks. Same input and seed, same result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ensemble import PREFIX
from .fit import Validated, choose, cross_validate, fit_chosen, rank_ensemble_fitter, trees_fitter
from .inputs import MAX_LABELS, MIN_LABELS, SIZE, CalibrationError, Labelled, check_labelled
from .model import DefaultModel, Model, RankEnsembleModel, TreesModel, log_ranks, members_of, model_from_json, reference_of
from .stats import beats, interval, kendall, kendall_resampled, resamples, spearman

__all__ = [
    "MAX_LABELS", "MIN_LABELS", "Calibration", "CalibrationError", "DefaultModel", "Model", "RankEnsembleModel",
    "ScoreReport", "TreesModel", "calibrate", "model_from_json", "score_reports",
]


@dataclass(frozen=True)
class ScoreReport:
    """One score against the labels: Kendall (with a bootstrap 95% interval), Spearman, P(Kendall > size's)."""

    name: str
    kendall: float
    interval: tuple[float, float]
    spearman: float
    beats_size: float

    def to_json(self) -> dict[str, Any]:
        return {"score": self.name, "kendall": self.kendall, "interval": list(self.interval), "spearman": self.spearman,
                "p_beats_size": self.beats_size}


@dataclass(frozen=True)
class Calibration:
    """A calibration's verdict: per-score reports, every candidate's cross-validated Kendall, the chosen model."""

    labels: int
    seed: int
    scores: list[ScoreReport]
    validated: list[Validated]
    chosen: Validated
    model: Model

    def to_json(self) -> dict[str, Any]:
        return {"labels": self.labels, "seed": self.seed, "scores": [s.to_json() for s in self.scores],
                "cross_validated": {v.name: v.to_json() for v in self.validated}, "chosen": self.chosen.name, "model": self.model.to_json()}


def score_reports(data: Labelled, seed: int) -> list[ScoreReport]:
    """Every given score's report, best Kendall first; size is the better of params and flops on each resample."""
    rows = resamples(len(data), seed)
    boot = {name: kendall_resampled(v, data.labels, rows) for name, v in data.values.items()}
    size = np.maximum(*(boot[s] for s in SIZE))
    reports = [ScoreReport(name, kendall(v, data.labels), interval(boot[name]), spearman(v, data.labels), beats(boot[name], size))
               for name, v in data.values.items()]
    return sorted(reports, key=lambda r: (-r.kendall, r.name))


def calibrate(
    archs: Sequence[str], labels: Sequence[float], values: Mapping[str, Sequence[float]], *,
    higher_is_better: bool = True, seed: int = 0, reference: Mapping[str, Sequence[float]] | None = None,
) -> Calibration:
    """Report every score and fit the calibrated scorer (see the module docstring); :class:`CalibrationError` on bad input."""
    data = check_labelled(archs, labels, values, higher_is_better=higher_is_better)
    members = {"rank_ensemble": members_of(data.values), "trees": members_of(data.values, ensembles=True)}
    given = data.values if reference is None else {m: np.asarray(reference[m], float) for m in members["trees"]}
    ref = reference_of(given, members["trees"])
    fitters = {"rank_ensemble": rank_ensemble_fitter, "trees": trees_fitter(seed)}
    candidates = {name: (fitter, log_ranks(data.values, members[name], ref)) for name, fitter in fitters.items()}
    validated = cross_validate(candidates, data.labels, data.values.get(PREFIX), seed)
    chosen = choose(validated, len(data))
    model = fit_chosen(chosen.name, data.values, members.get(chosen.name, ()), ref, data.labels, seed)
    return Calibration(len(data), seed, score_reports(data, seed), validated, chosen, model)
