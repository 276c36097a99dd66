import math
import random
import zlib

import pytest
import torch
from torch import nn

from scoring import Scorer, naswot, open_source
from search import Constraints, run_search
from searchspace import EncodingError, count_flops, count_params, get_space
from searchspace.nats_sss import CHANNELS, FIXED_CELL_STRING, DynamicShapeTinyNet, InferCell, from_index, index_of, parse
from searchspace.nb201 import ResNetBasicblock
from searchspace.nb201 import parse as parse_nb201

SPACE = get_space("nats-sss")


def test_every_configuration_round_trips_in_the_benchmark_index_order():
    archs = list(SPACE.enumerate())
    assert len(archs) == len(set(archs)) == SPACE.size == 32768
    assert archs[0] == "8:8:8:8:8" and archs[-1] == "64:64:64:64:64"
    for index in (0, 1, 12, 4095, 32767):
        assert from_index(index) == parse(archs[index]) and index_of(parse(archs[index])) == index
    for arch in archs[::97]:
        assert SPACE.canonical(arch) == arch
        assert SPACE.canonical(list(parse(arch))) == arch
    # the benchmark lists channel strings with the last count varying fastest
    assert archs[12] == "8:8:8:16:40" and SPACE.index("8:8:8:16:40") == 12


def test_whitespace_around_the_string_is_ignored():
    assert SPACE.canonical("  16:32:8:64:40\n") == "16:32:8:64:40"


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("", ["empty"]),
        ("8:8:8:8", ["expected 5", "found 4"]),
        ("8:8:8:8:8:8", ["found 6"]),
        ("8:8:x:8:8", ["positive integer", "'x'", "character 4", "channel count 3"]),
        ("8:8:8:8:12", ["not in the space", "'12'", "character 8", "channel count 5", "8, 16, 24"]),
        ("8:8::8:8", ["positive integer", "''", "channel count 3"]),
        ("8:-8:8:8:8", ["'-8'", "channel count 2"]),
        ("72:8:8:8:8", ["not in the space", "'72'", "channel count 1"]),
        ("8 :8:8:8:8", ["'8 '"]),
    ],
)
def test_malformed_strings_name_the_token_and_place(text, fragments):
    with pytest.raises(EncodingError) as info:
        SPACE.canonical(text)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    "value, fragments",
    [
        ([8, 8, 8, 8], ["expected 5", "found 4"]),
        ([8, 8, 8, 8, 9], ["not in the space", "element 4"]),
        ([8, 8, 8.0, 8, 8], ["element 2"]),
        ([True, 8, 8, 8, 8], ["element 0"]),
        (42, ["channel string"]),
        (None, ["channel string"]),
        ({"channels": [8] * 5}, ["channel string"]),
    ],
)
def test_malformed_sequences_are_rejected(value, fragments):
    with pytest.raises(EncodingError) as info:
        SPACE.canonical(value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_sampling_is_seeded_and_uniform_per_layer():
    a = SPACE.sample(1600, seed=3)
    assert a == SPACE.sample(1600, seed=3) and a != SPACE.sample(1600, seed=4)
    counts = [[0] * len(CHANNELS) for _ in range(5)]
    for arch in a:
        for layer, c in enumerate(parse(arch)):
            counts[layer][CHANNELS.index(c)] += 1
    # 1600 draws per layer over 8 values: each near 200 (binomial sd ~13)
    assert all(abs(n - 200) < 70 for row in counts for n in row)
    assert len(set(SPACE.sample(300, seed=1, unique=True))) == 300


def test_mutation_changes_exactly_one_channel_count():
    rng = random.Random(0)
    for arch in SPACE.sample(200, seed=5):
        child = SPACE.mutate(arch, rng)
        assert sum(a != b for a, b in zip(parse(arch), parse(child))) == 1
        assert child in SPACE.neighbours(arch)
    assert len(set(SPACE.neighbours("8:16:24:32:40"))) == 35


def test_parameter_counts_and_flops_match_nats_bench():
    # NATS-Bench (D-X-Y/NATS-Bench, notebooks/create-query-sss.ipynb): api.get_cost_info(12, 'cifar10')
    # prints 'params': 0.067378 (millions) and 'flops': 7.991706 (millions); architecture 12 is
    # '8:8:8:16:40' (AutoDL-Projects exps/NATS-Bench/main-sss.py lists channel strings with the last
    # count varying fastest).
    assert SPACE.params("8:8:8:16:40") == 67_378
    assert SPACE.flops("8:8:8:16:40") == 7_991_706
    # Benchmark-file values ('params', millions, CIFAR-10) for the smallest, a middle and the largest
    # configuration, as quoted by a public reimplementation of the size-space builder: 0.011714,
    # 0.107826, 0.713674.
    assert SPACE.params("8:8:8:8:8") == 11_714
    assert SPACE.params("8:8:16:40:40") == 107_826
    assert SPACE.params("64:64:64:64:64") == 713_674
    # the classifier grows with the class count: c5 weights + 1 bias per extra class
    assert SPACE.params("64:64:64:64:64", num_classes=100) == 713_674 + 90 * 65


def test_additive_cost_equals_the_measured_network():
    for arch in [*SPACE.sample(6, seed=11), "8:64:8:64:8"]:
        with torch.device("meta"):
            net = SPACE.build(arch, num_classes=100)
        cost = SPACE.cost(arch, num_classes=100)
        assert cost.params == count_params(net)
        assert cost.flops == count_flops(net, (3, 32, 32))
        assert SPACE.flops(arch, input_size=16, num_classes=100) == count_flops(net, (3, 16, 16))


def test_skeleton_follows_the_benchmark_builder():
    net = SPACE.build("16:24:32:40:48")
    assert isinstance(net, DynamicShapeTinyNet)
    kinds = [type(c) for c in net.cells]
    assert kinds == [InferCell, ResNetBasicblock, InferCell, ResNetBasicblock, InferCell]
    assert net.stem[0].out_channels == 16 and isinstance(net.stem[1], nn.BatchNorm2d)
    # cell 0: 16 -> 16; block: 16 -> 24; cell: 24 -> 32; block: 32 -> 40; cell: 40 -> 48
    assert net.cells[1].conv_a.op[1].in_channels == 16 and net.cells[1].conv_a.op[1].out_channels == 24
    cell = net.cells[2]
    conv01, conv02, conv12, skip03, conv13, conv23 = cell.layers
    assert (conv01.op[1].in_channels, conv01.op[1].out_channels) == (24, 32)
    assert (conv02.op[1].in_channels, conv02.op[1].out_channels) == (24, 32)
    assert all((c.op[1].in_channels, c.op[1].out_channels) == (32, 32) for c in (conv12, conv13, conv23))
    # skip_connect between different widths is a 1x1 conv + BN (no ReLU); with equal widths, identity
    assert [type(m) for m in skip03.children()] == [nn.Conv2d, nn.BatchNorm2d]
    assert isinstance(net.cells[0].layers[3], nn.Identity)
    assert net.cells[3].conv_a.op[1].out_channels == 40 and net.cells[4].layers[0].op[1].in_channels == 40
    assert net.classifier.in_features == 48
    assert parse_nb201(FIXED_CELL_STRING) == (3, 3, 3, 1, 3, 3)


def test_every_nb201_op_maps_between_widths():
    cell = InferCell([0, 1, 2, 3, 4, 4], c_in=8, c_out=16)
    assert cell(torch.randn(2, 8, 8, 8)).shape == (2, 16, 8, 8)


def test_forward_pass_seeded_weights_and_score():
    torch.manual_seed(0)
    a = SPACE.build("8:16:8:24:16", num_classes=10)
    torch.manual_seed(0)
    b = SPACE.build([8, 16, 8, 24, 16], num_classes=10)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    x = torch.randn(8, 3, 32, 32)
    assert a(x).shape == (8, 10)
    assert math.isfinite(naswot.score(a, x))


def test_scorer_scores_the_space():
    scorer = Scorer(SPACE, open_source("noise"), batch_size=8, seed=0)
    results = list(scorer.score_many(["8:8:8:8:8", "16:8:16:8:16"]))
    assert [r.arch for r in results] == ["8:8:8:8:8", "16:8:16:8:16"]
    assert all(math.isfinite(r.score) for r in results)
    assert results[0].params == SPACE.params("8:8:8:8:8", num_classes=scorer.num_classes)
    assert scorer.score_one(" 8:8:8:8:8 ").score == results[0].score


def test_description_has_an_example_that_parses():
    info = SPACE.describe()
    assert info["name"] == "nats-sss" and info["size"] == 32768
    assert SPACE.canonical(info["example"]) == info["example"]
    assert FIXED_CELL_STRING in info["encoding"]


def test_random_search_runs_on_the_space_without_special_cases():
    def scorer(archs):  # a stand-in score: any deterministic function of the canonical string
        return [float(zlib.crc32(a.encode()) % 1000) for a in archs]

    result = run_search("random", SPACE, scorer, budget=50, seed=0, constraints=Constraints(max_params=250_000))
    assert result.evaluated == len(result.history) == 50 and result.rejected > 0
    assert all(SPACE.canonical(e.arch) == e.arch and e.params <= 250_000 for e in result.history)
    assert [e.score for e in result.top] == sorted((e.score for e in result.history), reverse=True)[: len(result.top)]
