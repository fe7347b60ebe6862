"""``python -m repro evaluate``: Table 2 (and Fig. 4 with ``--fig4``) from the command line."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import methods as methods_table
from ..core.precision import PRECISIONS
from .fig4 import figure4
from .method import make_method
from .runner import evaluate

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``evaluate``."""
    parser.add_argument("--methods", default=",".join(methods_table.keys()),
                        help=f"comma-separated methods (default: all of {','.join(methods_table.keys())})")
    parser.add_argument("--data", required=True, type=Path, help="GoPro-layout folder: DATA/<split>/<scene>/{blur,sharp}")
    parser.add_argument("--split", default="test", help="split folder to evaluate (default: test)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    parser.add_argument("--n-random", type=int, default=15, help="size of the seeded random subset (default: 15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random subset (default: 0)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only a seeded subset of N images")
    flags = set()  # --checkpoint-wild, --checkpoint-si, --checkpoint-sun (methods may share one)
    for spec in methods_table.METHODS.values():
        if spec.checkpoint_flag and spec.checkpoint_flag not in flags:
            flags.add(spec.checkpoint_flag)
            parser.add_argument(spec.checkpoint_flag, type=Path, default=None,
                                help=f"weights of {spec.label} (default: shipped)")
    parser.add_argument("--device", default="auto", help="device for DeblurNet (default: auto)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="DeblurNet's arithmetic: auto (default; bf16 where the device computes it natively, "
                             "else float32), fp32 or bf16; bf16 rows are kept apart from float32 ones on --resume")
    parser.add_argument("--workers", type=int, default=None, help="processes for CPU-bound methods (default: min(4, cores))")
    parser.add_argument("--shift-radius", type=int, default=10, help="radius of the shift-search PSNR (0 = off)")
    parser.add_argument("--save-outputs", choices=("random", "all", "none"), default="random",
                        help="which deblurred images to save under OUT/outputs (default: random)")
    parser.add_argument("--resume", action="store_true", help="reuse rows of an existing per-image CSV")
    parser.add_argument("--preset", default=None, help="training preset of the checkpoints, for the provenance line")
    parser.add_argument("--fig4", type=Path, default=None, help="also write Fig. 4 to this path (e.g. figures/fig4.png)")


def _takes_precision(name: str) -> bool:
    """Whether method ``name`` takes ``precision``: the networks, i.e. the methods that take a device (DeblurNet)."""
    return name in methods_table.METHODS and methods_table.METHODS[name].takes_device


def run(args: argparse.Namespace) -> int:
    """Evaluate the methods of ``args``, write the tables (and Fig. 4), print the Markdown table."""
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    if not names:
        raise ValueError("--methods is empty")
    checkpoints = {key: getattr(args, spec.checkpoint_flag.lstrip("-").replace("-", "_"))
                   for key, spec in methods_table.METHODS.items() if spec.checkpoint_flag}
    methods = [make_method(n, checkpoint=checkpoints.get(n), device=args.device,
                           **({"precision": args.precision} if _takes_precision(n) else {})) for n in names]
    try:
        from ..io.provenance import provenance as _prov

        prov = _prov(preset=args.preset, device=args.device, seed=args.seed)
    except Exception as exc:
        log.warning("could not collect provenance: %s", exc)
        prov = {"preset": args.preset, "device": args.device, "seed": args.seed}
    nets = [m for m in methods if hasattr(m, "precision")]
    if nets:  # what "auto" became on this device, e.g. precision=fp32 (auto)
        used = sorted({m.precision for m in nets})
        prov["precision"] = ",".join(used) + (f" ({args.precision})" if args.precision == "auto" else "")
    result = evaluate(methods, args.data, split=args.split, n_random=args.n_random, seed=args.seed, out=args.out,
                      workers=args.workers, limit=args.limit, shift_radius=args.shift_radius,
                      save_outputs=args.save_outputs, resume=args.resume, provenance=prov)
    for path in result["files"].values():
        log.info("wrote %s", path)
    if args.fig4 is not None:
        for path in figure4(methods, args.data, split=args.split, seed=args.seed, n_random=args.n_random,
                            out=args.fig4, results=args.out):
            log.info("wrote %s", path)
    print(result["markdown"])
    return 0
