"""Blur that carries no motion, for the do-no-harm training items (issue 41).

- :func:`disc_kernel`: a defocus disc (a thin lens's point spread), anti-aliased at its rim
  (:mod:`repro.camera.focus`: the virtual camera's depth of field draws the same disc);
- :func:`line_kernel`: a straight motion of 0 to a few px, DeblurNet^SI's counterpart of a short
  window (length 0 is the identity);
- :func:`defocus_batch`: each image of a batch convolved with its own disc.

All kernels sum to 1 and have their centre of mass at the centre pixel, so they blur without
shifting the image.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..camera.focus import _SUPERSAMPLE, disc_kernel, kernel_canvas  # the camera's depth of field draws the same disc

__all__ = ["disc_kernel", "line_kernel", "defocus_batch", "kernel_canvas"]

def line_kernel(length: float, angle: float, size: int | None = None) -> np.ndarray:
    """A straight motion of ``length`` px at ``angle`` radians through the centre, area-sampled,
    summing to 1, ``(size, size)`` float64 (default: the smallest odd canvas that holds it).
    Length 0 is the identity.

    >>> k = line_kernel(3.0, 0.0); k.shape, float(k.sum())
    ((5, 5), 1.0)
    """
    length = float(length)
    if not length >= 0:
        raise ValueError(f"length must be >= 0, got {length}")
    size = kernel_canvas(length / 2) if size is None else int(size)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be odd, got {size}")
    out = np.zeros((size, size))
    n = max(1, int(math.ceil(length * _SUPERSAMPLE)) + 1)
    t = np.linspace(-length / 2, length / 2, n)
    ys, xs = size // 2 + t * math.sin(angle), size // 2 + t * math.cos(angle)
    # bilinear splat of the samples (the line's centre is the canvas's centre)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yi, xi = np.clip(y0 + dy, 0, size - 1), np.clip(x0 + dx, 0, size - 1)
            np.add.at(out, (yi, xi), wy * wx)
    return out / out.sum()


def defocus_batch(images: torch.Tensor, radii: np.ndarray | list[float]) -> torch.Tensor:
    """Each image of ``images`` ``(B, C, H, W)`` (float) convolved with a disc of its own radius
    from ``radii`` ``(B,)`` px (0: unchanged), borders reflected; returns ``(B, C, H, W)``."""
    from .blur import blur_torch

    radii = [float(r) for r in radii]
    if images.ndim != 4 or len(radii) != images.shape[0]:
        raise ValueError(f"expected images (B, C, H, W) and B radii, got {tuple(images.shape)} and {len(radii)}")
    if not any(radii):
        return images
    size = kernel_canvas(max(radii))
    kernels = torch.as_tensor(np.stack([disc_kernel(r, size) for r in radii]), dtype=images.dtype)
    return blur_torch(images, kernels, mode="reflect")
