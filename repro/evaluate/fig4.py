"""Fig. 4: one test image deblurred by each method, side by side, with zoomed crops."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import methods as methods_table
from ..io.figures import pick_crops
from .data import checked_output, list_pairs, load_rgb, output_path, select_images
from .method import Identity, Method, make_method

__all__ = ["pick_crops", "figure4_figure", "figure4"]

log = logging.getLogger(__name__)


def figure4_figure(blurry: np.ndarray, sharp: np.ndarray, outputs: dict[str, np.ndarray | BaseException], *,
                   n_crops: int = 2, crop_size: int | None = None, title: str | None = None):
    """Fig. 4 layout: blurry, sharp and each output side by side (row 1) with zoomed crops (rows 2+).

    Shapes: all ``(H, W, 3)`` float in [0, 1]. ``outputs`` maps a method key (labelled by
    :func:`repro.evaluate.methods.label`) to its output, or to the exception it raised: a failed method
    keeps its column, titled "FAILED" and showing the error. Column titles give the PSNR against
    ``sharp``. Crops are where ``|blurry - sharp|`` is largest. Returns a matplotlib ``Figure``.
    """
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..core.metrics import psnr

    H, W = sharp.shape[:2]
    size = crop_size or max(16, min(H, W) // 4)
    corners = pick_crops(blurry, sharp, size, n_crops)
    columns = [("identity", blurry), ("sharp (ground truth)", sharp)] + list(outputs.items())
    colors = ["#ff3030", "#30a0ff", "#30d030", "#ffb000"]
    n_rows, n_cols = 1 + len(corners), len(columns)
    cell = 2.6
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols, cell * (H / W + len(corners)) + 0.6),
                             squeeze=False, gridspec_kw={"height_ratios": [H / W] + [1] * len(corners)})
    for j, (key, img) in enumerate(columns):
        head = methods_table.label(key)
        if isinstance(img, BaseException):  # the method failed: say so where its result would be
            message = textwrap.fill(f"{type(img).__name__}: {img}", 30, max_lines=6, placeholder=" ...")
            for i in range(n_rows):
                axes[i, j].imshow(np.full((H, W) if i == 0 else (size, size), 0.85), cmap="gray", vmin=0, vmax=1)
                axes[i, j].text(0.5, 0.5, "FAILED\n" + message if i == 0 else "FAILED", ha="center", va="center",
                                fontsize=7 if i == 0 else 9, color="#c00000", transform=axes[i, j].transAxes)
                axes[i, j].set_xticks([])
                axes[i, j].set_yticks([])
            axes[0, j].set_title(f"{head}\nFAILED", fontsize=9, color="#c00000")
            continue
        img = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
        if key != "sharp (ground truth)":
            head += f"\n{psnr(sharp.astype(np.float32), img, data_range=1.0):.2f} dB"
        ax = axes[0, j]
        ax.imshow(img)
        ax.set_title(head, fontsize=9)
        for k, (y0, x0) in enumerate(corners):
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), size, size, fill=False, lw=1.2, ec=colors[k % len(colors)]))
            axc = axes[1 + k, j]
            axc.imshow(img[y0:y0 + size, x0:x0 + size], interpolation="nearest")
            for side in axc.spines.values():
                side.set_edgecolor(colors[k % len(colors)])
                side.set_linewidth(2)
        for i in range(n_rows):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    axes[0, 0].set_ylabel("full image", fontsize=9)
    for k in range(len(corners)):
        axes[1 + k, 0].set_ylabel(f"crop {k + 1} ({size} px)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def figure4(methods: Sequence[Method | str], data: str | os.PathLike, *, split: str = "test",
            image: str | int | None = None, seed: int = 0, n_random: int = 15,
            out: str | os.PathLike, results: str | os.PathLike | None = None,
            n_crops: int = 2, crop_size: int | None = None) -> list[Path]:
    """Fig. 4: one test image deblurred by each method, with crops; writes ``out`` as PNG and PDF.

    A method that raises (or returns a wrong shape or non-finite values) keeps its column,
    marked FAILED with the error (:func:`figure4_figure`).

    ``image``: a name ``"<scene>/<stem>"`` or an index into the split; default the first of the
    seeded random subset of :func:`evaluate` (same ``seed``/``n_random``). With ``results`` (an
    :func:`evaluate` output folder), saved outputs ``results/outputs/<method>/<name>.png`` are
    used instead of running a method again. Returns the written paths.
    """
    from ..io.figures import save_figure  # looked up at call time (tests replace it)

    methods = [make_method(m) if isinstance(m, str) else m for m in methods]
    names, pairs = list_pairs(data, split)
    if image is None:
        index = select_images(len(pairs), n_random=max(1, n_random), seed=seed)[0][0]
    elif isinstance(image, int):
        if not 0 <= image < len(pairs):
            raise ValueError(f"image index {image} out of range: the split has {len(pairs)} pairs")
        index = image
    else:
        if image not in names:
            raise ValueError(f"image {image!r} is not in {data}/{split} (e.g. {names[0]!r})")
        index = names.index(image)
    blurry, sharp = load_rgb(pairs[index][0]), load_rgb(pairs[index][1])
    outputs = {}
    for m in methods:
        if isinstance(m, Identity):  # the blurry input is already the first column
            continue
        saved = output_path(Path(results), m.name, names[index]) if results is not None else None
        if saved is not None and saved.is_file():
            outputs[m.name] = load_rgb(saved)
            continue
        try:
            outputs[m.name] = checked_output(np.asarray(m.deblur(blurry), dtype=np.float32), blurry.shape)
        except Exception as exc:  # shown as FAILED in the figure, never left out
            log.warning("figure4: %s failed on %s: %s", m.name, names[index], exc)
            outputs[m.name] = exc
    fig = figure4_figure(blurry, sharp, outputs, n_crops=n_crops, crop_size=crop_size,
                         title=f"{Path(data).name}/{split}/{names[index]}")
    try:
        return save_figure(fig, out)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
