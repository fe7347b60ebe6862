"""Measurements of the virtual camera (:mod:`repro.camera`): CPU/GPU agreement, speed, 1 px pass rates.

    python benchmarks/camera.py [OUT.json]

renders the same clips on the CPU and on CUDA and compares them (frames differ by rounding
only; flows agree to float precision), then measures frames/s on the GPU at 240x432 and
720x1296 (and on the CPU at 240x432 for reference, same machine). Prints one JSON object and
writes it to OUT.json when given (``results/render_gpu.json``). Takes about a minute on an H100.
:func:`flow_pass_rates` measures how often the camera's default speed draws pass the WILD
builder's 1 px rule, from the true flows.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from repro.camera import DEFAULT_SIZE, REFERENCE_ROWS, clip_seed, render_clip  # noqa: E402
from repro.core.devices import resolve_device  # noqa: E402
from repro.io.files import atomic_write_text  # noqa: E402
from repro.wild.recipe import BuildConfig  # noqa: E402


def flow_pass_rates(n_clips: int = 40, *, seed: int = 0, size: tuple[int, int] = (60, 108), n_frames: int = 120,
                    max_flow: float = BuildConfig.max_flow, n_range: tuple[int, int] = BuildConfig.n_range,
                    windows_per_clip: int = 8, device: str = "cpu") -> dict:
    """How often the default speed draws pass the <= ``max_flow`` px rule, from the true flows.

    Renders ``n_clips`` default clips (every 4th from the test photos; small ``size`` and no
    supersampling: flows do not depend on the size once scaled to 240 rows) and returns the
    fraction of consecutive-frame pairs whose largest flow (and 99th percentile) is within
    ``max_flow`` px at 240 rows, and the fraction of random windows of N frames (N odd in
    ``n_range``) whose every pair passes.
    """
    rng = np.random.default_rng(seed)
    pair_max, pair_p99, win_max, win_p99 = [], [], [], []
    lengths = np.arange(n_range[0], n_range[1] + 1, 2)
    for i in range(n_clips):
        split = "test" if i % 4 == 0 else "train"
        clip = render_clip(clip_seed(seed, split, i), n_frames=n_frames, size=size, supersample=1, split=split,
                           device=device)
        mag = np.hypot(clip.flows[..., 0], clip.flows[..., 1]).reshape(n_frames - 1, -1) * REFERENCE_ROWS / size[0]
        mx, p99 = mag.max(1), np.percentile(mag, 99, axis=1)
        pair_max += list(mx <= max_flow)
        pair_p99 += list(p99 <= max_flow)
        for _ in range(windows_per_clip):
            n = int(rng.choice(lengths[lengths <= n_frames]))
            s = int(rng.integers(0, n_frames - n + 1))
            win_max.append(bool((mx[s:s + n - 1] <= max_flow).all()))
            win_p99.append(bool((p99[s:s + n - 1] <= max_flow).all()))
    return {"pairs_max": float(np.mean(pair_max)), "pairs_p99": float(np.mean(pair_p99)),
            "windows_max": float(np.mean(win_max)), "windows_p99": float(np.mean(win_p99)),
            "n_clips": n_clips, "n_windows": len(win_max)}


def benchmark_fps(size: tuple[int, int] = DEFAULT_SIZE, *, n_frames: int = 48, n_clips: int = 3, seed: int = 0,
                  supersample: int = 1, device: str = "cpu", kind: str = "random") -> dict:
    """Frames per second of :func:`render_clip` (frames and true flows), after one warm-up clip.

    Returns ``{"fps": ..., "seconds": ..., "cpu_seconds": ..., "fps_per_cpu_second": ...,
    "frames": ..., "device": ..., ...}`` (frames per CPU second is the robust number on a shared
    machine: wall-clock fps there depends on the load); the clips are
    ``n_clips`` default clips (seeds ``seed + i``), so scenes with several layers are included.
    """
    dev = resolve_device(device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    render_clip(seed + 10_000, n_frames=min(n_frames, 8), size=size, supersample=supersample, device=str(dev),
                kind=kind)
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n_clips):
        render_clip(seed + i, n_frames=n_frames, size=size, supersample=supersample, device=str(dev), kind=kind)
    sync()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"fps": n_clips * n_frames / dt, "seconds": dt, "frames": n_clips * n_frames, "size": tuple(size),
            "cpu_seconds": cpu, "fps_per_cpu_second": n_clips * n_frames / max(cpu, 1e-9),
            "supersample": supersample, "device": str(dev), "kind": kind, "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
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
