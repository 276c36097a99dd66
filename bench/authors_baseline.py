"""The NASWOT authors' scoring procedure, re-created as a cost reference for ``bench/throughput.py``.

It follows ``score_networks.py`` of BayesWatch/nas-without-training (hook_logdet score):

1. ``get_batch_jacobian``: ``net.zero_grad()``, ``x.requires_grad_(True)``, a forward pass with
   autograd, ``y.backward(ones_like(y))``.  The forward hooks already fire in this pass but return at
   once (the originals raise on the missing ``visited_backwards`` flag and swallow the error); the
   backward hooks set the flag.
2. A second forward pass (autograd on, as in the original) on a copy of the batch.  Each hooked
   module's forward hook flattens its input, forms ``x = (inp > 0).float()``, computes
   ``x @ x.t()`` and ``(1 - x) @ (1 - x.t())`` on the network's device, copies both B x B matrices
   to the host and adds them to a float64 numpy array.
3. ``np.linalg.slogdet`` of that array; the log-determinant is the score.

What differs from the original, and why:

- Only ``nn.ReLU`` modules are hooked.  The original hooks every module whose class name contains
  "ReLU", which includes the benchmark's ``ReLUConvBN`` wrappers: their input is the ReLU's input,
  so those units are counted twice.  Hooking the ReLUs alone counts units the way the project does,
  so the two scores can be compared to 1e-6; the wrappers' extra products would only make this
  reference slower (two more B x B products and host copies per convolution edge).
- The flag check is an attribute test instead of a swallowed exception (same work, no try/except
  around the whole hook, so real errors surface).
- A singular K (numpy's sign 0) is reported as ``-inf`` explicitly; the original returns the
  log-determinant numpy gives, which is ``-inf`` in that case as well.
- The network is passed in (built by the caller exactly as the project builds it), so both
  procedures score identical weights; the original builds it the same way (on the CPU, then
  ``.to(device)``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

_FLAG = "visited_backwards"


def _counting_forward_hook(net: nn.Module):
    def hook(module: nn.Module, inp: tuple, _out: torch.Tensor) -> None:
        if not getattr(module, _FLAG, False):
            return
        x = inp[0] if isinstance(inp, tuple) else inp
        x = x.view(x.size(0), -1)
        x = (x > 0).float()
        k = x @ x.t()
        k2 = (1.0 - x) @ (1.0 - x.t())
        net.K = net.K + k.cpu().numpy() + k2.cpu().numpy()

    return hook


def _counting_backward_hook(module: nn.Module, _grad_in: tuple, _grad_out: tuple) -> None:
    setattr(module, _FLAG, True)


def authors_score(net: nn.Module, x: torch.Tensor, lap: Callable[[str], None] | None = None) -> float:
    """Score ``net`` on ``x`` with the authors' three passes and per-layer host copies; -inf when singular.

    ``lap(stage)``, when given, is called at the end of each stage (for time breakdowns).
    """
    lap = lap or (lambda _stage: None)
    batch = x.shape[0]
    net.K = np.zeros((batch, batch))
    handles = []
    with warnings.catch_warnings():
        # the original uses the pre-1.8 ``register_backward_hook``; it still fires once per module
        # call, and PyTorch warns about it on every pass
        warnings.simplefilter("ignore")
        for module in net.modules():
            if isinstance(module, nn.ReLU):
                handles.append(module.register_forward_hook(_counting_forward_hook(net)))
                handles.append(module.register_backward_hook(_counting_backward_hook))
        try:
            net.train()
            x2 = torch.clone(x)
            # get_batch_jacobian
            net.zero_grad()
            x = x.detach().clone().requires_grad_(True)
            y = net(x)
            y.backward(torch.ones_like(y))
            _jacobian = x.grad.detach()
            lap("forward+backward")
            # the scoring pass
            net(x2)
            lap("second forward with host products")
            sign, logdet = np.linalg.slogdet(net.K)
            lap("slogdet")
        finally:
            for h in handles:
                h.remove()
            for module in net.modules():
                if hasattr(module, _FLAG):
                    delattr(module, _FLAG)
            del net.K
    return float(logdet) if sign != 0 else -math.inf
