"""Benchmark: FFT shift search (repro.core.metrics.shift_search_psnr) against brute force.

A 432x240 RGB texture, the "result" a shifted noisy copy; both searches over the same integer
shifts and the same pixels. Prints a table; ``run()`` returns its rows (for the benchmark helper).

    python benchmarks/shift_search.py
"""

from __future__ import annotations

import time

import numpy as np

from repro.core.metrics import brute_force_shift_search, shift_search_psnr


def _best_time(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run(radii: tuple[int, ...] = (10, 20), size: tuple[int, int] = (240, 432), repeats: int = 3,
        seed: int = 0) -> list[dict]:
    """One row per radius: seconds (best of ``repeats``) of the FFT search (integer only and with
    sub-pixel refinement) and of brute force, whether they agree, and the speed-up."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    H, W = size
    pad = max(radii) + 4
    big = ndimage.gaussian_filter(rng.random((H + 2 * pad, W + 2 * pad, 3)), (1.5, 1.5, 0))
    reference = big[pad:pad + H, pad:pad + W]
    dy, dx = 3, -5
    result = big[pad + dy:pad + dy + H, pad + dx:pad + dx + W] + 0.01 * rng.standard_normal((H, W, 3))
    rows = []
    for radius in radii:
        t_int, fast = _best_time(lambda: shift_search_psnr(result, reference, radius=radius, subpixel=False), repeats)
        t_sub, sub = _best_time(lambda: shift_search_psnr(result, reference, radius=radius), repeats)
        t_brute, slow = _best_time(lambda: brute_force_shift_search(result, reference, radius=radius), 1)
        rows.append({
            "size": f"{W}x{H}",
            "radius": radius,
            "shifts": (2 * radius + 1) ** 2,
            "fft_s": t_int,
            "fft_subpixel_s": t_sub,
            "brute_s": t_brute,
            "speedup": t_brute / t_int,
            "same_shift": fast.integer_shift == slow.integer_shift,
            "psnr_diff_db": abs(fast.psnr - slow.psnr),
            "shift": fast.integer_shift,
            "subpixel_shift": tuple(round(s, 3) for s in sub.shift),
        })
    return rows


def main() -> None:
    rows = run()
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols))


if __name__ == "__main__":
    main()
