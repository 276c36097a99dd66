"""nb-macro: NAS-Bench-Macro (Su et al., CVPR 2021): encodings, sampling, mutation, the benchmark's network, its cost."""

from __future__ import annotations

import csv
import random
import warnings
from collections import Counter

import pytest
import torch
from scipy import stats
from torch import nn

from searchspace import EncodingError, count_params, get_space
from searchspace.cost import measure
from searchspace.nbmacro import NBMacroNetwork, layer_plan, parse
from tests.conftest import shared_file

SPACE = get_space("nb-macro")
#: widths after each searched layer: each stage's first layer doubles them at stride 2
WIDTHS = [64, 64, 128, 128, 128, 256, 256, 256]


@pytest.fixture(scope="module")
def benchmark_rows() -> list[dict[str, str]]:
    with shared_file("nbmacro-accuracy.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_size_is_three_ops_on_eight_layers():
    assert SPACE.size == 3**8 == 6_561


def test_enumerate_gives_every_string_once_in_lexicographic_order():
    archs = list(SPACE.enumerate())
    assert len(archs) == len(set(archs)) == 6_561 and archs == sorted(archs)
    assert archs[0] == "00000000" and archs[-1] == "22222222"


@pytest.mark.parametrize("arch", ["02012100", [0, 2, 0, 1, 2, 1, 0, 0], (0, 2, 0, 1, 2, 1, 0, 0)])
def test_string_and_index_list_have_the_same_canonical_string(arch):
    assert SPACE.canonical(arch) == "02012100" and parse(arch) == (0, 2, 0, 1, 2, 1, 0, 0)


@pytest.mark.parametrize(
    ("arch", "named"),
    [
        ("02312100", ["'3'", "character 2", "'0' (identity)", "'1' (mbv2_k3_t3)", "'2' (mbv2_k5_t6)"]),
        ("0201210x", ["'x'", "character 7"]),
        ("0201210", ["expected 8 characters", "found 7"]),
        ("020121000", ["found 9"]),
        ("", ["found 0"]),
        ([0, 2, 0, 1, 2, 1, 0, 3], ["element 7", "0..2"]),
        ([0, 2, 0, 1, 2, 1, 0, True], ["element 7"]),
        ([0, 2, 0], ["expected 8 op indices"]),
        (12, ["expected a string of 8 characters"]),
        ("x" * 100_000, ["found 100000"]),
    ],
)
def test_bad_encodings_name_the_position_and_the_allowed_values(arch, named):
    with pytest.raises(EncodingError) as caught:
        SPACE.canonical(arch)
    message = str(caught.value)
    assert all(part in message for part in named), f"{message!r} lacks one of {named}"
    assert len(message) < 300, "the error must not echo a huge input"


def test_random_draws_each_op_uniformly_at_each_layer():
    draws = [parse(a) for a in SPACE.sample(3000, seed=0)]
    for layer in range(8):
        counts = Counter(ops[layer] for ops in draws)
        assert stats.chisquare([counts[op] for op in range(3)]).pvalue > 1e-3, f"layer {layer}: {counts}"


def test_mutate_changes_exactly_one_layer():
    rng = random.Random(0)
    for arch in SPACE.sample(300, seed=1):
        after = SPACE.mutate(arch, rng)
        assert sum(a != b for a, b in zip(arch, after)) == 1, f"{arch} -> {after}"


def test_decisions_name_each_layer_its_stage_and_op():
    assert SPACE.decisions("02012100") == [
        ("layer 0 (stage 0)", "identity"), ("layer 1 (stage 0)", "mbv2_k5_t6"),
        ("layer 2 (stage 1)", "identity"), ("layer 3 (stage 1)", "mbv2_k3_t3"), ("layer 4 (stage 1)", "mbv2_k5_t6"),
        ("layer 5 (stage 2)", "mbv2_k3_t3"), ("layer 6 (stage 2)", "identity"), ("layer 7 (stage 2)", "identity"),
    ]
    assert SPACE.parameter_free == {"identity"}


def test_stem_and_head_are_the_benchmarks():
    net = SPACE.build("00000000")
    conv, bn, relu = net.stem
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.bias) == (3, 32, (3, 3), (1, 1), None)
    assert isinstance(bn, nn.BatchNorm2d) and isinstance(relu, nn.ReLU)
    (head_conv, head_bn, head_relu), pool, _ = net.head
    assert (head_conv.in_channels, head_conv.out_channels, head_conv.kernel_size, head_conv.bias) == (256, 1280, (1, 1), None)
    assert isinstance(head_bn, nn.BatchNorm2d) and isinstance(head_relu, nn.ReLU) and isinstance(pool, nn.AdaptiveAvgPool2d)
    assert (net.classifier.in_features, net.classifier.out_features) == (1280, 10)


def test_stages_of_two_three_three_double_the_width_at_stride_two():
    plan = layer_plan([1] * 8)
    assert [layer.c_out for layer in plan] == WIDTHS
    assert [layer.stride for layer in plan] == [2, 1, 2, 1, 1, 2, 1, 1]


@pytest.mark.parametrize(("op", "kernel", "expand"), [(1, 3, 3), (2, 5, 6)])
def test_mbv2_block_expands_filters_depthwise_and_projects(op, kernel, expand):
    net = SPACE.build([op] * 8)
    for layer, block in zip(layer_plan([op] * 8), net.features):
        (expand_conv, _, act1), (depthwise, _, act2), (project, project_bn) = block.block
        hidden = layer.c_in * expand
        assert (expand_conv.in_channels, expand_conv.out_channels, expand_conv.kernel_size) == (layer.c_in, hidden, (1, 1))
        assert (depthwise.groups, depthwise.kernel_size, depthwise.stride) == (hidden, (kernel, kernel), (layer.stride,) * 2)
        assert (project.out_channels, type(act1), type(act2), type(project_bn)) == (layer.c_out, nn.ReLU, nn.ReLU, nn.BatchNorm2d)
        assert block.use_res_connect is layer.keeps_shape, f"residual only where the shape is kept ({layer})"


def test_identity_is_a_projection_only_where_the_shape_changes():
    net = SPACE.build("00000000")
    for layer, module in zip(layer_plan([0] * 8), net.features):
        if layer.keeps_shape:
            assert isinstance(module, nn.Identity)
        else:
            conv, bn = module
            assert (conv.kernel_size, conv.stride, conv.out_channels, type(bn)) == ((1, 1), (2, 2), layer.c_out, nn.BatchNorm2d)


def test_networks_are_initialised_as_pytorch_defaults_as_the_benchmark_trained_them():
    torch.manual_seed(0)
    net = SPACE.build("22222222")
    conv = net.features[1].block[0][0]
    bound = 1 / conv.weight[0].numel() ** 0.5  # kaiming_uniform(a=sqrt(5)) bound on fan_in
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound


def test_networks_run_at_32x32_and_other_resolutions():
    net = SPACE.build("12121212", num_classes=7).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7) and net(torch.randn(1, 3, 48, 40)).shape == (1, 7)


@pytest.mark.parametrize("arch", ["00000000", "02012100", "22222222", "10201020", "21000212"])
def test_cost_summed_per_part_equals_counting_the_whole_network(arch):
    whole = measure(lambda: NBMacroNetwork(parse(arch)), (3, 32, 32))
    assert SPACE.cost(arch) == whole and SPACE.params(arch) == count_params(SPACE.build(arch))
    assert SPACE.cost(arch, num_classes=100, input_size=64) == measure(lambda: NBMacroNetwork(parse(arch), 100), (3, 64, 64))


def test_parameter_counts_equal_the_benchmarks_for_all_6561(benchmark_rows):
    assert [r["arch"] for r in benchmark_rows] == list(SPACE.enumerate())
    wrong = [(r["arch"], SPACE.params(r["arch"]), int(r["params"])) for r in benchmark_rows if SPACE.params(r["arch"]) != int(r["params"])]
    assert not wrong, f"{len(wrong)} networks differ, e.g. {wrong[:5]}"


def test_flops_equal_the_benchmarks_plus_the_classifier_bias_for_all_6561(benchmark_rows):
    """The benchmark counts the classifier as in x out multiply-accumulates; this project adds one per output for a bias."""
    offsets = Counter(SPACE.flops(r["arch"]) - int(r["flops"]) for r in benchmark_rows)
    assert offsets == Counter({10: 6_561}), offsets


def test_strings_differing_in_where_a_stages_identities_sit_build_the_same_network():
    """The benchmark gives such strings one result: a non-first identity of a stage is nothing."""
    torch.manual_seed(3)
    a = SPACE.build("00000001").eval()
    torch.manual_seed(3)
    b = SPACE.build("00000010").eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(a(x), b(x)), "same modules drawn in the same order give the same function"


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    from app.main import create_app
    from app.settings import Settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice that its TestClient will move to httpx2
        from fastapi.testclient import TestClient
    folder = tmp_path_factory.mktemp("svc")
    with TestClient(create_app(Settings(db=folder / "db.sqlite", data="noise", data_dir=folder / "data"))) as client:
        yield client


def test_the_service_lists_the_space(http):
    info = http.get("/v1/spaces/nb-macro").json()
    assert (info["size"], info["example"], info["input_shape"]) == (6_561, "02012100", [3, 32, 32])


def test_a_bad_encoding_over_http_is_a_422_naming_the_item_position_and_allowed_characters(http):
    body = {"space": "nb-macro", "archs": ["02012100", "02312100", [0, 2, 0, 1, 2, 1, 0, 3]], "data": "noise", "batch_size": 8}
    response = http.post("/v1/score", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", "archs", 1], ["body", "archs", 2]]
    assert "character 2" in detail[0]["msg"] and "'0' (identity), '1' (mbv2_k3_t3), '2' (mbv2_k5_t6)" in detail[0]["msg"]
    assert "element 7" in detail[1]["msg"] and all(d["type"] == "encoding_error" for d in detail)


def test_neighbours_are_the_sixteen_one_layer_changes():
    near = SPACE.neighbours("02012100")
    assert len(near) == len(set(near)) == 16 and all(sum(a != b for a, b in zip("02012100", n)) == 1 for n in near)


def test_ground_truth_reads_the_mean_of_the_three_trainings():
    from searchspace.nbmacro.accuracy import load_accuracy

    truth = load_accuracy(shared_file("nbmacro-accuracy.csv"))
    assert len(truth) == 6_561 and truth["00000000"]["cifar10_test"] == pytest.approx(45.3633, abs=1e-3)
    assert max(t["cifar10_test"] for t in truth.values()) == pytest.approx(93.13, abs=0.01)
