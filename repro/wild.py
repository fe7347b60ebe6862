"""The WILD dataset recipe (Section 2 of the paper): average high-frame-rate frames into blurry images.

For every scene (a clip of the virtual 240 fps camera, a frame folder, a video file, or one
``GOPRO_Large_all`` sequence) the builder walks over non-overlapping windows of ``N`` frames,
``N`` a random odd number in ``n_range`` (seeded per scene), and for each window:

1. downsamples every frame by ``downsample`` (3; 1 for the virtual camera, which renders at the
   WILD size directly) by area averaging: each output pixel is the
   mean of a ``3x3`` block (``cv2.resize(INTER_AREA)``, which for an integer factor is exactly
   the block mean, 20x faster than ``skimage.transform.downscale_local_mean`` here). A box
   average is what a sensor with 3x larger pixels records, so it is the physically right
   anti-aliasing for averaging light; it is also the model's ``D_k``. Rows/columns beyond a
   multiple of 3 are cropped from the bottom/right (1280x720 -> 426x240);
2. averages the ``N`` frames into the blurry image (in the encoded values as the paper; with
   ``linear=True`` in linear light, ``x**2.2`` before and ``**(1/2.2)`` after, as DeepDeblur's
   ``blur_gamma``; the downsampling then happens in linear light too, so a static scene gives
   blur == sharp exactly); the central frame is the sharp image;
3. estimates the optical flow between consecutive (downsampled) frames (:mod:`repro.flow`) and
   keeps the window only if the *flow statistic* is at most ``max_flow`` (1 px) for every
   consecutive pair. The statistic is the ``flow_percentile`` (99th) percentile of the per-pixel
   flow magnitude, not the maximum: the maximum of an *estimated* flow field is set by a handful
   of outlier pixels (occlusion boundaries, image borders, textureless sky) and would reject
   windows whose motion is well below 1 px, while the 99th percentile still rejects any moving
   object covering more than 1 % of the frame (~1000 pixels at 426x240). ``flow_percentile=100``
   gives the strict maximum;
4. checks the flow's reliability by the frame-matching error: the RMS grayscale difference
   between a frame and the next one warped back by the flow (:func:`repro.flow.matching_error`);
   windows whose worst pair exceeds ``max_match_error`` are rejected as "unreliable flow";
5. moves on: the next window starts ``gap`` (0) frames after this one; after a rejected window
   it starts right after the window's last offending frame pair (``resync``), since no accepted
   window may contain that pair and the frames after it are still usable (accepted windows never
   overlap either way);
6. integrates the flow along each pixel's trajectory through the window (starting at the
   central frame, forward through the forward flows and backward through their inverses) into a
   per-pixel blur size (trajectory length in pixels, :func:`blur_size_map`); its mean goes into
   the manifest (Fig. 9), the map to ``blursize/NNNNNN.npy`` with ``save_blursize=True``.

Output (the GoPro layout, read by :class:`repro.datasets.PairedFolder`)::

    OUT/<split>/<scene>/blur/NNNNNN.png    NNNNNN = index of the central (sharp) frame
    OUT/<split>/<scene>/sharp/NNNNNN.png
    OUT/<split>/<scene>/windows.json       every window tried in the scene (resume state)
    OUT/<split>/build.json                 the parameters of the build
    OUT/manifest.csv                       one row per window tried (all splits)

Resumable: every file is written atomically, a window's row is recorded only after its images,
and a re-run skips the windows (and whole scenes) already done; the output is byte-identical to
an uninterrupted build. With ``pairs`` the build stops at exactly that many accepted pairs,
taking scenes in order, whatever the number of workers.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import shutil
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_path, atomic_write_text
from .flow import DEFAULT_BACKEND, BACKENDS, estimate_flow, flow_magnitude, matching_error
from .images import write_image

__all__ = ["BuildConfig", "build_wild", "read_manifest", "process_scene", "prepare_frame", "average_frames",
           "blur_size_map", "pair_statistics", "analyse_window", "WindowResult", "draw_window_sizes", "downsample_flow",
           "flow_benchmark", "averaging_check", "averaging_summary", "plot_averaging_check", "MANIFEST_COLUMNS", "add_arguments", "run"]

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("split", "scene", "start", "n", "center", "flow_stat", "flow_max", "match_error",
                    "blur_size", "input_psnr", "accepted", "reason", "blur", "sharp")
DEFAULT_VIRTUAL_PAIRS = 200
DEFAULT_MAX_MATCH_ERROR = 0.05  # RMS grayscale error in [0, 1] units (about 13 grey levels of 255)


@dataclass(frozen=True)
class BuildConfig:
    """Parameters that decide the content of a build (saved as ``OUT/<split>/build.json``)."""

    source: str = "virtual"            # "virtual" or the path given on the command line
    split: str = "train"               # output split folder (and the photo set of the virtual camera)
    seed: int = 0                      # seeds the window sizes (per scene) and the virtual clips
    downsample: int = 3                # area-average factor applied to every frame (paper: 3)
    n_range: tuple[int, int] = (7, 23)  # N is a random odd number in this closed range (paper: 7..23)
    gap: int = 0                       # frames between consecutive windows (negative: overlap)
    resync: bool = True                # after a rejected window, restart just after its offending pair
    max_flow: float = 1.0              # accept when the flow statistic <= this, in px (paper: 1)
    flow_percentile: float = 99.0      # the flow statistic: this percentile of |flow| (100 = max)
    max_match_error: float | None = DEFAULT_MAX_MATCH_ERROR  # reject unreliable flow (None: never)
    linear: bool = False               # average in linear light (DeepDeblur's blur_gamma)
    gamma: float = 2.2                 # the encoding gamma used by ``linear``
    flow_backend: str = DEFAULT_BACKEND  # see repro.flow.BACKENDS
    save_blursize: bool = False        # also write the per-pixel blur-size map as .npy
    virtual: dict = field(default_factory=dict)  # options of the virtual camera (n_frames, size, ...)
    camera: str = ""                   # the virtual camera's version (repro.render.CAMERA_VERSION); "" for footage

    def __post_init__(self) -> None:
        lo, hi = self.n_range
        if not (isinstance(self.downsample, int) and self.downsample >= 1):
            raise ValueError(f"downsample must be an integer >= 1, got {self.downsample!r}")
        if lo < 1 or hi < lo or not any(n % 2 for n in range(lo, hi + 1)):
            raise ValueError(f"n_range {self.n_range} must contain an odd number >= 1")
        if self.max_flow <= 0:
            raise ValueError(f"max_flow must be positive, got {self.max_flow}")
        if not 0 < self.flow_percentile <= 100:
            raise ValueError(f"flow_percentile must be in (0, 100], got {self.flow_percentile}")
        if self.flow_backend not in BACKENDS and not (self.flow_backend == "true" and self.source == "virtual"):
            raise ValueError(f"unknown flow backend {self.flow_backend!r}; choose one of {', '.join(BACKENDS)} "
                             f"(or 'true' with the virtual camera: the renderer's own flow)")
        if self.gap <= -min(n for n in range(lo, hi + 1) if n % 2):
            raise ValueError(f"gap {self.gap} would not move the window forward (smallest N in {self.n_range})")
        if self.gamma <= 0:
            raise ValueError(f"gamma must be positive, got {self.gamma}")

    def to_json(self) -> str:
        d = asdict(self)
        d["n_range"] = list(self.n_range)
        return json.dumps(d, indent=2, sort_keys=True, default=str) + "\n"


# --------------------------------------------------------------------------------------------
# The per-window maths
# --------------------------------------------------------------------------------------------

def prepare_frame(frame: np.ndarray, *, downsample: int = 3, linear: bool = False,
                  gamma: float = 2.2) -> tuple[np.ndarray, np.ndarray]:
    """One video frame -> ``(encoded, averaging_space)`` downsampled float32 ``(H//k, W//k, 3)``.

    ``encoded`` is the frame in its encoded (display) values, used for the sharp image and the
    optical flow; ``averaging_space`` is what gets averaged: the same array, or linear light
    (``encoded_in ** gamma`` downsampled) when ``linear``. Input: uint8/uint16/float ``(H, W, 3)``.
    """
    import cv2

    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"expected a frame of shape (H, W, 3), got {frame.shape}")
    frame = frame[..., :3]
    H, W = frame.shape[:2]
    k = downsample
    if H < k or W < k:
        raise ValueError(f"frame of {H}x{W} is smaller than the downsampling factor {k}")
    if frame.dtype == np.uint8:
        if linear:
            x = _gamma_lut(gamma)[frame]
        else:
            x = frame.astype(np.float32) * np.float32(1 / 255)
    else:
        from .images import to_float

        x = to_float(frame)
        if linear:
            x = x ** np.float32(gamma)
    h, w = H // k, W // k
    x = x[: h * k, : w * k]
    if k > 1:
        x = cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if linear:
        return np.clip(x, 0, 1) ** np.float32(1 / gamma), x
    return x, x


_LUTS: dict[float, np.ndarray] = {}


def _gamma_lut(gamma: float) -> np.ndarray:
    if gamma not in _LUTS:
        _LUTS[gamma] = (np.arange(256, dtype=np.float64) / 255.0) ** gamma
        _LUTS[gamma] = _LUTS[gamma].astype(np.float32)
    return _LUTS[gamma]


def average_frames(frames: Sequence[np.ndarray], *, linear: bool = False, gamma: float = 2.2) -> np.ndarray:
    """Mean of ``frames`` (each ``(H, W, 3)`` float in the averaging space); re-encoded if ``linear``."""
    acc = np.zeros_like(np.asarray(frames[0]), dtype=np.float64)
    for f in frames:
        acc += f
    acc /= len(frames)
    if linear:
        acc = np.clip(acc, 0, 1) ** (1 / gamma)
    return acc.astype(np.float32)


def _sample(field_: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.remap(field_, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def blur_size_map(flows: np.ndarray, center: int, *, inverse_iterations: int = 3) -> np.ndarray:
    """Per-pixel blur size: length of each scene point's trajectory over the window, in pixels.

    ``flows``: ``(N-1, H, W, 2)`` forward flows between consecutive frames (``flows[t]``: frame t
    -> t+1, on frame t's grid). The trajectory starts at each pixel of the central frame
    ``center``; forward it follows ``flows[center:]`` (bilinearly sampled where the point is), and
    backward it inverts ``flows[:center]`` by the fixed-point iteration ``q = p - flow_t(q)``.
    Returns ``(H, W)`` float32 on the central frame's grid. A pan of ``v`` px per frame over
    ``N`` frames gives ``(N - 1) * v`` everywhere.
    """
    flows = np.asarray(flows, dtype=np.float32)
    T, H, W, _ = flows.shape
    if not 0 <= center <= T:
        raise ValueError(f"center {center} outside the window of {T + 1} frames")
    xs, ys = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    length = np.zeros((H, W), np.float32)
    px, py = xs.copy(), ys.copy()
    for t in range(center, T):  # forward: p_{t+1} = p_t + flow_t(p_t)
        d = _sample(flows[t], px, py)
        length += np.hypot(d[..., 0], d[..., 1])
        px, py = px + d[..., 0], py + d[..., 1]
    px, py = xs.copy(), ys.copy()
    for t in range(center - 1, -1, -1):  # backward: find q with q + flow_t(q) = p
        d = _sample(flows[t], px, py)
        for _ in range(inverse_iterations):
            d = _sample(flows[t], px - d[..., 0], py - d[..., 1])
        length += np.hypot(d[..., 0], d[..., 1])
        px, py = px - d[..., 0], py - d[..., 1]
    return length


def pair_statistics(frame0: np.ndarray, frame1: np.ndarray, flow: np.ndarray, *,
                    percentile: float = 99.0) -> tuple[float, float, float]:
    """``(flow statistic, max |flow|, matching error)`` of one consecutive pair and its flow."""
    mag = flow_magnitude(flow)
    return (float(np.percentile(mag, percentile)), float(mag.max()), matching_error(frame0, frame1, flow))


@dataclass
class WindowResult:
    """What :func:`analyse_window` finds about one window (images ``(H, W, 3)`` float32 [0, 1])."""

    blurry: np.ndarray
    sharp: np.ndarray
    flows: np.ndarray        # (N-1, H, W, 2)
    flow_stat: float         # max over consecutive pairs of the flow statistic, px
    flow_max: float          # max |flow| over the window, px (for information)
    match_error: float       # max over pairs of the frame-matching error
    blur_size: np.ndarray    # (H, W) trajectory length, px
    accepted: bool
    reason: str              # "" when accepted
    last_bad_pair: int | None = None  # last pair (t, t+1) of the window breaking a rule, None if accepted


def analyse_window(encoded: Sequence[np.ndarray], averaging: Sequence[np.ndarray] | None = None, *,
                   config: BuildConfig = BuildConfig(), flows: np.ndarray | None = None,
                   pair_stats: Sequence[tuple[float, float, float]] | None = None) -> WindowResult:
    """Average, select and measure one window of ``N`` prepared frames (see :func:`prepare_frame`).

    ``encoded``: N frames ``(H, W, 3)`` float32 in display values; ``averaging``: the same in the
    averaging space (default: ``encoded``). ``flows``: give ``(N-1, H, W, 2)`` flows to skip the
    estimation (e.g. the renderer's true flows); ``pair_stats``: their :func:`pair_statistics`.
    """
    n = len(encoded)
    if n < 1:
        raise ValueError("a window needs at least one frame")
    averaging = encoded if averaging is None else averaging
    c = n // 2
    blurry = average_frames(averaging, linear=config.linear, gamma=config.gamma)
    sharp = np.asarray(encoded[c], dtype=np.float32)
    H, W = sharp.shape[:2]
    if flows is None:
        flows = np.stack([estimate_flow(encoded[t], encoded[t + 1], backend=config.flow_backend)
                          for t in range(n - 1)]) if n > 1 else np.zeros((0, H, W, 2), np.float32)
    flows = np.asarray(flows, dtype=np.float32)
    if flows.shape != (n - 1, H, W, 2):
        raise ValueError(f"flows of shape {flows.shape} do not match {n} frames of {H}x{W}")
    if pair_stats is None:
        pair_stats = [pair_statistics(encoded[t], encoded[t + 1], flows[t], percentile=config.flow_percentile)
                      for t in range(n - 1)]
    stats = [p[0] for p in pair_stats]
    errs = [p[2] for p in pair_stats]
    flow_stat = max(stats, default=0.0)
    flow_max = max((p[1] for p in pair_stats), default=0.0)
    match = max(errs, default=0.0)
    too_fast = [t for t in range(n - 1) if stats[t] > config.max_flow]
    unreliable = [t for t in range(n - 1) if config.max_match_error is not None and errs[t] > config.max_match_error]
    reason = ""
    stat_name = "max" if config.flow_percentile == 100 else f"p{config.flow_percentile:g}"
    if too_fast:
        t = int(np.argmax(stats))
        reason = (f"flow: {stat_name} |flow| {flow_stat:.2f} px > {config.max_flow:g} px "
                  f"between frames {t} and {t + 1} of the window")
    elif unreliable:
        t = int(np.argmax(errs))
        reason = (f"unreliable flow: matching error {match:.4f} > {config.max_match_error:g} "
                  f"between frames {t} and {t + 1} of the window")
    return WindowResult(blurry=blurry, sharp=sharp, flows=flows, flow_stat=flow_stat, flow_max=flow_max,
                        match_error=match, blur_size=blur_size_map(flows, c), accepted=not reason, reason=reason,
                        last_bad_pair=max(too_fast + unreliable) if reason else None)


def draw_window_sizes(rng: np.random.Generator, n_range: tuple[int, int]) -> Iterable[int]:
    """Endless stream of odd window sizes drawn uniformly from the odd numbers in ``n_range``."""
    odd = [n for n in range(n_range[0], n_range[1] + 1) if n % 2]
    while True:
        yield int(odd[int(rng.integers(len(odd)))])


def _scene_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


# --------------------------------------------------------------------------------------------
# One scene
# --------------------------------------------------------------------------------------------

def _psnr8(blurry: np.ndarray, sharp: np.ndarray) -> float:
    """PSNR (dB) of the blurry image against the sharp one, both as the 8-bit PNGs written."""
    from .metrics import psnr

    def q(x: np.ndarray) -> np.ndarray:
        return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)

    return float(psnr(q(sharp), q(blurry)))


def _rel(split: str, scene: str, kind: str, center: int, suffix: str = ".png") -> str:
    return f"{split}/{scene}/{kind}/{center:06d}{suffix}"


def _row_files_exist(out: Path, row: dict) -> bool:
    return (not row["accepted"]) or ((out / row["blur"]).is_file() and (out / row["sharp"]).is_file())


def _load_state(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("%s: unreadable resume state, the scene is redone", path)
        return None


def _scene_done(out: Path, split: str, scene: str, accepted_before: int | None,
                pairs: int | None) -> list[dict] | None:
    """Rows of a scene finished by an earlier run, else None.

    Finished: complete, and every accepted row has its files, except rows beyond the ``pairs``
    cut (whose files the cut removed) when the count of accepted pairs before this scene,
    ``accepted_before``, is known.
    """
    state = _load_state(out / split / scene / "windows.json")
    if not (state and state.get("complete")):
        return None
    accepted = accepted_before
    for r in state["rows"]:
        if pairs is not None and accepted is not None and accepted >= pairs:
            break
        if not _row_files_exist(out, r):
            return None
        if accepted is not None:
            accepted += r["accepted"]
    return state["rows"]


class _FrameCache:
    """Frames of a scene read in order, prepared and their flows estimated at most once each."""

    def __init__(self, frames: Iterable[np.ndarray], config: BuildConfig,
                 true_flows: Callable[[int], np.ndarray] | None) -> None:
        self.it, self.config, self.true_flows = iter(frames), config, true_flows
        self.read = 0
        self.raw: dict[int, np.ndarray] = {}
        self.prepared: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.flows: dict[int, np.ndarray] = {}
        self.stats: dict[int, tuple[float, float, float]] = {}

    def fill(self, stop: int) -> int:
        """Read frames up to index ``stop`` (exclusive) if the scene has them; returns frames read."""
        while self.read < stop:
            f = next(self.it, None)
            if f is None:
                break
            self.raw[self.read] = f
            self.read += 1
        return self.read

    def drop_before(self, start: int) -> None:
        for d in (self.raw, self.prepared, self.flows, self.stats):
            for i in [i for i in d if i < start]:
                del d[i]

    def prepare(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self.prepared:
            c = self.config
            self.prepared[i] = prepare_frame(self.raw[i], downsample=c.downsample, linear=c.linear, gamma=c.gamma)
        return self.prepared[i]

    def flow(self, t: int) -> np.ndarray:
        if t not in self.flows:
            if self.true_flows is not None:
                self.flows[t] = self.true_flows(t)
            else:
                self.flows[t] = estimate_flow(self.prepare(t)[0], self.prepare(t + 1)[0],
                                              backend=self.config.flow_backend)
        return self.flows[t]

    def pair_stats(self, t: int) -> tuple[float, float, float]:
        if t not in self.stats:
            self.stats[t] = pair_statistics(self.prepare(t)[0], self.prepare(t + 1)[0], self.flow(t),
                                            percentile=self.config.flow_percentile)
        return self.stats[t]


def process_scene(frames: Iterable[np.ndarray], scene: str, out: str | os.PathLike, config: BuildConfig, *,
                  true_flows: Callable[[int], np.ndarray] | None = None,
                  callback: Callable[[dict], None] | None = None) -> list[dict]:
    """Walk the windows of one scene's ``frames`` (uint8 ``(H, W, 3)``), write pairs, return rows.

    Window ``i + 1`` starts ``gap`` frames after window ``i`` ends (a negative ``gap`` overlaps
    them; each frame's preparation and flow is computed once). Rows already recorded in
    ``OUT/<split>/<scene>/windows.json`` whose files exist are kept without recomputation.
    ``true_flows(t)`` (optional) returns the ``(H, W, 2)`` flow from frame ``t`` to ``t + 1`` on
    the *downsampled* grid instead of estimating it. ``callback(row)`` is called after each
    window is recorded (a progress or testing hook).
    """
    out = Path(out)
    scene_dir = out / config.split / scene
    state_path = scene_dir / "windows.json"
    state = _load_state(state_path)
    done = {(r["start"], r["n"]): r for r in (state or {}).get("rows", []) if _row_files_exist(out, r)}
    rows: list[dict] = []
    sizes = draw_window_sizes(_scene_rng(config.seed, scene), config.n_range)
    cache = _FrameCache(frames, config, true_flows)

    def save_state(complete: bool) -> None:
        scene_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state_path, json.dumps({"scene": scene, "complete": complete, "rows": rows}) + "\n")

    start = 0
    while True:
        n = next(sizes)
        if cache.fill(start + n) < start + n:
            if start == 0:  # the clip is shorter than its (first) window: skipped, with a reason
                rows.append(dict(scene=scene, start=0, n=n, center=n // 2, flow_stat=float("nan"),
                                 flow_max=float("nan"), match_error=float("nan"), blur_size=float("nan"),
                                 accepted=False, reason=f"clip too short: {cache.read} frames, window needs N={n}",
                                 blur="", sharp=""))
                if callback:
                    callback(rows[-1])
            break
        if (start, n) in done:
            rows.append(done[(start, n)])
        else:
            prepared = [cache.prepare(i) for i in range(start, start + n)]
            flows = np.stack([cache.flow(t) for t in range(start, start + n - 1)]) if n > 1 else None
            res = analyse_window([p[0] for p in prepared], [p[1] for p in prepared], config=config, flows=flows,
                                 pair_stats=[cache.pair_stats(t) for t in range(start, start + n - 1)])
            center = start + n // 2
            # The next window: after this one (+ gap); after a rejected one with ``resync``, right
            # after its last offending pair (no accepted window can contain that pair).
            nxt = start + n + config.gap
            if not res.accepted and config.resync:
                nxt = start + res.last_bad_pair + 1
            row = dict(scene=scene, start=start, n=n, center=center, flow_stat=res.flow_stat,
                       flow_max=res.flow_max, match_error=res.match_error,
                       blur_size=float(res.blur_size.mean()), input_psnr=_psnr8(res.blurry, res.sharp),
                       accepted=res.accepted, reason=res.reason, blur="", sharp="", next=nxt)
            if res.accepted:
                row["blur"] = _rel(config.split, scene, "blur", center)
                row["sharp"] = _rel(config.split, scene, "sharp", center)
                write_image(out / row["blur"], res.blurry)
                write_image(out / row["sharp"], res.sharp)
                if config.save_blursize:
                    with atomic_path(out / _rel(config.split, scene, "blursize", center, ".npy")) as tmp:
                        np.save(tmp, res.blur_size.astype(np.float32))
            rows.append(row)
        save_state(False)
        if callback:
            callback(rows[-1])
        start = rows[-1]["next"]
        cache.drop_before(start)
    save_state(True)
    return rows


# --------------------------------------------------------------------------------------------
# Scenes: the virtual camera or real footage, opened inside worker processes
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _SceneTask:
    index: int
    name: str
    out: str
    config: BuildConfig
    source_obj: Any = None  # a FrameSource-like object given directly (must pickle for workers > 1)


def _camera_version() -> str:
    from .render import CAMERA_VERSION

    return CAMERA_VERSION


def _virtual_camera(config: BuildConfig, n_clips: int):
    """The virtual camera of a build: ``n_clips`` lazy :class:`repro.render.VirtualSource` clips
    (their length is ``virtual["n_frames"]``, or a placeholder when each clip is one window)."""
    from .render import DEFAULT_SIZE, VirtualCamera

    opts = dict(config.virtual)
    k = config.downsample
    size = tuple(opts.pop("size", (DEFAULT_SIZE[0] * k, DEFAULT_SIZE[1] * k)))
    n_frames = int(opts.pop("n_frames", None) or max(config.n_range))
    return VirtualCamera(config.split, n_clips=n_clips, n_frames=n_frames, size=size, seed=config.seed, **opts)


def _virtual_scene(index: int, config: BuildConfig):
    """Clip ``index`` of the virtual camera: ``(frames, true_flow(t))``, the flow on the downsampled grid.

    Without ``virtual["n_frames"]`` the clip is exactly one window long: its N is the scene's
    first window size (the same draw :func:`process_scene` makes), so that the clip's peak flow,
    which the renderer sets, is the window's.
    """
    source = _virtual_camera(config, index + 1)[index]
    if not config.virtual.get("n_frames"):
        source.n_frames = next(draw_window_sizes(_scene_rng(config.seed, source.name), config.n_range))
    clip = source.clip
    k = config.downsample

    def true_flow(t: int) -> np.ndarray:
        return downsample_flow(clip.flows[t], k)

    return clip.frames, true_flow


def downsample_flow(flow: np.ndarray, k: int) -> np.ndarray:
    """A ``(H, W, 2)`` flow on the full-resolution grid -> the grid downsampled by ``k`` (area mean / k)."""
    import cv2

    if k == 1:
        return np.asarray(flow, dtype=np.float32)
    H, W = flow.shape[:2]
    h, w = H // k, W // k
    small = cv2.resize(np.ascontiguousarray(flow[: h * k, : w * k], dtype=np.float32), (w, h),
                       interpolation=cv2.INTER_AREA)
    return small / np.float32(k)


def _run_scene_task(task: _SceneTask, callback: Callable[[dict], None] | None = None) -> tuple[int, list[dict]]:
    """Top-level (spawn-safe) worker: open the scene named by ``task`` and process it."""
    cfg = task.config
    true_flows = None
    if task.source_obj is not None:
        frames = task.source_obj
    elif cfg.source == "virtual":
        frames, flows = _virtual_scene(task.index, cfg)
        if cfg.flow_backend == "true":
            true_flows = flows
    else:
        from .video import open_sources

        frames = open_sources(cfg.source, cfg.split)[task.index]
    return task.index, process_scene(frames, task.name, task.out, cfg, true_flows=true_flows, callback=callback)


def _worker_init() -> None:
    # One thread per worker process: the workers are the parallelism.
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


# --------------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------------

def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _write_manifest(out: Path, split: str, rows: list[dict]) -> Path:
    path = out / "manifest.csv"
    kept: list[dict] = []
    if path.is_file():
        with open(path, newline="") as f:
            kept = [r for r in csv.DictReader(f) if r.get("split") != split]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in kept:
        writer.writerow({k: r.get(k, "") for k in MANIFEST_COLUMNS})
    for r in rows:
        writer.writerow({k: _fmt(r.get(k, split if k == "split" else "")) for k in MANIFEST_COLUMNS})
    atomic_write_text(path, buf.getvalue())
    return path


def read_manifest(out: str | os.PathLike) -> list[dict]:
    """Rows of ``OUT/manifest.csv`` with types: ints, floats (``nan`` where empty), ``accepted`` bool."""
    path = Path(out) / "manifest.csv" if Path(out).is_dir() else Path(out)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest (build the dataset with `python -m repro build-wild`)")
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            for k in ("start", "n", "center"):
                r[k] = int(r[k])
            for k in ("flow_stat", "flow_max", "match_error", "blur_size", "input_psnr"):
                r[k] = float(r[k]) if r.get(k, "") != "" else float("nan")
            r["accepted"] = r["accepted"] == "1"
            rows.append(r)
    return rows


def _clean_temporaries(split_dir: Path) -> None:
    """Remove temporary files left by a killed build (atomic writes name them ``.<stem>.*.tmp.*``)."""
    if not split_dir.is_dir():
        return
    for pattern in (".*.tmp.*", "*/.*.tmp.*", "*/*/.*.tmp.*"):
        for p in split_dir.glob(pattern):
            if p.is_file():
                p.unlink()


def _check_config(split_dir: Path, config: BuildConfig) -> None:
    path = split_dir / "build.json"
    text = config.to_json()
    if path.is_file():
        if path.read_text() != text:
            raise ValueError(f"{path}: this folder was built with other parameters; use the same ones to "
                             f"resume, or a new output folder")
    else:
        atomic_write_text(path, text)


def _remove_scene_files(split_dir: Path, scene: str, rows: Sequence[dict]) -> None:
    """Delete the images of the accepted ``rows`` of ``scene`` (its ``windows.json`` stays)."""
    d = split_dir / scene
    for r in rows:
        if r["accepted"]:
            for sub, suffix in (("blur", ".png"), ("sharp", ".png"), ("blursize", ".npy")):
                (d / sub / f"{r['center']:06d}{suffix}").unlink(missing_ok=True)


def build_wild(source: str | os.PathLike | Sequence[Any], out: str | os.PathLike, *, split: str = "train",
               pairs: int | None = None, seed: int = 0, workers: int = 2, downsample: int | None = None,
               n_range: tuple[int, int] = (7, 23), max_flow: float = 1.0, flow_percentile: float = 99.0,
               max_match_error: float | None = DEFAULT_MAX_MATCH_ERROR, linear: bool = False, gamma: float = 2.2,
               flow_backend: str = DEFAULT_BACKEND, gap: int = 0, resync: bool = True, save_blursize: bool = False,
               virtual: dict | None = None, max_scenes: int | None = None, progress: bool = True,
               callback: Callable[[dict], None] | None = None) -> Path:
    """Build a WILD-style dataset in ``out``; returns the manifest path (see the module docstring).

    Parameters
    ----------
    source : ``"virtual"`` (the virtual 240 fps camera, :mod:`repro.render`), a path opened by
        :func:`repro.video.open_sources` (frame folder, video file, ``GOPRO_Large_all``), or a
        sequence of FrameSource-like objects (``.name``, iterable of uint8 ``(H, W, 3)`` frames).
    pairs : stop after exactly this many accepted pairs (scenes taken in order; the last one cut);
        ``None``: every window of every scene (for ``"virtual"``: ``DEFAULT_VIRTUAL_PAIRS``).
    workers : worker processes over scenes (``<= 1``: in this process).
    downsample : area-average factor; default 3 (the paper), but 1 for ``"virtual"``: the
        virtual camera renders at the WILD size (240x320, from photos area-averaged to that
        scale); its photos are too small for a 720-row render to add detail, and that would cost
        9x the time. ``downsample=3`` renders 720x960 and follows the paper literally.
    virtual : options of the virtual camera: ``n_frames`` (default: each clip is one window of
        N frames, N as drawn for the scene), ``size`` (``(240k, 320k)``),
        and any further keyword of :func:`repro.render.render_clip` (``supersample``, ``speed``,
        ``kind``, ``noise_std``, ``device``...).
    max_scenes : at most this many scenes (virtual default: ``10 + 3 * pairs``, one window each).
    callback : called with each window's row as it is recorded (only with ``workers <= 1``).
    Other parameters: :class:`BuildConfig`.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    objects = None if isinstance(source, (str, os.PathLike)) else list(source)
    source_str = "objects" if objects is not None else str(source)
    if downsample is None:  # the virtual camera renders at the WILD size itself (see repro.render)
        downsample = 1 if source_str == "virtual" else 3
    config = BuildConfig(source=source_str, split=split, seed=seed, downsample=downsample,
                         n_range=tuple(int(v) for v in n_range), gap=int(gap), resync=bool(resync),
                         max_flow=float(max_flow),
                         flow_percentile=float(flow_percentile),
                         max_match_error=None if max_match_error is None else float(max_match_error),
                         linear=bool(linear), gamma=float(gamma), flow_backend=flow_backend,
                         save_blursize=bool(save_blursize), virtual=dict(virtual or {}),
                         camera=_camera_version() if source_str == "virtual" else "")
    if pairs is not None and pairs < 1:
        raise ValueError(f"pairs must be a positive number or None, got {pairs}")
    if callback is not None and workers > 1:
        raise ValueError("callback needs workers <= 1 (it runs in the worker process)")

    # The scenes: names (folder names) known up front, content opened in the workers.
    if objects is not None:
        names = [str(getattr(o, "name", f"scene{i:03d}")) for i, o in enumerate(objects)]
    elif source_str == "virtual":
        if pairs is None:
            pairs = DEFAULT_VIRTUAL_PAIRS
        n_virtual = max_scenes if max_scenes is not None else 10 + 3 * pairs
        names = [src.name for src in _virtual_camera(config, n_virtual)]
    else:
        from .video import open_sources

        names = [s.name for s in open_sources(source, split)]
    if max_scenes is not None:
        names = names[:max_scenes]
    if len(set(names)) != len(names):
        raise ValueError(f"scene names are not unique: {names}")
    for nm in names:
        if not nm or "/" in nm or "\\" in nm or nm.startswith("."):
            raise ValueError(f"scene name {nm!r} cannot be a folder name")

    split_dir = out / split
    split_dir.mkdir(parents=True, exist_ok=True)
    _clean_temporaries(split_dir)
    for p in out.glob(".manifest.*.tmp.csv"):
        p.unlink()
    _check_config(split_dir, config)

    results: dict[int, list[dict]] = {}
    bar = tqdm(total=pairs if pairs is not None else len(names), disable=not progress,
               desc=f"build-wild {split}", unit="pair" if pairs is not None else "scene")
    next_scene = 0

    # The leading run of finished scenes (in order), its rows cut at ``pairs``: kept incrementally.
    done_n, done_rows, done_accepted, reached_pairs = 0, [], 0, False
    last_manifest = -1e9

    def prefix() -> tuple[int, list[dict], bool]:
        """(number of leading scenes done, their rows cut at ``pairs``, whether ``pairs`` is reached)."""
        nonlocal done_n, done_accepted, reached_pairs
        while not reached_pairs and done_n in results:
            for r in results[done_n]:
                done_rows.append(r)
                done_accepted += r["accepted"]
                if pairs is not None and done_accepted >= pairs:
                    reached_pairs = True
                    break
            done_n += 1
        return done_n, done_rows, reached_pairs

    def record(i: int, rows: list[dict]) -> None:
        nonlocal last_manifest
        results[i] = rows
        n_prefix, _, _ = prefix()  # the bar shows the kept (in-order) part only
        bar.n = min(done_accepted, pairs) if pairs is not None else n_prefix
        bar.refresh()
        if time.monotonic() - last_manifest > 20:  # a readable manifest while a long build runs
            _write_manifest(out, split, prefix()[1])
            last_manifest = time.monotonic()

    def next_task() -> _SceneTask | None:
        nonlocal next_scene
        while next_scene < len(names):
            i = next_scene
            next_scene += 1
            if prefix()[2]:
                return None
            n_prefix, _, _ = prefix()
            before = done_accepted if n_prefix == i else None
            done = _scene_done(out, split, names[i], before, pairs)
            if done is not None:
                record(i, done)
                continue
            return _SceneTask(i, names[i], str(out), config, objects[i] if objects is not None else None)
        return None

    try:
        if workers <= 1:
            while (task := next_task()) is not None:
                record(*_run_scene_task(task, callback))
        else:
            import multiprocessing
            from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
                running = set()
                while True:
                    while len(running) < workers and not prefix()[2] and (task := next_task()) is not None:
                        running.add(pool.submit(_run_scene_task, task))
                    if not running:
                        break
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        record(*fut.result())
                    if prefix()[2]:
                        for fut in running:
                            fut.cancel()
                        for fut in running:
                            if not fut.cancelled():
                                record(*fut.result())
                        break
    finally:
        bar.close()

    n_done, rows, reached = prefix()
    if pairs is not None and not reached:
        log.warning("%s: only %d accepted pairs from %d scenes (asked for %d)", split_dir,
                    sum(r["accepted"] for r in rows), n_done, pairs)
    # Cut: images beyond ``pairs`` (in the last scene, and of scenes processed beyond it) go.
    kept_names = set(names[:n_done])
    if reached:
        last = names[n_done - 1]
        last_rows = results[n_done - 1]
        n_kept_last = sum(1 for r in rows if r["scene"] == last)
        _remove_scene_files(split_dir, last, last_rows[n_kept_last:])
    for d in sorted(split_dir.iterdir()):
        # Scenes beyond the cut (processed by a worker in parallel, or by an earlier larger
        # build) go entirely, so the folder does not depend on the number of workers.
        if d.is_dir() and d.name not in kept_names and (d / "windows.json").is_file():
            shutil.rmtree(d)
    return _write_manifest(out, split, rows)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="'virtual' (the virtual 240 fps camera), a frame folder, a video file, "
                                       "or a GOPRO_Large_all root")
    parser.add_argument("out", type=Path, help="output folder (GoPro layout + manifest.csv)")
    parser.add_argument("--split", default="train", help="output split (and GOPRO_Large_all split / virtual photo set)")
    parser.add_argument("--pairs", type=int, default=None,
                        help=f"stop at this many accepted pairs (virtual default {DEFAULT_VIRTUAL_PAIRS})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the window lengths N (and of the virtual clips)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes working on scenes in parallel (default: min(2, cores))")
    parser.add_argument("--downsample", type=int, default=None,
                        help="area-average factor (default 3; 1 for 'virtual', which renders at 240x320)")
    parser.add_argument("--n-min", type=int, default=7, help="smallest N (odd)")
    parser.add_argument("--n-max", type=int, default=23, help="largest N (odd)")
    parser.add_argument("--max-flow", type=float, default=1.0, help="accept windows whose flow statistic <= this (px)")
    parser.add_argument("--flow-percentile", type=float, default=99.0, help="the flow statistic (100 = max)")
    parser.add_argument("--max-match-error", type=float, default=DEFAULT_MAX_MATCH_ERROR,
                        help="reject windows with a larger frame-matching error (negative: never)")
    parser.add_argument("--flow-backend", default=DEFAULT_BACKEND, choices=BACKENDS + ("true",),
                        help="optical flow (default %(default)s); 'true': the virtual camera's own flow")
    parser.add_argument("--linear", action="store_true", help="average in linear light (gamma 2.2), as blur_gamma")
    parser.add_argument("--gap", type=int, default=0, help="frames skipped between windows (negative: overlap)")
    parser.add_argument("--no-resync", action="store_true",
                        help="after a rejected window go on after it, not just after its offending frame pair")
    parser.add_argument("--save-blursize", action="store_true", help="write per-pixel blur-size maps (.npy)")
    parser.add_argument("--clip-frames", type=int, default=None,
                        help="virtual camera: frames per clip (default: each clip is one window of N frames)")
    parser.add_argument("--photos", type=Path, default=None,
                        help="virtual camera: folder of JPEG/PNG photos instead of the bundled ones "
                             "(split into train/val/test by file name)")
    parser.add_argument("--virtual-device", default=None, help="virtual camera: render on this device (e.g. cuda)")
    parser.add_argument("--virtual-supersample", type=int, default=None,
                        help="virtual camera: spatial supersampling of the renderer (its default 1: photos are area-averaged to the frame first)")
    parser.add_argument("--max-scenes", type=int, default=None,
                        help="read at most this many scenes (videos, folders, clips) of the source")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for logs)")


def run(args: argparse.Namespace) -> int:
    virtual = {"n_frames": args.clip_frames} if args.clip_frames else {}
    if args.photos:
        if not args.photos.is_dir():
            raise FileNotFoundError(f"--photos {args.photos}: no such folder")
        virtual["photos"] = str(args.photos.resolve())
    if args.virtual_supersample:
        virtual["supersample"] = args.virtual_supersample
    if args.virtual_device:
        virtual["device"] = args.virtual_device
    manifest = build_wild(args.source, args.out, split=args.split, pairs=args.pairs, seed=args.seed,
                          workers=args.workers, downsample=args.downsample, n_range=(args.n_min, args.n_max),
                          max_flow=args.max_flow, flow_percentile=args.flow_percentile,
                          max_match_error=None if args.max_match_error < 0 else args.max_match_error,
                          linear=args.linear, flow_backend=args.flow_backend, gap=args.gap,
                          resync=not args.no_resync,
                          save_blursize=args.save_blursize, virtual=virtual, max_scenes=args.max_scenes,
                          progress=not args.no_progress)
    rows = [r for r in read_manifest(manifest) if r["split"] == args.split]
    n_acc = sum(r["accepted"] for r in rows)
    log.info("%s: %d windows tried, %d accepted pairs", manifest, len(rows), n_acc)
    return 0


# --------------------------------------------------------------------------------------------
# Measurements: flow backends against the renderer's true flow
# --------------------------------------------------------------------------------------------

def flow_benchmark(backends: Sequence[str] = BACKENDS, *, n_clips: int = 10, n_frames: int = 5, seed: int = 0,
                   split: str = "test", speeds: Sequence[float | None] = (0.15, 0.3, 0.5, 0.7, 1.0),
                   max_flow: float = 1.0, percentile: float = 99.0, progress: bool = True,
                   **render_options) -> list[dict]:
    """End-point error, speed and 1 px decisions of each flow backend on virtual-camera clips.

    Renders ``n_clips`` clips of ``n_frames`` frames (240x320, :func:`repro.render.render_clip`;
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

    from .flow import end_point_error
    from .render import clip_seed, render_clip

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


# --------------------------------------------------------------------------------------------
# Beyond the paper: does averaging N frames approximate a continuous exposure?
# --------------------------------------------------------------------------------------------

AVERAGING_SPEEDS = (0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.4, 2.0, 2.8)  # px/frame at 240 rows
AVERAGING_REPORTED = (0.3, 0.6, 1.0)  # the speeds the averaging check's summary reports


def averaging_check(*, speeds: Sequence[float] = AVERAGING_SPEEDS, seeds: Sequence[int] = (0, 1), n: int = 15,
                    temporal_supersample: int = 8, size: tuple[int, int] | None = None, split: str = "test",
                    keep_images: bool = False, progress: bool = True) -> list[dict]:
    """How well the N-frame average approximates the continuous blur, against the inter-frame flow.

    For each seed and speed (the clip's peak flow, px/frame at 240 rows: the 99th percentile of
    |flow| of its fastest frame pair, camera and objects together, as the virtual camera sets it
    for the WILD build) a virtual-camera clip of ``n + 2`` frames (``size``: the camera's default)
    is rendered with ``temporal_supersample`` (k = 8)
    sub-frames per frame interval (:func:`repro.render.render_clip`). The window is frames
    ``1 .. n``; its average (the WILD blurry image) is compared with the *continuous* exposure
    over the same time, ``[1 - 1/2, n + 1/2]`` frame intervals (each frame stands for its own
    1/240 s; a 360-degree shutter), integrated by the trapezoid rule over the ``n k + 1``
    sub-frames in it. Rows: ``seed, speed, n, flow_stat`` (max over the window's pairs of the
    99th percentile of the true |flow|, px), ``flow_max``, ``blur_size`` (mean true trajectory
    length, px), ``psnr_average`` (average vs continuous, dB), ``psnr_sharp`` (central frame vs
    continuous: how blurred the image is), ``ghost_error`` (mean |average - continuous| over
    the 1 % of pixels where it is largest). With ``keep_images`` also ``average``,
    ``continuous`` (float32 ``(H, W, 3)``).
    """
    from skimage.metrics import peak_signal_noise_ratio
    from tqdm.auto import tqdm

    from .render import DEFAULT_SIZE, clip_seed, render_clip

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
                   flow_stat=float(np.percentile(mag.reshape(n - 1, -1), 99, axis=1).max()),
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
                         *, max_flow: float = 1.0):
    """Plot :func:`averaging_check` rows against the window's true inter-frame flow (log axis).

    Left: PSNR (dB) of the N-frame average against the continuous exposure (and of the sharp
    frame, for scale). Middle: the ghost error (mean |average - continuous| over the worst 1 % of
    pixels, in grey levels of 255), which shows local artefacts that a whole-image PSNR dilutes.
    The ``max_flow`` rule is the dashed line. Right (when the rows carry images): the continuous
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
        from .figures import save_figure

        save_figure(fig, out, formats=("png",))
    return fig
