"""The WILD dataset recipe (Section 2 of the paper): average high-frame-rate frames into blurry images.

For every scene (a clip of the virtual 240 fps camera, a frame folder, a video file, or one
``GOPRO_Large_all`` sequence) the builder walks over non-overlapping windows of ``N`` frames,
``N`` a random odd number in ``n_range`` (seeded per scene), and for each window:

1. downsamples every frame by ``downsample`` (3; 1 for the virtual camera, which renders at the
   WILD size directly) by area averaging: each output pixel is the
   mean of a ``3x3`` block (``cv2.resize(INTER_AREA)``, which for an integer factor is exactly
   the block mean, 20x faster than ``skimage.transform.downscale_local_mean`` here). A box
   average is what a sensor with 3x larger pixels records, so it is the physically right
   anti-aliasing for averaging light; it is also the model's ``D_k``. Rows/columns beyond a
   multiple of 3 are cropped from the bottom/right (1280x720 -> 426x240);
2. averages the ``N`` frames into the blurry image (in the encoded values as the paper; with
   ``linear=True`` in linear light, ``x**2.2`` before and ``**(1/2.2)`` after, as DeepDeblur's
   ``blur_gamma``; the downsampling then happens in linear light too, so a static scene gives
   blur == sharp exactly); the central frame is the sharp image;
3. estimates the optical flow between consecutive (downsampled) frames (:mod:`repro.wild.flow`) and
   keeps the window only if the *flow statistic* is at most ``max_flow`` (1 px) for every
   consecutive pair. The statistic is the ``flow_percentile`` (99th) percentile of the per-pixel
   flow magnitude, not the maximum: the maximum of an *estimated* flow field is set by a handful
   of outlier pixels (occlusion boundaries, image borders, textureless sky) and would reject
   windows whose motion is well below 1 px, while the 99th percentile still rejects any moving
   object covering more than 1 % of the frame (~1000 pixels at 426x240). ``flow_percentile=100``
   gives the strict maximum;
4. checks the flow's reliability by the frame-matching error: the RMS grayscale difference
   between a frame and the next one warped back by the flow (:func:`repro.wild.flow.matching_error`);
   windows whose worst pair exceeds ``max_match_error`` are rejected as "unreliable flow";
5. moves on: the next window starts ``gap`` (0) frames after this one; after a rejected window
   it starts right after the window's last offending frame pair (``resync``), since no accepted
   window may contain that pair and the frames after it are still usable (accepted windows never
   overlap either way);
6. integrates the flow along each pixel's trajectory through the window (starting at the
   central frame, forward through the forward flows and backward through their inverses) into a
   per-pixel blur size (trajectory length in pixels, :func:`blur_size_map`); its mean goes into
   the manifest (Fig. 9), the map to ``blursize/NNNNNN.npy`` with ``save_blursize=True``.

Output (the GoPro layout, read by :class:`repro.io.datasets.PairedFolder`)::

    OUT/<split>/<scene>/blur/NNNNNN.png    NNNNNN = index of the central (sharp) frame
    OUT/<split>/<scene>/sharp/NNNNNN.png
    OUT/<split>/<scene>/windows.json       every window tried in the scene (resume state)
    OUT/<split>/build.json                 the parameters of the build
    OUT/manifest.csv                       one row per window tried (all splits)

Resumable: every file is written atomically, a window's row is recorded only after its images,
and a re-run skips the windows (and whole scenes) already done; the output is byte-identical to
an uninterrupted build. With ``pairs`` the build stops at exactly that many accepted pairs,
taking scenes in order, whatever the number of workers.

Modules: :mod:`~repro.wild.recipe` (:class:`BuildConfig` and the per-window maths),
:mod:`~repro.wild.scene` (one scene's windows and resume state), :mod:`~repro.wild.build`
(:func:`build_wild`: scenes in worker processes, the ``pairs`` cut), :mod:`~repro.wild.manifest`,
:mod:`~repro.wild.averaging` (the averaging check, beyond the paper) and :mod:`~repro.wild.cli`
(``python -m repro build-wild``). Every public name is importable from ``repro.wild``.
"""

from __future__ import annotations

from .averaging import AVERAGING_REPORTED, AVERAGING_SPEEDS, averaging_check, averaging_summary, plot_averaging_check
from .build import DEFAULT_VIRTUAL_PAIRS, VIRTUAL_DOWNSAMPLE, build_wild, read_build_config
from .cli import add_arguments, run
from .manifest import MANIFEST_COLUMNS, read_manifest
from .recipe import (DEFAULT_MAX_MATCH_ERROR, BuildConfig, WindowResult, analyse_window, average_frames, blur_size_map,
                     downsample_flow, draw_window_sizes, pair_statistics, prepare_frame)
from .scene import process_scene
from .statistics import wild_statistics

__all__ = ["BuildConfig", "build_wild", "read_build_config", "read_manifest", "wild_statistics", "process_scene",
           "prepare_frame", "average_frames", "blur_size_map", "pair_statistics", "analyse_window", "WindowResult",
           "draw_window_sizes", "downsample_flow", "averaging_check", "averaging_summary", "plot_averaging_check",
           "AVERAGING_SPEEDS", "AVERAGING_REPORTED", "MANIFEST_COLUMNS", "DEFAULT_MAX_MATCH_ERROR",
           "DEFAULT_VIRTUAL_PAIRS", "VIRTUAL_DOWNSAMPLE", "add_arguments", "run"]
