import itertools

import pytest

from searchspace import EncodingError, get_space
from searchspace.nb201 import EDGES, OP_NAMES, from_naslib, parse, to_naslib, to_string

SPACE = get_space("nb201")
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_every_cell_round_trips_through_string_and_indices():
    seen = set()
    for ops in itertools.product(range(5), repeat=6):
        text = to_string(ops)
        assert parse(text) == ops
        assert parse(list(ops)) == ops
        assert to_naslib(ops) != () and from_naslib(to_naslib(ops)) == ops
        seen.add(text)
    assert len(seen) == SPACE.size == 15625


def test_enumerate_lists_every_cell_once():
    cells = list(SPACE.enumerate())
    assert len(cells) == len(set(cells)) == 15625
    assert cells[0] == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_string_order_is_the_benchmark_edge_order():
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert OP_NAMES == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert parse(BEST) == (3, 3, 3, 1, 3, 3)


def test_edges_within_a_node_group_may_come_in_any_order():
    shuffled = "|nor_conv_3x3~0|+|nor_conv_3x3~1|nor_conv_3x3~0|+|nor_conv_3x3~2|skip_connect~0|nor_conv_3x3~1|"
    assert SPACE.canonical(shuffled) == BEST
    assert SPACE.canonical("  " + BEST + "\n") == BEST


def test_naslib_conversion_is_explicit_and_reorders_ops_and_edges():
    # NASLib edge order 0->1, 0->2, 0->3, 1->2, 1->3, 2->3; op order skip, none, conv3x3, conv1x1, pool.
    naslib = [2, 2, 0, 2, 2, 2]  # conv3x3 everywhere except skip on 0->3
    assert from_naslib(naslib) == parse(BEST)
    assert SPACE.canonical({"naslib": naslib}) == BEST
    assert to_naslib(parse(BEST)) == tuple(naslib)
    # the same list read as canonical indices is a different cell: never guessed
    assert SPACE.canonical(naslib) != BEST


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("", ["empty"]),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", ["3 node groups", "found 2"]),
        ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", ["unknown op", "'conv_3x3'", "character 1", "node 1"]),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|pool~2|", ["unknown op", "'pool'", "character 40", "node 3"]),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", ["bad source node", "'2'", "node 2", "0..1"]),
        ("|none~0|+|none~0|none1|+|none~0|none~1|none~2|", ["op~source", "'none1'"]),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", ["appears twice", "0->2"]),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", ["node 2 must have 2"]),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", ["node 1 group"]),
        ("|none~x|+|none~0|none~1|+|none~0|none~1|none~2|", ["bad source node", "'x'"]),
        ("|none~-1|+|none~0|none~1|+|none~0|none~1|none~2|", ["bad source node", "'-1'"]),
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
        ([3, 3, 3, 3, 3], ["expected 6", "found 5"]),
        ([3, 3, 3, 3, 3, 5], ["0..4", "element 5"]),
        ([3, 3, -1, 3, 3, 3], ["element 2"]),
        ([3, 3, 3.0, 3, 3, 3], ["element 2"]),
        ([True, 3, 3, 3, 3, 3], ["element 0"]),
        (42, ["list of 6 integers"]),
        (None, ["list of 6 integers"]),
        ({"naslib": [1, 2]}, ["NASLib", "found 2"]),
        ({"naslib": [0] * 6, "extra": 1}, ["exactly {'naslib'"]),
        ({"ops": [0] * 6}, ["exactly {'naslib'"]),
    ],
)
def test_malformed_index_encodings_are_rejected(value, fragments):
    with pytest.raises(EncodingError) as info:
        SPACE.canonical(value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_encoding_error_is_a_value_error_with_structured_fields():
    with pytest.raises(ValueError) as info:
        SPACE.canonical("|bad~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    err = info.value
    assert isinstance(err, EncodingError)
    assert err.token == "bad" and "unknown op" in err.reason and "character 1" in str(err.position)


def test_sampling_is_seeded_and_uniform():
    a = SPACE.sample(2000, seed=7)
    assert a == SPACE.sample(2000, seed=7)
    assert a != SPACE.sample(2000, seed=8)
    counts = [0] * 5
    for arch in a:
        for op in parse(arch):
            counts[op] += 1
    # 12,000 draws of 5 ops: each near 2,400 (binomial sd ~44)
    assert all(abs(c - 2400) < 250 for c in counts)
    unique = SPACE.sample(500, seed=1, unique=True)
    assert len(set(unique)) == 500
    with pytest.raises(ValueError):
        SPACE.sample(15626, unique=True)


def test_mutation_changes_exactly_one_edge_to_a_different_op():
    import random

    rng = random.Random(0)
    for arch in SPACE.sample(200, seed=3):
        child = SPACE.mutate(arch, rng)
        diff = [i for i, (a, b) in enumerate(zip(parse(arch), parse(child))) if a != b]
        assert len(diff) == 1
    assert len(set(SPACE.neighbours(BEST))) == 24
