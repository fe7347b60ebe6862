"""Validation during training: the pairs a run validates on (the ``val_split`` of one or more
datasets, never their test split) and the PSNR of the restored and of the blurry images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..core.precision import autocast, to_precision_format
from .config import TrainConfig
from .data import _PairCache


@torch.no_grad()
def _validate(model: torch.nn.Module, cache: _PairCache, device: torch.device,
              precision: str = "fp32") -> tuple[float, float]:
    """Mean PSNR (dB) of the restored and of the blurry test images against the sharp ones
    (the network run in the resolved ``precision``, "fp32" or "bf16"; the PSNRs in float32)."""
    from ..core.metrics import psnr_torch

    was_training = model.training
    model.eval()
    out_psnr, in_psnr = [], []
    try:
        for b, s in zip(cache.blur, cache.sharp):
            x = b.to(device, torch.float32).div(255)[None]
            y = s.to(device, torch.float32).div(255)[None]
            with autocast(precision, device):
                restored = model(to_precision_format(x, precision)).restored
            out_psnr.append(float(psnr_torch(restored.float().clamp(0, 1), y)[0]))
            in_psnr.append(float(psnr_torch(x, y)[0]))
    finally:
        model.train(was_training)
    return float(np.mean(out_psnr)), float(np.mean(in_psnr))


def _validation_pairs(val_root: Path, config: TrainConfig, dev: torch.device, workers: int) -> _PairCache:
    """The ``config.val_split`` pairs of ``val_root`` (``config.val_images`` evenly spaced ones, 0 = all)."""
    from ..io.datasets import PairedFolder, evenly_spaced

    n_val = len(PairedFolder(val_root, config.val_split)) if (val_root / config.val_split).is_dir() else 0
    if n_val == 0:
        raise FileNotFoundError(f"{val_root}: no {config.val_split!r} pairs to validate on (build them with "
                                f"`python -m repro build-wild virtual {val_root} --split {config.val_split}`)")
    pick = None
    if config.val_images and config.val_images < n_val:
        pick = evenly_spaced(n_val, config.val_images)
    return _PairCache(val_root, config.val_split, pick=pick, device=dev, workers=workers,
                      desc=f"loading {val_root.name} {config.val_split} pairs")


def validation_set(val_roots: Sequence[Path], config: TrainConfig, dev: torch.device, workers: int) -> _PairCache:
    """The validation pairs of every root in ``val_roots`` together (the later roots' scenes
    prefixed with their folder's name)."""
    cache = None
    for val_root in val_roots:
        one = _validation_pairs(val_root, config, dev, workers)
        if cache is None:
            cache = one
        else:
            cache.extend(one, prefix=val_root.name)
    return cache
