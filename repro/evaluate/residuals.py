"""Residual analysis behind Figs. 9 and 10: does N3's residual grow with the blur size? (Also the per-image and per-blur-size gains of Table 2 and of the photo arms.)

For every test image the L1 norm of the residual that DeblurNet's last stage adds
(``r3 = o3 - N3's input upsampled``; see :class:`repro.core.model.DeblurNetOutput`) is compared with
the image's mean blur size (the per-pixel optical-flow trajectory length integrated over the
averaging window, written by the WILD builder). Both are normalised to mean 0 and std 1 as in
the paper, and their Pearson and Spearman correlations (with p-values) are reported.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.devices import resolve_device
from ..core.precision import autocast, resolve_precision, to_precision_format
from ..io.reports import BLUR_BINS, blur_bin_label
from ..measure.records import ResidualRecord, blur_sizes, correlation, identity_psnr, residual_norms

__all__ = ["ResidualRecord", "residual_norms", "residual_rows", "residual_examples", "standardize", "correlation", "extremes",
           "blur_sizes", "manifest_summary", "identity_psnr", "BLUR_BINS", "blur_bin_label", "gains_by_blur",
           "gains_by_input_psnr_columns"]


def residual_rows(record: ResidualRecord, blur: np.ndarray) -> list[dict]:
    """One row per image of ``record`` for ``residual_per_image.csv`` (what Fig. 9 and the claims'
    correlation intervals are computed from): name, blur size (px, ``blur``: ``(n,)`` in the
    record's order), N3's residual mean |r3|, PSNR of the input and of the restored image."""
    blur = np.asarray(blur, dtype=np.float64)
    if blur.shape != (len(record.names),):
        raise ValueError(f"blur has shape {blur.shape}, the record {len(record.names)} images")
    return [{"name": n, "blur_px": float(b), "residual_l1": float(r), "psnr_blurry": float(pb),
             "psnr_restored": float(pr)}
            for n, b, r, pb, pr in zip(record.names, blur, record.residual_l1, record.psnr_blurry, record.psnr_restored)]


def standardize(x: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` (population std). A constant array (e.g. the residuals of an
    untrained, zero-initialised network) has no spread to normalise: it maps to zeros."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std()
    if not sd > 0:
        return np.zeros_like(x)
    return (x - x.mean()) / sd


def extremes(values: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` largest (descending) and ``k`` smallest (ascending) values (Fig. 10)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    k = min(k, len(values))
    return order[::-1][:k], order[:k]


@torch.no_grad()
def residual_examples(model: torch.nn.Module, dataset, indices, *, device: str = "auto",
                      precision: str = "auto") -> list[dict]:
    """Fig. 10 rows: ``input``, ``residual`` (N3's, ``(H, W, 3)`` signed), ``deblurred``, ``sharp``
    (the network run in ``precision``, as :func:`residual_norms`)."""
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    model = to_precision_format(model.to(dev).eval(), precision)
    rows = []
    for i in indices:
        blurry, sharp = dataset[int(i)]
        with autocast(precision, dev):
            out = model(to_precision_format(blurry.unsqueeze(0).to(dev), precision))
        to_np = lambda t: t[0].float().permute(1, 2, 0).cpu().numpy()  # noqa: E731
        rows.append({"input": blurry.permute(1, 2, 0).numpy(), "residual": to_np(out.residuals[2]),
                     "deblurred": np.clip(to_np(out.restored), 0, 1), "sharp": sharp.permute(1, 2, 0).numpy(),
                     "name": dataset.names[int(i)] if hasattr(dataset, "names") else str(i)})
    return rows


def gains_by_blur(per_image: list[dict], sizes: dict[str, float], *, edges: tuple[float, ...] = BLUR_BINS,
                  baseline: str = "identity", bin_label=blur_bin_label) -> list[dict]:
    """Mean PSNR gain (dB) of each method over ``baseline`` on all images and per blur-size bin.

    ``per_image``: rows with ``method``, ``name``, ``psnr`` and ``error`` (``table2_per_image.csv``
    or ``evaluate(...)["per_image"]``); a row with an error or no PSNR is left out. ``sizes``:
    image name -> blur size (px), e.g. from :func:`blur_sizes`. Bin ``i`` holds sizes in
    ``[edges[i], edges[i+1])``. Only images that both the method and the baseline scored count.
    Returns one row per method (in order of appearance, the baseline left out): ``method``, the
    mean gain over all images, the number better than the baseline, and one mean per bin
    (``None`` where the method scored no image of the bin). Each column name gives the bin's
    number of baseline images, so every row has the same columns; a method that failed on some
    image is averaged over those it scored (its "better than" count says over how many).
    ``sizes`` may hold any per-image quantity binned by ``edges`` and named by ``bin_label(lo, hi)``,
    e.g. the input's PSNR (:func:`gains_by_input_psnr_columns`).
    """
    if list(edges) != sorted(edges) or len(edges) < 2:
        raise ValueError(f"edges must be increasing, at least two, got {edges}")
    psnrs: dict[str, dict[str, float]] = {}
    for r in per_image:
        value = r.get("psnr")
        if r.get("error") or value in (None, ""):
            continue
        psnrs.setdefault(r["method"], {})[r["name"]] = float(value)
    if baseline not in psnrs:
        raise ValueError(f"no rows of the baseline {baseline!r} among the methods {sorted(psnrs)}")
    base = psnrs[baseline]
    unknown = sorted(n for n in base if n not in sizes)
    if unknown:
        raise KeyError(f"no blur size for {len(unknown)} image(s), e.g. {unknown[:3]}")
    bins = list(zip(edges[:-1], edges[1:]))
    base_size = np.array([sizes[n] for n in base])
    columns = [f"{bin_label(lo, hi)} (n={int(((base_size >= lo) & (base_size < hi)).sum())})" for lo, hi in bins]
    out = []
    for method, scores in psnrs.items():
        if method == baseline:
            continue
        names = [n for n in base if n in scores]
        gain = np.array([scores[n] - base[n] for n in names])
        size = np.array([sizes[n] for n in names])
        row = {"method": method, f"all (n={len(base)})": float(gain.mean()) if names else None,
               "better than the input": f"{int((gain > 0).sum())} of {len(names)}"}
        for column, (lo, hi) in zip(columns, bins):
            inside = (size >= lo) & (size < hi)
            row[column] = float(gain[inside].mean()) if inside.any() else None
        out.append(row)
    return out


def manifest_summary(manifest_rows: list[dict]) -> list[dict]:
    """Per split: windows tried, accepted, acceptance rate, N, flow statistic, blur size, reasons."""
    from collections import Counter

    out = []
    for split in sorted({r["split"] for r in manifest_rows}):
        rows = [r for r in manifest_rows if r["split"] == split]
        acc = [r for r in rows if r["accepted"]]
        reasons = Counter(str(r.get("reason", "")).split(":")[0].split(" ")[0] for r in rows if not r["accepted"])
        blur = np.array([r["blur_size"] for r in acc]) if acc else np.array([np.nan])
        out.append({
            "split": split, "windows tried": len(rows), "accepted": len(acc),
            "acceptance %": 100.0 * len(acc) / max(len(rows), 1),
            "N mean": float(np.mean([r["n"] for r in acc])) if acc else float("nan"),
            "blur size median (px)": float(np.nanmedian(blur)),
            "blur size 90th pct (px)": float(np.nanpercentile(blur, 90)),
            "rejections": ", ".join(f"{k}: {v}" for k, v in reasons.most_common()) or "none",
        })
    return out


def residual_grid(examples: list[dict]) -> tuple[list[list[np.ndarray]], float]:
    """Fig. 10 rows (input, residual shown as ``0.5 + gain * r``, deblurred, sharp) and the gain.

    The gain maps the largest absolute residual of all examples to 0.5 (grey = 0); an all-zero
    residual (an untrained zero-initialised network) is shown with gain 1.
    """
    peak = max((float(np.abs(e["residual"]).max()) for e in examples), default=0.0)
    gain = 0.5 / peak if peak > 0 else 1.0
    grid = [[e["input"], np.clip(0.5 + gain * e["residual"], 0, 1), e["deblurred"], e["sharp"]] for e in examples]
    return grid, gain


def gains_by_input_psnr_columns(per_image: list[dict], *, baseline: str = "identity") -> dict[str, dict[str, float]]:
    """Per method (the baseline left out), its mean gain over ``baseline`` in each bin of the
    input's PSNR (:data:`repro.evaluate.harm.PSNR_BINS`: < 30, 30-35, 35-40, >= 40 dB), as extra
    columns of a by-blur table: ``{method: {"input < 30 dB (n=4)": gain, ...}}``. The input PSNR
    of an image is ``baseline``'s (the blurry image against the sharp one)."""
    from ..io.reports import PSNR_BINS, psnr_bin_label

    inputs = {r["name"]: float(r["psnr"]) for r in per_image
              if r["method"] == baseline and not r.get("error") and r.get("psnr") not in (None, "")}
    rows = gains_by_blur(per_image, inputs, edges=PSNR_BINS, baseline=baseline,
                         bin_label=lambda lo, hi: f"input {psnr_bin_label(lo, hi)}")
    return {r["method"]: {k: v for k, v in r.items() if k.startswith("input ")} for r in rows}
