"""Score tables: every cell of a space (or a seeded subset) scored once, as ``index,arch,score`` rows; resumable.

``naswot table`` writes them. Rows are appended and flushed one at a time, so an interrupted run
resumes where it stopped, and a subset table grows into a larger one. ``OUT.meta.json`` records
the settings that determine a score (space, data identity, batch size, seed, precision); a run
with other settings is refused. ``index`` is the cell's place in the space's enumeration order
(empty for spaces that cannot be enumerated); singular cells have an empty ``score``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scoring import ArchScore, Scorer
from searchspace import SearchSpace

HEADER = ["index", "arch", "score"]


class TableError(ValueError):
    """The table cannot be written as asked (other settings in the file, a space that cannot be enumerated)."""


def meta_path(out: Path) -> Path:
    return out.with_name(out.name + ".meta.json")


def read_scores(out: Path) -> dict[str, float]:
    """arch -> score (``-inf`` when singular) of the rows already in a table."""
    with out.open(newline="") as f:
        return {row["arch"]: (float(row["score"]) if row["score"] else -math.inf) for row in csv.DictReader(f)}


def enumeration_index(space: SearchSpace) -> dict[str, int] | None:
    """arch -> place in the space's enumeration order, or None when the space cannot be enumerated."""
    try:
        return {arch: i for i, arch in enumerate(space.enumerate())}
    except NotImplementedError:
        return None


def chosen_archs(space: SearchSpace, index: dict[str, int] | None, n: int | None, seed: int) -> list[str]:
    """The whole space in enumeration order, or ``n`` distinct cells drawn with ``seed``."""
    if n is None:
        if index is None:
            raise TableError(f"space {space.name!r} cannot be enumerated: give --n")
        return list(index)
    return space.sample(n, seed=seed, unique=True)


def open_table(out: Path, settings: dict[str, Any]) -> dict[str, float]:
    """Start ``out`` (header and meta file), or check that an existing one was made with ``settings``; the scores already in it."""
    meta = meta_path(out)
    if out.exists():
        if not meta.exists() or json.loads(meta.read_text()) != settings:
            raise TableError(f"{out} exists with other (or unknown) settings; choose another --out")
        return read_scores(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(settings, indent=2))
    with out.open("w", newline="") as f:
        csv.writer(f).writerow(HEADER)
    return {}


def append_scores(out: Path, scorer: Scorer, todo: list[str], index: dict[str, int] | None) -> Iterator[ArchScore]:
    """Score ``todo`` and append each row as soon as it is known (flushed, so a stop loses nothing); yields each result."""
    with out.open("a", newline="") as f:
        writer = csv.writer(f)
        for result in scorer.score_many(todo):
            writer.writerow(["" if index is None else index[result.arch], result.arch, "" if result.singular else repr(result.score)])
            f.flush()
            yield result


def table_settings(scorer: Scorer) -> dict[str, Any]:
    """What determines the table's scores (the scorer's description without the device)."""
    return {k: v for k, v in scorer.describe().items() if k != "device"}
