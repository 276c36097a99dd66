"""The rank ensemble: sum over member scores of log relative rank, as AZ-NAS aggregates its assessors.

An ensemble value must not depend on which other architectures happen to be scored with it (alone,
in a batch, inside a search).  So each member's rank is taken against a fixed *reference sample*:
``REFERENCE_SIZE`` distinct architectures drawn from the space with the scorer's seed and scored
once per (space, data, batch size, seed).  For member value v and reference values R (n of them),

    rank(v) = (#{r in R: r < v} + #{r in R: r = v} / 2 + 1/2) / (n + 1)       in (0, 1)
    ensemble = sum over members of log rank(v_member)

Undefined member values (``-inf``) rank below every finite one, so the ensemble itself is always
finite.  ``ensemble`` names the default members; ``ensemble:a+b+c`` names others.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .registry import ScoreInfo, get_score_info, register_info

#: default members, chosen by measurement on NB-201 (README, "Scores and the ensemble")
DEFAULT_MEMBERS: tuple[str, ...] = ("synflow", "az_expressivity", "az_trainability", "meco")
#: size of the seeded reference sample the members are ranked against
REFERENCE_SIZE = 256
PREFIX = "ensemble"

ENSEMBLE = register_info(
    ScoreInfo(
        PREFIX,
        "sum over member scores of log relative rank against a seeded reference sample of the space (rank aggregation as in AZ-NAS, Lee & Ham, CVPR 2024); "
        f"default members {'+'.join(DEFAULT_MEMBERS)}, others as ensemble:a+b+c",
        PREFIX,
        needs_backward=any(get_score_info(m).needs_backward for m in DEFAULT_MEMBERS),
        needs_labels=any(get_score_info(m).needs_labels for m in DEFAULT_MEMBERS),
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


def relative_rank(value: float, reference: Sequence[float]) -> float:
    """(#{r < v} + #{r = v}/2 + 1/2) / (n + 1) for sorted ``reference``: in (0, 1), ties halfway."""
    below = bisect_left(reference, value)
    equal = bisect_right(reference, value) - below
    return (below + equal / 2 + 0.5) / (len(reference) + 1)


def combine(spec: EnsembleSpec, values: Mapping[str, float], reference: Mapping[str, Sequence[float]]) -> float:
    """The ensemble value of one architecture from its member ``values`` and the sorted ``reference`` values."""
    total = 0.0
    for member in spec.members:
        sign = 1.0 if get_score_info(member).higher_is_better else -1.0
        ref = reference[member] if sign > 0 else sorted(-r for r in reference[member])
        total += math.log(relative_rank(sign * values[member], ref))
    return total
