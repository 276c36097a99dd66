"""Score every cell of a space (or a seeded subset) once and write ``index,arch,score`` rows; resumable.

    python bench/score_table.py --out /tmp/nb201-scores.csv --n 3000 --seed 0 \
        --data cifar10:../shared/data/cifar10-sample.npz

Rows are appended and flushed one by one; running again skips the cells already in the file, so
an interrupted run resumes, and a subset table grows into a larger one (drop ``--n``).
``--executor ray`` scores on Ray actors instead (``--address`` of a cluster, else a local one):
one per GPU, or ``--actors`` CPU actors with ``--threads`` (default 1) torch threads each.
``OUT.meta.json`` records the settings that determine a score (space, data identity, batch size,
seed, precision); a run whose settings differ is refused.  ``index`` is the cell's place in the
space's enumeration order (empty for spaces that cannot be enumerated); singular cells have an
empty ``score``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from scoring import ArchScore, Scorer, describe_device, open_source, resolve_device
from searchspace import SearchSpace, get_space

ROOT = Path(__file__).resolve().parent.parent


def read_table(path: Path) -> dict[str, float]:
    """arch -> score (``-inf`` for singular) of a table written by this script."""
    with path.open(newline="") as f:
        return {row["arch"]: (float(row["score"]) if row["score"] else -math.inf) for row in csv.DictReader(f)}


def _enumeration_index(space: SearchSpace) -> dict[str, int] | None:
    """arch -> place in the space's enumeration order, or None for spaces that cannot be enumerated."""
    try:
        return {arch: i for i, arch in enumerate(space.enumerate())}
    except NotImplementedError:
        return None


def ray_scores(args: argparse.Namespace, scorer: Scorer, todo: list[str], chunk: int = 256) -> Iterator[ArchScore]:
    """Scores of ``todo`` in order from a Ray actor pool, ``chunk`` cells at a time (so rows are written as they come)."""
    from app.executors.ray_pool import ItemFailed, RayScorePool, key_for

    if args.cells_per_pass != 1:
        sys.exit("--cells-per-pass is not available with --executor ray")
    key = key_for(scorer.space.name, scorer.source, scorer.batch_size, scorer.seed, scorer.precision)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write (keep it outside the repository)")
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--n", type=int, default=None, help="a seeded subset of this many distinct cells (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subset, the minibatch and the weights")
    parser.add_argument("--data", default="cifar10:" + str(ROOT.parent / "shared" / "data" / "cifar10-sample.npz"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="exact", help="exact (default), or an opt-in faster mode: bf16, tf32 (CUDA)")
    parser.add_argument("--cells-per-pass", type=int, default=1, help="NB201 only, opt-in: stack this many cells per forward pass")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice; 1 per Ray CPU actor)")
    parser.add_argument("--executor", choices=["local", "ray"], default="local", help="score in this process, or on Ray actors")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--actors", type=int, default=None, help="Ray actors (default: one per GPU, else one per CPU)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    space = get_space(args.space)
    index = _enumeration_index(space)
    if args.n is None and index is None:
        sys.exit(f"space {space.name!r} cannot be enumerated: give --n")
    archs = list(index) if args.n is None else space.sample(args.n, seed=args.seed, unique=True)
    device = resolve_device(args.device)
    source = open_source(args.data)
    scorer = Scorer(
        space, source, batch_size=args.batch_size, seed=args.seed, device=device,
        precision=args.precision, cells_per_pass=args.cells_per_pass,
    )
    settings = {k: v for k, v in scorer.describe().items() if k != "device"}

    meta = args.out.with_name(args.out.name + ".meta.json")
    done: dict[str, float] = {}
    if args.out.exists():
        if not meta.exists() or json.loads(meta.read_text()) != settings:
            sys.exit(f"{args.out} exists with other (or unknown) settings; choose another --out")
        done = read_table(args.out)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps(settings, indent=2))
        with args.out.open("w", newline="") as f:
            csv.writer(f).writerow(["index", "arch", "score"])

    todo = [a for a in archs if a not in done]
    print(f"{len(done)} cells already scored, {len(todo)} to go on {describe_device(device)}", file=sys.stderr)
    start = time.perf_counter()
    with args.out.open("a", newline="") as f:
        writer = csv.writer(f)
        results = scorer.score_many(todo) if args.executor == "local" else ray_scores(args, scorer, todo)
        for i, r in enumerate(results, 1):
            writer.writerow(["" if index is None else index[r.arch], r.arch, "" if r.singular else repr(r.score)])
            f.flush()
            if i % 100 == 0:
                rate = i / (time.perf_counter() - start)
                print(f"  {i}/{len(todo)}  {rate:.2f} cells/s  eta {(len(todo) - i) / rate / 60:.1f} min", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    total = read_table(args.out)
    singular = sum(1 for s in total.values() if s == -math.inf)
    print(f"data={source.spec} device={describe_device(device)} batch={args.batch_size} seed={args.seed}")
    print(f"cells={len(total)} singular={singular} new={len(todo)} seconds={elapsed:.1f} cells_per_s={len(todo) / max(elapsed, 1e-9):.2f}")


if __name__ == "__main__":
    main()
