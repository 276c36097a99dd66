"""Ground-truth test accuracies of NAS-Bench-Macro networks, from the CSV ``arch, cifar10_test_mean, ...``."""

from __future__ import annotations

import csv
from pathlib import Path

from .encoding import parse_string, to_string

#: the accuracy targets, named as NB-201's so that the bench reports read both (the mean of the three trainings)
TARGETS = ("cifar10_test",)
#: the CSV column each target is read from
COLUMNS = {"cifar10_test": "cifar10_test_mean"}


def load_accuracy(path: str | Path) -> dict[str, dict[str, float]]:
    """Canonical arch string -> {target -> test accuracy in percent} (the mean over the benchmark's three runs)."""
    table: dict[str, dict[str, float]] = {}
    with Path(path).open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"arch", *COLUMNS.values()} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            table[to_string(parse_string(row["arch"]))] = {t: float(row[c]) for t, c in COLUMNS.items()}
    return table
