"""Figures of motion kernels: a page of the SI kernel bank, and SI kernel lengths beside WILD blur
sizes (:func:`repro.synthetic.kernels.bank_lengths`)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .kernels import KernelBank

__all__ = ["plot_length_match", "plot_kernel_bank", "figure_kernel_bank"]


def plot_length_match(kernel_lengths: Sequence[float], blur_sizes: Sequence[float], *,
                      kernel_label: str = "SI kernels", blur_label: str = "WILD pairs"):
    """Histograms of SI kernel lengths beside WILD blur sizes (px), with their medians and 90th
    percentiles in the legend: does DeblurNet^SI train on blur of the size WILD has?"""
    from matplotlib.figure import Figure

    a, b = np.asarray(kernel_lengths, float), np.asarray(blur_sizes, float)
    if a.size == 0 or b.size == 0:
        raise ValueError("need kernel lengths and blur sizes to compare")
    fig = Figure(figsize=(6, 3.4))
    ax = fig.subplots()
    bins = np.linspace(0, max(np.percentile(a, 99.5), np.percentile(b, 99.5)) + 1, 40)
    for values, label in ((a, kernel_label), (b, blur_label)):
        ax.hist(values, bins=bins, density=True, alpha=0.55,
                label=f"{label} (n={values.size}): median {np.median(values):.1f}, "
                      f"p90 {np.percentile(values, 90):.1f} px")
    ax.set_xlabel("blur length (px): kernel path / integrated trajectory")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    ax.set_title("SI kernel lengths beside WILD blur sizes", fontsize=9)
    fig.tight_layout()
    return fig


def plot_kernel_bank(
    bank: KernelBank | None = None,
    *,
    indices: Sequence[int] | None = None,
    n: int = 64,
    seed: int = 0,
):
    """A matplotlib ``Figure`` of ``n`` kernels of the bank (8 per row) with index and grid size.

    ``indices`` default to ``n`` indices spread evenly over the bank (all three ``psz`` sets).
    Each kernel is shown on its own grey scale (white = its maximum).
    """
    from matplotlib.figure import Figure

    bank = KernelBank(seed=seed) if bank is None else bank
    if indices is None:
        indices = np.linspace(0, len(bank) - 1, n).round().astype(int).tolist()
    indices = list(indices)
    if not indices:
        raise ValueError("no kernels to plot")
    cols = min(8, len(indices))
    rows = math.ceil(len(indices) / cols)
    fig = Figure(figsize=(cols * 1.4, rows * 1.55 + 0.3))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), indices):
        k = bank[i]
        ax.imshow(k, cmap="gray", vmin=0, vmax=k.max(), interpolation="nearest")
        label = ", ".join(f"{key}={val:g}" for key, val in bank.params(i).items())
        ax.set_title(f"#{i}\n{label}", fontsize=6)
    fig.suptitle(
        f"{len(indices)} of {len(bank)} kernels ({bank.generator}, seed {bank.seed}, "
        f"{bank.size}x{bank.size}; each on its own scale)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def figure_kernel_bank(
    path: str | os.PathLike,
    *,
    bank: KernelBank | None = None,
    indices: Sequence[int] | None = None,
    n: int = 64,
    seed: int = 0,
) -> Path:
    """Write :func:`plot_kernel_bank` as a PNG (atomically); returns the path."""
    from ..io.figures import save_figure

    fig = plot_kernel_bank(bank, indices=indices, n=n, seed=seed)
    return save_figure(fig, Path(path), formats=("png",), dpi=120)[0]
