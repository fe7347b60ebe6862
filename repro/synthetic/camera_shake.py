"""Camera-shake blur in the style of Köhler et al. (ECCV 2012), for the shift-aware evaluation of
Fig. 8: a smooth random 6-D camera trajectory (rotations mainly) becomes a sequence of
homographies of a planar scene; the blurry image is the average of the warped sharp image along
the trajectory, the ground truth the sharp image at the reference pose (known up to a global
shift). :func:`figure_camera_shake` draws one example.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..io.images import to_float, to_rgb

__all__ = ["CameraTrajectory", "random_camera_trajectory", "camera_shake", "camera_shake_frames",
           "plot_camera_shake", "figure_camera_shake"]

@dataclass
class CameraTrajectory:
    """A camera trajectory and the homographies it induces on a fronto-parallel plane.

    Attributes
    ----------
    rotations : ``(T, 3)`` rotation vectors (radians) about the camera's x (pitch), y (yaw) and
        z (roll) axes, relative to the reference pose.
    translations : ``(T, 3)`` translations in units of the scene depth, relative to the reference.
    homographies : ``(T, 3, 3)``: pixel ``(x, y, 1)`` of the reference image -> pixel of pose
        ``t`` (coordinates of the full input image, x right, y down).
    focal : focal length in pixels.
    reference : index of the reference pose (its homography is the identity).
    margin : pixels cropped on every side of the input so that every pose sees the crop.
    """

    rotations: np.ndarray
    translations: np.ndarray
    homographies: np.ndarray
    focal: float
    reference: int
    margin: int
    image_shape: tuple[int, int]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.homographies)

    def displacements(self, points: np.ndarray) -> np.ndarray:
        """Where reference pixels ``points (N, 2)`` as ``(x, y)`` of the full image move:
        ``(T, N, 2)`` displacement ``(dx, dy)`` of each pose relative to the reference."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        homog = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)  # (N, 3)
        mapped = np.einsum("tij,nj->tni", self.homographies, homog)
        return mapped[..., :2] / mapped[..., 2:3] - pts[None]

    def local_kernel(self, x: float, y: float, *, size: int = 41) -> np.ndarray:
        """The blur kernel around output pixel ``(x, y)`` of the *cropped* image ``(size, size)``.

        In the convention of :mod:`repro.synthetic.blur` (a convolution; centre ``size // 2``): each
        pose puts mass ``1/T`` at ``centre + (dy, dx)``, splatted bilinearly. Valid where the
        blur is locally shift-invariant (over the kernel's extent).
        """
        from .kernels import _splat_bilinear

        m = self.margin
        d = self.displacements(np.array([[x + m, y + m]]))[:, 0]  # (T, 2) (dx, dy)
        pts = np.stack([d[:, 1], d[:, 0]], axis=1) + size // 2
        if pts.min() < 0 or pts.max() > size - 1:
            raise ValueError(f"blur at ({x}, {y}) exceeds a {size}x{size} kernel")
        k = _splat_bilinear(pts, size)
        return k / k.sum()


def _homography(rotvec: np.ndarray, trans: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``K (R + t n^T / d) K^-1`` for a plane at depth ``d = 1`` with normal ``n = (0, 0, 1)``."""
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec(rotvec).as_matrix()
    M = R + np.outer(trans, [0.0, 0.0, 1.0])
    return K @ M @ np.linalg.inv(K)


def random_camera_trajectory(image_shape: tuple[int, int], *, seed: int | np.random.Generator, n_poses: int = 64,
                             blur_px: float = 12.0, n_control: int = 5, roll_weight: float = 1.0,
                             translation_weight: float = 0.1, focal: float | None = None,
                             reference: str | int = "middle") -> CameraTrajectory:
    """A smooth random 6-D camera trajectory scaled to a given blur extent.

    Each of the 6 coordinates (pitch, yaw, roll; tx, ty, tz) is a cubic spline through
    ``n_control`` standard-normal control values over the exposure, sampled at ``n_poses``
    instants; roll is weighted by ``roll_weight`` and translations by ``translation_weight``
    (hand shake is mostly rotation, Köhler et al. 2012). The trajectory is made relative to the
    reference pose (``"middle"``, ``"first"`` or an index) and scaled so that the largest
    displacement of any image pixel from its reference position is ``blur_px`` pixels.
    ``focal`` defaults to the image width (a ~53 degree field of view).
    """
    from scipy.interpolate import CubicSpline

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    H, W = image_shape
    if n_poses < 1:
        raise ValueError(f"n_poses must be >= 1, got {n_poses}")
    if blur_px < 0:
        raise ValueError(f"blur_px must be >= 0, got {blur_px}")
    if n_control < 2:
        raise ValueError(f"n_control must be >= 2, got {n_control}")
    ref = {"middle": n_poses // 2, "first": 0}.get(reference, reference)
    if not isinstance(ref, (int, np.integer)) or not 0 <= ref < n_poses:
        raise ValueError(f"reference must be 'middle', 'first' or an index < {n_poses}, got {reference!r}")
    f = float(W if focal is None else focal)
    K = np.array([[f, 0.0, (W - 1) / 2.0], [0.0, f, (H - 1) / 2.0], [0.0, 0.0, 1.0]])
    t_ctrl = np.linspace(0.0, 1.0, n_control)
    t = np.linspace(0.0, 1.0, n_poses)
    ctrl = rng.standard_normal((n_control, 6)) * np.array([1, 1, roll_weight] + [translation_weight] * 3)
    path = CubicSpline(t_ctrl, ctrl, axis=0, bc_type="natural")(t) if n_control > 2 else \
        ctrl[0] + (ctrl[1] - ctrl[0]) * t[:, None]
    path = path - path[ref]  # relative to the reference pose (small motions: a fine approximation)
    border = np.array([[x, y] for x in np.linspace(0, W - 1, 9) for y in np.linspace(0, H - 1, 9)])

    def build(scale: float) -> CameraTrajectory:
        p = path * scale
        homs = np.stack([_homography(p[i, :3], p[i, 3:], K) for i in range(n_poses)])
        homs = homs @ np.linalg.inv(homs[ref])  # exact identity at the reference
        return CameraTrajectory(p[:, :3], p[:, 3:], homs, f, int(ref), 0, (H, W))

    # Scale to the wanted extent: displacement is nearly linear in the (small) motion.
    scale = 0.0
    if blur_px > 0 and np.abs(path).max() > 0:
        scale = 1e-3
        for _ in range(4):
            extent = np.hypot(*np.moveaxis(build(scale).displacements(border), -1, 0)).max()
            scale *= blur_px / extent
    traj = build(scale)
    extent = float(np.hypot(*np.moveaxis(traj.displacements(border), -1, 0)).max()) if n_poses else 0.0
    traj.margin = int(math.ceil(extent)) + 2
    traj.meta = {"seed": seed if not isinstance(seed, np.random.Generator) else None, "blur_px": blur_px,
                 "max_displacement_px": extent, "roll_weight": roll_weight,
                 "translation_weight": translation_weight}
    return traj


def _warp_poses(image: np.ndarray, traj: CameraTrajectory, poses: Sequence[int], chunk: int = 8) -> np.ndarray:
    """Images seen at ``poses``, cropped by the margin: ``(len(poses), h, w, C)`` float32."""
    import torch.nn.functional as F

    H, W, C = image.shape
    m = traj.margin
    h, w = H - 2 * m, W - 2 * m
    ys, xs = np.mgrid[m : H - m, m : W - m].astype(np.float64)
    pix = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)])  # (3, h*w) output pixels
    src = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]
    out = np.empty((len(poses), h, w, C), dtype=np.float32)
    for start in range(0, len(poses), chunk):
        sel = poses[start : start + chunk]
        grids = []
        for p in sel:
            q = np.linalg.inv(traj.homographies[p]) @ pix  # pose-p pixel -> reference pixel
            gx = q[0] / q[2] / (W - 1) * 2 - 1
            gy = q[1] / q[2] / (H - 1) * 2 - 1
            grids.append(np.stack([gx, gy], axis=-1).reshape(h, w, 2))
        grid = torch.from_numpy(np.stack(grids).astype(np.float32))
        warped = F.grid_sample(src.expand(len(sel), -1, -1, -1), grid, mode="bilinear",
                               padding_mode="border", align_corners=True)
        out[start : start + len(sel)] = warped.permute(0, 2, 3, 1).numpy()
    return out


def camera_shake_frames(image: np.ndarray, trajectory: CameraTrajectory) -> np.ndarray:
    """All sharp frames along the trajectory, ``(T, h, w, 3)`` (Köhler's per-frame references)."""
    image = to_rgb(to_float(image))
    return _warp_poses(image, trajectory, list(range(len(trajectory))))


def camera_shake(
    image: np.ndarray,
    *,
    seed: int,
    n_poses: int = 64,
    blur_px: float = 12.0,
    linear: bool = False,
    trajectory: CameraTrajectory | None = None,
    **trajectory_options,
) -> tuple[np.ndarray, np.ndarray, CameraTrajectory]:
    """Space-varying camera-shake blur of one image (Köhler et al. 2012 style).

    A random smooth 6-D trajectory (:func:`random_camera_trajectory`; rotations mainly, focal
    length = image width, a planar scene) gives one homography per pose; the blurry image is the
    mean of the ``n_poses`` warped images (bilinear, ``torch.nn.functional.grid_sample``),
    averaged in linear light (``x**2.2``) when ``linear``. Both outputs are cropped by
    ``trajectory.margin`` pixels on each side so that every pose sees only real image content.

    Parameters
    ----------
    image : ``(H, W, 3)`` (or gray / uint8) image.
    seed : trajectory seed.
    blur_px : largest displacement of any pixel from its reference position.
    trajectory : reuse a trajectory (its ``image_shape`` must match) instead of drawing one.
    trajectory_options : passed to :func:`random_camera_trajectory` (``roll_weight``,
        ``translation_weight``, ``focal``, ``reference``, ``n_control``).

    Returns
    -------
    blurry : ``(h, w, 3)`` float32 in [0, 1], ``h = H - 2 * margin``, ``w = W - 2 * margin``
    sharp_reference : ``(h, w, 3)`` float32: the image at the reference pose (the middle one by
        default), the ground truth up to a global shift
    trajectory : :class:`CameraTrajectory`
    """
    image = to_rgb(to_float(np.asarray(image)))
    H, W = image.shape[:2]
    if trajectory is None:
        trajectory = random_camera_trajectory((H, W), seed=seed, n_poses=n_poses, blur_px=blur_px,
                                              **trajectory_options)
    elif tuple(trajectory.image_shape) != (H, W):
        raise ValueError(f"trajectory made for images {trajectory.image_shape}, got {(H, W)}")
    if 2 * trajectory.margin >= min(H, W):
        raise ValueError(f"image {H}x{W} too small for a blur of {trajectory.margin} pixels")
    src = image ** 2.2 if linear else image
    acc = None
    for start in range(0, len(trajectory), 16):  # bounded memory
        frames = _warp_poses(src, trajectory, list(range(start, min(start + 16, len(trajectory)))))
        part = frames.sum(axis=0, dtype=np.float64)
        acc = part if acc is None else acc + part
    blurry = acc / len(trajectory)
    if linear:
        blurry = np.clip(blurry, 0.0, None) ** (1 / 2.2)
    m = trajectory.margin
    sharp = image[m : H - m, m : W - m]
    return np.clip(blurry, 0, 1).astype(np.float32), np.ascontiguousarray(sharp, dtype=np.float32), trajectory


def plot_camera_shake(
    image: np.ndarray | None = None,
    *,
    seed: int = 0,
    blur_px: float = 12.0,
    **options,
):
    """A ``Figure``: sharp reference, camera-shake blur with local kernels (paths of 9 pixels,
    magnified 3x), and the 6-D trajectory. ``image`` defaults to scikit-image's ``astronaut``."""
    from matplotlib.figure import Figure

    if image is None:
        from skimage import data

        image = data.astronaut()
    blurry, sharp, traj = camera_shake(image, seed=seed, blur_px=blur_px, **options)
    h, w = sharp.shape[:2]
    fig = Figure(figsize=(15, 5.2))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 0.9]})
    axes[0].imshow(sharp)
    axes[0].set_title("sharp reference (middle pose)")
    axes[1].imshow(blurry)
    axes[1].set_title(f"camera shake ({len(traj)} poses); local kernels x3")
    mag = 3.0
    for fy in (0.15, 0.5, 0.85):
        for fx in (0.15, 0.5, 0.85):
            x, y = fx * (w - 1), fy * (h - 1)
            d = traj.displacements(np.array([[x + traj.margin, y + traj.margin]]))[:, 0]
            axes[1].plot(x + mag * d[:, 0], y + mag * d[:, 1], color="yellow", lw=1.2)
            axes[1].plot(x, y, "r+", ms=6)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    tt = np.arange(len(traj))
    for j, name in enumerate(("pitch (x)", "yaw (y)", "roll (z)")):
        axes[2].plot(tt, np.degrees(traj.rotations[:, j]), label=f"{name} [deg]")
    ax2 = axes[2].twinx()
    for j, name in enumerate(("tx", "ty", "tz")):
        ax2.plot(tt, traj.translations[:, j], ls="--", lw=0.8, label=f"{name} [depth]")
    ax2.set_ylabel("translation [scene depth]")
    axes[2].axvline(traj.reference, color="k", lw=0.6, ls=":")
    axes[2].set_xlabel("pose index")
    axes[2].set_ylabel("rotation [degrees]")
    axes[2].set_title(f"trajectory (max displacement {traj.meta['max_displacement_px']:.1f} px)")
    lines = axes[2].get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    axes[2].legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="best")
    fig.suptitle(f"Köhler-style camera shake (seed {seed}, focal = width, planar scene)")
    fig.tight_layout()
    return fig


def figure_camera_shake(
    path: str | os.PathLike,
    *,
    image: np.ndarray | None = None,
    seed: int = 0,
    blur_px: float = 12.0,
    **options,
) -> Path:
    """Write :func:`plot_camera_shake` as a PNG (atomically); returns the path."""
    from ..io.figures import save_figure

    fig = plot_camera_shake(image, seed=seed, blur_px=blur_px, **options)
    return save_figure(fig, Path(path), formats=("png",), dpi=100)[0]
