"""DeblurNet checkpoints: ``state_dict`` + model config + metadata, loaded safely.

A checkpoint file is a ``torch.save`` of a plain dict::

    {"format": "deblur-wild/1", "config": {...DeblurNetConfig...}, "state_dict": {...},
     "meta": {"preset": ..., "data": ..., "steps": ..., "psnr": ..., "date": ...}}

plus, for training checkpoints, optional ``"optimizer"``/``"scheduler"``/``"train_state"``
entries. Files are written atomically and read with ``torch.load(weights_only=True)``, so an
untrusted file cannot run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .files import atomic_path
from .model import DeblurNet, DeblurNetConfig

FORMAT = "deblur-wild/1"

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "CheckpointError", "FORMAT"]


class CheckpointError(ValueError):
    """A checkpoint file that is missing, corrupt, truncated or does not fit the model."""


def save_checkpoint(path: str | os.PathLike, model: DeblurNet, meta: dict | None = None, **extra: Any) -> None:
    """Write ``model`` (its weights and config), ``meta`` and any ``extra`` entries atomically."""
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict safely (``weights_only=True``), validating its structure."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, expected a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated?): {exc}") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise CheckpointError(f"{path}: not a deblur-wild checkpoint (no 'state_dict'/'config' entries)")
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {payload.get('format')!r}, expected {FORMAT!r}")
    return payload


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[DeblurNet, dict]:
    """Build a :class:`DeblurNet` from a checkpoint; returns ``(model in eval mode, meta)``."""
    payload = load_checkpoint(path, map_location)
    try:
        config = DeblurNetConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config in checkpoint: {exc}") from exc
    model = DeblurNet(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match the model config: {exc}") from exc
    return model.to(map_location).eval(), dict(payload.get("meta", {}))
