"""One scored architecture, the same record from the scorer through the store to the API (after optuna's ``FrozenTrial``).

A :class:`ScoredArch` carries the architecture's values **by score name** (the ranking score first), its
costs by name (``params``, ``flops``, and ``latency_ms`` when measured), and where the result came from
(seconds, device, cached) and, in a search, its step.  A value of ``-inf`` means undefined for the network
(for NASWOT: K_H singular); :meth:`ScoredArch.to_json` is where it becomes JSON ``null``, through
:func:`scoring.undefined.json_number`, for every caller.  A scorer that computes several scores in shared
passes yields one record with all of them; the score cache keeps each value on its own row, and
:meth:`ScoredArch.only` and :meth:`ScoredArch.merge` are the two (name-keyed) steps between the two forms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .undefined import json_number

#: the costs every record counts: parameters and FLOPs per image (measured costs such as ``latency_ms`` come when asked)
COUNTED_COSTS = ("params", "flops")


@dataclass(frozen=True)
class ScoredArch:
    """An architecture with its values by score name (the first ranks it) and its costs by name.

    ``seconds`` is the device time its values took (when ``cached``: the time they took originally),
    ``device`` the device that computed them, ``step`` its 1-based place in a search (``None`` outside one).
    """

    arch: str
    values: Mapping[str, float]
    costs: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    device: str = ""
    cached: bool = False
    step: int | None = None

    @classmethod
    def of(cls, arch: str, values: Mapping[str, float], cost: Any, **fields: Any) -> ScoredArch:
        """A record whose costs are read from ``cost`` (a :class:`searchspace.ModelCost`, or one with ``latency_ms`` too)."""
        return cls(arch, dict(values), costs_of(cost), **fields)

    # -- values --------------------------------------------------------------------------------

    @property
    def score_name(self) -> str:
        """The name of the ranking score: the first value's."""
        return next(iter(self.values))

    @property
    def score(self) -> float:
        """The ranking score's value (``-inf`` when undefined)."""
        return self.values[self.score_name]

    @property
    def singular(self) -> bool:
        """The ranking score is undefined (NASWOT: K_H is singular); such a record ranks below every finite one."""
        return self.score == -math.inf

    def only(self, name: str) -> ScoredArch:
        """The record of score ``name`` alone, as the cache keeps it, with an equal share of the device time among the
        scores computed together (so the shares add up to the whole)."""
        return replace(self, values={name: self.values[name]}, seconds=self.seconds / len(self.values))

    @classmethod
    def merge(cls, parts: Sequence[ScoredArch]) -> ScoredArch:
        """One architecture's record from records of its scores (each by name, in order): device time adds up, and it
        counts as cached only when none of them needed the device."""
        values = {name: value for part in parts for name, value in part.values.items()}
        seconds = sum(part.seconds for part in parts)
        return replace(parts[0], values=values, seconds=seconds, cached=all(part.cached for part in parts))

    # -- costs ---------------------------------------------------------------------------------

    @property
    def params(self) -> int:
        return int(self.costs["params"])

    @property
    def flops(self) -> int:
        return int(self.costs["flops"])

    @property
    def latency_ms(self) -> float | None:
        """The measured latency (milliseconds per forward pass), or ``None`` when it was not measured."""
        return self.costs.get("latency_ms")

    def cost(self, name: str) -> float | None:
        """The cost ``name`` (see :data:`scoring.COSTS`), or ``None`` when this record lacks it."""
        return self.costs.get(name)

    def with_costs(self, cost: Any) -> ScoredArch:
        """The record with the costs read from ``cost`` added (replacing any of the same name)."""
        return replace(self, costs={**self.costs, **costs_of(cost)})

    # -- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The JSON form every caller shows: ``score`` and each of ``values`` ``null`` when undefined (``singular`` true for
        the ranking one); in a search its ``step`` and ``latency_ms``, otherwise its ``seconds``, ``cached`` and ``device``."""
        head: dict[str, Any] = {} if self.step is None else {"step": self.step}
        out = {**head, "arch": self.arch, "score": json_number(self.score), "singular": self.singular, "params": self.params, "flops": self.flops}
        if self.step is None:
            out.update(seconds=self.seconds, cached=self.cached, device=self.device)
            if self.latency_ms is not None:
                out["latency_ms"] = self.latency_ms
        else:
            out["latency_ms"] = self.latency_ms
        out["values"] = self.json_values()
        return out

    def json_values(self) -> dict[str, float | None]:
        """Every value by name as JSON carries it (``null`` when undefined)."""
        return {name: json_number(value) for name, value in self.values.items()}


def costs_of(cost: Any) -> dict[str, float]:
    """The costs ``cost`` carries, by name: parameters and FLOPs, and ``latency_ms`` when it holds a measured one."""
    found = {name: getattr(cost, name) for name in COUNTED_COSTS}
    latency = getattr(cost, "latency_ms", None)
    return found if latency is None else {**found, "latency_ms": latency}
