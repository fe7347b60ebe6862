"""The ``python -m repro train`` command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ..io.files import atomic_write_text
from .config import TrainConfig, get_preset
from .logs import training_steps
from .loop import export_weights, train
from .placement import _dist_info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` command's arguments: defined in :mod:`repro.core.arguments` (torch-free, for a fast --help)."""
    from ..core.arguments import train_arguments

    train_arguments(parser)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    config = get_preset(args.preset)
    changes: dict[str, Any] = {}
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        changes[k.strip()] = v.strip()
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.max_minutes is not None:
        changes["max_minutes"] = args.max_minutes
    if args.steps_of is not None:
        changes["steps"] = training_steps(args.steps_of)
    return config.replace(**changes) if changes else config


def _command_line(args: argparse.Namespace) -> str:
    """The ``python -m repro train ...`` command that repeats this run."""
    parts = ["python -m repro train", f"--preset {args.preset}", f"--data {args.data}",
             f"--data-root {args.data_root}", f"--out {args.out}", f"--seed {args.seed}"]
    parts += [f"--val-root {root}" for root in args.val_root]
    parts += [f"--extra-root {root}" for root in args.extra_root]
    parts += [f"--short-root {root}" for root in args.short_root]
    if args.steps is not None:
        parts.append(f"--steps {args.steps}")
    if args.max_minutes is not None:
        parts.append(f"--max-minutes {args.max_minutes}")
    if args.steps_of is not None:
        parts.append(f"--steps-of {args.steps_of}")
    parts += [f"--set {item}" for item in args.set]
    if args.device != "auto":
        parts.append(f"--device {args.device}")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    config = config_from_args(args)
    result = train(config, data=args.data, data_root=args.data_root, out=args.out, device=args.device,
                   resume=args.resume, seed=args.seed, run_name=args.run, results_dir=args.results,
                   figures_dir=args.figures, val_root=args.val_root or None, extra_roots=args.extra_root,
                   short_roots=args.short_root, workers=args.workers)
    if _dist_info()[0] != 0:
        return 0
    gain = (None if result.final_psnr is None or result.input_psnr is None
            else result.final_psnr - result.input_psnr)
    summary = {
        "run": args.run or f"{config.name}_{args.data}", "steps": result.steps,
        "seconds_per_step": round(result.seconds_per_step, 4), "minutes": round(result.seconds / 60, 2),
        "final_psnr": result.final_psnr, "best_psnr": result.best_psnr, "input_psnr": result.input_psnr,
        "gain_db": gain, "peak_memory_mb": round(result.peak_memory_mb, 1),
        "checkpoint": str(result.checkpoint), "best_checkpoint": str(result.best_checkpoint),
        "log_csv": str(result.log_csv), "figure": str(result.figure) if result.figure else None,
    }
    atomic_write_text(Path(args.out) / "summary.json", json.dumps(summary, indent=2) + "\n")
    if args.export is not None:
        export_weights(result.best_checkpoint, args.export, command=_command_line(args),
                       minutes=summary["minutes"], seconds_per_step=summary["seconds_per_step"],
                       peak_memory_mb=summary["peak_memory_mb"])
    print(json.dumps(summary, indent=2))
    return 0
