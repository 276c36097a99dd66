"""The NASWOT score (Mellor et al., ICML 2021): log|det K_H| of the binary activation-code kernel.

For a minibatch of B inputs, every unit of every ``nn.ReLU`` module yields one bit per input,
c = (pre-activation > 0).  K_H[i, j] = sum over units of [c_i == c_j] = N_A - Hamming(c_i, c_j).
Per layer with S = 2C - 1 (entries +-1, shape B x n) this is (n + S S^T) / 2: one matrix product,
exact in float32 while n < 2**24.  Products are accumulated in float64 on the network's device and
the host synchronises once, after the log-determinant.

Units are counted once per ``nn.ReLU`` module (the authors' code also hooks wrapper modules
whose class name contains "ReLU", counting some units twice; rankings barely change).  ReLUs called
as functions (``F.relu``) are not seen: use ``nn.ReLU`` modules.  A module called more than once
contributes once per call.

K_H is singular when two inputs share one code (two equal rows); then the score is ``-inf``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

#: largest per-layer unit count whose +-1 Gram products float32 represents exactly
EXACT_FLOAT32_UNITS = 2**24


@dataclass(frozen=True)
class Kernel:
    """K_H (float64, B x B, on the network's device) and the number of units N_A behind it."""

    matrix: torch.Tensor
    units: int


def sign_gram(codes: torch.Tensor) -> torch.Tensor:
    """S S^T for S = 2*(codes > 0) - 1, one row per input; exact (float32 chunks below 2**24 columns)."""
    flat = codes.reshape(codes.shape[0], -1)
    gram = None
    for start in range(0, flat.shape[1], EXACT_FLOAT32_UNITS - 1):
        s = (flat[:, start : start + EXACT_FLOAT32_UNITS - 1] > 0).to(torch.float32).mul_(2).sub_(1)
        part = (s @ s.T).to(torch.float64)
        gram = part if gram is None else gram + part
    assert gram is not None
    return gram


class _CodeAccumulator:
    """Forward pre-hook state: sums S S^T over ReLU calls; reuses the product when several ReLUs see one tensor."""

    def __init__(self, batch: int, device: torch.device):
        self.gram = torch.zeros(batch, batch, dtype=torch.float64, device=device)
        self.units = 0
        self.calls = 0
        self._recent: list[tuple[torch.Tensor, int, torch.Tensor]] = []

    def __call__(self, _module: nn.Module, args: tuple) -> None:
        x = args[0]
        product = next((g for t, v, g in self._recent if t is x and v == x._version), None)
        if product is None:
            product = sign_gram(x.detach())
            # keep a strong reference so the identity test cannot match a recycled tensor
            self._recent = [(x, x._version, product), *self._recent[:3]]
        self.gram += product
        self.units += x[0].numel()
        self.calls += 1

    def kernel(self) -> Kernel:
        self._recent.clear()
        return Kernel(matrix=(self.gram + self.units) / 2, units=self.units)


@contextmanager
def _hooked(net: nn.Module, acc: _CodeAccumulator) -> Iterator[None]:
    handles = [m.register_forward_pre_hook(acc) for m in net.modules() if isinstance(m, nn.ReLU)]
    if not handles:
        raise ValueError("the network has no nn.ReLU modules: the NASWOT score is undefined for it")
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def kernel(net: nn.Module, x: torch.Tensor) -> Kernel:
    """K_H of ``net`` on minibatch ``x`` (one forward pass in train mode, no autograd)."""
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must be a batch of inputs, got shape {tuple(x.shape)}")
    acc = _CodeAccumulator(x.shape[0], x.device)
    was_training = net.training
    net.train()
    try:
        with _hooked(net, acc), torch.no_grad():
            net(x)
    finally:
        net.train(was_training)
    if acc.calls == 0:
        raise ValueError("no nn.ReLU module was called in the forward pass: the NASWOT score is undefined")
    return acc.kernel()


def log_abs_det(k: Kernel) -> torch.Tensor:
    """log|det K_H| as a 0-d float64 tensor on K's device, ``-inf`` when K_H is singular (no host sync)."""
    m = k.matrix
    sign, logabs = torch.linalg.slogdet(m)
    off_diagonal = ~torch.eye(m.shape[0], dtype=torch.bool, device=m.device)
    repeated_code = ((m == k.units) & off_diagonal).any()
    singular = repeated_code | (sign == 0) | ~torch.isfinite(logabs)
    return torch.where(singular, torch.full_like(logabs, -math.inf), logabs)


def score(net: nn.Module, x: torch.Tensor) -> float:
    """NASWOT score of ``net`` on minibatch ``x``: log|det K_H|, or ``-inf`` when K_H is singular.

    ``x`` is a float tensor on the network's device; the network is put in train mode for the
    pass (BatchNorm uses batch statistics, running statistics are updated) and its mode restored.
    """
    return float(log_abs_det(kernel(net, x)).item())
