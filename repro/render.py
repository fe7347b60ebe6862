"""The virtual 240 fps camera: realistic high-frame-rate clips rendered from bundled photos.

The paper's WILD dataset comes from handheld 240 fps GoPro video. We cannot download footage,
so the embedded default source renders such video from photos shipped with scikit-image and
matplotlib, with the difficulties the paper names:

- **camera shake**: a smooth random handheld trajectory (translation, in-plane and out-of-plane
  rotation, zoom) sampled at 240 fps; each clip draws a speed scale (see below);
- **depth parallax**: the background is a tilted plane, or (``motorcycle_left``) four depth
  layers cut from its disparity map; world-fixed foreground objects add parallax too;
- **independent motion and occlusion**: textured objects with alpha masks (horse silhouette,
  ellipses, rounded rectangles, random blobs, the Minduka sprite), each on its own depth plane
  with its own trajectory, entering and leaving the frame and passing in front of each other.

Every layer is a plane, so every warp is an exact homography (geometry in
``repro/_render_scene.py``). Frames are rendered with ``torch.nn.functional.grid_sample``
(bicubic) batched over frames, at ``supersample`` times the output size and then area-averaged
down when ``supersample > 1``; on a GPU when ``device="cuda"``. The true forward flow from frame
``t`` to ``t + 1`` is computed from the same homographies at the centres of frame ``t``'s output
pixels, for the front-most layer whose (anti-aliased) alpha there is at least 0.5: where an
occluding object covers a pixel, the flow is the object's.

Sharp frames as sharp as a camera's
    A real 240 fps frame downsampled by 3 is sharp to the pixel. Photos are therefore shown at a
    magnification below 1 (0.6-0.75 output pixels per photo pixel by default, more only where a
    photo is too small to cover the frame), area-averaged to one texel per rendered pixel and
    sampled bicubically: a motionless frame keeps most of the high-frequency energy of the same
    photo region area-averaged from native resolution (``repro.sharpness`` measures it).

Speeds and the 1 px rule
    The scene is defined in resolution-free coordinates, so the same seed renders the same clip at
    any size. Speeds (``speed``, ``pan``, ``object_speed``) are in **pixels per frame at a 240-row
    frame** (:data:`REFERENCE_ROWS`), i.e. at the size where the WILD builder applies its <= 1 px
    rule (the paper's 720-row GoPro frames downsampled by 3). Rendered at ``H`` rows, flows in
    pixels are ``H / 240`` times larger. By default each clip draws a **peak flow** from
    :data:`PEAK_FLOW_RANGE` (0.3-1 px/frame: the whole range the rule allows, denser towards 1;
    ``repro._render_scene.draw_peak_flow``) and scales the camera and every object together so
    that the clip's flow statistic equals it (``peak_flow=``): the largest, over consecutive
    frame pairs, of the 99th percentile of the per-pixel flow magnitude, with camera rotation,
    zoom, parallax and objects together, i.e. the statistic the WILD builder thresholds. ``speed=`` instead scales the camera
    alone to a mean background flow (objects then draw theirs from :data:`OBJECT_SPEED_RANGE`).
    :func:`flow_pass_rates` measures how many pairs and windows pass the rule (true flows).
    **Default size**: ``(240, 320)``: the WILD frame height (720-row video downsampled by 3), at a
    width that the bundled photos (300-1400 px) cover below magnification 1; build with
    ``downsample=1``. A 720-row render is an upsampled photo (and 9x slower); it is supported
    (``size=(720, 960)`` with the builder's ``downsample=3`` gives the same flows in 240-row pixels).

Photos: :func:`photo_paths` (train and test disjoint: the test set is "shot at another place").
Clips are deterministic in their seed on a given device (CPU and GPU differ by rounding only).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._render_scene import (
    KINDS,
    MAGNIFICATION_RANGE,
    OBJECT_SPEED_RANGE,
    PEAK_FLOW_RANGE,
    REFERENCE_ROWS,
    SPEED_RANGE,
    SPLITS,
    Scene,
    build_scene,
    layer_matrices,
    photo_paths,
)
from .devices import resolve_device
from .video import FrameSource

__all__ = [
    "Clip", "render_clip", "VirtualCamera", "VirtualSource", "photo_paths", "clip_seed", "flow_to_rgb",
    "virtual_camera_strip", "write_clip", "flow_pass_rates", "benchmark_fps", "add_arguments", "run",
    "REFERENCE_ROWS", "SPEED_RANGE", "OBJECT_SPEED_RANGE", "PEAK_FLOW_RANGE", "MAGNIFICATION_RANGE", "KINDS", "FPS",
    "DEFAULT_SIZE", "CAMERA_VERSION",
]

log = logging.getLogger(__name__)

FPS = 240.0
# Recorded in every WILD build of the virtual camera, so that a build never resumes over frames
# rendered by another version; raise it whenever the same seed would render other frames.
CAMERA_VERSION = "2: peak-flow scaling, magnification < 1, bicubic"
DEFAULT_SIZE = (240, 320)  # (H, W) of the virtual camera's frames: the WILD height, a width the photos cover
_MAX_PIXELS_PER_CHUNK = {"cpu": 3_000_000, "cuda": 24_000_000}  # supersampled pixels rendered at once


@dataclass
class Clip:
    """One rendered clip.

    Attributes
    ----------
    frames : (T, H, W, 3) uint8
    flows : (T-1, H, W, 2) float32, true forward flow (dx, dy) in pixels of this size: pixel
        (x, y) of frame t is at (x + dx, y + dy) in frame t + 1 (sampled on frame t's grid).
    fps : float (240)
    name, seed : the clip's name and the seed it was rendered from.
    meta : dict: ``kind``, ``geometry``, ``background``, ``speed`` (mean camera flow, px/frame at
        240 rows), ``peak_flow_target`` (None with ``speed=``), ``magnification`` (output pixels per
        photo pixel), ``photo_box`` (the reference view in the photo's pixels), ``n_objects``, ``layer_names``, ``visible_layer`` ((T, H, W) uint8 index into
        ``layer_names`` of the layer seen at each pixel), ``size``, ``supersample``, ``split``,
        ``render_seconds``; with ``temporal_supersample=k > 1`` also ``subframes``
        (((T-1) k + 1, H, W, 3) uint8 at times j / k, so ``subframes[::k] == frames``) and
        ``subframe_times``.
    """

    frames: np.ndarray
    flows: np.ndarray
    fps: float
    name: str
    seed: int
    meta: dict = field(default_factory=dict)


def _axes(rows: int, cols: int, device: torch.device, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized coordinates of the pixel centres of a rows x cols grid: u (cols,), v (rows,)."""
    u = (torch.arange(cols, device=device, dtype=torch.float64) + 0.5 - cols / 2) / (rows / 2)
    v = (torch.arange(rows, device=device, dtype=torch.float64) + 0.5 - rows / 2) / (rows / 2)
    return u.to(dtype), v.to(dtype)


def _apply(m: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Homographies m (n, 3, 3) at the grid u (w,) x v (h,) -> x, y, each (n, h, w)."""
    def row(i):
        return m[:, i, 0, None, None] * u[None, None, :] + (m[:, i, 1, None] * v[None, :] + m[:, i, 2, None])[:, :, None]

    den = row(2)
    return row(0) / den, row(1) / den


def _window(m_inv: np.ndarray, rows: int, cols: int, s: int, pad: int = 3) -> tuple[int, int, int, int] | None:
    """Pixel box (y0, y1, x0, x1) of a rows x cols grid (multiples of s) holding the texture square
    [-1, 1]^2 at every time of a chunk; ``m_inv`` (n, 3, 3) maps grid coordinates to normalized
    pixel coordinates. None when it is outside the frame."""
    corners = np.array([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    q = np.einsum("nij,cj->nci", m_inv, corners)
    if (q[..., 2] <= 0).any():
        return 0, rows, 0, cols
    u, v = q[..., 0] / q[..., 2], q[..., 1] / q[..., 2]
    x = u * rows / 2 + cols / 2
    y = v * rows / 2 + rows / 2
    x0, x1 = int(np.floor((x.min() - pad) / s)) * s, int(np.ceil((x.max() + pad) / s)) * s
    y0, y1 = int(np.floor((y.min() - pad) / s)) * s, int(np.ceil((y.max() + pad) / s)) * s
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cols), min(y1, rows)
    if x1 <= x0 or y1 <= y0:
        return None
    return y0, y1, x0, x1


def _noise_seed(seed: int, t: float) -> int:
    return int(np.random.SeedSequence([int(seed), 0x6E6F, int(round(t * 1_000_000))]).generate_state(1)[0])


def _render_frames(scene: Scene, times: np.ndarray, size: tuple[int, int], supersample: int,
                   device: torch.device, *, gamma: float | None, noise_std: float, seed: int,
                   progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Render ``scene`` at ``times`` (frames, float). Returns frames (N, H, W, 3) uint8 and the visible
    layer index (N, H, W) uint8 (front-most layer with alpha >= 0.5 at the output pixel)."""
    from tqdm.auto import tqdm

    H, W = size
    s = supersample
    Hs, Ws = H * s, W * s
    textures, opaque = [], []
    for layer in scene.layers:
        tex = torch.from_numpy(layer.texture).to(device)
        opaque.append(layer.padding == "reflection" and bool((tex[3] >= 1.0).all()))
        if gamma is not None:  # to linear light, premultiplied
            a = tex[3:4]
            rgb = torch.where(a > 0, tex[:3] / a.clamp_min(1e-8), torch.zeros_like(tex[:3]))
            tex = torch.cat([rgb.clamp(0, 1) ** gamma * a, a], 0)
        textures.append((tex[:3] if opaque[-1] else tex)[None].contiguous())
    mats64 = [layer_matrices(scene, layer, times) for layer in scene.layers]
    mats = [torch.from_numpy(m).to(device, torch.float32) for m in mats64]
    u_all, v_all = _axes(Hs, Ws, device)
    chunk = max(1, min(len(times), _MAX_PIXELS_PER_CHUNK.get(device.type, 3_000_000) // (Hs * Ws)))
    frames = np.empty((len(times), H, W, 3), np.uint8)
    visible = np.empty((len(times), H, W), np.uint8)
    for i0 in tqdm(range(0, len(times), chunk), desc="render", unit="chunk", disable=not progress, leave=False):
        i1 = min(i0 + chunk, len(times))
        n = i1 - i0
        acc = torch.zeros((3, n, Hs, Ws), device=device)  # channels first: (C, frames, H, W)
        vis = torch.zeros((n, H, W), dtype=torch.uint8, device=device)
        for k, layer in enumerate(scene.layers):
            if layer.obj is not None:
                win = _window(np.linalg.inv(mats64[k][i0:i1]), Hs, Ws, s)
                if win is None:
                    continue
            else:
                win = (0, Hs, 0, Ws)
            y0, y1, x0, x1 = win
            h, w = y1 - y0, x1 - x0
            gx, gy = _apply(mats[k][i0:i1], u_all[x0:x1], v_all[y0:y1])
            grid = torch.stack([gx, gy], -1).reshape(1, n * h, w, 2)  # frames stacked along rows
            out = F.grid_sample(textures[k], grid, mode="bicubic", padding_mode=layer.padding,
                                align_corners=False).reshape(-1, n, h, w)
            if opaque[k]:
                acc[:, :, y0:y1, x0:x1] = out
                vis[:, y0 // s:y1 // s, x0 // s:x1 // s] = k
                continue
            alpha = out[3:4].clamp(0, 1)  # bicubic overshoots a little at edges
            acc[:, :, y0:y1, x0:x1].mul_(1 - alpha).add_(out[:3].clamp_min(0))
            a_small = F.avg_pool2d(alpha, s)[0] if s > 1 else alpha[0]
            vis[:, y0 // s:y1 // s, x0 // s:x1 // s][a_small >= 0.5] = k
        img = F.avg_pool2d(acc, s) if s > 1 else acc  # anti-aliased downsampling (box over s x s)
        img = img.permute(1, 0, 2, 3)  # (n, 3, H, W)
        if noise_std > 0:
            noise = torch.stack([
                torch.randn((3, H, W), generator=torch.Generator().manual_seed(_noise_seed(seed, t)))
                for t in times[i0:i1]
            ]).to(device)
            img = img + noise_std * noise
        img = img.clamp(0, 1)
        if gamma is not None:
            img = img ** (1.0 / gamma)
        frames[i0:i1] = (img * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        visible[i0:i1] = vis.cpu().numpy()
    return frames, visible


def _true_flows(scene: Scene, n_frames: int, size: tuple[int, int], visible: np.ndarray,
                device: torch.device) -> np.ndarray:
    """(T-1, H, W, 2) float32 exact forward flow, pixels at ``size``; layer chosen by ``visible``."""
    H, W = size
    flows = np.empty((max(n_frames - 1, 0), H, W, 2), np.float32)
    if n_frames < 2:
        return flows
    t = np.arange(n_frames, dtype=np.float64)
    u, v = _axes(H, W, device, torch.float64)
    rels = []
    for layer in scene.layers:
        m = layer_matrices(scene, layer, t)
        rels.append(torch.from_numpy(np.linalg.inv(m[1:]) @ m[:-1]).to(device))  # (T-1, 3, 3)
    for i in range(n_frames - 1):
        vis = torch.from_numpy(visible[i]).to(device)
        out = torch.zeros((H, W, 2), dtype=torch.float64, device=device)
        for k in torch.unique(vis).tolist():
            x, y = _apply(rels[k][i:i + 1], u, v)
            sel = vis == k
            out[..., 0] = torch.where(sel, (x[0] - u[None, :]) * (H / 2), out[..., 0])
            out[..., 1] = torch.where(sel, (y[0] - v[:, None]) * (H / 2), out[..., 1])
        flows[i] = out.cpu().numpy()
    return flows


def _check_size(size) -> tuple[int, int]:
    try:
        H, W = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (H, W), got {size!r}") from None
    if H < 2 or W < 2:
        raise ValueError(f"size must be at least (2, 2), got {size!r}")
    return H, W


def render_clip(seed: int, *, n_frames: int = 120, size: tuple[int, int] = DEFAULT_SIZE, split: str = "train",
                device: str = "cpu", supersample: int = 1, speed: float | None = None,
                peak_flow: float | None = None, **options) -> Clip:
    """Render one clip of the virtual 240 fps camera, deterministic in ``seed``.

    Parameters
    ----------
    seed : the scene's seed (photo, crop, depth, camera path, objects, noise).
    n_frames : T, number of frames (>= 1).
    size : (H, W) of the output frames.
    split : "train" or "test": disjoint photo sets (see :func:`photo_paths`).
    device : "cpu", "cuda", "auto", ...
    supersample : render at this many times the size, then area-average down (>= 1; default 1:
        the textures are already area-averaged to the output's density).
    peak_flow : the clip's flow statistic (largest over frame pairs of the 99th percentile of
        |flow|), px/frame at 240 rows (camera and objects scaled together); None (and no
        ``speed``) draws it from :data:`PEAK_FLOW_RANGE`. Ignored by the "pan" kind, whose motion
        is ``pan``.
    speed : instead of ``peak_flow``: scale the camera alone to this mean background flow, px/frame
        at 240 rows (objects keep their own drawn speeds).

    Other options (keyword only)
    ----------------------------
    kind : "random" (default; one of the kinds below, or all features "mixed"), "camera"
        (handheld camera, no objects), "parallax" (layered / tilted background, translating
        camera, world-fixed objects), "objects" (moving objects crossing each other), "pan"
        (known-answer scene: fronto-parallel background, the camera translates at ``pan``,
        objects translate at constant velocity without rotation).
    pan : (dx, dy) image shift per frame of the "pan" kind, px/frame at 240 rows (default (1, 0)).
    objects : number of foreground objects (default drawn per kind); ``objects=0`` keeps the very
        same background and camera as the default (objects are drawn from their own stream).
    object_speed : speed of every moving object, px/frame at 240 rows (default drawn).
    background : photo name of the split (or a file) to use as background.
    photos : a folder or list of photo files replacing the bundled photos; split into train,
        val and test by file name (:func:`repro._render_scene.photo_split`).
    tint : give gray photos a random colour tint (default True).
    magnification : output pixels per photo pixel of the background (default drawn from
        :data:`MAGNIFICATION_RANGE`; raised where the photo would not cover the frame).
    noise_std : Gaussian sensor noise std (in linear light when ``gamma`` is set), default 0.
    gamma : camera response: render in linear light (photo ** gamma) and encode with
        ``x ** (1 / gamma)`` (e.g. 2.2); default None (no response curve).
    temporal_supersample : k >= 1; with k > 1 also render k sub-frames per frame interval into
        ``meta["subframes"]`` (for checking how well averaging frames approximates continuous
        exposure).
    name : the clip's name (default ``"clip_<seed>"``).
    progress : show a progress bar.

    Returns
    -------
    Clip with frames (T, H, W, 3) uint8 and flows (T-1, H, W, 2) float32.
    """
    known = {"kind", "pan", "objects", "object_speed", "background", "photos", "noise_std", "gamma",
             "temporal_supersample", "name", "progress", "tint", "magnification"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    H, W = _check_size(size)
    n_frames = int(n_frames)
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    supersample = int(supersample)
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    if speed is not None and not (np.isfinite(speed) and speed >= 0):
        raise ValueError(f"speed must be a finite number >= 0, got {speed!r}")
    if peak_flow is not None and not (np.isfinite(peak_flow) and peak_flow >= 0):
        raise ValueError(f"peak_flow must be a finite number >= 0, got {peak_flow!r}")
    k = int(options.get("temporal_supersample", 1))
    if k < 1:
        raise ValueError(f"temporal_supersample must be >= 1, got {k}")
    noise_std = float(options.get("noise_std", 0.0))
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    gamma = options.get("gamma")
    if gamma is not None and not gamma > 0:
        raise ValueError(f"gamma must be > 0 or None, got {gamma}")
    dev = resolve_device(device)
    t_start = time.perf_counter()
    scene = build_scene(int(seed), kind=options.get("kind", "random"), split=split, n_frames=n_frames,
                        size=(H, W), supersample=supersample, speed=speed, peak=peak_flow, photos=options.get("photos"),
                        background=options.get("background"), objects=options.get("objects"),
                        object_speed=options.get("object_speed"), pan=tuple(options.get("pan", (1.0, 0.0))),
                        tint=bool(options.get("tint", True)), magnification=options.get("magnification"))
    times = np.arange((n_frames - 1) * k + 1, dtype=np.float64) / k
    rendered, visible = _render_frames(scene, times, (H, W), supersample, dev, gamma=gamma, noise_std=noise_std,
                                       seed=int(seed), progress=bool(options.get("progress", False)))
    frames, visible = rendered[::k], visible[::k]
    flows = _true_flows(scene, n_frames, (H, W), visible, dev)
    meta = dict(scene.info)
    meta.update(layer_names=[layer.name for layer in scene.layers], visible_layer=np.ascontiguousarray(visible),
                size=(H, W), supersample=supersample, split=split, device=str(dev),
                noise_std=noise_std, gamma=gamma, render_seconds=time.perf_counter() - t_start)
    if k > 1:
        meta.update(subframes=rendered, subframe_times=times)
    return Clip(frames=np.ascontiguousarray(frames), flows=flows, fps=FPS,
                name=str(options.get("name", f"clip_{int(seed)}")), seed=int(seed), meta=meta)


# ---------------------------------------------------------------------------------------------
# The virtual camera as frame sources
# ---------------------------------------------------------------------------------------------

def clip_seed(seed: int, split: str, index: int) -> int:
    """Seed of clip ``index`` of a :class:`VirtualCamera` (distinct per split and index)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return int(np.random.SeedSequence([int(seed), SPLITS.index(split), int(index)]).generate_state(1)[0] >> 1)


class VirtualSource(FrameSource):
    """One clip of the virtual camera as a :class:`repro.video.FrameSource`.

    Rendered on first access and cached (``.clip``); ``.true_flows`` are its exact flows;
    ``.release()`` frees the cache (about 100 MB for 120 frames at 240x320).
    """

    def __init__(self, seed: int, *, name: str, n_frames: int, size: tuple[int, int], split: str,
                 device: str = "cpu", **options) -> None:
        self.seed = int(seed)
        self.name = name
        self.fps = FPS
        self.n_frames = int(n_frames)
        self.size = _check_size(size)
        self.split = split
        self.device = device
        self.options = options
        self._clip: Clip | None = None

    @property
    def clip(self) -> Clip:
        if self._clip is None:
            self._clip = render_clip(self.seed, n_frames=self.n_frames, size=self.size, split=self.split,
                                     device=self.device, name=self.name, **self.options)
        return self._clip

    @property
    def true_flows(self) -> np.ndarray:
        """(T-1, H, W, 2) float32 exact forward flows."""
        return self.clip.flows

    def release(self) -> None:
        self._clip = None

    def __len__(self) -> int:
        return self.n_frames

    def frame(self, i: int) -> np.ndarray:
        if not -self.n_frames <= i < self.n_frames:
            raise IndexError(f"{self.name}: frame index {i} out of range (0..{self.n_frames - 1})")
        return self.clip.frames[i]

    def __iter__(self) -> Iterator[np.ndarray]:
        yield from self.clip.frames

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start .. stop-1``: ``(stop - start, H, W, 3)`` uint8 (a view of the cached clip)."""
        if not 0 <= start <= stop <= self.n_frames:
            raise IndexError(f"{self.name}: frames {start}..{stop} out of range (0..{self.n_frames})")
        return self.clip.frames[start:stop]

    def __repr__(self) -> str:
        return f"VirtualSource(name={self.name!r}, seed={self.seed}, n_frames={self.n_frames}, size={self.size})"


class VirtualCamera(Sequence):
    """``n_clips`` clips of the virtual camera as a list of :class:`VirtualSource` (lazy).

    Clip ``i`` has seed :func:`clip_seed` ``(seed, split, i)`` and name ``"virtual_<i:04d>"``.
    Extra keyword options go to :func:`render_clip` (e.g. ``supersample``, ``speed``, ``kind``).
    """

    def __init__(self, split: str = "train", n_clips: int = 10, n_frames: int = 120,
                 size: tuple[int, int] = DEFAULT_SIZE, seed: int = 0, device: str = "cpu", **options) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if int(n_clips) < 0:
            raise ValueError(f"n_clips must be >= 0, got {n_clips}")
        if int(n_frames) < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        self.split, self.n_clips, self.n_frames = split, int(n_clips), int(n_frames)
        self.size, self.seed, self.device, self.options = _check_size(size), int(seed), device, options

    def __len__(self) -> int:
        return self.n_clips

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n_clips))]
        if not -self.n_clips <= i < self.n_clips:
            raise IndexError(f"clip index {i} out of range (0..{self.n_clips - 1})")
        i %= self.n_clips
        return VirtualSource(clip_seed(self.seed, self.split, i), name=f"virtual_{i:04d}", n_frames=self.n_frames,
                             size=self.size, split=self.split, device=self.device, **self.options)


def flow_pass_rates(n_clips: int = 40, *, seed: int = 0, size: tuple[int, int] = (60, 108), n_frames: int = 120,
                    max_flow: float = 1.0, n_range: tuple[int, int] = (7, 23), windows_per_clip: int = 8,
                    device: str = "cpu") -> dict:
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


# ---------------------------------------------------------------------------------------------
# Writing clips, the strip figure, the command line
# ---------------------------------------------------------------------------------------------

def write_clip(clip: Clip, folder: str | Path) -> Path:
    """Write ``clip`` as ``folder/NNNNNN.png`` frames, ``folder/flows.npy`` ((T-1, H, W, 2) float32)
    and ``folder/meta.json`` (each file atomically). Returns ``folder``.

    The layout is that of ``GOPRO_Large_all/<split>/<scene>/``, so
    ``repro.video.open_sources(out, split)`` reads rendered clips back.
    """
    from .files import atomic_path, atomic_write_text
    from .images import write_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(clip.frames):
        write_image(folder / f"{i:06d}.png", frame)
    with atomic_path(folder / "flows.npy") as tmp:
        np.save(tmp, clip.flows)
    meta = {k: v for k, v in clip.meta.items() if k not in ("visible_layer", "subframes", "subframe_times")}
    meta.update(name=clip.name, seed=clip.seed, fps=clip.fps, n_frames=int(len(clip.frames)),
                flow_convention="forward (dx, dy) px from frame t to t+1, on frame t's grid; flows[t]")
    meta["size"] = list(meta.get("size", clip.frames.shape[1:3]))
    atomic_write_text(folder / "meta.json", json.dumps(meta, indent=2, default=float) + "\n")
    return folder


def flow_to_rgb(flow: np.ndarray, max_flow: float | None = None) -> np.ndarray:
    """(H, W, 2) flow -> (H, W, 3) float colours: hue = direction, brightness = magnitude / max_flow."""
    from matplotlib.colors import hsv_to_rgb

    mag = np.hypot(flow[..., 0], flow[..., 1])
    if max_flow is None:
        max_flow = float(mag.max()) or 1.0
    hue = (np.arctan2(flow[..., 1], flow[..., 0]) / (2 * np.pi)) % 1.0
    hsv = np.stack([hue, np.ones_like(hue), np.clip(mag / max_flow, 0, 1)], -1)
    return hsv_to_rgb(hsv).astype(np.float32)


STRIP_ROWS = (  # (label, render options)
    ("camera shake (train)", dict(split="train", kind="camera")),
    ("parallax, depth layers (train)", dict(split="train", kind="parallax", background="motorcycle_left")),
    ("moving objects (train)", dict(split="train", kind="objects", objects=3)),
    ("mixed (test photos)", dict(split="test", kind="random")),
)


def virtual_camera_strip(out: str | Path, *, seed: int = 0,
                         size: tuple[int, int] = DEFAULT_SIZE, n_frames: int = 60, n_show: int = 4,
                         n_average: int = 15, device: str = "cpu") -> Path:
    """Figure: one row per clip kind; frames across the clip, the true flow, an average of frames.

    Columns: ``n_show`` frames evenly spaced over the clip, the true flow between the first two
    frames (colour: direction; brightness: magnitude, 1 px = full), and the average of
    ``n_average`` consecutive frames around the middle (a WILD-style blurry image). Returns ``out``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .files import atomic_path

    n_average = min(n_average, n_frames)
    cols = n_show + 2
    fig, axes = plt.subplots(len(STRIP_ROWS), cols, figsize=(2.3 * cols, 1.45 * len(STRIP_ROWS) * size[0] / size[1] * 1.8),
                             squeeze=False)
    show = np.linspace(0, n_frames - 1, n_show).round().astype(int)
    for r, (label, opts) in enumerate(STRIP_ROWS):
        clip = render_clip(seed + r, n_frames=n_frames, size=size, device=device, **opts)
        scale = size[0] / REFERENCE_ROWS
        for c, t in enumerate(show):
            axes[r, c].imshow(clip.frames[t])
            axes[r, c].set_title(f"frame {t}", fontsize=7)
        mag = np.hypot(clip.flows[0, ..., 0], clip.flows[0, ..., 1]) / scale
        axes[r, n_show].imshow(flow_to_rgb(clip.flows[0], max_flow=scale))
        axes[r, n_show].set_title(f"true flow 0→1 (max {mag.max():.2f} px@240)", fontsize=7)
        m0 = (n_frames - n_average) // 2
        avg = clip.frames[m0:m0 + n_average].astype(np.float32).mean(0) / 255
        axes[r, n_show + 1].imshow(avg)
        axes[r, n_show + 1].set_title(f"mean of {n_average} frames", fontsize=7)
        info = clip.meta
        axes[r, 0].set_ylabel(f"{label}\n{info['background']}, {info['geometry']},\n"
                              f"{info['n_objects']} obj, speed {info['speed']:.2f}", fontsize=7)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"Virtual 240 fps camera: {n_frames} frames at {size[0]}x{size[1]} per row (seeds {seed}..{seed + len(STRIP_ROWS) - 1})",
                 fontsize=9)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``render`` command's arguments: defined in :mod:`repro.cli` (torch-free, for a fast --help)."""
    from .cli import render_arguments

    render_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    if args.clips < 0:
        raise ValueError(f"--clips must be >= 0, got {args.clips}")
    cam = VirtualCamera(args.split, args.clips, args.frames, args.size, args.seed, args.device,
                        supersample=args.supersample, kind=args.kind, speed=args.speed, peak_flow=args.peak_flow,
                        photos=args.photos,
                        noise_std=args.noise_std, gamma=args.gamma)
    n_written = 0
    t0 = time.perf_counter()
    for source in tqdm(cam, desc="clips", unit="clip"):
        write_clip(source.clip, Path(args.out) / args.split / source.name)
        n_written += len(source)
        source.release()
    dt = time.perf_counter() - t0
    log.info("wrote %d clips (%d frames) to %s in %.1f s", len(cam), n_written, args.out, dt)
    if args.strip is not None:
        virtual_camera_strip(args.strip, seed=args.seed, size=args.size, device=args.device)
        log.info("wrote %s", args.strip)
    return 0
