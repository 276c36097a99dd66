"""NAS-Bench-201 cell encodings: the benchmark's arch string, the 6-int op-index tuple, and NASLib's indices.

Canonical op order (index 0..4) and edge order are those of the benchmark's arch string:
ops ``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``; edges
``0->1, 0->2, 1->2, 0->3, 1->3, 2->3``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import EncodingError, is_sequence

OP_NAMES: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (source, target) node pairs, in the order edges appear in the arch string
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_NODES = 4

#: NASLib orders ops (Identity, Zero, ReLUConvBN3x3, ReLUConvBN1x1, AvgPool1x1) ...
NASLIB_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: ... and edges 0->1, 0->2, 0->3, 1->2, 1->3, 2->3.
NASLIB_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))

OpIndices = tuple[int, int, int, int, int, int]


def to_string(ops: Sequence[int]) -> str:
    """Canonical arch string of a 6-tuple of canonical op indices."""
    names = [f"{OP_NAMES[op]}~{src}" for op, (src, _dst) in zip(ops, EDGES)]
    return "|" + "|+|".join(["|".join(names[0:1]), "|".join(names[1:3]), "|".join(names[3:6])]) + "|"


def parse_string(text: str) -> OpIndices:
    """Parse the benchmark's arch string; errors name the bad token and its character offset.

    Within a node group the edges may come in any order; each source must appear once.
    """
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    if not stripped:
        raise EncodingError("empty arch string")
    groups = stripped.split("+")
    if len(groups) != NUM_NODES - 1:
        raise EncodingError(
            f"expected {NUM_NODES - 1} node groups separated by '+', found {len(groups)}", token=stripped, position=offset
        )
    ops: dict[tuple[int, int], int] = {}
    pos = offset
    for node, group in enumerate(groups, start=1):
        tpos = pos + 1
        for token in _group_tokens(node, group, pos):
            where = f"character {tpos} (node {node})"
            source, op = _parse_edge(token, node, where)
            if (source, node) in ops:
                raise EncodingError(f"edge {source}->{node} appears twice", token=token, position=where)
            ops[(source, node)] = op
            tpos += len(token) + 1
        pos += len(group) + 1
    return tuple(ops[e] for e in EDGES)  # type: ignore[return-value]


def _group_tokens(node: int, group: str, pos: int) -> list[str]:
    """The ``op~src`` tokens of one node's group ``|...|``, which must hold one per incoming edge."""
    if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
        raise EncodingError(f"node {node} group must be written |op~src|...|", token=group, position=pos)
    tokens = group[1:-1].split("|")
    if len(tokens) != node:
        raise EncodingError(f"node {node} must have {node} incoming edge(s), found {len(tokens)}", token=group, position=pos)
    return tokens


def _parse_edge(token: str, node: int, where: str) -> tuple[int, int]:
    """(source node, canonical op index) of one ``op~src`` token of ``node``'s group."""
    op_name, sep, src_text = token.partition("~")
    if not sep:
        raise EncodingError("edge must be written op~source", token=token, position=where)
    if op_name not in OP_NAMES:
        raise EncodingError("unknown op", token=op_name, position=where, hint=f"expected one of {', '.join(OP_NAMES)}")
    if not (src_text.isascii() and src_text.isdigit() and len(src_text) <= 6) or int(src_text) >= node:
        raise EncodingError("bad source node", token=src_text, position=where, hint=f"expected an integer in 0..{node - 1}")
    return int(src_text), OP_NAMES.index(op_name)


def parse_indices(values: Sequence[Any], *, naming: str = "op index") -> OpIndices:
    """Validate a sequence of 6 canonical op indices (each 0..4)."""
    if not is_sequence(values):
        raise EncodingError(f"expected a list of {len(EDGES)} integers", token=values)
    if len(values) != len(EDGES):
        raise EncodingError(f"expected {len(EDGES)} {naming}es, one per edge, found {len(values)}", token=list(values))
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(OP_NAMES):
            raise EncodingError(f"bad {naming}", token=v, position=f"element {i}", hint=f"expected an integer in 0..{len(OP_NAMES) - 1}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def from_naslib(op_indices: Sequence[Any]) -> OpIndices:
    """Convert NASLib's ``op_indices`` (its own op and edge order) to canonical op indices."""
    values = parse_indices(op_indices, naming="NASLib op index")
    by_edge = {edge: OP_NAMES.index(NASLIB_OPS[v]) for edge, v in zip(NASLIB_EDGES, values)}
    return tuple(by_edge[e] for e in EDGES)  # type: ignore[return-value]


def to_naslib(ops: Sequence[int]) -> tuple[int, ...]:
    """Convert canonical op indices to NASLib's ``op_indices``."""
    by_edge = dict(zip(EDGES, ops))
    return tuple(NASLIB_OPS.index(OP_NAMES[by_edge[e]]) for e in NASLIB_EDGES)


def parse(arch: Any) -> OpIndices:
    """Any accepted encoding -> canonical op indices.

    Accepted: the arch string; a sequence of 6 canonical op indices; ``{"naslib": [...]}``
    for NASLib's op indices (never guessed from a bare list).
    """
    if isinstance(arch, str):
        return parse_string(arch)
    if isinstance(arch, Mapping):
        if set(arch) != {"naslib"}:
            raise EncodingError("a mapping encoding must be exactly {'naslib': [6 ints]}", token=sorted(map(str, arch)))
        return from_naslib(arch["naslib"])
    return parse_indices(arch)
