#!/usr/bin/env python
"""The pipeline's stages around the network: optical flow per backend, dataset building on the virtual
camera, and the shift-search PSNR of the evaluation (issue 9; the CPU half only).

    python benchmarks/pipeline.py --cpu     # these rows alone, printed (nothing written)

Flow: pairs/s of each backend of ``repro.wild.flow`` on a 427x240 pair (astronaut shifted by
(dx, dy) = (0.4, 0.3) px, its median flow as a check). Building: ``benchmarks/build_throughput.py``'s
accepted pairs/min (``--build-pairs``). Shift search: ``benchmarks/shift_search.py``'s ``run()``.
``benchmarks/run.py`` runs these rows within its CPU half.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import Budget, Half, log, table, time_call  # noqa: E402
from benchmarks.halves import run_topic  # noqa: E402

SHIFT_SEARCH_SOURCE = "benchmarks/shift_search.py run()"


def shifted_pair() -> tuple[np.ndarray, np.ndarray]:
    """Two (240, 427, 3) uint8 frames: the astronaut and its copy shifted by (dx, dy) = (0.4, 0.3) px."""
    import scipy.ndimage as ndi
    import skimage.data
    import skimage.transform

    img = skimage.transform.resize(skimage.data.astronaut(), (240, 427), anti_aliasing=True)
    f0 = (img * 255).round().astype(np.uint8)
    f1 = np.clip(ndi.shift(img, (0.3, 0.4, 0), order=3, mode="nearest") * 255, 0, 255).round().astype(np.uint8)
    return f0, f1


def bench_flow(backends: tuple[str, ...], budget: Budget) -> list[dict]:
    """One row per flow backend (skipped with under 5 s of budget left): ms and pairs/s, median flow."""
    from repro.wild.flow import estimate_flow

    f0, f1 = shifted_pair()
    rows = []
    for b in backends:
        if budget.left() < 5:
            rows.append({"backend": b, "skipped": "time budget"})
            continue
        t0 = time.perf_counter()
        flow = estimate_flow(f0, f1, backend=b)  # warm-up, and a sanity check of the sign convention
        first = time.perf_counter() - t0
        reps = int(max(1, min(10, 2.0 / max(first, 1e-3))))
        times = time_call(lambda: estimate_flow(f0, f1, backend=b), torch.device("cpu"), warmup=0, reps=reps)
        med = np.median(flow[20:-20, 20:-20].reshape(-1, 2), axis=0)
        rows.append({"backend": b, "size": "427x240", "ms": 1e3 * statistics.median(times),
                     "pairs_s": 1 / statistics.median(times), "median_flow": f"({med[0]:.2f}, {med[1]:.2f})",
                     "runs": len(times)})
    return rows


def bench_build(pairs: int, workers: int) -> dict:
    """Accepted virtual-camera pairs per minute (``benchmarks/build_throughput.py``'s ``measure``)."""
    from benchmarks.build_throughput import measure

    res = measure(pairs, workers)
    return {"source": "virtual", "pairs": res["accepted_pairs"], "windows": res["windows_tried"], "workers": workers,
            "seconds": res["seconds"], "pairs_min": res["pairs_per_min"]}


def cpu_rows(half: Half) -> None:
    """``res["flow"]``, ``res["build"]`` and ``res["shift"]`` (or a ``*_note`` saying why not); a
    failure of one is reported in its note and does not stop the others."""
    res, budget = half.res, half.budget
    try:
        from repro.wild.flow import BACKENDS
        res["flow"] = bench_flow(tuple(BACKENDS), budget)
    except ImportError as exc:
        res["flow_note"] = f"pending: repro.wild.flow not importable ({exc})"
    try:
        import repro.wild  # noqa: F401
        if budget.left() > 45:
            res["build"] = bench_build(pairs=half.args.build_pairs, workers=min(2, os.cpu_count() or 1))
            log(f"  build: {res['build']['pairs_min']:.0f} pairs/min [{budget.elapsed():.0f} s]")
        else:
            res["build_note"] = "skipped: time budget"
    except ImportError as exc:
        res["build_note"] = f"pending: repro.wild not importable ({exc})"
    except Exception as exc:  # noqa: BLE001 - another helper's module: report, don't crash the table
        res["build_note"] = f"failed: {type(exc).__name__}: {exc}"[:300]
    try:
        from benchmarks.shift_search import run
        res["shift"], res["shift_note"] = list(run()), SHIFT_SEARCH_SOURCE
    except Exception as exc:  # noqa: BLE001
        res["shift"], res["shift_note"] = None, f"failed: {type(exc).__name__}: {exc}"[:300]


def render_section(res: dict, kind: str) -> list[str]:
    """Markdown lines: dataset building, the flow table and the shift-search table (CPU only)."""
    if kind != "cpu":
        return []
    out = ["", "### Dataset building and optical flow", ""]
    if res.get("build"):
        b = res["build"]
        out.append(f"`repro.wild.build_wild('virtual', pairs={b['pairs']}, workers={b['workers']})`: "
                   f"{b['seconds']:.1f} s, **{b['pairs_min']:.0f} accepted pairs/min** (goal >= 100).")
    else:
        out.append(f"Dataset building: {res.get('build_note', 'pending')}")
    out.append("")
    if res.get("flow"):
        out += ["Flow on a 427x240 pair (astronaut, shifted by (dx, dy) = (0.4, 0.3) px):", "",
                table(res["flow"], [("backend", "backend"), ("ms/pair", "ms"), ("pairs/s", "pairs_s"),
                                    ("median flow", "median_flow"), ("runs", "runs"), ("skipped", "skipped")])]
    else:
        out.append(f"Flow: {res.get('flow_note', 'pending')}")
    out += ["", "### Shift-search PSNR", ""]
    if res.get("shift"):
        out += [f"From {res['shift_note']}:", "", table(res["shift"], [(c, c) for c in res["shift"][0]])]
    else:
        out.append(res.get("shift_note", "pending"))
    return out


def main(argv: list[str] | None = None) -> int:
    return run_topic(argv, __doc__.splitlines()[0], {"cpu": cpu_rows}, render_section)


if __name__ == "__main__":
    sys.exit(main())
