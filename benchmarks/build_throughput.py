"""Accepted WILD pairs per minute of the virtual-camera build on this machine.

    python benchmarks/build_throughput.py --pairs 40 --workers 2 --out results/build_throughput.json

Builds ``--pairs`` accepted training pairs (start-up included) into a temporary folder and
records the rate with the commit, date and machine, so a before/after comparison names what it
compares. The CPU should be quiet: the rate is wall-clock.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from run import bench_build

    from repro.files import atomic_write_text
    from repro.provenance import provenance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="accepted pairs to build (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="append the result to this JSON list")
    args = parser.parse_args()
    row = {**bench_build(args.pairs, args.workers), **provenance(preset="build-benchmark", device="cpu", seed=0, data="virtual")}
    print(json.dumps(row))
    if args.out:
        rows = json.loads(args.out.read_text()) if args.out.is_file() else []
        atomic_write_text(args.out, json.dumps(rows + [row], indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
