"""Scores of the activation codes of one forward pass (no autograd): NASWOT and SWAP.

Both read only which units are switched on (input > 0 at every elementwise rectifier module, see
:data:`scoring.naswot.CODE_ACTIVATIONS`), so they run on the space's fastest exact network (for NB-201
the pruned module pool, whose ReLU inputs are bit-identical to the full network's).  Each value comes
with a note naming the activations read; a network without any is undefined for both, with the reason.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import naswot
from ..registry import Probe, ScoreInfo, register_pass
from ..undefined import Noted, Undefined

NASWOT = ScoreInfo(
    "naswot",
    "log|det K_H| of the Hamming kernel of the activation codes (input > 0 at every ReLU-family, GELU, SiLU, Hardswish, ... module) "
    "over the minibatch (Mellor et al., ICML 2021)",
    "relu_codes",
    revision=2,  # 2: codes of every elementwise rectifier, not of nn.ReLU alone (equal on ReLU-only networks)
)
SWAP = ScoreInfo(
    "swap",
    "number of distinct sample-wise activation patterns: each unit's on/off vector over the first 32 inputs of the minibatch, "
    "at every ReLU-family, GELU, SiLU, Hardswish, ... module (Peng et al., ICLR 2024)",
    "relu_codes",
    revision=2,  # 2: patterns of every elementwise rectifier, not of nn.ReLU alone (equal on ReLU-only networks)
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
    """Forward pre-hook on activations: the distinct per-unit on/off columns over the batch, packed into words."""

    def __init__(self) -> None:
        self.parts: list[torch.Tensor] = []

    def __call__(self, _module: nn.Module, args: tuple) -> None:
        codes = args[0].detach()[:SWAP_SAMPLES].flatten(1) > 0
        self.parts.append(torch.unique(pack_columns(codes), dim=0))

    def count(self) -> int:
        return int(torch.unique(torch.cat(self.parts), dim=0).shape[0])


def swap_count(net: nn.Module, x: torch.Tensor) -> Noted:
    """The SWAP score of ``net`` on ``x``: distinct activation columns of the first ``SWAP_SAMPLES`` inputs over all
    units of the activations read (train mode, no grad), noted with those activations; :class:`naswot.NoCodes` when
    the network has none."""
    collector = _PatternCollector()
    net.train()
    with naswot.reading_codes(net, collector) as read, torch.no_grad():
        net(x)
    return Noted(float(collector.count()), naswot.codes_note(read))


def naswot_value(k: naswot.Kernel) -> Noted:
    """NASWOT's value of kernel ``k`` (one host synchronisation), noted with the activations read; undefined when singular."""
    return Noted(naswot.undefined_if_singular(float(naswot.log_abs_det(k).item())), k.note)


@register_pass(NASWOT, SWAP)
def relu_codes(probe: Probe, wanted: frozenset[str]) -> dict[str, Noted | Undefined]:
    out: dict[str, Noted | Undefined] = {}
    with probe.code_network() as net:
        try:
            if "naswot" in wanted:
                out["naswot"] = naswot_value(naswot.kernel(net, probe.x, probe.precision))
            if "swap" in wanted:
                out["swap"] = swap_count(net, probe.x)
        except naswot.NoCodes as exc:
            return {name: Undefined(str(exc)) for name in wanted}
    return out
