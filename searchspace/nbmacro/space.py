"""NAS-Bench-Macro (Su et al., CVPR 2021) as a :class:`~searchspace.base.SearchSpace`."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

from ..base import SearchSpace, as_hw
from ..cost import ModelCost
from .cost import network_cost
from .encoding import ALLOWED, LAYERS, OP_NAMES, parse, stage_of, to_string
from .network import NBMacroNetwork


class NBMacroSpace(SearchSpace):
    name = "nb-macro"
    description = (
        "NAS-Bench-Macro (Su et al., CVPR 2021): 8 searched layers (identity, MobileNetV2 k3 t3, k5 t6) in stages of "
        "2, 3, 3 on a MobileNetV2 skeleton; 3^8 = 6,561 networks, all trained on CIFAR-10."
    )
    encoding = (
        f"The benchmark's {LAYERS}-character string, one character per searched layer in network order: "
        + ", ".join(f"{c} {name}" for c, name in zip(ALLOWED, OP_NAMES))
        + f"; or a list of {LAYERS} integers 0..2. Strings that differ only in where a stage's non-first identities "
        "sit name the same network (the benchmark gives them one result)."
    )
    example = "02012100"
    parameter_free = frozenset({"identity"})

    @property
    def size(self) -> int:
        return len(OP_NAMES) ** LAYERS

    def ops(self, arch: Any) -> tuple[int, ...]:
        """Op indices (one per searched layer) of any accepted encoding."""
        return parse(arch)

    def canonical(self, arch: Any) -> str:
        return to_string(parse(arch))

    def random(self, rng: random.Random) -> str:
        return to_string([rng.randrange(len(OP_NAMES)) for _ in range(LAYERS)])

    def mutate(self, arch: Any, rng: random.Random) -> str:
        ops = list(parse(arch))
        layer = rng.randrange(LAYERS)
        ops[layer] = rng.choice([op for op in range(len(OP_NAMES)) if op != ops[layer]])
        return to_string(ops)

    def decisions(self, arch: Any) -> list[tuple[str, object]]:
        """Each searched layer's op: ("layer 0 (stage 0)", "mbv2_k3_t3"), ..."""
        return [(f"layer {i} (stage {stage_of(i)[0]})", OP_NAMES[op]) for i, op in enumerate(parse(arch))]

    def neighbours(self, arch: Any) -> list[str]:
        """All 16 networks one layer away from ``arch`` (the pool searches of ``bench/`` mutate among them)."""
        ops = parse(arch)
        return [to_string(ops[:i] + (op,) + ops[i + 1 :]) for i in range(LAYERS) for op in range(len(OP_NAMES)) if op != ops[i]]

    def enumerate(self) -> Iterator[str]:
        """All 6,561 strings in the benchmark's (lexicographic) order."""
        for ops in itertools.product(range(len(OP_NAMES)), repeat=LAYERS):
            yield to_string(ops)

    def build(self, arch: Any, num_classes: int = 10) -> NBMacroNetwork:
        return NBMacroNetwork(parse(arch), num_classes, in_channels=self.input_shape[0])

    def cost(self, arch: Any, num_classes: int = 10, input_size: int | tuple[int, int] | None = None) -> ModelCost:
        """Parameters and FLOPs, summed per part (see :mod:`.cost`); FLOPs at ``input_size``, by default 32x32."""
        hw = self.input_shape[1:] if input_size is None else as_hw(input_size)
        return network_cost(parse(arch), num_classes, self.input_shape[0], hw)
