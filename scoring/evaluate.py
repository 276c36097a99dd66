"""Score architectures of a search space: seeded construction, one minibatch, NASWOT, cost figures.

This is the path the CLI, the service, the searches and the benchmarks share.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from searchspace import SearchSpace

from . import naswot
from .data import DataSource
from .device import describe_device

# Seeded construction draws from torch's global RNG; one builder at a time keeps seeds exact under threads.
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class ArchScore:
    """One architecture's result. ``score`` is ``-inf`` exactly when K_H is singular."""

    arch: str
    score: float
    params: int
    flops: int
    seconds: float

    @property
    def singular(self) -> bool:
        return self.score == -math.inf

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form: ``score`` is ``None`` (null) when singular, with ``singular`` true."""
        out = asdict(self)
        out["score"] = None if self.singular else self.score
        out["singular"] = self.singular
        return out


def build_seeded(space: SearchSpace, arch: str, num_classes: int, seed: int) -> nn.Module:
    """``space.build(arch)`` with weights fixed by ``seed`` (on the CPU), leaving the global RNG untouched."""
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return space.build(arch, num_classes=num_classes)


class Scorer:
    """Scores architectures of one space on one fixed minibatch and device.

    The minibatch is drawn once from ``source`` with ``seed``; each network's weights are
    initialised from the same ``seed``, so a (space, arch, source, batch size, seed) tuple
    always gives the same score.
    """

    score_name = "naswot"
    precision = "exact"

    def __init__(self, space: SearchSpace, source: DataSource, *, batch_size: int = 128, seed: int = 0, device: torch.device | str = "cpu"):
        self.space = space
        self.source = source
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        self.num_classes = max(source.num_classes, 1)
        self.x = source.minibatch(batch_size, seed).to(self.device)

    def score_one(self, arch: Any) -> ArchScore:
        canonical = self.space.canonical(arch)
        start = time.perf_counter()
        net = build_seeded(self.space, canonical, self.num_classes, self.seed).to(self.device)
        value = naswot.score(net, self.x)
        seconds = time.perf_counter() - start
        cost = self.space.cost(canonical, self.num_classes, self.source.image_shape[1:])
        return ArchScore(canonical, value, cost.params, cost.flops, seconds)

    def score_many(self, archs: Iterable[Any]) -> Iterator[ArchScore]:
        """Scores in input order, yielded as each completes."""
        for arch in archs:
            yield self.score_one(arch)

    def __call__(self, archs: Iterable[Any]) -> list[ArchScore]:
        return list(self.score_many(archs))

    def describe(self) -> dict[str, Any]:
        """The settings that determine every score this scorer returns."""
        return {
            "space": self.space.name,
            "score": self.score_name,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "device": describe_device(self.device),
            "data": self.source.describe(),
        }
