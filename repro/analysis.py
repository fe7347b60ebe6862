"""Residual analysis behind Figs. 9 and 10: does N3's residual grow with the blur size?

For every test image the L1 norm of the residual that DeblurNet's last stage adds
(``r3 = o3 - N3's input upsampled``; see :class:`repro.model.DeblurNetOutput`) is compared with
the image's mean blur size (the per-pixel optical-flow trajectory length integrated over the
averaging window, written by the WILD builder). Both are normalised to mean 0 and std 1 as in
the paper, and their Pearson and Spearman correlations (with p-values) are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .devices import resolve_device

__all__ = ["ResidualRecord", "residual_norms", "standardize", "correlation", "extremes"]


@dataclass
class ResidualRecord:
    """Per-image results of :func:`residual_norms`; arrays have one entry per image."""

    names: list[str]
    residual_l1: np.ndarray  # mean |r3| over pixels and channels
    psnr_blurry: np.ndarray
    psnr_restored: np.ndarray


@torch.no_grad()
def residual_norms(model: torch.nn.Module, dataset, *, device: str = "auto", limit: int | None = None,
                   indices: list[int] | None = None) -> ResidualRecord:
    """Run ``model`` on whole images of ``dataset`` (``ds[i] -> (blurry, sharp)``, ``(3, H, W)``).

    Returns the mean absolute value of N3's residual per image (the L1 norm divided by the
    number of values, so images of different sizes compare) and the PSNRs before/after.
    """
    from .metrics import psnr

    dev = resolve_device(device)
    model = model.to(dev).eval()
    if indices is None:
        indices = list(range(len(dataset)))
    if limit is not None:
        indices = indices[:limit]
    if not indices:
        raise ValueError("residual_norms: the dataset is empty")
    names, norms, p_in, p_out = [], [], [], []
    for i in tqdm(indices, desc="residual norms", leave=False):
        blurry, sharp = dataset[i]
        out = model(blurry.unsqueeze(0).to(dev))
        r3 = out.residuals[2].float()
        restored = out.restored.clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
        norms.append(r3.abs().mean().item())
        s = sharp.permute(1, 2, 0).numpy()
        p_in.append(psnr(s, blurry.permute(1, 2, 0).numpy(), data_range=1.0))
        p_out.append(psnr(s, restored, data_range=1.0))
        names.append(dataset.names[i] if hasattr(dataset, "names") else str(i))
    return ResidualRecord(names, np.array(norms), np.array(p_in), np.array(p_out))


def standardize(x: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` (population std); raises if ``x`` is constant."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std()
    if not sd > 0:
        raise ValueError("cannot standardise a constant array")
    return (x - x.mean()) / sd


def correlation(x: np.ndarray, y: np.ndarray) -> dict:
    """Pearson and Spearman correlation of ``x`` and ``y`` with two-sided p-values."""
    from scipy import stats

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"correlation needs two 1-D arrays of equal length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError(f"correlation needs at least 3 points, got {len(x)}")
    pr = stats.pearsonr(x, y)
    sr = stats.spearmanr(x, y)
    return {"pearson_r": float(pr.statistic), "pearson_p": float(pr.pvalue),
            "spearman_r": float(sr.statistic), "spearman_p": float(sr.pvalue), "n": int(len(x))}


def extremes(values: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` largest (descending) and ``k`` smallest (ascending) values (Fig. 10)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    k = min(k, len(values))
    return order[::-1][:k], order[:k]
