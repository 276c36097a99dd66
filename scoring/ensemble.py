"""The rank ensemble: sum over member scores of log relative rank, as AZ-NAS aggregates its assessors.

An ensemble value must not depend on which other architectures happen to be scored with it (alone,
in a batch, inside a search).  So each member's rank is taken against a fixed *reference sample*:
``REFERENCE_SIZE`` distinct architectures drawn from the space with the scorer's seed and scored
once per (space, data, batch size, seed).  For member value v and reference values R (n of them),

    rank(v) = (#{r in R: r < v} + #{r in R: r = v} / 2 + 1/2) / (n + 1)       at a reference value v
    ensemble = sum over members of log rank(v_member)

Between two reference values the rank is interpolated linearly, and beyond the finite ones a tail
``d / (d + s)`` shares out the last half step (``s`` continues the slope of the last ``TAIL_KNOTS``
values), so the rank is strictly increasing in (0, 1): architectures the sample cannot tell apart by
counting are still ordered (on the whole NB-201 space, 11,431 distinct default-ensemble values against
8,682 counted ranks; the rest are cells whose members agree exactly).  Undefined member values
(``-inf``) rank below every finite one, so the ensemble itself is always finite.  ``ensemble`` names
the default members; ``ensemble:a+b+c`` names others.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .registry import ScoreInfo, get_score_info, register_info

#: default members, chosen by measurement on NB-201 (README, "Scores and the ensemble")
DEFAULT_MEMBERS: tuple[str, ...] = ("synflow", "meco", "jacob_cov")
#: size of the seeded reference sample the members are ranked against
REFERENCE_SIZE = 256
#: how many reference values in from an end the slope that sets a tail's scale is measured
TAIL_KNOTS = 8
PREFIX = "ensemble"

ENSEMBLE = register_info(
    ScoreInfo(
        PREFIX,
        "sum over member scores of log relative rank against a seeded reference sample of the space (rank aggregation as in AZ-NAS, Lee & Ham, CVPR 2024); "
        f"default members {'+'.join(DEFAULT_MEMBERS)}, others as ensemble:a+b+c",
        PREFIX,
        needs_backward=any(get_score_info(m).needs_backward for m in DEFAULT_MEMBERS),
        needs_labels=any(get_score_info(m).needs_labels for m in DEFAULT_MEMBERS),
        revision=2,  # 2: ranks interpolated between reference values instead of counted
    )
)


@dataclass(frozen=True)
class EnsembleSpec:
    """Which scores an ensemble combines."""

    members: tuple[str, ...]

    @property
    def name(self) -> str:
        """The canonical name: ``ensemble`` for the default members, else ``ensemble:a+b+c``."""
        return PREFIX if self.members == DEFAULT_MEMBERS else f"{PREFIX}:{'+'.join(self.members)}"


def parse_ensemble(name: str) -> EnsembleSpec | None:
    """The ensemble ``name`` denotes, None when it is not an ensemble name; ValueError when malformed."""
    if name == PREFIX:
        return EnsembleSpec(DEFAULT_MEMBERS)
    if not name.startswith(PREFIX + ":"):
        return None
    members = tuple(name[len(PREFIX) + 1 :].split("+"))
    if len(members) < 2 or len(set(members)) != len(members):
        raise ValueError(f"an ensemble needs two or more distinct member scores joined by '+', got {name!r}")
    for member in members:
        try:
            info = get_score_info(member)
        except KeyError as exc:
            raise ValueError(f"ensemble member: {exc.args[0]}") from None
        if info.pass_name == PREFIX:
            raise ValueError(f"an ensemble cannot contain another ensemble ({member!r})")
    return EnsembleSpec(members)


def definition_name(name: str) -> str:
    """The name values of ``name`` are stored under: the canonical name, tagged ``@rN`` once the definition is
    revised; an ensemble's spells out its members and tags the rank formula's and each member's revision."""
    spec = parse_ensemble(name)
    if spec is None:
        revision = get_score_info(name).revision
        return name if revision == 1 else f"{name}@r{revision}"
    revisions = [get_score_info(m).revision for m in (PREFIX, *spec.members)]
    return f"{PREFIX}:{'+'.join(spec.members)}@r{'.'.join(map(str, revisions))}"


def relative_rank(value: float, reference: Sequence[float]) -> float:
    """Where ``value`` falls among the sorted ``reference`` values, in (0, 1) and strictly increasing in ``value``.

    At a reference value it is the mid-rank ``(#{r < v} + #{r = v}/2 + 1/2) / (n + 1)`` (ties halfway);
    between two it is interpolated linearly; beyond the finite ends a tail continues the
    slope and stays within half a step of the end, so values outside the sample are still ordered.
    """
    below = bisect_left(reference, value)
    equal = bisect_right(reference, value) - below
    if equal or not math.isfinite(value):
        return (below + equal / 2 + 0.5) / (len(reference) + 1)
    lower = reference[below - 1] if below else -math.inf
    upper = reference[below] if below < len(reference) else math.inf
    if math.isfinite(lower) and math.isfinite(upper):
        low, high = _mid_rank(lower, reference), _mid_rank(upper, reference)
        return low + (high - low) * (value - lower) / (upper - lower)
    return _tail_rank(value, reference)


def _mid_rank(knot: float, reference: Sequence[float]) -> float:
    """The mid-rank of a value equal to ``knot``, a member of ``reference``."""
    below = bisect_left(reference, knot)
    return (below + (bisect_right(reference, knot) - below) / 2 + 0.5) / (len(reference) + 1)


def _tail_rank(value: float, reference: Sequence[float]) -> float:
    """The rank of a finite value beyond the finite reference values (or with none): half a step of
    ``1 / (n + 1)`` is shared out along ``distance / (distance + scale)``, matching the slope inside at the end;
    its slow approach keeps far-out values apart in floating point."""
    finite = [r for r in reference if math.isfinite(r)]
    half_step = 0.5 / (len(reference) + 1)
    if not finite:
        return (bisect_left(reference, value) + 0.5) / (len(reference) + 1)
    above = value > finite[-1]
    end = finite[-1] if above else finite[0]
    inner = _inner_knot(finite, above)
    end_rank = _mid_rank(end, reference)
    scale = 1.0 if inner is None else half_step * abs(end - inner) / abs(end_rank - _mid_rank(inner, reference))
    distance = abs(value - end)
    share = half_step * distance / (distance + scale)
    return end_rank + share if above else end_rank - share


def _inner_knot(finite: Sequence[float], upper_end: bool) -> float | None:
    """The finite reference value ``TAIL_KNOTS`` places in from one end (the nearest distinct one if tied), None if all tie."""
    end = finite[-1] if upper_end else finite[0]
    if len(finite) > TAIL_KNOTS:
        place = finite[-1 - TAIL_KNOTS] if upper_end else finite[TAIL_KNOTS]
    else:
        place = finite[0] if upper_end else finite[-1]
    if place != end:
        return place
    distinct = [r for r in finite if r != end]
    return (distinct[-1] if upper_end else distinct[0]) if distinct else None


def combine(spec: EnsembleSpec, values: Mapping[str, float], reference: Mapping[str, Sequence[float]]) -> float:
    """The ensemble value of one architecture from its member ``values`` and the sorted ``reference`` values."""
    total = 0.0
    for member in spec.members:
        sign = 1.0 if get_score_info(member).higher_is_better else -1.0
        ref = reference[member] if sign > 0 else sorted(-r for r in reference[member])
        total += math.log(relative_rank(sign * values[member], ref))
    return total
