"""Training-free scores, the data batches they are computed on, and devices.

    from scoring import naswot
    s = naswot.score(net, x)   # float, -inf when K_H is singular
    [info.name for info in list_scores()]   # every registered score
    Scorer(space, source, scores=("ensemble", "naswot", "synflow"))
"""

from . import kernels, measures, naswot  # noqa: F401  (measures registers every score)
from .data import DataSource, open_source
from .device import cpu_model, describe_device, resolve_device
from .ensemble import DEFAULT_MEMBERS, REFERENCE_SIZE, definition_name, parse_ensemble
from .inputs import InputMismatch, check_pairing, cost_for
from .latency import COSTS, LATENCY, LatencyKey, LatencyMeter, MeasuredCost, SearchCosts, device_identity, latency_key
from .evaluate import Scorer, build_seeded, canonical_score  # build_seeded lives in searchspace.seeded
from .record import ScoredArch
from .registry import ScoreInfo, get_score_info, list_scores
from .undefined import from_json_number, json_number

__all__ = [
    "COSTS",
    "DEFAULT_MEMBERS",
    "REFERENCE_SIZE",
    "DataSource",
    "InputMismatch",
    "LATENCY",
    "LatencyKey",
    "LatencyMeter",
    "MeasuredCost",
    "ScoreInfo",
    "ScoredArch",
    "Scorer",
    "SearchCosts",
    "build_seeded",
    "canonical_score",
    "cpu_model",
    "check_pairing",
    "cost_for",
    "definition_name",
    "describe_device",
    "device_identity",
    "from_json_number",
    "get_score_info",
    "json_number",
    "kernels",
    "latency_key",
    "list_scores",
    "naswot",
    "open_source",
    "parse_ensemble",
    "resolve_device",
]
