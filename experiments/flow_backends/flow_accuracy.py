"""Optical flow for the WILD recipe: each backend against the virtual camera's exact flow.

End-point error, time per pair, and whether the estimate makes the same 1 px decision as the
true flow (:func:`flow_benchmark`: 10 clips of 5 frames at 240x432, camera speeds
0.15-1.0 px/frame, so pairs fall on both sides of the rule). Writes ``experiments/flow_backends/flow_benchmark.csv``
and ``.md`` (the README's flow numbers come from there):

    python experiments/flow_backends/flow_accuracy.py                 # about 2 minutes on 2 cores
    python experiments/flow_backends/flow_accuracy.py --out DIR --clips 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from repro.wild.flow import BACKENDS, end_point_error, estimate_flow, flow_magnitude  # noqa: E402
from repro.io.provenance import provenance  # noqa: E402
from repro.io.reports import write_table  # noqa: E402
from repro.wild.recipe import BuildConfig  # noqa: E402


def flow_benchmark(backends: Sequence[str] = BACKENDS, *, n_clips: int = 10, n_frames: int = 5, seed: int = 0,
                   split: str = "test", speeds: Sequence[float | None] = (0.15, 0.3, 0.5, 0.7, 1.0),
                   max_flow: float = BuildConfig.max_flow, percentile: float = BuildConfig.flow_percentile,
                   progress: bool = True, **render_options) -> list[dict]:
    """End-point error, speed and 1 px decisions of each flow backend on virtual-camera clips.

    Renders ``n_clips`` clips of ``n_frames`` frames (240x320, :func:`repro.camera.render_clip`;
    clip ``i`` with camera speed ``speeds[i % len(speeds)]`` px/frame, so that pairs fall on both
    sides of the 1 px rule) and, for every consecutive pair and backend, compares the estimate
    with the true flow:
    ``epe`` (mean end-point error, px), ``epe_small`` (EPE where the true motion is <= 1 px),
    ``stat_error`` (mean |estimated - true| of the per-pair flow statistic, px), ``agreement``
    (fraction of pairs where the estimate and the truth make the same <= ``max_flow`` decision),
    ``true_over`` (fraction of pairs whose true statistic is over ``max_flow``),
    ``ms_cpu`` / ``ms_wall`` per pair (CPU time of this process and wall time).
    """

    from tqdm.auto import tqdm

    from repro.camera import clip_seed, render_clip

    per: dict[str, dict[str, list[float]]] = {b: {"epe": [], "epe_small": [], "stat_err": [], "agree": [],
                                                  "cpu": [], "wall": [], "true_over": []} for b in backends}
    for i in tqdm(range(n_clips), desc="flow benchmark", disable=not progress):
        clip = render_clip(clip_seed(seed, split, i), n_frames=n_frames, split=split,
                           speed=speeds[i % len(speeds)] if speeds else None, **render_options)
        for t in range(n_frames - 1):
            true = clip.flows[t]
            true_mag = flow_magnitude(true)
            true_stat = float(np.percentile(true_mag, percentile))
            for b in backends:
                estimate_flow(clip.frames[t], clip.frames[t + 1], backend=b) if t == 0 and i == 0 else None  # warm-up
                c0, w0 = time.process_time(), time.perf_counter()
                est = estimate_flow(clip.frames[t], clip.frames[t + 1], backend=b)
                per[b]["cpu"].append(time.process_time() - c0)
                per[b]["wall"].append(time.perf_counter() - w0)
                per[b]["epe"].append(end_point_error(est, true))
                small = true_mag <= 1.0
                err = flow_magnitude(est - true)
                per[b]["epe_small"].append(float(err[small].mean()) if small.any() else float("nan"))
                stat = float(np.percentile(flow_magnitude(est), percentile))
                per[b]["stat_err"].append(abs(stat - true_stat))
                per[b]["true_over"].append(float(true_stat > max_flow))
                per[b]["agree"].append(float((stat <= max_flow) == (true_stat <= max_flow)))
    rows = []
    for b in backends:
        d = per[b]
        rows.append(dict(backend=b, pairs=len(d["epe"]), epe=float(np.mean(d["epe"])),
                         epe_small=float(np.nanmean(d["epe_small"])), stat_error=float(np.mean(d["stat_err"])),
                         agreement=float(np.mean(d["agree"])), true_over=float(np.mean(d["true_over"])),
                         ms_cpu=1e3 * float(np.median(d["cpu"])),
                         ms_wall=1e3 * float(np.median(d["wall"]))))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder of flow_benchmark.{csv,md} (default: experiments/flow_backends/, beside this script)")
    parser.add_argument("--clips", type=int, default=10, help="virtual-camera clips (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = flow_benchmark(BACKENDS, n_clips=args.clips, seed=args.seed)
    dis = next(r for r in rows if r["backend"] == "dis")
    for r in rows:
        r["time / dis"] = r["ms_wall"] / dis["ms_wall"]
    command = "python experiments/flow_backends/flow_accuracy.py" + (f" --clips {args.clips}" if args.clips != 10 else "") \
        + (f" --seed {args.seed}" if args.seed else "")
    write_table(rows, args.out / "flow_benchmark",
                title="Optical flow backends against the virtual camera's true flow (WILD's 1 px rule)",
                provenance=provenance(device="cpu", seed=args.seed, command=command, load_average_at_start=load),
                digits=3,
                notes=["experiments/flow_backends/flow_accuracy.py flow_benchmark: consecutive frame pairs of virtual-camera clips (240x432, test photos)",
                       "epe: mean end-point error (px) against the renderer's exact flow; epe_small: where the true "
                       "motion is <= 1 px",
                       "stat_error: mean |estimated - true| of the per-pair statistic (99th percentile of the flow "
                       "magnitude, px); agreement: share of pairs with the same <= 1 px decision as the truth; "
                       "true_over: share of pairs whose true statistic exceeds 1 px",
                       "ms_cpu / ms_wall: median per pair (CPU time of this process / wall time); time / dis: "
                       "ms_wall over DIS's (the builder's default backend)",
                       "timings are upper bounds when the load average above exceeds the core count"])
    print((args.out / "flow_benchmark.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
