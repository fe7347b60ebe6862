"""Synthetic blur: shift-invariant training pairs for DeblurNet^SI, and camera-shake blur.

- :class:`SyntheticBlurDataset`: sharp images (the WILD sharp frames, as the paper, plus any
  photo folder; the paper added Cityscapes) cropped at random, convolved with a kernel drawn from
  a :class:`repro.kernels.KernelBank`, plus Gaussian noise (std 0.01, as Chakrabarti 2016) and
  clipped to [0, 1]. Every sample is a function of ``(seed, epoch, index)`` only.
- :func:`blur_batch` and :func:`blur_padded_batch`: the same blur for a batch on any device, so
  that training on a GPU blurs on the GPU (build the dataset with ``blur=False``).
- :func:`camera_shake`: space-varying blur in the style of Köhler et al. (ECCV 2012): a smooth
  random 6-D camera trajectory (rotations mainly) becomes a sequence of homographies of a
  planar scene; the blurry image is the average of the warped sharp image along the
  trajectory, the ground truth is the sharp image at the reference pose (known up to a global
  shift), for the shift-aware evaluation of Fig. 8.
- :func:`figure_camera_shake`: a PNG showing one camera-shake example.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .images import IMAGE_SUFFIXES, list_images, read_image, to_float, to_rgb
from .kernels import KernelBank, blur_numpy, blur_torch

__all__ = [
    "wild_sharp_paths",
    "photo_paths",
    "SyntheticBlurDataset",
    "blur_batch",
    "blur_padded_batch",
    "CameraTrajectory",
    "random_camera_trajectory",
    "camera_shake",
    "camera_shake_frames",
    "plot_camera_shake",
    "figure_camera_shake",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- sharp sources

def wild_sharp_paths(root: str | os.PathLike, split: str | None = "train", *, sharp_dir: str = "sharp") -> list[Path]:
    """Sharp frames of a WILD / GoPro-layout dataset: ``root/<split>/<scene>/sharp/*``, sorted."""
    root = Path(root)
    split_dir = root / split if split else root
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: no such folder")
    paths = [p for scene in sorted(split_dir.iterdir()) if (scene / sharp_dir).is_dir()
             for p in list_images(scene / sharp_dir)]
    if not paths:
        raise ValueError(f"{split_dir}: no images in <scene>/{sharp_dir}/")
    return paths


def photo_paths(folder: str | os.PathLike) -> list[Path]:
    """Every image under ``folder`` (recursively, sorted), e.g. a Cityscapes ``leftImg8bit`` tree.

    Refuses a folder holding ``blur`` subfolders (a paired dataset: use :func:`wild_sharp_paths`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    if any(p.is_dir() for p in folder.rglob("blur")):
        raise ValueError(f"{folder}: holds blurry images (a 'blur' folder); use wild_sharp_paths() for paired data")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise ValueError(f"{folder}: no images found")
    return paths


def _as_paths(sharp) -> list[Path]:
    if hasattr(sharp, "pairs"):  # a repro.datasets.PairedFolder (or alike): its sharp images
        return [Path(s) for _, s in sharp.pairs]
    if isinstance(sharp, (str, os.PathLike)):
        return photo_paths(sharp)
    return [Path(p) for p in sharp]


def _rgb(img: np.ndarray) -> np.ndarray:
    return to_rgb(to_float(img))


def _dihedral(img: np.ndarray, t: int) -> np.ndarray:
    """One of the 8 flips/transposes of a square-agnostic ``(H, W, C)`` array (t in 0..7)."""
    if t & 4:
        img = img.transpose(1, 0, 2)
    if t & 2:
        img = img[::-1]
    if t & 1:
        img = img[:, ::-1]
    return img


# --------------------------------------------------------------------------- dataset

class SyntheticBlurDataset(torch.utils.data.Dataset):
    """Sharp crops blurred on the fly with kernels of a bank (DeblurNet^SI's training data).

    Sample ``i`` of epoch ``e`` uses ``np.random.default_rng([seed, e, i])`` to draw a kernel
    index (uniform over the bank), a crop position, one of the 8 flips/transposes (Chakrabarti's
    augmentation; ``augment=False`` turns it off) and the noise. The sharp image is
    ``paths[i % len(paths)]``. A crop of side ``crop + k - 1`` (``k`` = kernel size) is blurred
    with ``mode="valid"``, so the blurry crop is exact (no border assumption) and aligned with
    the central ``crop x crop`` sharp crop; an image smaller than that (but at least ``crop``)
    is blurred with reflected borders. Noise ``N(0, noise_std)`` is added to the blurry crop,
    which is then clipped to [0, 1].

    Parameters
    ----------
    sharp : list of image paths, a folder of photos (see :func:`photo_paths`), or an object with
        ``.pairs`` of ``(blur, sharp)`` paths such as :class:`repro.datasets.PairedFolder`
        (its sharp images are used).
    bank : the kernel bank.
    crop : side of the square training crops.
    noise_std : std of the Gaussian noise added to the blurry crop (0.01 as Chakrabarti 2016).
    seed : seed of the whole dataset.
    extra : further photo folders (e.g. Cityscapes), appended after ``sharp``.
    augment : random flips/transposes.
    blur : ``True``: ``ds[i] -> (blurry, sharp)`` float32 ``(3, crop, crop)``. ``False`` (blur on
        the GPU): ``ds[i] -> (patch, kernel_index)`` with ``patch`` float32
        ``(3, crop + k - 1, crop + k - 1)``; finish with :func:`blur_padded_batch`.

    Call :meth:`set_epoch` at the start of every epoch for fresh crops, kernels and noise.
    """

    def __init__(
        self,
        sharp: Sequence[str | os.PathLike] | str | os.PathLike,
        bank: KernelBank,
        *,
        crop: int = 128,
        noise_std: float = 0.01,
        seed: int = 0,
        extra: Sequence[str | os.PathLike] = (),
        augment: bool = True,
        blur: bool = True,
    ) -> None:
        paths = _as_paths(sharp)
        for folder in extra:
            paths += photo_paths(folder)
        if not paths:
            raise ValueError("no sharp images given")
        if not isinstance(crop, (int, np.integer)) or crop < 1:
            raise ValueError(f"crop must be a positive integer, got {crop!r}")
        if bank.size // 2 >= crop:
            raise ValueError(f"crop {crop} must exceed half the kernel size {bank.size}")
        if not noise_std >= 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.paths = paths
        self.bank = bank
        self.crop = int(crop)
        self.noise_std = float(noise_std)
        self.seed = int(seed)
        self.augment = bool(augment)
        self.blur = bool(blur)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch: crops, kernels and noise are drawn from ``(seed, epoch, index)``."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def kernel_index(self, i: int) -> int:
        """Index into the bank of the kernel that blurs sample ``i`` in the current epoch."""
        return int(self._rng(i).integers(0, len(self.bank)))

    def _rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, i])

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        rng = self._rng(i)
        kidx = int(rng.integers(0, len(self.bank)))  # first draw: same as kernel_index(i)
        path = self.paths[i]
        img = _rgb(read_image(path))
        k, c = self.bank.size, self.bank.size // 2
        H, W = img.shape[:2]
        side = self.crop + k - 1
        if min(H, W) >= side:
            valid = True
        elif min(H, W) >= self.crop and not self.blur:
            raise ValueError(f"{path}: {H}x{W} is smaller than a {side}x{side} patch needed with blur=False")
        elif min(H, W) >= self.crop:
            valid, side = False, self.crop
        else:
            raise ValueError(f"{path}: image {H}x{W} is smaller than the crop {self.crop}")
        top = int(rng.integers(0, H - side + 1))
        left = int(rng.integers(0, W - side + 1))
        patch = img[top : top + side, left : left + side]
        t = int(rng.integers(0, 8)) if self.augment else 0
        patch = np.ascontiguousarray(_dihedral(patch, t))
        if not self.blur:
            return torch.from_numpy(patch.transpose(2, 0, 1).copy()), torch.tensor(kidx, dtype=torch.int64)
        kernel = self.bank[kidx]
        if valid:
            blurry = blur_numpy(patch, kernel, mode="valid")
            sharp = patch[c : c + self.crop, c : c + self.crop]
        else:
            blurry = blur_numpy(patch, kernel, mode="reflect")
            sharp = patch
        if self.noise_std > 0:
            blurry = blurry + rng.normal(0.0, self.noise_std, size=blurry.shape)
        blurry = np.clip(blurry, 0.0, 1.0).astype(np.float32)
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))  # noqa: E731
        return to_t(blurry), to_t(sharp)


# --------------------------------------------------------------------------- batched blur

def _kernels_tensor(kernels_or_indices, bank: KernelBank | None, like: torch.Tensor) -> torch.Tensor:
    if isinstance(kernels_or_indices, torch.Tensor) and kernels_or_indices.is_floating_point():
        return kernels_or_indices.to(device=like.device, dtype=like.dtype)
    if isinstance(kernels_or_indices, np.ndarray) and np.issubdtype(kernels_or_indices.dtype, np.floating):
        return torch.from_numpy(kernels_or_indices).to(device=like.device, dtype=like.dtype)
    if bank is None:
        raise ValueError("kernel indices given but no bank to look them up in")
    return bank.tensor(kernels_or_indices, device=like.device, dtype=like.dtype)


def blur_batch(
    sharp: torch.Tensor,
    kernels_or_indices,
    bank: KernelBank | None = None,
    noise_std: float = 0.01,
    generator: torch.Generator | None = None,
    *,
    mode: str = "reflect",
) -> torch.Tensor:
    """Blur a batch on its own device: FFT convolution, Gaussian noise, clip to [0, 1].

    Shape
    -----
    - sharp: ``(B, 3, H, W)`` float in [0, 1] (any device)
    - kernels_or_indices: float ``(B, k, k)`` / ``(k, k)`` kernels, or ``B`` integer indices
      into ``bank`` (list, array or int tensor)
    - output: ``(B, 3, H, W)`` (``(B, 3, H - k + 1, W - k + 1)`` for ``mode="valid"``)

    ``generator`` (a ``torch.Generator`` on ``sharp.device``) makes the noise reproducible.
    Border modes as :func:`repro.kernels.blur_torch`.
    """
    kernels = _kernels_tensor(kernels_or_indices, bank, sharp)
    blurry = blur_torch(sharp, kernels, mode=mode)
    if noise_std > 0:
        noise = torch.randn(blurry.shape, generator=generator, device=blurry.device, dtype=blurry.dtype)
        blurry = blurry + noise_std * noise
    return blurry.clamp_(0.0, 1.0)


def blur_padded_batch(
    patches: torch.Tensor,
    indices,
    bank: KernelBank,
    noise_std: float = 0.01,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Finish a batch of a ``SyntheticBlurDataset(..., blur=False)`` on the patches' device.

    ``patches (B, 3, crop + k - 1, crop + k - 1)`` -> ``(blurry, sharp)``, both
    ``(B, 3, crop, crop)``: the exact ("valid") blur and the aligned central sharp crop.

    Examples
    --------
    >>> bank = KernelBank(10, size=5)
    >>> blurry, sharp = blur_padded_batch(torch.rand(2, 3, 12, 12), [0, 1], bank, 0.0)
    >>> tuple(blurry.shape), tuple(sharp.shape)
    ((2, 3, 8, 8), (2, 3, 8, 8))
    """
    c = bank.size // 2
    blurry = blur_batch(patches, indices, bank, noise_std, generator, mode="valid")
    sharp = patches[..., c : patches.shape[-2] - c, c : patches.shape[-1] - c]
    return blurry, sharp


# --------------------------------------------------------------------------- camera shake

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

        In the convention of :mod:`repro.kernels` (a convolution; centre ``size // 2``): each
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


def random_camera_trajectory(
    image_shape: tuple[int, int],
    *,
    seed: int | np.random.Generator,
    n_poses: int = 64,
    blur_px: float = 12.0,
    n_control: int = 5,
    roll_weight: float = 1.0,
    translation_weight: float = 0.1,
    focal: float | None = None,
    reference: str | int = "middle",
) -> CameraTrajectory:
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
    image = _rgb(image)
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
    image = _rgb(np.asarray(image))
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
    from .figures import save_figure

    fig = plot_camera_shake(image, seed=seed, blur_px=blur_px, **options)
    return save_figure(fig, Path(path), formats=("png",), dpi=100)[0]
