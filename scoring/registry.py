"""Named training-free scores, in the manner of NASLib's ``@measure`` and timm's ``register_model``.

Each score belongs to a *pass*: one function that builds what it needs (a network, one forward, at
most one backward) and returns every score of that pass that was asked for, so several scores of
one architecture share their work.  A pass receives a :class:`Probe` (the seeded network factory,
the minibatch, its labels, the architecture's cost) and the names wanted from it.

Every value a pass returns goes through :func:`defined`: NaN and infinities become ``-inf``, the one
documented value for "undefined for this network" (it ranks below every finite score and is
``null`` in JSON), so no score ever crashes a request or passes as a silent 0.  A pass may say why
(:class:`~scoring.undefined.Undefined`) and add a note to a value (:class:`~scoring.undefined.Noted`);
:func:`run_pass_noted` keeps both, so every undefined value carries a reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from .undefined import NOT_FINITE, Noted, Undefined

log = logging.getLogger("naswot.scoring")

__all__ = [
    "PassFn",
    "Probe",
    "ScoreInfo",
    "defined",
    "get_score_info",
    "list_scores",
    "pass_of",
    "register_info",
    "register_pass",
    "run_pass",
    "noted_values",
    "run_pass_noted",
]


@dataclass(frozen=True)
class ScoreInfo:
    """What a score is: its name, one line with its definition and source, and what computing it takes."""

    name: str
    description: str
    #: the shared pass that computes it (scores of one pass cost one pass together)
    pass_name: str
    needs_backward: bool = False
    needs_labels: bool = False
    #: computed on generated inputs (all-ones, Gaussian) or none, not on the data source's images
    data_free: bool = False
    higher_is_better: bool = True
    #: the definition's revision: bumped by a change that alters values, so values stored under an earlier
    #: definition (score cache, ensemble reference samples, score tables) are never taken for the current one
    revision: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Probe(Protocol):
    """What a pass may use; :class:`scoring.evaluate.Scorer` provides it for one architecture."""

    x: torch.Tensor  # the minibatch on the device
    y: torch.Tensor | None  # its labels, or None when the source has none
    seed: int
    num_classes: int
    params: int
    flops: int

    def network(self) -> nn.Module:
        """A fresh, full (unpruned) network for the architecture, seeded, in train mode, on the device."""

    def generator(self, salt: int) -> torch.Generator:
        """A CPU generator seeded from the scorer's seed and ``salt``: the pass's own random draws."""


#: a pass: (probe, names wanted) -> name -> value, or :class:`Undefined` with the reason it has none, either
#: possibly :class:`Noted`
PassFn = Callable[[Probe, frozenset[str]], Mapping[str, "float | Undefined | Noted"]]

_SCORES: dict[str, ScoreInfo] = {}
_PASSES: dict[str, PassFn] = {}


def register_pass(*infos: ScoreInfo) -> Callable[[PassFn], PassFn]:
    """Decorator: register a pass computing the scores ``infos`` (all with the same ``pass_name``)."""

    def wrap(fn: PassFn) -> PassFn:
        names = {info.pass_name for info in infos}
        if len(names) != 1:
            raise ValueError(f"one pass, one pass_name; got {sorted(names)}")
        (pass_name,) = names
        if pass_name in _PASSES:
            raise ValueError(f"pass {pass_name!r} is already registered")
        for info in infos:
            if info.name in _SCORES:
                raise ValueError(f"score {info.name!r} is already registered")
        _PASSES[pass_name] = fn
        _SCORES.update((info.name, info) for info in infos)
        return fn

    return wrap


def register_info(info: ScoreInfo) -> ScoreInfo:
    """Register a score that no pass computes directly (the rank ensemble, built from other scores)."""
    if info.name in _SCORES:
        raise ValueError(f"score {info.name!r} is already registered")
    _SCORES[info.name] = info
    return info


def list_scores() -> list[ScoreInfo]:
    """Every registered score, sorted by name."""
    return [_SCORES[name] for name in sorted(_SCORES)]


def get_score_info(name: str) -> ScoreInfo:
    """The score registered as ``name``; ``KeyError`` names the choices."""
    if name not in _SCORES:
        raise KeyError(f"unknown score {name!r}; known: {', '.join(sorted(_SCORES))}")
    return _SCORES[name]


def pass_of(name: str) -> str:
    return get_score_info(name).pass_name


@dataclass(frozen=True)
class PassValues:
    """What one pass gave: each wanted score's defined float, the reason for each ``-inf`` one, and the notes."""

    values: dict[str, float]
    reasons: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def run_pass(pass_name: str, probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    """Run one pass for ``wanted`` and return each wanted score as a defined float (see :func:`run_pass_noted`)."""
    return run_pass_noted(pass_name, probe, wanted).values


def run_pass_noted(pass_name: str, probe: Probe, wanted: frozenset[str]) -> PassValues:
    """Run one pass for ``wanted``: each wanted score as a defined float, with a reason for every undefined one and
    the notes the pass gave.

    A network whose layers torch cannot differentiate as the pass needs (e.g. no double backward of the
    hard-sigmoid in MobileNetV3's squeeze-and-excitation, which GraSP's Hessian-vector product asks for)
    has no value for that pass: its scores are undefined (``-inf``), as a NaN would be, never an error.
    """
    try:
        raw: Mapping[str, Any] = _PASSES[pass_name](probe, wanted)
    except (NotImplementedError, RuntimeError) as exc:
        if not _not_differentiable(exc):
            raise
        log.warning("pass %s undefined for this network: %s", pass_name, exc)
        raw = dict.fromkeys(wanted, Undefined(f"torch cannot differentiate this network as the pass needs: {exc}"))
    return noted_values({name: raw.get(name, Undefined(f"the {pass_name} pass gave no value for {name}")) for name in wanted})


def noted_values(raw: Mapping[str, Any]) -> PassValues:
    """Values as passes return them (floats, :class:`Undefined`, :class:`Noted`) as defined floats with their reasons
    and notes: a ``-inf`` without a reason of its own gets :data:`~scoring.undefined.NOT_FINITE`."""
    out = PassValues({})
    for name, value in raw.items():
        if isinstance(value, Noted):
            out.notes[name], value = value.note, value.value
        out.values[name] = defined(value)
        if out.values[name] == -math.inf:
            out.reasons[name] = value.reason if isinstance(value, Undefined) else NOT_FINITE
    return out


def _not_differentiable(exc: BaseException) -> bool:
    """Whether ``exc`` says torch has no derivative for an operation the network uses."""
    return isinstance(exc, NotImplementedError) or ("derivative for" in str(exc) and "not implemented" in str(exc))


def defined(value: float | torch.Tensor | Undefined | Noted) -> float:
    """``value`` as a float, with NaN, +-inf and :class:`Undefined` mapped to ``-inf``: undefined ranks last, never as 0."""
    if isinstance(value, Noted):
        return defined(value.value)
    if isinstance(value, Undefined):
        return -math.inf
    v = float(value)
    return v if math.isfinite(v) else -math.inf
