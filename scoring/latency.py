"""Measured latency: how long a network's forward pass takes on one device, and what that figure is keyed by.

What is timed: the forward pass of a batch of ``batch`` inputs at the input shape the architecture is
scored at (:func:`scoring.inputs.input_shape_for`), in eval mode under ``torch.inference_mode()`` (no grad), with weights
seeded (:data:`LATENCY_SEED`).  Against noise: :data:`WARMUP_RUNS` untimed passes first (allocator, caches,
lazy kernels); then the median of :data:`TIMED_RUNS` timed blocks, each a run of back-to-back passes at
least :data:`MIN_BLOCK_SECONDS` long (``time.perf_counter``) divided by its pass count, so that a clock tick
or a short interruption is a small part of every figure; on CUDA ``torch.cuda.synchronize()`` before and
after each block; Python's garbage collector paused while timing; the torch intra-op thread count pinned to
one value for the whole measurement and part of the device's identity.  Several architectures measured
together (:meth:`LatencyMeter.measure_many`, a worker's batch) have their blocks interleaved, round by round,
so that a drift of the device's speed over seconds touches them all alike.

A figure is only ever valid for the device that measured it: :class:`LatencyKey` holds the device identity
(:func:`device_identity`: the CPU model and thread count, or the GPU name), the batch and the resolution.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
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
#: timed blocks whose median is the figure (at least 10)
TIMED_RUNS = 10
MIN_TIMED_RUNS = 10
#: the shortest timed block: a pass faster than this is repeated back to back within a block (seconds)
MIN_BLOCK_SECONDS = 0.025
#: the most passes one block may repeat (bounds the time spent on a network too fast for the clock)
MAX_BLOCK_CALLS = 1000
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
    run: Callable[[], Any], *, warmup: int = WARMUP_RUNS, runs: int = TIMED_RUNS, min_block_s: float = 0.0,
    clock: Callable[[], float] = time.perf_counter, sync: Callable[[], None] = lambda: None,
) -> float:
    """Milliseconds per call: ``warmup`` untimed calls of ``run``, then the median of ``runs`` timed blocks, ``sync()``
    around each.  A block is as many back-to-back calls as make it last ``min_block_s`` (one call when 0), its time
    divided by that count."""
    return interleaved_median_ms([run], warmup=warmup, runs=runs, min_block_s=min_block_s, clock=clock, sync=sync)[0]


def interleaved_median_ms(
    calls: Sequence[Callable[[], Any]], *, warmup: int = WARMUP_RUNS, runs: int = TIMED_RUNS, min_block_s: float = 0.0,
    clock: Callable[[], float] = time.perf_counter, sync: Callable[[], None] = lambda: None,
) -> list[float]:
    """:func:`median_ms` of each of ``calls``, timed interleaved: each of the ``runs`` rounds times one block of every
    call in turn.  A drift of the device's speed during the measurement (a neighbour on the host, a clock change)
    then touches every call alike, instead of only those timed while it lasted."""
    if runs < MIN_TIMED_RUNS:
        raise ValueError(f"at least {MIN_TIMED_RUNS} timed runs, got {runs}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for run in calls:
        for _ in range(warmup):
            run()
    sizes = [calls_per_block(run, min_block_s, clock, sync) if min_block_s > 0 else 1 for run in calls]
    blocks: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for run, size, times in zip(calls, sizes, blocks):
            times.append(timed_block(run, size, clock, sync))
    return [statistics.median(times) * 1000.0 for times in blocks]


def timed_block(run: Callable[[], Any], calls: int, clock: Callable[[], float], sync: Callable[[], None]) -> float:
    """Seconds per call of ``calls`` back-to-back calls of ``run``, synchronised before and after."""
    sync()
    start = clock()
    for _ in range(calls):
        run()
    sync()
    return (clock() - start) / calls


def calls_per_block(run: Callable[[], Any], min_block_s: float, clock: Callable[[], float], sync: Callable[[], None]) -> int:
    """How many calls of ``run`` last at least ``min_block_s``, from one timed call (at most :data:`MAX_BLOCK_CALLS`)."""
    once = timed_block(run, 1, clock, sync)
    return min(MAX_BLOCK_CALLS, max(1, math.ceil(min_block_s / once))) if once > 0 else MAX_BLOCK_CALLS


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's garbage collector off for the block (a collection inside a timed block is noise), restored after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
        warmup: int = WARMUP_RUNS, runs: int = TIMED_RUNS, min_block_s: float = MIN_BLOCK_SECONDS,
    ):
        if batch < 1:
            raise ValueError(f"latency batch must be >= 1, got {batch}")
        self.space, self.source, self.device, self.batch = space, source, device, batch
        self.threads = threads or torch.get_num_threads()
        self.identity = device_identity(device, self.threads)
        self.warmup, self.runs, self.min_block_s = warmup, runs, min_block_s
        self.num_classes = max(source.num_classes, 1)

    def key(self, arch: Any) -> LatencyKey:
        return latency_key(self.space, self.source, arch, self.identity, self.batch)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def measure(self, arch: Any) -> float:
        """``arch``'s latency in milliseconds (median of the timed blocks of forward passes)."""
        return self.measure_many([arch])[0]

    def measure_many(self, archs: Sequence[Any]) -> list[float]:
        """Each architecture's latency in milliseconds, their blocks timed interleaved (:func:`interleaved_median_ms`)."""
        figures, error = self._measure_until_error(archs)
        if error is not None:
            raise error
        return figures

    def score_many(self, archs: Iterable[str]) -> Iterator[ScoredArch]:
        """Each architecture's latency as a result (no score values; its costs with ``latency_ms``), for a device worker.
        An architecture whose network cannot be built or run raises after the results of those before it, so the
        worker fails it alone."""
        archs = list(archs)
        start = time.perf_counter()
        figures, error = self._measure_until_error(archs)  # a bad encoding is that architecture's error, in order
        seconds = (time.perf_counter() - start) / max(len(figures), 1)
        for arch, ms in zip(archs, figures):
            canonical = self.space.canonical(arch)
            cost = MeasuredCost.of(cost_for(self.space, self.source, canonical, self.num_classes), ms)
            yield ScoredArch.of(canonical, {}, cost, seconds=seconds, device=self.identity)
        if error is not None:
            raise error

    def _measure_until_error(self, archs: Sequence[Any]) -> tuple[list[float], Exception | None]:
        """The latencies of ``archs`` up to the first whose network cannot be built or run, and that one's error."""
        passes: list[Callable[[], Any]] = []
        error = None
        with pinned_threads(self.threads), gc_paused():
            for arch in archs:
                try:
                    passes.append(self._forward_pass(arch))
                except Exception as exc:  # noqa: BLE001 - this architecture's failure, raised after the others' figures
                    error = exc
                    break
            with torch.inference_mode():
                figures = interleaved_median_ms(passes, warmup=self.warmup, runs=self.runs, min_block_s=self.min_block_s, sync=self._sync)
        return figures, error

    def _forward_pass(self, arch: Any) -> Callable[[], Any]:
        """One forward pass of ``arch``'s network (seeded weights, eval mode, on the device) on its input, run once
        here so that a network that cannot run fails on its own."""
        canonical = self.space.canonical(arch)
        shape = input_shape_for(self.space, self.source, canonical)
        net = build_seeded(self.space, canonical, self.num_classes, LATENCY_SEED).to(self.device).eval()
        generator = torch.Generator().manual_seed(LATENCY_SEED)
        x = torch.randn((self.batch, *shape), generator=generator).to(self.device)
        with torch.inference_mode():
            net(x)
        return lambda: net(x)


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


class SearchCosts:
    """A search's cost callable: parameters and FLOPs at each architecture's input shape, with the latency that
    ``latency`` measures when the search measures one (``None``: it does not).

    ``latency`` takes a list of architectures and returns their milliseconds.  :meth:`prepare` hands it a whole
    batch of candidates, so that their timed blocks are interleaved (:meth:`LatencyMeter.measure_many`) instead of
    each candidate being timed alone when the search asks for its cost; each figure is measured once.
    """

    def __init__(self, space: SearchSpace, source: DataSource, num_classes: int, latency: Callable[[list[str]], list[float]] | None):
        self.space, self.source, self.num_classes, self.latency = space, source, num_classes, latency
        self._latencies: dict[str, float] = {}

    def __call__(self, arch: str) -> Any:
        cost = cost_for(self.space, self.source, arch, self.num_classes)
        if self.latency is None:
            return cost
        if arch not in self._latencies:
            [self._latencies[arch]] = self.latency([arch])
        return MeasuredCost.of(cost, self._latencies[arch])

    def prepare(self, archs: Iterable[str]) -> None:
        """Measure the latencies of ``archs`` not measured yet, together.  When that fails (a network that cannot be
        built), nothing is kept: each architecture's own call measures it again and raises for the one at fault."""
        todo = [arch for arch in dict.fromkeys(archs) if arch not in self._latencies]
        if self.latency is None or len(todo) < 2:
            return
        try:
            figures = self.latency(todo)
        except Exception:  # noqa: BLE001 - reported by the per-architecture call, for its own architecture
            return
        self._latencies.update(zip(todo, figures))

