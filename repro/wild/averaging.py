"""Beyond the paper: does averaging N frames at 240 fps approximate a continuous exposure?

The virtual camera renders sub-frames between its frames, so the WILD blurry image (the mean
of N frames) can be compared with the exposure it stands for (:func:`averaging_check`),
summarised at a few speeds (:func:`averaging_summary`) and plotted against the inter-frame flow
(:func:`plot_averaging_check`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .flow import flow_magnitude
from .recipe import BuildConfig, blur_size_map

__all__ = ["AVERAGING_SPEEDS", "AVERAGING_REPORTED", "averaging_check", "averaging_summary", "plot_averaging_check"]

AVERAGING_SPEEDS = (0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.4, 2.0, 2.8)  # px/frame at 240 rows
AVERAGING_REPORTED = (0.3, 0.6, 1.0)  # the speeds the averaging check's summary reports


def averaging_check(*, speeds: Sequence[float] = AVERAGING_SPEEDS, seeds: Sequence[int] = (0, 1), n: int = 15,
                    temporal_supersample: int = 8, size: tuple[int, int] | None = None, split: str = "test",
                    keep_images: bool = False, flow_percentile: float = BuildConfig.flow_percentile,
                    progress: bool = True) -> list[dict]:
    """How well the N-frame average approximates the continuous blur, against the inter-frame flow.

    For each seed and speed (the clip's peak flow, px/frame at 240 rows: the 99th percentile of
    |flow| of its fastest frame pair, camera and objects together, as the virtual camera sets it
    for the WILD build) a virtual-camera clip of ``n + 2`` frames (``size``: the camera's default)
    is rendered with ``temporal_supersample`` (k = 8)
    sub-frames per frame interval (:func:`repro.camera.render_clip`). The window is frames
    ``1 .. n``; its average (the WILD blurry image) is compared with the *continuous* exposure
    over the same time, ``[1 - 1/2, n + 1/2]`` frame intervals (each frame stands for its own
    1/240 s; a 360-degree shutter), integrated by the trapezoid rule over the ``n k + 1``
    sub-frames in it. Rows: ``seed, speed, n, flow_stat`` (max over the window's pairs of the
    ``flow_percentile`` (the WILD rule's, 99) percentile of the true |flow|, px), ``flow_max``, ``blur_size`` (mean true trajectory
    length, px), ``psnr_average`` (average vs continuous, dB), ``psnr_sharp`` (central frame vs
    continuous: how blurred the image is), ``ghost_error`` (mean |average - continuous| over
    the 1 % of pixels where it is largest). With ``keep_images`` also ``average``,
    ``continuous`` (float32 ``(H, W, 3)``).
    """
    from skimage.metrics import peak_signal_noise_ratio
    from tqdm.auto import tqdm

    from ..camera import DEFAULT_SIZE, clip_seed, render_clip

    k = int(temporal_supersample)
    if k < 2 or k % 2:
        raise ValueError(f"temporal_supersample must be even and >= 2, got {temporal_supersample}")
    if n < 1 or n % 2 == 0:
        raise ValueError(f"n must be odd and >= 1, got {n}")
    rows = []
    jobs = [(seed, j, speed) for seed in seeds for j, speed in enumerate(speeds)]
    for seed, j, speed in tqdm(jobs, desc="averaging check", disable=not progress):
        clip = render_clip(clip_seed(seed, split, 10_000 + j), n_frames=n + 2, size=size or DEFAULT_SIZE, split=split,
                           peak_flow=float(speed), temporal_supersample=k)
        sub = clip.meta["subframes"]  # ((n + 1) k + 1, H, W, 3) uint8 at times i / k
        start = 1
        window = clip.frames[start:start + n].astype(np.float64) / 255
        average = window.mean(axis=0)
        lo, hi = start * k - k // 2, (start + n) * k - k // 2  # sub-frame indices of times start -/+ 1/2
        weights = np.ones(hi - lo + 1)
        weights[[0, -1]] = 0.5
        continuous = np.tensordot(weights / weights.sum(), sub[lo:hi + 1].astype(np.float64) / 255, axes=1)
        flows = clip.flows[start:start + n - 1]
        mag = flow_magnitude(flows)
        diff = np.abs(average - continuous).mean(axis=-1)
        row = dict(seed=int(seed), speed=float(speed), n=n,
                   flow_stat=float(np.percentile(mag.reshape(n - 1, -1), flow_percentile, axis=1).max()),
                   flow_max=float(mag.max()), blur_size=float(blur_size_map(flows, n // 2).mean()),
                   psnr_average=float(peak_signal_noise_ratio(continuous, average, data_range=1.0)),
                   psnr_sharp=float(peak_signal_noise_ratio(continuous, window[n // 2], data_range=1.0)),
                   ghost_error=float(np.sort(diff.ravel())[-max(1, diff.size // 100):].mean()))
        if keep_images:
            row.update(average=average.astype(np.float32), continuous=continuous.astype(np.float32))
        rows.append(row)
    return rows


def averaging_summary(rows: Sequence[dict], speeds: Sequence[float] = AVERAGING_REPORTED) -> list[dict]:
    """The averaging check at the given ``speeds`` (those the check rendered): per speed, the mean
    over seeds of the flow statistic, blur size, PSNR of the average against the continuous
    exposure and the ghost error (grey levels of 255)."""
    out = []
    for speed in speeds:
        sel = [r for r in rows if abs(r["speed"] - speed) < 1e-9]
        if not sel:
            raise ValueError(f"the averaging check has no rows at speed {speed} (has {sorted({r['speed'] for r in rows})})")
        out.append({"peak flow (px/frame)": speed, "windows": len(sel), "N": sel[0]["n"],
                    "flow statistic (px)": float(np.mean([r["flow_stat"] for r in sel])),
                    "blur size (px)": float(np.mean([r["blur_size"] for r in sel])),
                    "PSNR average vs continuous (dB)": float(np.mean([r["psnr_average"] for r in sel])),
                    "PSNR sharp vs continuous (dB)": float(np.mean([r["psnr_sharp"] for r in sel])),
                    "ghost error (grey levels)": float(np.mean([255 * r["ghost_error"] for r in sel]))})
    return out


def plot_averaging_check(rows: Sequence[dict], out: str | os.PathLike | None = None,
                         *, max_flow: float = BuildConfig.max_flow):
    """Plot :func:`averaging_check` rows against the window's true inter-frame flow (log axis).

    Left: PSNR (dB) of the N-frame average against the continuous exposure (and of the sharp
    frame, for scale). Middle: the ghost error (mean |average - continuous| over the worst 1 % of
    pixels, in grey levels of 255), which shows local artefacts that a whole-image PSNR dilutes.
    The ``max_flow`` rule (default the paper's, :class:`BuildConfig`) is the dashed line. Right (when the rows carry images): the continuous
    blur and the average, on the crop where the fastest window's two differ most, for the window
    closest to the rule (top) and the fastest (bottom).
    Written to ``out`` (PNG) unless None; returns the figure.
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("no rows to plot")
    with_images = [r for r in rows if "average" in r]
    n_panels = 3 if with_images else 2
    fig, axes = plt.subplots(1, n_panels, figsize=(5.2 * n_panels, 4.2), squeeze=False)
    axes = axes[0]
    x = np.array([r["flow_stat"] for r in rows])
    ax = axes[0]
    for key, label, marker in (("psnr_average", "N-frame average", "o"), ("psnr_sharp", "central (sharp) frame", "x")):
        ax.scatter(x, [r[key] for r in rows], marker=marker, label=label, s=28)
    ax.set_ylabel("PSNR against continuous exposure (dB)")
    ax = axes[1]
    ax.scatter(x, [255 * r["ghost_error"] for r in rows], marker="o", s=28, color="C0", label="N-frame average")
    ax.axhline(1.0, color="C3", ls=":", lw=1, label="one 8-bit grey level")
    ax.set_ylabel("ghost error, worst 1% of pixels (grey levels)")
    n_values = sorted({r["n"] for r in rows})
    for ax in axes[:2]:
        ax.axvline(max_flow, color="k", ls="--", lw=1, label=f"selection rule {max_flow:g} px")
        ax.set_xscale("log")
        ax.set_xlabel("true inter-frame flow in the window (px, max over pairs of p99)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"Does averaging N={','.join(map(str, n_values))} frames at 240 fps approximate a continuous "
                 f"exposure? (virtual camera, {len(rows)} windows)", fontsize=10)
    if with_images:
        near = min(with_images, key=lambda r: abs(np.log(r["flow_stat"] / max_flow)))
        fast = max(with_images, key=lambda r: r["flow_stat"])
        H, W = near["average"].shape[:2]
        s = min(96, H, W)
        diff = np.abs(fast["average"] - fast["continuous"]).mean(-1)
        best, y0, x0 = -1.0, 0, 0
        for yy in range(0, H - s + 1, s // 4):  # the s x s crop where the fastest window differs most
            for xx in range(0, W - s + 1, s // 4):
                v = float(diff[yy:yy + s, xx:xx + s].sum())
                if v > best:
                    best, y0, x0 = v, yy, xx
        tiles = []
        for r in (near, fast):
            c, a_ = r["continuous"][y0:y0 + s, x0:x0 + s], r["average"][y0:y0 + s, x0:x0 + s]
            tiles.append(np.concatenate([c, np.ones((s, 3, 3), np.float32), a_], axis=1))
        grid = np.concatenate([tiles[0], np.ones((3, tiles[0].shape[1], 3), np.float32), tiles[1]], axis=0)
        axes[2].imshow(np.clip(grid, 0, 1))
        axes[2].set_title(f"continuous (left) vs N-frame average (right), one crop\n"
                          f"top: flow {near['flow_stat']:.2f} px, {near['psnr_average']:.1f} dB; "
                          f"bottom: {fast['flow_stat']:.2f} px, {fast['psnr_average']:.1f} dB", fontsize=9)
        axes[2].axis("off")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    if out is not None:
        from ..io.figures import save_figure

        save_figure(fig, out, formats=("png",))
    return fig
