"""NAS-Bench-Macro encodings: the benchmark's 8-character string, one character per searched layer.

``0`` identity, ``1`` MobileNetV2 block kernel 3 expansion 3, ``2`` kernel 5 expansion 6, layers in network
order (stages of 2, 3 and 3 layers), e.g. ``02012100``.  Also accepted: a list of 8 integers 0..2 (the
benchmark's ``decode_arch`` form).  The canonical form is the string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import EncodingError, is_sequence

#: the searched layers' op names, indexed by their character
OP_NAMES: tuple[str, ...] = ("identity", "mbv2_k3_t3", "mbv2_k5_t6")
#: (kernel, expansion) of each MobileNetV2 op, by its index; identity has none
MBV2: dict[int, tuple[int, int]] = {1: (3, 3), 2: (5, 6)}
#: searched layers per stage; each stage's first layer halves the resolution and doubles the width
STAGES: tuple[int, ...] = (2, 3, 3)
LAYERS = sum(STAGES)
ALLOWED = "".join(str(i) for i in range(len(OP_NAMES)))

Ops = tuple[int, ...]


def to_string(ops: Sequence[int]) -> str:
    """Canonical string of op indices."""
    return "".join(str(op) for op in ops)


def _short(value: Any, limit: int = 40) -> Any:
    """``value`` for an error message, or the start of its repr when long (errors never echo a huge input)."""
    text = repr(value)
    return value if len(text) <= limit else text[:limit] + "..."


def _allowed_hint() -> str:
    return "expected one of " + ", ".join(f"'{c}' ({name})" for c, name in zip(ALLOWED, OP_NAMES))


def parse_string(text: str) -> Ops:
    """The op indices of an 8-character string; errors name the bad character's position and the allowed characters."""
    if len(text) != LAYERS:
        raise EncodingError(f"expected {LAYERS} characters, one per searched layer, found {len(text)}", token=_short(text), hint=_allowed_hint())
    for i, char in enumerate(text):
        if char not in ALLOWED:
            raise EncodingError("bad layer character", token=char, position=f"character {i} (layer {i})", hint=_allowed_hint())
    return tuple(ALLOWED.index(c) for c in text)


def parse_indices(values: Sequence[Any]) -> Ops:
    """The op indices of a list of 8 integers 0..2."""
    if len(values) != LAYERS:
        raise EncodingError(f"expected {LAYERS} op indices, one per searched layer, found {len(values)}", token=_short(list(values)))
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(OP_NAMES):
            raise EncodingError("bad op index", token=_short(v), position=f"element {i} (layer {i})", hint=f"expected an integer in 0..{len(OP_NAMES) - 1}")
    return tuple(int(v) for v in values)


def parse(arch: Any) -> Ops:
    """Any accepted encoding -> op indices (one per searched layer)."""
    if isinstance(arch, str):
        return parse_string(arch)
    if is_sequence(arch):
        return parse_indices(arch)
    raise EncodingError(f"expected a string of {LAYERS} characters {ALLOWED!r} or a list of {LAYERS} integers", token=_short(arch))


def stage_of(layer: int) -> tuple[int, int]:
    """(stage, index within the stage) of a searched layer."""
    for stage, depth in enumerate(STAGES):
        if layer < depth:
            return stage, layer
        layer -= depth
    raise IndexError(f"layer out of range 0..{LAYERS - 1}")
