"""One pass of a network over paired images, and what the study reads from it: per-image PSNRs
before and after, the mean |r3| of the residual that DeblurNet's last stage adds (Fig. 9's
measure), the identity PSNR on sharp frames, each image's blur size from a WILD manifest, and the
correlations of two measures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.devices import resolve_device
from ..core.precision import autocast, resolve_precision, to_precision_format

__all__ = ["ResidualRecord", "residual_norms", "identity_psnr", "correlation", "blur_sizes"]


@dataclass
class ResidualRecord:
    """Per-image results of :func:`residual_norms`; arrays have one entry per image."""

    names: list[str]
    residual_l1: np.ndarray  # mean |r3| over pixels and channels
    psnr_blurry: np.ndarray
    psnr_restored: np.ndarray

@torch.no_grad()
def residual_norms(model: torch.nn.Module, dataset, *, device: str = "auto", limit: int | None = None,
                   indices: list[int] | None = None, precision: str = "auto") -> ResidualRecord:
    """Run ``model`` on whole images of ``dataset`` (``ds[i] -> (blurry, sharp)``, ``(3, H, W)``).

    Returns the mean absolute value of N3's residual per image (the L1 norm divided by the
    number of values, so images of different sizes compare) and the PSNRs before/after.
    ``precision``: the network's arithmetic (:mod:`repro.core.precision`; residual and PSNRs in float32).
    """
    from ..core.metrics import psnr

    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    model = to_precision_format(model.to(dev).eval(), precision)
    if indices is None:
        indices = list(range(len(dataset)))
    if limit is not None:
        indices = indices[:limit]
    if not indices:
        raise ValueError("residual_norms: the dataset is empty")
    names, norms, p_in, p_out = [], [], [], []
    for i in tqdm(indices, desc="residual norms", leave=False):
        blurry, sharp = dataset[i]
        with autocast(precision, dev):
            out = model(to_precision_format(blurry.unsqueeze(0).to(dev), precision))
        r3 = out.residuals[2].float()
        restored = out.restored.float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
        norms.append(r3.abs().mean().item())
        s = sharp.permute(1, 2, 0).numpy()
        p_in.append(psnr(s, blurry.permute(1, 2, 0).numpy(), data_range=1.0))
        p_out.append(psnr(s, restored, data_range=1.0))
        names.append(dataset.names[i] if hasattr(dataset, "names") else str(i))
    return ResidualRecord(names, np.array(norms), np.array(p_in), np.array(p_out))

@torch.no_grad()
def identity_psnr(model: torch.nn.Module, dataset, *, device: str = "auto", limit: int | None = None,
                  precision: str = "auto") -> np.ndarray:
    """PSNR (dB) of ``model`` run on each sharp frame of ``dataset`` against that same frame.

    How much a network changes an image that has no blur: ``inf`` leaves it untouched. A network
    trained on blurry inputs only tends to sharpen everything, which costs it on nearly sharp test
    images. ``dataset[i] -> (blurry, sharp)`` as in :func:`residual_norms`; returns ``(n,)``.
    ``model`` returns a ``DeblurNetOutput`` or the image itself (e.g. a
    :class:`~repro.core.inference.SelfEnsemble`). ``precision`` as :func:`residual_norms`.
    """
    from ..core.inference import _restored  # a DeblurNetOutput's restored image, or the image itself
    from ..core.metrics import psnr

    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    model = to_precision_format(model.to(dev).eval(), precision)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n < 1:
        raise ValueError("identity_psnr: the dataset is empty")
    out = []
    for i in tqdm(range(n), desc="identity PSNR", leave=False):
        sharp = dataset[i][1]
        with autocast(precision, dev):
            restored = _restored(model, to_precision_format(sharp.unsqueeze(0).to(dev), precision))
        restored = restored.float().clamp(0, 1)[0].cpu()
        out.append(psnr(sharp.permute(1, 2, 0).numpy(), restored.permute(1, 2, 0).numpy(), data_range=1.0))
    return np.array(out)

def correlation(x: np.ndarray, y: np.ndarray) -> dict:
    """Pearson and Spearman correlation of ``x`` and ``y`` with two-sided p-values."""
    from scipy import stats

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"correlation needs two 1-D arrays of equal length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError(f"correlation needs at least 3 points, got {len(x)}")
    if not (x.std() > 0 and y.std() > 0):  # undefined for a constant input: say so, don't guess
        nan = float("nan")
        return {"pearson_r": nan, "pearson_p": nan, "spearman_r": nan, "spearman_p": nan, "n": int(len(x))}
    pr = stats.pearsonr(x, y)
    sr = stats.spearmanr(x, y)
    return {"pearson_r": float(pr.statistic), "pearson_p": float(pr.pvalue),
            "spearman_r": float(sr.statistic), "spearman_p": float(sr.pvalue), "n": int(len(x))}

def blur_sizes(manifest_rows: list[dict], names: list[str], *, split: str = "test") -> np.ndarray:
    """Mean blur size (px) of each image ``"<scene>/<stem>"`` from the WILD manifest rows.

    ``manifest_rows``: :func:`repro.wild.read_manifest`. Raises ``KeyError`` naming an image
    that the manifest does not list (e.g. a dataset built by another tool).
    """
    from pathlib import PurePosixPath

    table = {}
    for r in manifest_rows:
        if r.get("split") == split and r.get("accepted") and r.get("blur"):
            p = PurePosixPath(r["blur"])
            table[f"{p.parent.parent.name}/{p.stem}"] = float(r["blur_size"])
    missing = [n for n in names if n not in table]
    if missing:
        raise KeyError(f"{len(missing)} image(s) not in the manifest's {split!r} split, e.g. {missing[:3]}")
    return np.array([table[n] for n in names])
