"""Score architectures of a search space: seeded construction, one minibatch, NASWOT, cost figures.

This is the path the CLI, the service, the searches and the benchmarks share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from searchspace import SearchSpace
from searchspace.seeded import build_seeded

from . import naswot
from .batched import BatchedNaswot
from .data import DataSource
from .device import describe_device
from .precision import check_precision

__all__ = ["ArchScore", "Scorer", "build_seeded"]


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


class Scorer:
    """Scores architectures of one space on one fixed minibatch and device.

    The minibatch is drawn once from ``source`` with ``seed``; each network's weights are
    initialised from the same ``seed`` (on the CPU), so a (space, arch, source, batch size, seed,
    precision) tuple always gives the same score.  ``precision`` is ``exact`` unless an opt-in
    faster mode of :mod:`scoring.precision` is asked for.  ``cells_per_pass`` K > 1 (NB-201 only,
    opt-in) scores K cells per stacked pass (:mod:`scoring.batched`): same weights, but grouped
    convolutions may round differently, so its scores are labelled ``<mode>+batchedK``.
    """

    score_name = "naswot"

    def __init__(
        self,
        space: SearchSpace,
        source: DataSource,
        *,
        batch_size: int = 128,
        seed: int = 0,
        device: torch.device | str = "cpu",
        precision: str = "exact",
        cells_per_pass: int = 1,
    ):
        self.space = space
        self.source = source
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        self.mode = check_precision(precision, self.device)
        if isinstance(cells_per_pass, bool) or not isinstance(cells_per_pass, int) or cells_per_pass < 1:
            raise ValueError(f"cells_per_pass must be an integer >= 1, got {cells_per_pass!r}")
        stacked = space.stacked_networks(max(source.num_classes, 1), seed) if cells_per_pass > 1 else None
        if cells_per_pass > 1 and stacked is None:
            raise ValueError(f"cells_per_pass > 1 (stacked cells) needs a space with stacked passes, such as nb201, not {space.name!r}")
        self.cells_per_pass = cells_per_pass
        self.num_classes = max(source.num_classes, 1)
        self.x = source.minibatch(batch_size, seed).to(self.device)
        self.networks = space.network_source(self.num_classes, seed, self.device, pruned=True)  # NASWOT reads codes only
        self.batched = BatchedNaswot(stacked) if stacked is not None else None

    @property
    def precision(self) -> str:
        """The numeric mode, as cached: ``exact``, ``tf32``, ``bf16``, with ``+batchedK`` for K stacked cells per pass."""
        return self.mode if self.cells_per_pass == 1 else f"{self.mode}+batched{self.cells_per_pass}"

    def _launch(self, canonical: str) -> tuple[torch.Tensor, float]:
        """Start scoring one architecture; its score stays on the device (no host synchronisation)."""
        start = time.perf_counter()
        with self.networks.network(canonical) as net:
            value = naswot.log_abs_det(naswot.kernel(net, self.x, self.mode))
        return value, start

    def _finish(self, canonical: str, value: torch.Tensor, start: float) -> ArchScore:
        score = float(value.item())  # the one host synchronisation per architecture
        seconds = time.perf_counter() - start
        cost = self.space.cost(canonical, self.num_classes, self.source.image_shape[1:])
        return ArchScore(canonical, score, cost.params, cost.flops, seconds)

    def score_one(self, arch: Any) -> ArchScore:
        canonical = self.space.canonical(arch)
        if self.batched is not None:
            return next(self._batch([canonical]))
        return self._finish(canonical, *self._launch(canonical))

    def score_many(self, archs: Iterable[Any]) -> Iterator[ArchScore]:
        """Scores in input order, yielded as each completes.

        The next architecture's network is built and its pass launched before the current score is
        read back, so on an asynchronous device (CUDA) construction overlaps the running pass.
        ``seconds`` is then the wall time from an architecture's start to its score being read.
        With ``cells_per_pass`` K > 1, architectures go K at a time through one stacked pass and
        ``seconds`` is each one's share of its pass.
        """
        if self.batched is not None:
            yield from self._score_stacked(archs)
            return
        pending: tuple[str, torch.Tensor, float] | None = None
        for arch in archs:
            try:
                canonical = self.space.canonical(arch)
                launched = (canonical, *self._launch(canonical))
            except BaseException:
                if pending is not None:
                    yield self._finish(*pending)
                raise
            if pending is not None:
                yield self._finish(*pending)
            pending = launched
        if pending is not None:
            yield self._finish(*pending)

    def _score_stacked(self, archs: Iterable[Any]) -> Iterator[ArchScore]:
        group: list[str] = []
        for arch in archs:
            try:
                group.append(self.space.canonical(arch))
            except BaseException:
                yield from self._batch(group)
                raise
            if len(group) == self.cells_per_pass:
                yield from self._batch(group)
                group = []
        yield from self._batch(group)

    def _batch(self, canonicals: list[str]) -> Iterator[ArchScore]:
        if not canonicals:
            return
        assert self.batched is not None
        start = time.perf_counter()
        values = self.batched.scores(canonicals, self.x, self.mode).tolist()  # one host sync per pass
        seconds = (time.perf_counter() - start) / len(canonicals)
        for canonical, value in zip(canonicals, values):
            cost = self.space.cost(canonical, self.num_classes, self.source.image_shape[1:])
            yield ArchScore(canonical, value, cost.params, cost.flops, seconds)

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
