"""The NASWOT score (Mellor et al., ICML 2021): log|det K_H| of the binary activation-code kernel.

For a minibatch of B inputs, every unit of every elementwise rectifier module (:data:`CODE_ACTIVATIONS`:
the ReLU family, GELU, SiLU, Hardswish, Mish, ELU, ...) yields one bit per input, c = (its input > 0):
which of its two regimes (off or small, on and about linear) the unit is in.  K_H[i, j] = sum over units of [c_i == c_j] = N_A - Hamming(c_i, c_j).
Per layer with codes C (0/1, shape B x n) and G = C C^T this is n + 2 G - r_i - r_j, where r = diag(G)
counts each input's active units; so K_H = N_A + 2 G - d_i - d_j with G and d = diag(G) summed over
layers: one integer Gram product per layer.  The products are exact: int8 codes with int32 sums, or
float32 codes (sums exact below 2**24 per chunk), whichever :mod:`scoring.kernels` measured faster on
this CPU (float32 on CUDA).  They are accumulated in float64 on the network's device and the host
synchronises once, after the log-determinant.  The forward pass runs in float32 with TF32 off on CUDA unless an opt-in mode of :mod:`scoring.precision` is named.

Units are counted once per activation module (the authors' code also hooks wrapper modules
whose class name contains "ReLU", counting some units twice; rankings barely change).  Activations
called as functions (``F.relu``, ``F.gelu``) are not seen: use modules.  A module called more than
once contributes once per call.  Squashing functions and gates (Sigmoid, Tanh, Hardsigmoid, Hardtanh,
Softsign) are not read: they have no off regime, and in squeeze-and-excitation or attention they
gate a feature path rather than rectify it; Softmax is not elementwise.  A network with only
``nn.ReLU`` modules gets the very codes (and bits) it always did.

K_H is singular when two inputs share one code (two equal rows); then the score is ``-inf``.  A
network without any activation of :data:`CODE_ACTIVATIONS` has no codes: :class:`NoCodes` says why.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from . import kernels
from .precision import forward_precision
from .undefined import Undefined


#: elementwise nonlinearities whose input's sign is a unit's code: each is off (zero or small) for negative inputs and
#: about the identity for positive ones.  ReLU6 derives from Hardtanh, so the tuple names it and not Hardtanh.
CODE_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU,
    nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Softplus,
)
#: why a singular K_H has no score
SINGULAR = "K_H is singular: two inputs of the minibatch share one activation code (or the kernel lost rank)"


class NoCodes(ValueError):
    """The network has no activation codes to read (no module of :data:`CODE_ACTIVATIONS`, or none ran): scores of
    codes are undefined on it; the message is the reason a user reads."""


@dataclass(frozen=True)
class Kernel:
    """K_H (float64, B x B, on the network's device), the number of units N_A behind it, and the activation calls
    read for it (class name -> calls)."""

    matrix: torch.Tensor
    units: int
    read: Mapping[str, int] = field(default_factory=dict)

    @property
    def note(self) -> str:
        return codes_note(self.read)


def codes_note(read: Mapping[str, int]) -> str:
    """What a user reads about where codes came from, e.g. ``codes of GELU x6, ReLU x2`` (activation calls by class)."""
    return "codes of " + ", ".join(f"{name} x{count}" for name, count in sorted(read.items()))


@contextmanager
def reading_codes(net: nn.Module, hook: Callable[[nn.Module, tuple], None]) -> Iterator[Counter[str]]:
    """``hook`` as a forward pre-hook on every module of :data:`CODE_ACTIVATIONS` in ``net`` (in module order), yielding
    the calls read by class name; :class:`NoCodes` when ``net`` has no such module or, after the block, none was called."""
    modules = [m for m in net.modules() if isinstance(m, CODE_ACTIVATIONS)]
    if not modules:
        raise NoCodes(f"the network has no elementwise activation module to read codes from ({_KNOWN}); activations called as functions are not seen")
    calls: Counter[str] = Counter()

    def counted(module: nn.Module, args: tuple) -> None:
        calls[type(module).__name__] += 1
        hook(module, args)

    handles = [m.register_forward_pre_hook(counted) for m in modules]
    try:
        yield calls
    finally:
        for h in handles:
            h.remove()
    if not calls:
        raise NoCodes(f"no activation module ({_KNOWN}) was called in the forward pass")


_KNOWN = ", ".join(cls.__name__ for cls in CODE_ACTIVATIONS)


def _flat_codes(x: torch.Tensor) -> torch.Tensor:
    """Codes (x > 0) of each input as one row (B x n, bool)."""
    return (x.reshape(x.shape[0], -1) > 0)


def code_gram(x: torch.Tensor, kernel: str | None = None) -> torch.Tensor:
    """G = C C^T (float64, B x B) for C = (x > 0) as 0/1 rows: how many units two inputs share switched on.

    Exact with either product kernel of :mod:`scoring.kernels` (``int8`` or ``float32``); ``None`` uses
    the one chosen for x's device (measured on the CPU, float32 on CUDA).
    """
    codes = _flat_codes(x)
    return kernels.gram(codes, kernel or kernels.choice(codes.device).kernel)


def kernel_from_gram(gram: torch.Tensor, units: int) -> torch.Tensor:
    """K_H = N_A + 2 G - d_i - d_j (d = diag G) from the summed code Gram G and the unit count N_A."""
    d = torch.diagonal(gram)
    return (gram * 2 + units) - d[:, None] - d[None, :]


class _CodeAccumulator:
    """Forward pre-hook state: sums the code Gram G over activation calls; reuses it when several see one tensor."""

    def __init__(self, batch: int, device: torch.device, kernel: str):
        self.gram = torch.zeros(batch, batch, dtype=torch.float64, device=device)
        self.units = 0
        self.product_kernel = kernel
        self._recent: list[tuple[torch.Tensor, int, torch.Tensor]] = []

    def __call__(self, _module: nn.Module, args: tuple) -> None:
        x = args[0]
        product = next((g for t, v, g in self._recent if t is x and v == x._version), None)
        if product is None:
            product = code_gram(x.detach(), self.product_kernel)
            # keep a strong reference so the identity test cannot match a recycled tensor
            self._recent = [(x, x._version, product), *self._recent[:3]]
        self.gram += product
        self.units += x[0].numel()

    def kernel(self, read: Mapping[str, int]) -> Kernel:
        self._recent.clear()
        return Kernel(matrix=kernel_from_gram(self.gram, self.units), units=self.units, read=dict(read))


def kernel(net: nn.Module, x: torch.Tensor, precision: str = "exact") -> Kernel:
    """K_H of ``net`` on minibatch ``x`` (one forward pass in train mode, no autograd).

    ``precision`` is a mode of :mod:`scoring.precision`: ``exact`` (float32, TF32 off on CUDA) or an
    opt-in faster one.  :class:`NoCodes` when the network has no activation to read.
    """
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must be a batch of inputs, got shape {tuple(x.shape)}")
    acc = _CodeAccumulator(x.shape[0], x.device, kernels.choice(x.device).kernel)
    was_training = net.training
    net.train()
    try:
        with reading_codes(net, acc) as read, torch.no_grad(), forward_precision(precision, x.device):
            net(x)
    finally:
        net.train(was_training)
    return acc.kernel(read)


def log_abs_det(k: Kernel) -> torch.Tensor:
    """log|det K_H| as a 0-d float64 tensor on K's device, ``-inf`` when K_H is singular (no host sync)."""
    m = k.matrix
    sign, logabs = torch.linalg.slogdet(m)
    off_diagonal = ~torch.eye(m.shape[0], dtype=torch.bool, device=m.device)
    repeated_code = ((m == k.units) & off_diagonal).any()
    singular = repeated_code | (sign == 0) | ~torch.isfinite(logabs)
    return torch.where(singular, torch.full_like(logabs, -math.inf), logabs)


def score(net: nn.Module, x: torch.Tensor, precision: str = "exact") -> float:
    """NASWOT score of ``net`` on minibatch ``x``: log|det K_H|, or ``-inf`` when K_H is singular.

    ``x`` is a float tensor on the network's device; the network is put in train mode for the
    pass (BatchNorm uses batch statistics, running statistics are updated) and its mode restored.
    """
    return float(log_abs_det(kernel(net, x, precision)).item())


def undefined_if_singular(value: float) -> float | Undefined:
    """A score as a pass returns it: ``-inf`` (K_H singular) becomes :class:`Undefined` with :data:`SINGULAR`."""
    return Undefined(SINGULAR) if value == -math.inf else value
