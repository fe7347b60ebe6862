"""Linear motion-blur kernels and the discrete kernel set of Sun et al. (CVPR 2015).

Sun, Cao, Xu, Ponce, "Learning a convolutional neural network for non-uniform motion blur
removal", CVPR 2015 (arXiv:1503.00593), Sec. 3: the CNN classifies a patch's blur into a set
of linear motion kernels with lengths ``l`` in {1, 3, ..., 25} pixels and orientations ``o`` in
{0, 30, ..., 150} degrees; ``l = 1`` (no blur) is one kernel whatever ``o``, so the set has
12 * 6 + 1 = 73 kernels. Rotating the image at test time by 6, 12, 18, 24 degrees extends the
orientations to every 6 degrees (12 * 30 + 1 = 361 kernels, Sec. 4).

Conventions used here (and by :mod:`repro.baselines.sun`):

- angle: degrees counter-clockwise from the image's +x axis *as displayed* (rows grow
  downwards), so a kernel at ``angle`` runs along ``(dx, drow) = (cos a, -sin a)``; a linear
  kernel is symmetric, so ``angle`` and ``angle + 180`` are the same kernel (angles live in
  [0, 180)).
- length: the kernel is the exact line integral of a segment of length ``length`` pixels,
  centred on the kernel's centre pixel, through the unit pixel squares (its weight in a pixel
  is the part of the segment inside that pixel, divided by ``length``). A horizontal kernel of
  length 3 is ``[1/3, 1/3, 1/3]``; length 1 is the identity (a delta) at every angle.
- kernels are normalised to sum 1 and are point-symmetric, so convolution and correlation with
  them are the same operation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "linear_motion_kernel",
    "kernel_labels",
    "kernel_stack",
    "motion_vectors",
    "angle_difference",
    "BASE_LENGTHS",
    "BASE_ANGLES",
    "EXTENDED_ANGLES",
]

BASE_LENGTHS: tuple[int, ...] = tuple(range(1, 26, 2))  # 1, 3, ..., 25 pixels (Sun et al. Sec. 3)
BASE_ANGLES: tuple[int, ...] = tuple(range(0, 180, 30))  # 0, 30, ..., 150 degrees
EXTENDED_ANGLES: tuple[int, ...] = tuple(range(0, 180, 6))  # after test-time rotation (Sec. 4)


def linear_motion_kernel(length: float, angle: float, size: int | None = None, *, samples_per_pixel: int = 64) -> np.ndarray:
    """A linear motion-blur kernel (see the module docstring for the conventions).

    Parameters
    ----------
    length : segment length in pixels, >= 1 (1 gives a delta).
    angle : degrees counter-clockwise from +x as displayed.
    size : odd side of the square kernel; default the smallest odd size holding the segment.
    samples_per_pixel : density of the points that integrate the segment through the pixels.

    Returns
    -------
    np.ndarray, shape ``(size, size)``, float64, sums to 1.

    Examples
    --------
    >>> np.round(linear_motion_kernel(3, 0)[1], 4).tolist()
    [0.3333, 0.3333, 0.3333]
    >>> float(linear_motion_kernel(1, 30)[0, 0])
    1.0
    """
    if not np.isfinite(length) or length < 1:
        raise ValueError(f"length must be a finite number >= 1 pixel, got {length!r}")
    if not np.isfinite(angle):
        raise ValueError(f"angle must be finite, got {angle!r}")
    half = length / 2.0
    theta = np.deg2rad(angle)
    dx, dy = np.cos(theta), -np.sin(theta)  # display angle -> (x right, row down)
    if size is None:
        # the farthest sample sits just inside |t| < l/2, so it lands in pixel ceil(reach - 1/2)
        reach = max(0, int(np.ceil(max(abs(dx), abs(dy)) * half - 0.5 - 1e-9)))
        size = 2 * reach + 1
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer, got {size!r}")
    c = size // 2
    n = max(2, int(np.ceil(length * samples_per_pixel)))
    t = (np.arange(n) + 0.5) / n * length - half  # midpoints of n equal pieces of [-l/2, l/2]
    cols = np.floor(c + t * dx + 0.5).astype(int)
    rows = np.floor(c + t * dy + 0.5).astype(int)
    inside = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
    if not inside.all():
        raise ValueError(f"a kernel of length {length} at {angle} degrees does not fit in {size}x{size}")
    kernel = np.zeros((size, size), dtype=np.float64)
    np.add.at(kernel, (rows, cols), 1.0)
    return kernel / kernel.sum()


def kernel_labels(lengths: Iterable[int] = BASE_LENGTHS, angles: Iterable[float] = BASE_ANGLES) -> np.ndarray:
    """The kernel set as ``(K, 2)`` float64 rows ``(length, angle)``; length 1 appears once.

    Ordered by length, then angle; with the defaults K = 73 (Sun et al. 2015, Sec. 3).
    """
    lengths = sorted(set(int(v) for v in lengths))
    angles = sorted(set(float(a) % 180.0 for a in angles))
    if not lengths or min(lengths) < 1:
        raise ValueError(f"lengths must be integers >= 1, got {lengths}")
    if not angles:
        raise ValueError("angles must not be empty")
    rows: list[tuple[float, float]] = []
    for length in lengths:
        if length == 1:
            rows.append((1.0, 0.0))
        else:
            rows.extend((float(length), a) for a in angles)
    return np.asarray(rows, dtype=np.float64)


def kernel_stack(labels: np.ndarray | Sequence[Sequence[float]], size: int = 25) -> np.ndarray:
    """Kernels for ``labels`` ``(K, 2)`` as one ``(K, size, size)`` float32 array."""
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != 2:
        raise ValueError(f"labels must have shape (K, 2) = (length, angle), got {labels.shape}")
    return np.stack([linear_motion_kernel(l, a, size) for l, a in labels]).astype(np.float32)


def motion_vectors(labels: np.ndarray) -> np.ndarray:
    """Labels ``(K, 2)`` -> motion vectors ``(K, 2)`` = ``(length - 1) * (cos a, sin a)``.

    Length 1 (no blur) maps to the origin whatever its angle. A vector ``v`` and ``-v`` are the
    same blur; compare two with ``min(|v - w|, |v + w|)``.
    """
    labels = np.asarray(labels, dtype=np.float64)
    theta = np.deg2rad(labels[:, 1])
    r = labels[:, 0] - 1.0
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def angle_difference(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Absolute difference of orientations modulo 180 degrees, in [0, 90]."""
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) % 180.0
    return np.minimum(d, 180.0 - d)
