"""DARTS genotypes: a normal and a reduction cell, each of 4 intermediate nodes with two (op, input) edges.

Cell states 0 and 1 are the outputs of the two previous cells; intermediate node k (state k + 2)
sums op1(state i1) + op2(state i2) with i1 != i2 drawn from the states before it; the cell output
concatenates states 2..5.  Because the two edges of a node are summed, their order does not
matter: the canonical form lists them by input (then op).
"""

from __future__ import annotations

from dataclasses import dataclass

#: the DARTS operation set, in the order of the DARTS code's PRIMITIVES
OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: ops a DARTS genotype can contain (DARTS never keeps ``none`` when it derives a cell; NDS-DARTS has no ``none``)
CELL_OPS: tuple[str, ...] = OPS[1:]
STEPS = 4
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
CELLS = ("normal", "reduce")

Edge = tuple[str, int]
CellEdges = tuple[Edge, ...]  # 2 * STEPS edges, node k's at positions 2k and 2k + 1


@dataclass(frozen=True)
class Genotype:
    normal: CellEdges
    reduce: CellEdges

    def cell(self, which: str) -> CellEdges:
        return self.normal if which == "normal" else self.reduce


def normalise(edges: CellEdges) -> CellEdges:
    """Each node's two edges ordered by (input, op position in :data:`OPS`)."""
    out: list[Edge] = []
    for k in range(STEPS):
        pair = sorted(edges[2 * k : 2 * k + 2], key=lambda e: (e[1], OPS.index(e[0])))
        out.extend(pair)
    return tuple(out)


def to_string(genotype: Genotype) -> str:
    """The genotype in the text form DARTS prints (its ``Genotype`` namedtuple's repr)."""

    def edges(cell: CellEdges) -> str:
        return "[" + ", ".join(f"('{op}', {i})" for op, i in cell) + "]"

    concat = "[" + ", ".join(map(str, CONCAT)) + "]"
    return f"Genotype(normal={edges(genotype.normal)}, normal_concat={concat}, reduce={edges(genotype.reduce)}, reduce_concat={concat})"
