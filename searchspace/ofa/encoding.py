"""Once-for-all MobileNetV3 subnet encodings: a JSON object of depths, expand ratios, kernels and resolution.

Canonical form (compact JSON, sorted keys), one list per stage holding only the blocks that exist::

    {"d":[2,3,4,2,3],"e":[[3,4],[6,6,3],...],"k":[[3,5],[7,3,3],...],"r":224}

Also accepted: the same object (as a dict or JSON text) and once-for-all's own flat form
``{"ks": [20 kernels], "e": [20 expand ratios], "d": [5 depths], "r": [224]}`` (``r`` an int or a
one-element list, or ``resolution``), where stage s owns blocks 4s..4s+3 and blocks past its depth
are dropped (they do not exist; their values must still be valid choices).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import EncodingError, is_sequence

STAGES = 5
DEPTHS: tuple[int, ...] = (2, 3, 4)
EXPANDS: tuple[int, ...] = (3, 4, 6)
KERNELS: tuple[int, ...] = (3, 5, 7)
RESOLUTIONS: tuple[int, ...] = tuple(range(128, 225, 4))
MAX_DEPTH = max(DEPTHS)
NESTED_KEYS = ("d", "e", "k", "r")
FLAT_KEYS = ("d", "e", "ks", "r")


@dataclass(frozen=True)
class Subnet:
    """One subnet: per stage its depth and, per existing block, expand ratio and kernel; and the input resolution."""

    depths: tuple[int, ...]
    expands: tuple[tuple[int, ...], ...]
    kernels: tuple[tuple[int, ...], ...]
    resolution: int

    def to_json(self) -> str:
        """The canonical string: compact JSON with sorted keys."""
        body = {"d": list(self.depths), "e": [list(s) for s in self.expands], "k": [list(s) for s in self.kernels], "r": self.resolution}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _short(value: Any, limit: int = 80) -> Any:
    """``value`` for an error message, or the start of its repr when that is long (errors never echo a huge input)."""
    text = repr(value)
    return value if len(text) <= limit else text[:limit] + "..."


def _choice(value: Any, choices: Sequence[int], where: str) -> int:
    """``value`` when it is an integer among ``choices`` (a bool is not); EncodingError naming ``where`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
        raise EncodingError("value not in the space", token=_short(value), position=where, hint=f"expected one of {', '.join(map(str, choices))}")
    return int(value)


def _list(value: Any, length: int, where: str) -> Sequence[Any]:
    if not is_sequence(value) or len(value) != length:
        raise EncodingError(f"expected a list of {length}", token=_short(value), position=where)
    return value


def _check_keys(obj: Mapping[str, Any], allowed: Sequence[str], required: Sequence[str]) -> None:
    for key in obj:
        if key not in allowed:
            raise EncodingError("unknown key", token=_short(key), hint=f"expected the keys {', '.join(allowed)}")
    for key in required:
        if key not in obj:
            raise EncodingError("missing key", token=key, hint=f"expected the keys {', '.join(allowed)}")


def _resolution(value: Any, where: str) -> int:
    """A resolution as an int or once-for-all's one-element list."""
    if is_sequence(value):
        value = _list(value, 1, where)[0]
    return _choice(value, RESOLUTIONS, where)


def _depths(value: Any) -> tuple[int, ...]:
    return tuple(_choice(d, DEPTHS, f"d[{s}]") for s, d in enumerate(_list(value, STAGES, "d")))


def _per_block(value: Any, key: str, depths: Sequence[int], choices: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    stages = _list(value, STAGES, key)
    return tuple(
        tuple(_choice(v, choices, f"{key}[{s}][{b}]") for b, v in enumerate(_list(stages[s], depth, f"{key}[{s}]")))
        for s, depth in enumerate(depths)
    )


def _from_nested(obj: Mapping[str, Any]) -> Subnet:
    _check_keys(obj, NESTED_KEYS, NESTED_KEYS)
    depths = _depths(obj["d"])
    return Subnet(depths, _per_block(obj["e"], "e", depths, EXPANDS), _per_block(obj["k"], "k", depths, KERNELS), _resolution(obj["r"], "r"))


def _flat_stages(value: Any, key: str, depths: Sequence[int], choices: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    blocks = [_choice(v, choices, f"{key}[{i}]") for i, v in enumerate(_list(value, STAGES * MAX_DEPTH, key))]
    return tuple(tuple(blocks[s * MAX_DEPTH : s * MAX_DEPTH + d]) for s, d in enumerate(depths))


def _from_flat(obj: Mapping[str, Any]) -> Subnet:
    """Once-for-all's ``ks``/``e``/``d`` lists of every block (20) and stage (5), with ``r`` or ``resolution``."""
    key = "resolution" if "resolution" in obj else "r"
    _check_keys(obj, (*FLAT_KEYS, "resolution"), ("d", "e", "ks", key))
    if "r" in obj and "resolution" in obj:
        raise EncodingError("give the resolution once, as 'r' or 'resolution'", token="resolution")
    depths = _depths(obj["d"])
    return Subnet(depths, _flat_stages(obj["e"], "e", depths, EXPANDS), _flat_stages(obj["ks"], "ks", depths, KERNELS), _resolution(obj[key], key))


def parse(arch: Any) -> Subnet:
    """Any accepted encoding (JSON text or object, nested or once-for-all's flat form) -> :class:`Subnet`."""
    if isinstance(arch, Subnet):
        return arch
    if isinstance(arch, str):
        try:
            arch = json.loads(arch)
        except json.JSONDecodeError as exc:
            raise EncodingError(f"not JSON ({exc.msg})", position=f"character {exc.pos}") from None
        except (ValueError, RecursionError) as exc:  # an integer past Python's digit limit; nesting past the recursion limit
            raise EncodingError(f"not a usable JSON object ({type(exc).__name__})") from None
    if not isinstance(arch, Mapping):
        raise EncodingError("expected a JSON object with the keys d, e, k, r", token=_short(arch))
    return _from_flat(arch) if "ks" in arch else _from_nested(arch)


def to_flat(subnet: Subnet) -> dict[str, Any]:
    """Once-for-all's flat form (20 per-block values), blocks past a stage's depth set to the smallest choice."""

    def pad(stages: Sequence[Sequence[int]], fill: int) -> list[int]:
        return [v for stage in stages for v in (*stage, *[fill] * (MAX_DEPTH - len(stage)))]

    return {"ks": pad(subnet.kernels, KERNELS[0]), "e": pad(subnet.expands, EXPANDS[0]), "d": list(subnet.depths), "r": [subnet.resolution]}
