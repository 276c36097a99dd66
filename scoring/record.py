"""One scored architecture, the same record from the scorer through the store to the API (after optuna's ``FrozenTrial``).

A :class:`ScoredArch` carries the architecture's values **by score name** (the ranking score first), its
costs by name (``params``, ``flops``, and ``latency_ms`` when measured), and where the result came from
(seconds, device, cached) and, in a search, its step.  A value of ``-inf`` means undefined for the network
(for NASWOT: K_H singular); :meth:`ScoredArch.to_json` is where it becomes JSON ``null``, through
:func:`scoring.undefined.json_number`, for every caller.  A scorer that computes several scores in shared
passes yields one record with all of them; the score cache keeps each value on its own row, and
:meth:`ScoredArch.only` and :meth:`ScoredArch.merge` are the two (name-keyed) steps between the two forms.
Beside the values, by the same names: ``reasons``, why each undefined value is undefined, and ``notes`` a score
gave with its value (NASWOT: the activations its codes came from).
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
    #: why each undefined (``-inf``) value is undefined, by score name
    reasons: Mapping[str, str] = field(default_factory=dict)
    #: what a score says beside its value, by score name (NASWOT, SWAP: the activations read)
    notes: Mapping[str, str] = field(default_factory=dict)

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
    def undefined(self) -> str | None:
        """Why the ranking score is undefined, ``None`` when it is defined (or no reason was kept)."""
        return self.reasons.get(self.score_name) if self.singular else None

    @property
    def singular(self) -> bool:
        """The ranking score is undefined (NASWOT: K_H is singular); such a record ranks below every finite one."""
        return self.score == -math.inf

    def only(self, name: str) -> ScoredArch:
        """The record of score ``name`` alone, as the cache keeps it, with an equal share of the device time among the
        scores computed together (so the shares add up to the whole)."""
        return replace(
            self, values={name: self.values[name]}, seconds=self.seconds / len(self.values),
            reasons=_pick(self.reasons, name), notes=_pick(self.notes, name),
        )

    @classmethod
    def merge(cls, parts: Sequence[ScoredArch]) -> ScoredArch:
        """One architecture's record from records of its scores (each by name, in order): device time adds up, and it
        counts as cached only when none of them needed the device."""
        values = {name: value for part in parts for name, value in part.values.items()}
        seconds = sum(part.seconds for part in parts)
        reasons = {name: reason for part in parts for name, reason in part.reasons.items()}
        notes = {name: note for part in parts for name, note in part.notes.items()}
        return replace(parts[0], values=values, seconds=seconds, cached=all(part.cached for part in parts), reasons=reasons, notes=notes)

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
        the ranking one); in a search its ``step`` and ``latency_ms``; otherwise its ``seconds``, ``cached``, ``device``,
        ``undefined`` (why ``score`` is null, else null) and after ``values``: ``reasons`` (why each null of ``values``
        is null) and ``notes`` (what a score says beside its value)."""
        head: dict[str, Any] = {} if self.step is None else {"step": self.step}
        out = {**head, "arch": self.arch, "score": json_number(self.score), "singular": self.singular, "params": self.params, "flops": self.flops}
        if self.step is None:
            out.update(seconds=self.seconds, cached=self.cached, device=self.device, undefined=self.undefined)
            if self.latency_ms is not None:
                out["latency_ms"] = self.latency_ms
        else:
            out["latency_ms"] = self.latency_ms
        out["values"] = self.json_values()
        if self.step is None:
            out.update(reasons=self.json_reasons(), notes={name: self.notes[name] for name in self.values if name in self.notes})
        return out

    def json_reasons(self) -> dict[str, str]:
        """Why each undefined value is undefined, by name (the names of ``values`` that are ``null`` and have a reason)."""
        return {name: self.reasons[name] for name, value in self.values.items() if value == -math.inf and name in self.reasons}

    def json_values(self) -> dict[str, float | None]:
        """Every value by name as JSON carries it (``null`` when undefined)."""
        return {name: json_number(value) for name, value in self.values.items()}


def costs_of(cost: Any) -> dict[str, float]:
    """The costs ``cost`` carries, by name: parameters and FLOPs, and ``latency_ms`` when it holds a measured one."""
    found = {name: getattr(cost, name) for name in COUNTED_COSTS}
    latency = getattr(cost, "latency_ms", None)
    return found if latency is None else {**found, "latency_ms": latency}


def _pick(named: Mapping[str, str], name: str) -> dict[str, str]:
    """The entry ``name`` of a by-name mapping, alone (empty when it has none)."""
    return {name: named[name]} if name in named else {}
