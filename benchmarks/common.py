"""What every benchmark topic shares: sizes and goals, the clock, the model builder and its FLOPs,
the matmul peak (the floors' denominator), a fresh-process runner, the markdown tables and the
command line (``benchmarks/run.py`` and each topic module take the same flags)."""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from repro.core.model import DeblurNet, DeblurNetConfig, count_flops
from repro.peers import DeepDeblur, DeepDeblurConfig

ROOT = Path(__file__).resolve().parent.parent

SIZES: dict[str, tuple[int, int]] = {"432x240": (240, 432), "1280x720": (720, 1280)}  # name -> (H, W)
DRY_RUN_SIZES: dict[str, tuple[int, int]] = {"432x240": (24, 40), "1280x720": (32, 48)}  # the same names, tiny
WIDTHS = (0.25, 0.5, 1.0)
PHOTO_12MP = (3000, 4000)  # (H, W)
DRY_RUN_PHOTO = (100, 140)  # (H, W)
CPU_GOAL_S = 0.25  # issue 9: width 0.25 at 432x240 on this CPU
GPU_GOAL_RATIO = 2.5  # issue 9: full width at 1280x720 in bf16 within 2.5x of the floor
CPU_PRESETS_IN_BF16 = ("cpu-15min", "cpu-4h")  # training presets also timed in bf16 on the CPU (issue 27)


def log(msg: str) -> None:
    """A progress line on stderr (stdout carries the tables)."""
    print(msg, file=sys.stderr, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def time_call(fn: Callable[[], object], device: torch.device, *, warmup: int, reps: int,
              min_time: float = 0.0) -> list[float]:
    """Seconds per call: ``warmup`` untimed calls, then at least ``reps`` timed ones (more while
    their total is under ``min_time``, up to 4x ``reps``). Synchronises the GPU around each call."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    while len(times) < reps or (sum(times) < min_time and len(times) < 4 * reps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


@contextlib.contextmanager
def fp32_mode(mode: str) -> Iterator[None]:
    """``"ieee"``: true fp32 matmuls and convolutions; ``"tf32"``: TensorFloat-32 allowed."""
    saved = []
    targets = [torch.backends.cuda.matmul, torch.backends.cudnn.conv]
    for t in targets:
        saved.append(getattr(t, "fp32_precision", None))
        with contextlib.suppress(AttributeError, RuntimeError):
            t.fp32_precision = mode
    try:
        yield
    finally:
        for t, s in zip(targets, saved):
            if s is not None:
                with contextlib.suppress(AttributeError, RuntimeError):
                    t.fp32_precision = s


def build(arch: str, width: float = 1.0) -> torch.nn.Module:
    """``"DeblurNet"`` at ``width`` or the ``"DeepDeblur"`` peer, initialised from seed 0."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if arch == "DeblurNet":
            return DeblurNet(DeblurNetConfig(width=width))
        if arch == "DeepDeblur":
            return DeepDeblur(DeepDeblurConfig())
    raise ValueError(f"unknown architecture {arch!r}")


_FLOPS: dict[tuple, int] = {}


def model_flops(arch: str, width: float, h: int, w: int) -> int:
    """Forward FLOPs at batch 1 on an (h, w) image, counted on the meta device (no computation)."""
    key = (arch, width, h, w)
    if key not in _FLOPS:
        with torch.device("meta"):
            model = build(arch, width)
        _FLOPS[key] = count_flops(model, h, w)
    return _FLOPS[key]


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, reps: int, max_s: float = 20.0) -> float:
    """Measured FLOP/s of an ``n x n`` matmul (best of ``reps``, fewer when one call is slow: at most
    ~``max_s`` seconds in all, e.g. bf16 emulated by a CPU without it, 0.4 GFLOP/s on an AVX2 EPYC)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    first = time_call(lambda: torch.matmul(a, b), device, warmup=0, reps=1)[0]
    reps = max(1, min(reps, int(max_s / max(first, 1e-9))))
    times = time_call(lambda: torch.matmul(a, b), device, warmup=1 if reps > 2 else 0, reps=reps)
    return 2 * n ** 3 / min(times + [first])


def rss_mb(field_name: str = "VmRSS") -> float:
    """This process's resident set (``VmRSS``) or its peak (``VmHWM``) in MiB.

    ``VmHWM`` rather than ``getrusage().ru_maxrss``: on Linux a child started by fork+exec
    inherits the parent's RSS at fork time into ``ru_maxrss``, which would hide its own peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(task: dict, timeout: float) -> dict:
    """Run ``task`` (``{"task": "tiled" | "train", ...}``) in a fresh Python process through
    ``benchmarks/run.py --child``, so that its peak RSS is its own; returns its result."""
    cmd = [sys.executable, str(Path(__file__).resolve().parent / "run.py"), "--child", json.dumps(task)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {task['task']} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Budget:
    """Wall-clock budget: rows whose estimate does not fit are skipped, with the reason."""

    def __init__(self, seconds: float) -> None:
        self.t0 = time.perf_counter()
        self.seconds = seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def fits(self, estimate_s: float) -> bool:
        return estimate_s <= self.left()


@dataclass
class Half:
    """One half of the benchmarks in progress: where it runs, its clock and its record ``res``
    (``header``, ``inference``, ``skipped``, ``notes``, ``peak`` and each topic's rows)."""

    kind: str  # "cpu" or "gpu"
    device: torch.device
    args: argparse.Namespace
    budget: Budget
    res: dict
    sizes: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(SIZES))  # name -> (H, W) run
    photo: tuple[int, int] = PHOTO_12MP  # (H, W) of the tiled photo
    rate: float = 0.0  # CPU: convolution FLOP/s guessed for estimates, updated from each fp32 row


# ----------------------------------------------------------------------------- markdown

def fmt(v: object, nd: int = 1) -> str:
    """A table cell: ``-`` for None, floats to ``nd`` decimals (3 below 1, 3 significant digits
    when tiny or huge)."""
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0 or 0.01 <= abs(v) < 1e5:
            return f"{v:.{nd}f}" if abs(v) >= 1 else f"{v:.{max(nd, 3)}f}"
        return f"{v:.3g}"
    return str(v)


def table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    """A markdown table of ``rows``; ``cols`` is (header, key) per column, a missing key ``-``."""
    lines = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)) for _, k in cols) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line

def parser(description: str) -> argparse.ArgumentParser:
    """The flags of ``benchmarks/run.py``, shared by every topic module."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--cpu", action="store_true", help="the CPU half only")
    ap.add_argument("--gpu-only", action="store_true", help="the GPU half only")
    ap.add_argument("--quick", action="store_true", help="GPU: fewer repetitions, compile only the goal rows")
    ap.add_argument("--combine", action="store_true", help="only rebuild benchmarks.md from the halves")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks",
                    help="output folder (default results/benchmarks/)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="wall-clock budget of a half (default: CPU 270 s, GPU 120 s quick / 480 s)")
    ap.add_argument("--row-budget-s", type=float, default=60.0, help="CPU: longest single training row")
    ap.add_argument("--compile-reserve-s", type=float, default=45.0,
                    help="GPU: start another torch.compile row only with this much budget left")
    ap.add_argument("--tiled-width", type=float, default=0.25, help="CPU: width of the 12 MP tiled run")
    ap.add_argument("--force-tiled", action="store_true", help="CPU: run the 12 MP row whatever the budget")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=96)
    ap.add_argument("--build-pairs", type=int, default=20, help="accepted pairs for the dataset-building row")
    ap.add_argument("--profile", action="store_true", help="CPU: profile the goal row even when it is met")
    ap.add_argument("--dry-run", action="store_true",
                    help="run the GPU half's code on the CPU at tiny sizes (a check of the script, no real numbers)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    return ap


def default_budget_s(args: argparse.Namespace, kind: str) -> float:
    """``--budget-s``, else CPU 270 s, GPU 120 s with ``--quick`` and 480 s without."""
    if args.budget_s is not None:
        return args.budget_s
    return 270.0 if kind == "cpu" else (120.0 if args.quick else 480.0)
