#!/usr/bin/env python
"""Performance of deblur-wild, measured against the device's floor and against a peer (issue 9).

Usage::

    python benchmarks/run.py --cpu                        # CPU half  -> results/benchmarks/benchmarks_cpu.md
    python benchmarks/run.py --gpu-only --quick --out D   # GPU half, < 3 min -> D/benchmarks_gpu.md
    python benchmarks/run.py                              # both halves when a GPU is present
    python benchmarks/run.py --combine                    # rebuild results/benchmarks/benchmarks.md from the halves

Every half writes ``benchmarks_<cpu|gpu>.md`` and ``.json`` into ``--out`` (default ``results/benchmarks/``)
and then rebuilds ``benchmarks.md`` there from whichever halves exist. Each half records the
device, versions and date. What is measured:

* DeblurNet inference (eval mode, batch 1) at 432x240 and 1280x720 for widths 0.25/0.5/1.0:
  fp32 on the CPU (plus BN-folded, channels_last and bf16 variants of the goal row, and bf16 as
  ``repro.deblur(precision="bf16")`` runs it: float32 weights under bf16 autocast, channels_last, at
  widths 0.25 and 0.5); fp32, tf32 and bf16 with channels_last (eager and ``torch.compile``) on a GPU.
  The CPU half names the CPU, whether it computes bf16 natively and what ``precision="auto"``
  resolves to there (``repro.precision``; issue 27).
  Beside each row: FLOPs (``repro.model.count_flops``), the floor = FLOPs / measured peak (a large
  matmul in the same dtype on the same device), and measured / floor.
* The DeepDeblur peer (``repro.peers``) on the same inputs.
* Tiled inference of a 12 MP (4000x3000) photo: time and peak memory (CPU: peak RSS of a fresh
  process; GPU: ``torch.cuda.max_memory_allocated``).
* Training: images/s and peak memory per preset of ``repro.train.PRESETS`` (one optimiser step
  on random crops of the preset's size; data loading excluded); on the CPU in float32 for every
  preset and in bf16 (autocast, channels_last) for the CPU presets, each beside its floor at the
  matmul peak of its own dtype (3x the forward FLOPs per step).
* Dataset building (``repro.wild``): accepted pairs/min on the virtual camera; flow pairs/s per
  backend (``repro.flow``) on 427x240 frames.
* Shift-search PSNR: ``benchmarks/shift_search.py``'s ``run()`` when present.

GPU timings synchronise before reading the clock. Rows whose estimated time would overrun the
time budget are listed as skipped, with the estimate, never silently dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from repro.model import DeblurNet, DeblurNetConfig, count_flops, multiscale_loss  # noqa: E402
from repro.peers import DeepDeblur, DeepDeblurConfig  # noqa: E402
from repro.provenance import portable_path  # noqa: E402

SIZES: dict[str, tuple[int, int]] = {"432x240": (240, 432), "1280x720": (720, 1280)}  # name -> (H, W)
WIDTHS = (0.25, 0.5, 1.0)
PHOTO_12MP = (3000, 4000)  # (H, W)
CPU_GOAL_S = 0.25  # issue 9: width 0.25 at 432x240 on this CPU
GPU_GOAL_RATIO = 2.5  # issue 9: full width at 1280x720 in bf16 within 2.5x of the floor


# ----------------------------------------------------------------------------- small helpers

def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, *, warmup: int, reps: int,
              min_time: float = 0.0) -> list[float]:
    """Seconds per call: ``warmup`` untimed calls, then at least ``reps`` timed ones (more while
    their total is under ``min_time``, up to 4x ``reps``). Synchronises the GPU around each call."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    while len(times) < reps or (sum(times) < min_time and len(times) < 4 * reps):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


@contextlib.contextmanager
def fp32_mode(mode: str):
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


_FLOPS: dict[tuple, int] = {}


def model_flops(arch: str, width: float, h: int, w: int) -> int:
    """Forward FLOPs at batch 1, counted on the meta device (no computation)."""
    key = (arch, width, h, w)
    if key not in _FLOPS:
        with torch.device("meta"):
            model = build(arch, width)
        _FLOPS[key] = count_flops(model, h, w)
    return _FLOPS[key]


def build(arch: str, width: float = 1.0) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if arch == "DeblurNet":
            return DeblurNet(DeblurNetConfig(width=width))
        if arch == "DeepDeblur":
            return DeepDeblur(DeepDeblurConfig())
    raise ValueError(f"unknown architecture {arch!r}")


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, reps: int, max_s: float = 20.0) -> float:
    """Measured FLOP/s of an ``n x n`` matmul (best of ``reps``, fewer when one call is slow: at most
    ~``max_s`` seconds in all, e.g. bf16 emulated by a CPU without it, 0.4 GFLOP/s on an AVX2 EPYC)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    first = time_call(lambda: torch.matmul(a, b), device, warmup=0, reps=1)[0]
    reps = max(1, min(reps, int(max_s / max(first, 1e-9))))
    times = time_call(lambda: torch.matmul(a, b), device, warmup=1 if reps > 2 else 0, reps=reps)
    return 2 * n ** 3 / min(times + [first])


def _empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set (``VmRSS``) or its peak (``VmHWM``) in MiB.

    ``VmHWM`` rather than ``getrusage().ru_maxrss``: on Linux a child started by fork+exec
    inherits the parent's RSS at fork time into ``ru_maxrss``, which would hide its own peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(task: dict, timeout: float) -> dict:
    """Run ``task`` in a fresh Python process (so its peak RSS is its own); returns its result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(task)]
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


# ----------------------------------------------------------------------------- measurements

def bench_inference(arch: str, width: float, size: str, device: torch.device, *, mode: str, peak: float,
                    channels_last: bool = False, compile_: bool = False, fold_bn: bool = False, warmup: int = 1,
                    reps: int = 3, min_time: float = 0.0, autocast_: bool = False) -> dict:
    """One inference row: ms/image, MP/s, FLOPs, floor, ratio. ``fold_bn``: batch norm folded
    into the convolutions (``repro.inference.fold_batchnorm``, what ``repro.deblur`` runs).
    ``autocast_`` (with ``mode="bf16"``): float32 weights and input under bf16 autocast, as
    ``repro.deblur(precision="bf16")`` runs, instead of a model cast to bf16."""
    from repro.inference import fold_batchnorm

    h, w = SIZES[size]
    model = build(arch, width).eval()
    if fold_bn:
        model = fold_batchnorm(model)
    model = model.to(device)
    if autocast_ and mode != "bf16":
        raise ValueError(f"autocast_ needs mode='bf16', got {mode!r}")
    dtype = torch.bfloat16 if mode == "bf16" and not autocast_ else torch.float32
    model = model.to(dtype)
    x = torch.rand(1, 3, h, w, device=device, dtype=dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    t_compile = None
    if compile_:
        model = torch.compile(model, dynamic=False)
    fp32 = "tf32" if mode == "tf32" else "ieee"

    def fn() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast_):
            return model(x).restored

    with fp32_mode(fp32):
        if compile_:
            t0 = time.perf_counter()
            fn()
            _sync(device)
            t_compile = time.perf_counter() - t0
        times = time_call(fn, device, warmup=warmup, reps=reps, min_time=min_time)
    flops = model_flops(arch, width, h, w)
    sec = statistics.median(times)
    floor = flops / peak
    return {
        "model": arch, "width": width if arch == "DeblurNet" else "-", "size": size, "device": device.type,
        "dtype": mode, "autocast": autocast_, "channels_last": channels_last, "compile": compile_, "bn_folded": fold_bn,
        "ms": 1e3 * sec, "mp_s": h * w / 1e6 / sec, "gflop": flops / 1e9, "floor_ms": 1e3 * floor,
        "ratio": sec / floor, "achieved_tflop_s": flops / sec / 1e12, "runs": len(times),
        "compile_s": t_compile,
    }


def profile_forward(width: float, size: str, path: Path) -> list[dict]:
    """torch.profiler of one CPU forward pass; writes the op table; returns the top ops."""
    from torch.profiler import ProfilerActivity, profile

    h, w = SIZES[size]
    model = build("DeblurNet", width).eval()
    x = torch.rand(1, 3, h, w)
    with torch.inference_mode():
        model(x)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            model(x)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# torch.profiler, DeblurNet width {width} at {size}, CPU fp32, "
                    f"{torch.get_num_threads()} threads\n\n{table}\n")
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3, "share": e.self_cpu_time_total / total}
            for e in events[:6]]


def conv_layer_breakdown(width: float, size: str) -> list[dict]:
    """Time and FLOP/s of every convolution of one CPU forward pass (forward hooks)."""
    h, w = SIZES[size]
    model = build("DeblurNet", width).eval()
    x = torch.rand(1, 3, h, w)
    rows: list[dict] = []
    starts: dict[torch.nn.Module, float] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            hooks.append(m.register_forward_pre_hook(lambda mod, i: starts.__setitem__(mod, time.perf_counter())))

            def post(mod, inp, out, name=name):
                dt_ = time.perf_counter() - starts[mod]
                k = mod.kernel_size[0] * mod.kernel_size[1]
                cin = mod.in_channels // mod.groups
                if isinstance(mod, torch.nn.ConvTranspose2d):
                    flops = 2 * inp[0].numel() * mod.out_channels * k  # per input pixel
                else:
                    flops = 2 * out.numel() * cin * k
                rows.append({"layer": name, "cin": mod.in_channels, "cout": mod.out_channels,
                             "k": mod.kernel_size[0], "out": "x".join(map(str, out.shape[2:])),
                             "ms": 1e3 * dt_, "gflop_s": flops / dt_ / 1e9})
            hooks.append(m.register_forward_hook(post))
    with torch.inference_mode():
        model(x)
        rows.clear()
        model(x)
    for hk in hooks:
        hk.remove()
    return rows


def child_tiled(task: dict) -> dict:
    """(in a child process) deblur a synthetic 12 MP photo; time and peak RSS."""
    from repro.inference import deblur

    device = torch.device(task["device"])
    model = build("DeblurNet", task["width"]).eval().to(device)
    if task.get("dtype") == "bf16":
        model = model.to(torch.bfloat16)
    if task.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    H, W = PHOTO_12MP
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    base = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    t0 = time.perf_counter()
    out = deblur(img, model=model, tile=task["tile"], overlap=task["overlap"])
    _sync(device)
    sec = time.perf_counter() - t0
    assert out.shape == img.shape
    res = {"seconds": sec, "baseline_rss_mb": base,
           "peak_rss_mb": _rss_mb("VmHWM")}
    if device.type == "cuda":
        res["gpu_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return res


def child_train(task: dict) -> dict:
    """(in a child process on the CPU, or in-process on a GPU) optimiser steps of a preset, in
    ``task["precision"]`` (default: the preset's, resolved on the device) as ``repro.train`` runs it."""
    from repro.precision import autocast, resolve_precision
    from repro.train import PRESETS

    cfg = PRESETS[task["preset"]]
    device = torch.device(task["device"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = DeblurNet(cfg.model_config()).to(device).train()
    precision = resolve_precision(task.get("precision", cfg.precision), device)
    cl = cfg.channels_last and (device.type == "cuda" or precision == "bf16")
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    B, c = cfg.batch_size, cfg.crop
    gen = torch.Generator(device="cpu").manual_seed(0)
    blurry = torch.rand(B, 3, c, c, generator=gen).to(device)
    sharp = torch.rand(B, 3, c, c, generator=gen).to(device)
    if cl:
        blurry = blurry.contiguous(memory_format=torch.channels_last)
        sharp = sharp.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(precision, device):
            out = model(blurry)
        loss = multiscale_loss([o.float() for o in out.outputs], sharp, reduction=cfg.loss_reduction)
        loss.backward()
        opt.step()

    base = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_call(step, device, warmup=task["warmup"], reps=task["reps"])
    sec = statistics.median(times)
    res = {"preset": task["preset"], "width": cfg.width, "batch": B, "crop": c, "precision": precision,
           "channels_last": cl, "step_s": sec, "images_s": B / sec, "baseline_rss_mb": base,
           "peak_rss_mb": _rss_mb("VmHWM"), "steps_timed": len(times)}
    if device.type == "cuda":
        res["gpu_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return res


def with_floor(row: dict, peak: dict[str, float]) -> dict:
    """A training row with its FLOPs per step, its floor (those FLOPs at the measured matmul peak
    of the row's own precision) and ratio = measured / floor."""
    if "step_s" not in row:
        return row
    flops = train_step_flops(row["preset"])
    floor = flops / peak["bf16" if row.get("precision") == "bf16" else "fp32"]
    return {**row, "gflop": flops / 1e9, "floor_s": floor, "ratio": row["step_s"] / floor}


def train_step_flops(preset: str) -> float:
    """Approximate FLOPs of one training step: 3x the forward (forward + backward)."""
    from repro.train import PRESETS

    cfg = PRESETS[preset]
    with torch.device("meta"):
        model = DeblurNet(cfg.model_config())
    return 3 * cfg.batch_size * count_flops(model, cfg.crop, cfg.crop)


def bench_flow(backends: tuple[str, ...], budget: Budget) -> list[dict]:
    import scipy.ndimage as ndi
    import skimage.data
    import skimage.transform

    from repro.flow import estimate_flow

    img = skimage.transform.resize(skimage.data.astronaut(), (240, 427), anti_aliasing=True)
    f0 = (img * 255).round().astype(np.uint8)
    f1 = np.clip(ndi.shift(img, (0.3, 0.4, 0), order=3, mode="nearest") * 255, 0, 255).round().astype(np.uint8)
    rows = []
    for b in backends:
        if budget.left() < 5:
            rows.append({"backend": b, "skipped": "time budget"})
            continue
        t0 = time.perf_counter()
        flow = estimate_flow(f0, f1, backend=b)  # warm-up, and a sanity check of the sign convention
        first = time.perf_counter() - t0
        reps = int(max(1, min(10, 2.0 / max(first, 1e-3))))
        times = time_call(lambda: estimate_flow(f0, f1, backend=b), torch.device("cpu"), warmup=0, reps=reps)
        med = np.median(flow[20:-20, 20:-20].reshape(-1, 2), axis=0)
        rows.append({"backend": b, "size": "427x240", "ms": 1e3 * statistics.median(times),
                     "pairs_s": 1 / statistics.median(times), "median_flow": f"({med[0]:.2f}, {med[1]:.2f})",
                     "runs": len(times)})
    return rows


def bench_build(pairs: int, workers: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from build_throughput import measure

    res = measure(pairs, workers)
    return {"source": "virtual", "pairs": res["accepted_pairs"], "windows": res["windows_tried"], "workers": workers,
            "seconds": res["seconds"], "pairs_min": res["pairs_per_min"]}


def bench_shift_search() -> tuple[list[dict] | None, str]:
    path = Path(__file__).resolve().parent / "shift_search.py"
    if not path.exists():
        return None, "pending: benchmarks/shift_search.py (metrics helper) not present yet"
    spec = importlib.util.spec_from_file_location("shift_search_bench", path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return list(mod.run()), "benchmarks/shift_search.py run()"


# ----------------------------------------------------------------------------- the two halves

def header(device: torch.device) -> dict:
    from repro.provenance import provenance

    rec = provenance(device=str(device) if device.type == "cuda" else "cpu")
    rec["threads"] = torch.get_num_threads()
    rec["cpu"] = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                rec["cpu"] = line.split(":", 1)[1].strip()
                break
    rec["load_average"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    if device.type == "cuda":
        rec["cuda"] = torch.version.cuda
        rec["cudnn"] = torch.backends.cudnn.version()
    return rec


def cpu_half(args: argparse.Namespace) -> dict:
    """Rows in order of importance (goal row, 12 MP photo, training, data, shift search, then the
    other inference rows from cheap to expensive), each run only if its estimate fits the budget."""
    device = torch.device("cpu")
    res: dict = {"header": header(device), "inference": [], "skipped": [], "notes": []}
    from repro.precision import bf16_speedup, cpu_has_native_bf16, describe_cpu, resolve_precision

    res["precision"] = {"cpu": describe_cpu(), "auto": resolve_precision("auto", device),
                        "conv_bf16_speedup": bf16_speedup("cpu")}
    _log(f"CPU half: {torch.get_num_threads()} threads, budget {args.budget_s:.0f} s; {res['precision']}")
    peak = matmul_peak(device, torch.float32, 2048, reps=10)
    # emulated bf16 (no AMX or AVX512-BF16) multiplies at well under 1 GFLOP/s: a 512^2 matmul
    # measures that rate in seconds where 2048^2 would take minutes
    n_bf16 = 2048 if cpu_has_native_bf16() else 512
    res["peak"] = {"fp32": peak, "bf16": matmul_peak(device, torch.bfloat16, n_bf16, reps=10)}
    if n_bf16 != 2048:
        res["notes"].append(f"bf16 peak measured on a {n_bf16}^2 matmul (this CPU emulates bf16)")
    budget = Budget(args.budget_s)  # for the rows: the peaks above are a fixed cost
    _log(f"  matmul peak fp32 {peak / 1e9:.1f}, bf16 {res['peak']['bf16'] / 1e9:.1f} GFLOP/s")
    state = {"rate": 0.3 * peak}  # conv throughput guess, updated from each measured row

    def inference_row(arch: str, width: float, size: str, force: bool = False, fold_bn: bool = False,
                      mode: str = "fp32", channels_last: bool = False, autocast_: bool = False) -> None:
        h, w = SIZES[size]
        flops = model_flops(arch, width, h, w)
        cheap = flops / state["rate"] < 3
        warmup, reps = (1, 5) if cheap else (0, 1)
        est = flops * (warmup + reps) / state["rate"]
        label = (f"{arch} w{width} {size}" if arch == "DeblurNet" else f"{arch} {size}") + f" {mode}" + \
            (" autocast" if autocast_ else "") + (" channels_last" if channels_last else "") + \
            (" BN-folded" if fold_bn else "")
        if not force and not budget.fits(est):
            res["skipped"].append(f"{label}: estimated {est:.0f} s at {state['rate'] / 1e9:.0f} GFLOP/s "
                                  f"(budget left {budget.left():.0f} s)")
            _log(f"  skip {label} (est {est:.0f} s)")
            return
        row = bench_inference(arch, width, size, device, mode=mode, peak=res["peak"][mode], warmup=warmup,
                              reps=reps, min_time=1.0 if cheap else 0.0, fold_bn=fold_bn,
                              channels_last=channels_last, autocast_=autocast_)
        if mode == "fp32" and not channels_last:
            state["rate"] = row["achieved_tflop_s"] * 1e12
        res["inference"].append(row)
        _log(f"  {label}: {row['ms']:.0f} ms ({row['ratio']:.1f}x floor) [{budget.elapsed():.0f} s]")

    # 1. the goal row, profiled when missed
    inference_row("DeblurNet", 0.25, "432x240", force=True)
    inference_row("DeblurNet", 0.25, "432x240", force=True, fold_bn=True)
    inference_row("DeblurNet", 0.25, "432x240", force=True, fold_bn=True, channels_last=True)
    inference_row("DeblurNet", 0.25, "432x240", force=True, fold_bn=True, channels_last=True, mode="bf16")
    goal = min(res["inference"][:4], key=lambda r: r["ms"])
    res["goal"] = {"seconds": goal["ms"] / 1e3, "target": CPU_GOAL_S, "met": goal["ms"] / 1e3 < CPU_GOAL_S,
                   "floor_s": goal["floor_ms"] / 1e3, "bn_folded": goal["bn_folded"], "dtype": goal["dtype"],
                   "channels_last": goal["channels_last"]}
    # 1b. bf16 as repro.deblur(precision="bf16") runs it (issue 27), at the goal's width and at the
    # shipped DeblurNet^WILD's width 0.5 beside its float32 row; floor at the bf16 matmul peak
    inference_row("DeblurNet", 0.25, "432x240", force=True, fold_bn=True, channels_last=True, mode="bf16",
                  autocast_=True)
    inference_row("DeblurNet", 0.5, "432x240", force=True, fold_bn=True)
    inference_row("DeblurNet", 0.5, "432x240", force=True, fold_bn=True, channels_last=True, mode="bf16",
                  autocast_=True)
    if not res["goal"]["met"] or args.profile:
        prof_path = Path(args.out) / "benchmarks_cpu_profile.txt"
        res["profile"] = {"top_ops": profile_forward(0.25, "432x240", prof_path), "file": prof_path.name,
                          "layers": conv_layer_breakdown(0.25, "432x240")}

    # 2. tiled 12 MP photo (fresh process: its own peak RSS)
    flops_12 = tiled_flops(args.tiled_width, args.tile, args.overlap)
    est = flops_12 / state["rate"] + 10
    res["tiled"] = []
    if budget.fits(est) or args.force_tiled:
        try:
            r = run_child({"task": "tiled", "device": "cpu", "width": args.tiled_width, "tile": args.tile,
                           "overlap": args.overlap}, timeout=max(120, 5 * est))
            r.update(width=args.tiled_width, tile=args.tile, overlap=args.overlap, dtype="fp32",
                     gflop=flops_12 / 1e9, device="cpu")
            res["tiled"].append(r)
            _log(f"  tiled 12 MP: {r['seconds']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB [{budget.elapsed():.0f} s]")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            res["skipped"].append(f"tiled 12 MP: failed: {exc}"[:300])
    else:
        res["skipped"].append(f"tiled 12 MP at width {args.tiled_width}: estimated {est:.0f} s "
                              f"(budget left {budget.left():.0f} s)")

    # 3. training per preset (fresh processes, for their own peak RSS)
    res["train"] = []
    try:
        from repro.train import PRESETS
        presets = list(PRESETS)
    except ImportError as exc:
        presets = []
        res["train_note"] = f"pending: repro.train.PRESETS not importable ({exc})"
    # every preset in float32, then the CPU presets in bf16 (autocast, channels_last; issue 27),
    # whose estimate scales by the measured bf16 speed of a convolution (emulated bf16 is slower)
    plan = [(name, "fp32") for name in presets] + [(n, "bf16") for n in ("cpu-15min", "cpu-4h") if n in presets]
    for name, precision in plan:
        slowdown = 1.0 if precision == "fp32" else max(1.0, 1.0 / res["precision"]["conv_bf16_speedup"])
        est = 3 * train_step_flops(name) * slowdown / state["rate"] + 5
        if est > min(args.row_budget_s, budget.left() - 60):
            res["train"].append({"preset": name, "precision": precision,
                                 "skipped": f"estimated {est:.0f} s for 3 steps on this CPU"})
            continue
        try:
            row = run_child({"task": "train", "preset": name, "device": "cpu", "warmup": 1, "reps": 2,
                             "precision": precision}, timeout=max(60, 4 * est))
            res["train"].append(with_floor(row, res["peak"]))
            _log(f"  train {name} {precision}: {row['images_s']:.1f} img/s [{budget.elapsed():.0f} s]")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            res["train"].append({"preset": name, "precision": precision, "skipped": f"failed: {exc}"[:300]})

    # 4. optical flow, dataset building, shift search
    try:
        from repro.flow import BACKENDS
        res["flow"] = bench_flow(tuple(BACKENDS), budget)
    except ImportError as exc:
        res["flow_note"] = f"pending: repro.flow not importable ({exc})"
    try:
        import repro.wild  # noqa: F401
        if budget.left() > 45:
            res["build"] = bench_build(pairs=args.build_pairs, workers=min(2, os.cpu_count() or 1))
            _log(f"  build: {res['build']['pairs_min']:.0f} pairs/min [{budget.elapsed():.0f} s]")
        else:
            res["build_note"] = "skipped: time budget"
    except ImportError as exc:
        res["build_note"] = f"pending: repro.wild not importable ({exc})"
    except Exception as exc:  # noqa: BLE001 - another helper's module: report, don't crash the table
        res["build_note"] = f"failed: {type(exc).__name__}: {exc}"[:300]
    try:
        rows, note = bench_shift_search()
        res["shift"], res["shift_note"] = rows, note
    except Exception as exc:  # noqa: BLE001
        res["shift"], res["shift_note"] = None, f"failed: {type(exc).__name__}: {exc}"[:300]

    # 5. the other inference rows, cheap to expensive, the peer beside DeblurNet
    for arch, width, size in [("DeblurNet", 0.5, "432x240"), ("DeblurNet", 0.25, "1280x720"),
                              ("DeblurNet", 1.0, "432x240"), ("DeepDeblur", 1.0, "432x240"),
                              ("DeblurNet", 0.5, "1280x720"), ("DeblurNet", 1.0, "1280x720"),
                              ("DeepDeblur", 1.0, "1280x720")]:
        inference_row(arch, width, size)
    res["elapsed_s"] = budget.elapsed()
    return res


def tiled_flops(width: float, tile: int, overlap: int) -> float:
    """FLOPs of tiled inference of the 12 MP photo: tile count x per-tile FLOPs."""
    from repro.inference import tile_starts

    H, W = PHOTO_12MP
    ny, nx = len(tile_starts(H, tile, overlap)), len(tile_starts(W, tile, overlap))
    th, tw = min(tile, H), min(tile, W)
    with torch.device("meta"):
        model = build("DeblurNet", width)
    return ny * nx * count_flops(model, th, tw)


def gpu_half(args: argparse.Namespace) -> dict:
    if args.dry_run:  # exercise this code path on the CPU with tiny sizes (no meaningful numbers)
        device = torch.device("cpu")
        SIZES.update({"432x240": (24, 40), "1280x720": (32, 48)})
        globals()["PHOTO_12MP"] = (100, 140)
        n = 256
    elif not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: the GPU half needs one (use --cpu for the CPU half)")
    else:
        device = torch.device("cuda")
        n = 8192
    torch.backends.cudnn.benchmark = True
    budget = Budget(args.budget_s)
    quick = args.quick
    res: dict = {"header": header(device), "inference": [], "skipped": [], "notes": []}
    _log(f"GPU half on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu (dry run)'}, "
         f"budget {args.budget_s:.0f} s")
    with fp32_mode("ieee"):
        p32 = matmul_peak(device, torch.float32, n, reps=5)
    with fp32_mode("tf32"):
        ptf = matmul_peak(device, torch.float32, n, reps=5)
    pbf = matmul_peak(device, torch.bfloat16, n, reps=10)
    res["peak"] = {"fp32": p32, "tf32": ptf, "bf16": pbf}
    _log(f"  peaks TFLOP/s: fp32 {p32 / 1e12:.1f}, tf32 {ptf / 1e12:.1f}, bf16 {pbf / 1e12:.1f} "
         f"({budget.elapsed():.0f} s)")
    warmup, reps = (2, 5) if quick else (3, 20)

    def compile_row(arch: str, width: float, size: str, mode: str) -> None:
        if budget.left() < args.compile_reserve_s:
            res["skipped"].append(f"compile {arch} w{width} {size} {mode}: time budget "
                                  f"({budget.left():.0f} s left)")
            return
        try:
            row = bench_inference(arch, width, size, device, mode=mode, peak=res["peak"][mode],
                                  channels_last=True, compile_=True, warmup=warmup, reps=reps)
            res["inference"].append(row)
            _log(f"  compiled {arch} w{width} {size} {mode}: {row['ms']:.1f} ms, compile {row['compile_s']:.0f} s "
                 f"({budget.elapsed():.0f} s)")
        except Exception as exc:  # noqa: BLE001 - report a failed compile, keep the eager table
            res["skipped"].append(f"compile {arch} w{width} {size} {mode}: failed: {type(exc).__name__}: {exc}"[:300])
        _empty_cache(device)

    # eager rows: every dtype x width x size, DeblurNet and the peer; the compiled goal row
    # right after the bf16 ones, so that it is measured whatever the budget
    for mode in ("bf16", "tf32", "fp32"):
        for size in SIZES:
            for arch, width in [("DeblurNet", w) for w in WIDTHS] + [("DeepDeblur", 1.0)]:
                row = bench_inference(arch, width, size, device, mode=mode, peak=res["peak"][mode],
                                      channels_last=True, warmup=warmup, reps=reps)
                res["inference"].append(row)
        _log(f"  eager {mode} done ({budget.elapsed():.0f} s)")
        _empty_cache(device)
        if mode == "bf16":
            res["inference"].append(bench_inference("DeblurNet", 1.0, "1280x720", device, mode="bf16",
                                                    peak=res["peak"]["bf16"], channels_last=True, fold_bn=True,
                                                    warmup=warmup, reps=reps))
            compile_row("DeblurNet", 1.0, "1280x720", "bf16")

    # tiled 12 MP photo, full width bf16 (in this process: GPU memory is what counts here)
    res["tiled"] = []
    for tile in (512, 1024):
        r = child_tiled({"device": device.type, "width": 1.0, "tile": tile, "overlap": args.overlap,
                         "dtype": "bf16", "channels_last": True})
        r.update(width=1.0, tile=tile, overlap=args.overlap, dtype="bf16",
                 gflop=tiled_flops(1.0, tile, args.overlap) / 1e9, device=device.type)
        res["tiled"].append(r)
        _empty_cache(device)
    _log(f"  tiled done ({budget.elapsed():.0f} s)")

    # training per preset
    res["train"] = []
    try:
        from repro.train import PRESETS
        for name in (["tiny-test"] if args.dry_run else PRESETS):
            res["train"].append(with_floor(child_train({"preset": name, "device": device.type, "warmup": 3,
                                                        "reps": 5 if quick else 20}), res["peak"]))
            _empty_cache(device)
    except ImportError as exc:
        res["train_note"] = f"pending: repro.train.PRESETS not importable ({exc})"
    _log(f"  training done ({budget.elapsed():.0f} s)")

    # further torch.compile rows while the budget lasts; each compile takes tens of seconds
    plan = [("DeepDeblur", 1.0, "1280x720", "bf16"), ("DeblurNet", 1.0, "1280x720", "tf32"),
            ("DeblurNet", 1.0, "1280x720", "fp32")]
    if not quick:
        plan += [("DeblurNet", w, s, "bf16") for w in WIDTHS for s in SIZES if (w, s) != (1.0, "1280x720")]
        plan += [("DeepDeblur", 1.0, "432x240", "bf16")]
    for arch, width, size, mode in plan:
        compile_row(arch, width, size, mode)

    goal = [r for r in res["inference"] if r["model"] == "DeblurNet" and r["width"] == 1.0
            and r["size"] == "1280x720" and r["dtype"] == "bf16"]
    best = min(goal, key=lambda r: r["ratio"])
    res["goal"] = {"ratio": best["ratio"], "target": GPU_GOAL_RATIO, "met": best["ratio"] <= GPU_GOAL_RATIO,
                   "compile": best["compile"], "ms": best["ms"]}
    res["elapsed_s"] = budget.elapsed()
    return res


# ----------------------------------------------------------------------------- report

def _fmt(v: object, nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0 or 0.01 <= abs(v) < 1e5:
            return f"{v:.{nd}f}" if abs(v) >= 1 else f"{v:.{max(nd, 3)}f}"
        return f"{v:.3g}"
    return str(v)


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for _, k in cols) + " |")
    return "\n".join(lines)


def render(res: dict, kind: str) -> str:
    h = res["header"]
    out = [f"## {kind.upper()} half", ""]
    out.append(f"Made by `python benchmarks/run.py {' '.join(res.get('argv', []))}` on {h['date']}: "
               f"device **{h['device']}**, CPU {h.get('cpu')}, {h['threads']} torch threads, "
               f"load average at start {h['load_average']}; torch {h['torch']}, numpy {h['numpy']}, "
               f"python {h['python']}, repro {h['repro']} (commit {h['commit']})"
               + (f", CUDA {h['cuda']}, cuDNN {h['cudnn']}" if "cuda" in h else "") + ".")
    if kind == "cpu":
        out.append("")
        out.append("The CPU was shared with other jobs when these numbers were taken if the load average "
                   "above exceeds the thread count; such timings are upper bounds.")
    peaks = ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" if v < 1e12 else f"{k} {v / 1e12:.1f} TFLOP/s"
                      for k, v in res["peak"].items())
    out += ["", f"Measured peak (matmul {'2048' if kind == 'cpu' else '8192'}^2, best of up to 10 runs: fewer where one "
            f"takes seconds): {peaks}" + "".join(f"; {n}" for n in res.get("notes", [])) + ".", ""]
    if res.get("precision"):
        p = res["precision"]
        native = "native bf16 flags: none" not in p["cpu"]
        out += [f"**Precision** (issue 27, `repro.precision`): {p['cpu']}. `precision=\"auto\"` resolves to "
                f"**{p['auto']}** on this CPU; under bf16 autocast a 3x3 convolution (64 channels, 96x128) runs at "
                f"{p['conv_bf16_speedup']:.2f}x its float32 speed"
                + ("." if native else " (no AMX or AVX512-BF16: oneDNN emulates bf16, so the bf16 rows below "
                   "show its cost here, not the speed-up of a CPU that computes bf16 natively)."), ""]
    out += ["### Inference, batch 1 (eval mode)", "",
            "floor = FLOPs / measured matmul peak in the same dtype; ratio = measured / floor.", ""]
    out.append(_table(res["inference"], [
        ("model", "model"), ("width", "width"), ("size", "size"), ("dtype", "dtype"), ("autocast", "autocast"),
        ("channels_last", "channels_last"), ("compile", "compile"), ("BN folded", "bn_folded"),
        ("ms/image", "ms"), ("MP/s", "mp_s"),
        ("GFLOP", "gflop"), ("floor ms", "floor_ms"), ("ratio", "ratio"), ("TFLOP/s", "achieved_tflop_s"),
        ("runs", "runs"), ("compile s", "compile_s")]))
    g = res.get("goal", {})
    if kind == "cpu" and g:
        out += ["", f"**Goal** (width 0.25 at 432x240 under {g['target']} s): best {g['seconds']:.3f} s "
                f"({g['dtype']}, BN {'folded' if g['bn_folded'] else 'not folded'}, "
                f"{'channels_last' if g['channels_last'] else 'contiguous'}), {'met' if g['met'] else 'MISSED'}; "
                f"that row's floor at the measured matmul peak is {g['floor_s']:.3f} s."]
    if kind == "gpu" and g:
        out += ["", f"**Goal** (width 1.0 at 1280x720 bf16 within {g['target']}x of the floor): best "
                f"{g['ratio']:.2f}x ({g['ms']:.1f} ms, {'compiled' if g['compile'] else 'eager'}), "
                f"{'met' if g['met'] else 'MISSED'}."]
    if res.get("profile"):
        p = res["profile"]
        out += ["", f"Profile of that row (torch.profiler, one forward; full table in `{p['file']}`): "
                + "; ".join(f"{o['op']} {100 * o['share']:.0f}% ({o['self_ms']:.0f} ms)" for o in p["top_ops"]) + "."]
        out += ["", "Per-convolution time (forward hooks, one pass):", ""]
        out.append(_table(p["layers"], [("layer", "layer"), ("in", "cin"), ("out", "cout"), ("k", "k"),
                                        ("output", "out"), ("ms", "ms"), ("GFLOP/s", "gflop_s")]))
    if res.get("tiled"):
        out += ["", "### Tiled inference of a 12 MP photo (4000x3000, uint8 in and out, `repro.deblur`)", ""]
        cols = [("device", "device"), ("width", "width"), ("dtype", "dtype"), ("tile", "tile"),
                ("overlap", "overlap"), ("GFLOP", "gflop"), ("seconds", "seconds")]
        if kind == "gpu":
            cols.append(("GPU peak MB", "gpu_peak_mb"))
        else:
            cols += [("peak RSS MB", "peak_rss_mb"), ("RSS before MB", "baseline_rss_mb")]
        out.append(_table(res["tiled"], cols))
    out += ["", "### Training, one optimiser step on random crops of the preset's size (data loading excluded)", ""]
    if res.get("train"):
        cols = [("preset", "preset"), ("width", "width"), ("batch", "batch"), ("crop", "crop"),
                ("precision", "precision"), ("s/step", "step_s"), ("images/s", "images_s"),
                ("GFLOP/step", "gflop"), ("floor s", "floor_s"), ("ratio", "ratio"),
                ("peak RSS MB", "peak_rss_mb"), ("skipped", "skipped")]
        if kind == "gpu":
            cols[-2] = ("GPU peak MB", "gpu_peak_mb")
        out.append(_table(res["train"], cols))
    else:
        out.append(res.get("train_note", "pending"))
    if kind == "cpu":
        out += ["", "### Dataset building and optical flow", ""]
        if res.get("build"):
            b = res["build"]
            out.append(f"`repro.wild.build_wild('virtual', pairs={b['pairs']}, workers={b['workers']})`: "
                       f"{b['seconds']:.1f} s, **{b['pairs_min']:.0f} accepted pairs/min** (goal >= 100).")
        else:
            out.append(f"Dataset building: {res.get('build_note', 'pending')}")
        out.append("")
        if res.get("flow"):
            out.append("Flow on a 427x240 pair (astronaut, shifted by (dx, dy) = (0.4, 0.3) px):")
            out.append("")
            out.append(_table(res["flow"], [("backend", "backend"), ("ms/pair", "ms"), ("pairs/s", "pairs_s"),
                                            ("median flow", "median_flow"), ("runs", "runs"),
                                            ("skipped", "skipped")]))
        else:
            out.append(f"Flow: {res.get('flow_note', 'pending')}")
        out += ["", "### Shift-search PSNR", ""]
        if res.get("shift"):
            cols = list(res["shift"][0].keys())
            out.append(f"From {res['shift_note']}:")
            out.append("")
            out.append(_table(res["shift"], [(c, c) for c in cols]))
        else:
            out.append(res.get("shift_note", "pending"))
    if res.get("skipped"):
        out += ["", "Skipped (time budget or failure):", ""] + [f"- {s}" for s in res["skipped"]]
    out += ["", f"This half took {res['elapsed_s']:.0f} s."]
    return "\n".join(out) + "\n"


def combine(out_dir: Path) -> Path:
    from repro.files import atomic_write_text

    parts = []
    for kind in ("cpu", "gpu"):
        p = out_dir / f"benchmarks_{kind}.md"
        parts.append(p.read_text() if p.exists() else
                     f"## {kind.upper()} half\n\npending: run `python benchmarks/run.py "
                     f"{'--cpu' if kind == 'cpu' else '--gpu-only'}` on a machine with "
                     f"{'a CPU' if kind == 'cpu' else 'a CUDA GPU'}.\n")
    text = ("# Benchmarks (issue 9)\n\nWritten by `benchmarks/run.py` (see its docstring and "
            "`benchmarks/README.md`); each half says how, where and when it was measured.\n\n"
            + "\n".join(parts))
    path = out_dir / "benchmarks.md"
    atomic_write_text(path, text)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    args = ap.parse_args(argv)

    if args.child:
        task = json.loads(args.child)
        fn = {"tiled": child_tiled, "train": child_train}[task["task"]]
        print(json.dumps(fn(task)))
        return 0
    if args.dry_run and args.out == ROOT / "results" / "benchmarks":
        args.out = Path(tempfile.mkdtemp(prefix="benchmarks-dry-run-"))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.combine:
        print(combine(args.out))
        return 0
    from repro.files import atomic_write_text

    halves = []
    if not (args.gpu_only or args.dry_run):
        halves.append("cpu")
    if args.gpu_only or args.dry_run or (not args.cpu and torch.cuda.is_available()):
        halves.append("gpu")
    for kind in halves:
        a = argparse.Namespace(**vars(args))
        if a.budget_s is None:
            a.budget_s = 270.0 if kind == "cpu" else (120.0 if args.quick else 480.0)
        res = cpu_half(a) if kind == "cpu" else gpu_half(a)
        # the command as recorded: paths inside the repository relative to it (see portable_path)
        res["argv"] = [portable_path(a) if os.path.isabs(a) else a for a in (sys.argv[1:] if argv is None else argv)]
        md = render(res, kind)
        atomic_write_text(args.out / f"benchmarks_{kind}.json", json.dumps(res, indent=1, default=str) + "\n")
        atomic_write_text(args.out / f"benchmarks_{kind}.md", md)
        print(md)
    print(combine(args.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
