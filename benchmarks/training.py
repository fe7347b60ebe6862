#!/usr/bin/env python
"""Training speed: one Adam step per preset of ``repro.train.PRESETS``, beside its floor (issue 9).

    python benchmarks/training.py --cpu --row-budget-s 120   # the CPU rows alone, printed (nothing written)
    python benchmarks/training.py --gpu-only --quick         # the GPU rows alone

A step is forward, ``multiscale_loss`` and backward on random crops of the preset's batch and crop
size (data loading excluded), as ``repro.train`` runs it (its precision, channels_last). CPU: every
preset in float32 and the CPU presets also in bf16, each in a fresh process (its own peak RSS),
skipped when 3 steps would overrun ``--row-budget-s``; GPU: every preset in its own precision.
The floor: 3x the forward FLOPs at the matmul peak of the row's dtype.
``benchmarks/run.py`` runs these rows within its halves.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import CPU_PRESETS_IN_BF16, Half, empty_cache, log, rss_mb, run_child, table, time_call  # noqa: E402
from benchmarks.halves import run_topic  # noqa: E402
from repro.core.model import DeblurNet, count_flops, multiscale_loss  # noqa: E402

COLUMNS = [("preset", "preset"), ("width", "width"), ("batch", "batch"), ("crop", "crop"),
           ("precision", "precision"), ("s/step", "step_s"), ("images/s", "images_s"),
           ("GFLOP/step", "gflop"), ("floor s", "floor_s"), ("ratio", "ratio"),
           ("peak RSS MB", "peak_rss_mb"), ("skipped", "skipped")]


def child_train(task: dict) -> dict:
    """(in a child process on the CPU, or in-process on a GPU) optimiser steps of a preset, in
    ``task["precision"]`` (default: the preset's, resolved on the device) as ``repro.train`` runs it."""
    from repro.core.precision import autocast, resolve_precision
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
    blurry = torch.rand(B, 3, c, c, generator=gen).to(device)  # (B, 3, c, c)
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

    base = rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_call(step, device, warmup=task["warmup"], reps=task["reps"])
    sec = statistics.median(times)
    res = {"preset": task["preset"], "width": cfg.width, "batch": B, "crop": c, "precision": precision,
           "channels_last": cl, "step_s": sec, "images_s": B / sec, "baseline_rss_mb": base,
           "peak_rss_mb": rss_mb("VmHWM"), "steps_timed": len(times)}
    if device.type == "cuda":
        res["gpu_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return res


def train_step_flops(preset: str) -> float:
    """Approximate FLOPs of one training step: 3x the forward (forward + backward)."""
    from repro.train import PRESETS

    cfg = PRESETS[preset]
    with torch.device("meta"):
        model = DeblurNet(cfg.model_config())
    return 3 * cfg.batch_size * count_flops(model, cfg.crop, cfg.crop)


def with_floor(row: dict, peak: dict[str, float]) -> dict:
    """A training row with its FLOPs per step, its floor (those FLOPs at the measured matmul peak
    of the row's own precision) and ratio = measured / floor."""
    if "step_s" not in row:
        return row
    flops = train_step_flops(row["preset"])
    floor = flops / peak["bf16" if row.get("precision") == "bf16" else "fp32"]
    return {**row, "gflop": flops / 1e9, "floor_s": floor, "ratio": row["step_s"] / floor}


def cpu_rows(half: Half) -> None:
    """``res["train"]``: every preset in float32, then the CPU presets in bf16 (autocast,
    channels_last; issue 27), whose estimate scales by the measured bf16 speed of a convolution
    (emulated bf16 is slower); each in a fresh process, for its own peak RSS."""
    res, args, budget = half.res, half.args, half.budget
    res["train"] = []
    try:
        from repro.train import PRESETS
        presets = list(PRESETS)
    except ImportError as exc:
        presets = []
        res["train_note"] = f"pending: repro.train.PRESETS not importable ({exc})"
    plan = [(name, "fp32") for name in presets] + [(n, "bf16") for n in CPU_PRESETS_IN_BF16 if n in presets]
    for name, precision in plan:
        slowdown = 1.0 if precision == "fp32" else max(1.0, 1.0 / res["precision"]["conv_bf16_speedup"])
        est = 3 * train_step_flops(name) * slowdown / half.rate + 5
        if est > min(args.row_budget_s, budget.left() - 60):
            res["train"].append({"preset": name, "precision": precision,
                                 "skipped": f"estimated {est:.0f} s for 3 steps on this CPU"})
            continue
        try:
            row = run_child({"task": "train", "preset": name, "device": "cpu", "warmup": 1, "reps": 2,
                             "precision": precision}, timeout=max(60, 4 * est))
            res["train"].append(with_floor(row, res["peak"]))
            log(f"  train {name} {precision}: {row['images_s']:.1f} img/s [{budget.elapsed():.0f} s]")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            res["train"].append({"preset": name, "precision": precision, "skipped": f"failed: {exc}"[:300]})


def gpu_rows(half: Half) -> None:
    """``res["train"]``: every preset (``--dry-run``: tiny-test only) in this process."""
    res = half.res
    res["train"] = []
    try:
        from repro.train import PRESETS
        for name in (["tiny-test"] if half.args.dry_run else PRESETS):
            res["train"].append(with_floor(child_train({"preset": name, "device": half.device.type, "warmup": 3,
                                                        "reps": 5 if half.args.quick else 20}), res["peak"]))
            empty_cache(half.device)
    except ImportError as exc:
        res["train_note"] = f"pending: repro.train.PRESETS not importable ({exc})"
    log(f"  training done ({half.budget.elapsed():.0f} s)")


def render_section(res: dict, kind: str) -> list[str]:
    """Markdown lines: the training table (GPU: GPU memory in place of RSS), or why there is none."""
    out = ["", "### Training, one optimiser step on random crops of the preset's size (data loading excluded)", ""]
    if not res.get("train"):
        return out + [res.get("train_note", "pending")]
    cols = list(COLUMNS)
    if kind == "gpu":
        cols[-2] = ("GPU peak MB", "gpu_peak_mb")
    return out + [table(res["train"], cols)]


def main(argv: list[str] | None = None) -> int:
    return run_topic(argv, __doc__.splitlines()[0], {"cpu": cpu_rows, "gpu": gpu_rows}, render_section)


if __name__ == "__main__":
    sys.exit(main())
