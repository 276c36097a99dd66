"""``naswot calibrate``: labels CSV in, every score against the labels, the model JSON out; bad files named by line."""

from __future__ import annotations

import json
import zlib

import pytest

import app.cli.calibrate as cli_calibrate
from app.cli.main import main
from scoring import ScoredArch, list_scores
from searchspace import get_space

CELLS = get_space("nb201").sample(30, seed=4, unique=True)
QUICK = ["--space", "nb201", "--data", "noise", "--batch-size", "4", "--device", "cpu"]


def accuracy(arch: str) -> float:
    """A made-up trained accuracy per cell."""
    return 80 + (zlib.crc32(arch.encode()) % 1000) / 100


class FakeScorer:
    """Every score asked for: synflow follows the made-up accuracy, the others are noise; records what it was asked."""

    asked: tuple[str, ...] = ()

    def __init__(self, space, source, *, batch_size, seed, device, scores):
        self.space, self.source, self.device, self.score_names = space, source, device, tuple(scores)
        FakeScorer.asked = self.score_names

    def score_many(self, archs):
        for arch in archs:
            noise = (zlib.crc32(arch[::-1].encode()) % 997) / 997
            values = {n: noise * (k + 1) for k, n in enumerate(self.score_names)}
            values["synflow"] = accuracy(arch)
            values["zen"] = float("-inf")  # undefined on every network: left out
            yield ScoredArch(arch, values, {"params": 1, "flops": 1})

    def describe(self):
        return {"space": self.space.name, "scores": list(self.score_names), "device": "cpu"}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(cli_calibrate, "Scorer", FakeScorer)


def write_labels(tmp_path, rows):
    path = tmp_path / "mine.csv"
    path.write_text("arch,accuracy\n" + "".join(f"{a},{v}\n" for a, v in rows))
    return path


def test_calibrate_reports_every_score_and_writes_the_model(fake, tmp_path, capsys):
    labels = write_labels(tmp_path, [(a, accuracy(a)) for a in CELLS])
    out = tmp_path / "model.json"
    assert main(["calibrate", "--labels", str(labels), "--out", str(out), *QUICK]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    model = json.loads(out.read_text())
    assert FakeScorer.asked[0] == "ensemble", "the default ensemble first"
    assert set(FakeScorer.asked) == {info.name for info in list_scores()}, "every registered score (noise data has labels)"
    assert "zen" not in {s["score"] for s in model["scores"]}, "a score undefined everywhere is left out"
    best = model["scores"][0]
    assert best["score"] == "synflow" and best["kendall"] == pytest.approx(1.0), "synflow is the made-up accuracy itself"
    assert summary == {**summary, "name": "mine", "labels": 30, "chosen": model["chosen"]}, summary
    assert model["name"] == "mine" and model["settings"]["space"] == "nb201"


def test_error_rates_turn_the_ranking_around(fake, tmp_path, capsys):
    labels = write_labels(tmp_path, [(a, 100 - accuracy(a)) for a in CELLS])
    out = tmp_path / "model.json"
    assert main(["calibrate", "--labels", str(labels), "--lower-is-better", "--out", str(out), *QUICK]) == 0
    assert json.loads(out.read_text())["scores"][0]["score"] == "synflow"


@pytest.mark.parametrize(
    "rows, message",
    [
        ([(a, accuracy(a)) for a in CELLS[:5]], "at least 10"),
        ([(a, accuracy(a)) for a in CELLS[:12]] + [(CELLS[3], 90)], "line 14: the network of line 5 again"),
        ([(a, accuracy(a)) for a in CELLS[:12]] + [(CELLS[20], "nan")], "line 14: accuracy 'nan' is not a finite number"),
        ([(a, accuracy(a)) for a in CELLS[:12]] + [("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", 90)], "line 14:"),
    ],
    ids=["too-few", "duplicate", "not-finite", "bad-encoding"],
)
def test_bad_labels_are_named_by_line(fake, tmp_path, capsys, rows, message):
    labels = write_labels(tmp_path, rows)
    assert main(["calibrate", "--labels", str(labels), "--out", str(tmp_path / "m.json"), *QUICK]) == 2
    assert message in capsys.readouterr().err


def test_a_file_without_the_columns_is_refused(fake, tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("network,acc\nx,1\n")
    assert main(["calibrate", "--labels", str(path), *QUICK]) == 2
    assert "no arch or accuracy column" in capsys.readouterr().err
