"""Depth of field of the virtual camera (issue 41): one layer of a clip rendered out of focus.

With ``render_clip(..., defocus=(low, high))`` a clip draws which layer is out of focus (the
background, or one of its objects) and the radius of that layer's defocus disc, uniformly in
``[low, high]`` px of the rendered frames. The disc (:func:`disc_kernel`)
blurs the layer's colour and, for an object, its coverage too, in every frame alike, before the
layers are composited (:mod:`repro.camera.render`). Its sharp frames then hold soft edges that
carry no motion.

The draws come from a random stream of their own (``default_rng([seed, DEFOCUS_STREAM])``), so a
clip without the option, and every other draw of a clip with it, stays as it was. Numpy only.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["disc_kernel", "kernel_canvas", "DEFOCUS_STREAM", "BACKGROUND", "Defocus", "check_defocus", "check_defocus_layer", "draw_defocus"]

DEFOCUS_STREAM = 3  # the clip's random streams: [seed] scene, [seed, 1] objects, [seed, 2] peak flow
BACKGROUND = "background"  # the layer name of ``defocus_layer`` for every background layer
_BACKGROUND_SHARE = 0.5  # chance that a clip with objects defocuses its background rather than an object


class Defocus(NamedTuple):
    """What a clip renders out of focus: ``layer`` (``"background"`` or an object's layer name),
    ``radius`` of the disc in px of the rendered frames, ``indices`` of the scene's layers it blurs
    (every background layer of a layered background)."""

    layer: str
    radius: float
    indices: tuple[int, ...]

    def record(self) -> dict:
        """The clip's record of it (``Clip.meta["defocus"]``): ``{"layer": ..., "radius": ...}``."""
        return {"layer": self.layer, "radius": self.radius}


def check_defocus(defocus) -> tuple[float, float] | None:
    """``defocus`` as ``(low, high)`` floats with ``0 <= low <= high`` (px), or None (all in focus);
    else a one-line ``ValueError``."""
    if defocus is None:
        return None
    try:
        low, high = (float(v) for v in defocus)
    except (TypeError, ValueError):
        raise ValueError(f"defocus must be (low, high) px or None, got {defocus!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low <= high):
        raise ValueError(f"defocus must be (low, high) px with 0 <= low <= high, got {defocus!r}")
    return low, high


def check_defocus_layer(layer, defocus) -> str | int | None:
    """``layer``: None (drawn per clip), ``"background"`` or an object's index (int >= 0), and only
    with ``defocus``; else a one-line ``ValueError``."""
    if layer is None:
        return None
    if defocus is None:
        raise ValueError(f"defocus_layer={layer!r} needs defocus=(low, high)")
    if layer == BACKGROUND:
        return layer
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool) and layer >= 0:
        return int(layer)
    raise ValueError(f"defocus_layer must be None, {BACKGROUND!r} or an object index >= 0, got {layer!r}")


def draw_defocus(seed: int, defocus, layer_names: list[str], is_object: list[bool],
                 layer: str | int | None = None) -> Defocus | None:
    """The clip's out-of-focus layer and disc radius (None when ``defocus`` is None).

    ``layer_names`` and ``is_object`` describe the scene's layers (far to near; objects after the
    background). The radius is drawn first, uniform in ``defocus``; then the layer (``layer``
    when given): the background with probability :data:`_BACKGROUND_SHARE`, else one of the
    objects, uniformly; always the background when the clip has no object.
    """
    bounds = check_defocus(defocus)
    if bounds is None:
        return None
    layer = check_defocus_layer(layer, bounds)
    if len(layer_names) != len(is_object):
        raise ValueError(f"{len(layer_names)} layer names for {len(is_object)} layers")
    objects = [i for i, obj in enumerate(is_object) if obj]
    rng = np.random.default_rng([int(seed), DEFOCUS_STREAM])
    radius = float(rng.uniform(*bounds))
    background_drawn = bool(rng.random() < _BACKGROUND_SHARE)
    drawn_object = int(rng.integers(max(len(objects), 1)))
    if layer is None:
        layer = BACKGROUND if background_drawn or not objects else drawn_object
    if layer == BACKGROUND:
        return Defocus(BACKGROUND, radius, tuple(i for i, obj in enumerate(is_object) if not obj))
    if layer >= len(objects):
        raise ValueError(f"defocus_layer={layer}: the clip has {len(objects)} object(s)")
    return Defocus(layer_names[objects[layer]], radius, (objects[layer],))


_SUPERSAMPLE = 8  # sub-pixel samples per axis when rasterising a disc or a line


def kernel_canvas(extent: float) -> int:
    """The odd side of a square canvas that holds a kernel reaching ``extent`` px from its centre."""
    return 2 * int(math.ceil(max(0.0, float(extent)) + 0.5)) + 1


def disc_kernel(radius: float, size: int | None = None) -> np.ndarray:
    """A uniform disc of ``radius`` px, area-sampled (``_SUPERSAMPLE``^2 samples a pixel), summing
    to 1, ``(size, size)`` float64 (default: the smallest odd canvas that holds it). Radius 0 is
    the identity (a single 1 at the centre).

    >>> float(disc_kernel(2.5).sum())
    1.0
    """
    radius = float(radius)
    if not radius >= 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    size = kernel_canvas(radius) if size is None else int(size)
    if size < 1 or size % 2 == 0 or size < kernel_canvas(radius):
        raise ValueError(f"size must be odd and hold the disc (>= {kernel_canvas(radius)}), got {size}")
    if radius * _SUPERSAMPLE < 0.75:  # no sub-pixel sample inside (the nearest are 0.71 samples away)
        out = np.zeros((size, size))
        out[size // 2, size // 2] = 1.0
        return out
    s = _SUPERSAMPLE
    c = (size * s - 1) / 2.0
    yy, xx = np.mgrid[: size * s, : size * s]
    inside = ((yy - c) ** 2 + (xx - c) ** 2) <= (radius * s) ** 2
    k = inside.reshape(size, s, size, s).mean(axis=(1, 3))
    return k / k.sum()
