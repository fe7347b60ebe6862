"""Accepted WILD pairs per minute of the virtual-camera build, for before/after comparisons.

    python benchmarks/build_throughput.py --label after --out results/benchmarks/build_throughput.json
    PYTHONPATH=/path/to/old/checkout python benchmarks/build_throughput.py --label before --out ...

Builds ``--pairs`` accepted training pairs (start-up included) with ``--workers`` processes into
a temporary folder, with whichever ``repro`` is imported (the PYTHONPATH form measures another
checkout with the same script), and appends the rate, the code's commit, the date and the
machine to ``--out``. The rate is wall-clock: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path


def measure(pairs: int, workers: int) -> dict:
    """Build ``pairs`` accepted virtual-camera pairs into a temporary folder; the rate, start-up
    included (also ``benchmarks/run.py``'s build benchmark)."""
    from repro.wild import build_wild, read_manifest

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_wild("virtual", Path(tmp) / "wild", pairs=pairs, workers=workers, seed=0, progress=False)
        seconds = time.perf_counter() - t0
        rows = read_manifest(Path(tmp) / "wild")
    accepted = sum(r["accepted"] for r in rows)  # windows tried minus rejected ones
    return {"accepted_pairs": accepted, "windows_tried": len(rows), "workers": workers, "seconds": seconds,
            "pairs_per_min": accepted / seconds * 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="accepted pairs to build (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--label", default="", help="a name for this measurement (e.g. before, after)")
    parser.add_argument("--out", type=Path, default=None, help="append the result to this JSON list")
    args = parser.parse_args()

    import repro

    code = Path(repro.__file__).resolve().parent.parent
    commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    res = measure(args.pairs, args.workers)
    row = {"label": args.label, "commit": commit, **res, "seconds": round(res["seconds"], 1),
           "pairs_per_min": round(res["pairs_per_min"], 1),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{os.cpu_count()} cores, {platform.machine()}"}
    print(json.dumps(row))
    if args.out:
        rows_out = json.loads(args.out.read_text()) if args.out.is_file() else []
        tmp_path = args.out.with_suffix(".tmp")
        tmp_path.write_text(json.dumps(rows_out + [row], indent=2) + "\n")
        os.replace(tmp_path, args.out)


if __name__ == "__main__":
    main()
