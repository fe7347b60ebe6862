"""GPU check of the virtual camera: ``python -m repro._render_gpucheck [OUT.json]``.

Renders the same clips on the CPU and on CUDA and compares them (frames differ by rounding
only; flows agree to float precision), then measures frames/s on the GPU at 240x432 and
720x1296 (and on the CPU at 240x432 for reference, same machine). Prints one JSON object and
writes it to OUT.json when given. Takes about a minute on an H100.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    from .files import atomic_write_text
    from .render import benchmark_fps, render_clip

    argv = sys.argv[1:] if argv is None else argv
    if not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device"}))
        return 1
    result: dict = {"device_name": torch.cuda.get_device_name(0), "consistency": []}
    for seed, kind in [(0, "random"), (1, "parallax"), (2, "objects")]:
        a = render_clip(seed, n_frames=16, size=(240, 432), kind=kind, device="cpu")
        b = render_clip(seed, n_frames=16, size=(240, 432), kind=kind, device="cuda")
        c = render_clip(seed, n_frames=16, size=(240, 432), kind=kind, device="cuda")
        d = np.abs(a.frames.astype(int) - b.frames)
        same_vis = a.meta["visible_layer"] == b.meta["visible_layer"]
        fd = np.abs(a.flows - b.flows)[same_vis[:-1]]
        result["consistency"].append({
            "seed": seed, "kind": kind, "frames_max_abs_diff": int(d.max()), "frames_mean_abs_diff": float(d.mean()),
            "visible_layer_agree": float(same_vis.mean()), "flows_max_abs_diff_where_layers_agree": float(fd.max()),
            "cuda_deterministic": bool(np.array_equal(b.frames, c.frames) and np.array_equal(b.flows, c.flows)),
        })
    result["benchmarks"] = [
        benchmark_fps((240, 432), n_frames=120, n_clips=5, device="cuda"),
        benchmark_fps((720, 1296), n_frames=120, n_clips=3, device="cuda"),
        benchmark_fps((240, 432), n_frames=48, n_clips=2, device="cpu"),
    ]
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if argv:
        atomic_write_text(argv[0], text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
