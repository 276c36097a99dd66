"""Ground-truth test accuracies of NAS-Bench-201 cells, from a CSV ``index,arch,<target>...``."""

from __future__ import annotations

import csv
from pathlib import Path

from .encoding import parse_string, to_string

#: the accuracy columns of the table, in the order reports show them
TARGETS = ("cifar10_test", "cifar100_test", "imagenet16_120_test")


def load_accuracy(path: str | Path) -> dict[str, dict[str, float]]:
    """Canonical arch string -> {target column -> test accuracy in percent}."""
    table: dict[str, dict[str, float]] = {}
    with Path(path).open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"arch", *TARGETS} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            table[to_string(parse_string(row["arch"]))] = {t: float(row[t]) for t in TARGETS}
    return table
