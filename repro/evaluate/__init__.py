"""Table 2 and Fig. 4: evaluate deblurring methods on a paired test split.

Every method is a :class:`Method`: a ``name`` and ``deblur(image) -> image`` on ``(H, W, 3)``
float32 images in [0, 1]. :func:`make_method` builds a method of the table in
:mod:`repro.evaluate.methods` by its key (``identity``, the blurry input; the classical baselines of
``repro.baselines``; ``deblurnet-si`` and ``deblurnet-wild``), importing each lazily. That table
also gives the labels of the rows and the paper's reported PSNR.

:func:`evaluate` runs them on a GoPro-layout folder (``ROOT/<split>/<scene>/{blur,sharp}/*.png``)
and writes, atomically, under ``out``:

* ``table2_per_image.csv`` -- one row per (method, image): PSNR, SSIM, shift-search PSNR, time,
  and the error message if the method crashed on that image (a crash is recorded, not fatal);
* ``table2.csv`` / ``table2.md`` -- mean and sample standard deviation (ddof=1) per method on
  ``n_random`` seeded random images (15, as the paper) and on the whole split, the number of
  images, the paper's reported PSNR beside ours, the data and how the run was made.

Metrics: PSNR and SSIM from :mod:`repro.core.metrics` on the full image, data range 1 (uint8 files
scaled by 1/255), SSIM with Gaussian weights (sigma 1.5, Wang et al. 2004 constants,
``use_sample_covariance=False``) averaged over RGB; ``psnr_shift`` is the best PSNR over integer
shifts within ``shift_radius`` pixels on the image without a border of ``shift_radius + 1``.

Modules: :mod:`~repro.evaluate.method` (the methods), :mod:`~repro.evaluate.data` (pairs and the
random subset), :mod:`~repro.evaluate.runner` (:func:`evaluate`: the loop and its worker pool),
:mod:`~repro.evaluate.tables` (the CSV and Markdown tables), :mod:`~repro.evaluate.fig4` and
:mod:`~repro.evaluate.cli` (``python -m repro evaluate``). The names below are importable from
``repro.evaluate``. Beside Table 2: :mod:`~repro.evaluate.residuals` (Fig. 9 and gains by blur
size), :mod:`~repro.evaluate.study_tables` (the by-blur and corpus tables),
:mod:`~repro.evaluate.diversity` (the equal-budget photo arms) and
:mod:`~repro.evaluate.long_run` (the long run's best checkpoints by blur size on validation).
"""

from __future__ import annotations

from .cli import add_arguments, run
from .data import list_pairs, select_images
from .fig4 import figure4, figure4_figure
from .method import DeblurNetMethod, Identity, Method, make_method
from .runner import classical_limits, evaluate
from .tables import PAPER_TABLE2

__all__ = ["Method", "Identity", "DeblurNetMethod", "PAPER_TABLE2", "make_method", "list_pairs", "select_images",
           "evaluate", "classical_limits", "figure4", "figure4_figure", "add_arguments", "run"]
