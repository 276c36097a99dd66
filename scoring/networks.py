"""Seeded networks for scoring, built once per architecture or reused across architectures.

``build_seeded`` is the reference: ``space.build(arch)`` right after ``torch.manual_seed(seed)``,
on the CPU.  Building a module tree in Python costs far more than drawing its weights, and for a
space with one fixed skeleton the tree can be kept: :class:`NB201Networks` holds one NB-201
skeleton and one module per (cell position, edge, op), plugs a cell's modules into the skeleton and
redraws every parameter by calling ``reset_parameters()`` in construction order after the same
``manual_seed``.  Those are the very calls the constructors make, so the weights are bit-identical
to ``build_seeded`` (checked in the tests).  Its cells (:class:`PrunedCell`) skip work that cannot
change the score, so the scores are bit-identical too while the forward pass does less.  Draws
always happen on the CPU (CUDA draws differ, and scores would then depend on the device); on
another device the drawn tensors are copied into a twin of the pool that lives there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from searchspace import SearchSpace
from searchspace.nb201 import InferCell, NB201Space, ResNetBasicblock, TinyNetwork
from searchspace.nb201.encoding import EDGES, NUM_NODES, OPS
from searchspace.layers import ReLUConvBN, make_op

from .exact_ops import swap_in_replicas

# Seeded construction draws from torch's global RNG; one builder at a time keeps seeds exact under threads.
BUILD_LOCK = threading.Lock()


def build_seeded(space: SearchSpace, arch: str, num_classes: int, seed: int) -> nn.Module:
    """``space.build(arch)`` with weights fixed by ``seed`` (on the CPU), leaving the global RNG untouched."""
    with BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return space.build(arch, num_classes=num_classes)


def redraw(net: nn.Module, seed: int) -> None:
    """Re-initialise ``net`` as its constructor did after ``torch.manual_seed(seed)`` (CPU draws, global RNG untouched).

    Valid for networks whose modules are registered in the order they are constructed and whose
    constructors draw only through ``reset_parameters()``, as the NB-201 network's do.
    """
    with BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in net.modules():
            reset = getattr(module, "reset_parameters", None)
            if reset is not None:
                reset()


class BuiltNetworks:
    """Any space: a fresh ``build_seeded`` network per architecture, moved to the device."""

    def __init__(self, space: SearchSpace, num_classes: int, seed: int, device: torch.device):
        self.space, self.num_classes, self.seed, self.device = space, num_classes, seed, device

    @contextmanager
    def network(self, arch: str) -> Iterator[nn.Module]:
        yield build_seeded(self.space, arch, self.num_classes, self.seed).to(self.device)


#: NB-201 ops that start with an nn.ReLU (their codes count)
_WITH_RELU = ("nor_conv_1x1", "nor_conv_3x3")


class PrunedCell(nn.Module):
    """An NB-201 cell that skips work which cannot change the score, computing the rest as ``InferCell`` does.

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
                if dst != node or OPS[op] == "none":
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
            src == node and OPS[op] != "none" and (needed[dst] or OPS[op] in _WITH_RELU)
            for op, (src, dst) in zip(ops, EDGES)
        )
    return needed


class _Pool:
    """An NB-201 skeleton and one edge module per (cell position, edge, op), on one device.

    With ``cpu_pooling`` its average poolings are the bit-identical CPU replicas of
    :mod:`scoring.exact_ops` (parameter-free, so construction order and weights are unchanged).
    """

    def __init__(self, space: NB201Space, num_classes: int, cpu_pooling: bool = False):
        self.net = TinyNetwork((0,) * len(EDGES), num_classes=num_classes, C=space.C, N=space.N)
        self.positions: list[int] = []
        self.edge_ops: list[list[list[nn.Module]]] = []
        channels = space.C
        for position, cell in enumerate(self.net.cells):
            if isinstance(cell, ResNetBasicblock):
                channels *= 2
            elif isinstance(cell, InferCell):
                self.positions.append(position)
                self.edge_ops.append([[make_op(name, channels, channels) for name in OPS] for _ in EDGES])
        for per_cell in self.edge_ops:
            for module in per_cell[0]:
                if isinstance(module, ReLUConvBN) and not isinstance(module.op[0], nn.ReLU):
                    raise AssertionError("ReLUConvBN is expected to start with its nn.ReLU")  # pragma: no cover
        if cpu_pooling:
            swap_in_replicas(self.net)
            for per_cell in self.edge_ops:
                for per_edge in per_cell:
                    for module in per_edge:
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
            self.net.cells[position] = PrunedCell(layers, ops)


class NB201Networks:
    """NB-201 networks without module construction: one reusable skeleton, weights redrawn per architecture.

    On the CPU the pool is scored in place.  On another device a twin pool lives there; every float
    parameter and buffer of both pools is a view into one flat tensor, so moving a freshly drawn
    network is a single copy (asynchronous from pinned memory on CUDA; the next draw waits for it).
    ``twin=True`` forces the twin path (used by the tests to cover it on the CPU).

    Not re-entrant: one network at a time (a lock serialises users); the network yielded for one
    architecture is reconfigured for the next, so use it only inside the ``with`` block.
    """

    def __init__(self, space: NB201Space, num_classes: int, seed: int, device: torch.device, twin: bool | None = None):
        self.space, self.seed, self.device = space, seed, device
        twin = device.type != "cpu" if twin is None else twin
        with BUILD_LOCK, torch.random.fork_rng(devices=[]):  # building the pools must not move the global RNG
            self._cpu = _Pool(space, num_classes, cpu_pooling=not twin)
            self._dev = _Pool(space, num_classes).to(device) if twin else self._cpu
        if twin:
            self._staging = flatten_into_one(list(self._cpu.float_tensors()), pin=device.type == "cuda")
            self._target = flatten_into_one(list(self._dev.float_tensors()))
        self._uploaded: torch.cuda.Event | None = None
        self._lock = threading.Lock()

    @contextmanager
    def network(self, arch: str) -> Iterator[nn.Module]:
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


def flatten_into_one(tensors: list[torch.Tensor], pin: bool = False) -> torch.Tensor:
    """Rebind ``tensors`` (same dtype and device) as views into one new flat tensor holding their values."""
    total = sum(t.numel() for t in tensors)
    flat = torch.empty(total, dtype=tensors[0].dtype, device=tensors[0].device, pin_memory=pin)
    offset = 0
    with torch.no_grad():
        for t in tensors:
            view = flat[offset : offset + t.numel()].view_as(t)
            view.copy_(t)
            t.data = view
            offset += t.numel()
    return flat


def network_source(space: SearchSpace, num_classes: int, seed: int, device: torch.device) -> BuiltNetworks | NB201Networks:
    """The fastest exact source of seeded networks for ``space``."""
    if isinstance(space, NB201Space):
        return NB201Networks(space, num_classes, seed, device)
    return BuiltNetworks(space, num_classes, seed, device)
