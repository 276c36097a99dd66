"""Throughput of the project's scorer against the NASWOT authors' procedure, in one interleaved run.

    python bench/throughput.py --n 48 --seed 0 --device auto \
        --data cifar10:../shared/data/cifar10-sample.npz [--precision exact] [--threads N]
    python bench/throughput.py --profile --n 12      # where the time goes, stage by stage
    python bench/throughput.py --cells-per-pass 16   # the opt-in stacked-cells mode
    python bench/throughput.py --score ensemble      # another score's cost per cell against NASWOT alone
    python bench/throughput.py --joint naswot,synflow,snip   # several scores in shared passes against one scorer each
    python bench/throughput.py --space ofa-mbv3 --resolution 224 --n 3 --reference-size 4   # every default member per network

Both sides score the same seeded NAS-Bench-201 cells on the same device, minibatch and weights:
(a) ``Scorer.score_many`` (what the CLI, ``naswot table`` and the service call) and
(b) the authors' procedure re-created in ``bench/authors_baseline.py`` (seeded build, ``.to(device)``,
forward + backward, a second forward whose hooks copy every B x B product to the host).  Cells go
in blocks, alternating which side runs first, so machine noise hits both.  Construction is timed
on both sides.  The run checks that both give the same ranking (Kendall tau 1 up to ties) and
scores within 1e-6 relative (exact mode), or prints the rank agreement and largest score difference
of an opt-in mode (``--precision``, ``--cells-per-pass``).
The first line names the hardware and the exact product kernel chosen for the device (measured once,
before any timing; ``--gram-kernel int8|float32`` forces one): ``cpu=MODEL device=NAME
gram_kernel=KERNEL (how: timings; benchmark cost)``.
The last line is ``device=NAME cells_per_s=X baseline_cells_per_s=Y speedup=R``.

``--score NAME`` (any registered score or ensemble) instead times ``Scorer(scores=(NAME,))`` against
NASWOT alone on the same cells, interleaved in blocks the same way, and prints the ratio of seconds
per cell; an ensemble's one-off reference sample is timed and reported apart (it is computed once per
space, data, batch size and seed, then kept).  Last line: ``score=NAME seconds_per_cell=X
naswot_seconds_per_cell=Y ratio=R``.

``--joint a,b,c`` times one scorer computing those scores in shared passes (what the service does for a
list of scores) against one scorer per score (what it did before), interleaved the same way, and
checks the first cell's values are identical both ways.  Last line: ``joint=a+b+c seconds_per_cell=X
separate_seconds_per_cell=Y speedup=R``.

``--space NAME`` (nb201, nb-macro, ofa-mbv3 at ``--resolution``) times, per network of that space,
NASWOT, each default ensemble member alone (``scoring.ensemble.DEFAULT_MEMBERS``) and the default
ensemble, interleaved one network at a time; it prints seconds per network, each one's ratio to NASWOT
and whether each member meets the target of at most 2x NASWOT.  The ensemble's reference sample is
timed apart on ``--reference-size`` networks and extrapolated to the default size.
``--score`` and ``--joint`` take ``--space`` too (default nb201).  The helpers live in ``bench/score_timing.py``.

``--profile`` times each stage separately per cell instead (with a device synchronisation after
each stage): construction, moving to the device, the bare forward pass, the code products the
hooks add, log-determinant and synchronisation; and the baseline's stages.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from scipy import stats

from authors_baseline import authors_score
from common import DEFAULT_DATA
from score_timing import archs_at, interleaved, joint_ratio, members, score_ratio, sync
from scoring import Scorer, cpu_model, describe_device, kernels, naswot, open_source, resolve_device
from scoring.evaluate import build_seeded
from scoring.undefined import with_finite_floor
from searchspace import get_space

REL_TOL = 1e-6


def open_data(spec: str):
    """The data source, or Gaussian noise (with a note) when the default sample file is absent."""
    try:
        return open_source(spec)
    except (FileNotFoundError, OSError) as exc:
        print(f"note: {spec} unavailable ({exc}); using synthetic noise inputs instead", file=sys.stderr)
        return open_source("noise")


def baseline_scores(space, archs: list[str], x: torch.Tensor, num_classes: int, seed: int, device: torch.device) -> list[float]:
    """The authors' procedure on each cell: seeded build on the CPU, move, three passes."""
    return [authors_score(build_seeded(space, a, num_classes, seed).to(device), x) for a in archs]


def ranked(scores: list[float]) -> list[float]:
    return with_finite_floor(scores)


def compare(ours: list[float], theirs: list[float], exact: bool) -> bool:
    """Print rank agreement and the largest relative difference; True when they agree as required."""
    tau = float(stats.kendalltau(ranked(ours), ranked(theirs)).statistic) if len(ours) > 1 else 1.0
    same_singular = all((a == -math.inf) == (b == -math.inf) for a, b in zip(ours, theirs))
    finite = [(a, b) for a, b in zip(ours, theirs) if math.isfinite(a) and math.isfinite(b)]
    worst = max((abs(a - b) / max(abs(b), 1e-300) for a, b in finite), default=0.0)
    singular = sum(1 for s in theirs if s == -math.inf)
    print(f"kendall_tau={tau:.6f} max_rel_diff={worst:.3e} singular={singular} same_singular={same_singular}")
    if not exact:
        return True
    ok = same_singular and worst <= REL_TOL and tau >= 1.0 - 1e-12
    print("agreement: " + ("OK (same ranking, scores within 1e-6 relative)" if ok else "FAILED"))
    return ok


def run(args, space, source, device, archs) -> None:
    scorer = Scorer(
        space, source, batch_size=args.batch_size, seed=args.seed, device=device, precision=args.precision, cells_per_pass=args.cells_per_pass
    )
    x = scorer.x
    scores: dict[str, list[float]] = {"ours": [], "authors": []}
    # warm-up on a cell outside the sample (first-call allocations, kernel selection)
    warm = space.sample(1, seed=args.seed + 1)[0]
    scorer.score_one(warm)
    baseline_scores(space, [warm], x, scorer.num_classes, args.seed, device)
    sides = {
        "ours": lambda block: scores["ours"].extend(r.score for r in scorer.score_many(block)),
        "authors": lambda block: scores["authors"].extend(baseline_scores(space, block, x, scorer.num_classes, args.seed, device)),
    }

    def progress(done: int, seconds: dict[str, float]) -> None:
        print(f"  {done}/{len(archs)}  " + "  ".join(f"{k} {done / t:.3f} cells/s" for k, t in seconds.items()), file=sys.stderr, flush=True)

    size = max(args.block, args.cells_per_pass)  # a stacked pass never spans two blocks
    per_cell = interleaved(sides, archs, size, device, progress)
    rate, base_rate = 1 / per_cell["ours"], 1 / per_cell["authors"]
    data = source.describe()
    print(f"space=nb201 cells={len(archs)} seed={args.seed} batch={args.batch_size} precision={scorer.precision} threads={torch.get_num_threads()}")
    print(f"data={data['spec']} synthetic={data['synthetic']}")
    print(f"ours: {len(archs) / rate:.2f} s ({rate:.3f} cells/s)   authors' procedure: {len(archs) / base_rate:.2f} s ({base_rate:.3f} cells/s)   ratio {rate / base_rate:.2f}")
    ok = compare(scores["ours"], scores["authors"], exact=scorer.precision == "exact")
    print(f"device={describe_device(device).replace(' ', '_')} cells_per_s={rate:.3f} baseline_cells_per_s={base_rate:.3f} speedup={rate / base_rate:.2f}")
    if not ok:
        sys.exit(1)


class Laps:
    """Accumulates wall time per named stage, synchronising the device at each lap."""

    def __init__(self, device: torch.device):
        self.device = device
        self.totals: dict[str, float] = defaultdict(float)
        self.t = 0.0

    def start(self) -> None:
        sync(self.device)
        self.t = time.perf_counter()

    def lap(self, stage: str) -> None:
        sync(self.device)
        now = time.perf_counter()
        self.totals[stage] += now - self.t
        self.t = now


def profile_ours(scorer: Scorer, arch: str, laps: Laps) -> None:
    """One cell through the project's path, stage by stage (the bare forward pass is run once extra)."""
    networks = getattr(scorer, "networks", None)
    laps.start()
    if networks is None:  # a scorer without reusable networks builds each one
        net = build_seeded(scorer.space, arch, scorer.num_classes, scorer.seed)
        laps.lap("construction")
        net = net.to(scorer.device)
        laps.lap("move to device")
        _profile_passes(scorer, net, laps)
        return
    with networks.network(arch) as net:
        laps.lap("construction + move (reused modules, redrawn weights)")
        _profile_passes(scorer, net, laps)


def _profile_passes(scorer: Scorer, net: torch.nn.Module, laps: Laps) -> None:
    with torch.no_grad():
        net.train()
        net(scorer.x)
    laps.lap("bare forward pass")
    precision = getattr(scorer, "precision", "exact")
    k = naswot.kernel(net, scorer.x, precision) if precision != "exact" else naswot.kernel(net, scorer.x)
    laps.lap("forward pass with code products")
    naswot.log_abs_det(k).item()
    laps.lap("slogdet + sync")


def profile_theirs(space, arch: str, x: torch.Tensor, num_classes: int, seed: int, device: torch.device, laps: Laps) -> None:
    laps.start()
    net = build_seeded(space, arch, num_classes, seed)
    laps.lap("construction")
    net = net.to(device)
    laps.lap("move to device")
    authors_score(net, x, lap=laps.lap)


def show(title: str, totals: dict[str, float], cells: int, rename: Callable[[str], str] = str) -> float:
    total = sum(totals.values())
    print(f"{title}: {1e3 * total / cells:.1f} ms per cell")
    for stage, t in totals.items():
        print(f"  {rename(stage):<55}{1e3 * t / cells:>9.1f} ms {100 * t / total:>6.1f} %")
    return total


def profile(args, space, source, device, archs) -> None:
    kwargs = {"precision": args.precision} if args.precision != "exact" else {}
    scorer = Scorer(space, source, batch_size=args.batch_size, seed=args.seed, device=device, **kwargs)
    ours, theirs = Laps(device), Laps(device)
    warm = space.sample(1, seed=args.seed + 1)[0]
    profile_ours(scorer, warm, Laps(device))
    profile_theirs(space, warm, scorer.x, scorer.num_classes, args.seed, device, Laps(device))
    for i, arch in enumerate(archs):
        if i % 2 == 0:
            profile_ours(scorer, arch, ours)
            profile_theirs(space, arch, scorer.x, scorer.num_classes, args.seed, device, theirs)
        else:
            profile_theirs(space, arch, scorer.x, scorer.num_classes, args.seed, device, theirs)
            profile_ours(scorer, arch, ours)
    print(f"device={describe_device(device)} batch={args.batch_size} cells={len(archs)} threads={torch.get_num_threads()} precision={args.precision}")
    t = ours.totals
    fwd = t.get("bare forward pass", 0.0)
    hooked = t.pop("forward pass with code products", 0.0)
    t["code products (hooked pass - bare pass)"] = max(hooked - fwd, 0.0)
    total_ours = show("project scorer (the bare forward pass counted once)", dict(t), len(archs))
    total_theirs = show("authors' procedure", theirs.totals, len(archs))
    print(f"ratio of per-cell times (profiled, with per-stage syncs): {total_theirs / total_ours:.2f}")


def header(device: torch.device) -> str:
    """The CPU model, the device and its code-product kernel (chosen here, so its benchmark is never timed)."""
    return f"cpu={cpu_model()} device={describe_device(device)} gram_kernel={kernels.choice(device).describe()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default=None, help="time NASWOT, each default ensemble member and the ensemble per network of this space")
    parser.add_argument("--resolution", type=int, default=224, help="input resolution of a space whose networks carry one (ofa-mbv3)")
    parser.add_argument("--reference-size", type=int, default=8, help="an ensemble's reference networks, timed apart and extrapolated to the default")
    parser.add_argument("--n", type=int, default=48, help="number of distinct networks (NB-201 cells unless --space)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the cells, the minibatch and the weights")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="exact", help="exact (default), tf32 (CUDA) or bf16")
    parser.add_argument("--cells-per-pass", type=int, default=1, help="stack this many cells per pass (opt-in, not exact)")
    parser.add_argument("--block", type=int, default=None, help="networks per interleaved block (default 4; 1 with --space)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--gram-kernel", default="auto", choices=kernels.MODES, help="exact product kernel: auto (measured), int8 or float32")
    parser.add_argument("--profile", action="store_true", help="per-stage time breakdown instead of the throughput run")
    parser.add_argument("--score", default=None, help="time this score (or ensemble) per cell against NASWOT alone instead")
    parser.add_argument("--joint", default=None, help="a,b,c: time these scores in one scorer's shared passes against one scorer per score")
    args = parser.parse_args()
    if args.profile and args.cells_per_pass != 1:
        parser.error("--profile breaks down the one-cell path; leave --cells-per-pass at 1")
    mode = joint_ratio if args.joint else score_ratio if args.score else profile if args.profile else members if args.space else run
    if mode in (run, profile) and args.space not in (None, "nb201"):
        parser.error("the authors' procedure and --profile score NB-201 cells; --space times the scores on another space")
    args.block = args.block or (1 if args.space else 4)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    kernels.configure(args.gram_kernel)
    space = get_space(args.space or "nb201")
    source = open_data(args.data)
    device = resolve_device(args.device)
    archs = archs_at(space, args.n, args.seed, args.resolution)
    print(header(device), flush=True)
    mode(args, space, source, device, archs)


if __name__ == "__main__":
    main()
