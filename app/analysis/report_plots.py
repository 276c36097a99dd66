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
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_against(rows: Sequence[Row], field: str, label: str, score_name: str, top_k: int, path: Path) -> Path:
    """Write the figure as PNG and release it."""
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


def plot_ops(ops: dict[str, Any], path: Path) -> Path:
    """Each decision value's share among the top-k beside its base rate in the space."""
    plt, fig, ax = _figure(f"decisions among the top {ops['top_k']} against the space's base rate", "position=value", "share of the position's decisions")
    names = [f"{o['position']}={o['value']}" for o in ops["ops"]]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [o["base_rate"] for o in ops["ops"]], width=0.4, label="space (uniform)", color="#9aa5b1")
    ax.bar(x + 0.2, [o["top_rate"] for o in ops["ops"]], width=0.4, label=f"top {ops['top_k']}", color="#d9480f")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.legend()
    return _save(plt, fig, path)


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
