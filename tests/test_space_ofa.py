"""ofa-mbv3: the once-for-all MobileNetV3 space (Cai et al., ICLR 2020): size, encodings, sampling, mutation, network, cost."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import torch
from scipy import stats
from torch import nn

from searchspace import EncodingError, count_params, get_space
from searchspace.cost import measure
from searchspace.ofa import RESOLUTIONS, STAGE_OPTIONS, SUBNETS, parse, to_flat

SPACE = get_space("ofa-mbv3")
SMALL = '{"d":[2,3,4,2,3],"e":[[3,4],[6,6,3],[4,4,6,3],[6,3],[4,6,3]],"k":[[3,5],[7,3,3],[5,5,7,3],[3,7],[5,3,7]],"r":128}'
#: the five elastic stages as once-for-all's ofa_mbv3.py sets them: width, first stride, activation, SE
OFA_STAGES = [(24, 2, nn.ReLU, False), (40, 2, nn.ReLU, True), (80, 2, nn.Hardswish, False), (112, 1, nn.Hardswish, True), (160, 2, nn.Hardswish, True)]


def with_resolution(arch: str, r: int) -> str:
    return json.dumps({**json.loads(arch), "r": r}, sort_keys=True, separators=(",", ":"))


def test_subnet_count_before_the_resolution_choice():
    assert STAGE_OPTIONS == 9**2 + 9**3 + 9**4 == 7_371
    assert SUBNETS == 7_371**5 == 21_758_655_492_572_485_851


def test_size_counts_every_subnet_at_each_of_25_resolutions():
    assert RESOLUTIONS == tuple(range(128, 225, 4)) and len(RESOLUTIONS) == 25
    assert SPACE.size == 21_758_655_492_572_485_851 * 25


def test_canonical_form_is_compact_json_with_sorted_keys():
    loose = json.dumps({"r": 128, "k": json.loads(SMALL)["k"], "e": json.loads(SMALL)["e"], "d": [2, 3, 4, 2, 3]}, indent=2)
    assert SPACE.canonical(loose) == SMALL
    assert SPACE.canonical(json.loads(SMALL)) == SMALL and SPACE.canonical(SPACE.example) == SPACE.example


def test_flat_once_for_all_form_converts_dropping_blocks_past_each_depth():
    flat = {"ks": [3, 5, 7, 7, 7, 3, 3, 7, 5, 5, 7, 3, 3, 7, 7, 7, 5, 3, 7, 7], "e": [3, 4, 6, 6, 6, 6, 3, 6, 4, 4, 6, 3, 6, 3, 3, 3, 4, 6, 3, 3],
            "d": [2, 3, 4, 2, 3], "r": [128]}
    assert SPACE.canonical(flat) == SMALL
    assert SPACE.canonical({**{k: v for k, v in flat.items() if k != "r"}, "resolution": 128}) == SMALL
    assert SPACE.canonical(to_flat(parse(SMALL))) == SMALL


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"x": 1}, "'x'"),  # unknown key
        ({"r": None}, "'r'"),  # missing key (removed below)
        ({"d": [2, 5, 4, 2, 3]}, "d[1]"),
        ({"d": [2, 3, 4, 2]}, "d"),
        ({"e": [[3], [6, 6, 3], [4, 4, 6, 3], [6, 3], [4, 6, 3]]}, "e[0]"),  # fewer blocks than the stage's depth
        ({"k": [[3, 5], [7, 3, 3], [5, 4, 7, 3], [3, 7], [5, 3, 7]]}, "k[2][1]"),
        ({"r": 130}, "r"),
        ({"r": True}, "r"),
    ],
)
def test_bad_encodings_name_the_key(change, named):
    arch = {**json.loads(SMALL), **change}
    arch = {k: v for k, v in arch.items() if v is not None}
    with pytest.raises(EncodingError) as caught:
        SPACE.canonical(arch)
    assert named in str(caught.value), f"{caught.value} does not name {named}"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"ks": [3], "e": [3], "d": [2, 2, 2, 2, 2], "r": 128}'])
def test_other_malformed_input_is_an_encoding_error(text):
    with pytest.raises(EncodingError):
        SPACE.canonical(text)


def test_random_is_uniform_over_subnets_depth_weighted_by_its_block_choices():
    draws = [parse(a) for a in SPACE.sample(3000, seed=0)]
    depths = Counter(d for s in draws for d in s.depths)
    expected = [len(draws) * 5 * 9**d / 7_371 for d in (2, 3, 4)]
    assert stats.chisquare([depths[d] for d in (2, 3, 4)], expected).pvalue > 1e-3, depths
    for values, choices in (([e for s in draws for st in s.expands for e in st], (3, 4, 6)), ([s.resolution for s in draws], RESOLUTIONS)):
        counts = Counter(values)
        assert stats.chisquare([counts[c] for c in choices]).pvalue > 1e-3, counts


def test_mutate_changes_exactly_one_decision():
    rng = random.Random(0)
    for arch in SPACE.sample(200, seed=1):
        before, after = dict(SPACE.decisions(arch)), dict(SPACE.decisions(SPACE.mutate(arch, rng)))
        changed = {p for p in before.keys() & after.keys() if before[p] != after[p]}
        assert len(changed) == 1, f"{arch}: {changed}"
        (position,) = changed
        if position.startswith("d["):  # only that stage's blocks may appear or disappear
            stage = position[1:]
            assert all(p.startswith(("e" + stage, "k" + stage)) for p in before.keys() ^ after.keys())
        else:
            assert before.keys() == after.keys()


def test_decisions_list_each_depth_each_existing_block_and_the_resolution():
    decisions = SPACE.decisions(SMALL)
    assert decisions[:5] == [(f"d[{i}]", d) for i, d in enumerate([2, 3, 4, 2, 3])] and decisions[-1] == ("r", 128)
    assert len(decisions) == 5 + 2 * 14 + 1 and ("k[2][3]", 3) in decisions and ("e[0][1]", 4) in decisions


def blocks_of(net: nn.Module) -> list[nn.Module]:
    return list(net.features)[2:-1]


def activation_of(block: nn.Module) -> type:
    return type(block.block[0][2])


def test_network_follows_once_for_alls_macro_structure():
    net = SPACE.build(SMALL, num_classes=1000)
    stem, first, last = net.features[0], net.features[1], net.features[-1]
    assert (stem[0].in_channels, stem[0].out_channels, stem[0].kernel_size, stem[0].stride) == (3, 16, (3, 3), (2, 2))
    assert isinstance(stem[2], nn.Hardswish)
    assert len(first.block) == 2 and first.use_res_connect and activation_of(first) is nn.ReLU, "16->16, k3, expand 1, ReLU, no SE"
    assert (last[0].in_channels, last[0].out_channels, last[0].kernel_size) == (160, 960, (1, 1)) and isinstance(last[2], nn.Hardswish)
    mix, act, drop, linear = net.classifier
    assert (mix.in_features, mix.out_features, mix.bias) == (960, 1280, None), "feature mix: no BN, no bias"
    assert isinstance(act, nn.Hardswish) and drop.p == 0.1 and (linear.in_features, linear.out_features) == (1280, 1000)


@pytest.mark.parametrize("stage", range(5))
def test_each_stage_has_once_for_alls_width_stride_activation_and_se(stage):
    subnet = parse(SMALL)
    blocks = blocks_of(SPACE.build(SMALL))
    start = sum(subnet.depths[:stage])
    width, stride, act, se = OFA_STAGES[stage]
    for b, block in enumerate(blocks[start : start + subnet.depths[stage]]):
        depthwise = block.block[1][0]
        assert block.out_channels == width and depthwise.stride == ((stride if b == 0 else 1),) * 2
        assert activation_of(block) is act and (len(block.block) == 4) is se
        c_in = block.block[0][0].in_channels
        assert depthwise.out_channels == c_in * subnet.expands[stage][b] and depthwise.kernel_size[0] == subnet.kernels[stage][b]


def test_flops_count_at_the_architectures_resolution_and_params_do_not_depend_on_it():
    small, large = SPACE.cost(SMALL), SPACE.cost(with_resolution(SMALL, 224))
    assert small.params == large.params == count_params(SPACE.build(SMALL))
    assert large.flops > 3 * small.flops > 0, "about (224/128)^2 = 3.06x more positions"
    assert SPACE.cost(SMALL, input_size=224) == large


def test_input_shape_is_each_architectures_resolution():
    assert SPACE.fixed_resolution and SPACE.input_shape_of(with_resolution(SMALL, 176)) == (3, 176, 176)


@pytest.mark.parametrize("arch", [SMALL, *SPACE.sample(2, seed=4)])
def test_cost_summed_per_part_equals_counting_the_whole_network(arch):
    whole = measure(lambda: SPACE.build(arch, 1000), SPACE.input_shape_of(arch))
    assert SPACE.cost(arch, 1000) == whole


@pytest.mark.smoke
def test_scoring_one_subnet_at_224_with_batch_32_on_the_cpu():
    from scoring import Scorer, open_source

    scorer = Scorer(SPACE, open_source("noise"), batch_size=32, seed=0)
    result = scorer.score_one(with_resolution(SMALL, 224))
    assert result.score > 0 and result.flops == SPACE.cost(with_resolution(SMALL, 224), 10).flops
