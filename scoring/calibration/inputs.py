"""The labelled networks a calibration fits on, checked: every fault is a :class:`CalibrationError` naming the field.

Labels are any metric where higher is better (accuracy), or lower is better with ``higher_is_better=False``
(an error rate): they are turned around here once, so every later step reads "higher is better".
Values are by score name (registered scores, ``params``, ``flops``, ensemble names), one per labelled
network; a NaN or infinity is "undefined for this network" and becomes ``-inf``, as everywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..ensemble import parse_ensemble
from ..registry import get_score_info

#: fewer labels than this give no verdict worth reporting
MIN_LABELS = 10
#: more than this is refused, never truncated
MAX_LABELS = 10_000
#: the size baselines every score is compared with
SIZE = ("params", "flops")


class CalibrationError(ValueError):
    """Input a calibration cannot use; ``field`` names where (``labels[3]``, ``values['foo']``)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Labelled:
    """Checked input: canonical architectures, labels (higher is better) and each score's values, aligned."""

    archs: tuple[str, ...]
    labels: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.archs)


def check_labelled(archs: Sequence[str], labels: Sequence[float], values: Mapping[str, Sequence[float]], *, higher_is_better: bool = True) -> Labelled:
    """The checked, aligned form of a calibration's input (see the module docstring)."""
    _check_count(len(labels))
    if len(archs) != len(labels):
        raise CalibrationError("archs", f"{len(archs)} architectures for {len(labels)} labels")
    _check_unique(archs)
    y = _check_labels(labels)
    checked = {name: _check_values(name, column, len(labels)) for name, column in values.items()}
    for name in SIZE:
        if name not in checked:
            raise CalibrationError(f"values[{name!r}]", "missing: every score is compared with model size (params and flops)")
    return Labelled(tuple(archs), y if higher_is_better else -y, checked)


def _check_count(n: int) -> None:
    if n < MIN_LABELS:
        raise CalibrationError("labels", f"{n} given, at least {MIN_LABELS} are needed")
    if n > MAX_LABELS:
        raise CalibrationError("labels", f"{n} given, at most {MAX_LABELS} are accepted (refused, not truncated)")


def _check_unique(archs: Sequence[str]) -> None:
    first: dict[str, int] = {}
    for i, arch in enumerate(archs):
        if arch in first:
            raise CalibrationError(f"labels[{i}]", f"architecture {arch!r} is labelled twice (first at labels[{first[arch]}])")
        first[arch] = i


def _check_labels(labels: Sequence[float]) -> np.ndarray:
    out = np.empty(len(labels))
    for i, label in enumerate(labels):
        try:
            out[i] = float(label)
        except (TypeError, ValueError):
            raise CalibrationError(f"labels[{i}]", f"{label!r} is not a number") from None
        if not math.isfinite(out[i]):
            raise CalibrationError(f"labels[{i}]", f"{label!r} is not a finite number")
    if np.all(out == out[0]):
        raise CalibrationError("labels", "every label is the same: there is no ranking to calibrate on")
    return out


def _check_values(name: str, column: Sequence[float], n: int) -> np.ndarray:
    field = f"values[{name!r}]"
    try:
        if parse_ensemble(name) is None:
            get_score_info(name)
    except (KeyError, ValueError) as exc:
        raise CalibrationError(field, f"unknown score ({exc.args[0]})") from None
    if len(column) != n:
        raise CalibrationError(field, f"{len(column)} values for {n} labels")
    try:
        out = np.array(column, dtype=float)
    except (TypeError, ValueError):
        raise CalibrationError(field, "values must be numbers (null for undefined)") from None
    out[~np.isfinite(out)] = -np.inf
    return out
