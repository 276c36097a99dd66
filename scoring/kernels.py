"""The exact code-product kernel (G = C C^T of 0/1 codes): int8 ``torch._int_mm`` or float32, chosen by measurement.

Both kernels give bit-identical Grams: int8 products have int32 sums (exact below 2**31 units), float32
products are summed in chunks below 2**24 units.  Which is faster depends on the CPU, not on being a
CPU: int8 wins where oneDNN has VNNI/AMX int8 instructions (Intel Xeon), and loses 8-15x where it has
not (AMD EPYC with AVX2).  So on the CPU a short micro-benchmark times both on NB-201's layer sizes at
128 rows, once per process and device, on first need; the faster is kept for the process.  A kernel
that is missing, raises, or disagrees with the float32 product loses; float32 is the fallback.

CUDA devices keep float32 products (not measured: ``_int_mm`` there wants multiples of 8 and more than
16 rows).  ``configure("int8" | "float32")`` overrides the measurement on the CPU (``NASWOT_GRAM_KERNEL``
in the service and the CLI; ``auto`` measures).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

log = logging.getLogger("naswot.kernels")

#: the product kernels; float32 is the safe fallback
KERNELS = ("int8", "float32")
#: what ``configure`` accepts: ``auto`` measures, a kernel name forces it
MODES = ("auto", *KERNELS)
#: largest per-layer unit count whose 0/1 Gram products float32 represents exactly
EXACT_FLOAT32_UNITS = 2**24
#: largest unit count whose int8 Gram products fit int32 sums
EXACT_INT32_UNITS = 2**31 - 1
#: below this many units a layer's product is too small for the int8 kernel to pay off (and torch's
#: CPU ``_int_mm`` returns garbage for a single column), so such layers use float32
MIN_INT8_UNITS = 64
#: the micro-benchmark's shapes: a 128-input minibatch against NB-201's three layer sizes (16x32x32, 32x16x16, 64x8x8)
BENCH_ROWS = 128
BENCH_UNITS = (16_384, 8_192, 4_096)
#: each kernel is timed for at least this many rounds, then until its share of the time budget is spent
BENCH_MIN_ROUNDS = 3
BENCH_BUDGET_S = 0.15


def gram(codes: torch.Tensor, kernel: str) -> torch.Tensor:
    """C C^T (float64, B x B) of bool codes C (B x n) with ``kernel``; exact either way."""
    n = codes.shape[1]
    out = torch.zeros(codes.shape[0], codes.shape[0], dtype=torch.float64, device=codes.device)
    if kernel == "int8" and n >= MIN_INT8_UNITS:
        for start in range(0, n, EXACT_INT32_UNITS):
            c = codes[:, start : start + EXACT_INT32_UNITS].view(torch.int8)
            out += torch._int_mm(c, c.T)
        return out
    step = EXACT_FLOAT32_UNITS - 1
    for start in range(0, n, step):
        c = codes[:, start : start + step].to(torch.float32)
        out += c @ c.T
    return out


def grouped_gram(codes: torch.Tensor, kernel: str) -> torch.Tensor:
    """C_g C_g^T (float64, G x B x B) of bool codes (B, G, n) with ``kernel`` (float32 as one batched product)."""
    b, groups, n = codes.shape
    if kernel == "int8" and n >= MIN_INT8_UNITS:
        return torch.stack([gram(codes[:, g], kernel) for g in range(groups)])
    out = torch.zeros(groups, b, b, dtype=torch.float64, device=codes.device)
    step = EXACT_FLOAT32_UNITS - 1
    for start in range(0, n, step):
        c = codes[:, :, start : start + step].to(torch.float32).transpose(0, 1)
        out += torch.bmm(c, c.transpose(1, 2))
    return out


def kernel_available(kernel: str) -> bool:
    """Whether this torch build has ``kernel`` at all (``_int_mm`` is a private operator)."""
    return kernel != "int8" or hasattr(torch, "_int_mm")


def time_kernel(kernel: str, device: torch.device) -> float:
    """Seconds ``kernel`` takes for the benchmark shapes (best round of each, summed); raises if it is unusable
    or its product differs from the float32 one.  Bounded: a warm-up plus ``BENCH_MIN_ROUNDS`` rounds, then
    more only while this kernel's share of ``BENCH_BUDGET_S`` lasts."""
    if not kernel_available(kernel):
        raise RuntimeError(f"torch {torch.__version__} has no {kernel} product kernel")
    generator = torch.Generator().manual_seed(0)
    shapes = [(torch.rand(BENCH_ROWS, n, generator=generator) > 0.5).to(device) for n in BENCH_UNITS]
    for codes in shapes:  # warm-up (oneDNN builds a primitive per shape) and the exactness check
        product = gram(codes, kernel)
        if kernel != "float32" and not torch.equal(product, gram(codes, "float32")):
            raise RuntimeError(f"the {kernel} product differs from the float32 one")
    best = [float("inf")] * len(shapes)
    deadline = time.perf_counter() + BENCH_BUDGET_S / len(KERNELS)
    rounds = 0
    while rounds < BENCH_MIN_ROUNDS or time.perf_counter() < deadline:
        for i, codes in enumerate(shapes):
            start = time.perf_counter()
            gram(codes, kernel)
            best[i] = min(best[i], time.perf_counter() - start)
        rounds += 1
    return sum(best)


@dataclass(frozen=True)
class KernelChoice:
    """The kernel a device uses, how it was chosen, and what the micro-benchmark measured (if it ran)."""

    device: str
    kernel: str
    how: str  # measured | override | fixed (CUDA) | fallback
    timings_ms: Mapping[str, float | None] = field(default_factory=dict)  # None: the kernel failed
    cost_ms: float = 0.0
    note: str = ""

    def describe(self) -> str:
        """One line, e.g. ``int8 (measured: int8 1.1 ms, float32 5.2 ms; benchmark 160 ms)``."""
        timed = ", ".join(f"{k} {'failed' if t is None else f'{t:.1f} ms'}" for k, t in self.timings_ms.items())
        detail = f"{self.how}: {timed}; benchmark {self.cost_ms:.0f} ms" if self.timings_ms else self.how
        return f"{self.kernel} ({detail}{'; ' + self.note if self.note else ''})"

    def to_json(self) -> dict[str, Any]:
        timings = {k: None if t is None else round(t, 3) for k, t in self.timings_ms.items()}
        return {"kernel": self.kernel, "how": self.how, "timings_ms": timings, "cost_ms": round(self.cost_ms, 1), "note": self.note}


class KernelSelector:
    """Chooses and caches each device's kernel (thread-safe; one measurement per device and mode per process)."""

    def __init__(
        self, timer: Callable[[str, torch.device], float] = time_kernel, available: Callable[[str], bool] = kernel_available,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.timer, self.available, self.clock = timer, available, clock
        self.mode = "auto"
        self._choices: dict[tuple[str, str], KernelChoice] = {}
        self._lock = threading.Lock()

    def configure(self, mode: str) -> None:
        """``auto`` (measure) or a kernel to use on the CPU; a ValueError names the choices."""
        if mode not in MODES:
            raise ValueError(f"gram kernel must be one of {', '.join(MODES)}; got {mode!r}")
        self.mode = mode

    def cached(self, device: torch.device | str) -> KernelChoice | None:
        """The choice already made for ``device`` under the current mode, without measuring."""
        return self._choices.get((str(torch.device(device)), self.mode))

    def choice(self, device: torch.device | str) -> KernelChoice:
        """``device``'s kernel: made on first need (measuring if ``auto``), logged, then kept."""
        device, mode = torch.device(device), self.mode
        key = (str(device), mode)
        if (made := self._choices.get(key)) is not None:
            return made
        with self._lock:
            if key not in self._choices:
                made = self._choose(device, mode)
                log.info("gram kernel on %s: %s", key[0], made.describe())
                self._choices[key] = made
            return self._choices[key]

    def _choose(self, device: torch.device, mode: str) -> KernelChoice:
        name = str(device)
        if device.type != "cpu":
            return KernelChoice(name, "float32", "fixed", note=f"{device.type} keeps float32 products")
        if mode == "auto":
            return self._measure(device)
        if self.available(mode):
            return KernelChoice(name, mode, "override")
        return KernelChoice(name, "float32", "fallback", note=f"{mode} asked for but unavailable in this torch build")

    def _measure(self, device: torch.device) -> KernelChoice:
        start = self.clock()
        timings: dict[str, float | None] = {}
        for kernel in KERNELS:
            try:
                timings[kernel] = 1e3 * self.timer(kernel, device)
            except Exception as exc:  # noqa: BLE001 - a kernel that fails loses, and says why in the log
                log.warning("gram kernel %s unusable on %s: %s: %s", kernel, device, type(exc).__name__, exc)
                timings[kernel] = None
        cost = 1e3 * (self.clock() - start)
        usable = {k: t for k, t in timings.items() if t is not None}
        if not usable:
            return KernelChoice(str(device), "float32", "fallback", timings, cost, note="no kernel could be measured")
        return KernelChoice(str(device), min(usable, key=usable.__getitem__), "measured", timings, cost)


#: the process's selector: ``configure``, ``choice`` and ``cached`` below act on it
SELECTOR = KernelSelector()


def configure(mode: str) -> None:
    """Set this process's kernel mode (``auto``, ``int8`` or ``float32``)."""
    SELECTOR.configure(mode)


def choice(device: torch.device | str) -> KernelChoice:
    """This process's kernel for ``device`` (measured on first need under ``auto``)."""
    return SELECTOR.choice(device)


def cached(device: torch.device | str) -> KernelChoice | None:
    """The choice already made for ``device``, if any (never measures)."""
    return SELECTOR.cached(device)
