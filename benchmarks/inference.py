#!/usr/bin/env python
"""Inference speed of DeblurNet and the DeepDeblur peer at batch 1 (issue 9), beside each row's floor.

    python benchmarks/inference.py --cpu                 # the CPU rows alone, printed (nothing written)
    python benchmarks/inference.py --gpu-only --quick    # the GPU rows alone

CPU: the goal row (width 0.25 at 432x240) in fp32, BN-folded, channels_last and bf16, bf16 as
``repro.deblur(precision="bf16")`` runs it at widths 0.25 and 0.5, profiled when the goal is missed;
then the other widths and sizes while the budget lasts. GPU: every row in fp32, tf32 and bf16 with
channels_last (eager), ``torch.compile`` of the goal row, then of further rows while the budget lasts.
``benchmarks/run.py`` runs these rows within its halves.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import (CPU_GOAL_S, GPU_GOAL_RATIO, SIZES, WIDTHS, Half, build, empty_cache,  # noqa: E402
                               fp32_mode, log, model_flops, sync, table, time_call)
from benchmarks.halves import run_topic  # noqa: E402

COLUMNS = [("model", "model"), ("width", "width"), ("size", "size"), ("dtype", "dtype"), ("autocast", "autocast"),
           ("channels_last", "channels_last"), ("compile", "compile"), ("BN folded", "bn_folded"),
           ("ms/image", "ms"), ("MP/s", "mp_s"), ("GFLOP", "gflop"), ("floor ms", "floor_ms"), ("ratio", "ratio"),
           ("TFLOP/s", "achieved_tflop_s"), ("runs", "runs"), ("compile s", "compile_s")]


def bench_inference(arch: str, width: float, size: str, device: torch.device, *, mode: str, peak: float,
                    hw: tuple[int, int] | None = None, channels_last: bool = False, compile_: bool = False,
                    fold_bn: bool = False, warmup: int = 1, reps: int = 3, min_time: float = 0.0,
                    autocast_: bool = False) -> dict:
    """One inference row on a (1, 3, H, W) input, (H, W) = ``hw`` or ``SIZES[size]``: ms/image, MP/s,
    FLOPs, floor, ratio. ``fold_bn``: batch norm folded into the convolutions
    (``repro.core.inference.fold_batchnorm``, what ``repro.deblur`` runs). ``autocast_`` (with
    ``mode="bf16"``): float32 weights and input under bf16 autocast, as ``repro.deblur(precision="bf16")``
    runs, instead of a model cast to bf16."""
    from repro.core.inference import fold_batchnorm

    if autocast_ and mode != "bf16":
        raise ValueError(f"autocast_ needs mode='bf16', got {mode!r}")
    h, w = hw or SIZES[size]
    model = build(arch, width).eval()
    if fold_bn:
        model = fold_batchnorm(model)
    dtype = torch.bfloat16 if mode == "bf16" and not autocast_ else torch.float32
    model = model.to(device).to(dtype)
    x = torch.rand(1, 3, h, w, device=device, dtype=dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if compile_:
        model = torch.compile(model, dynamic=False)

    def fn() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast_):
            return model(x).restored

    t_compile = None
    with fp32_mode("tf32" if mode == "tf32" else "ieee"):
        if compile_:
            t0 = time.perf_counter()
            fn()
            sync(device)
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
    """torch.profiler of one CPU forward pass; writes the op table to ``path``; returns the top ops."""
    from torch.profiler import ProfilerActivity, profile

    h, w = SIZES[size]
    model = build("DeblurNet", width).eval()
    x = torch.rand(1, 3, h, w)
    with torch.inference_mode():
        model(x)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            model(x)
    text = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# torch.profiler, DeblurNet width {width} at {size}, CPU fp32, "
                    f"{torch.get_num_threads()} threads\n\n{text}\n")
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


# ----------------------------------------------------------------------------- the CPU rows

def cpu_row(half: Half, arch: str, width: float, size: str, *, force: bool = False, fold_bn: bool = False,
            mode: str = "fp32", channels_last: bool = False, autocast_: bool = False) -> None:
    """One CPU row if its estimate (at ``half.rate``) fits the budget or ``force``; else a skip line.
    Cheap rows (under 3 s) run 5+ times after a warm-up, others once."""
    res, budget = half.res, half.budget
    h, w = SIZES[size]
    flops = model_flops(arch, width, h, w)
    cheap = flops / half.rate < 3
    warmup, reps = (1, 5) if cheap else (0, 1)
    est = flops * (warmup + reps) / half.rate
    label = (f"{arch} w{width} {size}" if arch == "DeblurNet" else f"{arch} {size}") + f" {mode}" + \
        (" autocast" if autocast_ else "") + (" channels_last" if channels_last else "") + \
        (" BN-folded" if fold_bn else "")
    if not force and not budget.fits(est):
        res["skipped"].append(f"{label}: estimated {est:.0f} s at {half.rate / 1e9:.0f} GFLOP/s "
                              f"(budget left {budget.left():.0f} s)")
        log(f"  skip {label} (est {est:.0f} s)")
        return
    row = bench_inference(arch, width, size, half.device, mode=mode, peak=res["peak"][mode], warmup=warmup,
                          reps=reps, min_time=1.0 if cheap else 0.0, fold_bn=fold_bn,
                          channels_last=channels_last, autocast_=autocast_)
    if mode == "fp32" and not channels_last:
        half.rate = row["achieved_tflop_s"] * 1e12
    res["inference"].append(row)
    log(f"  {label}: {row['ms']:.0f} ms ({row['ratio']:.1f}x floor) [{budget.elapsed():.0f} s]")


def cpu_goal_rows(half: Half) -> None:
    """The goal row four ways (its best is ``res["goal"]``), bf16 as ``repro.deblur`` runs it at the
    goal's width and at the shipped DeblurNet^WILD's width 0.5 beside its fp32 row; the profile."""
    goal_row = ("DeblurNet", 0.25, "432x240")
    cpu_row(half, *goal_row, force=True)
    cpu_row(half, *goal_row, force=True, fold_bn=True)
    cpu_row(half, *goal_row, force=True, fold_bn=True, channels_last=True)
    cpu_row(half, *goal_row, force=True, fold_bn=True, channels_last=True, mode="bf16")
    goal = min(half.res["inference"][-4:], key=lambda r: r["ms"])
    half.res["goal"] = {"seconds": goal["ms"] / 1e3, "target": CPU_GOAL_S, "met": goal["ms"] / 1e3 < CPU_GOAL_S,
                        "floor_s": goal["floor_ms"] / 1e3, "bn_folded": goal["bn_folded"], "dtype": goal["dtype"],
                        "channels_last": goal["channels_last"]}
    cpu_row(half, *goal_row, force=True, fold_bn=True, channels_last=True, mode="bf16", autocast_=True)
    cpu_row(half, "DeblurNet", 0.5, "432x240", force=True, fold_bn=True)
    cpu_row(half, "DeblurNet", 0.5, "432x240", force=True, fold_bn=True, channels_last=True, mode="bf16",
            autocast_=True)
    if not half.res["goal"]["met"] or half.args.profile:
        prof_path = Path(half.args.out) / "benchmarks_cpu_profile.txt"
        half.res["profile"] = {"top_ops": profile_forward(0.25, "432x240", prof_path), "file": prof_path.name,
                               "layers": conv_layer_breakdown(0.25, "432x240")}


def cpu_other_rows(half: Half) -> None:
    """The other widths and sizes, cheap to expensive, the peer beside DeblurNet, while the budget lasts."""
    for arch, width, size in [("DeblurNet", 0.5, "432x240"), ("DeblurNet", 0.25, "1280x720"),
                              ("DeblurNet", 1.0, "432x240"), ("DeepDeblur", 1.0, "432x240"),
                              ("DeblurNet", 0.5, "1280x720"), ("DeblurNet", 1.0, "1280x720"),
                              ("DeepDeblur", 1.0, "1280x720")]:
        cpu_row(half, arch, width, size)


def cpu_rows(half: Half) -> None:
    cpu_goal_rows(half)
    cpu_other_rows(half)


# ----------------------------------------------------------------------------- the GPU rows

def gpu_reps(half: Half) -> tuple[int, int]:
    """(warm-up calls, timed calls) of a GPU row: fewer with ``--quick``."""
    return (2, 5) if half.args.quick else (3, 20)


def gpu_compile_row(half: Half, arch: str, width: float, size: str, mode: str) -> None:
    """A ``torch.compile`` row if ``--compile-reserve-s`` of the budget is left; a failed compile is
    listed as skipped."""
    res, budget = half.res, half.budget
    if budget.left() < half.args.compile_reserve_s:
        res["skipped"].append(f"compile {arch} w{width} {size} {mode}: time budget "
                              f"({budget.left():.0f} s left)")
        return
    warmup, reps = gpu_reps(half)
    try:
        row = bench_inference(arch, width, size, half.device, mode=mode, peak=res["peak"][mode],
                              hw=half.sizes[size], channels_last=True, compile_=True, warmup=warmup, reps=reps)
        res["inference"].append(row)
        log(f"  compiled {arch} w{width} {size} {mode}: {row['ms']:.1f} ms, compile {row['compile_s']:.0f} s "
            f"({budget.elapsed():.0f} s)")
    except Exception as exc:  # noqa: BLE001 - report a failed compile, keep the eager table
        res["skipped"].append(f"compile {arch} w{width} {size} {mode}: failed: {type(exc).__name__}: {exc}"[:300])
    empty_cache(half.device)


def gpu_eager_rows(half: Half) -> None:
    """Every dtype x width x size eagerly, DeblurNet and the peer; right after the bf16 ones the
    BN-folded and the compiled goal row, so that they are measured whatever the budget."""
    res, device = half.res, half.device
    warmup, reps = gpu_reps(half)
    for mode in ("bf16", "tf32", "fp32"):
        for size in SIZES:
            for arch, width in [("DeblurNet", w) for w in WIDTHS] + [("DeepDeblur", 1.0)]:
                res["inference"].append(bench_inference(arch, width, size, device, mode=mode, peak=res["peak"][mode],
                                                        hw=half.sizes[size], channels_last=True, warmup=warmup,
                                                        reps=reps))
        log(f"  eager {mode} done ({half.budget.elapsed():.0f} s)")
        empty_cache(device)
        if mode == "bf16":
            res["inference"].append(bench_inference("DeblurNet", 1.0, "1280x720", device, mode="bf16",
                                                    peak=res["peak"]["bf16"], hw=half.sizes["1280x720"],
                                                    channels_last=True, fold_bn=True, warmup=warmup, reps=reps))
            gpu_compile_row(half, "DeblurNet", 1.0, "1280x720", "bf16")


def gpu_compile_rows(half: Half) -> None:
    """Further ``torch.compile`` rows while the budget lasts (each compile takes tens of seconds);
    without ``--quick`` every width and size."""
    plan = [("DeepDeblur", 1.0, "1280x720", "bf16"), ("DeblurNet", 1.0, "1280x720", "tf32"),
            ("DeblurNet", 1.0, "1280x720", "fp32")]
    if not half.args.quick:
        plan += [("DeblurNet", w, s, "bf16") for w in WIDTHS for s in SIZES if (w, s) != (1.0, "1280x720")]
        plan += [("DeepDeblur", 1.0, "432x240", "bf16")]
    for arch, width, size, mode in plan:
        gpu_compile_row(half, arch, width, size, mode)


def gpu_goal(half: Half) -> None:
    """``res["goal"]``: the best ratio of full-width DeblurNet at 1280x720 in bf16, eager or compiled."""
    goal = [r for r in half.res["inference"] if r["model"] == "DeblurNet" and r["width"] == 1.0
            and r["size"] == "1280x720" and r["dtype"] == "bf16"]
    best = min(goal, key=lambda r: r["ratio"])
    half.res["goal"] = {"ratio": best["ratio"], "target": GPU_GOAL_RATIO, "met": best["ratio"] <= GPU_GOAL_RATIO,
                        "compile": best["compile"], "ms": best["ms"]}


def gpu_rows(half: Half) -> None:
    gpu_eager_rows(half)
    gpu_compile_rows(half)
    gpu_goal(half)


# ----------------------------------------------------------------------------- report

def render_section(res: dict, kind: str) -> list[str]:
    """Markdown lines: the inference table, the goal, and on the CPU the profile when there is one."""
    out = ["### Inference, batch 1 (eval mode)", "",
           "floor = FLOPs / measured matmul peak in the same dtype; ratio = measured / floor.", "",
           table(res["inference"], COLUMNS)]
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
        out.append(table(p["layers"], [("layer", "layer"), ("in", "cin"), ("out", "cout"), ("k", "k"),
                                       ("output", "out"), ("ms", "ms"), ("GFLOP/s", "gflop_s")]))
    return out


def main(argv: list[str] | None = None) -> int:
    return run_topic(argv, __doc__.splitlines()[0], {"cpu": cpu_rows, "gpu": gpu_rows}, render_section)


if __name__ == "__main__":
    sys.exit(main())
