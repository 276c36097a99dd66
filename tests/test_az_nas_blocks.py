"""AZ-NAS's block features on networks outside the benchmark spaces (user-built networks)."""

from __future__ import annotations

import math

import torch
from torch import nn

from scoring.measures.az_nas import az_nas


class _Probe:
    """The parts of a scoring probe AZ-NAS reads, for one fixed network."""

    def __init__(self, net: nn.Module):
        self._net = net
        self.x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        self.y = None
        self.seed, self.num_classes, self.params, self.flops = 0, 10, 0, 0

    def network(self) -> nn.Module:
        return self._net

    def generator(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed(salt)


def _raw_input_sequence() -> nn.Module:
    """A network whose longest Sequential is its whole body, taking the raw image as its first block's input."""
    body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    return _Wrapped(body)


class _Wrapped(nn.Module):
    def __init__(self, body: nn.Sequential):
        super().__init__()
        self.body = body
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


def test_trainability_is_defined_when_the_main_sequence_starts_at_the_raw_input():
    values = az_nas(_Probe(_raw_input_sequence()), frozenset({"az_expressivity", "az_progressivity", "az_trainability"}))
    assert set(values) == {"az_expressivity", "az_progressivity", "az_trainability"}, values
    assert not math.isnan(values["az_trainability"]), f"trainability undefined: {values}"


def test_a_pass_torch_cannot_differentiate_gives_undefined_scores_not_an_error():
    from scoring.registry import run_pass

    class _Probe2(_Probe):
        def network(self) -> nn.Module:
            return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardsigmoid(), nn.Flatten(), nn.LazyLinear(10))

    probe = _Probe2(nn.Identity())
    probe.y = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(1))
    values = run_pass("grasp", probe, frozenset({"grasp"}))
    assert values == {"grasp": -math.inf}, f"grasp through a hard-sigmoid should be undefined, got {values}"
