"""``python -m repro render``: clips of the virtual camera written to folders (the GoPro layout)."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .photos import SPLITS  # numpy only: --help imports no torch
from .scene import KINDS

if TYPE_CHECKING:
    from .render import Clip

__all__ = ["write_clip", "parse_size", "add_arguments", "run"]

log = logging.getLogger(__name__)


def write_clip(clip: Clip, folder: str | Path) -> Path:
    """Write ``clip`` as ``folder/NNNNNN.png`` frames, ``folder/flows.npy`` ((T-1, H, W, 2) float32)
    and ``folder/meta.json`` (each file atomically). Returns ``folder``.

    The layout is that of ``GOPRO_Large_all/<split>/<scene>/``, so
    ``repro.io.video.open_sources(out, split)`` reads rendered clips back.
    """
    from ..io.files import atomic_path, atomic_write_text
    from ..io.images import write_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(clip.frames):
        write_image(folder / f"{i:06d}.png", frame)
    with atomic_path(folder / "flows.npy") as tmp:
        np.save(tmp, clip.flows)
    meta = {k: v for k, v in clip.meta.items() if k not in ("visible_layer", "subframes", "subframe_times")}
    meta.update(name=clip.name, seed=clip.seed, fps=clip.fps, n_frames=int(len(clip.frames)),
                flow_convention="forward (dx, dy) px from frame t to t+1, on frame t's grid; flows[t]")
    meta["size"] = list(meta.get("size", clip.frames.shape[1:3]))
    atomic_write_text(folder / "meta.json", json.dumps(meta, indent=2, default=float) + "\n")
    return folder


def parse_size(text: str) -> tuple[int, int]:
    """``"240x432"`` -> ``(240, 432)`` (an argparse type)."""
    try:
        h, w = text.lower().split("x")
        return int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW (e.g. 240x432), got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``render`` command's arguments (torch-free, for a fast ``--help``)."""
    parser.add_argument("out", type=Path, help="output folder: OUT/<split>/virtual_NNNN/{NNNNNN.png, flows.npy, meta.json}")
    parser.add_argument("--clips", type=int, default=4, help="number of clips (default 4)")
    parser.add_argument("--frames", type=int, default=120, help="frames per clip at 240 fps (default 120)")
    parser.add_argument("--size", type=parse_size, default=(240, 320), help="HxW of the frames (default 240x320)")
    parser.add_argument("--split", choices=SPLITS, default="train", help="photo set (default train)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip set (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--supersample", type=int, default=1, help="spatial supersampling factor (default 1)")
    parser.add_argument("--kind", choices=KINDS, default="random", help="clip kind (default random)")
    parser.add_argument("--peak-flow", type=float, default=None,
                        help="largest flow statistic between consecutive frames (p99 of |flow|), px/frame at "
                             "240 rows (default: drawn per clip, 0.3-1)")
    parser.add_argument("--speed", type=float, default=None,
                        help="instead of --peak-flow: the camera's mean flow, px/frame at 240 rows (objects keep theirs)")
    parser.add_argument("--photos", type=Path, default=None,
                        help="folder of JPEG/PNG photos to film instead of the bundled ones (split by file name)")
    parser.add_argument("--noise-std", type=float, default=0.0, help="sensor noise std (default 0)")
    parser.add_argument("--gamma", type=float, default=None, help="camera response exponent, e.g. 2.2 (default none)")
    parser.add_argument("--defocus", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="depth of field: one layer of each clip (drawn) out of focus, a disc of radius drawn "
                             "in [LOW, HIGH] px (default: all in focus)")
    parser.add_argument("--strip", type=Path, default=None, help="also write the strip figure to this PNG")


def run(args: argparse.Namespace) -> int:
    """Render ``args.clips`` clips into ``args.out/<split>/`` (and the strip figure with ``--strip``)."""
    from tqdm.auto import tqdm

    from .figure import virtual_camera_strip
    from .source import VirtualCamera

    if args.clips < 0:
        raise ValueError(f"--clips must be >= 0, got {args.clips}")
    cam = VirtualCamera(args.split, args.clips, args.frames, args.size, args.seed, args.device,
                        supersample=args.supersample, kind=args.kind, speed=args.speed, peak_flow=args.peak_flow,
                        photos=args.photos,
                        noise_std=args.noise_std, gamma=args.gamma, defocus=args.defocus)
    n_written = 0
    t0 = time.perf_counter()
    for source in tqdm(cam, desc="clips", unit="clip"):
        write_clip(source.clip, Path(args.out) / args.split / source.name)
        n_written += len(source)
        source.release()
    dt = time.perf_counter() - t0
    log.info("wrote %d clips (%d frames) to %s in %.1f s", len(cam), n_written, args.out, dt)
    if args.strip is not None:
        virtual_camera_strip(args.strip, seed=args.seed, size=args.size, device=args.device)
        log.info("wrote %s", args.strip)
    return 0
