"""Reading, writing and converting images, with clear errors for bad input.

Conventions used across ``repro``: images are ``(H, W, C)`` numpy arrays (``C`` = 3 for RGB)
or ``(B, C, H, W)`` torch tensors, float values in [0, 1] unless a function says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .files import atomic_path

__all__ = ["read_image", "write_image", "to_float", "from_float", "IMAGE_SUFFIXES", "list_images", "natural_key"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a numpy array in its stored dtype (uint8, uint16 or float).

    Raises ``FileNotFoundError`` (missing), ``IsADirectoryError`` (a folder) or ``ValueError``
    (empty, unreadable, or not 2-D gray / RGB / RGBA), each naming the file.
    """
    import imageio.v3 as iio

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, expected an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: file is empty")
    try:
        img = np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises many types for undecodable data
        raise ValueError(f"{path}: cannot be read as an image ({type(exc).__name__}: {exc})") from exc
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ValueError(f"{path}: expected a gray, RGB or RGBA image, got array of shape {img.shape}")
    return img


def to_float(img: np.ndarray) -> np.ndarray:
    """Integer images to float32 in [0, 1] by their dtype's range; float images clipped to [0, 1]."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype == bool:
        return img.astype(np.float32)
    if np.issubdtype(img.dtype, np.floating):
        return np.clip(img, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"unsupported image dtype {img.dtype}; use uint8, uint16 or float")


def from_float(img: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Float image in [0, 1] to ``dtype`` (rounded and clipped for integer types)."""
    dtype = np.dtype(dtype)
    img = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)
    if dtype == np.uint8:
        return np.round(img * 255.0).astype(np.uint8)
    if dtype == np.uint16:
        return np.round(img * 65535.0).astype(np.uint16)
    if np.issubdtype(dtype, np.floating):
        return img.astype(dtype)
    raise ValueError(f"unsupported output dtype {dtype}")


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write an image atomically (never a half-written file). Float input is converted to uint8."""
    import imageio.v3 as iio

    img = np.asarray(img)
    if np.issubdtype(img.dtype, np.floating):
        img = from_float(img, np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, img, extension=path.suffix.lower() or ".png")


def natural_key(text: str) -> list:
    """Sort key for natural order: ``"frame2"`` before ``"frame10"``, case-insensitive."""
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files in ``folder`` (not recursive), in natural order (``2.png`` before ``10.png``)."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")

    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                  key=lambda p: natural_key(p.name))
