"""How much storing a network's weights in fewer bits changes what it does (issue 44): the same
network run in float32 arithmetic with its weights as trained and with them rounded to ``stored``
(``"fp16"``: half the bytes) and loaded back, compared by the PSNR of each output against the
sharp frame, pair by pair. :mod:`repro.train.ship` and the GPU job's export write it into each
card's ``stored`` entry; a network is stored in fewer bits only within :data:`MAX_DELTA_DB`.
``benchmarks/weights_precision.py`` measures the shipped files the same way, with bf16 and int8
beside them.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from ..core.checkpoint import cast_state_dict

__all__ = ["MAX_DELTA_DB", "rounded", "storage_delta", "stored_entry"]

MAX_DELTA_DB = 0.01  # the most a stored form may move any image's PSNR


def rounded(model: torch.nn.Module, stored: str = "fp16") -> torch.nn.Module:
    """A copy of ``model`` whose weights are rounded as :func:`repro.core.checkpoint.cast_state_dict`
    stores them (``stored``: its filters) and back to their own dtype: what loading a checkpoint
    stored that way gives."""
    twin = copy.deepcopy(model)
    state = model.state_dict()
    twin.load_state_dict({k: v.to(state[k].dtype) for k, v in cast_state_dict(state, stored).items()})
    return twin


def storage_delta(model: torch.nn.Module, roots: list[Path], *, split: str = "val", limit: int | None = 8,
                  stored: str = "fp16", device: str = "cpu") -> dict:
    """PSNR of ``model`` (float32 arithmetic) with its weights as they are and :func:`rounded`, on
    ``limit`` evenly spaced pairs of ``split`` of each of ``roots`` (None: all):
    ``{"max_abs_delta_psnr_db", "mean_abs_delta_psnr_db", "images"}``."""
    from ..io.datasets import PairedFolder, evenly_spaced
    from .records import residual_norms

    deltas = []
    twin = rounded(model, stored)
    for root in roots:
        dataset = PairedFolder(root, split)
        indices = evenly_spaced(len(dataset), limit)
        a = residual_norms(model, dataset, device=device, indices=indices, precision="fp32")
        b = residual_norms(twin, dataset, device=device, indices=indices, precision="fp32")
        deltas.append(np.abs(b.psnr_restored - a.psnr_restored))
    if not deltas or not sum(map(len, deltas)):
        raise ValueError(f"storage_delta: no {split} pairs under {[str(r) for r in roots]}")
    d = np.concatenate(deltas)
    return {"max_abs_delta_psnr_db": round(float(d.max()), 5), "mean_abs_delta_psnr_db": round(float(d.mean()), 5),
            "images": int(d.size)}


def stored_entry(model: torch.nn.Module, roots: list[Path], *, split: str = "val", limit: int | None = 8,
                 device: str = "cpu") -> dict:
    """A card's ``stored`` entry: ``"fp16"`` when rounding moves no measured image's PSNR by more
    than :data:`MAX_DELTA_DB`, else ``"fp32"``, with the measure either way (the bytes are added
    once the file is written)."""
    delta = storage_delta(model, roots, split=split, limit=limit, device=device)
    where = ", ".join(f"{Path(r).name}/{split}" for r in roots)
    return {"dtype": "fp16" if delta["max_abs_delta_psnr_db"] <= MAX_DELTA_DB else "fp32", **delta,
            "measured_by": f"repro.measure.storage on {delta['images']} pairs of {where} (float32 arithmetic)"}
