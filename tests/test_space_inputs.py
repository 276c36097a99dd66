"""Data at a space's input: the data's own minibatch for the benchmark spaces, each architecture's resolution for a
space that fixes it (resized, or native), and a clear refusal where channel counts differ."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import api_client
from torch import nn

from app.cli.main import main
from app.client import ApiError
from scoring import InputMismatch, Scorer, open_source
from scoring.data import ImageArraySource, NoiseSource
from scoring.inputs import resize, resized_minibatch
from searchspace import EncodingError, SearchSpace, get_space, registry

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class ResolutionSpace(SearchSpace):
    """A tiny space whose architecture is its input resolution; its flatten-linear head takes no other size."""

    name = "resolution-test"
    description = "test space: conv, ReLU, flatten, linear at one of two resolutions"
    encoding = "the resolution as text"
    example = "12"
    size = 2
    fixed_resolution = True

    def __init__(self, channels: int = 3, name: str = "resolution-test"):
        self.input_shape, self.name = (channels, 20, 20), name

    def canonical(self, arch):
        if str(arch) not in ("12", "20"):
            raise EncodingError("resolution not in the space", token=arch)
        return str(arch)

    def input_shape_of(self, canonical):
        return (self.input_shape[0], int(canonical), int(canonical))

    def random(self, rng: random.Random) -> str:
        return rng.choice(["12", "20"])

    def mutate(self, arch, rng):
        return "20" if self.canonical(arch) == "12" else "12"

    def build(self, arch, num_classes=10):
        r = int(self.canonical(arch))
        return nn.Sequential(nn.Conv2d(self.input_shape[0], 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * r * r, num_classes))


@pytest.fixture
def grey_space(monkeypatch) -> ResolutionSpace:
    """A registered space that takes 1-channel inputs (unregistered after the test)."""
    space = ResolutionSpace(channels=1, name="grey-test")
    monkeypatch.setitem(registry._FACTORIES, space.name, lambda: space)
    return space


def test_benchmark_spaces_see_the_datas_own_minibatch():
    scorer = Scorer(get_space("nb201"), open_source("noise:3x8x8"), batch_size=4, seed=0)
    assert scorer.inputs.for_arch(BEST) is scorer.x and scorer.x.shape == (4, 3, 8, 8)


@pytest.mark.parametrize("arch", ["12", "20"])
def test_a_fixed_resolution_space_gets_each_architecture_at_its_resolution(arch):
    space = ResolutionSpace()
    scorer = Scorer(space, NoiseSource((3, 32, 32)), batch_size=4, seed=0)
    assert scorer.inputs.for_arch(arch).shape == (4, 3, int(arch), int(arch))
    result = scorer.score_one(arch)
    assert result.flops == space.cost(arch).flops, "FLOPs at the architecture's resolution"


def test_data_already_at_the_resolution_is_used_natively():
    images = np.random.default_rng(0).integers(0, 256, size=(8, 3, 12, 12), dtype=np.uint8)
    scorer = Scorer(ResolutionSpace(), ImageArraySource("npz:twelve", images, (0.5,) * 3, (0.25,) * 3, 10), batch_size=4, seed=0)
    assert scorer.inputs.for_arch("12") is scorer.x


def test_resized_batches_are_made_once_per_source_batch_seed_and_shape():
    source = NoiseSource((3, 32, 32))
    first = resized_minibatch(source, 4, 0, (12, 12))
    assert resized_minibatch(source, 4, 0, (12, 12)) is first
    assert resized_minibatch(source, 4, 1, (12, 12)) is not first and resized_minibatch(source, 4, 0, (20, 20)).shape[2:] == (20, 20)


def test_resizing_the_normalised_batch_equals_normalising_the_resized_images():
    images = np.random.default_rng(1).integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    source = ImageArraySource("npz:x", images, mean, std, 10)
    index = source._index(4, 0)
    raw = torch.from_numpy(images[index]).float().div(255)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    for hw in ((12, 12), (56, 56)):
        expected = (F.interpolate(raw, size=hw, mode="bilinear", align_corners=False, antialias=True) - m) / s
        torch.testing.assert_close(resize(source.minibatch(4, 0), hw), expected, atol=1e-5, rtol=1e-5)


def test_a_channel_mismatch_is_refused_when_space_and_data_are_paired(grey_space):
    with pytest.raises(InputMismatch) as caught:
        Scorer(grey_space, open_source("noise"), batch_size=4, seed=0)
    message = str(caught.value)
    assert "'grey-test'" in message and "1-channel" in message and "'noise'" in message and "3-channel" in message


def test_a_channel_mismatch_exits_the_cli_non_zero_naming_space_and_data(grey_space, capsys):
    assert main(["score", "--space", "grey-test", "--data", "noise", "--arch", "12", "--batch-size", "4"]) == 2
    err = capsys.readouterr().err
    assert "grey-test" in err and "noise" in err and "channel" in err


@pytest.fixture
def client(tmp_path, grey_space):
    with api_client(tmp_path, max_archs=4, max_batch_size=64) as client:
        yield client


@pytest.mark.parametrize("call", ["score", "search"])
def test_a_channel_mismatch_over_http_is_a_422_naming_space_and_data(client, call):
    with pytest.raises(ApiError) as caught:
        if call == "score":
            client.score(["12"], space="grey-test", data="noise", batch_size=4)
        else:
            client.start_search(space="grey-test", data="noise", batch_size=4, budget=2)
    assert caught.value.status == 422
    fields = {tuple(d["loc"]): d["msg"] for d in caught.value.detail}
    assert set(fields) == {("body", "space"), ("body", "data")}, fields
    assert all("channel" in msg for msg in fields.values())


def test_a_one_channel_space_scores_on_one_channel_noise_named_by_the_operator(tmp_path, grey_space):
    """docs/own-space.md: `noise` is 3x32x32; NASWOT_DATA_SOURCES=g1=noise:1x20x20 feeds a 1-channel space."""
    with api_client(tmp_path, data_sources={"g1": "noise:1x20x20"}) as client:
        answer = client.score(["12", "20"], space="grey-test", data="g1", batch_size=4)
    assert [r["arch"] for r in answer["results"]] == ["12", "20"] and answer["data"]["image_shape"] == [1, 20, 20], answer["data"]


def test_the_command_line_takes_one_channel_noise_by_its_spec(grey_space, capsys):
    assert main(["score", "--space", "grey-test", "--data", "noise:1x20x20", "--arch", "12", "--batch-size", "4"]) == 0, capsys.readouterr().err
