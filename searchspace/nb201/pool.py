"""NB-201 networks without module construction: one reusable skeleton, weights redrawn per architecture.

Building a module tree in Python costs far more than drawing its weights, and NB-201 has one fixed
skeleton: :class:`NB201Networks` holds it with one module per (cell position, edge, op), plugs a
cell's modules into the skeleton and redraws every parameter by calling ``reset_parameters()`` in
construction order after the same ``manual_seed``.  Those are the very calls the constructors make,
so the weights are bit-identical to :func:`~searchspace.seeded.build_seeded` (checked in the tests).

``pruned=True`` plugs in :class:`PrunedCell`, which skips work that cannot change the NASWOT score
(the codes of every ReLU and the log-determinant stay bit-identical) but whose output and gradients
are not those of the network: only for NASWOT.  ``pruned=False`` (the default) plugs in the full
cell, equal to :class:`~searchspace.nb201.network.InferCell` in output and gradients.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..layers import ReLUConvBN, make_op, swap_in_replicas
from ..seeded import BUILD_LOCK, flatten_into_one, redraw
from .encoding import EDGES, NUM_NODES, OP_NAMES
from .network import CellGraph, InferCell, ResNetBasicblock, TinyNetwork

if TYPE_CHECKING:
    from .space import NB201Space

#: NB-201 ops that start with an nn.ReLU (their codes count)
_WITH_RELU = ("nor_conv_1x1", "nor_conv_3x3")


class PluggedCell(CellGraph):
    """A full NB-201 cell made of given edge modules (one per edge, ``EDGES`` order)."""

    def __init__(self, layers: nn.ModuleList, ops: tuple[int, ...]):
        super().__init__()
        self.layers = layers
        self.ops = ops


class PrunedCell(nn.Module):
    """An NB-201 cell that skips work which cannot change the NASWOT score, computing the rest as ``InferCell`` does.

    Skipped: ``none`` edges (they add exact zeros), the ``0 +`` that starts each node's sum, and the
    convolution and BatchNorm of edges into a node whose value no ReLU and no path to the output
    reads.  The ReLU of such an edge still runs, so its codes count exactly as in the full network.
    Node sums keep the edge order, so every value that reaches a ReLU is bit-identical (zeros up to
    their sign, which neither a code nor any later value can see).
    """

    def __init__(self, layers: nn.ModuleList, ops: tuple[int, ...]):
        super().__init__()
        self.layers = layers
        self.ops = ops
        self.needed = _needed_nodes(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NUM_NODES):
            total = None
            for layer, op, (src, dst) in zip(self.layers, self.ops, EDGES):
                if dst != node or OP_NAMES[op] == "none":
                    continue
                if not self.needed[node]:
                    if isinstance(layer, ReLUConvBN):
                        layer.op[0](nodes[src])  # the ReLU alone: its codes count, its output is unused
                    continue
                out = layer(nodes[src])
                total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


def _needed_nodes(ops: tuple[int, ...]) -> list[bool]:
    """Whether each node's value can change the score: read by a ReLU, or by any op into a needed node."""
    needed = [True] * NUM_NODES
    for node in range(NUM_NODES - 2, 0, -1):
        needed[node] = any(
            src == node and OP_NAMES[op] != "none" and (needed[dst] or OP_NAMES[op] in _WITH_RELU)
            for op, (src, dst) in zip(ops, EDGES)
        )
    return needed


class _Pool:
    """An NB-201 skeleton and one edge module per (cell position, edge, op), on one device.

    With ``cpu_pooling`` its average poolings are the bit-identical CPU replicas of
    :mod:`searchspace.layers.exact_pooling` (parameter-free, so construction order and weights are unchanged).
    """

    def __init__(self, space: NB201Space, num_classes: int, pruned: bool, cpu_pooling: bool = False):
        self.cell_type = PrunedCell if pruned else PluggedCell
        self.net = TinyNetwork((0,) * len(EDGES), num_classes=num_classes, C=space.C, N=space.N)
        self.positions: list[int] = []
        self.edge_ops: list[list[list[nn.Module]]] = []
        channels = space.C
        for position, cell in enumerate(self.net.cells):
            if isinstance(cell, ResNetBasicblock):
                channels *= 2
            elif isinstance(cell, InferCell):
                self.positions.append(position)
                self.edge_ops.append([[make_op(name, channels, channels) for name in OP_NAMES] for _ in EDGES])
        if cpu_pooling:
            for module in self.modules():
                swap_in_replicas(module)

    def modules(self) -> Iterator[nn.Module]:
        """The skeleton and every edge module, in a fixed order."""
        yield self.net
        for per_cell in self.edge_ops:
            for per_edge in per_cell:
                yield from per_edge

    def float_tensors(self) -> Iterator[torch.Tensor]:
        """Every floating-point parameter and buffer of the pool, each once, in a fixed order."""
        seen: set[int] = set()
        for root in self.modules():
            for t in (*root.parameters(), *root.buffers()):
                if t.is_floating_point() and id(t) not in seen:
                    seen.add(id(t))
                    yield t

    def to(self, device: torch.device) -> _Pool:
        for module in self.modules():
            module.to(device)
        return self

    def configure(self, ops: tuple[int, ...]) -> None:
        """Plug the modules of cell ``ops`` into every cell position of the skeleton."""
        for position, per_cell in zip(self.positions, self.edge_ops):
            layers = nn.ModuleList(per_edge[op] for per_edge, op in zip(per_cell, ops))
            self.net.cells[position] = self.cell_type(layers, ops)


class NB201Networks:
    """Seeded NB-201 networks from one reusable pool (see the module docstring); ``pruned`` for NASWOT only.

    On the CPU the pool is used in place.  On another device a twin pool lives there; every float
    parameter and buffer of both pools is a view into one flat tensor, so moving a freshly drawn
    network is a single copy (asynchronous from pinned memory on CUDA; the next draw waits for it).
    ``twin=True`` forces the twin path (used by the tests to cover it on the CPU).

    Not re-entrant: one network at a time (a lock serialises users); the network yielded for one
    architecture is reconfigured for the next, so use it only inside the ``with`` block.
    """

    def __init__(
        self,
        space: NB201Space,
        num_classes: int,
        seed: int,
        device: torch.device,
        *,
        pruned: bool = False,
        twin: bool | None = None,
    ):
        self.space, self.seed, self.device = space, seed, device
        twin = device.type != "cpu" if twin is None else twin
        with BUILD_LOCK, torch.random.fork_rng(devices=[]):  # building the pools must not move the global RNG
            self._cpu = _Pool(space, num_classes, pruned, cpu_pooling=not twin)
            self._dev = _Pool(space, num_classes, pruned).to(device) if twin else self._cpu
        if twin:
            self._staging = flatten_into_one(list(self._cpu.float_tensors()), pin=device.type == "cuda")
            self._target = flatten_into_one(list(self._dev.float_tensors()))
        self._uploaded: torch.cuda.Event | None = None
        self._lock = threading.Lock()

    @contextmanager
    def network(self, arch: Any) -> Iterator[nn.Module]:
        ops = self.space.ops(arch)
        with self._lock:
            if self._uploaded is not None:
                self._uploaded.synchronize()  # the staging memory is still being read by the last upload
            self._cpu.configure(ops)
            redraw(self._cpu.net, self.seed)
            if self._dev is not self._cpu:
                self._dev.configure(ops)
                self._target.copy_(self._staging, non_blocking=self.device.type == "cuda")
                if self.device.type == "cuda":
                    self._uploaded = torch.cuda.Event()
                    self._uploaded.record()
            yield self._dev.net
