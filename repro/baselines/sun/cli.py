"""``python -m repro train-sun``: train the patch CNN (and draw the motion-field figure)."""

from __future__ import annotations

import argparse
import logging

from .figure import figure_motion_field
from .training import train_sun

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train-sun`` command's arguments: defined in :mod:`repro.core.arguments` (torch-free, for a fast --help)."""
    from ...core.arguments import train_sun_arguments

    train_sun_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Train with the options of ``args``; log the held-out patch accuracy; draw ``--figure``."""
    command = (
        f"python -m repro train-sun --out {args.out} --steps {args.steps} --seed {args.seed}"
        + (f" --batch {args.batch}" if args.batch != 128 else "")
        + (f" --lr {args.lr}" if args.lr != 1e-3 else "")
        + (f" --threads {args.threads}" if args.threads else "")
    )
    card = train_sun(args.out, steps=args.steps, seed=args.seed, batch=args.batch, lr=args.lr,
                     eval_patches=args.eval_patches, threads=args.threads, command=command)
    acc = card["heldout_patch_accuracy"]
    log.info("wrote %s: held-out patch accuracy exact %.3f, within one step %.3f",
             args.out, acc["exact"], acc["within_one_step"])
    if args.figure is not None:
        figure_motion_field(args.figure, checkpoint=args.out)
        log.info("wrote %s", args.figure)
    return 0
