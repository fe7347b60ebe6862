"""The arithmetic a network runs in: ``precision = "auto" | "fp32" | "bf16"`` (issue 27).

``"bf16"`` runs the convolutions under ``torch.autocast(dtype=torch.bfloat16)`` with the model
and its inputs in the channels_last memory format (on a CPU the memory format matters as much
as the dtype: oneDNN's bf16 convolutions want NHWC). Parameters, batch-norm statistics, the loss,
the optimizer state and saved weights stay float32: autocast casts copies for each operation,
and ops that add the network's input back (the global residual) promote to float32.

``"auto"`` (the default everywhere) picks bf16 only where the device computes it natively:

* CUDA: ``torch.cuda.is_bf16_supported()`` (Ampere and later);
* CPU: the ``amx_bf16`` or ``avx512_bf16`` flag in ``/proc/cpuinfo`` (Intel Sapphire Rapids and
  later, AMD Zen 4 and later). Elsewhere (AVX2 only, non-Linux, MPS) float32: bf16 would be
  emulated and slower. The decision comes from what the device reports, never from a list of
  models and never from a timing: a stopwatch under load once chose fp32 and bf16 for the same
  command (issue 45). It is made once per process and device (:func:`auto_precision`), and
  :func:`precision_reason` says which and why for the logs. :func:`bf16_speedup` stays, as a
  benchmark (``benchmarks/precision.py``).

``"fp32"`` and ``"bf16"`` are taken as given (bf16 on a CPU without it runs, emulated and slow).
This module imports torch only inside the functions that need it, so :func:`check_precision`
serves torch-free command lines.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "PRECISION_CHOICES", "NATIVE_BF16_FLAGS", "check_precision", "cpu_flags",
           "cpu_has_native_bf16", "native_bf16", "decide_auto", "auto_precision", "precision_reason",
           "bf16_speedup", "resolve_precision", "autocast", "to_precision_format", "describe_cpu"]

PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_CHOICES = ", ".join(PRECISIONS)
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of a CPU with bf16 dot products
_CPUINFO = Path("/proc/cpuinfo")

log = logging.getLogger(__name__)


def check_precision(precision: str) -> str:
    """``precision`` itself when it is one of :data:`PRECISIONS`; a one-line ``ValueError``
    listing them otherwise. Cheap: no torch."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {PRECISION_CHOICES}")
    return precision


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The feature flags of the first CPU in ``cpuinfo`` (the text of ``/proc/cpuinfo``; read
    from there when None). Empty where there is no such file (macOS, Windows)."""
    if cpuinfo is None:
        try:
            cpuinfo = _CPUINFO.read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / ARM
            return frozenset(value.split())
    return frozenset()


def describe_cpu(cpuinfo: str | None = None) -> str:
    """The CPU model, its cores and which of the flags that decide ``"auto"`` it has, for the header
    of a results file: ``"AMD EPYC, 2 cores; native bf16 flags: none (vector flags: avx2)"``."""
    import os
    import platform

    if cpuinfo is None:
        try:
            cpuinfo = _CPUINFO.read_text()
        except OSError:
            cpuinfo = ""
    model = next((line.partition(":")[2].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), "") or platform.processor() or "unknown CPU"
    flags = cpu_flags(cpuinfo)
    native = [f for f in NATIVE_BF16_FLAGS if f in flags]
    vector = [f for f in ("amx_tile", "avx512f", "avx2") if f in flags]
    return (f"{model}, {os.cpu_count()} cores; native bf16 flags: {', '.join(native) or 'none'}"
            f" (vector flags: {', '.join(vector) or 'none'})")


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes bf16 dot products in hardware (AMX-BF16 or AVX512-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: CUDA with bf16 support, or a CPU with
    :func:`cpu_has_native_bf16`. False for other devices (MPS)."""
    return decide_auto(device)[0] == "bf16"


def decide_auto(device: torch.device | str, flags: frozenset[str] | None = None) -> tuple[str, str]:
    """What ``"auto"`` means on ``device``, and why: ``("bf16" | "fp32", reason)``.

    Decided from what the device reports, never by timing: on a CPU its flags (``flags``, read
    from ``/proc/cpuinfo`` when None; :data:`NATIVE_BF16_FLAGS`), on CUDA
    ``torch.cuda.is_bf16_supported()`` and the compute capability. The reason is one phrase for
    the logs: ``"the CPU reports avx512_bf16 (bf16 dot products in hardware)"``.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        if torch.cuda.is_bf16_supported():
            return "bf16", f"CUDA device {index} (compute capability {major}.{minor}) supports bf16"
        return "fp32", f"CUDA device {index} (compute capability {major}.{minor}) has no native bf16"
    if dev.type == "cpu":
        flags = cpu_flags() if flags is None else flags
        native = [f for f in NATIVE_BF16_FLAGS if f in flags]
        if native:
            return "bf16", f"the CPU reports {' and '.join(native)} (bf16 dot products in hardware)"
        return "fp32", (f"the CPU reports neither {' nor '.join(NATIVE_BF16_FLAGS)}"
                        " (bf16 would be emulated, slower than float32)")
    return "fp32", f"no bf16 autocast on {dev.type} devices here"


@functools.lru_cache(maxsize=8)
def auto_precision(device: str) -> tuple[str, str]:
    """:func:`decide_auto` for ``device`` (a ``str(torch.device)``), once per process: the device's
    report does not change while it runs. The first call logs the choice and its reason."""
    choice, reason = decide_auto(device)
    log.info("precision auto on %s: %s, as %s", device, choice, reason)
    return choice, reason


def precision_reason(asked: str, device: torch.device | str) -> str:
    """One line for a log: the precision that ``asked`` resolves to on ``device``, and why
    (``"bf16 (auto: the CPU reports avx512_bf16 ...)"``, ``"fp32 (asked for)"``)."""
    import torch

    check_precision(asked)
    if asked != "auto":
        return f"{asked} (asked for)"
    choice, reason = auto_precision(str(torch.device(device)))
    return f"{choice} (auto: {reason})"


# a benchmark only (benchmarks/precision.py, benchmarks/run.py): "auto" never times anything
@functools.lru_cache(maxsize=8)
def bf16_speedup(device: str = "cpu", seconds: float = 1.0) -> float:
    """float32 time / bf16 (autocast, channels_last) time of a 3x3 convolution of DeblurNet's
    size (64 -> 64 channels, batch 1 of 96x128), each timed for about ``seconds / 2``."""
    import torch

    dev = torch.device(device)
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(dev).eval()
        x = torch.rand(1, 64, 96, 128, device=dev)

        def per_call(precision: str) -> float:
            net, inp = to_precision_format(conv, precision), to_precision_format(x, precision)
            with autocast(precision, dev):
                net(inp)  # warm-up (oneDNN builds its kernel)
                calls, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < seconds / 2 or calls < 3:
                    net(inp)
                    calls += 1
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
            return (time.perf_counter() - t0) / calls

        fp32 = per_call("fp32")
        return fp32 / per_call("bf16")  # (per_call("bf16") turns conv channels_last: fp32 first)


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``"fp32"`` or ``"bf16"``: what ``precision`` means on ``device``.

    ``"auto"`` is :func:`auto_precision`'s choice (from the device's report, once per process, no
    timing); ``"fp32"``/``"bf16"`` are returned as given. Raises ``ValueError`` for any other string.
    """
    import torch

    check_precision(precision)
    if precision != "auto":
        return precision
    return auto_precision(str(torch.device(device)))[0]


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The context a forward pass runs in: bf16 autocast on ``device``'s type for a resolved
    ``precision == "bf16"``, nothing for ``"fp32"`` (``"auto"`` must be resolved first)."""
    import torch

    if precision not in ("fp32", "bf16"):
        raise ValueError(f"autocast needs a resolved precision (fp32 or bf16), got {precision!r}; "
                         "call resolve_precision first")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def to_precision_format(obj, precision: str):
    """A module or a 4-D tensor in the memory format of ``precision``: channels_last for bf16,
    as it is for fp32. A module is converted in place (``nn.Module.to``) and returned; a tensor's
    copy is returned. The values are unchanged either way."""
    import torch

    if precision != "bf16":
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.contiguous(memory_format=torch.channels_last) if obj.ndim == 4 else obj
    return obj.to(memory_format=torch.channels_last)
