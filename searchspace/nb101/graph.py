"""NAS-Bench-101 cell graphs: validation, pruning, canonical relabelling and the benchmark's graph hash.

A cell is a DAG of at most 7 vertices given by an upper-triangular 0/1 adjacency matrix and one
label per vertex: ``input`` first, ``output`` last, and an op from :data:`OPS` on every interior
vertex.  As in the benchmark, vertices not on an input->output path are pruned first, and the
pruned graph must keep input connected to output and have at most 9 edges.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
from dataclasses import dataclass

from ..errors import EncodingError

#: interior ops, in the benchmark's ``available_ops`` order (their index is the label its hash uses)
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT = "input"
OUTPUT = "output"
MAX_VERTICES = 7
MAX_EDGES = 9

Matrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Cell:
    """A validated cell: adjacency matrix and vertex labels (``input``, interior ops..., ``output``)."""

    matrix: Matrix
    ops: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """(source, target) pairs, in row-major order."""
        n = self.num_vertices
        return [(i, j) for i in range(n) for j in range(i + 1, n) if self.matrix[i][j]]


def check(matrix: Matrix, ops: tuple[str, ...]) -> None:
    """Raise :class:`EncodingError` unless ``matrix``/``ops`` form a well-formed (not yet pruned) cell."""
    _check_shape(matrix, ops)
    _check_entries(matrix)
    _check_labels(ops)


def _check_shape(matrix: Matrix, ops: tuple[str, ...]) -> None:
    """A square matrix of 2 to MAX_VERTICES vertices, one label per vertex."""
    n = len(matrix)
    for i, row in enumerate(matrix):
        if len(row) != n:
            raise EncodingError(f"matrix row {i} has {len(row)} entries, expected {n} (the matrix must be square)", position=f"matrix[{i}]")
    if not 2 <= n <= MAX_VERTICES:
        raise EncodingError(f"a cell has 2 to {MAX_VERTICES} vertices, found {n}", token=n, position="matrix")
    if len(ops) != n:
        raise EncodingError(f"ops has {len(ops)} labels but the matrix has {n} vertices", token=list(ops), position="ops")


def _check_entries(matrix: Matrix) -> None:
    """Entries 0 or 1, and edges only to later vertices (upper triangular)."""
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v not in (0, 1):
                raise EncodingError("adjacency entries must be 0 or 1", token=v, position=f"matrix[{i}][{j}]")
            if v and j <= i:
                raise EncodingError(
                    f"edge {i}->{j} does not point to a later vertex: the matrix must be upper triangular",
                    position=f"matrix[{i}][{j}]",
                )


def _check_labels(ops: tuple[str, ...]) -> None:
    """Input first, output last, a known op on every vertex between."""
    if ops[0] != INPUT:
        raise EncodingError(f"the first vertex must be {INPUT!r}", token=ops[0], position="ops[0]")
    if ops[-1] != OUTPUT:
        raise EncodingError(f"the last vertex must be {OUTPUT!r}", token=ops[-1], position=f"ops[{len(ops) - 1}]")
    for v in range(1, len(ops) - 1):
        if ops[v] not in OPS:
            raise EncodingError("unknown op", token=ops[v], position=f"ops[{v}]", hint=f"interior vertices take one of {', '.join(OPS)}")


def prune(matrix: Matrix, ops: tuple[str, ...]) -> Cell:
    """Drop vertices not on an input->output path (as the benchmark does) and check the edge budget."""
    n = len(ops)
    forward = _reachable(0, lambda v: (w for w in range(v + 1, n) if matrix[v][w]))
    backward = _reachable(n - 1, lambda v: (w for w in range(v) if matrix[w][v]))
    keep = [v for v in range(n) if v in forward and v in backward]
    if n - 1 not in forward:
        raise EncodingError(
            "invalid graph: the input is not connected to the output", hint=f"add a path of edges from vertex 0 to vertex {n - 1}"
        )
    cell = Cell(tuple(tuple(matrix[i][j] for j in keep) for i in keep), tuple(ops[v] for v in keep))
    edges = len(cell.edges)
    if edges > MAX_EDGES:
        raise EncodingError(f"invalid graph: {edges} edges after pruning, at most {MAX_EDGES} allowed", token=edges, position="matrix")
    return cell


def _reachable(start: int, neighbours) -> set[int]:
    seen, frontier = {start}, [start]
    while frontier:
        for w in neighbours(frontier.pop()):
            if w not in seen:
                seen.add(w)
                frontier.append(w)
    return seen


def canonical_cell(cell: Cell) -> Cell:
    """The representative of ``cell``'s isomorphism class: the smallest relabelling of its interior vertices.

    Among all orderings of the interior vertices that keep the matrix upper triangular, take the
    one whose (op indices, sorted edge list) is lexicographically smallest.  Isomorphic cells
    have the same set of such orderings' results, hence the same representative.
    """
    return relabellings(cell)[0]


def relabellings(cell: Cell) -> tuple[Cell, int]:
    """(canonical cell, number of distinct upper-triangular matrix+ops forms of ``cell``'s class)."""
    n = cell.num_vertices
    edges = cell.edges
    keys = set()
    for order in itertools.permutations(range(1, n - 1)):
        new = {0: 0, n - 1: n - 1}
        for position, old in enumerate(order, start=1):
            new[old] = position
        if any(new[i] >= new[j] for i, j in edges):
            continue
        keys.add((tuple(OPS.index(cell.ops[old]) for old in order), tuple(sorted((new[i], new[j]) for i, j in edges))))
    op_indices, new_edges = min(keys)  # the identity ordering is always valid, so keys is never empty
    return from_edges(n, new_edges, (INPUT, *(OPS[o] for o in op_indices), OUTPUT)), len(keys)


def from_edges(n: int, edges, ops: tuple[str, ...]) -> Cell:
    """The cell on ``n`` vertices with the given (source, target) edges and labels."""
    matrix = [[0] * n for _ in range(n)]
    for i, j in edges:
        matrix[i][j] = 1
    return Cell(tuple(map(tuple, matrix)), ops)


@functools.cache
def full_dags(n: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Edge lists of every upper-triangular graph on ``n`` vertices with all vertices on an input->output path
    and at most :data:`MAX_EDGES` edges (every vertex but the output has an out-edge, every vertex but the
    input an in-edge)."""
    found: list[tuple[tuple[int, int], ...]] = []

    def extend(row: int, edges: tuple[tuple[int, int], ...]) -> None:
        if row == n - 1:
            if all(any(j == v for _, j in edges) for v in range(1, n)):
                found.append(edges)
            return
        targets = range(row + 1, n)
        budget = MAX_EDGES - len(edges) - (n - 2 - row)  # keep one edge for each later row
        for size in range(1, min(budget, len(targets)) + 1):
            for chosen in itertools.combinations(targets, size):
                extend(row + 1, edges + tuple((row, j) for j in chosen))

    extend(0, ())
    return tuple(found)


def uniform_cell(rng: random.Random, max_vertices: int = MAX_VERTICES) -> Cell:
    """A canonical cell drawn uniformly from the distinct cells with at most ``max_vertices`` vertices.

    Draw a (graph, ops) form uniformly among all valid forms (vertex count weighted by its
    number of forms), then keep it with probability 1 / (number of forms of its class): every
    class then has the same chance per draw.  About one draw in three is kept.
    """
    sizes = range(2, max_vertices + 1)
    weights = [len(full_dags(n)) * len(OPS) ** (n - 2) for n in sizes]
    while True:
        n = rng.choices(sizes, weights)[0]
        edges = rng.choice(full_dags(n))
        ops = (INPUT, *(rng.choice(OPS) for _ in range(n - 2)), OUTPUT)
        canonical, forms = relabellings(from_edges(n, edges, ops))
        if rng.random() * forms < 1:
            return canonical


def graph_hash(cell: Cell) -> str:
    """The benchmark's isomorphism-invariant MD5 fingerprint of a pruned cell (its dataset key).

    Iterated neighbourhood hashing: each vertex starts from (out-degree, in-degree, label) with
    labels -1 for input, -2 for output and the op's index in :data:`OPS`; then, once per vertex,
    it is rehashed with its sorted in- and out-neighbour hashes.
    """
    n = cell.num_vertices
    m = cell.matrix
    labels = [-1] + [OPS.index(op) for op in cell.ops[1:-1]] + [-2]
    hashes = [_md5(str((sum(m[v]), sum(m[u][v] for u in range(n)), labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[u] for u in range(n) if m[u][v]))
                + "|"
                + "".join(sorted(hashes[w] for w in range(n) if m[v][w]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()
