"""Score names as requests give them: canonical names, the ensembles among them, and the passes they need."""

from __future__ import annotations

from collections.abc import Sequence

from .ensemble import EnsembleSpec, parse_ensemble
from .registry import get_score_info, pass_of


def canonical_score(name: str) -> str:
    """The canonical name of one score or ensemble (``ensemble:`` with the default members becomes ``ensemble``);
    ValueError naming the choices when unknown."""
    (names, _) = resolve_names((name,))
    return names[0]


def resolve_names(scores: Sequence[str] | str) -> tuple[tuple[str, ...], tuple[EnsembleSpec, ...]]:
    """Canonical score names (ensembles by their canonical name) and the ensembles among them."""
    names = (scores,) if isinstance(scores, str) else tuple(scores)
    if not names:
        raise ValueError("at least one score name is needed")
    canonical: dict[str, None] = {}
    ensembles: dict[str, EnsembleSpec] = {}
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"score names are strings, got {name!r}")
        spec = parse_ensemble(name)
        if spec is not None:
            ensembles[spec.name] = spec
            canonical[spec.name] = None
            continue
        try:
            get_score_info(name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        canonical[name] = None
    return tuple(canonical), tuple(ensembles.values())


def passes_for(names: Sequence[str], ensembles: Sequence[EnsembleSpec]) -> dict[str, frozenset[str]]:
    """pass name -> the scores wanted from it, for the named scores and every ensemble member."""
    wanted = [n for n in names if parse_ensemble(n) is None] + [m for spec in ensembles for m in spec.members]
    passes: dict[str, set[str]] = {}
    for name in wanted:
        passes.setdefault(pass_of(name), set()).add(name)
    return {p: frozenset(ns) for p, ns in passes.items()}
