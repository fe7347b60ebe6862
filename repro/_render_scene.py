"""Scenes of the virtual camera: photos, layers, camera and object trajectories (private to ``render``).

Geometry (all exact, every layer is a plane, so every warp is a homography):

- Image coordinates are *normalized*: for an ``H x W`` frame, pixel ``(x, y)`` (integer at pixel
  centres) has ``u = (x + 0.5 - W/2) / (H/2)``, ``v = (y + 0.5 - H/2) / (H/2)``; a shift of ``du``
  is ``du * H / 2`` pixels. The same scene therefore renders at any size.
- The camera at time ``t`` has centre ``c(t)``, rotation ``R(t)`` (world -> camera) and
  intrinsics ``K(t) = diag(f, f, 1)`` with ``f = F0 * zoom(t)``. The pixel ray is
  ``d = R^T K^-1 [u, v, 1]``.
- A layer lies on the world plane ``n . P = delta``. The ray meets it at
  ``P = M u / (n . d)`` with ``M = (c n^T + (delta - n . c) I) R^T K^-1`` (homogeneous in ``u``).
- Background layers are textured by a photo as seen by the *reference camera* (centre 0,
  no rotation, focal ``F0``): texture coordinates are ``K0 P`` (homogeneous). Objects live on a
  fronto-parallel plane ``Z = D`` and are textured in their own moving frame ``A(t)^-1 P_xy``.

So each layer has, per time, one 3x3 matrix from normalized pixel coordinates to
``grid_sample`` coordinates, and the exact flow of a layer from ``t`` to ``t+1`` is the
homography ``M(t+1)^-1 M(t)``.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

F0 = 4.0  # focal length in normalized units (vertical field of view 2*atan(1/4) ~ 28 deg, a normal-to-long lens)
REFERENCE_ROWS = 240  # speeds are in pixels per frame of a frame this many rows high
COVER_MARGIN = 1.1  # background photos cover the reference view enlarged by this factor

# ---------------------------------------------------------------------------------------------
# Photos. Train, validation and test use disjoint photos ("the test set was shot at other
# places"). Masks (horse silhouette, procedural shapes) are shapes, not photos, and are shared.
# ---------------------------------------------------------------------------------------------

# name -> (package, file name, role); role "bg" = usable as background and object texture,
# "tex" = object texture / ground texture only, "sprite" = has its own alpha (object as is).
_PHOTOS: dict[str, tuple[str, str, str]] = {
    # train
    "camera": ("skimage", "camera.png", "bg"),
    "coffee": ("skimage", "coffee.png", "tex"),
    "rocket": ("skimage", "rocket.jpg", "tex"),
    "motorcycle_left": ("skimage", "motorcycle_left.png", "bg"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg", "bg"),
    "coins": ("skimage", "coins.png", "tex"),
    "retina": ("skimage", "retina.jpg", "tex"),
    "brick": ("skimage", "brick.png", "tex"),
    "Minduka_Present_Blue_Pack": ("matplotlib", "Minduka_Present_Blue_Pack.png", "sprite"),
    # validation
    "astronaut": ("skimage", "astronaut.png", "bg"),
    "grass": ("skimage", "grass.png", "tex"),
    # test
    "grace_hopper": ("matplotlib", "grace_hopper.jpg", "bg"),
    "chelsea": ("skimage", "chelsea.png", "bg"),
    "ihc": ("skimage", "ihc.png", "bg"),
    "moon": ("skimage", "moon.png", "tex"),
    "gravel": ("skimage", "gravel.png", "tex"),
}
# Test backgrounds are photos on which optical flow is reliable: on coffee's fine stripes and
# rocket's empty sky DIS overestimates sub-pixel motion, so the 1 px rule rejected about 60 %
# of their windows (docs/virtual_camera.md); they serve as the training split's object textures.
TEST_PHOTOS = ("grace_hopper", "chelsea", "ihc", "moon", "gravel")
VAL_PHOTOS = ("astronaut", "grass")
TRAIN_PHOTOS = tuple(n for n in _PHOTOS if n not in TEST_PHOTOS + VAL_PHOTOS)
# "residual": further test images (the paper's Fig. 9 used 700 beyond Table 2's), from the test
# photos but other clips, so that no image of the residual analysis is one of Table 2's.
SPLITS = ("train", "test", "val", "residual")  # order fixes clip seeds: new splits go at the end
SPLIT_PHOTOS = {"train": TRAIN_PHOTOS, "test": TEST_PHOTOS, "val": VAL_PHOTOS, "residual": TEST_PHOTOS}


def _package_dir(package: str) -> Path:
    if package == "skimage":
        import skimage.data

        return Path(skimage.data.__file__).parent
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data"


def photo_path(name: str) -> Path:
    package, filename, _ = _PHOTOS[name]
    return _package_dir(package) / filename


def photo_paths(split: str) -> list[Path]:
    """Paths of the photos of ``split`` ("train", "test", "val" or "residual"); train, val and test
    are disjoint, "residual" films the test photos in other clips.

    Test photos: grace_hopper, chelsea, ihc (backgrounds), moon, gravel (textures); validation:
    astronaut, grass; every other photo of the catalogue is a training photo. Files are read
    from the installed scikit-image / matplotlib packages (nothing is downloaded).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [photo_path(n) for n in SPLIT_PHOTOS[split]]


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path
    role: str  # "bg", "tex" or "sprite"


USER_SPLIT_FRACTIONS = {"test": 0.2, "val": 0.1}  # shares of a user's photo folder; the rest trains


def photo_split(paths: list[Path], split: str) -> list[Path]:
    """The photos of ``split`` among a user's ``paths``: a deterministic split by file name.

    The CRC-32 of each file name, as a fraction of its range, decides: below 0.2 test, from 0.2
    to 0.3 validation, else train (:data:`USER_SPLIT_FRACTIONS`), so adding photos to a folder
    does not move the others between splits (unless a split was empty and had borrowed one).
    With three or more photos every split gets at least one (an empty split borrows the photo
    whose CRC is nearest to its range); with fewer, every split uses all of them. The
    "residual" split films the test photos.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    paths = sorted({Path(p) for p in paths}, key=lambda p: p.name)
    if len(paths) < 3:
        return list(paths)
    crc = {p: zlib.crc32(p.name.encode("utf-8")) / 2**32 for p in paths}
    t, v = USER_SPLIT_FRACTIONS["test"], USER_SPLIT_FRACTIONS["test"] + USER_SPLIT_FRACTIONS["val"]
    groups = {"test": [p for p in paths if crc[p] < t], "val": [p for p in paths if t <= crc[p] < v],
              "train": [p for p in paths if crc[p] >= v]}
    for name, centre in (("test", t / 2), ("val", (t + v) / 2), ("train", (v + 1) / 2)):
        if not groups[name]:  # take the photo nearest to the empty range from the largest group
            donor = max(groups, key=lambda g: len(groups[g]))
            pick = min(groups[donor], key=lambda p: abs(crc[p] - centre))
            groups[donor].remove(pick)
            groups[name].append(pick)
    return groups["test" if split == "residual" else split]


def photo_pool(split: str, photos: list | tuple | str | Path | None = None) -> list[Photo]:
    """The split's photos: bundled, or the user's (a folder or a list of image files, all role
    "bg"), of which :func:`photo_split` gives the split's share."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if photos is None:
        return [Photo(n, photo_path(n), _PHOTOS[n][2]) for n in SPLIT_PHOTOS[split]]
    from .images import list_images

    if isinstance(photos, (str, Path)):
        if not Path(photos).is_dir():
            raise FileNotFoundError(f"{photos}: no such folder of photos")
        paths = list_images(photos)
        if not paths:
            raise ValueError(f"{photos}: no photos found (JPEG, PNG or TIFF files)")
    else:
        paths = [Path(p) for p in photos]
        if not paths:
            raise ValueError("photos: empty list")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such photo")
    return [Photo(p.stem, p, "bg") for p in photo_split(paths, split)]


@functools.lru_cache(maxsize=32)
def load_photo(path: Path) -> np.ndarray:
    """A photo as float32 ``(h, w, 4)``: RGB in [0, 1] and alpha (1 where the file has none)."""
    from .images import read_image, to_float

    img = to_float(read_image(path))
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 3:
        img = np.concatenate([img, np.ones_like(img[..., :1])], axis=2)
    img.setflags(write=False)
    return img


@functools.lru_cache(maxsize=1)
def motorcycle_depth() -> np.ndarray:
    """Relative depth of ``motorcycle_left`` (1 = nearest) from its disparity map; gaps filled."""
    from scipy import ndimage

    disp = np.load(_package_dir("skimage") / "motorcycle_disp.npz")["arr_0"].astype(np.float64)
    bad = ~np.isfinite(disp) | (disp <= 0)
    idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
    disp = disp[tuple(idx)]
    depth = disp.max() / disp
    depth.setflags(write=False)
    return depth


@dataclass(frozen=True)
class _Layered:
    rgba: np.ndarray  # (L, h, w, 4) straight alpha, far to near
    depths: np.ndarray  # (L,) relative depth of each layer (1 = nearest point)
    depth: np.ndarray  # (h, w) relative depth map


@functools.lru_cache(maxsize=1)
def _motorcycle_layers(n_layers: int = 4) -> _Layered:
    """``motorcycle_left`` cut into depth layers (quantiles of its disparity-derived depth).

    Layer k covers every pixel at its depth or nearer (so layers stack without holes at the
    reference view); colours hidden behind nearer layers are filled from the layer's own pixels
    (normalized convolution), so disoccluded background shows plausible colours, not ghosts.
    """
    from scipy import ndimage

    rgb = load_photo(photo_path("motorcycle_left"))[..., :3]
    dm = motorcycle_depth()
    edges = np.quantile(dm, np.linspace(0, 1, n_layers + 1))
    edges[-1] = np.inf
    sigma = max(rgb.shape[0] / 400, 0.6)
    out, depths = [], []
    for k in range(n_layers - 1, -1, -1):  # far to near
        sel = (dm >= edges[k]) & (dm < edges[k + 1])
        depths.append(float(np.median(dm[sel])) if sel.any() else float(edges[k]))
        if k == n_layers - 1:
            alpha = np.ones(dm.shape, np.float32)
        else:
            alpha = np.clip(ndimage.gaussian_filter((dm < edges[k + 1]).astype(np.float32), sigma), 0, 1)
        colour = _fill_from(rgb, dm >= edges[k], sigma=max(rgb.shape[0] / 40, 2.0)) if k > 0 else rgb
        out.append(np.concatenate([colour, alpha[..., None]], axis=2).astype(np.float32))
    return _Layered(rgba=np.stack(out), depths=np.array(depths), depth=dm)


# ---------------------------------------------------------------------------------------------
# Trajectories
# ---------------------------------------------------------------------------------------------

def rotation_matrices(angles: np.ndarray) -> np.ndarray:
    """(N, 3) angles (pitch about x, yaw about y, roll about z; radians) -> (N, 3, 3) ``Rz Ry Rx``."""
    a, b, g = angles[:, 0], angles[:, 1], angles[:, 2]
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    one, zero = np.ones_like(a), np.zeros_like(a)
    rx = np.stack([one, zero, zero, zero, ca, -sa, zero, sa, ca], -1).reshape(-1, 3, 3)
    ry = np.stack([cb, zero, sb, zero, one, zero, -sb, zero, cb], -1).reshape(-1, 3, 3)
    rz = np.stack([cg, -sg, zero, sg, cg, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return rz @ ry @ rx


@dataclass
class CameraPath:
    """Smooth handheld motion: per parameter a few sinusoids plus a drift, times ``scale``.

    Parameters (7): camera centre x, y, z (world units), pitch, yaw, roll (radians), log zoom.
    Time ``t`` is in frames (float; fractions give sub-frames). The pose at ``t_ref`` is the
    reference pose (zero), so the photo as prepared is what the camera sees mid-clip.
    """

    amp: np.ndarray  # (7, K)
    freq: np.ndarray  # (7, K) cycles per frame
    phase: np.ndarray  # (7, K)
    drift: np.ndarray  # (7,) per frame
    t_ref: float
    scale: float = 1.0

    def _raw(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)[:, None, None]
        waves = (self.amp * np.sin(2 * np.pi * self.freq * t + self.phase)).sum(-1)
        return waves + self.drift * t[:, :, 0]

    def params(self, t: np.ndarray) -> np.ndarray:
        """(N,) times -> (N, 7) parameters."""
        return self.scale * (self._raw(t) - self._raw(np.array([self.t_ref])))


@dataclass
class ObjectPath:
    """An object on the plane ``Z = depth``; its screen position (as the reference camera sees it,
    normalized units) is ``pos + vel (t - t0) + acc (t - t0)^2 / 2``, its angle ``angle + omega (t - t0)``.
    """

    depth: float
    half_height: float  # on-screen half height (normalized units) at the reference camera
    pos: np.ndarray  # (2,)
    vel: np.ndarray  # (2,) per frame
    acc: np.ndarray  # (2,) per frame^2
    t0: float
    angle: float = 0.0
    omega: float = 0.0
    scale: float = 1.0  # multiplies the motion (vel, acc, omega), as CameraPath.scale does

    def plane_from_local(self, t: np.ndarray) -> np.ndarray:
        """(N,) times -> (N, 3, 3) affine maps from object-local coordinates to world plane x, y."""
        dt = np.asarray(t, dtype=np.float64) - self.t0
        screen = self.pos + self.scale * (self.vel * dt[:, None] + 0.5 * self.acc * dt[:, None] ** 2)
        world = screen * self.depth / F0
        s = self.half_height * self.depth / F0
        th = self.angle + self.scale * self.omega * dt
        c, si = np.cos(th) * s, np.sin(th) * s
        out = np.zeros((len(dt), 3, 3))
        out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = c, -si, world[:, 0]
        out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = si, c, world[:, 1]
        out[:, 2, 2] = 1.0
        return out


@dataclass
class Layer:
    """One textured plane. ``texture`` is premultiplied RGBA float32 ``(4, h, w)`` (numpy)."""

    name: str
    texture: np.ndarray
    normal: np.ndarray  # (3,) plane normal n (n . P = delta)
    delta: float
    tex_matrix: np.ndarray  # (3, 3): reference-view (bg) or object-local coords -> grid_sample coords
    obj: ObjectPath | None = None  # None: background layer (textured through the reference camera)
    padding: str = "zeros"  # grid_sample padding: "reflection" for the farthest background layer


@dataclass
class Scene:
    layers: list[Layer]  # back to front
    camera: CameraPath
    kind: str
    background: str  # photo name
    ref_depth: float  # depth at which the camera speed is measured
    info: dict = field(default_factory=dict)


def camera_poses(path: CameraPath, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,) times -> centres (N, 3), rotations (N, 3, 3), focal lengths (N,)."""
    p = path.params(t)
    return p[:, 0:3], rotation_matrices(p[:, 3:6]), F0 * np.exp(p[:, 6])


def plane_matrices(path: CameraPath, t: np.ndarray, normal: np.ndarray, delta: float) -> np.ndarray:
    """(N, 3, 3) ``M`` with ``P ~ M [u, v, 1]`` for the plane ``n . P = delta`` (see module doc)."""
    c, r, f = camera_poses(path, t)
    n = np.asarray(normal, dtype=np.float64)
    kinv = np.zeros((len(f), 3, 3))
    kinv[:, 0, 0] = kinv[:, 1, 1] = 1.0 / f
    kinv[:, 2, 2] = 1.0
    a = c[:, :, None] * n[None, None, :] + (delta - c @ n)[:, None, None] * np.eye(3)[None]
    return a @ np.transpose(r, (0, 2, 1)) @ kinv


def layer_matrices(scene: Scene, layer: Layer, t: np.ndarray) -> np.ndarray:
    """(N, 3, 3): normalized homogeneous pixel coordinates at time t -> grid_sample coordinates."""
    m = plane_matrices(scene.camera, t, layer.normal, layer.delta)
    if layer.obj is None:
        proj = np.diag([F0, F0, 1.0])  # reference camera projection of the 3D point
        return layer.tex_matrix @ proj @ m
    to_xy1 = np.diag([1.0, 1.0, 1.0 / layer.obj.depth])  # (P_x, P_y, 1) on Z = depth
    local = np.linalg.inv(layer.obj.plane_from_local(t))
    return layer.tex_matrix @ local @ to_xy1 @ m


def apply_homography(mats: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N, 3, 3) x (P, 2) -> (N, P, 2)."""
    h = np.concatenate([pts, np.ones_like(pts[:, :1])], axis=1)
    q = np.einsum("nij,pj->npi", mats, h)
    return q[..., :2] / q[..., 2:3]


def pair_flow_magnitudes(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """|flow| between consecutive times at ``pts`` (P, 2) of the view, for a plane whose
    normalized pixel coordinates map by ``m`` (T, 3, 3) to fixed plane/texture coordinates:
    (T-1, P), in normalized units (x 120 for px at 240 rows)."""
    rel = np.linalg.inv(m[1:]) @ m[:-1]  # pixel at t -> pixel at t + 1
    return np.linalg.norm(apply_homography(rel, pts) - pts[None], axis=-1)


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


# ---------------------------------------------------------------------------------------------
# Building random scenes
# ---------------------------------------------------------------------------------------------

KINDS = ("random", "camera", "parallax", "objects", "pan")
BACKGROUND_DEPTH = 3.0  # world units; only ratios of depths and translations matter
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
MAGNIFICATION_RANGE = (0.6, 0.75)  # rendered pixels per photo pixel (see _background_crop)
CAMERA_HZ = (0.2, 0.8)  # frequencies of the handheld camera's sinusoids (log-uniform), Hz: sway, not tremor
ROLL_GAIN, ZOOM_GAIN = 0.05, 0.02  # weights of roll and zoom in the camera motion (pitch/yaw = 1)
FORWARD_GAIN = 0.05  # weight of the translation along the optical axis (sideways = 1)
OBJECT_DEPTH_RANGE = (0.7, 0.95)  # objects' depth as a fraction of the nearest background point
OBJECT_RELATIVE_SPEED = (0.0, 0.4)  # peak-flow mode: object speed / camera speed (uniform)


def _resize(img: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(h, w, C) float -> (rows, cols, C) float32: area averaging when shrinking (what a sensor with
    larger pixels records: the sharpest alias-free reduction), bicubic when enlarging."""
    import cv2

    img = np.asarray(img, dtype=np.float32)
    if img.shape[:2] == (rows, cols):
        return np.ascontiguousarray(img)
    shrink = rows <= img.shape[0] and cols <= img.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    parts = []
    for c0 in range(0, img.shape[2], 4):  # OpenCV resizes at most 4 channels at once
        part = cv2.resize(np.ascontiguousarray(img[..., c0:c0 + 4]), (cols, rows), interpolation=interp)
        parts.append(part.reshape(rows, cols, -1))
    return np.concatenate(parts, axis=2)


def _premultiply(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) straight alpha -> (4, h, w) premultiplied float32."""
    out = np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=2)
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def _tinted(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gray photos get a random mild colour tint; colour photos are returned as they are."""
    rgb = img[..., :3]
    if np.abs(rgb[..., 0] - rgb[..., 1]).max() < 1e-6 and np.abs(rgb[..., 1] - rgb[..., 2]).max() < 1e-6:
        tint = rng.uniform(0.65, 1.0, size=3)
        tint /= tint.max()
        return np.concatenate([rgb * tint, img[..., 3:]], axis=2)
    return img


def _fill_from(rgb: np.ndarray, keep: np.ndarray, sigma: float) -> np.ndarray:
    """Replace pixels where ``keep`` is False by a normalized-convolution average of kept ones."""
    from scipy import ndimage

    w = ndimage.gaussian_filter(keep.astype(np.float32), sigma)
    out = rgb.copy()
    for ch in range(3):
        num = ndimage.gaussian_filter(rgb[..., ch] * keep, sigma)
        out[..., ch] = np.where(keep, rgb[..., ch], num / np.maximum(w, 1e-6))
    small = w < 1e-4  # far from any kept pixel: fall back to the mean of kept pixels
    if small.any() and keep.any():
        out[small & ~keep] = rgb[keep].mean(0)
    return out


def _background_crop(rng, img: np.ndarray, aspect: float, rows: int, supersample: int,
                     magnification: float | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Choose how the photo covers the reference view and resample it to the render's texel density.

    The photo is shown at a *magnification* (output pixels per photo pixel) drawn from
    :data:`MAGNIFICATION_RANGE`, or at the smallest one at which the photo still covers the view
    enlarged by :data:`COVER_MARGIN` when that is larger. At or below 1 a rendered frame is as
    sharp as the photo area-averaged to that scale, as a real camera's downsampled frame is; above
    1 (a user's photo smaller than the frame) it is an enlarged photo, and soft. The photo is then
    resampled (area-averaged when shrinking) to exactly one texel per rendered (supersampled)
    pixel of the reference view.

    The magnification is that of a frame of :data:`REFERENCE_ROWS` rows, so the scene is the same
    at any output size (a frame of ``rows`` rows sees the photo at ``magnification * rows / 240``).
    ``rows``: output frame rows; the frame spans ``2 * aspect`` x 2 normalized units.
    Returns (resampled photo (h', w', C), tex_matrix (3, 3) from reference coordinates to
    grid_sample coordinates, info: ``magnification`` and ``photo_box`` (x0, y0, x1, y1): the
    reference view's extent in the original photo's pixels).
    """
    h, w = img.shape[:2]
    half = REFERENCE_ROWS / 2  # pixels per normalized unit of a 240-row frame
    cover = max(2 * aspect * COVER_MARGIN * half / w, 2 * COVER_MARGIN * half / h)
    if magnification is None:
        magnification = float(rng.uniform(*MAGNIFICATION_RANGE))
    mag = max(float(magnification), cover)
    s = half / mag  # photo pixels per normalized unit
    slack_x, slack_y = max(w / 2 - s * aspect * COVER_MARGIN, 0.0), max(h / 2 - s * COVER_MARGIN, 0.0)
    cx, cy = w / 2 + rng.uniform(-slack_x, slack_x), h / 2 + rng.uniform(-slack_y, slack_y)
    info = {"magnification": mag, "photo_box": tuple(float(v) for v in (cx - s * aspect, cy - s, cx + s * aspect, cy + s))}
    r = mag * rows / REFERENCE_ROWS * supersample  # texels per photo pixel
    nh, nw = max(int(round(h * r)), 2), max(int(round(w * r)), 2)
    img = _resize(img, nh, nw)
    s, cx, cy = s * nw / w, cx * nw / w, cy * nh / h
    m = np.array([[2 * s / nw, 0.0, 2 * cx / nw - 1], [0.0, 2 * s / nh, 2 * cy / nh - 1], [0.0, 0.0, 1.0]])
    return img, m, info


def _mask(rng, shape_kind: str, rows: int, cols: int, sprite: np.ndarray | None) -> np.ndarray:
    """An anti-aliased alpha mask in [0, 1], (rows, cols)."""
    if shape_kind == "horse":
        horse = load_photo(photo_path_any("skimage", "horse.png"))
        m = (horse[..., :3].mean(2) < 0.5).astype(np.float32)
        return np.clip(_resize(m[..., None], rows, cols)[..., 0], 0, 1)
    if shape_kind == "sprite" and sprite is not None:
        return np.clip(_resize(sprite[..., 3:4], rows, cols)[..., 0], 0, 1)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    yn, xn = (y + 0.5) / rows * 2 - 1, (x + 0.5) / cols * 2 - 1  # [-1, 1] across the sprite
    px = 2.0 / rows  # one texel in these units (vertical)
    if shape_kind == "ellipse":
        d = (np.sqrt(xn**2 + yn**2) - 0.95) / px * 0.5
    elif shape_kind == "roundrect":
        r = rng.uniform(0.1, 0.5)
        qx, qy = np.maximum(np.abs(xn) - (0.95 - r), 0), np.maximum(np.abs(yn) - (0.95 - r), 0)
        d = (np.sqrt(qx**2 + qy**2) - r) / px * 0.5
    else:  # "blob": a smooth random shape
        from scipy import ndimage

        noise = ndimage.gaussian_filter(rng.standard_normal((rows, cols)), max(rows, cols) / 8)
        noise /= noise.std() + 1e-12
        radial = np.sqrt(xn**2 + yn**2)
        field_ = 1.2 - 1.6 * radial + 0.45 * noise
        gy, gx = np.gradient(field_)
        d = -field_ / np.maximum(np.hypot(gx, gy), 1e-6)
    return np.clip(0.5 - d, 0.0, 1.0).astype(np.float32)


def photo_path_any(package: str, filename: str) -> Path:
    return _package_dir(package) / filename


def _object_layer(rng, pool: list[Photo], *, index: int, depth: float, n_frames: int, aspect: float,
                  ss_rows: int, motion: str, speed: float | None, anchor: ObjectPath | None,
                  rotate: bool) -> Layer:
    """A textured foreground object on the plane ``Z = depth``.

    motion: "moving", "static" (fixed in the world: parallax only) or "linear" (constant velocity,
    no rotation: the known-answer case).
    """
    sprites = [p for p in pool if p.role == "sprite"]
    textures = [p for p in pool if p.role != "sprite"]
    shapes = ["ellipse", "roundrect", "horse", "blob"] + (["sprite"] * 2 if sprites else [])
    shape_kind = shapes[rng.integers(len(shapes))]
    sprite = load_photo(sprites[rng.integers(len(sprites))].path) if shape_kind == "sprite" else None
    if shape_kind == "horse":
        obj_aspect = 400 / 328
    elif sprite is not None:
        obj_aspect = sprite.shape[1] / sprite.shape[0]
    else:
        obj_aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.7))))
    half_height = float(rng.uniform(0.15, 0.5))
    rows = max(int(round(half_height * ss_rows)), 8)
    cols = max(int(round(rows * obj_aspect)), 8)
    if sprite is not None:
        rgb = _resize(sprite[..., :3], rows, cols)
    else:
        src = _tinted(load_photo(textures[rng.integers(len(textures))].path), rng)
        h, w = src.shape[:2]
        frac = rng.uniform(0.3, 0.8)
        ch = int(min(h, w / obj_aspect) * frac)
        cw = max(int(ch * obj_aspect), 2)
        ch = max(ch, 2)
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        rgb = _resize(src[y0:y0 + ch, x0:x0 + cw, :3], rows, cols)
    alpha = _mask(rng, shape_kind, rows, cols, sprite)
    texture = _premultiply(np.concatenate([rgb, alpha[..., None]], axis=2))

    if anchor is not None:  # cross the anchor object's path: same place at some time of the clip
        t0 = float(rng.uniform(0.2, 0.8) * (n_frames - 1))
        dt = t0 - anchor.t0
        pos = anchor.pos + anchor.vel * dt + 0.5 * anchor.acc * dt**2
    else:
        t0 = float(rng.uniform(0, n_frames - 1))
        pos = np.array([rng.uniform(-0.8, 0.8) * aspect, rng.uniform(-0.8, 0.8)])
    vel = np.zeros(2)
    acc = np.zeros(2)
    omega = 0.0
    angle = float(rng.uniform(-0.3, 0.3)) if rotate else 0.0
    if motion in ("moving", "linear"):
        s = speed if speed is not None else float(np.exp(rng.uniform(*np.log(OBJECT_SPEED_RANGE))))
        theta = rng.uniform(0, 2 * np.pi)
        vel = s / (REFERENCE_ROWS / 2) * np.array([np.cos(theta), np.sin(theta)])
        if motion == "moving":
            if anchor is None and rng.random() < 0.35:  # comes into view: on the border a third in
                t0 = (n_frames - 1) / 3
                edge = np.array([aspect, 1.0]) * np.sign(rng.standard_normal(2))
                axis = rng.integers(2)
                pos = np.array([rng.uniform(-0.7, 0.7) * aspect, rng.uniform(-0.7, 0.7)])
                pos[axis] = edge[axis]
                inward = -np.sign(pos[axis])
                vel[axis] = inward * abs(vel[axis]) if abs(vel[axis]) > 0.3 * np.linalg.norm(vel) else \
                    inward * 0.5 * np.linalg.norm(vel)
            acc = rng.normal(0, 0.3, 2) * np.linalg.norm(vel) / max(n_frames, 1)
            if rotate:
                omega = float(rng.normal(0, 0.002))
    path = ObjectPath(depth=depth, half_height=half_height, pos=np.asarray(pos, float), vel=vel, acc=acc,
                      t0=float(t0), angle=angle, omega=omega)
    tex_matrix = np.diag([rows / cols, 1.0, 1.0])  # local x in [-cols/rows, cols/rows] -> [-1, 1]
    return Layer(name=f"object{index}:{shape_kind}", texture=texture, normal=np.array([0.0, 0.0, 1.0]),
                 delta=depth, tex_matrix=tex_matrix, obj=path)


def _camera_path(rng, *, n_frames: int, ref_depth: float, translation_weight: float,
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
    covers it (alpha >= 0.5), as :func:`repro.render.render_clip`'s true flow does per pixel.
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


def draw_peak_flow(rng: np.random.Generator) -> float:
    """A clip's peak flow, px/frame at 240 rows, on :data:`PEAK_FLOW_RANGE` with a density rising
    as ``(p - low) ** PEAK_FLOW_SHAPE`` towards the range's top.

    Handheld footage moves faster than the rule's 1 px/frame (at 240 rows, 240 fps) more often
    than not; the WILD selection cuts that distribution at 1 px, so the windows it keeps crowd
    towards the limit. (Shape 2 on (0.3, 1.0): median 0.86, 10th percentile 0.62 px/frame.)
    """
    lo, hi = PEAK_FLOW_RANGE
    return float(lo + (hi - lo) * rng.random() ** (1.0 / (PEAK_FLOW_SHAPE + 1)))


def _set_peak_flow(scene: Scene, target: float, n_frames: int, aspect: float) -> None:
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


def _set_speed(path: CameraPath, speed: float, planes: list, aspect: float, n_frames: int) -> None:
    """Scale ``path`` so that :func:`camera_flow_stat` is ``speed`` px/frame at 240 rows."""
    path.scale = 1.0
    for _ in range(3):  # flow is nearly linear in the scale; a few fixed-point steps make it exact
        stat = camera_flow_stat(path, planes, aspect, max(n_frames, 2))
        if stat <= 0:
            return
        path.scale *= speed / stat


def build_scene(seed: int, *, kind: str, split: str, n_frames: int, size: tuple[int, int], supersample: int,
                speed: float | None = None, peak: float | None = None, photos=None,
                background: str | None = None, objects: int | None = None, object_speed: float | None = None,
                pan: tuple[float, float] = (1.0, 0.0), tint: bool = True,
                magnification: float | None = None) -> Scene:
    """A random scene (deterministic in ``seed``); see :func:`repro.render.render_clip` for options.

    Motion: with ``speed`` the camera alone is scaled to that mean background flow (objects keep
    their drawn speeds); otherwise camera and objects are scaled together so that the clip's
    :func:`peak_flow` is ``peak`` (drawn by :func:`draw_peak_flow` when None).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if speed is not None and peak is not None:
        raise ValueError("give speed (camera only) or peak_flow (the whole scene), not both")
    rng = np.random.default_rng(seed)
    H, W = size
    aspect = W / H
    pool = photo_pool(split, photos)
    if kind == "random":
        kind_used = ("camera", "parallax", "objects", "objects", "mixed")[rng.integers(5)]
    else:
        kind_used = kind
    # ---- background -------------------------------------------------------------------------
    bgs = [p for p in pool if p.role == "bg"] or [p for p in pool if p.role != "sprite"] or pool
    if background is not None:
        match = [p for p in pool if p.name == background or str(p.path) == str(background)]
        if not match:
            if Path(background).is_file():
                match = [Photo(Path(background).stem, Path(background), "bg")]
            else:
                raise ValueError(f"background {background!r} is not a photo of split {split!r} "
                                 f"(choose from {[p.name for p in pool]}) nor an existing file")
        photo = match[0]
    else:
        layered_ok = [p for p in bgs if p.name == "motorcycle_left"]
        if kind_used == "parallax" and layered_ok and rng.random() < 0.6:
            photo = layered_ok[0]
        else:
            photo = bgs[rng.integers(len(bgs))]
    img = _tinted(load_photo(photo.path), rng) if tint else load_photo(photo.path)
    flip = kind_used != "pan" and rng.random() < 0.5
    if flip:
        img = img[:, ::-1]
    if kind_used == "pan":
        geometry = "plane"
    elif photo.name == "motorcycle_left" and kind_used in ("parallax", "mixed"):
        geometry = "layered"
    elif kind_used in ("parallax", "mixed"):
        geometry = "tilted"
    else:
        geometry = ("plane", "tilted")[int(rng.random() < 0.3)]
    layers: list[Layer] = []
    e3 = np.array([0.0, 0.0, 1.0])
    D = BACKGROUND_DEPTH
    if geometry == "layered":
        layered = _motorcycle_layers()  # (L, h, w, 4) straight-alpha RGBA, far to near; cached
        n_layers = layered.rgba.shape[0]
        stacked = np.concatenate(list(layered.rgba), axis=2)  # (h, w, 4 L)
        if flip:
            stacked = stacked[:, ::-1]
        stacked, tex_m, crop = _background_crop(rng, stacked, aspect, H, supersample, magnification)
        for j in range(n_layers):  # far to near
            rgba = stacked[..., 4 * j:4 * j + 4]
            layers.append(Layer(name=f"background:depth{n_layers - 1 - j}", texture=_premultiply(rgba), normal=e3,
                                delta=1.5 * float(layered.depths[j]), tex_matrix=tex_m,
                                padding="reflection" if j == 0 else "zeros"))
        dm = layered.depth
        ref_depth = 1.5 * float(np.median(dm))
        nearest = 1.5 * float(dm.min())
    else:
        img, tex_m, crop = _background_crop(rng, img, aspect, H, supersample, magnification)
        if geometry == "tilted":
            phi, psi = rng.uniform(-0.6, 0.6), rng.uniform(-0.35, 0.35)
            n = np.array([np.sin(psi), np.sin(phi), np.cos(phi) * np.cos(psi)])
            n /= np.linalg.norm(n)
        else:
            n = e3
        layers.append(Layer(name="background", texture=_premultiply(img), normal=n, delta=D * n[2],
                            tex_matrix=tex_m, padding="reflection"))
        ref_depth = D
        # nearest point of the plane inside the (slightly enlarged) view
        corners = np.array([[x, y, F0] for x in (-aspect * 1.2, aspect * 1.2) for y in (-1.2, 1.2)]) / F0
        nearest = float(min(D * n[2] / max(c @ n, 1e-6) * c[2] for c in corners))
    planes = [(layer.normal, layer.delta) for layer in layers]  # the background, before objects join
    # ---- camera -----------------------------------------------------------------------------
    if kind_used == "pan":
        drift = np.zeros(7)
        drift[0] = -pan[0] / (REFERENCE_ROWS / 2) * D / F0
        drift[1] = -pan[1] / (REFERENCE_ROWS / 2) * D / F0
        camera = CameraPath(amp=np.zeros((7, 1)), freq=np.zeros((7, 1)), phase=np.zeros((7, 1)), drift=drift,
                            t_ref=(n_frames - 1) / 2)
        speed_used = float(np.hypot(*pan))
    else:
        if kind_used == "parallax":
            tw, rw = rng.uniform(*PARALLAX_TRANSLATION), rng.uniform(0.1, 0.4)
        else:
            tw, rw = rng.uniform(*HANDHELD_TRANSLATION), rng.uniform(0.5, 1.0)
        camera = _camera_path(rng, n_frames=n_frames, ref_depth=ref_depth, translation_weight=tw,
                              rotation_weight=rw)
        speed_used = float(speed) if speed is not None else float(np.exp(rng.uniform(*np.log(SPEED_RANGE))))
        _set_speed(camera, speed_used, planes, aspect, n_frames)
    # ---- objects ----------------------------------------------------------------------------
    if objects is None:
        n_obj = {"camera": 0, "parallax": int(rng.integers(1, 3)), "objects": int(rng.integers(2, 5)),
                 "mixed": int(rng.integers(1, 4)), "pan": 0}[kind_used]
    else:
        n_obj = int(objects)
    obj_rng = np.random.default_rng([seed, 1])  # objects drawn apart, so objects=0 keeps the background
    depths = np.sort(obj_rng.uniform(*OBJECT_DEPTH_RANGE, size=n_obj))[::-1] * nearest
    if object_speed is None and speed is None and kind_used != "pan":
        # in peak-flow mode objects move at a random multiple of the camera's background flow,
        # so that they share the blur with the background rather than take all of the peak
        object_speed = speed_used * float(obj_rng.uniform(*OBJECT_RELATIVE_SPEED))
    paths: list[ObjectPath] = []
    for i in range(n_obj):
        if kind_used == "pan":
            motion = "linear"
        elif kind_used == "parallax":
            motion = "static" if obj_rng.random() < 0.7 else "moving"
        else:
            motion = "moving" if obj_rng.random() < 0.8 else "static"
        anchor = paths[int(obj_rng.integers(len(paths)))] if (paths and kind_used == "objects"
                                                             and obj_rng.random() < 0.5) else None
        layer = _object_layer(obj_rng, pool, index=i, depth=float(depths[i]), n_frames=n_frames, aspect=aspect,
                              ss_rows=H * supersample, motion=motion, speed=object_speed, anchor=anchor,
                              rotate=kind_used != "pan")
        paths.append(layer.obj)
        layers.append(layer)
    scene = Scene(layers=layers, camera=camera, kind=kind_used, background=photo.name, ref_depth=ref_depth)
    target = None
    if kind_used != "pan" and speed is None:
        # drawn from its own stream, so the scene's other draws do not depend on it
        target = float(peak) if peak is not None else draw_peak_flow(np.random.default_rng([seed, 2]))
        _set_peak_flow(scene, target, n_frames, aspect)
        speed_used = camera_flow_stat(camera, planes, aspect, max(n_frames, 2))
    scene.info = {"kind": kind_used, "geometry": geometry, "background": photo.name, "speed": speed_used,
                  "peak_flow_target": target, "n_objects": n_obj, **crop}
    return scene
