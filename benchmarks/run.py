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
  resolves to there (``repro.core.precision``; issue 27).
  Beside each row: FLOPs (``repro.core.model.count_flops``), the floor = FLOPs / measured peak (a large
  matmul in the same dtype on the same device), and measured / floor.
* The DeepDeblur peer (``repro.peers``) on the same inputs.
* Tiled inference of a 12 MP (4000x3000) photo: time and peak memory (CPU: peak RSS of a fresh
  process; GPU: ``torch.cuda.max_memory_allocated``).
* Training: images/s and peak memory per preset of ``repro.train.PRESETS`` (one optimiser step
  on random crops of the preset's size; data loading excluded); on the CPU in float32 for every
  preset and in bf16 (autocast, channels_last) for the CPU presets, each beside its floor at the
  matmul peak of its own dtype (3x the forward FLOPs per step).
* Dataset building (``repro.wild``): accepted pairs/min on the virtual camera; flow pairs/s per
  backend (``repro.wild.flow``) on 427x240 frames.
* Shift-search PSNR: ``benchmarks/shift_search.py``'s ``run()`` when present.

GPU timings synchronise before reading the clock. Rows whose estimated time would overrun the
time budget are listed as skipped, with the estimate, never silently dropped.

This file runs the halves and writes the report; the rows live by topic, each module runnable
alone with the same flags (it prints its section and writes nothing): ``inference.py``,
``tiled.py``, ``training.py``, ``pipeline.py`` (flow, building, shift search); ``halves.py`` starts
a half (header, matmul peaks, budget), ``report.py`` writes the markdown and JSON, ``common.py``
holds the shared helpers and the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import inference, pipeline, tiled, training  # noqa: E402
from benchmarks.common import default_budget_s, parser  # noqa: E402
from benchmarks.halves import start_cpu, start_gpu  # noqa: E402
from benchmarks.report import combine, write_half  # noqa: E402

CHILD_TASKS = {"tiled": tiled.child_tiled, "train": training.child_train}  # run_child's tasks


# each half's rows in order of importance, each run only if its estimate fits the budget:
# CPU: the goal row, the 12 MP photo, training, flow, building, shift search, then the other
# inference rows from cheap to expensive; GPU: eager rows with the compiled goal row, the tiled
# photo, training, then further compiled rows while the budget lasts, and the goal's best ratio
STEPS = {"cpu": (inference.cpu_goal_rows, tiled.cpu_rows, training.cpu_rows, pipeline.cpu_rows,
                 inference.cpu_other_rows),
         "gpu": (inference.gpu_eager_rows, tiled.gpu_rows, training.gpu_rows, inference.gpu_compile_rows,
                 inference.gpu_goal)}


def run_half(args: argparse.Namespace, kind: str) -> dict:
    """The record of one half (``kind`` "cpu" or "gpu"): its header, peaks and every topic's rows."""
    half = start_cpu(args) if kind == "cpu" else start_gpu(args)
    for step in STEPS[kind]:
        step(half)
    half.res["elapsed_s"] = half.budget.elapsed()
    return half.res


def halves_to_run(args: argparse.Namespace) -> list[str]:
    """``cpu`` unless ``--gpu-only`` or ``--dry-run``; ``gpu`` with those, or with no ``--cpu`` where CUDA is."""
    kinds = [] if args.gpu_only or args.dry_run else ["cpu"]
    if args.gpu_only or args.dry_run or (not args.cpu and torch.cuda.is_available()):
        kinds.append("gpu")
    return kinds


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    if args.child:
        task = json.loads(args.child)
        print(json.dumps(CHILD_TASKS[task["task"]](task)))
        return 0
    if args.dry_run and args.out == ROOT / "results" / "benchmarks":
        args.out = Path(tempfile.mkdtemp(prefix="benchmarks-dry-run-"))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.combine:
        print(combine(args.out))
        return 0
    for kind in halves_to_run(args):
        a = argparse.Namespace(**vars(args))
        a.budget_s = default_budget_s(args, kind)
        print(write_half(run_half(a, kind), kind, args.out, sys.argv[1:] if argv is None else argv))
    print(combine(args.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
