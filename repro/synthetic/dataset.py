"""Synthetic blur: shift-invariant training pairs for DeblurNet^SI (camera shake, for Fig. 8:
:mod:`repro.synthetic.camera_shake`).

- :class:`SyntheticBlurDataset`: sharp images (the WILD sharp frames, as the paper, plus any
  photo folder; the paper added Cityscapes) cropped at random, convolved with a kernel drawn from
  a :class:`repro.synthetic.kernels.KernelBank`, plus Gaussian noise (std 0.01, as Chakrabarti 2016) and
  clipped to [0, 1]. Every sample is a function of ``(seed, epoch, index)`` only.
- :func:`blur_batch` and :func:`blur_padded_batch`: the same blur for a batch on any device, so
  that training on a GPU blurs on the GPU (build the dataset with ``blur=False``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..io.images import IMAGE_SUFFIXES, list_images, read_image, to_float, to_rgb
from .blur import blur_numpy, blur_torch
from .kernels import KernelBank

__all__ = [
    "wild_sharp_paths",
    "photo_paths",
    "SyntheticBlurDataset",
    "blur_batch",
    "blur_padded_batch",
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
    if hasattr(sharp, "pairs"):  # a repro.io.datasets.PairedFolder (or alike): its sharp images
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
        ``.pairs`` of ``(blur, sharp)`` paths such as :class:`repro.io.datasets.PairedFolder`
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
    Border modes as :func:`repro.synthetic.blur.blur_torch`.
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
