"""A checkpoint's gains on named sets of pairs: the mean input PSNR and gain (dB), overall and by
blur size, and Fig. 9's correlation on those pairs (:func:`gains_on`); the validation gain a
network is chosen on (:func:`validation_gains`). :mod:`repro.evaluate.diversity` and
:mod:`repro.evaluate.long_run` report them; :mod:`repro.train.ship` chooses with them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

import numpy as np

from ..io.reports import BLUR_BINS, blur_bin_label

__all__ = ["RESIDUAL_R", "RESIDUAL_R_NOTE", "PairSet", "gains_on", "checkpoint_rows", "validation_gains"]

log = logging.getLogger(__name__)

RESIDUAL_R = "residual-blur r"  # a gains row's Pearson r of residual norm and blur size (Fig. 9 on its pairs)

RESIDUAL_R_NOTE = (f"'{RESIDUAL_R}': on those pairs, the Pearson correlation of the norm of the residual N3 adds "
                   "with the blur size (Fig. 9's measure).")  # the reports' explanation of that column

@dataclass(frozen=True)
class PairSet:
    """Pairs an arm is measured on: ``root/split``, shown as ``label``."""

    label: str
    root: Path
    split: str
    limit: int | None = None  # at most this many pairs (evenly spaced); None = all

def gains_on(model, pairs: PairSet, *, device: str = "cpu", precision: str = "auto") -> dict:
    """Mean input PSNR and mean gain (dB) of ``model`` on ``pairs``, overall and per blur-size bin
    (:data:`repro.io.reports.BLUR_BINS`, blur sizes from the dataset's manifest), and Fig. 9's measure on
    these pairs: the Pearson correlation of N3's residual norm with the blur size (``None`` below 3
    pairs or where either is constant)."""
    from .records import blur_sizes, correlation, residual_norms
    from ..io.datasets import PairedFolder, evenly_spaced
    from ..wild import read_manifest

    dataset = PairedFolder(pairs.root, pairs.split)
    record = residual_norms(model, dataset, device=device, indices=evenly_spaced(len(dataset), pairs.limit),
                            precision=precision)
    gains = record.psnr_restored - record.psnr_blurry
    sizes = blur_sizes(read_manifest(pairs.root / "manifest.csv"), record.names, split=pairs.split)
    row = {"set": pairs.label, "n": len(gains), "input dB": float(record.psnr_blurry.mean()),
           "gain dB": float(gains.mean()), "residual": float(record.residual_l1.mean())}
    for lo, hi in zip(BLUR_BINS[:-1], BLUR_BINS[1:]):
        inside = (sizes >= lo) & (sizes < hi)
        row[blur_bin_label(lo, hi)] = float(gains[inside].mean()) if inside.any() else None
    r = correlation(record.residual_l1, sizes)["pearson_r"] if len(gains) >= 3 else float("nan")
    row[RESIDUAL_R] = None if np.isnan(r) else r
    return row

def checkpoint_rows(checkpoints: dict[str, Path], sets: list[PairSet], *, device: str = "cpu",
                    precision: str = "auto") -> list[dict]:
    """One row per (checkpoint, pair set): :func:`gains_on` with the checkpoint's name as ``arm``.
    A checkpoint that is not there yet, or a pair set that was not built, is skipped (with a warning
    for the checkpoint)."""
    from ..core.inference import load_deblurnet

    rows = []
    for name, path in checkpoints.items():
        if not path.is_file():
            log.warning("%s: not trained yet, skipped", path)
            continue
        model = load_deblurnet(path, device=device)
        for pairs in sets:
            if (pairs.root / pairs.split).is_dir():
                rows.append({"arm": name, **gains_on(model, pairs, device=device, precision=precision)})
    return rows

def validation_gains(rows: list[dict], *, names: Collection[str]) -> dict[str, float]:
    """Each arm's (of ``names``, e.g. not a reference's) mean gain over the pairs of every
    validation set together (each set weighted by its number of pairs): the number the data are
    chosen on."""
    total: dict[str, list[float]] = {}
    for r in rows:
        if r["arm"] in names and r["set"].startswith("val"):
            acc = total.setdefault(r["arm"], [0.0, 0])
            acc[0] += r["gain dB"] * r["n"]
            acc[1] += r["n"]
    return {arm: g / n for arm, (g, n) in total.items() if n}
