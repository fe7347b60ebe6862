"""The ``python -m repro ablate`` command."""

from __future__ import annotations

import argparse
from pathlib import Path

from .study import run_study
from .variants import SIZE_PRESET, SIZES, VARIANT_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", choices=list(SIZES), default="full",
                        help="full (default: 8 runs of 1500 steps at width 0.25, 1.5-2 h on 2 CPU cores) or "
                             "smoke (seconds, for tests)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="standard WILD dataset (built when missing; default data/wild for full, "
                             "data/wild-smoke for smoke); variants' own sets go to <data-root>-ablations/")
    for option, what, full, smoke in (("--runs", "training runs", "runs/ablations", "runs/smoke/ablations"),
                                      ("--results", "ablations.md/.csv", "results/", "results/smoke/"),
                                      ("--figures", "ablations.png", "figures/", "figures/smoke/")):
        parser.add_argument(option, type=Path, default=None,
                            help=f"{what} (default {full} for full, {smoke} for smoke)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every variant (paper-seed1: seed + 1)")
    parser.add_argument("--only", default=None, help=f"comma-separated variants ({', '.join(VARIANT_NAMES)})")
    parser.add_argument("--report-only", action="store_true", help="train nothing: report the variants done")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=2, help="threads reading the dataset")


def run(args: argparse.Namespace) -> int:
    from ..io.paths import output_dirs

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    where = output_dirs(SIZE_PRESET[args.size])
    report = run_study(args.size, data_root=args.data_root or where["data_root"],
                       runs_dir=args.runs or where["runs"] / "ablations",
                       results_dir=args.results or where["results"], figures_dir=args.figures or where["figures"],
                       device=args.device, seed=args.seed,
                       variants=[v.strip() for v in args.only.split(",") if v.strip()] if args.only else None,
                       train=not args.report_only, workers=args.workers)
    if report is None:
        print("no variant done yet", flush=True)
        return 0
    for line in report["claims"]:
        print(line)
    print(f"report: {report['markdown']}")
    return 0
