"""Optical flow for the WILD recipe: each backend against the virtual camera's exact flow.

End-point error, time per pair, and whether the estimate makes the same 1 px decision as the
true flow (:func:`repro.wild.flow_benchmark`: 10 clips of 5 frames at 240x432, camera speeds
0.15-1.0 px/frame, so pairs fall on both sides of the rule). Writes ``results/flow_benchmark.csv``
and ``.md`` (the README's flow numbers come from there):

    python benchmarks/flow_accuracy.py                 # about 2 minutes on 2 cores
    python benchmarks/flow_accuracy.py --out DIR --clips 3
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from repro.flow import BACKENDS  # noqa: E402
from repro.provenance import provenance  # noqa: E402
from repro.reports import write_table  # noqa: E402
from repro.wild import flow_benchmark  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "results",
                        help="folder of flow_benchmark.{csv,md} (default: the repository's results/)")
    parser.add_argument("--clips", type=int, default=10, help="virtual-camera clips (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = flow_benchmark(BACKENDS, n_clips=args.clips, seed=args.seed)
    dis = next(r for r in rows if r["backend"] == "dis")
    for r in rows:
        r["time / dis"] = r["ms_wall"] / dis["ms_wall"]
    command = "python benchmarks/flow_accuracy.py" + (f" --clips {args.clips}" if args.clips != 10 else "") \
        + (f" --seed {args.seed}" if args.seed else "")
    write_table(rows, args.out / "flow_benchmark",
                title="Optical flow backends against the virtual camera's true flow (WILD's 1 px rule)",
                provenance=provenance(device="cpu", seed=args.seed, command=command, load_average_at_start=load),
                digits=3,
                notes=["repro.wild.flow_benchmark: consecutive frame pairs of virtual-camera clips (240x432, test photos)",
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
