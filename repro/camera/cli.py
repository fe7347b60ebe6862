"""``python -m repro render``: clips of the virtual camera written to folders (the GoPro layout)."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from .figure import virtual_camera_strip
from .render import Clip
from .source import VirtualCamera

__all__ = ["write_clip", "add_arguments", "run"]

log = logging.getLogger(__name__)


def write_clip(clip: Clip, folder: str | Path) -> Path:
    """Write ``clip`` as ``folder/NNNNNN.png`` frames, ``folder/flows.npy`` ((T-1, H, W, 2) float32)
    and ``folder/meta.json`` (each file atomically). Returns ``folder``.

    The layout is that of ``GOPRO_Large_all/<split>/<scene>/``, so
    ``repro.video.open_sources(out, split)`` reads rendered clips back.
    """
    from ..files import atomic_path, atomic_write_text
    from ..images import write_image

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``render`` command's arguments: defined in :mod:`repro.cli` (torch-free, for a fast --help)."""
    from ..cli import render_arguments

    render_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Render ``args.clips`` clips into ``args.out/<split>/`` (and the strip figure with ``--strip``)."""
    from tqdm.auto import tqdm

    if args.clips < 0:
        raise ValueError(f"--clips must be >= 0, got {args.clips}")
    cam = VirtualCamera(args.split, args.clips, args.frames, args.size, args.seed, args.device,
                        supersample=args.supersample, kind=args.kind, speed=args.speed, peak_flow=args.peak_flow,
                        photos=args.photos,
                        noise_std=args.noise_std, gamma=args.gamma)
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
