"""Choosing the exact code-product kernel: by injected timings (never timed here), an override, safe fallbacks,
one choice per device and mode; the settings field and the CPU model helper; scores identical under every kernel."""

import math
import threading
from pathlib import Path

import pytest
import torch

from app.settings import Settings, SettingsError, gram_kernel_from_env
from scoring import Scorer, kernels, open_source
from scoring.device import cpu_model
from searchspace.nb201 import NB201Space

CPU = torch.device("cpu")


class FakeTimer:
    """Seconds per kernel as given (an exception instance is raised instead); records every call."""

    def __init__(self, **seconds):
        self.seconds = seconds
        self.calls: list[tuple[str, str]] = []

    def __call__(self, kernel: str, device: torch.device) -> float:
        self.calls.append((kernel, str(device)))
        outcome = self.seconds[kernel]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def selector(timer: FakeTimer, available=lambda kernel: True, mode: str = "auto") -> kernels.KernelSelector:
    chooser = kernels.KernelSelector(timer=timer, available=available)
    chooser.configure(mode)
    return chooser


@pytest.mark.parametrize("int8, float32, expected", [(0.001, 0.005, "int8"), (0.2, 0.02, "float32")])
def test_the_faster_kernel_is_chosen_and_its_timings_kept(int8, float32, expected):
    made = selector(FakeTimer(int8=int8, float32=float32)).choice(CPU)
    assert (made.kernel, made.how) == (expected, "measured"), made
    assert made.timings_ms == pytest.approx({"int8": 1e3 * int8, "float32": 1e3 * float32})


def test_the_benchmark_reports_its_own_cost():
    ticks = iter([10.0, 10.25])
    chooser = kernels.KernelSelector(timer=FakeTimer(int8=1.0, float32=2.0), clock=lambda: next(ticks))
    assert chooser.choice(CPU).cost_ms == pytest.approx(250.0)


@pytest.mark.parametrize("mode", kernels.KERNELS)
def test_an_override_is_used_without_measuring(mode):
    timer = FakeTimer(int8=1.0, float32=1.0)
    made = selector(timer, mode=mode).choice(CPU)
    assert (made.kernel, made.how, timer.calls) == (mode, "override", [])


@pytest.mark.parametrize("failure", [RuntimeError("torch has no int8 product kernel"), AttributeError("_int_mm")])
def test_a_kernel_that_raises_loses_to_float32(failure):
    made = selector(FakeTimer(int8=failure, float32=9.0)).choice(CPU)
    assert (made.kernel, made.timings_ms["int8"]) == ("float32", None), made


def test_float32_is_the_fallback_when_no_kernel_can_be_measured():
    made = selector(FakeTimer(int8=RuntimeError("a"), float32=RuntimeError("b"))).choice(CPU)
    assert (made.kernel, made.how) == ("float32", "fallback"), made


def test_an_unavailable_override_falls_back_to_float32():
    made = selector(FakeTimer(), available=lambda kernel: kernel != "int8", mode="int8").choice(CPU)
    assert (made.kernel, made.how) == ("float32", "fallback") and "int8" in made.note, made


def test_the_real_timer_refuses_a_missing_int8_kernel(monkeypatch):
    monkeypatch.delattr(torch, "_int_mm")
    with pytest.raises(RuntimeError, match="no int8"):
        kernels.time_kernel("int8", CPU)


def test_the_real_timer_refuses_a_kernel_whose_products_differ(monkeypatch):
    monkeypatch.setattr(torch, "_int_mm", lambda a, b: torch.zeros(a.shape[0], b.shape[1], dtype=torch.int32))
    with pytest.raises(RuntimeError, match="differs"):
        kernels.time_kernel("int8", CPU)


def test_each_device_is_measured_once_even_from_many_threads():
    timer = FakeTimer(int8=1.0, float32=2.0)
    chooser = selector(timer)
    threads = [threading.Thread(target=chooser.choice, args=(CPU,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(timer.calls) == [("float32", "cpu"), ("int8", "cpu")]
    assert chooser.cached("cpu") is chooser.choice(CPU)


def test_a_choice_is_kept_per_device():
    chooser = selector(FakeTimer(int8=1.0, float32=2.0))
    cpu = chooser.choice("cpu")
    assert chooser.choice("cuda:1").how == "fixed" and chooser.cached("cuda:0") is None
    assert chooser.cached("cpu") is cpu and cpu.how == "measured"


def test_cached_never_measures():
    timer = FakeTimer(int8=1.0, float32=2.0)
    assert selector(timer).cached(CPU) is None and timer.calls == []


@pytest.mark.parametrize("mode", kernels.MODES)
def test_cuda_keeps_float32_products_unmeasured(mode):
    timer = FakeTimer(int8=0.001, float32=1.0)
    made = selector(timer, mode=mode).choice(torch.device("cuda", 0))
    assert (made.kernel, made.how, timer.calls) == ("float32", "fixed", []), made


def test_a_bad_mode_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="auto, int8, float32"):
        kernels.KernelSelector().configure("int4")


def test_a_choice_describes_its_timings():
    made = kernels.KernelChoice("cpu", "float32", "measured", {"int8": None, "float32": 4.25}, 120.0)
    assert made.describe() == "float32 (measured: int8 failed, float32 4.2 ms; benchmark 120 ms)"
    assert made.to_json()["timings_ms"] == {"int8": None, "float32": 4.25}


# ---- the setting -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [("int8", "int8"), (" Float32 ", "float32"), ("", "auto")])
def test_the_setting_reads_naswot_gram_kernel(raw, expected):
    assert Settings.from_env({"NASWOT_GRAM_KERNEL": raw}).gram_kernel == expected
    assert gram_kernel_from_env({"NASWOT_GRAM_KERNEL": raw}) == expected


def test_a_bogus_setting_names_the_variable():
    with pytest.raises(SettingsError, match="NASWOT_GRAM_KERNEL.*auto, int8, float32"):
        gram_kernel_from_env({"NASWOT_GRAM_KERNEL": "bogus"})


def test_the_cli_applies_the_setting(monkeypatch, capsys):
    from app.cli.main import main

    monkeypatch.setenv("NASWOT_GRAM_KERNEL", "float32")
    assert main(["sample", "--n", "1"]) == 0
    assert kernels.SELECTOR.mode == "float32"
    monkeypatch.setenv("NASWOT_GRAM_KERNEL", "bogus")
    assert main(["sample", "--n", "1"]) == 2
    assert "NASWOT_GRAM_KERNEL" in capsys.readouterr().err


# ---- the CPU model -------------------------------------------------------------------------------


def test_the_cpu_model_is_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n")
    assert cpu_model(info) == "AMD EPYC 7B13 64-Core Processor"


def test_the_cpu_model_falls_back_to_the_platform(tmp_path, monkeypatch):
    monkeypatch.setattr("platform.processor", lambda: "arm")
    assert cpu_model(tmp_path / "missing") == "arm"
    assert cpu_model(Path(tmp_path)) == "arm"  # a folder cannot be read either


# ---- every kernel gives the same scores ----------------------------------------------------------


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("cells_per_pass", [1, 3], ids=["one-by-one", "stacked"])
def test_nb201_scores_are_identical_under_every_kernel(cells_per_pass):
    space = NB201Space(C=4, N=1)  # layers of 1,024 to 4,096 units at 32x32: every one takes the int8 path
    archs = space.sample(3, seed=11, unique=True)
    by_kernel = {}
    for mode in kernels.KERNELS:
        kernels.configure(mode)
        scorer = Scorer(space, open_source("noise"), batch_size=8, seed=0, cells_per_pass=cells_per_pass)
        by_kernel[mode] = [r.score for r in scorer.score_many(archs)]
    assert all(math.isfinite(v) for v in by_kernel["float32"]), by_kernel  # equal -inf would prove nothing
    assert by_kernel["int8"] == by_kernel["float32"], by_kernel
