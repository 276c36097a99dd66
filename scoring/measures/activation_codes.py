"""Scores of the ReLU codes of one forward pass (no autograd): NASWOT and SWAP.

Both read only which units are switched on, so they run on the space's fastest exact network (for
NB-201 the pruned module pool, whose ReLU inputs are bit-identical to the full network's).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import naswot
from ..registry import Probe, ScoreInfo, register_pass

NASWOT = ScoreInfo(
    "naswot",
    "log|det K_H| of the Hamming kernel of the ReLU codes over the minibatch (Mellor et al., ICML 2021)",
    "relu_codes",
)
SWAP = ScoreInfo(
    "swap",
    "number of distinct sample-wise activation patterns: each unit's on/off vector over the first 32 inputs of the minibatch (Peng et al., ICLR 2024)",
    "relu_codes",
)
#: inputs whose patterns SWAP counts: over 128 inputs nearly every unit's pattern is distinct and the count
#: saturates at the number of units (Spearman 0.67 against 0.78 with 32 on NB-201, README)
SWAP_SAMPLES = 32


def pack_columns(codes: torch.Tensor) -> torch.Tensor:
    """Each column of a (B, n) 0/1 matrix as ceil(B/63) int64 words (n, words): equal columns, equal rows."""
    b, n = codes.shape
    words = -(-b // 63)
    padded = torch.zeros(words * 63, n, dtype=torch.int64, device=codes.device)
    padded[:b] = codes.to(torch.int64)
    weights = torch.pow(2, torch.arange(63, dtype=torch.int64, device=codes.device)).view(1, 63, 1)
    return (padded.view(words, 63, n) * weights).sum(dim=1).T


class _PatternCollector:
    """Forward pre-hook on ReLUs: the distinct per-unit on/off columns over the batch, packed into words."""

    def __init__(self) -> None:
        self.parts: list[torch.Tensor] = []

    def __call__(self, _module: nn.Module, args: tuple) -> None:
        codes = args[0].detach()[:SWAP_SAMPLES].flatten(1) > 0
        self.parts.append(torch.unique(pack_columns(codes), dim=0))

    def count(self) -> int:
        if not self.parts:
            return 0
        return int(torch.unique(torch.cat(self.parts), dim=0).shape[0])


def swap_count(net: nn.Module, x: torch.Tensor) -> int:
    """The SWAP score of ``net`` on ``x``: distinct activation columns of the first ``SWAP_SAMPLES`` inputs
    over all ReLU units (train mode, no grad)."""
    collector = _PatternCollector()
    handles = [m.register_forward_pre_hook(collector) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        net.train()
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return collector.count()


@register_pass(NASWOT, SWAP)
def relu_codes(probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    with probe.code_network() as net:
        if "naswot" in wanted:
            out["naswot"] = float(naswot.log_abs_det(naswot.kernel(net, probe.x, probe.precision)).item())
        if "swap" in wanted:
            out["swap"] = float(swap_count(net, probe.x))
    return out
