"""Textures of the virtual camera's layers: photos resampled to the render's density, tints, masks."""

from __future__ import annotations

import numpy as np

from .geometry import REFERENCE_ROWS
from .photos import load_photo, package_file

__all__ = ["COVER_MARGIN", "MAGNIFICATION_RANGE", "resize", "premultiply", "tinted", "background_crop", "alpha_mask"]

COVER_MARGIN = 1.1  # background photos cover the reference view enlarged by this factor
MAGNIFICATION_RANGE = (0.6, 0.75)  # rendered pixels per photo pixel (see background_crop)


def resize(img: np.ndarray, rows: int, cols: int) -> np.ndarray:
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


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) straight alpha -> (4, h, w) premultiplied float32."""
    out = np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=2)
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def tinted(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gray photos get a random mild colour tint; colour photos are returned as they are."""
    rgb = img[..., :3]
    if np.abs(rgb[..., 0] - rgb[..., 1]).max() < 1e-6 and np.abs(rgb[..., 1] - rgb[..., 2]).max() < 1e-6:
        tint = rng.uniform(0.65, 1.0, size=3)
        tint /= tint.max()
        return np.concatenate([rgb * tint, img[..., 3:]], axis=2)
    return img


def background_crop(rng, img: np.ndarray, aspect: float, rows: int, supersample: int,
                     magnification: float | str | None = None, *,
                     photo_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Choose how the photo covers the reference view and resample it to the render's texel density.

    The photo is shown at a *magnification* (output pixels per photo pixel) drawn from
    :data:`MAGNIFICATION_RANGE`, or at the smallest one at which the photo still covers the view
    enlarged by :data:`COVER_MARGIN` when that is larger. ``magnification="multi"`` draws it
    log-uniformly from that smallest one (the whole photo in frame) up to the range's top, so a
    4 K photo gives scenes at every scale, from near its native resolution to the whole view. At or below 1 a rendered frame is as
    sharp as the photo area-averaged to that scale, as a real camera's downsampled frame is; above
    1 (a user's photo smaller than the frame) it is an enlarged photo, and soft. The photo is then
    resampled (area-averaged when shrinking) to exactly one texel per rendered (supersampled)
    pixel of the reference view.

    The magnification is that of a frame of :data:`REFERENCE_ROWS` rows, so the scene is the same
    at any output size (a frame of ``rows`` rows sees the photo at ``magnification * rows / 240``).
    ``rows``: output frame rows; the frame spans ``2 * aspect`` x 2 normalized units.
    ``photo_scale``: pixels of ``img`` per pixel of the photo (below 1 for a downscaled copy, e.g.
    the GPU job's carry): magnifications and ``photo_box`` are in the photo's pixels, so the copy
    gives the scenes of the full-size photo (up to resampling twice where it is downscaled).
    Returns (resampled photo (h', w', C), tex_matrix (3, 3) from reference coordinates to
    grid_sample coordinates, info: ``magnification`` and ``photo_box`` (x0, y0, x1, y1): the
    reference view's extent in the original photo's pixels).
    """
    if not photo_scale > 0:
        raise ValueError(f"photo_scale must be > 0, got {photo_scale}")
    h, w = img.shape[0] / photo_scale, img.shape[1] / photo_scale  # in the photo's pixels
    half = REFERENCE_ROWS / 2  # pixels per normalized unit of a 240-row frame
    cover = max(2 * aspect * COVER_MARGIN * half / w, 2 * COVER_MARGIN * half / h)
    if magnification == "multi":  # every scale from the whole photo in frame up to the default's largest
        magnification = float(np.exp(rng.uniform(np.log(min(cover, MAGNIFICATION_RANGE[1])),
                                                 np.log(MAGNIFICATION_RANGE[1]))))
    elif magnification is None:
        magnification = float(rng.uniform(*MAGNIFICATION_RANGE))
    mag = max(float(magnification), cover)
    s = half / mag  # photo pixels per normalized unit
    slack_x, slack_y = max(w / 2 - s * aspect * COVER_MARGIN, 0.0), max(h / 2 - s * COVER_MARGIN, 0.0)
    cx, cy = w / 2 + rng.uniform(-slack_x, slack_x), h / 2 + rng.uniform(-slack_y, slack_y)
    info = {"magnification": mag, "photo_box": tuple(float(v) for v in (cx - s * aspect, cy - s, cx + s * aspect, cy + s))}
    r = mag * rows / REFERENCE_ROWS * supersample  # texels per photo pixel
    nh, nw = max(int(round(h * r)), 2), max(int(round(w * r)), 2)  # (h, w: the photo's, not the copy's)
    img = resize(img, nh, nw)
    s, cx, cy = s * nw / w, cx * nw / w, cy * nh / h
    m = np.array([[2 * s / nw, 0.0, 2 * cx / nw - 1], [0.0, 2 * s / nh, 2 * cy / nh - 1], [0.0, 0.0, 1.0]])
    return img, m, info


def alpha_mask(rng, shape_kind: str, rows: int, cols: int, sprite: np.ndarray | None) -> np.ndarray:
    """An anti-aliased alpha mask in [0, 1], (rows, cols)."""
    if shape_kind == "horse":
        horse = load_photo(package_file("skimage", "horse.png"))
        m = (horse[..., :3].mean(2) < 0.5).astype(np.float32)
        return np.clip(resize(m[..., None], rows, cols)[..., 0], 0, 1)
    if shape_kind == "sprite" and sprite is not None:
        return np.clip(resize(sprite[..., 3:4], rows, cols)[..., 0], 0, 1)
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
