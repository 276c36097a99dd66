"""How much device work a score request asks for, counted before any of it is queued.

The device is shared between requests item by item (:mod:`app.service.taskqueue`), but one item cannot
be cut (a network's pass; a latency batch, timed as one interleaved unit), and a request's items all
wait in one queue; so a request is bounded as a whole too: its work, in GFLOP, is the forward FLOPs
per image of each architecture (at the input it is scored on, see :func:`scoring.cost_for`) times the
images its passes take: ``batch_size`` for the scores (one joint pass), and ``latency_batch`` times every
pass of a latency measurement. FLOPs rather than seconds, so the answer does not depend on the
server's device or load; a device does some layers (depthwise convolutions) slower than
others, which the limit's default leaves room for. Only the architectures the score cache does not hold count
(they are the device's work; a cached request is answered whatever its size).
"""

from __future__ import annotations

from collections.abc import Sequence

from scoring import DataSource, cost_for
from scoring.latency import TIMED_RUNS, WARMUP_RUNS
from searchspace import SearchSpace

#: forward passes a latency measurement runs per architecture: one check pass, the warm-up, and at least one per timed block
LATENCY_PASSES = 1 + WARMUP_RUNS + TIMED_RUNS


def request_gflop(
    space: SearchSpace, source: DataSource, archs: Sequence[str], num_classes: int, batch_size: int, latency_batch: int | None,
) -> float:
    """The work of scoring ``archs`` (canonical) with ``batch_size`` images, and timing each at ``latency_batch`` (None: no
    latency), in GFLOP; an architecture whose cost cannot be counted adds nothing here (scoring it reports why)."""
    images = batch_size + (latency_batch * LATENCY_PASSES if latency_batch else 0)
    return sum(_flops(space, source, arch, num_classes) for arch in dict.fromkeys(archs)) * images / 1e9


def _flops(space: SearchSpace, source: DataSource, arch: str, num_classes: int) -> int:
    try:
        return cost_for(space, source, arch, num_classes).flops
    except Exception:  # noqa: BLE001 - a network that cannot be built fails in scoring, with its reason, per item
        return 0
