"""NAS-Bench-101 encodings: the canonical cell string and the benchmark's ``{"matrix", "ops"}`` form.

Cell string (what :func:`to_string` writes and :func:`parse` reads)::

    ops=input,conv3x3-bn-relu,maxpool3x3,output;matrix=0110/0001/0001/0000

``ops`` lists one label per vertex; ``matrix`` gives the adjacency rows in vertex order, separated
by ``/``, one ``0``/``1`` per column.  Every accepted encoding is validated, pruned and relabelled
to one representative per isomorphism class (:func:`~searchspace.nb101.graph.canonical_cell`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import EncodingError, is_sequence
from .graph import OPS, Cell, Matrix, canonical_cell, check, prune

_FORMAT_HINT = "write ops=input,<op>,...,output;matrix=<row>/<row>/... with 0/1 rows"


def to_string(cell: Cell) -> str:
    """The cell string of ``cell`` (no validation: pass a canonical cell for the canonical string)."""
    rows = "/".join("".join(str(v) for v in row) for row in cell.matrix)
    return f"ops={','.join(cell.ops)};matrix={rows}"


def parse_string(text: str) -> tuple[Matrix, tuple[str, ...]]:
    """Read a cell string into (matrix, ops); errors name the bad token and its character offset."""
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    if not stripped:
        raise EncodingError("empty cell string", hint=_FORMAT_HINT)
    parts = stripped.split(";")
    if len(parts) != 2 or not parts[0].startswith("ops=") or not parts[1].startswith("matrix="):
        raise EncodingError("a cell string has two fields, ops=... and matrix=..., separated by ';'", token=stripped, position=offset, hint=_FORMAT_HINT)
    ops_text, matrix_text = parts[0][4:], parts[1][7:]
    ops = tuple(ops_text.split(","))
    pos = offset + 4
    for v, op in enumerate(ops):
        if op not in (*OPS, "input", "output"):
            raise EncodingError("unknown op", token=op, position=f"character {pos} (vertex {v})", hint=f"expected input, output or one of {', '.join(OPS)}")
        pos += len(op) + 1
    rows = matrix_text.split("/")
    pos = offset + len(parts[0]) + 1 + 7
    matrix = []
    for i, row in enumerate(rows):
        if row == "" or any(ch not in "01" for ch in row):
            raise EncodingError("matrix rows are strings of 0 and 1", token=row, position=f"character {pos} (row {i})", hint=_FORMAT_HINT)
        matrix.append(tuple(int(ch) for ch in row))
        pos += len(row) + 1
    return tuple(matrix), ops


def parse_mapping(arch: Mapping[str, Any]) -> tuple[Matrix, tuple[str, ...]]:
    """Read ``{"matrix": [[0/1, ...], ...], "ops": [...]}`` (the benchmark's ModelSpec arguments)."""
    if set(arch) != {"matrix", "ops"}:
        raise EncodingError("a mapping encoding must have exactly the keys 'matrix' and 'ops'", token=sorted(map(str, arch)))
    return _matrix_rows(_as_list(arch["matrix"])), _vertex_labels(_as_list(arch["ops"]))


def _as_list(value: Any) -> Any:
    """numpy arrays (as the benchmark's API takes them) as lists; anything else unchanged."""
    return value.tolist() if hasattr(value, "tolist") else value


def _matrix_rows(matrix: Any) -> Matrix:
    """The adjacency matrix as tuples of integer entries; errors name the row or entry."""
    if not is_sequence(matrix):
        raise EncodingError("matrix must be a list of rows of 0/1 integers", token=matrix, position="matrix")
    for i, row in enumerate(matrix):
        if not is_sequence(row):
            raise EncodingError("matrix rows must be lists of 0/1 integers", token=row, position=f"matrix[{i}]")
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, int):
                raise EncodingError("adjacency entries must be 0 or 1", token=v, position=f"matrix[{i}][{j}]")
    return tuple(tuple(row) for row in matrix)


def _vertex_labels(ops: Any) -> tuple[str, ...]:
    """The vertex labels as a tuple of strings; errors name the vertex."""
    if not is_sequence(ops):
        raise EncodingError("ops must be a list of vertex labels", token=ops, position="ops")
    for v, op in enumerate(ops):
        if not isinstance(op, str):
            raise EncodingError("vertex labels are strings", token=op, position=f"ops[{v}]")
    return tuple(ops)


def parse(arch: Any) -> Cell:
    """Any accepted encoding -> the canonical (validated, pruned, relabelled) cell."""
    if isinstance(arch, Cell):
        matrix, ops = arch.matrix, arch.ops
    elif isinstance(arch, str):
        matrix, ops = parse_string(arch)
    elif isinstance(arch, Mapping):
        matrix, ops = parse_mapping(arch)
    else:
        raise EncodingError("expected a cell string 'ops=...;matrix=...' or a mapping {'matrix': ..., 'ops': ...}", token=arch)
    check(matrix, ops)
    return canonical_cell(prune(matrix, ops))
