"""The ensemble's reference sample is visible while it is scored: told to the caller, logged with its size and an estimate,
shown as its own command line bar; and scored once per scorer."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from app.cli.progress import bar
from scoring import Scorer
from scoring.data.base import NoiseSource
from searchspace.nb201 import NB201Space

SPACE = NB201Space(C=8, N=1)
SIZE = 3

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def told() -> tuple[Scorer, list[tuple[int, int]]]:
    scorer = Scorer(SPACE, NoiseSource((3, 8, 8)), batch_size=8, seed=2, scores=["ensemble:naswot+flops"], reference_size=SIZE)
    calls: list[tuple[int, int]] = []
    scorer.on_reference = lambda done, total: calls.append((done, total))
    return scorer, calls


def test_the_reference_sample_reports_its_start_and_each_network_once(told):
    scorer, calls = told
    scorer.score_many(SPACE.sample(2, seed=0, unique=True)).__next__()
    scorer.score_one(NB201Space.example)
    assert calls == [(n, SIZE) for n in range(SIZE + 1)], f"expected 0..{SIZE} of {SIZE} once, got {calls}"


def test_the_reference_sample_is_logged_with_its_size_and_an_estimate(told, caplog):
    scorer, _ = told
    with caplog.at_level(logging.INFO, logger="naswot.scoring"):
        scorer.score_one(NB201Space.example)
    text = caplog.text
    assert f"scoring {SIZE} networks of nb201" in text, f"no line naming the sample's size: {text!r}"
    assert f"for all {SIZE}" in text and "about" in text, f"no estimate after the first network: {text!r}"


def test_a_scorer_that_needs_no_reference_reports_nothing():
    scorer = Scorer(SPACE, NoiseSource((3, 8, 8)), batch_size=8, seed=2, scores=["naswot"])
    calls: list[tuple[int, int]] = []
    scorer.on_reference = lambda done, total: calls.append((done, total))
    scorer.score_one(NB201Space.example)
    assert calls == [], "NASWOT alone has no reference sample to report"


@pytest.mark.parametrize("reports, shown", [([], False), ([(0, 4), (2, 4), (4, 4)], True)], ids=["never-met", "met"])
def test_the_command_line_shows_a_bar_along_only_for_work_met(reports, shown):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with bar("scoring", 2, console=console) as progress:
        report = progress.along("ensemble reference sample", "kept")
        for done, total in reports:
            report(done, total)
    printed = out.getvalue()
    assert ("ensemble reference sample" in printed) == shown, f"reference bar shown={not shown} for reports {reports}: {printed!r}"
    if shown:
        assert "4/4" in printed, f"the bar should end complete: {printed!r}"
