"""Rendering a clip of the virtual camera: frames by ``grid_sample`` through each layer's exact
homography, and the true forward flow of the front-most layer at every pixel (see :mod:`repro.camera`)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..core.devices import resolve_device
from .focus import Defocus, check_defocus, check_defocus_layer, disc_kernel, draw_defocus
from .geometry import Scene, layer_matrices
from .photos import SPLITS
from .motion import check_flow_range
from .scene import build_scene

__all__ = ["Clip", "render_clip", "check_size", "FPS", "CAMERA_VERSION", "DEFAULT_SIZE"]

FPS = 240.0
# Recorded in every WILD build of the virtual camera, so that a build never resumes over frames
# rendered by another version; raise it whenever the same seed would render other frames.
CAMERA_VERSION = "3: peak-flow scaling, magnification < 1, bicubic; scikit-learn photos among the training backgrounds"
DEFAULT_SIZE = (240, 320)  # (H, W) of the virtual camera's frames: the WILD height, a width the photos cover
_MAX_PIXELS_PER_CHUNK = {"cpu": 3_000_000, "cuda": 24_000_000}  # supersampled pixels rendered at once


class Clip:
    """One rendered clip.

    Attributes
    ----------
    frames : (T, H, W, 3) uint8
    flows : (T-1, H, W, 2) float32, true forward flow (dx, dy) in pixels of this size: pixel
        (x, y) of frame t is at (x + dx, y + dy) in frame t + 1 (sampled on frame t's grid).
        Computed on first access (it costs several times the rendering: the WILD builder, which
        estimates flow from the frames as on real footage, never asks for it), then kept.
    fps : float (240)
    name, seed : the clip's name and the seed it was rendered from.
    meta : dict: ``kind``, ``geometry``, ``background``, ``speed`` (mean camera flow, px/frame at
        240 rows), ``peak_flow_target`` (None with ``speed=``), ``magnification`` (output pixels per
        photo pixel), ``photo_box`` (the reference view in the photo's pixels), ``n_objects``, ``layer_names``, ``visible_layer`` ((T, H, W) uint8 index into
        ``layer_names`` of the layer seen at each pixel), ``size``, ``supersample``, ``split``,
        ``render_seconds`` (frames only); with ``defocus=`` also ``defocus`` (``{"layer": name,
        "radius": px}``, :mod:`repro.camera.focus`); with ``temporal_supersample=k > 1`` also ``subframes``
        (((T-1) k + 1, H, W, 3) uint8 at times j / k, so ``subframes[::k] == frames``) and
        ``subframe_times``.
    """

    def __init__(self, frames: np.ndarray, flows: np.ndarray | Callable[[], np.ndarray], fps: float, name: str,
                 seed: int, meta: dict | None = None) -> None:
        self.frames, self.fps, self.name, self.seed = frames, fps, name, seed
        self.meta = {} if meta is None else meta
        self._flows = flows

    @property
    def flows(self) -> np.ndarray:
        if callable(self._flows):
            self._flows = self._flows()
        return self._flows

    def __repr__(self) -> str:
        return f"Clip(name={self.name!r}, seed={self.seed}, frames={self.frames.shape}, fps={self.fps})"


def _axes(rows: int, cols: int, device: torch.device, dtype=torch.float32,
          pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized coordinates of the pixel centres of a rows x cols grid, extended by ``pad`` pixels
    on every side: u (cols + 2 pad,), v (rows + 2 pad,) (entry ``i`` is pixel ``i - pad``)."""
    u = (torch.arange(-pad, cols + pad, device=device, dtype=torch.float64) + 0.5 - cols / 2) / (rows / 2)
    v = (torch.arange(-pad, rows + pad, device=device, dtype=torch.float64) + 0.5 - rows / 2) / (rows / 2)
    return u.to(dtype), v.to(dtype)


def _apply(m: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Homographies m (n, 3, 3) at the grid u (w,) x v (h,) -> x, y, each (n, h, w)."""
    def row(i):
        return m[:, i, 0, None, None] * u[None, None, :] + (m[:, i, 1, None] * v[None, :] + m[:, i, 2, None])[:, :, None]

    den = row(2)
    return row(0) / den, row(1) / den


def _window(m_inv: np.ndarray, rows: int, cols: int, s: int, pad: int = 3,
            extend: int = 0) -> tuple[int, int, int, int] | None:
    """Pixel box (y0, y1, x0, x1) of a rows x cols grid (multiples of s) holding the texture square
    [-1, 1]^2 at every time of a chunk, within the grid extended by ``extend`` pixels (a multiple
    of s) on every side; ``m_inv`` (n, 3, 3) maps grid coordinates to normalized pixel
    coordinates. None when it is outside the (extended) frame."""
    corners = np.array([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    q = np.einsum("nij,cj->nci", m_inv, corners)
    if (q[..., 2] <= 0).any():
        return -extend, rows + extend, -extend, cols + extend
    u, v = q[..., 0] / q[..., 2], q[..., 1] / q[..., 2]
    x = u * rows / 2 + cols / 2
    y = v * rows / 2 + rows / 2
    x0, x1 = int(np.floor((x.min() - pad) / s)) * s, int(np.ceil((x.max() + pad) / s)) * s
    y0, y1 = int(np.floor((y.min() - pad) / s)) * s, int(np.ceil((y.max() + pad) / s)) * s
    x0, y0, x1, y1 = max(x0, -extend), max(y0, -extend), min(x1, cols + extend), min(y1, rows + extend)
    if x1 <= x0 or y1 <= y0:
        return None
    return y0, y1, x0, x1


def _noise_seed(seed: int, t: float) -> int:
    return int(np.random.SeedSequence([int(seed), 0x6E6F, int(round(t * 1_000_000))]).generate_state(1)[0])


def _disc(radius: float, s: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """The defocus disc of ``radius`` output px on the grid supersampled ``s`` times: ``(1, 1, K, K)``
    float32, and the margin (a multiple of s, at least K // 2) that a defocused layer is rendered
    beyond the frame, so that the blur at the frame's border sees the scene, not a border rule."""
    disc = torch.from_numpy(disc_kernel(radius * s)).to(device, torch.float32)[None, None]
    half = disc.shape[-1] // 2
    return disc, s * -(-half // s)


def _blur(planes: torch.Tensor, disc: torch.Tensor) -> torch.Tensor:
    """Every plane of ``planes`` (C, n, h, w) convolved with ``disc`` (1, 1, K, K), zeros beyond the
    box (a disc is symmetric, so correlation is convolution); returns (C, n, h, w)."""
    C, n, h, w = planes.shape
    return F.conv2d(planes.reshape(C * n, 1, h, w), disc, padding=disc.shape[-1] // 2).reshape(C, n, h, w)


def _render_frames(scene: Scene, times: np.ndarray, size: tuple[int, int], supersample: int,
                   device: torch.device, *, gamma: float | None, noise_std: float, seed: int,
                   defocus: Defocus | None = None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Render ``scene`` at ``times`` (frames, float). Returns frames (N, H, W, 3) uint8 and the visible
    layer index (N, H, W) uint8 (front-most layer with alpha >= 0.5 at the output pixel).

    ``defocus``: the layers it names are rendered ``margin`` px beyond the frame and their colour
    and coverage convolved with its disc (the same in every frame) before compositing."""
    from tqdm.auto import tqdm

    H, W = size
    s = supersample
    Hs, Ws = H * s, W * s
    blurred = set(defocus.indices) if defocus is not None else set()
    disc, margin = _disc(defocus.radius, s, device) if defocus is not None else (None, 0)
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
    u_all, v_all = _axes(Hs, Ws, device, pad=margin)  # entry i is pixel i - margin
    chunk = max(1, min(len(times), _MAX_PIXELS_PER_CHUNK.get(device.type, 3_000_000) // (Hs * Ws)))
    frames = np.empty((len(times), H, W, 3), np.uint8)
    visible = np.empty((len(times), H, W), np.uint8)
    for i0 in tqdm(range(0, len(times), chunk), desc="render", unit="chunk", disable=not progress, leave=False):
        i1 = min(i0 + chunk, len(times))
        n = i1 - i0
        acc = torch.zeros((3, n, Hs, Ws), device=device)  # channels first: (C, frames, H, W)
        vis = torch.zeros((n, H, W), dtype=torch.uint8, device=device)
        for k, layer in enumerate(scene.layers):
            extra = margin if k in blurred else 0
            if layer.obj is not None:
                win = _window(np.linalg.inv(mats64[k][i0:i1]), Hs, Ws, s, pad=3 + extra, extend=extra)
                if win is None:
                    continue
            else:
                win = (-extra, Hs + extra, -extra, Ws + extra)
            y0, y1, x0, x1 = win
            h, w = y1 - y0, x1 - x0
            gx, gy = _apply(mats[k][i0:i1], u_all[x0 + margin:x1 + margin], v_all[y0 + margin:y1 + margin])
            grid = torch.stack([gx, gy], -1).reshape(1, n * h, w, 2)  # frames stacked along rows
            out = F.grid_sample(textures[k], grid, mode="bicubic", padding_mode=layer.padding,
                                align_corners=False).reshape(-1, n, h, w)
            if k in blurred:  # out of focus: blur colour (and coverage), then keep what is in the frame
                if not opaque[k]:  # bicubic's overshoot clamped (as below) before it spreads
                    out = torch.cat([out[:3].clamp_min(0), out[3:4].clamp(0, 1)])
                out = _blur(out, disc)
                fy0, fy1, fx0, fx1 = max(y0, 0), min(y1, Hs), max(x0, 0), min(x1, Ws)
                if fy1 <= fy0 or fx1 <= fx0:
                    continue
                out = out[:, :, fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
                y0, y1, x0, x1 = fy0, fy1, fx0, fx1
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


def check_size(size) -> tuple[int, int]:
    """``size`` as ``(H, W)`` ints, at least 2x2 (else ``ValueError``)."""
    try:
        H, W = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (H, W), got {size!r}") from None
    if H < 2 or W < 2:
        raise ValueError(f"size must be at least (2, 2), got {size!r}")
    return H, W


_OPTIONS = {"kind", "pan", "objects", "object_speed", "background", "photos", "noise_std", "gamma",
            "temporal_supersample", "name", "progress", "tint", "magnification", "defocus",
            "defocus_layer", "peak_flow_range"}  # render_clip's **options


def _check_render_arguments(split: str, size, n_frames, supersample, speed: float | None, peak_flow: float | None,
                            options: dict) -> tuple[int, int, int, int, int, float, float | None]:
    """:func:`render_clip`'s arguments checked (a one-line ``ValueError`` for a bad one):
    ``(H, W, n_frames, supersample, temporal_supersample, noise_std, gamma)``."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    H, W = check_size(size)
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
    magnification = options.get("magnification")
    if not (magnification is None or magnification == "multi"
            or (isinstance(magnification, (int, float)) and magnification > 0)):
        raise ValueError(f"magnification must be a number > 0, 'multi' or None, got {magnification!r}")
    if options.get("peak_flow_range") is not None:
        check_flow_range(options["peak_flow_range"])
    gamma = options.get("gamma")
    if gamma is not None and not gamma > 0:
        raise ValueError(f"gamma must be > 0 or None, got {gamma}")
    check_defocus_layer(options.get("defocus_layer"), check_defocus(options.get("defocus")))
    return H, W, n_frames, supersample, k, noise_std, gamma


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
        val and test by file name (:func:`repro.camera.photos.photo_split`).
    tint : give gray photos a random colour tint (default True).
    magnification : output pixels per photo pixel of the background (default drawn from
        :data:`MAGNIFICATION_RANGE`; raised where the photo would not cover the frame); "multi":
        drawn log-uniformly from the whole photo in frame up to the range's top (large photos).
    peak_flow_range : (low, high) px/frame at 240 rows: draw the clip's peak flow on this range
        instead of :data:`PEAK_FLOW_RANGE` (e.g. a slow sway for the near-sharp "still" pairs).
    noise_std : Gaussian sensor noise std (in linear light when ``gamma`` is set), default 0.
    gamma : camera response: render in linear light (photo ** gamma) and encode with
        ``x ** (1 / gamma)`` (e.g. 2.2); default None (no response curve).
    temporal_supersample : k >= 1; with k > 1 also render k sub-frames per frame interval into
        ``meta["subframes"]`` (for checking how well averaging frames approximates continuous
        exposure).
    defocus : (low, high) px of these frames: a depth of field (:mod:`repro.camera.focus`): one
        layer, drawn per clip (the background, or one of the objects), is out of focus, its
        colour and coverage blurred by a disc whose radius is drawn uniformly in [low, high], the
        same in every frame; recorded in ``meta["defocus"]``. Default None: all in focus (every
        other draw of the clip is the same with or without it).
    defocus_layer : with ``defocus``: "background" or an object's index, instead of drawn.
    name : the clip's name (default ``"clip_<seed>"``).
    progress : show a progress bar.

    Returns
    -------
    Clip with frames (T, H, W, 3) uint8 and flows (T-1, H, W, 2) float32.
    """
    H, W, n_frames, supersample, k, noise_std, gamma = _check_render_arguments(
        split, size, n_frames, supersample, speed, peak_flow, options)
    dev = resolve_device(device)
    t_start = time.perf_counter()
    scene = build_scene(int(seed), kind=options.get("kind", "random"), split=split, n_frames=n_frames,
                        size=(H, W), supersample=supersample, speed=speed, peak=peak_flow, photos=options.get("photos"),
                        background=options.get("background"), objects=options.get("objects"),
                        object_speed=options.get("object_speed"), pan=tuple(options.get("pan", (1.0, 0.0))),
                        tint=bool(options.get("tint", True)), magnification=options.get("magnification"),
                        peak_range=options.get("peak_flow_range"))
    focus = draw_defocus(int(seed), options.get("defocus"), [layer.name for layer in scene.layers],
                         [layer.obj is not None for layer in scene.layers], options.get("defocus_layer"))
    times = np.arange((n_frames - 1) * k + 1, dtype=np.float64) / k
    rendered, visible = _render_frames(scene, times, (H, W), supersample, dev, gamma=gamma, noise_std=noise_std,
                                       seed=int(seed), defocus=focus, progress=bool(options.get("progress", False)))
    frames, visible = rendered[::k], visible[::k]
    meta = dict(scene.info)
    meta.update(layer_names=[layer.name for layer in scene.layers], visible_layer=np.ascontiguousarray(visible),
                size=(H, W), supersample=supersample, split=split, device=str(dev),
                noise_std=noise_std, gamma=gamma, render_seconds=time.perf_counter() - t_start)
    if focus is not None:
        meta["defocus"] = focus.record()
    if k > 1:
        meta.update(subframes=rendered, subframe_times=times)
    return Clip(frames=np.ascontiguousarray(frames), flows=lambda: _true_flows(scene, n_frames, (H, W), visible, dev),
                fps=FPS, name=str(options.get("name", f"clip_{int(seed)}")), seed=int(seed), meta=meta)
