"""The size-bias report's PNG plots (matplotlib, imported when a plot is drawn)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.analysis.report import Row, top_rows


def _figure(title: str, xlabel: str, ylabel: str):  # noqa: ANN202  (matplotlib types are imported lazily)
    """A fresh matplotlib figure on the file-only Agg backend (the service and CI have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:  # noqa: ANN001
    """Write the figure as PNG and release it."""
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_against(rows: Sequence[Row], field: str, label: str, score_name: str, top_k: int, path: Path) -> Path:
    """Score against one size measure (log scale), coloured by accuracy when known, the top-k ringed."""
    plt, fig, ax = _figure(f"{score_name} against {label}", label, score_name)
    finite = [r for r in rows if math.isfinite(r.score)]
    colour = [r.accuracy for r in finite] if all(r.accuracy is not None for r in finite) else None
    shading = {"c": colour, "cmap": "viridis"} if colour is not None else {"color": "#1971c2"}
    points = ax.scatter([getattr(r, field) for r in finite], [r.score for r in finite], s=9, alpha=0.8, **shading)
    if colour is not None:
        fig.colorbar(points, ax=ax, label="accuracy (%)")
    top = [r for r in top_rows(rows, top_k) if math.isfinite(r.score)]
    ax.scatter([getattr(r, field) for r in top], [r.score for r in top], s=40, facecolors="none", edgecolors="crimson", label=f"top {top_k}")
    ax.set_xscale("log")
    ax.legend(loc="lower right")
    return _save(plt, fig, path)


def plot_accuracy(rows: Sequence[Row], score_name: str, path: Path) -> Path:
    """Accuracy against score, coloured by #params (log), to show what is left once size is accounted for."""
    from matplotlib.colors import LogNorm

    plt, fig, ax = _figure(f"accuracy against {score_name}", score_name, "accuracy (%)")
    known = [r for r in rows if r.accuracy is not None and math.isfinite(r.score)]
    points = ax.scatter([r.score for r in known], [r.accuracy for r in known], c=[r.params for r in known], s=9, cmap="plasma", norm=LogNorm())
    fig.colorbar(points, ax=ax, label="#params")
    return _save(plt, fig, path)


#: height of one decision value's pair of bars in the op-share chart (inches), and the room around them
OPS_ROW_INCHES = 0.3
OPS_MARGIN_INCHES = 1.6


def ops_figure(ops: dict[str, Any]):  # noqa: ANN201  (matplotlib types are imported lazily)
    """Each decision value's share among the top-k beside its base rate, as horizontal bars: one row per value, in
    the report's order (grouped by position, a thin line between positions), the figure as tall as its rows need,
    the legend below the bars. Returns ``(plt, fig, ax, legend)``."""
    rows = ops["ops"]
    plt, fig, ax = _figure(f"decisions among the top {ops['top_k']} against the space's base rate", "share of the position's decisions", "")
    fig.set_size_inches(6.4, OPS_MARGIN_INCHES + OPS_ROW_INCHES * len(rows))
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [o["base_rate"] for o in rows], height=0.4, label="space (uniform)", color="#9aa5b1")
    ax.barh(y + 0.2, [o["top_rate"] for o in rows], height=0.4, label=f"top {ops['top_k']}", color="#d9480f")
    ax.set_yticks(y, [f"{o['position']}={o['value']}" for o in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first value on top, as in the report's table
    for i in range(1, len(rows)):
        if rows[i]["position"] != rows[i - 1]["position"]:
            ax.axhline(i - 0.5, color="#dee2e6", linewidth=0.8)
    legend = fig.legend(loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.6 / fig.get_figheight(), 1, 1))  # the legend's strip at the bottom stays free
    return plt, fig, ax, legend


def plot_ops(ops: dict[str, Any], path: Path) -> Path:
    """The op-share chart (:func:`ops_figure`) as a PNG."""
    plt, fig, _ax, _legend = ops_figure(ops)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(rows: Sequence[Row], report: dict[str, Any], folder: Path) -> list[Path]:
    """The report's PNG files in ``folder``: score against #params and FLOPs, op shares, accuracy against score when known."""
    folder.mkdir(parents=True, exist_ok=True)
    name, k = report["score_name"], report["ops"]["top_k"]
    paths = [
        plot_against(rows, "params", "#params", name, k, folder / "score-vs-params.png"),
        plot_against(rows, "flops", "FLOPs", name, k, folder / "score-vs-flops.png"),
    ]
    if report["ops"]["ops"]:
        paths.append(plot_ops(report["ops"], folder / "ops-top-k.png"))
    if report["accuracy"]:
        paths.append(plot_accuracy(rows, name, folder / "accuracy-vs-score.png"))
    return paths
