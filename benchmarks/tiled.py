#!/usr/bin/env python
"""Tiled inference of a 12 MP (4000x3000) photo with ``repro.deblur``: time and peak memory (issue 9).

    python benchmarks/tiled.py --cpu --force-tiled     # the CPU row alone, printed (nothing written)
    python benchmarks/tiled.py --gpu-only              # the GPU rows alone

CPU: width ``--tiled-width`` (0.25) in fp32 in a fresh process, its peak RSS its own; GPU: full
width in bf16 with channels_last, tiles of 512 and 1024, ``torch.cuda.max_memory_allocated``.
``benchmarks/run.py`` runs these rows within its halves.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import (PHOTO_12MP, Half, build, empty_cache, log, rss_mb, run_child, sync,  # noqa: E402
                               table)
from benchmarks.halves import run_topic  # noqa: E402


def tiled_flops(width: float, tile: int, overlap: int, photo: tuple[int, int] = PHOTO_12MP) -> float:
    """FLOPs of tiled inference of a ``photo`` = (H, W) image: tile count x per-tile FLOPs."""
    from repro.core.inference import tile_starts
    from repro.core.model import count_flops

    H, W = photo
    ny, nx = len(tile_starts(H, tile, overlap)), len(tile_starts(W, tile, overlap))
    th, tw = min(tile, H), min(tile, W)
    with torch.device("meta"):
        model = build("DeblurNet", width)
    return ny * nx * count_flops(model, th, tw)


def child_tiled(task: dict) -> dict:
    """(in a child process on the CPU, in-process on a GPU) deblur a random (H, W, 3) uint8 photo,
    (H, W) = ``task["photo"]`` (default 12 MP); time and peak RSS (and GPU memory)."""
    from repro.core.inference import deblur

    device = torch.device(task["device"])
    model = build("DeblurNet", task["width"]).eval().to(device)
    if task.get("dtype") == "bf16":
        model = model.to(torch.bfloat16)
    if task.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    H, W = task.get("photo", PHOTO_12MP)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    base = rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    out = deblur(img, model=model, tile=task["tile"], overlap=task["overlap"])
    sync(device)
    sec = time.perf_counter() - t0
    assert out.shape == img.shape
    res = {"seconds": sec, "baseline_rss_mb": base, "peak_rss_mb": rss_mb("VmHWM")}
    if device.type == "cuda":
        res["gpu_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return res


def cpu_rows(half: Half) -> None:
    """``res["tiled"]``: one fp32 row in a fresh process if its estimate fits (or ``--force-tiled``)."""
    args, res, budget = half.args, half.res, half.budget
    flops = tiled_flops(args.tiled_width, args.tile, args.overlap)
    est = flops / half.rate + 10
    res["tiled"] = []
    if not (budget.fits(est) or args.force_tiled):
        res["skipped"].append(f"tiled 12 MP at width {args.tiled_width}: estimated {est:.0f} s "
                              f"(budget left {budget.left():.0f} s)")
        return
    try:
        r = run_child({"task": "tiled", "device": "cpu", "width": args.tiled_width, "tile": args.tile,
                       "overlap": args.overlap}, timeout=max(120, 5 * est))
        r.update(width=args.tiled_width, tile=args.tile, overlap=args.overlap, dtype="fp32",
                 gflop=flops / 1e9, device="cpu")
        res["tiled"].append(r)
        log(f"  tiled 12 MP: {r['seconds']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB [{budget.elapsed():.0f} s]")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        res["skipped"].append(f"tiled 12 MP: failed: {exc}"[:300])


def gpu_rows(half: Half) -> None:
    """``res["tiled"]``: full width in bf16, tiles of 512 and 1024, in this process (GPU memory is
    what counts here)."""
    device, overlap = half.device, half.args.overlap
    half.res["tiled"] = []
    for tile in (512, 1024):
        r = child_tiled({"device": device.type, "width": 1.0, "tile": tile, "overlap": overlap,
                         "dtype": "bf16", "channels_last": True, "photo": half.photo})
        r.update(width=1.0, tile=tile, overlap=overlap, dtype="bf16",
                 gflop=tiled_flops(1.0, tile, overlap, half.photo) / 1e9, device=device.type)
        half.res["tiled"].append(r)
        empty_cache(device)
    log(f"  tiled done ({half.budget.elapsed():.0f} s)")


def render_section(res: dict, kind: str) -> list[str]:
    """Markdown lines: the tiled table (none when no row ran)."""
    if not res.get("tiled"):
        return []
    cols = [("device", "device"), ("width", "width"), ("dtype", "dtype"), ("tile", "tile"),
            ("overlap", "overlap"), ("GFLOP", "gflop"), ("seconds", "seconds")]
    if kind == "gpu":
        cols.append(("GPU peak MB", "gpu_peak_mb"))
    else:
        cols += [("peak RSS MB", "peak_rss_mb"), ("RSS before MB", "baseline_rss_mb")]
    return ["", "### Tiled inference of a 12 MP photo (4000x3000, uint8 in and out, `repro.deblur`)", "",
            table(res["tiled"], cols)]


def main(argv: list[str] | None = None) -> int:
    return run_topic(argv, __doc__.splitlines()[0], {"cpu": cpu_rows, "gpu": gpu_rows}, render_section)


if __name__ == "__main__":
    sys.exit(main())
