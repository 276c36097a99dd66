"""Size scores: the architecture's parameter count and FLOPs (no network pass at all)."""

from __future__ import annotations

from ..registry import Probe, ScoreInfo, register_pass

PARAMS = ScoreInfo("params", "number of trainable parameters (a strong size baseline; ZiCo, ICLR 2023, Table 1)", "cost", data_free=True)
FLOPS = ScoreInfo("flops", "multiply-accumulates per image, as the benchmarks count them (the AZ-NAS complexity term)", "cost", data_free=True)


@register_pass(PARAMS, FLOPS)
def cost(probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    return {"params": float(probe.params), "flops": float(probe.flops)}
