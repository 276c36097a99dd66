"""Faster CPU replicas of PyTorch's average pooling that give bit-identical results.

PyTorch's CPU ``avg_pool2d`` for NCHW float tensors is a scalar loop: per output it sums the
window's in-bounds inputs row by row (starting from 0) and divides by the count.  On NB-201 it
was the largest single cost of a CPU forward pass.  The replicas below do the same additions in
the same order as whole-tensor operations: the 3x3 sum walks the zero-padded planes as flat rows,
so every shifted window is one contiguous slice.  A padded zero added to a partial sum leaves it
unchanged (up to the sign of a zero, which no later value or code can see), so the results are
bit-identical; the tests check this against ``nn.AvgPool2d`` on adversarial inputs.

Under autograd the replicas are autograd functions whose backward replays ATen's CPU backward too:
each input's gradient is 0 plus gradOutput / count of every window holding it, added in the windows'
row-major order (first-order only: a double backward through them raises).

Only float32 and float64 CPU tensors take the replica path (ATen accumulates lower precisions in
float32); anything else falls back to the stock operator.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

_EXACT_DTYPES = (torch.float32, torch.float64)


def _replica_applies(x: torch.Tensor, *, under_autograd: bool = False) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype in _EXACT_DTYPES
        and x.dim() == 4
        and x.is_contiguous()
        and (under_autograd or not torch.is_grad_enabled())
    )


@functools.lru_cache(maxsize=64)
def _window_counts(height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    """In-bounds inputs of each 3x3 window (stride 1, padding 1): 4 at corners, 6 on edges, 9 inside."""
    rows = torch.tensor([min(h + 1, height - 1) - max(h - 1, 0) + 1 for h in range(height)], dtype=torch.int64)
    cols = torch.tensor([min(w + 1, width - 1) - max(w - 1, 0) + 1 for w in range(width)], dtype=torch.int64)
    return (rows[:, None] * cols[None, :]).to(dtype)


def _sum_3x3_windows(x: torch.Tensor, *, from_zero: bool) -> torch.Tensor:
    """Each position's sum over its 3x3 window of the zero-padded ``x``, the nine terms added in row-major order
    (after a +0 when ``from_zero``, as ATen's backward starts).  The sums walk the padded planes as flat rows,
    so every shifted window is one contiguous slice; the result is a view with the rows' padding cut off."""
    n, c, h, w = x.shape
    wp = w + 2
    planes = F.pad(x, (1, 1, 1, 1)).view(n * c, (h + 2) * wp)
    span = (h - 1) * wp + w  # flat positions from the first window's corner to the last one's
    total = torch.empty(n * c, h * wp, dtype=x.dtype)
    acc = total[:, :span]
    terms = [planes[:, i * wp + j : i * wp + j + span] for i in range(3) for j in range(3)]  # row-major, as ATen walks
    if from_zero:
        torch.add(terms[0], 0.0, out=acc)
    else:
        torch.add(terms[0], terms[1], out=acc)
    for term in terms[1 if from_zero else 2 :]:
        acc.add_(term)
    return total.view(n, c, h, wp)[..., :w]


def _even_sized(x: torch.Tensor) -> bool:
    return x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0


def avg_pool_3x3_exclude_pad(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)``, bit-identical on CPU float tensors, several times faster."""
    if not _replica_applies(x):
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    h, w = x.shape[-2:]
    return _sum_3x3_windows(x, from_zero=False).div(_window_counts(h, w, x.dtype))


def avg_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 2, 2)`` (no padding), bit-identical on CPU float tensors with even sizes, faster."""
    if not _replica_applies(x) or not _even_sized(x):
        return F.avg_pool2d(x, 2, stride=2)
    return (((x[..., 0::2, 0::2] + x[..., 0::2, 1::2]) + x[..., 1::2, 0::2]) + x[..., 1::2, 1::2]).div_(4)


def avg_pool_3x3_backward(grad: torch.Tensor) -> torch.Tensor:
    """The input gradient of the 3x3 exclude-pad pooling from its output gradient, as ATen's CPU kernel adds it:
    each input's is 0 plus the share (gradient / count) of every window holding it, windows in row-major order."""
    h, w = grad.shape[-2:]
    share = grad.contiguous() / _window_counts(h, w, grad.dtype)
    return _sum_3x3_windows(share, from_zero=True).contiguous()  # as ATen returns it: later kernels pick their path by layout


def avg_pool_2x2_backward(grad: torch.Tensor) -> torch.Tensor:
    """The input gradient of the 2x2 pooling: each input gets 0 + its output's gradient / 4."""
    n, c, h, w = grad.shape
    share = grad / 4 + 0.0
    out = torch.empty(n, c, 2 * h, 2 * w, dtype=grad.dtype)
    for i in (0, 1):
        for j in (0, 1):
            out[..., i::2, j::2] = share
    return out


def _exact_function(forward, backward) -> type[torch.autograd.Function]:
    """An autograd function of one replica: its forward, and its first-order backward (a second one raises)."""

    class Exact(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: torch.Tensor) -> torch.Tensor:
            return forward(x)

        @staticmethod
        @once_differentiable
        def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
            return backward(grad)

    return Exact


_ExactAvgPool3x3 = _exact_function(avg_pool_3x3_exclude_pad, avg_pool_3x3_backward)
_ExactAvgPool2x2 = _exact_function(avg_pool_2x2, avg_pool_2x2_backward)


def _needs_autograd_replica(x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and x.requires_grad and _replica_applies(x, under_autograd=True)


class AvgPool3x3(nn.Module):
    """Drop-in for ``nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)`` using the CPU replica."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ExactAvgPool3x3.apply(x) if _needs_autograd_replica(x) else avg_pool_3x3_exclude_pad(x)


class AvgPool2x2(nn.Module):
    """Drop-in for ``nn.AvgPool2d(2, stride=2)`` using the CPU replica."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ExactAvgPool2x2.apply(x) if _even_sized(x) and _needs_autograd_replica(x) else avg_pool_2x2(x)


def replica_of(module: nn.Module) -> nn.Module | None:
    """The replica module equivalent to ``module``, or ``None`` if it is not one of the replicated poolings."""
    if type(module) is not nn.AvgPool2d or module.ceil_mode or module.divisor_override is not None:
        return None
    k, s, p = (_pair(v) for v in (module.kernel_size, module.stride, module.padding))
    if k == (3, 3) and s == (1, 1) and p == (1, 1) and not module.count_include_pad:
        return AvgPool3x3()
    if k == (2, 2) and s == (2, 2) and p == (0, 0):
        return AvgPool2x2()
    return None


def swap_in_replicas(root: nn.Module) -> int:
    """Replace every replicated pooling module under ``root`` by its replica, in place; returns how many."""
    swaps = [
        (parent, name, replica)
        for parent in root.modules()
        for name, child in parent.named_children()
        if (replica := replica_of(child)) is not None
    ]
    for parent, name, replica in swaps:
        setattr(parent, name, replica)
    return len(swaps)


def _pair(v: int | tuple[int, ...]) -> tuple[int, ...]:
    return (v, v) if isinstance(v, int) else tuple(v)
