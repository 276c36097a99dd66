"""What the bench scripts share: where the shared data and the committed results are, the options every
study takes, score tables (``naswot table`` writes them) read back, and the rank correlations.

The scripts run as ``python bench/NAME.py``; Python then puts ``bench/`` first on ``sys.path``, so they
``import common`` (and the helper modules ``table_search`` and ``authors_baseline``) with no path
patching. A script imports these helpers only, never another script.
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict
from scipy import stats

from scoring import REFERENCE_SIZE, parse_ensemble
from scoring.ensemble import combine
from scoring.evaluate import value_settings
from scoring.undefined import from_table_cell, with_finite_floor
from searchspace import get_space
from searchspace.nb201.accuracy import load_accuracy as nb201_accuracy
from searchspace.nbmacro.accuracy import load_accuracy as nbmacro_accuracy

ROOT = Path(__file__).resolve().parent.parent
#: the committed score tables (``bench/results/*.csv.gz``, each with its ``.meta.json``)
RESULTS = ROOT / "bench" / "results"


class BenchSettings(BaseSettings):
    """The ``NASWOT_*`` variables of the bench scripts (empty counts as unset)."""

    model_config = SettingsConfigDict(env_prefix="NASWOT_", env_ignore_empty=True, extra="ignore", frozen=True)

    shared_data: Path = Path(ROOT.parent / "shared" / "data")
    nb201_accuracy: Path | None = None
    nbmacro_accuracy: Path | None = None


_SETTINGS = BenchSettings()
#: the shared real data beside the repository ($NASWOT_SHARED_DATA, else ../shared/data)
SHARED = _SETTINGS.shared_data
DEFAULT_DATA = "cifar10:" + str(SHARED / "cifar10-sample.npz")
DEFAULT_ACCURACY = str(_SETTINGS.nb201_accuracy or SHARED / "nb201-accuracy.csv")
#: each benchmark space's trained accuracies: (default file, loader arch -> {target -> accuracy})
GROUND_TRUTH: dict[str, tuple[str, Callable[[str], dict[str, dict[str, float]]]]] = {
    "nb201": (DEFAULT_ACCURACY, nb201_accuracy),
    "nb-macro": (str(_SETTINGS.nbmacro_accuracy or SHARED / "nbmacro-accuracy.csv"), nbmacro_accuracy),
}
#: the NB-201 targets' short names in printed tables
SHORT = {"cifar10_test": "c10", "cifar100_test": "c100", "imagenet16_120_test": "in16"}
#: columns of a score table that are not values
KEYS = ("index", "arch")


def add_accuracy_option(parser: argparse.ArgumentParser, *, any_space: bool = False) -> None:
    """``--accuracy``: the NB-201 trained accuracies the studies compare with (``any_space``: those of the table's space)."""
    if any_space:
        parser.add_argument("--accuracy", default=None, help="the table's space's trained accuracies "
                            "[nb201: $NASWOT_NB201_ACCURACY or nb201-accuracy.csv; nb-macro: $NASWOT_NBMACRO_ACCURACY or nbmacro-accuracy.csv]")
    else:
        parser.add_argument("--accuracy", default=DEFAULT_ACCURACY, help="nb201-accuracy.csv [$NASWOT_NB201_ACCURACY]")


def load_truth(space: str, path: str | None = None) -> dict[str, dict[str, float]]:
    """The trained accuracies of ``space``'s architectures (arch -> {target -> accuracy}), from ``path`` or the shared file."""
    if space not in GROUND_TRUTH:
        raise SystemExit(f"no ground truth for space {space!r}; known: {', '.join(GROUND_TRUTH)}")
    default, load = GROUND_TRUTH[space]
    return load(path or default)


def targets_of(truth: dict[str, dict[str, float]]) -> tuple[str, ...]:
    """The accuracy targets a ground truth holds (NB-201: C10, C100, IN16-120; nb-macro: C10)."""
    return tuple(next(iter(truth.values())))


def table_space(tables: Tables) -> str:
    """The space a score table was written for (its meta file)."""
    return read_meta(tables)["space"]


def add_table_option(parser: argparse.ArgumentParser, *, required: bool, help: str) -> None:
    """``--table A [B ...]``: one score table, or several joined on ``arch``."""
    parser.add_argument("--table", type=Path, nargs="+", required=required, help=help)


def correlations(scores: list[float], accuracy: list[float]) -> tuple[float, float]:
    """Kendall tau-b and Spearman rho; -inf scores (singular) rank lowest."""
    ranked = np.array(with_finite_floor(scores))
    return float(stats.kendalltau(ranked, accuracy).statistic), float(stats.spearmanr(ranked, accuracy).statistic)


def open_text(path: Path) -> TextIO:
    """A table for reading, gzip-compressed when its name ends in ``.gz``."""
    return gzip.open(path, "rt", newline="") if path.suffix == ".gz" else path.open(newline="")


#: one table, or several joined on ``arch`` (``--table A B`` in the bench scripts)
Tables = Path | Sequence[Path]


def table_paths(tables: Tables) -> list[Path]:
    """The table files ``tables`` names, in order."""
    return [Path(tables)] if isinstance(tables, (str, Path)) else [Path(t) for t in tables]


def describe_tables(tables: Tables) -> str:
    """The tables' names as printed: ``A`` or ``A + B``."""
    return " + ".join(map(str, table_paths(tables)))


def _read_file(path: Path) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The arch order and score columns (arch -> value, ``-inf`` for undefined) of one table file; read once
    while the file is unchanged (the study scripts read the same tables once per candidate). Callers copy before changing."""
    stat = path.stat()
    return _parse_file(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parse_file(path: str, _mtime_ns: int, _size: int) -> tuple[list[str], dict[str, dict[str, float]]]:
    with open_text(Path(path)) as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in (rows[0].keys() if rows else ()) if c not in KEYS]
    return [row["arch"] for row in rows], {c: {row["arch"]: from_table_cell(row[c]) for row in rows} for c in columns}


def read_columns(tables: Tables) -> dict[str, dict[str, float]]:
    """score column -> arch -> value (``-inf`` for undefined) of a table (as ``naswot table`` writes it), or of several
    joined on ``arch``: the cells every table holds, in the first table's order, each column once (a column
    two tables share, such as ``params``, must agree on every common cell)."""
    paths = table_paths(tables)
    order, first = _read_file(paths[0])
    joined = dict(first)
    for k, path in enumerate(paths[1:], 1):
        archs, columns = _read_file(path)
        held = set(archs)
        order = [a for a in order if a in held]
        for name, values in columns.items():
            if name in joined and any(joined[name][a] != values[a] for a in order):
                raise SystemExit(f"column {name!r} differs between {describe_tables(paths[:k])} and {path} on common cells")
            joined.setdefault(name, values)
    return {name: {a: values[a] for a in order} for name, values in joined.items()}


def read_meta(tables: Tables) -> dict[str, Any]:
    """The settings the tables were scored with (each one's ``.meta.json``, beside it, also for ``.csv.gz``);
    joined tables must share every setting but their score names."""
    metas = []
    for path in table_paths(tables):
        name = path.name[: -len(".gz")] if path.suffix == ".gz" else path.name
        meta = path.with_name(name + ".meta.json")
        if not meta.exists():
            raise SystemExit(f"{meta} not found: the table's settings are needed to rank against its reference sample")
        metas.append(json.loads(meta.read_text()))
    shared = [{k: v for k, v in value_settings(m).items() if k not in ("score", "scores")} for m in metas]
    if any(s != shared[0] for s in shared[1:]):
        raise SystemExit(f"{describe_tables(tables)} were scored with different settings (space, data, batch size, seed or precision); they cannot be joined")
    return metas[0]


def read_scores(tables: Tables, score: str) -> dict[str, float]:
    """arch -> value of ``score``: a column, or an ensemble of columns ranked as the service ranks them.

    An ensemble ranks each member against the seeded reference sample the service uses (the first
    ``REFERENCE_SIZE`` distinct cells drawn with the table's seed), so those cells must be in the table.
    """
    columns = read_columns(tables)
    where = describe_tables(tables)
    if score in columns:
        return columns[score]
    spec = parse_ensemble(score)
    if spec is None:
        raise SystemExit(f"{where} has no column {score!r}; it has {', '.join(columns)}")
    missing = [m for m in spec.members if m not in columns]
    if missing:
        raise SystemExit(f"{where} has no column for ensemble member(s) {', '.join(missing)}")
    meta = read_meta(tables)
    reference_archs = get_space(meta["space"]).sample(REFERENCE_SIZE, seed=meta["seed"], unique=True)
    absent = [a for a in reference_archs if a not in columns[spec.members[0]]]
    if absent:
        raise SystemExit(f"{len(absent)} of the {REFERENCE_SIZE} reference cells (seed {meta['seed']}) are not in {where}")
    reference = {m: sorted(columns[m][a] for a in reference_archs) for m in spec.members}
    archs = columns[spec.members[0]]
    return {a: combine(spec, {m: columns[m][a] for m in spec.members}, reference) for a in archs}
