"""Rank correlations with their uncertainty: Kendall tau-b (vectorised over bootstrap resamples), Spearman,
a seeded percentile-bootstrap interval, and the paired bootstrap probability that a score beats model size.

Undefined values (``-inf``) rank below every finite one, as in the service's rankings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

#: bootstrap resamples per interval
BOOTSTRAP = 1000
#: the interval's coverage
LEVEL = 0.95
#: most networks whose n x n sign matrices are formed (beyond, scipy per resample)
_MATRIX_LIMIT = 2000


def finite_floor(values: np.ndarray) -> np.ndarray:
    """``values`` with ``-inf`` replaced by one value below every finite one (undefined ranks lowest, tied)."""
    finite = values[np.isfinite(values)]
    floor = (finite.min() - 1.0) if finite.size else 0.0
    return np.where(np.isfinite(values), values, floor)


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall tau-b of ``x`` (``-inf`` lowest) with ``y``; 0 when either is constant."""
    tau = stats.kendalltau(finite_floor(np.asarray(x, float)), y).statistic
    return 0.0 if np.isnan(tau) else float(tau)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rho of ``x`` (``-inf`` lowest) with ``y``; 0 when either is constant."""
    rho = stats.spearmanr(finite_floor(np.asarray(x, float)), y).statistic
    return 0.0 if np.isnan(rho) else float(rho)


def resamples(n: int, seed: int, count: int = BOOTSTRAP) -> np.ndarray:
    """``count`` bootstrap index rows of ``n`` (seeded): the same rows pair every score's resample."""
    return np.random.default_rng(seed).integers(0, n, size=(count, n))


def kendall_resampled(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Kendall tau-b of ``x`` with ``y`` on each resample (index row).

    A resample is its index counts c, so with the pairwise sign matrices Sx, Sy its concordance is c'(Sx*Sy)c and
    its untied pairs c'|Sx|c and c'|Sy|c (a network drawn twice ties with itself): one matrix product for all rows.
    """
    x = finite_floor(np.asarray(x, float))
    if len(x) > _MATRIX_LIMIT:  # n x n matrices would not fit: scipy's O(n log n) per resample
        return np.array([kendall(x[r], y[r]) for r in rows])
    sx, sy = np.sign(x[:, None] - x[None, :]), np.sign(y[:, None] - y[None, :])
    counts = np.stack([np.bincount(r, minlength=len(x)) for r in rows]).astype(float)
    concordance, tx, ty = (((counts @ m) * counts).sum(axis=1) for m in (sx * sy, np.abs(sx), np.abs(sy)))
    untied = np.sqrt(tx * ty)
    return np.divide(concordance, untied, out=np.zeros_like(concordance), where=untied > 0)


def interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of bootstrap ``samples``."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def beats(samples: np.ndarray, baseline: np.ndarray) -> float:
    """Paired bootstrap probability that a score's Kendall exceeds the baseline's (same resamples)."""
    return float(np.mean(samples > baseline))


def corrected_se(fold_values: Sequence[float], test_fraction: float) -> float:
    """The standard error of a cross-validated mean from its folds' values, with Nadeau & Bengio's (2003) correction
    for overlapping training sets: sd * sqrt(1/J + n_test/n_train)."""
    values = np.asarray(fold_values, float)
    return float(values.std(ddof=1) * np.sqrt(1 / len(values) + test_fraction / (1 - test_fraction)))


def corrected_interval(fold_values: Sequence[float], test_fraction: float, level: float = LEVEL) -> tuple[float, float]:
    """An interval for a cross-validated mean: :func:`corrected_se`, Student t with J - 1 degrees of freedom."""
    half = stats.t.ppf(0.5 + level / 2, len(fold_values) - 1) * corrected_se(fold_values, test_fraction)
    mean = float(np.mean(fold_values))
    return mean - half, mean + half
