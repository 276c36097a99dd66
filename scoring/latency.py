"""Measured latency: how long a network's forward pass takes on one device, and what that figure is keyed by.

What is timed: the forward pass of a batch of ``batch`` inputs at the input shape the architecture is
scored at (:func:`scoring.inputs.input_shape_for`), in eval mode under ``torch.no_grad()``, with weights
seeded (:data:`LATENCY_SEED`).  Against noise: :data:`WARMUP_RUNS` untimed passes first (allocator, caches,
lazy kernels), then the median of :data:`TIMED_RUNS` timed passes (``time.perf_counter``); on CUDA
``torch.cuda.synchronize()`` before and after each timed pass; the torch intra-op thread count is pinned
to one value for the whole measurement and is part of the device's identity.

A figure is only ever valid for the device that measured it: :class:`LatencyKey` holds the device identity
(:func:`device_identity`: the CPU model and thread count, or the GPU name), the batch and the resolution.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from searchspace import SearchSpace
from searchspace.seeded import build_seeded

from .data import DataSource
from .device import cpu_model
from .record import ScoredArch
from .inputs import cost_for, input_shape_for

#: the cost name of a measured latency (milliseconds per forward pass of a batch)
LATENCY = "latency_ms"
#: the costs of an architecture a result may carry: counted (params, FLOPs) or measured (latency)
COSTS = ("params", "flops", LATENCY)
#: untimed passes before the timed ones
WARMUP_RUNS = 3
#: timed passes whose median is the figure (at least 10)
TIMED_RUNS = 10
MIN_TIMED_RUNS = 10
#: the seed of the timed network's weights (latency does not depend on them; fixed so every run builds the same network)
LATENCY_SEED = 0


def device_identity(device: torch.device, threads: int | None = None) -> str:
    """What a latency figure is valid for: ``cuda: <GPU name>``, or ``cpu: <CPU model>; torch threads: <n>``."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(0 if device.index is None else device.index)}"
    return f"cpu: {cpu_model()}; torch threads: {threads or torch.get_num_threads()}"


@dataclass(frozen=True)
class LatencyKey:
    """Everything a latency figure depends on: space identity, canonical encoding, device identity, batch, resolution."""

    space: str
    arch: str
    device: str
    batch: int
    resolution: str  # the input shape C x H x W, e.g. ``3x32x32``

    @property
    def columns(self) -> tuple[str, str, str, int, str]:
        return (self.space, self.arch, self.device, self.batch, self.resolution)


def latency_key(space: SearchSpace, source: DataSource, arch: Any, device: str, batch: int) -> LatencyKey:
    """The key of ``arch``'s latency on ``device`` (an identity) at the input shape it is scored at with ``source``."""
    canonical = space.canonical(arch)
    shape = input_shape_for(space, source, canonical)
    return LatencyKey(space.identity, canonical, device, batch, "x".join(map(str, shape)))


def median_ms(
    run: Callable[[], Any], *, warmup: int = WARMUP_RUNS, runs: int = TIMED_RUNS,
    clock: Callable[[], float] = time.perf_counter, sync: Callable[[], None] = lambda: None,
) -> float:
    """Milliseconds: ``warmup`` untimed calls of ``run``, then the median of ``runs`` timed ones, ``sync()`` around each."""
    if runs < MIN_TIMED_RUNS:
        raise ValueError(f"at least {MIN_TIMED_RUNS} timed runs, got {runs}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        sync()
        start = clock()
        run()
        sync()
        times.append(clock() - start)
    return statistics.median(times) * 1000.0


@contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` for the block (RuntimeError if something changes it meanwhile)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
        if torch.get_num_threads() != threads:
            raise RuntimeError(f"torch's thread count changed from {threads} to {torch.get_num_threads()} during a latency measurement")
    finally:
        torch.set_num_threads(saved)


class LatencyMeter:
    """Times the forward passes of one space's networks on one device (its figures keyed by :meth:`key`).

    ``threads``: the intra-op thread count pinned while timing (default: torch's count now).  Also a
    scorer as device workers use one: :meth:`score_many` yields each latency as a :class:`ScoredArch`'s ``latency_ms`` cost.
    """

    def __init__(
        self, space: SearchSpace, source: DataSource, device: torch.device, *, batch: int = 1, threads: int | None = None,
        warmup: int = WARMUP_RUNS, runs: int = TIMED_RUNS,
    ):
        if batch < 1:
            raise ValueError(f"latency batch must be >= 1, got {batch}")
        self.space, self.source, self.device, self.batch = space, source, device, batch
        self.threads = threads or torch.get_num_threads()
        self.identity = device_identity(device, self.threads)
        self.warmup, self.runs = warmup, runs
        self.num_classes = max(source.num_classes, 1)

    def key(self, arch: Any) -> LatencyKey:
        return latency_key(self.space, self.source, arch, self.identity, self.batch)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def measure(self, arch: Any) -> float:
        """``arch``'s latency in milliseconds (median of the timed forward passes)."""
        canonical = self.space.canonical(arch)
        shape = input_shape_for(self.space, self.source, canonical)
        net = build_seeded(self.space, canonical, self.num_classes, LATENCY_SEED).to(self.device).eval()
        generator = torch.Generator().manual_seed(LATENCY_SEED)
        x = torch.randn((self.batch, *shape), generator=generator).to(self.device)
        with torch.no_grad(), pinned_threads(self.threads):
            return median_ms(lambda: net(x), warmup=self.warmup, runs=self.runs, sync=self._sync)

    def score_many(self, archs: Iterable[str]) -> Iterator[ScoredArch]:
        """Each architecture's latency as a result (no score values; its costs with ``latency_ms``), for a device worker."""
        for arch in archs:
            start = time.perf_counter()
            ms = self.measure(arch)
            cost = MeasuredCost.of(cost_for(self.space, self.source, arch, self.num_classes), ms)
            yield ScoredArch.of(self.space.canonical(arch), {}, cost, seconds=time.perf_counter() - start, device=self.identity)


@dataclass(frozen=True)
class MeasuredCost:
    """A :class:`searchspace.ModelCost` with the measured latency: the cost a search sees when latency counts."""

    params: int
    flops: int
    latency_ms: float

    @classmethod
    def of(cls, cost: Any, latency_ms: float) -> MeasuredCost:
        """``cost``'s parameters and FLOPs with the measured ``latency_ms``."""
        return cls(cost.params, cost.flops, latency_ms)


def search_costs(space: SearchSpace, source: DataSource, num_classes: int, latency: Callable[[str], float] | None) -> Callable[[str], Any]:
    """A search's cost callable: parameters and FLOPs at each architecture's input shape, with the latency ``latency(arch)``
    gives when the search measures one (``None``: it does not)."""
    if latency is None:
        return lambda arch: cost_for(space, source, arch, num_classes)
    return lambda arch: MeasuredCost.of(cost_for(space, source, arch, num_classes), latency(arch))
