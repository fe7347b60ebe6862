"""Reading, writing and converting images, with clear errors for bad input.

Conventions used across ``repro``: images are ``(H, W, C)`` numpy arrays (``C`` = 3 for RGB)
or ``(B, C, H, W)`` torch tensors, float values in [0, 1] unless a function says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .files import atomic_path, atomic_write_bytes, check_input_file

__all__ = ["read_image", "write_image", "image_format", "to_float", "from_float", "to_rgb", "to_gray", "LUMA_WEIGHTS",
           "IMAGE_SUFFIXES", "list_images", "natural_key"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_EIGHT_BIT_SUFFIXES = (".jpg", ".jpeg", ".bmp", ".webp")  # formats that hold 8 bits per channel
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as OpenCV's cvtColor, PIL and MATLAB's rgb2gray

# file signatures of the formats we read, for errors that say what the file is
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"),
               (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"GIF8", "GIF"))


def image_format(head: bytes) -> str | None:
    """The image format a file's first bytes announce ("PNG", "JPEG", "TIFF", "BMP", "WebP",
    "GIF"), or None when they announce none of these."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for sig, name in _SIGNATURES if head.startswith(sig)), None)


def _png_is_16bit_colour(head: bytes) -> bool:
    """True for a PNG whose header (IHDR) says 16 bits per sample and colour (RGB, RGBA or gray +
    alpha): Pillow, behind imageio, reads those at 8 bits. Plain 16-bit gray it reads exactly."""
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6)


def _read_opencv(path: Path) -> np.ndarray:
    """Decode with OpenCV at the stored depth; channels reordered from BGR(A) to RGB(A)."""
    import cv2

    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)  # libtiff warns about harmless tags (e.g. RGBA extra samples)
    try:
        img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        logging.setLogLevel(level)
    if img is None:
        raise ValueError("OpenCV cannot decode it")
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[..., [2, 1, 0, 3][:img.shape[2]]]
    return np.ascontiguousarray(img)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a numpy array in its stored dtype (uint8, uint16 or float).

    16-bit colour PNGs and all TIFFs are read with OpenCV (which keeps 16 bits and reads every
    TIFF compression); other files with imageio. Raises ``FileNotFoundError`` (missing),
    ``IsADirectoryError`` (a folder) or ``ValueError`` (empty, undecodable, or not 2-D gray /
    RGB / RGBA), each one line naming the file and saying why.
    """
    import imageio.v3 as iio

    path = Path(path)
    check_input_file(path, "image")
    with open(path, "rb") as f:
        head = f.read(32)
    kind = image_format(head)
    try:
        if kind == "TIFF" or _png_is_16bit_colour(head):
            try:
                img = _read_opencv(path)
            except ValueError:
                img = np.asarray(iio.imread(path))  # formats imageio knows and OpenCV does not
        else:
            img = np.asarray(iio.imread(path))
    except Exception as exc:  # the decoders raise many types for undecodable data
        why = (f"its {kind} data cannot be decoded (truncated or corrupt file?)" if kind else
               "not an image file (its content is not PNG, JPEG, TIFF, BMP, WebP or GIF)")
        raise ValueError(f"{path}: {why}") from exc
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ValueError(f"{path}: expected a gray, RGB or RGBA image, got array of shape {img.shape}")
    return img


def to_rgb(img: np.ndarray) -> np.ndarray:
    """``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` to a contiguous ``(H, W, 3)`` of the
    same dtype and values: gray is replicated to three channels, alpha is dropped."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return np.ascontiguousarray(img[..., :3])
    raise ValueError(f"expected a gray, RGB or RGBA image of shape (H, W[, 1|3|4]), got {img.shape}")


def to_gray(img: np.ndarray) -> np.ndarray:
    """Luma ``(H, W)`` of a gray ``(H, W)`` or colour ``(H, W, 3|4)`` image (alpha ignored).

    The weights are ITU-R BT.601's (:data:`LUMA_WEIGHTS`: 0.299 R + 0.587 G + 0.114 B), the
    usual ones (OpenCV ``cvtColor``, PIL ``convert("L")``, MATLAB ``rgb2gray``); scikit-image's
    ``rgb2gray`` uses BT.709's (0.2125, 0.7154, 0.0721) instead. Integer images are first
    scaled to float32 in [0, 1] (:func:`to_float`); float images keep their dtype and values
    (not clipped), so float32 in gives float32 out.
    """
    img = np.asarray(img)
    if not np.issubdtype(img.dtype, np.floating):
        img = to_float(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return img
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected a gray, RGB or RGBA image of shape (H, W[, 1|3|4]), got {img.shape}")
    r, g, b = LUMA_WEIGHTS
    return img[..., 0] * r + img[..., 1] * g + img[..., 2] * b


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
    """Write an image atomically (never a half-written file), keeping 16 bits where the format can.

    Float input is converted to uint8. uint16 colour PNGs and all TIFFs are written with OpenCV
    (imageio cannot write 16-bit colour PNG); uint16 to a format that holds 8 bits (JPEG, BMP,
    WebP) is a ``ValueError`` naming the file: convert with :func:`from_float` first.
    """
    import imageio.v3 as iio

    img = np.asarray(img)
    if np.issubdtype(img.dtype, np.floating):
        img = from_float(img, np.uint8)
    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    if img.dtype == np.uint16 and suffix in _EIGHT_BIT_SUFFIXES:
        raise ValueError(f"{path}: {suffix} holds 8 bits per channel and this image has 16; "
                         "write .png or .tif, or convert it to uint8 first")
    if suffix in (".tif", ".tiff") or (suffix == ".png" and img.dtype == np.uint16 and img.ndim == 3):
        atomic_write_bytes(path, _encode_opencv(img, suffix, path))
        return
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, img, extension=suffix)


def _encode_opencv(img: np.ndarray, suffix: str, path: Path) -> bytes:
    """``img`` (RGB(A) channel order) encoded by OpenCV as ``suffix``; ``path`` only names errors."""
    import cv2

    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = np.ascontiguousarray(img[..., [2, 1, 0, 3][:img.shape[2]]])  # RGB(A) -> BGR(A)
    ok, data = cv2.imencode(suffix, img)
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode a {img.dtype} image of shape {img.shape} as {suffix}")
    return data.tobytes()


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
