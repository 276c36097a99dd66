"""Numeric modes of the forward pass: exact float32 by default, TF32 or bfloat16 only when asked for.

The code products are exact in every mode; a mode only changes how the network's own layers
compute, hence which pre-activations land on which side of zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch

#: mode -> what it means; ``exact`` is the default and the only mode whose scores are cached as exact
PRECISIONS: dict[str, str] = {
    "exact": "float32 throughout (TF32 switched off on CUDA); the reference values",
    "tf32": "CUDA only: TF32 tensor-core convolutions and matmuls in the forward pass",
    "bf16": "bfloat16 autocast of the forward pass (CPU or CUDA); codes and products stay exact",
}


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if it is a known mode usable on ``device``; otherwise a ValueError naming the field."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "tf32" and device.type != "cuda":
        raise ValueError(f"precision 'tf32' needs a CUDA device, not {device.type!r}")
    return precision


@contextmanager
def forward_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the enclosed forward pass in ``precision`` on ``device`` (restores the global flags after)."""
    check_precision(precision, device)
    with ExitStack() as stack:
        if device.type == "cuda":
            stack.enter_context(_cuda_tf32(precision == "tf32"))
        if precision == "bf16":
            stack.enter_context(torch.autocast(device_type=device.type, dtype=torch.bfloat16))
        yield


@contextmanager
def _cuda_tf32(allow: bool) -> Iterator[None]:
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = allow
    torch.backends.cuda.matmul.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
