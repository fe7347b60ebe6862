"""How the virtual camera moves: handheld camera paths and the scaling of a scene's motion to a
wanted speed or peak flow (the statistic the WILD builder thresholds)."""

from __future__ import annotations

import numpy as np

from .geometry import (F0, REFERENCE_ROWS, CameraPath, Scene, apply_homography, layer_matrices, pair_flow_magnitudes,
                       plane_matrices)

__all__ = ["SPEED_RANGE", "OBJECT_SPEED_RANGE", "PEAK_FLOW_RANGE", "PEAK_FLOW_SHAPE", "PEAK_PERCENTILE",
           "PARALLAX_TRANSLATION", "HANDHELD_TRANSLATION", "CAMERA_HZ", "handheld_path", "camera_flow_stat",
           "peak_flow", "draw_peak_flow", "check_flow_range", "set_peak_flow", "set_speed"]

SPEED_RANGE = (0.1, 0.8)  # camera speed scale when only the camera is drawn: px/frame at 240 rows, log-uniform
OBJECT_SPEED_RANGE = (0.1, 0.8)  # moving objects' screen speed, px/frame at 240 rows (log-uniform)
# The default: each clip's peak flow (its flow statistic: the largest over consecutive frame
# pairs of the 99th percentile of |flow|, over camera, parallax and objects together: what the
# WILD rule tests) is drawn from this range (see draw_peak_flow), px/frame at 240 rows; the whole
# range passes the paper's <= 1 px rule.
PEAK_FLOW_RANGE = (0.3, 1.0)
PEAK_FLOW_SHAPE = 2.0  # density of the drawn peak flow grows as (p - low) ** shape (see draw_peak_flow)
PEAK_PERCENTILE = 99.0  # the flow statistic: this percentile of |flow| per frame pair (as the WILD builder)
PARALLAX_TRANSLATION = (0.2, 0.5)  # the parallax kind: weight of sideways translation (rotation 0.1-0.4)
HANDHELD_TRANSLATION = (0.05, 0.3)  # other kinds: weight of sideways translation (rotation 0.5-1)
CAMERA_HZ = (0.2, 0.8)  # frequencies of the handheld camera's sinusoids (log-uniform), Hz: sway, not tremor
ROLL_GAIN, ZOOM_GAIN = 0.05, 0.02  # weights of roll and zoom in the camera motion (pitch/yaw = 1)
FORWARD_GAIN = 0.05  # weight of the translation along the optical axis (sideways = 1)


def handheld_path(rng, *, n_frames: int, ref_depth: float, translation_weight: float,
                 rotation_weight: float) -> CameraPath:
    k = 3
    hz = np.exp(rng.uniform(*np.log(CAMERA_HZ), size=(7, k)))
    freq = hz / 240.0  # cycles per frame at 240 fps
    phase = rng.uniform(0, 2 * np.pi, size=(7, k))
    # per-parameter gains chosen so that a unit gain moves the image by about one normalized
    # unit per frame; the absolute scale is set afterwards from the wanted speed
    gain = np.array([
        translation_weight * ref_depth / F0, translation_weight * ref_depth / F0,
        FORWARD_GAIN * translation_weight * ref_depth,
        rotation_weight / F0, rotation_weight / F0, ROLL_GAIN * rotation_weight / 1.8, ZOOM_GAIN / 1.8,
    ])
    amp = gain[:, None] * rng.standard_normal((7, k)) / (2 * np.pi * freq * np.sqrt(k))
    drift = gain * rng.standard_normal(7) * (rng.random() < 0.5) * 0.7
    return CameraPath(amp=amp, freq=freq, phase=phase, drift=drift, t_ref=(n_frames - 1) / 2)


def peak_flow(scene: Scene, n_frames: int, aspect: float, *, percentile: float = PEAK_PERCENTILE,
              grid: tuple[int, int] = (61, 81)) -> float:
    """The scene's flow statistic over frames ``0 .. n_frames-1``, px/frame at 240 rows.

    The statistic the WILD builder thresholds: for each consecutive pair of frames the
    ``percentile`` (99th; 100 = the maximum) of the per-pixel flow magnitude, and the largest of
    these over the pairs; camera rotation, zoom, parallax and moving objects count together. It
    is computed from the exact homography flow of each layer at a ``grid`` (rows, cols) of
    points spanning the view, each point taking the flow of the front-most layer whose texture
    covers it (alpha >= 0.5), as :func:`repro.camera.render_clip`'s true flow does per pixel.
    """
    if n_frames < 2:
        return 0.0
    u, v = np.meshgrid(np.linspace(-aspect, aspect, grid[1]), np.linspace(-1.0, 1.0, grid[0]))
    pts = np.stack([u.ravel(), v.ravel()], 1)
    t = np.arange(n_frames, dtype=np.float64)
    flow = np.zeros((n_frames - 1, len(pts)))
    for layer in scene.layers:  # back to front: nearer layers overwrite where they are
        m = layer_matrices(scene, layer, t)  # (T, 3, 3): pixel at t -> texture (grid_sample) coordinates
        mag = pair_flow_magnitudes(m, pts)
        if layer.padding == "reflection":  # the farthest background is everywhere
            flow = mag
            continue
        alpha = layer.texture[3]
        h, w = alpha.shape
        g = apply_homography(m[:-1], pts)  # (T-1, P, 2) in [-1, 1] where the texture is
        ix = np.floor((g[..., 0] + 1) * w / 2).astype(np.int64)
        iy = np.floor((g[..., 1] + 1) * h / 2).astype(np.int64)
        inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        there = np.zeros(mag.shape, bool)
        there[inside] = alpha[iy[inside], ix[inside]] >= 0.5
        flow = np.where(there, mag, flow)
    return float(np.percentile(flow, percentile, axis=1).max() * REFERENCE_ROWS / 2)


def draw_peak_flow(rng: np.random.Generator, flow_range: tuple[float, float] | None = None) -> float:
    """A clip's peak flow, px/frame at 240 rows, on :data:`PEAK_FLOW_RANGE` with a density rising
    as ``(p - low) ** PEAK_FLOW_SHAPE`` towards the range's top.

    Handheld footage moves faster than the rule's 1 px/frame (at 240 rows, 240 fps) more often
    than not; the WILD selection cuts that distribution at 1 px, so the windows it keeps crowd
    towards the limit. (Shape 2 on (0.3, 1.0): median 0.86, 10th percentile 0.62 px/frame.)
    ``flow_range``: another range for the same shape (e.g. a slow sway for near-sharp pairs).
    """
    lo, hi = PEAK_FLOW_RANGE if flow_range is None else check_flow_range(flow_range)
    return float(lo + (hi - lo) * rng.random() ** (1.0 / (PEAK_FLOW_SHAPE + 1)))


def check_flow_range(flow_range) -> tuple[float, float]:
    """``(low, high)`` px/frame with ``0 <= low <= high`` as floats, else a one-line ``ValueError``."""
    try:
        lo, hi = (float(v) for v in flow_range)
    except (TypeError, ValueError):
        raise ValueError(f"peak_flow_range must be two numbers (low, high), got {flow_range!r}") from None
    if not 0 <= lo <= hi < float("inf"):
        raise ValueError(f"peak_flow_range must have 0 <= low <= high, got {flow_range!r}")
    return lo, hi


def set_peak_flow(scene: Scene, target: float, n_frames: int, aspect: float) -> None:
    """Scale the camera's and every object's motion together so that :func:`peak_flow` is ``target``."""
    for _ in range(4):  # flow is nearly linear in the scale; a few fixed-point steps make it exact
        peak = peak_flow(scene, n_frames, aspect)
        if peak <= 0:
            return
        factor = target / peak
        scene.camera.scale *= factor
        for layer in scene.layers:
            if layer.obj is not None:
                layer.obj.scale *= factor


def set_speed(path: CameraPath, speed: float, planes: list, aspect: float, n_frames: int) -> None:
    """Scale ``path`` so that :func:`camera_flow_stat` is ``speed`` px/frame at 240 rows."""
    path.scale = 1.0
    for _ in range(3):  # flow is nearly linear in the scale; a few fixed-point steps make it exact
        stat = camera_flow_stat(path, planes, aspect, max(n_frames, 2))
        if stat <= 0:
            return
        path.scale *= speed / stat


def camera_flow_stat(path: CameraPath, planes: list[tuple[np.ndarray, float]], aspect: float, n_frames: int) -> float:
    """Camera speed of ``path`` over a background made of ``planes`` [(normal, delta), ...].

    At 16 x 9 points of the view, the flow between consecutive frames of the nearest plane
    (the largest flow over the planes: conservative for layered depth); per frame its 90th
    percentile over the points; the mean over frames. In px/frame at 240 rows.
    """
    u, v = np.meshgrid(np.linspace(-aspect, aspect, 16) * 0.95, np.linspace(-0.95, 0.95, 9))
    pts = np.stack([u.ravel(), v.ravel()], 1)
    t = np.arange(n_frames, dtype=np.float64)
    proj = np.diag([F0, F0, 1.0])
    mags = [pair_flow_magnitudes(proj @ plane_matrices(path, t, normal, delta), pts) for normal, delta in planes]
    mag = np.max(mags, axis=0)  # (T-1, P)
    return float(np.percentile(mag, 90, axis=1).mean() * REFERENCE_ROWS / 2)
