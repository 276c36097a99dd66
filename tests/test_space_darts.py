import math
import random
import zlib
from collections import Counter, namedtuple

import pytest
import torch
from torch import nn

from scoring import Scorer, naswot, open_source
from search import Constraints, run_search
from searchspace import EncodingError, count_flops, count_params, get_space
from searchspace.darts import CELL_OPS, DARTS_V2, DartsSpace, NetworkCIFAR
from searchspace.layers import DilConv, FactorizedReduce, SepConv

SPACE = get_space("darts")
TINY = DartsSpace(C=4, layers=5)  # the same cells in a network small enough for quick forward passes

# DARTS_V2 with each node's edges in the DARTS code's order, as JSON
DARTS_V2_JSON = {
    "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
               ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
    "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
               ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
}  # fmt: skip


def test_darts_v2_evaluation_network_has_the_published_parameter_count():
    # DARTS (Liu et al., ICLR 2019), CIFAR-10: 3.3M params (Table 1); the DARTS code's README gives
    # 3.349MB for the released CIFAR-10 model: NetworkCIFAR(36 initial channels, 20 cells, 10
    # classes) with DARTS_V2, counted by utils.count_parameters_in_MB, which leaves out the
    # auxiliary head. This network has no auxiliary head: 3,349,342 parameters.
    with torch.device("meta"):
        net = DartsSpace(C=36, layers=20).build(DARTS_V2)
    assert count_params(net) == 3_349_342
    assert DartsSpace(C=36, layers=20).params(DARTS_V2) == 3_349_342


def test_text_json_and_genotype_objects_give_one_canonical_form():
    canonical = SPACE.canonical(DARTS_V2)
    assert SPACE.canonical(DARTS_V2_JSON) == canonical == SPACE.example
    Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    obj = Genotype([tuple(e) for e in DARTS_V2_JSON["normal"]], range(2, 6), [tuple(e) for e in DARTS_V2_JSON["reduce"]], range(2, 6))
    assert SPACE.canonical(obj) == canonical
    assert SPACE.canonical(canonical) == canonical
    # variants DARTS prints or people write: range(), tuples, double quotes, line breaks, a module prefix
    variant = DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)").replace("'", '"')
    variant = "genotypes." + variant.replace("reduce=[", "\n    reduce=(").replace("], reduce_concat", "), reduce_concat")
    assert SPACE.canonical(variant) == canonical
    no_concat = DARTS_V2.replace(", normal_concat=[2, 3, 4, 5]", "").replace(", reduce_concat=[2, 3, 4, 5]", "")
    assert SPACE.canonical(no_concat) == canonical


def test_the_order_of_a_nodes_two_edges_does_not_matter():
    swapped = {
        "normal": [e for k in range(4) for e in reversed(DARTS_V2_JSON["normal"][2 * k : 2 * k + 2])],
        "reduce": DARTS_V2_JSON["reduce"],
    }
    assert SPACE.canonical(swapped) == SPACE.canonical(DARTS_V2)
    # the canonical form lists each node's edges by input
    assert "('skip_connect', 0), ('sep_conv_3x3', 1)" in SPACE.example
    torch.manual_seed(0)
    a = TINY.build(swapped)
    torch.manual_seed(0)
    b = TINY.build(DARTS_V2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_parsing_never_evaluates_the_text():
    with pytest.raises(EncodingError):
        SPACE.canonical("__import__('os').system('echo unsafe')")
    with pytest.raises(EncodingError):
        SPACE.canonical(DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=list(range(2, 6))"))


def _edit(cell, index, edge):
    g = {k: [list(e) for e in v] for k, v in DARTS_V2_JSON.items()}
    g[cell][index] = edge
    return g


@pytest.mark.parametrize(
    "arch, fragments",
    [
        ("", ["empty"]),
        ("Genotype(normal=[", ["not a DARTS genotype"]),
        ("Genome(normal=[], reduce=[])", ["expected Genotype"]),
        (DARTS_V2.replace("'sep_conv_3x3', 0", "'sep_conv_7x7', 0", 1), ["unknown op", "'sep_conv_7x7'", "character 17", "normal cell, edge 0", "dil_conv_5x5"]),
        (DARTS_V2.replace("('max_pool_3x3', 0)", "('none', 0)", 1), ["'none' is not part of this space", "reduce cell, edge 0"]),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), ["bad input", "5", "normal cell, edge 7", "node 3 takes inputs 0..4"]),
        (DARTS_V2.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1), ["both edges of node 0 of the normal cell", "input 0", "must differ"]),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', -1)"), ["bad input", "'-1'"]),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2.0)"), ["bad input", "2.0"]),
        (DARTS_V2.replace(", ('dil_conv_3x3', 2)", ""), ["needs 8 edges", "found 7", "normal cell"]),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2, 1)"), ["('op', input) pair", "normal cell, edge 7"]),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 5]"), ["normal_concat must list the intermediate nodes [2, 3, 4, 5]"]),
        (DARTS_V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(2, 7)"), ["reduce_concat must list"]),
        (DARTS_V2.replace("normal_concat", "normal_concats"), ["unknown Genotype field", "'normal_concats'"]),
        (DARTS_V2.replace("reduce=[", "normal=["), ["given twice", "'normal'"]),
        (DARTS_V2.split(", reduce=")[0] + ")", ["missing its 'reduce' cell"]),
        ("Genotype(normal=42, reduce=[])", ["normal must be a list", "'42'"]),
        ("x" * 10_001, ["longer than 10000"]),
        (_edit("normal", 3, ["sep_conv_9x9", 1]), ["unknown op", "normal[3]"]),
        (_edit("reduce", 7, ["max_pool_3x3"]), ["[op, input] pair", "reduce[7]"]),
        (_edit("reduce", 2, ["skip_connect", 9]), ["bad input", "reduce[2]", "node 1 takes inputs 0..2"]),
        ({"normal": DARTS_V2_JSON["normal"]}, ["needs 'normal' and 'reduce'"]),
        ({**DARTS_V2_JSON, "extra": 1}, ["'extra'"]),
        ({**DARTS_V2_JSON, "reduce_concat": [2, 3, 4]}, ["reduce_concat must list"]),
        ({"normal": "sep_conv_3x3", "reduce": []}, ["normal must be a list"]),
        (42, ["expected a DARTS genotype"]),
    ],
)
def test_malformed_genotypes_name_the_reason_and_place(arch, fragments):
    with pytest.raises(EncodingError) as info:
        SPACE.canonical(arch)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_none_is_accepted_where_the_space_allows_it():
    with_none = DARTS_V2.replace("('max_pool_3x3', 0)", "('none', 0)", 1)
    space = DartsSpace(C=4, layers=5, allow_none=True)
    assert "('none', 0)" in space.canonical(with_none)
    assert space.build(with_none)(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    assert space.size > SPACE.size


def test_size_counts_input_pairs_and_ops_per_node():
    # per node k: C(k+2, 2) pairs of distinct inputs x 7 x 7 ops; two cells
    per_cell = (1 * 49) * (3 * 49) * (6 * 49) * (10 * 49)
    assert SPACE.size == per_cell**2 == 1_076_746_950_455_072_400


def test_sampling_is_seeded_valid_and_uniform_over_ops():
    a = SPACE.sample(300, seed=3)
    assert a == SPACE.sample(300, seed=3) and a != SPACE.sample(300, seed=4)
    ops = Counter()
    for arch in a:
        assert SPACE.canonical(arch) == arch
        g = SPACE.genotype(arch)
        for cell in (g.normal, g.reduce):
            ops.update(op for op, _ in cell)
            assert all(cell[2 * k][1] < cell[2 * k + 1][1] <= k + 1 for k in range(4))
    # 4,800 edges over 7 ops: each near 686 (sd ~24)
    assert set(ops) == set(CELL_OPS) and all(abs(n - 686) < 100 for n in ops.values())
    assert len(set(SPACE.sample(100, seed=1, unique=True))) == 100


def test_mutation_changes_one_edge():
    rng = random.Random(0)
    for arch in SPACE.sample(30, seed=5):
        child = SPACE.mutate(arch, rng)
        a, b = SPACE.genotype(arch), SPACE.genotype(child)
        changed_nodes = [
            (cell, k) for cell in ("normal", "reduce") for k in range(4)
            if set(a.cell(cell)[2 * k : 2 * k + 2]) != set(b.cell(cell)[2 * k : 2 * k + 2])
        ]  # fmt: skip
        assert len(changed_nodes) == 1
        cell, k = changed_nodes[0]
        assert len(set(a.cell(cell)[2 * k : 2 * k + 2]) & set(b.cell(cell)[2 * k : 2 * k + 2])) == 1
        assert child in SPACE.neighbours(arch)
    # 16 edges x 6 other ops, plus input moves (node k: k other inputs per edge, 0+2+4+6 per cell)
    assert len(SPACE.neighbours(DARTS_V2)) == 16 * 6 + 2 * 12


def test_network_follows_network_cifar():
    net = SPACE.build(DARTS_V2)
    assert isinstance(net, NetworkCIFAR) and len(net.cells) == 8
    assert [c.reduction for c in net.cells] == [False, False, True, False, False, True, False, False]
    assert net.stem[0].out_channels == 48 and isinstance(net.stem[1], nn.BatchNorm2d)
    assert isinstance(net.cells[3].preprocess0, FactorizedReduce) and not isinstance(net.cells[2].preprocess0, FactorizedReduce)
    normal, reduce = net.cells[0], net.cells[2]
    assert isinstance(normal._ops[1], SepConv) and isinstance(normal._ops[7], DilConv)
    assert normal._ops[1].op[1].groups == 16 and normal._ops[7].op[1].dilation == (2, 2)
    # in a reduction cell, edges from the two cell inputs have stride 2, edges from its nodes stride 1
    assert reduce._ops[0].stride == 2 and reduce._ops[2].stride == 2 and isinstance(reduce._ops[3], nn.Identity)
    # ... and a skip_connect from a cell input becomes FactorizedReduce
    skip = SPACE.build(_edit("reduce", 0, ["skip_connect", 0]))
    assert isinstance(skip.cells[2]._ops[0], FactorizedReduce) and isinstance(skip.cells[0]._ops[4], nn.Identity)
    assert net.classifier.in_features == 4 * 64
    keys = set(net.state_dict())
    assert {"stem.0.weight", "cells.0.preprocess0.op.1.weight", "cells.0._ops.0.op.1.weight", "classifier.weight"} <= keys


def test_cost_forward_score_and_scorer():
    for arch in TINY.sample(3, seed=7):
        net = TINY.build(arch)
        assert TINY.params(arch) == count_params(net)
        assert TINY.flops(arch) == count_flops(net, (3, 32, 32))
    torch.manual_seed(0)
    net = TINY.build(DARTS_V2, num_classes=100)
    x = torch.randn(8, 3, 32, 32)
    assert net(x).shape == (8, 100)
    assert math.isfinite(naswot.score(net, x))
    scorer = Scorer(TINY, open_source("noise"), batch_size=8, seed=0)
    results = list(scorer.score_many([DARTS_V2_JSON, TINY.sample(1, seed=2)[0]]))
    assert results[0].arch == SPACE.example and all(math.isfinite(r.score) for r in results)


def test_description_has_an_example_that_parses():
    info = SPACE.describe()
    assert info["name"] == "darts" and info["size"] == SPACE.size
    assert SPACE.canonical(info["example"]) == info["example"]
    assert info["network"]["C"] == 16 and info["network"]["layers"] == 8 and not info["network"]["auxiliary_head"]


def test_random_search_runs_on_the_space_without_special_cases():
    def scorer(archs):  # a stand-in score: any deterministic function of the canonical string
        return [float(zlib.crc32(a.encode()) % 1000) for a in archs]

    result = run_search("random", TINY, scorer, budget=50, seed=0, constraints=Constraints(max_params=16_000))
    assert result.evaluated == len(result.history) == 50 and result.rejected > 0
    assert all(TINY.canonical(e.arch) == e.arch and e.params <= 16_000 for e in result.history)
    assert [e.score for e in result.top] == sorted((e.score for e in result.history), reverse=True)[: len(result.top)]
