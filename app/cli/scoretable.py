"""Score tables: every cell of a space (or a seeded subset) scored once, one CSV column per score; resumable.

``naswot table`` writes them (the bench scripts read them with ``bench/common.py``): ``index,arch,params,flops``,
then one column per score. Rows are appended and flushed one at a time, so an interrupted run
resumes where it stopped, and a subset table grows into a larger one. ``OUT.meta.json`` records
the settings that determine a score (space, data identity, batch size, seed, precision); a run
with other settings is refused. ``index`` is the cell's place in the space's enumeration order
(empty for spaces that cannot be enumerated); an undefined value (NASWOT's singular K_H, or any
score's NaN/inf) is an empty field. Cells are scored in this process, in ``--workers`` processes
(:func:`pooled_scores`) or on Ray actors (:func:`ray_scores`); the rows are the same.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from scoring import ScoredArch, Scorer
from scoring.evaluate import value_settings
from scoring.undefined import table_cell
from searchspace import SearchSpace

FIXED = ["index", "arch", "params", "flops"]


class TableError(ValueError):
    """The table cannot be written as asked (other settings in the file, a space that cannot be enumerated)."""


def meta_path(out: Path) -> Path:
    """The settings file beside a table (``t.csv.meta.json`` for ``t.csv`` and for its compressed ``t.csv.gz``)."""
    return out.with_name(out.name.removesuffix(".gz") + ".meta.json")


def read_archs(out: Path) -> list[str]:
    """The architectures already in a table, in order."""
    with out.open(newline="") as f:
        return [row["arch"] for row in csv.DictReader(f)]


def score_columns(names: list[str]) -> list[str]:
    """The score columns after the fixed ones (``params`` and ``flops`` are always there)."""
    return [n for n in names if n not in FIXED]


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


def open_table(out: Path, settings: dict[str, Any], names: list[str]) -> set[str]:
    """Start ``out`` (header and meta file), or check that an existing one was made with ``settings``; the archs already in it."""
    meta = meta_path(out)
    if out.exists():
        if not meta.exists() or value_settings(json.loads(meta.read_text())) != value_settings(settings):
            raise TableError(f"{out} exists with other (or unknown) settings; choose another --out")
        return set(read_archs(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(settings, indent=2))
    with out.open("w", newline="") as f:
        csv.writer(f).writerow([*FIXED, *score_columns(names)])
    return set()


def table_row(result: ScoredArch, index: dict[str, int] | None, names: list[str]) -> list[object]:
    """One CSV row: index, arch, params, flops, then each score (empty when undefined)."""
    values = result.values
    fields = [table_cell(values[name]) for name in score_columns(names)]
    return ["" if index is None else index[result.arch], result.arch, result.params, result.flops, *fields]


def append_results(out: Path, results: Iterable[ScoredArch], index: dict[str, int] | None, names: list[str]) -> Iterator[ScoredArch]:
    """Append each result's row as soon as it comes (flushed, so a stop loses nothing); yields each result."""
    with out.open("a", newline="") as f:
        writer = csv.writer(f)
        for result in results:
            writer.writerow(table_row(result, index, names))
            f.flush()
            yield result


def pooled_scores(make_scorer: Callable[[], Scorer], todo: list[str], workers: int) -> Iterator[ScoredArch]:
    """Scores of ``todo`` in order from ``workers`` spawned processes of one torch thread each, each with the
    scorer ``make_scorer()`` builds (a module-level function, or a partial of one, so that it pickles).  A process
    that cannot build its scorer breaks the pool (``BrokenProcessPool``) instead of being replaced forever."""
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(make_scorer,)) as pool:
        yield from pool.map(_score_in_worker, todo, chunksize=4)


_worker_scorer: Scorer | None = None


def _start_worker(make_scorer: Callable[[], Scorer]) -> None:
    global _worker_scorer
    torch.set_num_threads(1)
    _worker_scorer = make_scorer()


def _score_in_worker(arch: str) -> ScoredArch:
    assert _worker_scorer is not None
    return _worker_scorer.score_one(arch)


def ray_scores(scorer: Scorer, todo: list[str], *, address: str | None, actors: int | None, threads: int, chunk: int = 256) -> Iterator[ScoredArch]:
    """Scores of ``todo`` in order from a Ray actor pool with ``scorer``'s settings, ``chunk`` cells at a time
    (so rows are written as they come); a cell that fails raises."""
    from app.executors.ray_pool import ItemFailed, RayScorePool, key_for

    key = key_for(scorer.space, scorer.source, scorer.batch_size, scorer.seed, scorer.mode, tuple(scorer.score_names))
    pool = RayScorePool(address=address, actors=actors, threads_per_actor=threads)
    pool.start()
    try:
        for start in range(0, len(todo), chunk):
            for outcome in pool.score(key, todo[start : start + chunk]):
                if isinstance(outcome, ItemFailed):
                    raise RuntimeError(f"{outcome.arch}: {outcome.kind}: {outcome.message}")
                yield outcome
    finally:
        pool.stop()


def table_settings(scorer: Scorer) -> dict[str, Any]:
    """What determines the table's scores (the scorer's description without the device)."""
    return {k: v for k, v in scorer.describe().items() if k != "device"}
