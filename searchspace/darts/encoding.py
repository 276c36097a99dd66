"""DARTS genotype encodings: the text form DARTS publishes, JSON, and ``Genotype`` objects.

Text (parsed with :mod:`ast`, never evaluated)::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=range(2, 6))

JSON: ``{"normal": [["sep_conv_3x3", 0], ...], "reduce": [...]}`` with optional ``normal_concat``
and ``reduce_concat``.  Each cell lists 8 edges, two per intermediate node; the concatenation,
when given, must be the four intermediate nodes 2, 3, 4, 5 (the DARTS space concatenates all).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import EncodingError, is_sequence
from .genotype import CELLS, CONCAT, OPS, STEPS, CellEdges, Genotype, normalise

MAX_TEXT = 10_000
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")

# (op, input, where) before validation; ``where`` locates the edge for error messages
RawEdge = tuple[Any, Any, str]


def check_cell(name: str, edges: Sequence[RawEdge], ops: Sequence[str], where: str) -> CellEdges:
    """Validate one cell's 8 raw edges against the op set ``ops``; return them normalised."""
    if len(edges) != 2 * STEPS:
        raise EncodingError(
            f"the {name} cell needs {2 * STEPS} edges (two for each of its {STEPS} nodes), found {len(edges)}", position=where
        )
    for index, (op, source, at) in enumerate(edges):
        node = index // 2
        if not isinstance(op, str) or op not in OPS:
            raise EncodingError("unknown op", token=op, position=at, hint=f"expected one of {', '.join(ops)}")
        if op not in ops:
            raise EncodingError(f"op {op!r} is not part of this space", token=op, position=at, hint=f"expected one of {', '.join(ops)}")
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source <= node + 1:
            raise EncodingError(
                "bad input",
                token=source,
                position=at,
                hint=f"node {node} takes inputs 0..{node + 1} (0 and 1 are the two previous cells, k + 2 is node k)",
            )
    for node in range(STEPS):
        (_, a, at), (_, b, _) = edges[2 * node], edges[2 * node + 1]
        if a == b:
            raise EncodingError(f"both edges of node {node} of the {name} cell come from input {a}; they must differ", token=a, position=at)
    return normalise(tuple((op, source) for op, source, _ in edges))


def check_concat(name: str, values: Any, where: str) -> None:
    """The concatenation, when given, must list nodes 2..5 once each (checked without materialising a huge range or list)."""
    if values is None:
        return
    if is_sequence(values):  # a range is one too
        if _safe_len(values) == len(CONCAT) and sorted(values) == list(CONCAT):
            return
        token: Any = _describe_concat(values)
    else:
        token = values
    raise EncodingError(
        f"{name}_concat must list the intermediate nodes {list(CONCAT)} (the DARTS space concatenates all of them)",
        token=token,
        position=where,
    )


def _safe_len(values: Sequence[Any]) -> int | None:
    """``len(values)``, or None for a range too long for a machine integer."""
    try:
        return len(values)
    except OverflowError:
        return None


def _describe_concat(values: Sequence[Any]) -> str:
    """A short text for a wrong concatenation: the range as written, a short list, or the length of a long one."""
    if isinstance(values, range):
        return f"range({values.start}, {values.stop}, {values.step})" if len(str(values)) <= 60 else "a range of the wrong nodes"
    return str(list(values)) if len(values) <= len(CONCAT) * 2 else f"a list of {len(values)} items"


def parse_mapping(arch: Mapping[str, Any], ops: Sequence[str]) -> Genotype:
    """``{"normal": [[op, input], ...], "reduce": [...], "normal_concat"?, "reduce_concat"?}``."""
    unknown = sorted(set(map(str, arch)) - set(FIELDS))
    if unknown or not set(CELLS) <= set(arch):
        raise EncodingError(
            "a mapping encoding needs 'normal' and 'reduce' (and optionally 'normal_concat', 'reduce_concat')",
            token=unknown or sorted(map(str, arch)),
        )
    cells = {}
    for name in CELLS:
        value = arch[name]
        if not is_sequence(value):
            raise EncodingError(f"{name} must be a list of [op, input] pairs", token=value, position=name)
        raw = []
        for i, edge in enumerate(value):
            if not is_sequence(edge) or len(edge) != 2:
                raise EncodingError("an edge is an [op, input] pair", token=edge, position=f"{name}[{i}]")
            raw.append((edge[0], edge[1], f"{name}[{i}]"))
        cells[name] = check_cell(name, raw, ops, name)
        check_concat(name, arch.get(f"{name}_concat"), f"{name}_concat")
    return Genotype(cells["normal"], cells["reduce"])


def parse_text(text: str, ops: Sequence[str]) -> Genotype:
    """The DARTS text form ``Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)``."""
    call = _genotype_call(text)
    source = text.strip()
    locate = _Locator(source, lead=len(text) - len(text.lstrip()))
    fields = _call_fields(call, locate)
    cells = {}
    for name in CELLS:
        if name not in fields:
            raise EncodingError(f"Genotype is missing its {name!r} cell", position=locate(call))
        node = fields[name]
        cells[name] = check_cell(name, _text_edges(name, node, source, locate), ops, f"{locate(node)} ({name} cell)")
        concat = fields.get(f"{name}_concat")
        if concat is not None:
            check_concat(name, _concat_value(source, concat), locate(concat))
    return Genotype(cells["normal"], cells["reduce"])


def _genotype_call(text: str) -> ast.Call:
    """The ``Genotype(...)`` call ``text`` holds, parsed (never evaluated); EncodingError for anything else."""
    if len(text) > MAX_TEXT:
        raise EncodingError(f"genotype text longer than {MAX_TEXT} characters", token=len(text))
    if not text.strip():
        raise EncodingError("empty genotype", hint="write Genotype(normal=[('op', input), ...], reduce=[...])")
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise EncodingError(f"not a DARTS genotype ({exc.msg})", position=f"line {exc.lineno}, column {exc.offset}") from None
    except (MemoryError, RecursionError):  # the parser's own stack overflowed: nesting no genotype has
        raise EncodingError("not a DARTS genotype (nested too deeply)") from None
    if not isinstance(call, ast.Call) or _name(call.func) != "Genotype":
        locate = _Locator(text.strip(), lead=len(text) - len(text.lstrip()))
        raise EncodingError("expected Genotype(normal=[...], reduce=[...])", token=_segment(text.strip(), call), position=locate(call))
    return call


def _call_fields(call: ast.Call, locate: _Locator) -> dict[str, ast.expr]:
    """The call's arguments by field name, positional ones in :data:`FIELDS` order; unknown or repeated fields refused."""
    if len(call.args) > len(FIELDS):
        raise EncodingError(f"Genotype takes at most {len(FIELDS)} fields", position=locate(call))
    fields: dict[str, ast.expr] = dict(zip(FIELDS, call.args))
    for kw in call.keywords:
        if kw.arg not in FIELDS:
            raise EncodingError("unknown Genotype field", token=kw.arg, position=locate(kw.value), hint=f"expected {', '.join(FIELDS)}")
        if kw.arg in fields:
            raise EncodingError("Genotype field given twice", token=kw.arg, position=locate(kw.value))
        fields[kw.arg] = kw.value
    return fields


def _text_edges(name: str, node: ast.expr, source: str, locate: _Locator) -> list[RawEdge]:
    """One cell's ``(op, input)`` pairs as raw edges, each located in ``source`` for error messages."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise EncodingError(f"{name} must be a list of (op, input) pairs", token=_segment(source, node), position=locate(node))
    raw = []
    for k, elt in enumerate(node.elts):
        where = f"{locate(elt)} ({name} cell, edge {k})"
        if not isinstance(elt, (ast.Tuple, ast.List)) or len(elt.elts) != 2:
            raise EncodingError("an edge is an ('op', input) pair", token=_segment(source, elt), position=where)
        op_node, input_node = elt.elts
        op = op_node.value if isinstance(op_node, ast.Constant) else _segment(source, op_node)
        source_index = input_node.value if isinstance(input_node, ast.Constant) else _segment(source, input_node)
        raw.append((op, source_index, where))
    return raw


def parse(arch: Any, ops: Sequence[str]) -> Genotype:
    """Any accepted encoding -> a validated genotype with each node's edges normalised."""
    if isinstance(arch, Genotype):
        return Genotype(
            check_cell("normal", [(op, i, f"normal[{k}]") for k, (op, i) in enumerate(arch.normal)], ops, "normal"),
            check_cell("reduce", [(op, i, f"reduce[{k}]") for k, (op, i) in enumerate(arch.reduce)], ops, "reduce"),
        )
    if isinstance(arch, str):
        return parse_text(arch, ops)
    if isinstance(arch, Mapping):
        return parse_mapping(arch, ops)
    if hasattr(arch, "normal") and hasattr(arch, "reduce"):  # the DARTS code's Genotype namedtuple
        return parse_mapping({f: getattr(arch, f) for f in FIELDS if getattr(arch, f, None) is not None}, ops)
    raise EncodingError("expected a DARTS genotype: its text form or {'normal': [...], 'reduce': [...]}", token=arch)


def _concat_value(source: str, node: ast.expr) -> Any:
    if isinstance(node, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) for e in node.elts):
        return [e.value for e in node.elts]
    if (
        isinstance(node, ast.Call)
        and _name(node.func) == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
        and all(isinstance(a, ast.Constant) and type(a.value) is int for a in node.args)
    ):
        return range(*(a.value for a in node.args))
    return _segment(source, node)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # e.g. genotypes.Genotype
        return node.attr
    return None


def _segment(source: str, node: ast.AST) -> str:
    return ast.get_source_segment(source, node) or ""


class _Locator:
    """Character offsets of AST nodes in the (stripped) source text."""

    def __init__(self, source: str, lead: int = 0):
        self.lines = source.splitlines(keepends=True)
        self.starts = [lead]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def __call__(self, node: ast.AST) -> str:
        line = self.lines[node.lineno - 1]
        column = len(line.encode("utf-8")[: node.col_offset].decode("utf-8", errors="ignore"))
        return f"character {self.starts[node.lineno - 1] + column}"
