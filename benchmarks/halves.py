"""Starting a half of the benchmarks: the device's header (provenance, CPU, load average), its
matmul peaks (the floors' denominators) and its budget; and running one topic's rows alone (what
each topic module's ``main`` does)."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.common import (DRY_RUN_PHOTO, DRY_RUN_SIZES, ROOT, Budget, Half, default_budget_s, fp32_mode, log,
                               matmul_peak, parser)

Rows = Callable[[Half], None]  # a topic's rows: run into half.res


def header(device: torch.device) -> dict:
    """Provenance of a half (date, versions, commit) with the CPU's name, torch's threads and the
    load average at its start; CUDA and cuDNN versions on a GPU."""
    from repro.io.provenance import provenance

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


def start_cpu(args: argparse.Namespace) -> Half:
    """The CPU half: header, precision (``repro.core.precision``), fp32 and bf16 matmul peaks; the budget
    starts after the peaks (a fixed cost)."""
    from repro.core.precision import bf16_speedup, cpu_has_native_bf16, describe_cpu, resolve_precision

    device = torch.device("cpu")
    res: dict = {"header": header(device), "inference": [], "skipped": [], "notes": []}
    res["precision"] = {"cpu": describe_cpu(), "auto": resolve_precision("auto", device),
                        "conv_bf16_speedup": bf16_speedup("cpu")}
    log(f"CPU half: {torch.get_num_threads()} threads, budget {args.budget_s:.0f} s; {res['precision']}")
    peak = matmul_peak(device, torch.float32, 2048, reps=10)
    # emulated bf16 (no AMX or AVX512-BF16) multiplies at well under 1 GFLOP/s: a 512^2 matmul
    # measures that rate in seconds where 2048^2 would take minutes
    n_bf16 = 2048 if cpu_has_native_bf16() else 512
    res["peak"] = {"fp32": peak, "bf16": matmul_peak(device, torch.bfloat16, n_bf16, reps=10)}
    if n_bf16 != 2048:
        res["notes"].append(f"bf16 peak measured on a {n_bf16}^2 matmul (this CPU emulates bf16)")
    half = Half("cpu", device, args, Budget(args.budget_s), res, rate=0.3 * peak)
    log(f"  matmul peak fp32 {peak / 1e9:.1f}, bf16 {res['peak']['bf16'] / 1e9:.1f} GFLOP/s")
    return half


def start_gpu(args: argparse.Namespace) -> Half:
    """The GPU half: fp32, tf32 and bf16 matmul peaks on the GPU (``--dry-run``: on the CPU, at tiny
    sizes, numbers that mean nothing); the budget includes the peaks."""
    if args.dry_run:
        device, sizes, photo, n = torch.device("cpu"), DRY_RUN_SIZES, DRY_RUN_PHOTO, 256
    elif not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: the GPU half needs one (use --cpu for the CPU half)")
    else:
        device, sizes, photo, n = torch.device("cuda"), None, None, 8192
    torch.backends.cudnn.benchmark = True
    budget = Budget(args.budget_s)
    res: dict = {"header": header(device), "inference": [], "skipped": [], "notes": []}
    log(f"GPU half on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu (dry run)'}, "
        f"budget {args.budget_s:.0f} s")
    with fp32_mode("ieee"):
        p32 = matmul_peak(device, torch.float32, n, reps=5)
    with fp32_mode("tf32"):
        ptf = matmul_peak(device, torch.float32, n, reps=5)
    pbf = matmul_peak(device, torch.bfloat16, n, reps=10)
    res["peak"] = {"fp32": p32, "tf32": ptf, "bf16": pbf}
    log(f"  peaks TFLOP/s: fp32 {p32 / 1e12:.1f}, tf32 {ptf / 1e12:.1f}, bf16 {pbf / 1e12:.1f} "
        f"({budget.elapsed():.0f} s)")
    half = Half("gpu", device, args, budget, res)
    if sizes is not None:
        half.sizes, half.photo = dict(sizes), photo
    return half


def run_topic(argv: list[str] | None, description: str, rows: dict[str, Rows],
              render: Callable[[dict, str], list[str]]) -> int:
    """A topic module's ``main``: start the half that ``--cpu`` / ``--gpu-only`` / ``--dry-run`` name
    (CPU by default), run ``rows[kind]`` alone and print its markdown section. Nothing is written into
    ``results/``: with the default ``--out`` side files (the profile) go to a temporary folder."""
    ap = parser(description)
    args = ap.parse_args(argv)
    if args.combine or args.child:
        ap.error("--combine belongs to benchmarks/run.py")
    kind = "gpu" if args.gpu_only or args.dry_run else "cpu"
    if kind not in rows:
        ap.error(f"this topic has no {kind.upper()} rows: use --cpu")
    if args.out == ROOT / "results" / "benchmarks":
        args.out = Path(tempfile.mkdtemp(prefix="benchmarks-topic-"))
    args.budget_s = default_budget_s(args, kind)
    half = start_cpu(args) if kind == "cpu" else start_gpu(args)
    rows[kind](half)
    res = half.res
    lines = render(res, kind)
    if res["skipped"]:
        lines += ["", "Skipped (time budget or failure):", ""] + [f"- {s}" for s in res["skipped"]]
    print("\n".join(lines + ["", f"These rows took {half.budget.elapsed():.0f} s."]))
    return 0
