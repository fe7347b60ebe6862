"""``python -m repro build-wild``: the WILD builder's command line (numpy only: ``--help`` stays fast)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from .flow import BACKENDS
from .build import DEFAULT_VIRTUAL_PAIRS, VIRTUAL_DOWNSAMPLE, build_wild
from .manifest import read_manifest
from .recipe import BuildConfig

__all__ = ["add_arguments", "virtual_options", "run"]

log = logging.getLogger(__name__)

_DEFAULTS = BuildConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``build-wild``; their defaults are :class:`BuildConfig`'s."""
    parser.add_argument("source", help="'virtual' (the virtual 240 fps camera), a frame folder, a video file, "
                                       "or a GOPRO_Large_all root")
    parser.add_argument("out", type=Path, help="output folder (GoPro layout + manifest.csv)")
    parser.add_argument("--split", default=_DEFAULTS.split,
                        help="output split (and GOPRO_Large_all split / virtual photo set)")
    parser.add_argument("--pairs", type=int, default=None,
                        help=f"stop at this many accepted pairs (virtual default {DEFAULT_VIRTUAL_PAIRS})")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                        help="seed of the window lengths N (and of the virtual clips)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes working on scenes in parallel (default: min(2, cores))")
    parser.add_argument("--downsample", type=int, default=None,
                        help=f"area-average factor (default {_DEFAULTS.downsample}; "
                             f"{VIRTUAL_DOWNSAMPLE} for 'virtual', which renders at 240x320)")
    parser.add_argument("--n-min", type=int, default=_DEFAULTS.n_range[0], help="smallest N (odd)")
    parser.add_argument("--n-max", type=int, default=_DEFAULTS.n_range[1], help="largest N (odd)")
    parser.add_argument("--n-weights", type=float, nargs="+", default=None, metavar="W",
                        help="relative weights of the odd N from --n-min to --n-max, smallest first "
                             "(default: all alike)")
    parser.add_argument("--max-flow", type=float, default=_DEFAULTS.max_flow,
                        help="accept windows whose flow statistic <= this (px)")
    parser.add_argument("--flow-percentile", type=float, default=_DEFAULTS.flow_percentile,
                        help="the flow statistic (100 = max)")
    parser.add_argument("--max-match-error", type=float, default=_DEFAULTS.max_match_error,
                        help="reject windows with a larger frame-matching error (negative: never)")
    parser.add_argument("--flow-backend", default=_DEFAULTS.flow_backend, choices=BACKENDS + ("true",),
                        help="optical flow (default %(default)s); 'true': the virtual camera's own flow")
    parser.add_argument("--linear", action="store_true", help="average in linear light (gamma 2.2), as blur_gamma")
    parser.add_argument("--gap", type=int, default=_DEFAULTS.gap,
                        help="frames skipped between windows (negative: overlap)")
    parser.add_argument("--no-resync", action="store_true",
                        help="after a rejected window go on after it, not just after its offending frame pair")
    parser.add_argument("--save-blursize", action="store_true", help="write per-pixel blur-size maps (.npy)")
    parser.add_argument("--clip-frames", type=int, default=None,
                        help="virtual camera: frames per clip (default: each clip is one window of N frames)")
    parser.add_argument("--photos", type=Path, default=None,
                        help="virtual camera: folder of JPEG/PNG photos instead of the bundled ones "
                             "(split into train/val/test by file name)")
    parser.add_argument("--magnification", default=None, type=_magnification,
                        help="virtual camera: output pixels per photo pixel, or 'multi' (every scale from the "
                             "whole photo in frame up to the default's top: many scenes per large photo; "
                             "default: drawn from 0.6-0.75)")
    parser.add_argument("--virtual-peak-flow", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="virtual camera: draw each clip's peak flow in this range, px/frame at 240 rows "
                             "(default 0.3 1.0; e.g. 0.1 0.5, a slow sway, for near-sharp pairs)")
    parser.add_argument("--virtual-device", default=None, help="virtual camera: render on this device (e.g. cuda)")
    parser.add_argument("--virtual-supersample", type=int, default=None,
                        help="virtual camera: spatial supersampling of the renderer (its default 1: photos are area-averaged to the frame first)")
    parser.add_argument("--virtual-defocus", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="virtual camera: depth of field: one layer of each clip (the background or an "
                             "object, drawn per clip) out of focus, a disc of radius drawn in [LOW, HIGH] px of the "
                             "pairs, the same in every frame (default: all in focus)")
    parser.add_argument("--max-scenes", type=int, default=None,
                        help="read at most this many scenes (videos, folders, clips) of the source")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="start no scene after this many minutes (the build stops short of --pairs, "
                             "with a warning; the same command later resumes it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs)")


def _magnification(text: str) -> float | str:
    """``"multi"`` or a number > 0 (an argparse type)."""
    if text == "multi":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"magnification must be a number > 0 or 'multi', got {text!r}")
    return value


def virtual_options(args: argparse.Namespace) -> dict:
    """The virtual camera's options (``BuildConfig.virtual``) the parsed ``args`` give: only those
    given, so that a build without them records (and resumes) the same ``build.json`` as before."""
    virtual = {"n_frames": args.clip_frames} if args.clip_frames else {}
    if args.photos:
        if not args.photos.is_dir():
            raise FileNotFoundError(f"--photos {args.photos}: no such folder")
        virtual["photos"] = str(args.photos.resolve())
    if args.magnification is not None:
        virtual["magnification"] = args.magnification
    if args.virtual_supersample:
        virtual["supersample"] = args.virtual_supersample
    if args.virtual_device:
        virtual["device"] = args.virtual_device
    if args.virtual_peak_flow:
        virtual["peak_flow_range"] = list(args.virtual_peak_flow)
    if args.virtual_defocus is not None:
        virtual["defocus"] = [float(v) for v in args.virtual_defocus]
    return virtual


def run(args: argparse.Namespace) -> int:
    """Build the dataset the parsed ``args`` describe; logs how many pairs were accepted."""
    virtual = virtual_options(args)
    manifest = build_wild(args.source, args.out, split=args.split, pairs=args.pairs, seed=args.seed,
                          workers=args.workers, downsample=args.downsample, n_range=(args.n_min, args.n_max),
                          n_weights=tuple(args.n_weights or ()),
                          max_flow=args.max_flow, flow_percentile=args.flow_percentile,
                          max_match_error=None if args.max_match_error < 0 else args.max_match_error,
                          linear=args.linear, flow_backend=args.flow_backend, gap=args.gap,
                          resync=not args.no_resync,
                          save_blursize=args.save_blursize, virtual=virtual, max_scenes=args.max_scenes, max_minutes=args.max_minutes,
                          progress=not args.no_progress)
    rows = [r for r in read_manifest(manifest) if r["split"] == args.split]
    n_acc = sum(r["accepted"] for r in rows)
    log.info("%s: %d windows tried, %d accepted pairs", manifest, len(rows), n_acc)
    return 0
