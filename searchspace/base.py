"""The interface every search space implements, so search, scoring and the service need no special cases."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from .cost import ModelCost, measure
from .seeded import BuiltNetworks, NetworkSource, StackedNetworks


class SearchSpace(ABC):
    """A family of architectures with a canonical text encoding.

    Every method that takes ``arch`` accepts any encoding the space documents and
    validates it; the canonical string returned by :meth:`canonical` is the identity of
    an architecture (two encodings of the same network give the same string).
    """

    #: registry name, e.g. ``"nb201"``
    name: str
    #: one-line description of the space
    description: str
    #: how architectures are written, for humans (shown by ``GET /v1/spaces``)
    encoding: str
    #: one canonical architecture of the space
    example: str
    #: input image shape (C, H, W) the space's networks are defined for by default
    input_shape: tuple[int, int, int] = (3, 32, 32)
    #: decision values that carry no weights (skips, poolings): the size-bias report sums their shares
    parameter_free: frozenset[object] = frozenset()
    #: True when a network takes only the resolution :meth:`input_shape_of` gives (scoring data is resized to
    #: it); False when any resolution works (global pooling before the classifier, as in the benchmark spaces),
    #: so networks see the data's own resolution, as they always have
    fixed_resolution: bool = False

    @property
    @abstractmethod
    def size(self) -> int | None:
        """Number of distinct architectures (``None`` when not finite or not known)."""

    @abstractmethod
    def canonical(self, arch: Any) -> str:
        """Validate ``arch`` and return its canonical string; raise :class:`EncodingError`."""

    @abstractmethod
    def random(self, rng: random.Random) -> str:
        """One architecture drawn uniformly from the space, using ``rng``."""

    @abstractmethod
    def mutate(self, arch: Any, rng: random.Random) -> str:
        """A neighbour of ``arch`` differing in one decision (never ``arch`` itself)."""

    @abstractmethod
    def build(self, arch: Any, num_classes: int = 10) -> nn.Module:
        """The PyTorch network for ``arch``, initialised from torch's global RNG."""

    @property
    def identity(self) -> str:
        """What caches key this space's scores by: its name (a space file adds its content digest)."""
        return self.name

    def decisions(self, arch: Any) -> list[tuple[str, object]]:
        """``arch`` decomposed into (position, value) pairs, one per decision it makes (the size-bias report's op shares)."""
        raise NotImplementedError(f"space {self.name!r} does not decompose its encodings into decisions")
    def input_shape_of(self, canonical: str) -> tuple[int, int, int]:
        """The input shape (C, H, W) of one architecture: ``input_shape`` unless the resolution is part of the
        architecture (as in ``ofa-mbv3``).  The channel count is always ``input_shape[0]``."""
        return self.input_shape

    def network_source(self, num_classes: int, seed: int, device: torch.device, *, pruned: bool = False) -> NetworkSource:
        """Seeded networks of this space on ``device``, each as ``build_seeded`` gives it (weights drawn on the CPU).

        The default builds each network afresh; a space may reuse modules instead (NB-201 does).
        ``pruned=True`` allows a network that skips work which cannot change the NASWOT score (the
        codes of its activations); its outputs and gradients are then not the network's, so every other
        score must ask for ``pruned=False``.
        """
        return BuiltNetworks(self, num_classes, seed, device)

    def stacked_networks(self, num_classes: int, seed: int) -> StackedNetworks | None:
        """A runner of many architectures in one stacked pass (their ReLU inputs only), or ``None`` where the space has none."""
        return None

    def enumerate(self) -> Iterator[str]:
        """Every architecture of a finite space, in a fixed order."""
        raise NotImplementedError(f"space {self.name!r} cannot be enumerated")

    def sample(self, n: int, seed: int | None = 0, *, unique: bool = False) -> list[str]:
        """``n`` architectures drawn uniformly at random; the same seed gives the same list.

        With ``unique`` no architecture repeats (``n`` must not exceed the space's size).
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if unique and self.size is not None and n > self.size:
            raise ValueError(f"cannot draw {n} distinct architectures from a space of {self.size}")
        rng = random.Random(seed)
        if not unique:
            return [self.random(rng) for _ in range(n)]
        seen: dict[str, None] = {}
        while len(seen) < n:
            seen.setdefault(self.random(rng), None)
        return list(seen)

    def cost(self, arch: Any, num_classes: int = 10, input_size: int | tuple[int, int] | None = None) -> ModelCost:
        """Parameter count and FLOPs per image of ``arch`` (see :mod:`searchspace.cost`), at ``input_size``
        or else at the architecture's own resolution (:meth:`input_shape_of`); parameters do not depend on it."""
        canonical = self.canonical(arch)
        hw = self.input_shape_of(canonical)[1:] if input_size is None else as_hw(input_size)
        return _cached_cost(self, canonical, num_classes, hw)

    def params(self, arch: Any, num_classes: int = 10) -> int:
        """Number of trainable parameters of the network built for ``arch``."""
        return self.cost(arch, num_classes).params

    def flops(self, arch: Any, input_size: int | tuple[int, int] | None = None, num_classes: int = 10) -> int:
        """Multiply-accumulates per image, counted as the benchmarks count them."""
        return self.cost(arch, num_classes, input_size).flops

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/spaces`` shows about this space."""
        return {
            "name": self.name,
            "description": self.description,
            "encoding": self.encoding,
            "example": self.example,
            "size": self.size,
            "input_shape": list(self.input_shape),
            "fixed_resolution": self.fixed_resolution,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def as_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """An input size given as one int or (H, W), as (H, W)."""
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


@lru_cache(maxsize=65536)
def _cached_cost(space: SearchSpace, canonical: str, num_classes: int, hw: tuple[int, int]) -> ModelCost:
    return measure(lambda: space.build(canonical, num_classes), (space.input_shape[0], *hw))
