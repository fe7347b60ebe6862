"""Figures shared by the notebooks: saving, image grids, the architecture diagram (Fig. 3).

Functions here take arrays/results and return a matplotlib ``Figure``; :func:`save_figure`
writes it as PNG and PDF, atomically. Figures specific to one module live beside it
(e.g. ``repro.synthetic.kernels``, ``repro.evaluate``).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .files import atomic_path

__all__ = ["save_figure", "image_grid", "architecture_diagram", "residual_scatter", "figure_footer", "stamped",
           "significance_note", "pick_crops", "crop_side", "qualitative_figure"]

_FOOTER: contextvars.ContextVar[str | None] = contextvars.ContextVar("figure_footer", default=None)


def figure_footer(preset: str, n: int | None = None, what: str = "images", *, seed: int | None = None) -> str:
    """The line under every figure of a reproduction: ``"preset demo, n = 24 test images, seed 0"``
    (``n=None``: the figure does not depend on a sample size, and the line says only the preset)."""
    parts = [f"preset {preset}"]
    if n is not None:
        parts.append(f"n = {n} {what}".rstrip())
    if seed is not None:
        parts.append(f"seed {seed}")
    return ", ".join(parts)


@contextlib.contextmanager
def stamped(footer: str) -> Iterator[None]:
    """Within the block, :func:`save_figure` writes ``footer`` under every figure it saves that
    has no footer of its own (for figures saved by library functions, e.g. Fig. 4)."""
    token = _FOOTER.set(footer)
    try:
        yield
    finally:
        _FOOTER.reset(token)


def _add_footer(fig, text: str) -> None:
    # below the axes (va="top" at y=0); bbox_inches="tight" widens the saved image to include it
    fig.text(0.5, 0.0, text, ha="center", va="top", fontsize=8, color="0.3")


def save_figure(fig, path: str | os.PathLike, *, formats: Sequence[str] = ("png", "pdf"), dpi: int = 130,
                footer: str | None = None) -> list[Path]:
    """Write ``fig`` to ``path`` with each suffix in ``formats`` (atomically); returns the paths.

    ``footer`` (else the one of an enclosing :func:`stamped` block, if any) is written under
    the figure, once.
    """
    path = Path(path)
    text = footer if footer is not None else _FOOTER.get()
    if text and text not in (t.get_text() for t in fig.texts):
        _add_footer(fig, text)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        written.append(target)
    return written


def _show(ax, img: np.ndarray, title: str | None = None) -> None:
    img = np.asarray(img)
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(img, 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def image_grid(rows: Sequence[Sequence[np.ndarray]], *, titles: Sequence[str] | None = None,
               row_labels: Sequence[str] | None = None, cell_width: float = 3.0, suptitle: str | None = None):
    """A grid of images (each ``(H, W, 3)`` or ``(H, W)`` in [0, 1]) with column titles and row labels.

    A residual or other signed map should be mapped to [0, 1] by the caller (e.g. ``0.5 + r``).
    """
    import matplotlib.pyplot as plt

    if not rows or not rows[0]:
        raise ValueError("image_grid needs at least one row with one image")
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    h, w = np.asarray(rows[0][0]).shape[:2]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_width * n_cols, cell_width * n_rows * h / w + 0.4),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            if j < len(row):
                _show(ax, row[j], titles[j] if (titles and i == 0) else None)
            else:
                ax.axis("off")
        if row_labels:
            axes[i, 0].set_ylabel(row_labels[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def architecture_diagram(model=None, height: int = 240, width: int = 432):
    """Fig. 3: DeblurNet's three stages, residual skips and scales, drawn from the model itself.

    Each convolution is a box whose height is proportional to log(channels) and whose label
    gives channels, kernel and stride (from :func:`repro.core.model.table1`); the residual skips
    (``+ D_4(g)``, ``+ D_2(g)``, ``+ g``) are drawn as arrows from the input.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from ..core.model import DeblurNet, DeblurNetConfig, table1

    model = model or DeblurNet(DeblurNetConfig())
    rows = table1(model, height, width)
    colors = {"N1": "#4C72B0", "N2": "#55A868", "N3": "#C44E52"}
    fig, ax = plt.subplots(figsize=(16, 4.6))
    x = 1.4
    ax.add_patch(FancyBboxPatch((0.1, 1.6), 0.9, 1.2, boxstyle="round,pad=0.02", fc="#dddddd", ec="k"))
    ax.text(0.55, 2.2, f"g\n{height}x{width}", ha="center", va="center", fontsize=8)
    stage_end: dict[str, float] = {}
    prev_stage = None
    for r in rows:
        if prev_stage and r["stage"] != prev_stage:
            # the "+" node closing the previous stage
            ax.text(x + 0.15, 2.2, "+", ha="center", va="center", fontsize=16, fontweight="bold")
            stage_end[prev_stage] = x + 0.15
            x += 0.6
        prev_stage = r["stage"]
        hgt = 0.35 + 0.28 * np.log2(max(r["channels"], 2))
        fc = colors[r["stage"]] if r["bn_relu"] else "white"
        ax.add_patch(FancyBboxPatch((x, 2.2 - hgt / 2), 0.55, hgt, boxstyle="round,pad=0.02",
                                    fc=fc, ec=colors[r["stage"]], alpha=0.85, lw=1.5))
        stride = r["stride"]
        label = f"{r['type']}\n{r['channels']}\n{r['kernel']}" + (f"\n/{stride}" if stride == "2" else "") \
            + (f"\n{stride}" if stride.startswith("x") else "")
        ax.text(x + 0.275, 2.2, label, ha="center", va="center", fontsize=6.5,
                color="white" if r["bn_relu"] else "k")
        ax.text(x + 0.275, 2.2 - hgt / 2 - 0.15, r["output"], ha="center", va="top", fontsize=5.5, rotation=90)
        x += 0.7
    ax.text(x + 0.15, 2.2, "+", ha="center", va="center", fontsize=16, fontweight="bold")
    stage_end[prev_stage] = x + 0.15
    # residual skips from the input
    for stage, lab, yy in (("N1", "D_4(g)", 3.9), ("N2", "D_2(g)", 4.3), ("N3", "g", 4.7)):
        xe = stage_end[stage]
        ax.plot([0.55, 0.55], [2.8, yy], color=colors[stage], lw=1.2)
        ax.plot([0.55, xe], [yy, yy], color=colors[stage], lw=1.2)
        ax.annotate("", xy=(xe, 2.45), xytext=(xe, yy),
                    arrowprops=dict(arrowstyle="-|>", color=colors[stage], lw=1.2))
        ax.text((0.55 + xe) / 2, yy + 0.08, f"skip {lab}", ha="center", va="bottom", fontsize=8, color=colors[stage])
        scale = {"N1": "o1\n1/4\nL1", "N2": "o2\n1/2\nL2", "N3": "o3\nfull\nL3"}[stage]
        ax.text(xe, 1.95, scale, ha="center", va="top", fontsize=7.5, color=colors[stage], fontweight="bold")
    ax.text(x * 0.5, -0.05, "filled: conv + BN + ReLU; white: residual-emitting layer (no BN/ReLU); "
            "below each box: output size", ha="center", fontsize=8)
    ax.set_xlim(0, x + 0.6)
    ax.set_ylim(-0.2, 5.1)
    ax.axis("off")
    w = model.config.width
    ax.set_title(f"DeblurNet (Fig. 3) drawn at width {w:g}{' (the paper' + chr(39) + 's)' if w == 1 else ''}"
                 f"{shipped_widths_note()}; strides {model.config.strides}", fontsize=11)
    return fig


def shipped_widths_note() -> str:
    """``"; the shipped networks are width 0.25 (...)"``, from the weights' cards
    (``repro/weights/deblurnet_{wild,si}.json``); ``""`` where none is there."""
    import json

    from .paths import shipped_checkpoint

    widths = set()
    for kind in ("wild", "si"):
        card = shipped_checkpoint(kind).with_suffix(".json")
        if card.is_file():
            width = json.loads(card.read_text()).get("model_config", {}).get("width")
            if width is not None:
                widths.add(float(width))
    if not widths:
        return ""
    listed = " and ".join(f"{w:g}" for w in sorted(widths))
    return f"; the shipped networks are width {listed} (the same layers, each with width x the channels)"


def significance_note(p: float, n: int, alpha: float = 0.05) -> str:
    """Whether a correlation's two-sided p-value is significant at ``alpha``, in words, with ``n``."""
    if not math.isfinite(p):
        return f"correlation undefined (a constant variable), n = {n}"
    if p < alpha:
        return f"significant at the {alpha:g} level (p = {p:.1e}, n = {n})"
    return f"NOT significant at the {alpha:g} level (p = {p:.2f}, n = {n}): too few images or no effect"


def residual_scatter(blur_size: np.ndarray, residual_norm: np.ndarray, stats: dict, *, title: str | None = None,
                     alpha: float = 0.05):
    """Fig. 9: normalised residual L1 norm against normalised mean blur size, with correlations
    and whether the Pearson correlation is significant at ``alpha``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.scatter(blur_size, residual_norm, s=10, alpha=0.6, edgecolors="none")
    lo = float(min(blur_size.min(), residual_norm.min()))
    hi = float(max(blur_size.max(), residual_norm.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
    ax.set_xlabel("mean blur size (normalised: mean 0, std 1)")
    ax.set_ylabel("L1 norm of N3's residual (normalised)")
    ax.set_title(title or (f"Pearson r = {stats['pearson_r']:.2f}, Spearman = {stats['spearman_r']:.2f}\n"
                           f"{significance_note(stats['pearson_p'], stats['n'], alpha)}"), fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def shift_search_figure(shake: dict, dynamic: dict, *, tile: int):
    """Fig. 8: shift-invariant evaluation works for camera shake, not for dynamic scenes.

    ``shake``: ``blurry``, ``restored``, ``reference`` images and ``psnr``/``psnr_shift`` (dB)
    of the restored image without and with the shift search. ``dynamic``: ``restored``,
    ``reference`` of a dynamic-scene pair (optional ``title``) and ``shifts`` ``(ny, nx, 2)`` from
    :func:`repro.core.metrics.local_shift_map` with the given ``tile`` size and border ``border``.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9))
    _show(axes[0], shake["blurry"], "camera-shake input")
    _show(axes[1], shake["restored"],
          f"DeblurNet: PSNR {shake['psnr']:.2f} dB\nshift search {shake['psnr_shift']:.2f} dB "
          f"at (dy, dx) = ({shake['shift'][0]:.2f}, {shake['shift'][1]:.2f})")
    _show(axes[2], shake["reference"], "sharp reference (a pose of the trajectory)")
    ax = axes[3]
    _show(ax, dynamic["restored"], dynamic.get("title", "dynamic scene: best local shift per tile"))
    shifts = np.asarray(dynamic["shifts"])
    ny, nx = shifts.shape[:2]
    b = dynamic["border"]
    yy, xx = np.mgrid[0:ny, 0:nx]
    cy, cx = b + (yy + 0.5) * tile, b + (xx + 0.5) * tile
    mag = np.hypot(shifts[..., 0], shifts[..., 1])
    q = ax.quiver(cx, cy, shifts[..., 1], shifts[..., 0], mag, angles="xy", scale_units="xy",
                  scale=max(float(mag.max()), 1e-6) / (0.45 * tile), cmap="autumn", width=0.006)
    cb = fig.colorbar(q, ax=ax, fraction=0.035, pad=0.02)
    cb.set_label("|shift| (px)")
    fig.tight_layout()
    return fig


def pick_crops(blurry: np.ndarray, sharp: np.ndarray, size: int, n: int) -> list[tuple[int, int]]:
    """Top-left corners of ``n`` non-overlapping ``size`` squares where the blur changes the image most."""
    from scipy.ndimage import uniform_filter

    H, W = sharp.shape[:2]
    energy = uniform_filter(np.abs(blurry - sharp).mean(axis=2), size=size, mode="constant")
    half = size // 2
    valid = np.full_like(energy, -np.inf)
    valid[half:H - size + half + 1, half:W - size + half + 1] = energy[half:H - size + half + 1, half:W - size + half + 1]
    corners = []
    for _ in range(n):
        cy, cx = np.unravel_index(int(np.argmax(valid)), valid.shape)
        if not np.isfinite(valid[cy, cx]):
            break
        y0, x0 = int(cy) - half, int(cx) - half
        corners.append((y0, x0))
        valid[max(0, y0 - half):y0 + size + half, max(0, x0 - half):x0 + size + half] = -np.inf
    return corners


def crop_side(height: int, width: int, zoom: float) -> int:
    """Side of a square crop that, drawn as wide as the whole image, is magnified ``zoom`` times
    (at most the image's height)."""
    if zoom < 1:
        raise ValueError(f"zoom must be at least 1, got {zoom}")
    return int(max(1, min(height, round(width / zoom))))


def qualitative_figure(scenes: Sequence[dict], columns: Sequence[str], *, zoom: float = 4.0,
                       cell_width: float = 3.0, title: str | None = None):
    """Fig. 1: each scene as a row of whole images and, below it, the same crop of each image
    magnified about ``zoom`` times, with every image's PSNR against the second column.

    ``scenes``: dicts with ``name`` and ``images``, a list of ``(H, W, 3)`` float images in [0, 1]
    in the order of ``columns``: the blurry input, the sharp reference, then the methods (the
    column order of Fig. 4, :func:`repro.evaluate.figure4_figure`).
    The crop is where the input differs most from the reference (the most blurred region).
    Column titles give the mean PSNR over the scenes; each image its own below it.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..core.metrics import psnr

    if not scenes:
        raise ValueError("qualitative_figure needs at least one scene")
    for s in scenes:
        if len(s["images"]) != len(columns):
            raise ValueError(f"scene {s['name']}: {len(s['images'])} images for {len(columns)} columns")
    n_cols = len(columns)
    ratios, crops, scores = [], [], []
    for s in scenes:
        imgs = [np.clip(np.asarray(im, dtype=np.float32), 0, 1) for im in s["images"]]
        H, W = imgs[0].shape[:2]
        side = crop_side(H, W, zoom)
        found = pick_crops(imgs[0], imgs[1], side, 1)
        crops.append((found[0] if found else ((H - side) // 2, (W - side) // 2), side))
        scores.append([psnr(imgs[1], im, data_range=1.0) for k, im in enumerate(imgs) if k != 1])
        ratios += [H / W, 1.0]
    fig, axes = plt.subplots(len(ratios), n_cols, figsize=(cell_width * n_cols, cell_width * sum(ratios) + 0.8),
                             squeeze=False, gridspec_kw={"height_ratios": ratios})
    means = list(np.mean(np.asarray(scores, dtype=np.float64), axis=0))
    means.insert(1, None)  # the reference's own column
    for i, (s, ((y0, x0), side), row_scores) in enumerate(zip(scenes, crops, scores)):
        W = np.asarray(s["images"][0]).shape[1]
        row_scores = [*row_scores[:1], None, *row_scores[1:]]
        for j, im in enumerate(s["images"]):
            im = np.clip(np.asarray(im, dtype=np.float32), 0, 1)
            head = columns[j] + ("" if j == 1 else f"\nmean PSNR {means[j]:.2f} dB")
            _show(axes[2 * i, j], im, head if i == 0 else None)
            axes[2 * i, j].set_xlabel("reference" if j == 1 else f"{row_scores[j]:.2f} dB", fontsize=8)
            axes[2 * i, j].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), side, side, fill=False, lw=1.2, ec="#ff3030"))
            _show(axes[2 * i + 1, j], im[y0:y0 + side, x0:x0 + side])
            axes[2 * i + 1, j].images[0].set_interpolation("nearest")
            for edge in axes[2 * i + 1, j].spines.values():
                edge.set_edgecolor("#ff3030")
        axes[2 * i, 0].set_ylabel(s["name"], fontsize=8)
        axes[2 * i + 1, 0].set_ylabel(f"crop x{W / side:.1f}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
