"""Parameter and FLOP counts of any network, measured on PyTorch's meta device (no memory, no maths).

FLOPs follow the convention of the NAS-Bench-201 / NATS-Bench tables: multiply-accumulates of
convolutions and linear layers per image, plus one per output element for their biases;
normalisation, activations, pooling and additions are not counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelCost:
    params: int
    flops: int


def count_params(net: nn.Module) -> int:
    """Number of trainable parameters (each shared tensor once)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _layer_flops(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        positions = output.numel() // output.shape[0] // module.out_channels
        per_position = module.weight[0].numel() * module.out_channels
        return positions * (per_position + (module.out_channels if module.bias is not None else 0))
    if isinstance(module, nn.Linear):
        rows = output.numel() // output.shape[0] // module.out_features
        return rows * (module.in_features * module.out_features + (module.out_features if module.bias is not None else 0))
    return 0


def count_flops(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs per image of one forward pass of ``net`` on an input of ``input_shape`` (C, H, W)."""
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    total = 0

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += _layer_flops(module, output)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    try:
        with torch.no_grad():
            net.eval()
            net(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
    return total


def measure(make: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> ModelCost:
    """Build a network with ``make`` on the meta device and count its parameters and FLOPs."""
    with torch.device("meta"):
        net = make()
    return ModelCost(params=count_params(net), flops=count_flops(net, input_shape))
