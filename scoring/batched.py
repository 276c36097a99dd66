"""NASWOT scores of many architectures from one stacked pass (a space's :meth:`~searchspace.SearchSpace.stacked_networks`).

The space runs K architectures at once and hands over every ReLU input with the architectures its
channel groups belong to; here those become binary codes, per-architecture code Grams (exact
integer sums, with the product kernel :mod:`scoring.kernels` chose for the device) and one batched
log-determinant.  Same weights as one network at a time, but where the convolution kernels round
grouped and dense convolutions differently, scores move by rounding
(the tests and ``bench/throughput.py --batched`` report the difference and the rank agreement).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from searchspace.seeded import StackedNetworks

from . import kernels
from .naswot import kernel_from_gram
from .precision import forward_precision


class _Codes:
    """Per-cell sums of code Grams and unit counts for K stacked cells."""

    def __init__(self, cells: int, batch: int, device: torch.device):
        self.gram = torch.zeros(cells, batch, batch, dtype=torch.float64, device=device)
        self.units = [0] * cells
        self.calls = [0] * cells

    def add(self, x: torch.Tensor, cells: Sequence[int], times: Sequence[int]) -> None:
        """Codes of ``x`` (B, len(cells) * C, H, W; channel group g belongs to cell cells[g]), counted ``times[g]`` times."""
        b = x.shape[0]
        codes = (x.reshape(b, len(cells), -1) > 0)
        grams = kernels.grouped_gram(codes, kernels.choice(x.device).kernel)
        weight = torch.tensor(times, dtype=torch.float64, device=x.device)[:, None, None]
        index = torch.tensor(cells, device=x.device)
        self.gram.index_add_(0, index, grams * weight)
        n = codes.shape[2]
        for c, t in zip(cells, times):
            self.units[c] += t * n
            self.calls[c] += t


def kernel_from_gram_batched(gram: torch.Tensor, units: Sequence[int]) -> torch.Tensor:
    """K_H = N_A + 2 G - d_i - d_j for each of a stack of code Grams (K x B x B)."""
    return torch.stack([kernel_from_gram(gram[i], units[i]) for i in range(gram.shape[0])])


def log_abs_det_batched(matrices: torch.Tensor, units: Sequence[int]) -> torch.Tensor:
    """log|det K_H| per cell (float64, on the device), ``-inf`` where K_H is singular, as :func:`naswot.log_abs_det`."""
    sign, logabs = torch.linalg.slogdet(matrices)
    b = matrices.shape[-1]
    off_diagonal = ~torch.eye(b, dtype=torch.bool, device=matrices.device)
    full = torch.tensor(list(units), dtype=matrices.dtype, device=matrices.device)[:, None, None]
    repeated_code = ((matrices == full) & off_diagonal).flatten(1).any(dim=1)
    singular = repeated_code | (sign == 0) | ~torch.isfinite(logabs)
    return torch.where(singular, torch.full_like(logabs, -math.inf), logabs)


class BatchedNaswot:
    """NASWOT scores of groups of architectures, each group in one stacked pass of ``stacked``."""

    def __init__(self, stacked: StackedNetworks):
        self.stacked = stacked

    def scores(self, archs: Sequence[Any], x: torch.Tensor, precision: str = "exact") -> torch.Tensor:
        """log|det K_H| of each of ``archs`` (one stacked pass; float64 on x's device, no host sync)."""
        return self.scores_read(archs, x, precision)[0]

    def scores_read(self, archs: Sequence[Any], x: torch.Tensor, precision: str = "exact") -> tuple[torch.Tensor, list[dict[str, int]]]:
        """:meth:`scores`, and for each architecture the activation calls read (class name -> calls), as
        :class:`scoring.naswot.Kernel` counts them: a stacked pass reads ReLUs only."""
        codes = _Codes(len(archs), x.shape[0], x.device)
        with forward_precision(precision, x.device):
            self.stacked.forward(archs, x, codes.add)
        scores = log_abs_det_batched(kernel_from_gram_batched(codes.gram, codes.units), codes.units)
        return scores, [{"ReLU": calls} for calls in codes.calls]
