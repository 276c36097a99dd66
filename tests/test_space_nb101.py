import itertools
import math
import random
import zlib
from collections import Counter

import pytest
import torch
from torch import nn

from scoring import Scorer, naswot, open_source
from search import Constraints, run_search
from searchspace import EncodingError, count_flops, count_params, get_space
from searchspace.nb101 import NB101Space, canonical_cell, parse, to_string, vertex_channels
from searchspace.nb101.graph import OPS, Cell, full_dags, uniform_cell

SPACE = get_space("nb101")
SMALL = NB101Space(stem_channels=16, num_stacks=2, cells_per_stack=1)  # same cells, cheap forward passes

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"

# The benchmark README's Inception-like cell (5x5 conv replaced by two 3x3 convs).
INCEPTION = {
    "matrix": [
        [0, 1, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    "ops": ["input", C1, C3, C3, C3, MP, "output"],
}
# The same cell as the dataset stores it (module_adjacency / module_operations printed by the
# benchmark's NASBench.ipynb colab when querying INCEPTION): a different vertex order.
INCEPTION_AS_STORED = {
    "matrix": [
        [0, 1, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    "ops": ["input", C3, C1, MP, C3, C3, "output"],
}
# NNI's NAS-Bench-101 query example (docs/en_US/NAS/BenchmarksExample.ipynb): inputs per vertex
# 1:[0] 2:[1] 3:[2] 4:[0] 5:[0,3,4] 6:[2,5]; also the nasbench-rs README's query example.
NNI_EXAMPLE = {
    "matrix": [
        [0, 1, 0, 0, 1, 1, 0],
        [0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 1],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    "ops": ["input", C3, MP, C3, C3, C1, "output"],
}


def _meta_params(space, arch, num_classes=10):
    with torch.device("meta"):
        return count_params(space.build(arch, num_classes))


def test_parameter_counts_match_the_benchmark():
    # google-research/nasbench NASBench.ipynb: querying the Inception-like cell prints
    # trainable_parameters: 2694282.
    assert _meta_params(SPACE, INCEPTION) == 2_694_282
    # NNI BenchmarksExample.ipynb: hash 00005c142e6f48ac74fdcf73e3439874, 'parameters': 8.55553
    # (millions, i.e. the benchmark's trainable_parameters / 1e6).
    assert _meta_params(SPACE, NNI_EXAMPLE) == 8_555_530
    assert SPACE.params(INCEPTION) == 2_694_282


def test_graph_hash_is_the_benchmarks():
    # the dataset key NNI lists for NNI_EXAMPLE
    assert SPACE.benchmark_hash(NNI_EXAMPLE) == "00005c142e6f48ac74fdcf73e3439874"
    assert SPACE.benchmark_hash(INCEPTION) == SPACE.benchmark_hash(INCEPTION_AS_STORED)


def test_isomorphic_graphs_share_one_canonical_form():
    assert SPACE.canonical(INCEPTION) == SPACE.canonical(INCEPTION_AS_STORED) == SPACE.example
    rng = random.Random(0)
    for arch in SPACE.sample(60, seed=2):
        cell = parse(arch)
        n = cell.num_vertices
        order = list(range(1, n - 1))
        for _ in range(3):
            rng.shuffle(order)
            new = {0: 0, n - 1: n - 1, **{old: pos for pos, old in enumerate(order, start=1)}}
            if any(new[i] >= new[j] for i, j in cell.edges):
                continue  # not a topological order: not an upper-triangular encoding
            matrix = [[0] * n for _ in range(n)]
            for i, j in cell.edges:
                matrix[new[i]][new[j]] = 1
            ops = ["input", *(cell.ops[old] for old in order), "output"]
            relabelled = {"matrix": matrix, "ops": ops}
            assert SPACE.canonical(relabelled) == arch
            assert SPACE.benchmark_hash(relabelled) == SPACE.benchmark_hash(arch)


def test_distinct_canonical_forms_have_distinct_benchmark_hashes():
    archs = set(SPACE.sample(400, seed=4))
    assert len({SPACE.benchmark_hash(a) for a in archs}) == len(archs)


def test_canonical_string_round_trips():
    for arch in SPACE.sample(100, seed=6):
        assert SPACE.canonical(arch) == arch
        cell = parse(arch)
        assert SPACE.canonical({"matrix": [list(r) for r in cell.matrix], "ops": list(cell.ops)}) == arch
    assert SPACE.canonical("  " + SPACE.example + "\n") == SPACE.example


def test_pruning_removes_vertices_off_the_input_output_paths():
    dangling = {
        "matrix": [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]],  # vertex 2 never reaches the output
        "ops": ["input", C3, MP, "output"],
    }
    assert SPACE.canonical(dangling) == "ops=input,conv3x3-bn-relu,output;matrix=010/001/000"
    unreachable = {
        "matrix": [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],  # vertex 2 is never reached
        "ops": ["input", C1, C3, "output"],
    }
    assert SPACE.canonical(unreachable) == "ops=input,conv1x1-bn-relu,output;matrix=010/001/000"
    # 11 edges as given; the three into dead-end vertex 5 go with it and 8 remain: accepted, as by the benchmark
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 6), (0, 2), (0, 3), (1, 6), (0, 5), (1, 5), (2, 5)]
    crowded = [[int((i, j) in edges) for j in range(7)] for i in range(7)]
    cell = parse({"matrix": crowded, "ops": ["input", C3, C3, C3, C3, MP, "output"]})
    assert cell.num_vertices == 6 and len(cell.edges) == 8 and MP not in cell.ops


@pytest.mark.parametrize(
    "arch, fragments",
    [
        ({"matrix": [[0, 0], [0, 0]], "ops": ["input", "output"]}, ["not connected to the output"]),
        ({"matrix": [[0, 1, 0], [0, 0, 0], [0, 0, 0]], "ops": ["input", C3, "output"]}, ["not connected", "vertex 0 to vertex 2"]),
        (
            {"matrix": [[0, 1, 1, 1, 1, 1, 1]] + [[0] * (j + 2) + [1] * (5 - j) for j in range(5)] + [[0] * 7], "ops": ["input", C3, C3, C3, C3, C3, "output"]},
            ["21 edges after pruning", "at most 9"],
        ),
        ({"matrix": [[0] * 8 for _ in range(8)], "ops": ["input"] + [C3] * 6 + ["output"]}, ["2 to 7 vertices", "found 8"]),
        ({"matrix": [[0, 1], [1, 0]], "ops": ["input", "output"]}, ["upper triangular", "1->0", "matrix[1][0]"]),
        ({"matrix": [[1, 1], [0, 0]], "ops": ["input", "output"]}, ["upper triangular", "matrix[0][0]"]),
        ({"matrix": [[0, 2], [0, 0]], "ops": ["input", "output"]}, ["0 or 1", "matrix[0][1]"]),
        ({"matrix": [[0, True], [0, 0]], "ops": ["input", "output"]}, ["0 or 1", "matrix[0][1]"]),
        ({"matrix": [[0, 1, 0], [0, 0]], "ops": ["input", C3, "output"]}, ["row 0 has 3 entries", "expected 2", "matrix[0]"]),
        ({"matrix": [[0, 1], [0, 0]], "ops": ["input", C3, "output"]}, ["3 labels", "2 vertices"]),
        ({"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv5x5", "output"]}, ["unknown op", "'conv5x5'", "ops[1]", "maxpool3x3"]),
        ({"matrix": [[0, 1], [0, 0]], "ops": ["output", "input"]}, ["first vertex must be 'input'", "ops[0]"]),
        ({"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", C3, C3]}, ["last vertex must be 'output'", "ops[2]"]),
        ({"matrix": [[0, 1], [0, 0]]}, ["exactly the keys 'matrix' and 'ops'"]),
        ({"matrix": "0100", "ops": ["input", "output"]}, ["list of rows"]),
        ({"matrix": [[0, 1], [0, 0]], "ops": ["input", 3]}, ["labels are strings", "ops[1]"]),
        (42, ["cell string", "mapping"]),
        ("", ["empty"]),
        ("ops=input,output", ["two fields"]),
        ("ops=input,conv3x3,output;matrix=010/001/000", ["unknown op", "'conv3x3'", "character 10", "vertex 1"]),
        ("ops=input,output;matrix=01/0x", ["0 and 1", "'0x'", "row 1", "character 27"]),
        ("ops=input,output;matrix=01/", ["0 and 1", "row 1"]),
        ("matrix=01/00;ops=input,output", ["two fields"]),
    ],
)
def test_malformed_encodings_are_rejected_with_the_reason(arch, fragments):
    with pytest.raises(EncodingError) as info:
        SPACE.canonical(arch)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_vertex_channels_follow_the_benchmark_rule():
    # cases from the benchmark's own model_builder tests
    linear = ((0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))
    assert vertex_channels(8, 16, linear) == [8, 16, 16, 16]
    assert vertex_channels(16, 8, linear) == [16, 8, 8, 8]
    assert vertex_channels(5, 1, ((0, 1), (0, 0))) == [5, 1]
    branch = ((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0))
    assert vertex_channels(8, 8, branch) == [8, 4, 4, 8]
    assert vertex_channels(8, 15, branch) == [8, 8, 7, 15]
    three = ((0, 1, 1, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    assert vertex_channels(8, 8, three) == [8, 3, 3, 2, 8]
    maxed = ((0, 1, 0, 0, 0), (0, 0, 1, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    assert vertex_channels(8, 9, maxed) == [8, 5, 5, 4, 9]


def _count_cells() -> int:
    """Distinct labelled cells: per graph shape, labellings up to its automorphisms (Burnside)."""
    total = 0
    for n in range(2, 8):
        shapes = {}
        for edges in full_dags(n):
            shapes.setdefault(to_string(canonical_cell(_cell(n, edges, [OPS[0]] * (n - 2)))), edges)
        for edges in shapes.values():
            fixed = []
            for perm in itertools.permutations(range(1, n - 1)):
                m = {0: 0, n - 1: n - 1, **dict(zip(range(1, n - 1), perm))}
                if {(m[i], m[j]) for i, j in edges} == set(edges):
                    fixed.append(m)
            orbits = 0
            for m in fixed:
                cycles, seen = 0, set()
                for v in range(1, n - 1):
                    if v not in seen:
                        cycles += 1
                        while v not in seen:
                            seen.add(v)
                            v = m[v]
                orbits += len(OPS) ** cycles
            total += orbits // len(fixed)
    return total


def _cell(n, edges, interior_ops):
    matrix = [[0] * n for _ in range(n)]
    for i, j in edges:
        matrix[i][j] = 1
    return Cell(tuple(map(tuple, matrix)), ("input", *interior_ops, "output"))


def test_the_space_has_the_benchmarks_423624_cells():
    assert _count_cells() == SPACE.size == 423_624


def test_sampling_is_seeded_and_uniform_over_distinct_cells():
    a = SPACE.sample(500, seed=7)
    assert a == SPACE.sample(500, seed=7) and a != SPACE.sample(500, seed=8)
    assert all(SPACE.canonical(x) == x for x in a)
    # 359,082 of the 423,624 cells (84.8%) have 7 vertices; 62,010 (14.6%) have 6
    sizes = Counter(parse(x).num_vertices for x in SPACE.sample(1500, seed=9))
    assert abs(sizes[7] / 1500 - 0.848) < 0.04 and abs(sizes[6] / 1500 - 0.146) < 0.04
    # on cells of at most 4 vertices (91 of them) every cell comes up equally often
    rng = random.Random(1)
    counts = Counter(to_string(uniform_cell(rng, max_vertices=4)) for _ in range(4550))
    assert len(counts) == 91
    chi2 = sum((c - 50) ** 2 / 50 for c in counts.values())
    assert chi2 < 150  # 90 degrees of freedom: mean 90, sd 13.4
    assert len(set(SPACE.sample(200, seed=3, unique=True))) == 200


def test_mutation_is_one_step():
    rng = random.Random(0)
    for arch in SPACE.sample(15, seed=10):
        neighbours = SPACE.neighbours(arch)
        assert arch not in neighbours and len(neighbours) == len(set(neighbours))
        for _ in range(3):
            assert SPACE.mutate(arch, rng) in neighbours
    # from the input->output cell: every one-step cell has at most 3 vertices
    trivial = "ops=input,output;matrix=01/00"
    assert {parse(x).num_vertices for x in SPACE.neighbours(trivial)} == {3}
    # changing one op of the Inception-like cell is a neighbour
    changed = dict(INCEPTION, ops=["input", C3, C3, C3, C3, MP, "output"])
    assert SPACE.canonical(changed) in SPACE.neighbours(SPACE.example)


def test_skeleton_and_cell_wiring():
    net = SPACE.build(INCEPTION)
    stem = net.stem
    assert (stem.conv.in_channels, stem.conv.out_channels, stem.conv.kernel_size) == (3, 128, (3, 3))
    assert stem.conv.bias is None and isinstance(stem.bn, nn.BatchNorm2d) and isinstance(stem.relu, nn.ReLU)
    assert stem.bn.eps == 1e-5 and abs(stem.bn.momentum - 0.003) < 1e-12 and stem.bn.affine
    assert [len(s) for s in net.stacks] == [3, 4, 4]
    assert isinstance(net.stacks[1].downsample, nn.MaxPool2d) and "downsample" not in dict(net.stacks[0].named_children())
    assert net.classifier.in_features == 512 and net.classifier.bias is not None
    first = net.stacks[1].module0  # 128 -> 256: four vertices feed the output, 64 channels each
    assert first.widths == [128, 64, 64, 64, 64, 64, 256]
    assert first.projection is None and first.vertices[0].projection.conv.in_channels == 128
    keys = set(net.state_dict())
    assert {"stem.conv.weight", "stacks.1.module0.vertices.0.projection.conv.weight", "classifier.bias"} <= keys


def test_forward_passes_truncation_and_output_projection():
    # output 16 split over 3 feeders -> widths 6, 5, 5; vertex 1 (6) feeds vertex 2 (5): truncated
    arch = {
        "matrix": [[0, 1, 0, 0, 1], [0, 0, 1, 0, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
        "ops": ["input", C3, MP, C1, "output"],
    }
    net = NB101Space(stem_channels=16, num_stacks=1, cells_per_stack=1).build(arch)
    cell = net.stacks[0].module0
    assert cell.widths == [16, 6, 5, 5, 16] and cell.projection is not None
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    assert SMALL.build("ops=input,output;matrix=01/00")(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_cost_on_meta_device_equals_the_real_module():
    for arch in SMALL.sample(3, seed=12):
        net = SMALL.build(arch)
        assert SMALL.params(arch) == count_params(net)
        assert SMALL.flops(arch) == count_flops(net, (3, 32, 32))


def test_seeded_weights_score_and_scorer():
    torch.manual_seed(0)
    a = SMALL.build(INCEPTION)
    torch.manual_seed(0)
    b = SMALL.build(INCEPTION_AS_STORED)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    x = torch.randn(8, 3, 32, 32)
    assert math.isfinite(naswot.score(a, x))
    scorer = Scorer(SMALL, open_source("noise"), batch_size=8, seed=0)
    results = list(scorer.score_many([INCEPTION, SMALL.sample(1, seed=1)[0]]))
    assert results[0].arch == SPACE.example and all(math.isfinite(r.score) for r in results)


def test_description_has_an_example_that_parses():
    info = SPACE.describe()
    assert info["name"] == "nb101" and info["size"] == 423_624
    assert SPACE.canonical(info["example"]) == info["example"]
    assert info["network"] == {"stem_channels": 128, "num_stacks": 3, "cells_per_stack": 3}


def test_random_search_runs_on_the_space_without_special_cases():
    def scorer(archs):  # a stand-in score: any deterministic function of the canonical string
        return [float(zlib.crc32(a.encode()) % 1000) for a in archs]

    result = run_search("random", SMALL, scorer, budget=50, seed=0, constraints=Constraints(max_params=10_000))
    assert result.evaluated == len(result.history) == 50 and result.rejected > 0
    assert all(SMALL.canonical(e.arch) == e.arch and e.params <= 10_000 for e in result.history)
    assert [e.score for e in result.top] == sorted((e.score for e in result.history), reverse=True)[: len(result.top)]
