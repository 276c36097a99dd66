"""Score every cell of a space (or a seeded subset) once and write one CSV column per score; resumable.

    python bench/score_table.py --out /tmp/nb201.csv --n 3000 --seed 0 --scores naswot,synflow,flops \\
        --data cifar10:../shared/data/cifar10-sample.npz --workers 2

Columns: ``index,arch,params,flops`` then one per score (``--scores``, names as ``naswot scores``
lists them).  Rows are appended and flushed one by one; running again skips the cells already in the
file, so an interrupted run resumes, and a subset table grows into a larger one (drop ``--n``).
``OUT.meta.json`` records the settings that determine a score (space, scores, data identity, batch
size, seed, precision); a run whose settings differ is refused.  ``index`` is the cell's place in the
space's enumeration order (empty for spaces that cannot be enumerated); an undefined value (NASWOT's
singular K_H, or any score's NaN/inf) is an empty field.  ``--workers N`` scores in N processes with
one torch thread each; ``--executor ray`` scores on Ray actors instead (``--address`` of a cluster,
else a local one; one actor per GPU, or ``--actors`` CPU actors of ``--threads``, default 1, threads).  Tables load with :func:`read_columns` or :func:`read_scores` (also ``.csv.gz``; several tables of the same settings
join on ``arch``, as ``--table A B`` in the other bench scripts).
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import json
import math
import multiprocessing as mp
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from app.scoretable import TableError, append_results, chosen_archs, enumeration_index, open_table, table_settings
from scoring import REFERENCE_SIZE, ArchScore, Scorer, describe_device, open_source, parse_ensemble, resolve_device
from scoring.ensemble import combine
from scoring.evaluate import value_settings
from searchspace import get_space

ROOT = Path(__file__).resolve().parent.parent
#: columns that are not scores
KEYS = ("index", "arch")


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
    return [row["arch"] for row in rows], {c: {row["arch"]: float(row[c]) if row[c] else -math.inf for row in rows} for c in columns}


def read_columns(tables: Tables) -> dict[str, dict[str, float]]:
    """score column -> arch -> value (``-inf`` for undefined) of a table written by this script, or of several
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


def _scorer(args: argparse.Namespace) -> Scorer:
    return Scorer(
        get_space(args.space), open_source(args.data), batch_size=args.batch_size, seed=args.seed,
        device=resolve_device(args.device), precision=args.precision, cells_per_pass=args.cells_per_pass,
        scores=args.scores,
    )


_worker_scorer: Scorer | None = None


def _init_worker(args: argparse.Namespace) -> None:
    global _worker_scorer
    torch.set_num_threads(1)
    _worker_scorer = _scorer(args)


def _score_in_worker(arch: str) -> ArchScore:
    assert _worker_scorer is not None
    return _worker_scorer.score_one(arch)


def _results(scorer: Scorer, args: argparse.Namespace, todo: list[str]) -> Iterator[ArchScore]:
    """Scores of ``todo`` in order: in this process, or in ``--workers`` processes of one thread each."""
    if args.executor == "ray":
        yield from _ray_results(scorer, args, todo)
        return
    if args.workers <= 1:
        yield from scorer.score_many(todo)
        return
    with mp.get_context("spawn").Pool(args.workers, initializer=_init_worker, initargs=(args,)) as pool:
        yield from pool.imap(_score_in_worker, todo, chunksize=4)


def _ray_results(scorer: Scorer, args: argparse.Namespace, todo: list[str], chunk: int = 256) -> Iterator[ArchScore]:
    """Scores of ``todo`` in order from a Ray actor pool, ``chunk`` cells at a time (so rows are written as they come)."""
    from app.executors.ray_pool import ItemFailed, RayScorePool, key_for

    if args.cells_per_pass != 1:
        sys.exit("--cells-per-pass is not available with --executor ray")
    key = key_for(scorer.space.name, scorer.source, scorer.batch_size, scorer.seed, scorer.mode, tuple(args.scores))
    pool = RayScorePool(address=args.address, actors=args.actors, threads_per_actor=args.threads or 1)
    pool.start()
    try:
        for start in range(0, len(todo), chunk):
            for outcome in pool.score(key, todo[start : start + chunk]):
                if isinstance(outcome, ItemFailed):
                    raise RuntimeError(f"{outcome.arch}: {outcome.kind}: {outcome.message}")
                yield outcome
    finally:
        pool.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write (keep it outside the repository)")
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--scores", default="naswot", type=lambda s: [n.strip() for n in s.split(",") if n.strip()],
                        help="comma-separated score names (default naswot)")
    parser.add_argument("--n", type=int, default=None, help="a seeded subset of this many distinct cells (default: all)")
    parser.add_argument("--first", type=int, default=None, help="score only the first K cells of that list")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subset, the minibatch and the weights")
    parser.add_argument("--data", default="cifar10:" + str(ROOT.parent / "shared" / "data" / "cifar10-sample.npz"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="exact", help="exact (default), or an opt-in faster mode: bf16, tf32 (CUDA)")
    parser.add_argument("--cells-per-pass", type=int, default=1, help="NB201 only, opt-in: stack this many cells per forward pass")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--workers", type=int, default=1, help="score in this many processes, one torch thread each")
    parser.add_argument("--executor", choices=["local", "ray"], default="local", help="score here (--workers), or on Ray actors")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--actors", type=int, default=None, help="Ray actors (default: one per GPU, else one per CPU)")
    return parser.parse_args()


def _append_rows(scorer: Scorer, args: argparse.Namespace, todo: list[str], index: dict[str, int] | None) -> float:
    """Score ``todo`` and append one flushed row per cell to ``--out``, reporting progress; seconds taken."""
    start = time.perf_counter()
    rows = append_results(args.out, _results(scorer, args, todo), index, list(scorer.score_names))
    for i, _ in enumerate(rows, 1):
        if i % 50 == 0:
            rate = i / (time.perf_counter() - start)
            print(f"  {i}/{len(todo)}  {rate:.2f} cells/s  eta {(len(todo) - i) / rate / 60:.1f} min", file=sys.stderr, flush=True)
    return time.perf_counter() - start


def _print_summary(scorer: Scorer, args: argparse.Namespace, new: int, elapsed: float) -> None:
    """The table's settings, size, undefined values per score and this run's rate."""
    names = list(scorer.score_names)
    table = read_columns(args.out)
    undefined = {n: sum(1 for v in table[n].values() if v == -math.inf) for n in names}
    print(f"data={scorer.source.spec} device={describe_device(scorer.device)} batch={args.batch_size} seed={args.seed} scores={','.join(names)}")
    print(f"cells={len(table[names[0]])} undefined={undefined} new={new} seconds={elapsed:.1f} cells_per_s={new / max(elapsed, 1e-9):.2f}")


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    space = get_space(args.space)
    index = enumeration_index(space)
    try:
        archs = chosen_archs(space, index, args.n, args.seed)[: args.first]
        scorer = _scorer(args)
        done = open_table(args.out, table_settings(scorer), list(scorer.score_names))
    except (TableError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    todo = [a for a in archs if a not in done]
    print(f"{len(done)} cells already scored, {len(todo)} to go on {describe_device(scorer.device)}", file=sys.stderr)
    elapsed = _append_rows(scorer, args, todo, index)
    _print_summary(scorer, args, len(todo), elapsed)


if __name__ == "__main__":
    main()
