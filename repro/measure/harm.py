"""The do-no-harm measures (issue 41) of one network on validation pairs, and the score the
do-no-harm recipe is chosen on: the identity PSNR on sharp frames (:func:`identity_score`), the
gains binned by how sharp the input already is (:func:`gains_by_input_psnr`), the still split's
roots (:func:`still_roots`), one checkpoint's row (:func:`harm_rows`) and its score
(:func:`choice_score`). :mod:`repro.evaluate.harm` reports them; :mod:`repro.train.ship` ships a
network only if its score beats the shipped one's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.reports import PSNR_BINS, psnr_bin_label

__all__ = ["IDENTICAL", "gains_by_input_psnr", "identity_score", "still_roots", "pair_record", "harm_rows", "choice_score"]

IDENTICAL = "identical (N = 1)"  # pairs whose input is the sharp frame: output PSNR, not a gain


def gains_by_input_psnr(psnr_in: np.ndarray, psnr_out: np.ndarray) -> dict[str, dict]:
    """Pairs binned by input PSNR (``(n,)`` dB each): per bin ``{"n", "gain"}`` (mean gain in dB,
    None for an empty bin), and under :data:`IDENTICAL` the pairs whose input PSNR is ``inf``:
    ``{"n", "output"}`` (their mean output PSNR, which is the identity PSNR on those frames).

    >>> bins = gains_by_input_psnr(np.array([28.0, 41.0, np.inf]), np.array([29.0, 40.5, 50.0]))
    >>> bins["< 30 dB"], bins[">= 40 dB"], bins["identical (N = 1)"]
    ({'n': 1, 'gain': 1.0}, {'n': 1, 'gain': -0.5}, {'n': 1, 'output': 50.0})
    """
    psnr_in, psnr_out = np.asarray(psnr_in, dtype=float), np.asarray(psnr_out, dtype=float)
    if psnr_in.shape != psnr_out.shape or psnr_in.ndim != 1:
        raise ValueError(f"expected two (n,) arrays of PSNRs, got {psnr_in.shape} and {psnr_out.shape}")
    finite = np.isfinite(psnr_in)
    out: dict[str, dict] = {}
    for lo, hi in zip(PSNR_BINS[:-1], PSNR_BINS[1:]):
        inside = finite & (psnr_in >= lo) & (psnr_in < hi)
        gain = psnr_out[inside] - psnr_in[inside]
        out[psnr_bin_label(lo, hi)] = {"n": int(inside.sum()), "gain": float(gain.mean()) if inside.any() else None}
    same = ~finite
    out[IDENTICAL] = {"n": int(same.sum()), "output": float(np.mean(psnr_out[same])) if same.any() else None}
    return out

def identity_score(model, roots: list[Path], *, split: str = "val", device: str = "cpu",
                   precision: str = "auto") -> dict:
    """The identity PSNR: ``model`` on every sharp frame of ``split`` of each of ``roots``, its
    output against that frame; ``{"mean", "min", "n", "per_root": {root name: mean}}`` in dB
    (an exactly reproduced frame counts as 100 dB, so one cannot make the mean infinite)."""
    from ..io.datasets import PairedFolder
    from .records import identity_psnr

    values, per_root = [], {}
    for root in roots:
        if not (Path(root) / split).is_dir():
            raise FileNotFoundError(f"{root}/{split}: no pairs there to measure the identity PSNR on")
        p = np.minimum(identity_psnr(model, PairedFolder(root, split), device=device, precision=precision), 100.0)
        per_root[Path(root).name] = float(p.mean())
        values.append(p)
    allv = np.concatenate(values)
    return {"mean": float(allv.mean()), "min": float(allv.min()), "n": int(allv.size), "per_root": per_root}

def still_roots(data: Path) -> list[Path]:
    """The still split's roots under ``data`` that are built (``still_bundled``, ``still_corpus``)."""
    return [data / name for name in ("still_bundled", "still_corpus") if (data / name).is_dir()]

def pair_record(model, root: Path, split: str, *, device: str, precision: str):
    """:func:`repro.measure.records.residual_norms` of ``model`` on every pair of ``root/split``
    (input and output PSNRs, N3's residual norms)."""
    from ..io.datasets import PairedFolder
    from .records import residual_norms

    return residual_norms(model, PairedFolder(root, split), device=device, precision=precision)

def harm_rows(model, *, wild_roots: list[Path], still: list[Path], split: str = "val", device: str = "cpu",
              precision: str = "auto") -> dict:
    """One checkpoint's do-no-harm measures on ``split`` (never test while choosing): the identity
    PSNR over ``wild_roots``' sharp frames, the mean gain on their WILD pairs, and the still split's
    gains by input PSNR (``still`` roots pooled)."""
    ident = identity_score(model, wild_roots, split=split, device=device, precision=precision)
    wild = [pair_record(model, r, split, device=device, precision=precision) for r in wild_roots]
    wild_in = np.concatenate([r.psnr_blurry for r in wild])
    wild_gain = float(np.mean(np.concatenate([r.psnr_restored for r in wild]) - wild_in))
    row = {"identity": ident["mean"], "identity_min": ident["min"], "wild_gain": wild_gain, "n_wild": int(wild_in.size)}
    if still:
        records = [pair_record(model, r, split, device=device, precision=precision) for r in still]
        row["still"] = gains_by_input_psnr(np.concatenate([r.psnr_blurry for r in records]),
                                           np.concatenate([r.psnr_restored for r in records]))
    return row

def choice_score(row: dict) -> float:
    """The number the do-no-harm recipe is chosen on (validation only): the mean gain on the WILD
    validation pairs plus the mean gain on the still validation pairs with a finite input PSNR,
    pair-weighted within each, the two sets weighted alike (deblur where there is blur, leave
    alone where there is none)."""
    still = row.get("still") or {}
    n = sum(b["n"] for k, b in still.items() if k != IDENTICAL)
    if not n:
        return row["wild_gain"]
    still_gain = sum(b["n"] * b["gain"] for k, b in still.items() if k != IDENTICAL and b["n"]) / n
    return row["wild_gain"] + still_gain
