"""Dead-leaves images: procedural photos for the virtual camera's training split.

The bundled catalogue gives the training split five backgrounds, and DeblurNet^WILD learns them
rather than deblurring: on the shipped network the gain is +2.2 dB on training pairs, +1.6 dB on
validation photos and +0.65 dB on test photos (issue 15). A dead-leaves image is an occlusion
model of natural images: opaque shapes of random colour dropped on top of each other, with sizes
drawn from a power law ``p(r) ~ r^-3`` so that the image looks alike at every scale, as photos do
(Lee, Mumford & Huang 2001). Restoration networks trained on such images come close to those
trained on photos (Achddou et al. 2021, "Synthetic images as a regularity prior for image
restoration neural networks"). The leaves here carry a smooth shading and a fine texture of
their own, so that optical flow (the WILD selection) finds something to match inside them.

:func:`dead_leaves` draws one image; :func:`write_dead_leaves` writes a folder of them, which the
virtual camera films like any photo folder (``python -m repro build-wild virtual OUT --photos
FOLDER``). Nothing here is a photo of the validation or test splits.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

__all__ = ["dead_leaves", "leaf_radii", "write_dead_leaves", "add_arguments", "run"]


def leaf_radii(rng: np.random.Generator, n: int, r_min: float, r_max: float, alpha: float = 3.0) -> np.ndarray:
    """``(n,)`` radii drawn from ``p(r) ~ r^-alpha`` on ``[r_min, r_max]`` (inverse-CDF sampling)."""
    if not 0 < r_min < r_max:
        raise ValueError(f"need 0 < r_min < r_max, got {r_min}, {r_max}")
    u = rng.random(n)
    if alpha == 1.0:
        return r_min * (r_max / r_min) ** u
    a, b = r_min ** (1 - alpha), r_max ** (1 - alpha)
    return (a + u * (b - a)) ** (1 / (1 - alpha))


def _pink_noise(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """``(rows, cols)`` noise with a 1/f amplitude spectrum, zero mean, unit std."""
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.rfftfreq(cols)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) / f
    spectrum[0, 0] = 0.0
    noise = np.fft.irfft2(spectrum, s=(rows, cols))
    return (noise / (noise.std() + 1e-12)).astype(np.float32)


def _leaf_colour(rng: np.random.Generator) -> np.ndarray:
    """An RGB colour: a random hue at a moderate saturation (photos are seldom saturated)."""
    value = rng.uniform(0.05, 0.95)
    sat = rng.beta(1.2, 2.5)
    grey = np.full(3, value)
    hue = rng.dirichlet(np.ones(3))
    return np.clip(grey * (1 - sat) + sat * value * 3 * hue, 0.0, 1.0)


def dead_leaves(rng: np.random.Generator, rows: int = 600, cols: int = 800, *, r_min: float = 6.0,
                r_max: float | None = None, alpha: float = 3.0, texture: float = 0.06,
                supersample: int = 2) -> np.ndarray:
    """One dead-leaves image, ``(rows, cols, 3)`` float32 in [0, 1], deterministic in ``rng``.

    Leaves (discs, ellipses and rectangles at random angles) of radius ``p(r) ~ r^-alpha`` on
    ``[r_min, r_max]`` pixels (``r_max`` default: half the shorter side) fall until the
    canvas is covered; each is its colour times a linear shading, plus ``texture`` times a shared
    1/f noise. Drawn at ``supersample`` times the size and area-averaged, so edges are
    antialiased as a lens and sensor would leave them.

    ``r_min`` 6: the camera films a photo at 0.6-0.75 rendered pixels per photo pixel, so the
    smallest leaves are about 4 px in a frame. With 2 px leaves the frames were busier than any
    photo (blurry inputs at 18 dB, against 25 dB for the training photos), and their squared
    errors would outweigh the photos' in the loss.
    """
    if rows < 8 or cols < 8:
        raise ValueError(f"image too small: {rows}x{cols}")
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    s = int(supersample)
    H, W = rows * s, cols * s
    r_max = min(rows, cols) / 2 if r_max is None else r_max
    r_lo, r_hi = r_min * s, r_max * s
    img = np.zeros((H, W, 3), np.float32)
    free = np.ones((H, W), bool)  # pixels no leaf covers yet (leaves are drawn front to back)
    noise = _pink_noise(rng, H, W)
    remaining = H * W
    batch = 256
    while remaining > 0.001 * H * W:
        radii = leaf_radii(rng, batch, r_lo, r_hi, alpha)
        for r in radii:
            cy, cx = rng.uniform(-r, H + r), rng.uniform(-r, W + r)
            shape = rng.integers(3)  # 0 disc, 1 ellipse, 2 rectangle
            theta = rng.uniform(0, np.pi)
            aspect = 1.0 if shape == 0 else rng.uniform(0.3, 1.0)
            y0, y1 = int(max(0, np.floor(cy - r))), int(min(H, np.ceil(cy + r) + 1))
            x0, x1 = int(max(0, np.floor(cx - r))), int(min(W, np.ceil(cx + r) + 1))
            if y0 >= y1 or x0 >= x1:
                continue
            window = free[y0:y1, x0:x1]
            if not window.any():
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1]
            dy, dx = yy - cy, xx - cx
            u = dx * np.cos(theta) + dy * np.sin(theta)
            v = (-dx * np.sin(theta) + dy * np.cos(theta)) / aspect
            inside = (np.maximum(np.abs(u), np.abs(v)) <= r) if shape == 2 else (u * u + v * v <= r * r)
            paint = inside & window
            if not paint.any():
                continue
            colour = _leaf_colour(rng)
            slope = rng.normal(0.0, 0.25, 2) / max(r, 1.0)
            shade = 1.0 + np.clip(slope[0] * dy[paint] + slope[1] * dx[paint], -0.4, 0.4)
            grain = texture * rng.uniform(0.0, 2.0) * noise[y0:y1, x0:x1][paint]
            img[y0:y1, x0:x1][paint] = np.clip(colour[None, :] * shade[:, None] + grain[:, None], 0.0, 1.0)
            window[paint] = False
            remaining -= int(paint.sum())
            if remaining <= 0.001 * H * W:
                break
    if free.any():  # the last specks: the mean colour of their neighbourhood would do; grey is simpler
        img[free] = 0.5
    if s > 1:
        img = img.reshape(rows, s, cols, s, 3).mean(axis=(1, 3))
    return np.ascontiguousarray(img, dtype=np.float32)


def write_dead_leaves(folder: str | os.PathLike, n: int, *, seed: int = 0, rows: int = 600, cols: int = 800,
                      progress: bool = True) -> list[Path]:
    """Write ``n`` dead-leaves images ``deadleaves_NNNN.png`` (8-bit RGB) into ``folder``.

    Image ``i`` is drawn from ``default_rng([seed, i])``: the same ``(seed, i)`` gives the same
    image whatever ``n``. Existing files are overwritten (atomically).
    """
    from tqdm.auto import tqdm

    from ..io.images import write_image

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in tqdm(range(n), desc="dead leaves", disable=not progress or None):
        img = dead_leaves(np.random.default_rng([int(seed), i]), rows, cols)
        path = folder / f"deadleaves_{i:04d}.png"
        write_image(path, img)  # atomic
        paths.append(path)
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="folder for deadleaves_NNNN.png (a photo folder for --photos)")
    parser.add_argument("--n", type=int, default=48, help="number of images (default 48)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--size", default="600x800", help="HxW of each image (default 600x800)")


def run(args: argparse.Namespace) -> int:
    from .cli import parse_size

    rows, cols = parse_size(args.size)
    paths = write_dead_leaves(args.out, args.n, seed=args.seed, rows=rows, cols=cols)
    print(f"wrote {len(paths)} dead-leaves images to {args.out}")
    return 0
