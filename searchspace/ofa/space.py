"""The once-for-all MobileNetV3 space (Cai et al., "Once-for-All: Train One Network and Specialize it for
Efficient Deployment", ICLR 2020) as a :class:`~searchspace.base.SearchSpace`."""

from __future__ import annotations

import random
from typing import Any

from torch import nn

from ..base import SearchSpace, as_hw
from ..cost import ModelCost
from .cost import subnet_cost
from .encoding import DEPTHS, EXPANDS, KERNELS, RESOLUTIONS, STAGES, Subnet, parse
from .network import build_network

#: block configurations (expand ratio x kernel) of one block
BLOCK_OPTIONS = len(EXPANDS) * len(KERNELS)
#: subnets of one stage: a depth d and, for each of its d blocks, one of the 9 block options
STAGE_OPTIONS = sum(BLOCK_OPTIONS**d for d in DEPTHS)
#: subnets before the resolution choice (7,371 ** 5)
SUBNETS = STAGE_OPTIONS**STAGES


class OFAMobileNetV3Space(SearchSpace):
    name = "ofa-mbv3"
    description = (
        "Once-for-all MobileNetV3 (Cai et al., ICLR 2020): five stages of depth 2-4, per block expand ratio 3/4/6 "
        "and kernel 3/5/7, input resolution 128-224 (step 4); 7,371^5 x 25 subnets, ImageNet-size inputs."
    )
    encoding = (
        'A JSON object {"d": [5 stage depths in 2,3,4], "e": [per stage, one expand ratio in 3,4,6 per block], '
        '"k": [per stage, one kernel in 3,5,7 per block], "r": resolution in 128..224 step 4}; each stage lists '
        'exactly its depth in blocks. Once-for-all\'s flat {"ks": [20], "e": [20], "d": [5], "r": [R]} is accepted too.'
    )
    example = '{"d":[4,4,4,4,4],"e":[[6,6,6,6],[6,6,6,6],[6,6,6,6],[6,6,6,6],[6,6,6,6]],"k":[[7,7,7,7],[7,7,7,7],[7,7,7,7],[7,7,7,7],[7,7,7,7]],"r":224}'
    input_shape = (3, 224, 224)
    fixed_resolution = True

    @property
    def size(self) -> int:
        """Every (subnet, resolution) pair: 7,371 ** 5 subnets x 25 resolutions."""
        return SUBNETS * len(RESOLUTIONS)

    def subnet(self, arch: Any) -> Subnet:
        """The parsed subnet of any accepted encoding."""
        return parse(arch)

    def canonical(self, arch: Any) -> str:
        return parse(arch).to_json()

    def input_shape_of(self, canonical: str) -> tuple[int, int, int]:
        r = parse(canonical).resolution
        return (self.input_shape[0], r, r)

    def random(self, rng: random.Random) -> str:
        """Uniform over subnets: a stage's depth d is drawn with weight 9^d (its count of block choices), then each block uniformly."""
        depths = [rng.choices(DEPTHS, weights=[BLOCK_OPTIONS**d for d in DEPTHS])[0] for _ in range(STAGES)]
        expands = tuple(tuple(rng.choice(EXPANDS) for _ in range(d)) for d in depths)
        kernels = tuple(tuple(rng.choice(KERNELS) for _ in range(d)) for d in depths)
        return Subnet(tuple(depths), expands, kernels, rng.choice(RESOLUTIONS)).to_json()

    def mutate(self, arch: Any, rng: random.Random) -> str:
        """One decision changed: a stage's depth (blocks it adds drawn uniformly, blocks it drops removed), one block's
        expand ratio or kernel, or the resolution; each decision equally likely."""
        subnet = parse(arch)
        position, value = rng.choice(self.decisions(subnet))
        return _with(subnet, position, rng.choice([c for c in _choices_at(position) if c != value]), rng).to_json()

    def decisions(self, arch: Any) -> list[tuple[str, object]]:
        """(position, value) of every decision: ``d[s]``, ``e[s][b]``, ``k[s][b]`` for existing blocks, ``r``."""
        s = parse(arch)
        out: list[tuple[str, object]] = [(f"d[{i}]", d) for i, d in enumerate(s.depths)]
        for key, stages in (("e", s.expands), ("k", s.kernels)):
            out += [(f"{key}[{i}][{b}]", v) for i, stage in enumerate(stages) for b, v in enumerate(stage)]
        return [*out, ("r", s.resolution)]

    def build(self, arch: Any, num_classes: int = 10) -> nn.Module:
        return build_network(parse(arch), num_classes, in_channels=self.input_shape[0])

    def cost(self, arch: Any, num_classes: int = 10, input_size: int | tuple[int, int] | None = None) -> ModelCost:
        """Parameters and FLOPs at ``input_size``, by default the subnet's own resolution (summed per part, see :mod:`.cost`)."""
        subnet = parse(arch)
        hw = (subnet.resolution, subnet.resolution) if input_size is None else as_hw(input_size)
        return subnet_cost(subnet, num_classes, self.input_shape[0], hw)


def _choices_at(position: str) -> tuple[int, ...]:
    return {"d": DEPTHS, "e": EXPANDS, "k": KERNELS, "r": RESOLUTIONS}[position[0]]


def _with(s: Subnet, position: str, value: int, rng: random.Random) -> Subnet:
    """``s`` with the decision at ``position`` set to ``value`` (a deeper stage gets uniformly drawn new blocks)."""
    if position == "r":
        return Subnet(s.depths, s.expands, s.kernels, value)
    indices = [int(part) for part in position[2:-1].split("][")]
    stage = indices[0]
    expands, kernels = [list(x) for x in s.expands], [list(x) for x in s.kernels]
    if position[0] == "d":
        added = range(max(0, value - len(expands[stage])))
        expands[stage] = (expands[stage] + [rng.choice(EXPANDS) for _ in added])[:value]
        kernels[stage] = (kernels[stage] + [rng.choice(KERNELS) for _ in added])[:value]
        depths = s.depths[:stage] + (value,) + s.depths[stage + 1 :]
        return Subnet(depths, tuple(map(tuple, expands)), tuple(map(tuple, kernels)), s.resolution)
    (expands if position[0] == "e" else kernels)[stage][indices[1]] = value
    return Subnet(s.depths, tuple(map(tuple, expands)), tuple(map(tuple, kernels)), s.resolution)


