"""Seeded networks: built, or redrawn in place, exactly as ``space.build(arch)`` right after ``torch.manual_seed(seed)``.

Draws always happen on the CPU (CUDA draws differ, and results would then depend on the device)
and never move torch's global RNG.  :class:`NetworkSource` is what a scorer asks a space for
(:meth:`SearchSpace.network_source`); :class:`BuiltNetworks` is the default, a fresh network per
architecture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from .base import SearchSpace

# Seeded construction draws from torch's global RNG; one builder at a time keeps seeds exact under threads.
BUILD_LOCK = threading.Lock()


class NetworkSource(Protocol):
    """Seeded networks of one space, one architecture at a time."""

    def network(self, arch: Any) -> AbstractContextManager[nn.Module]:
        """The seeded network of ``arch`` on the source's device, valid inside the ``with`` block."""


#: observer(relu_input, cells, times): channel group g of ``relu_input`` belongs to architecture
#: cells[g] of a stacked pass, and times[g] ReLUs read it
ReluObserver = Callable[[torch.Tensor, Sequence[int], Sequence[int]], None]


class StackedNetworks(Protocol):
    """Seeded networks of many architectures run in one stacked pass, reporting ReLU inputs per architecture."""

    def forward(self, archs: Sequence[Any], x: torch.Tensor, observe: ReluObserver) -> None:
        """One pass of ``archs`` over ``x`` (no autograd), every ReLU input handed to ``observe``."""


def build_seeded(space: SearchSpace, arch: Any, num_classes: int, seed: int) -> nn.Module:
    """``space.build(arch)`` with weights fixed by ``seed`` (on the CPU), leaving the global RNG untouched;
    a network over the space's ``max_params`` is refused first (:meth:`SearchSpace.check_size`)."""
    space.check_size(arch, num_classes)
    with BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return space.build(arch, num_classes=num_classes)


def redraw(net: nn.Module, seed: int) -> None:
    """Re-initialise ``net`` as its constructor did after ``torch.manual_seed(seed)`` (CPU draws, global RNG untouched).

    Valid for networks whose modules are registered in the order they are constructed and whose
    constructors draw only through ``reset_parameters()``, as the NB-201 network's do.
    """
    with BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in net.modules():
            reset = getattr(module, "reset_parameters", None)
            if reset is not None:
                reset()


class BuiltNetworks:
    """Any space: a fresh ``build_seeded`` network per architecture, moved to the device."""

    def __init__(self, space: SearchSpace, num_classes: int, seed: int, device: torch.device):
        self.space, self.num_classes, self.seed, self.device = space, num_classes, seed, device

    @contextmanager
    def network(self, arch: Any) -> Iterator[nn.Module]:
        yield build_seeded(self.space, arch, self.num_classes, self.seed).to(self.device)


def flatten_into_one(tensors: list[torch.Tensor], pin: bool = False) -> torch.Tensor:
    """Rebind ``tensors`` (same dtype and device) as views into one new flat tensor holding their values."""
    total = sum(t.numel() for t in tensors)
    flat = torch.empty(total, dtype=tensors[0].dtype, device=tensors[0].device, pin_memory=pin)
    offset = 0
    with torch.no_grad():
        for t in tensors:
            view = flat[offset : offset + t.numel()].view_as(t)
            view.copy_(t)
            t.data = view
            offset += t.numel()
    return flat
