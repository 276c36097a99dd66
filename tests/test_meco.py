"""MeCo on the layouts it reads (feature maps, token sequences), its exact zeros, and when it is undefined.

The naive value here decomposes every map's float64 channel correlation with numpy, NaN read as 0 (the
reference code's definition); the registered pass must agree with it to float noise while skipping the
correlations that are singular by construction.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from scoring.measures import meco
from scoring.registry import run_pass
from scoring.undefined import Undefined

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Probe:
    """The registry's Probe protocol around one float64 network and a seeded input of ``shape``."""

    def __init__(self, factory, shape: tuple[int, ...], seed: int = 0):
        self.factory, self.seed = factory, seed
        self.x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.y, self.num_classes, self.params, self.flops = None, 2, 0, 0

    def network(self) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return self.factory().double().train()

    def generator(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed(salt)


class Tokens(nn.Module):
    """A ViT-like block on N x L x C tokens: embedding, LayerNorm, GELU MLP with a residual."""

    def __init__(self, dim: int = 6, hidden: int = 9):
        super().__init__()
        self.embed, self.norm = nn.Linear(5, dim), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.head = nn.Linear(dim, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        x = x + self.mlp(self.norm(x))
        return self.head(x.mean(dim=1))


def conv_net(width: int = 5, inplace: bool = False) -> nn.Module:
    """conv, BN and ReLU (in place when asked) in nested Sequentials that hand the last map on twice."""
    block = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=inplace))
    return nn.Sequential(nn.Sequential(block), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 2))


def naive_meco(probe: Probe) -> float:
    """Every module's 4-D map (channels x positions) or 3-D token sequence (tokens as positions) of input 0, copied
    as its hook sees it; the smallest eigenvalue of each numpy float64 channel correlation (NaN as 0), summed."""
    net, maps = probe.network(), []

    def keep(_m, _a, out):
        if out.dim() == 4:
            maps.append(out[0].detach().reshape(out.shape[1], -1).numpy().copy())
        elif out.dim() == 3:
            maps.append(out[0].detach().T.numpy().copy())

    handles = [m.register_forward_hook(keep) for m in net.modules()]
    with torch.no_grad():
        net(probe.x[:1])
    for h in handles:
        h.remove()
    total = 0.0
    for fea in maps:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            corr = np.nan_to_num(np.atleast_2d(np.corrcoef(fea)), nan=0.0)
        total += float(np.linalg.eigvalsh(corr).min())
    return total


def registered(probe: Probe) -> float:
    return run_pass("meco", probe, frozenset({"meco"}))["meco"]


CASES = {
    "feature maps": Probe(conv_net, (3, 6, 6)),
    "in-place ReLU after BN in nested Sequentials": Probe(lambda: conv_net(inplace=True), (3, 6, 6)),
    "token sequence, tokens as positions": Probe(Tokens, (12, 5)),
    "some maps wider than their positions": Probe(lambda: Tokens(dim=6, hidden=20), (12, 5)),
}


@pytest.mark.parametrize("probe", CASES.values(), ids=CASES.keys())
def test_meco_is_its_naive_definition(probe):
    expected = naive_meco(probe)
    assert expected > 1e-6, "the naive value is degenerate on this case; pick another"
    assert registered(probe) == pytest.approx(expected, rel=1e-9, abs=1e-12), "registered meco differs from its definition"


@pytest.mark.parametrize("channels, positions", [(8, 8), (12, 5), (64, 16)])
def test_a_map_with_at_least_as_many_channels_as_positions_adds_an_exact_zero(channels, positions):
    fea = torch.randn(channels, positions, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    noise = float(np.linalg.eigvalsh(np.corrcoef(fea.numpy())).min())
    assert meco.smallest_eigenvalue(fea) is None, "a correlation singular by shape must not be decomposed"
    assert abs(noise) < 1e-12, f"the decomposed value {noise!r} should be float noise around the exact 0"


def test_a_constant_channel_adds_an_exact_zero():
    fea = torch.randn(3, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    fea[1] = 0.5
    assert meco.smallest_eigenvalue(fea) is None, "a constant channel's zeroed row is an exact zero eigenvalue"


def test_one_channel_over_several_positions_has_correlation_one():
    assert meco.smallest_eigenvalue(torch.arange(4.0).reshape(1, 4)) == pytest.approx(1.0), "a 1 x 1 correlation is 1"


UNDEFINED = {
    "no map or token sequence": (Probe(lambda: nn.Sequential(nn.Linear(7, 4), nn.ReLU(), nn.Linear(4, 2)), (7,)), meco.NOTHING_TO_READ),
    "every map wider than its positions": (Probe(lambda: Tokens(dim=16, hidden=32), (4, 5)), meco.ALL_SINGULAR),
}


@pytest.mark.parametrize("probe, reason", UNDEFINED.values(), ids=UNDEFINED.keys())
def test_a_network_meco_cannot_read_is_undefined_with_its_reason(probe, reason):
    assert meco.meco(probe, frozenset({"meco"})) == {"meco": Undefined(reason)}, "expected the pass to say why it has no value"
    assert registered(probe) == -math.inf, "an undefined meco must rank last (-inf), never as 0 or noise"
