"""The virtual 240 fps camera: realistic high-frame-rate clips rendered from bundled photos.

The paper's WILD dataset comes from handheld 240 fps GoPro video. We cannot download footage,
so the embedded default source renders such video from photos shipped with scikit-image and
matplotlib, with the difficulties the paper names:

- **camera shake**: a smooth random handheld trajectory (translation, in-plane and out-of-plane
  rotation, zoom) sampled at 240 fps; each clip draws a speed scale (see below);
- **depth parallax**: the background is a tilted plane, or (``motorcycle_left``) four depth
  layers cut from its disparity map; world-fixed foreground objects add parallax too;
- **independent motion and occlusion**: textured objects with alpha masks (horse silhouette,
  ellipses, rounded rectangles, random blobs, the Minduka sprite), each on its own depth plane
  with its own trajectory, entering and leaving the frame and passing in front of each other.

Every layer is a plane, so every warp is an exact homography (geometry in
:mod:`repro.camera.geometry`). Frames are rendered with ``torch.nn.functional.grid_sample``
(bicubic) batched over frames, at ``supersample`` times the output size and then area-averaged
down when ``supersample > 1``; on a GPU when ``device="cuda"``. The true forward flow from frame
``t`` to ``t + 1`` is computed from the same homographies at the centres of frame ``t``'s output
pixels, for the front-most layer whose (anti-aliased) alpha there is at least 0.5: where an
occluding object covers a pixel, the flow is the object's.

Sharp frames as sharp as a camera's
    A real 240 fps frame downsampled by 3 is sharp to the pixel. Photos are therefore shown at a
    magnification below 1 (0.6-0.75 output pixels per photo pixel by default, more only where a
    photo is too small to cover the frame), area-averaged to one texel per rendered pixel and
    sampled bicubically: a motionless frame keeps most of the high-frequency energy of the same
    photo region area-averaged from native resolution (:mod:`repro.camera.sharpness` measures it).

Speeds and the 1 px rule
    The scene is defined in resolution-free coordinates, so the same seed renders the same clip at
    any size. Speeds (``speed``, ``pan``, ``object_speed``) are in **pixels per frame at a 240-row
    frame** (:data:`REFERENCE_ROWS`), i.e. at the size where the WILD builder applies its <= 1 px
    rule (the paper's 720-row GoPro frames downsampled by 3). Rendered at ``H`` rows, flows in
    pixels are ``H / 240`` times larger. By default each clip draws a **peak flow** from
    :data:`PEAK_FLOW_RANGE` (0.3-1 px/frame: the whole range the rule allows, denser towards 1;
    :func:`repro.camera.motion.draw_peak_flow`) and scales the camera and every object together so
    that the clip's flow statistic equals it (``peak_flow=``): the largest, over consecutive
    frame pairs, of the 99th percentile of the per-pixel flow magnitude, with camera rotation,
    zoom, parallax and objects together, i.e. the statistic the WILD builder thresholds. ``speed=`` instead scales the camera
    alone to a mean background flow (objects then draw theirs from :data:`OBJECT_SPEED_RANGE`).
    ``benchmarks/camera.py`` (``flow_pass_rates``) measures how many pairs and windows pass the rule.
    **Default size**: ``(240, 320)``: the WILD frame height (720-row video downsampled by 3), at a
    width that the bundled photos (300-1400 px) cover below magnification 1; build with
    ``downsample=1``. A 720-row render is an upsampled photo (and 9x slower); it is supported
    (``size=(720, 960)`` with the builder's ``downsample=3`` gives the same flows in 240-row pixels).

Photos: :func:`photo_paths` (train and test disjoint: the test set is "shot at another place").
Clips are deterministic in their seed on a given device (CPU and GPU differ by rounding only).

Modules: :mod:`~repro.camera.photos` (the catalogue and its splits), :mod:`~repro.camera.geometry`
(paths, layers, homographies), :mod:`~repro.camera.motion` (camera paths, speed and peak-flow
scaling), :mod:`~repro.camera.textures`, :mod:`~repro.camera.scene` (random scenes),
:mod:`~repro.camera.focus` (depth of field: one layer out of focus, ``render_clip(defocus=...)``),
:mod:`~repro.camera.render` (:func:`render_clip`), :mod:`~repro.camera.source`
(:class:`VirtualCamera`), :mod:`~repro.camera.figure` and :mod:`~repro.camera.cli`
(``python -m repro render``, :func:`write_clip`). The names below are importable from
``repro.camera``; each is imported from its module on first use, so that the numpy-only parts
(photos, scenes) do not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {  # name -> the module of this package that defines it
    "photos": ("PHOTOS", "SPLITS", "SPLIT_PHOTOS", "TRAIN_PHOTOS", "VAL_PHOTOS", "TEST_PHOTOS", "Photo", "photo_path",
               "photo_paths", "photo_split", "photo_pool", "load_photo"),
    "geometry": ("REFERENCE_ROWS", "Scene"),
    "motion": ("SPEED_RANGE", "OBJECT_SPEED_RANGE", "PEAK_FLOW_RANGE", "peak_flow", "draw_peak_flow"),
    "textures": ("MAGNIFICATION_RANGE",),
    "scene": ("KINDS", "build_scene"),
    "focus": ("check_defocus", "draw_defocus"),
    "render": ("Clip", "render_clip", "FPS", "CAMERA_VERSION", "DEFAULT_SIZE"),
    "source": ("clip_seed", "VirtualSource", "VirtualCamera"),
    "figure": ("flow_to_rgb", "STRIP_ROWS", "virtual_camera_strip"),
    "cli": ("write_clip", "add_arguments", "run"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    """Import ``name`` from its module on first use (PEP 562)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
