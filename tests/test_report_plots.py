"""The report's op-share chart stays readable with many decision values (NB-201: 6 edges x 5 ops = 30)."""

from __future__ import annotations

import math

import pytest

import app.analysis.report as report
import app.analysis.report_plots as report_plots
from app.analysis.report import Row
from searchspace import get_space

SPACE = get_space("nb201")


@pytest.fixture(scope="module")
def drawn():
    """The op-share figure of a 200-cell NB-201 report, drawn (its text laid out), then released."""
    archs = SPACE.sample(200, seed=0, unique=True)
    rows = [Row(a, math.log(SPACE.params(a)), SPACE.params(a), SPACE.flops(a), None) for a in archs]
    ops = report.bias_report(SPACE, rows, report.base_archs("nb201"))["ops"]
    plt, fig, ax, legend = report_plots.ops_figure(ops)
    fig.canvas.draw()
    yield ops, fig, ax, legend
    plt.close(fig)


def test_every_value_has_its_own_label(drawn):
    ops, _fig, ax, _legend = drawn
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_visible()]
    assert len(ops["ops"]) == 30 and labels == [f"{o['position']}={o['value']}" for o in ops["ops"]], "one shown label per value, in order"


def test_no_two_labels_overlap(drawn):
    _ops, fig, ax, _legend = drawn
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in ax.get_yticklabels()]
    touching = [(a, b) for a, b in zip(boxes, boxes[1:]) if a.overlaps(b)]
    assert not touching, f"{len(touching)} pairs of neighbouring labels overlap"


def test_the_legend_is_outside_the_bars(drawn):
    _ops, fig, ax, legend = drawn
    renderer = fig.canvas.get_renderer()
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), "the legend covers the bars"
    assert fig.get_figheight() >= 30 * report_plots.OPS_ROW_INCHES, "the figure grows with its rows"
