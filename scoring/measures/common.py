"""Small pieces several passes share: which layers carry weights, seeded re-initialisation, hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

#: layers whose weights the gradient scores (snip, grad_norm, grasp, synflow, zico) read
WEIGHTED = (nn.Conv2d, nn.Linear)


def weighted_layers(net: nn.Module) -> list[nn.Module]:
    """Every Conv2d and Linear module of ``net``, in module order."""
    return [m for m in net.modules() if isinstance(m, WEIGHTED)]


def reinitialise(net: nn.Module, init: Callable[[torch.Tensor], None], seed: int) -> None:
    """Redraw every conv/linear weight with ``init`` (CPU draws from ``seed``), zero their biases, BN to (1, 0)."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for m in net.modules():
            if isinstance(m, WEIGHTED):
                w = torch.empty(m.weight.shape, dtype=m.weight.dtype)
                init(w)
                m.weight.copy_(w)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


@contextmanager
def forward_hooks(modules: list[nn.Module], hook: Callable) -> Iterator[None]:
    """``hook`` registered as a forward hook on each of ``modules`` for the duration of the block."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def log_or_undefined(total: torch.Tensor | float) -> float:
    """log(total) for a positive total, else NaN (mapped to the registry's undefined value)."""
    t = float(total)
    return float(torch.log(torch.tensor(t, dtype=torch.float64))) if t > 0 else float("nan")
