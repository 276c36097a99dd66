"""Space files: validation (each bad file names the file, the key and the reason), the choice space they give."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from spacefile_support import CHOICES, forget_spaces, write_space  # noqa: F401  (fixture)

from app.service.spacefiles import load_spaces
from searchspace import ArchitectureError, EncodingError, SpaceFileError, get_space, list_spaces, load_space_file

SIZE = 2 * 3 * 2


@pytest.fixture
def space(tmp_path):
    return load_space_file(write_space(tmp_path))


def test_the_canonical_form_is_compact_json_with_sorted_keys(space):
    given = {"width": 16, "act": "gelu", "depth": 2.0}
    assert space.canonical(given) == '{"act":"gelu","depth":2,"width":16}', "keys sorted, no spaces, 2.0 read as the declared 2"
    assert space.canonical(json.dumps(given, indent=2)) == space.canonical(given), "the JSON text of the object is the same architecture"


def test_the_size_is_the_product_of_the_choice_counts_and_enumerate_lists_each_once(space):
    listed = list(space.enumerate())
    assert space.size == SIZE == len(listed) == len(set(listed))
    assert all(space.canonical(a) == a for a in listed)


def test_sampling_is_uniform_and_seeded(space):
    draws = space.sample(SIZE * 500, seed=3)
    counts = Counter(draws)
    assert len(counts) == SIZE, "every architecture is drawn"
    chi2 = sum((c - 500) ** 2 / 500 for c in counts.values())
    assert chi2 < 35, f"chi-square {chi2:.1f} over {SIZE - 1} degrees of freedom is far from uniform"  # p < 0.001 threshold is ~31.3
    assert space.sample(20, seed=3) == draws[:20]


def test_a_mutation_changes_exactly_one_key(space):
    rng = random.Random(0)
    for arch in space.sample(50, seed=1):
        child = space.mutate(arch, rng)
        changed = [k for k in CHOICES if json.loads(child)[k] != json.loads(arch)[k]]
        assert len(changed) == 1, f"{arch} -> {child} changed {changed}"
    assert len(space.neighbours(space.example)) == 1 + 2 + 1


def test_decisions_are_one_per_key(space):
    assert space.decisions({"width": 8, "depth": 3, "act": "relu"}) == [("act", "relu"), ("depth", 3), ("width", 8)]


@pytest.mark.parametrize(
    ("arch", "key", "reason"),
    [
        ({"width": 8, "depth": 1, "act": "relu", "colour": "red"}, "colour", "unknown key"),
        ({"width": 8, "depth": 1}, "act", "missing key"),
        ({"width": 12, "depth": 1, "act": "relu"}, "width", "value outside the choices"),
        ({"width": True, "depth": 1, "act": "relu"}, "width", "value outside the choices"),
    ],
)
def test_a_bad_encoding_names_the_key(space, arch, key, reason):
    with pytest.raises(EncodingError, match=reason) as caught:
        space.canonical(arch)
    assert key in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "key", "reason"),
    [
        ({"builder": None}, "builder", "missing"),
        ({"builder": "no_such_module_here:build"}, "builder", "cannot import module 'no_such_module_here'"),
        ({"builder": "space_builders:no_such_function"}, "builder", "no callable 'no_such_function'"),
        ({"builder": "space_builders:NOT_CALLABLE"}, "builder", "no callable 'NOT_CALLABLE'"),
        ({"builder": "space_builders.tiny"}, "builder", "not module:function"),
        ({"choices": {"width": []}}, "choices.width", "empty choices"),
        ({"choices": {}}, "choices", "non-empty"),
        ({"choices": {"width": [8, [16, 32]]}}, "choices.width[1]", "not a JSON scalar"),
        ({"choices": {"width": [8, {"a": 1}]}}, "choices.width[1]", "not a JSON scalar"),
        ({"choices": {"width": [8, 8]}}, "choices.width", "listed twice"),
        ({"choices": {"width": [16, 16.0, 32]}}, "choices.width", r"16\.0 is the same value as 16"),
        ({"choices": {"width": [0.5, 1, 5e-1]}}, "choices.width", r"0\.5 is the same value as 0\.5"),
        ({"name": "two words"}, "name", "not a plain name"),
        ({"input": {"channels": 0, "resolution": 32}}, "input.channels", "positive integer"),
        ({"input": {"channels": 3, "resolution": 31.5}}, "input.resolution", "positive integer"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)
def test_a_bad_space_file_names_the_file_the_key_and_the_reason(tmp_path, overrides, key, reason):
    path = write_space(tmp_path, **{"builder": "space_builders:tiny", **overrides})
    with pytest.raises(SpaceFileError, match=reason) as caught:
        load_space_file(path)
    assert (caught.value.origin, caught.value.key) == (str(path), key), str(caught.value)
    assert str(path) in str(caught.value) and key in str(caught.value)


def test_true_is_not_1_nor_false_0_nor_text_a_number(tmp_path):
    space = load_space_file(write_space(tmp_path, name="mixed", choices={"flag": [1, True, 0, False, "1", None]}))
    assert space.size == 6


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ({"width": None, "depth": 1, "act": "relu"}, 'value outside the choices of key "width": null; one of [8, 16]'),
        ({"width": True, "depth": 1, "act": "relu"}, 'value outside the choices of key "width": true; one of [8, 16]'),
        ({"width": "8", "depth": 1, "act": "relu"}, 'value outside the choices of key "width": "8"; one of [8, 16]'),
        ({"width": 8, "depth": 1}, 'missing key "act"; one of ["relu", "gelu"]'),
        ({"width": 8, "depth": 1, "act": "relu", "colour": None}, 'unknown key "colour"; the keys are act, depth, width'),
        ([8, 1], 'a tiny architecture is a JSON object with the keys act, depth, width, got [8, 1]'),
    ],
)
def test_encoding_errors_show_the_values_as_json(space, arch, message):
    with pytest.raises(EncodingError) as caught:
        space.canonical(arch)
    assert str(caught.value) == message


def test_the_declared_input_is_the_space_input_shape(tmp_path):
    space = load_space_file(write_space(tmp_path, input={"channels": 1, "resolution": 28}))
    assert space.input_shape == (1, 28, 28) and space.describe()["input_shape"] == [1, 28, 28]
    assert load_space_file(write_space(tmp_path, name="plain")).input_shape == (3, 32, 32), "3x32x32 when not declared"


def test_a_yaml_space_file_is_read_like_json(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tinyyaml\nbuilder: space_builders:tiny\nchoices:\n  width: [8, 16]\n")
    assert load_space_file(path).size == 2


def test_a_name_clashing_with_another_space_names_both_sources(tmp_path, forget_spaces):
    with pytest.raises(SpaceFileError, match="name: search space 'nb201' .*clashes with the one from entry point nb201"):
        load_spaces([write_space(tmp_path, name="nb201")])
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    load_spaces([write_space(first)])
    with pytest.raises(SpaceFileError, match=f"clashes with the one from space file {first}"):
        load_spaces([write_space(second)])


def test_a_loaded_space_is_listed_and_loading_it_again_is_no_clash(tmp_path, forget_spaces):
    path = write_space(tmp_path)
    [space] = load_spaces([path])
    assert "tiny" in list_spaces() and get_space("tiny") is space
    load_spaces([path])


def test_the_builder_is_found_beside_the_space_file(tmp_path):
    (tmp_path / "beside_builder.py").write_text("from space_builders import tiny as build\n")
    assert load_space_file(write_space(tmp_path, builder="beside_builder:build")).size == SIZE


def test_the_cache_identity_follows_the_file_content(tmp_path, space):
    other = load_space_file(write_space(tmp_path / ".." / tmp_path.name, name="tiny", choices={"width": [8, 16, 32]}))
    assert space.identity.startswith("tiny@") and other.identity.startswith("tiny@") and space.identity != other.identity
    assert get_space("nb201").identity == "nb201", "built-in spaces keep their cache keys"


@pytest.mark.parametrize(
    ("builder", "reason"),
    [
        ("space_builders:raises", "builder space_builders:raises failed on .*RuntimeError: width 8 is not supported"),
        ("space_builders:not_module", "returned str .* not a torch.nn.Module"),
        ("space_builders:bad_forward", "fails in the forward pass"),
    ],
)
def test_a_misbehaving_builder_fails_only_its_architecture(tmp_path, builder, reason):
    space = load_space_file(write_space(tmp_path, name="odd", builder=builder))
    with pytest.raises(ArchitectureError, match=reason):
        space.build({"width": 8, "depth": 1, "act": "relu"})
    assert space.build({"width": 16, "depth": 1, "act": "relu"}) is not None


def test_a_network_over_the_parameter_limit_is_refused_before_it_is_built(tmp_path):
    import space_builders

    space = load_space_file(write_space(tmp_path, name="big", builder="space_builders:huge"), max_params=10_000_000)
    with pytest.raises(ArchitectureError, match="3,083,000,010 parameters, more than the limit of 10,000,000"):
        space.build({"width": 8, "depth": 1, "act": "relu"})
    before = len(space_builders.CALLS)
    space.build({"width": 16, "depth": 1, "act": "relu"})
    assert len(space_builders.CALLS) == before + 2, "a network within the limit: counted on the meta device, then built"
