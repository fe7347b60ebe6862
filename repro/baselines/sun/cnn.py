"""The patch CNN of Sun et al. (2015, Sec. 3): a 30x30 gray patch -> confidences over the 73
linear motion kernels; its input (luma, standardised patches) and its checkpoint files."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ...core.checkpoint import CheckpointError, read_checkpoint_file
from ...io.files import atomic_path
from .motion_kernels import kernel_labels

__all__ = ["FORMAT", "PATCH", "SunCNNConfig", "SunCNN", "luma", "standardize", "default_checkpoint",
           "save_sun_checkpoint", "load_sun_checkpoint"]

FORMAT = "sun2015/1"
PATCH = 30  # patch side (Sun et al. Sec. 3)


@dataclass
class SunCNNConfig:
    """Architecture of the patch classifier (Sun et al. 2015 Sec. 3, narrower by default)."""

    conv1: int = 32  # channels of the 7x7 convolution (paper: 96)
    conv2: int = 64  # channels of the 5x5 convolution (paper: 256)
    fc: int = 256  # hidden fully-connected units (paper: 1024)
    n_classes: int = 73  # kernels of the base set: 12 lengths x 6 orientations + length 1
    patch: int = PATCH  # input patch side in pixels

    def to_dict(self) -> dict:
        """The fields as a plain dict (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SunCNNConfig":
        """The config stored by :meth:`to_dict` (``ValueError`` for unknown fields)."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown SunCNNConfig fields {sorted(unknown)}")
        return cls(**{k: int(v) for k, v in d.items()})


class SunCNN(nn.Module):
    """Patch classifier: ``(B, 1, 30, 30)`` standardised gray patches -> ``(B, 73)`` logits."""

    def __init__(self, config: SunCNNConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SunCNNConfig()
        if config.patch != PATCH:
            raise ValueError(f"the architecture is built for {PATCH}x{PATCH} patches, got {config.patch}")
        self.features = nn.Sequential(
            nn.Conv2d(1, config.conv1, 7, bias=False),  # 30 -> 24
            nn.BatchNorm2d(config.conv1),  # not in the paper: faster convergence on a CPU budget
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 24 -> 12
            nn.Conv2d(config.conv1, config.conv2, 5, bias=False),  # 12 -> 8
            nn.BatchNorm2d(config.conv2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 8 -> 4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(config.conv2 * 4 * 4, config.fc),
            nn.ReLU(inplace=True),
            nn.Linear(config.fc, config.n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        assert (C, H, W) == (1, PATCH, PATCH), f"expected (B, 1, {PATCH}, {PATCH}) patches, got {tuple(x.shape)}"
        return self.classifier(self.features(x))


def standardize(patches: torch.Tensor, eps: float = 0.02) -> torch.Tensor:
    """Per-patch mean 0 and (about) std 1: ``(p - mean) / (std + eps)``; shape ``(B, 1, P, P)``."""
    mean = patches.mean(dim=(-2, -1), keepdim=True)
    std = patches.std(dim=(-2, -1), keepdim=True)
    return (patches - mean) / (std + eps)


def luma(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` / ``(H, W, 3|4)`` image in [0, 1] -> float32 luma (:func:`repro.io.images.to_gray`)."""
    from ...io.images import to_gray

    return np.asarray(to_gray(image), dtype=np.float32)


def default_checkpoint() -> Path:
    """The shipped checkpoint ``repro/weights/sun2015.pt``."""
    from ...io.paths import weights_dir

    return weights_dir() / "sun2015.pt"


def save_sun_checkpoint(path: str | os.PathLike, model: SunCNN, meta: dict | None = None) -> None:
    """Write ``{"format", "config", "state_dict", "labels", "meta"}`` atomically (plain tensors)."""
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "labels": torch.from_numpy(kernel_labels()),
        "meta": dict(meta or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_sun_checkpoint(path: str | os.PathLike | None = None) -> tuple[SunCNN, dict]:
    """Load a :class:`SunCNN` (eval mode) and its metadata, ``torch.load(weights_only=True)``.

    ``path=None`` loads the shipped checkpoint. Raises :class:`repro.core.checkpoint.CheckpointError`
    (a ``ValueError``) naming the file for a missing, empty, corrupt or mismatched checkpoint.
    """
    path = Path(path) if path is not None else default_checkpoint()
    payload = read_checkpoint_file(
        path, not_found="Sun et al. checkpoint not found (train one with `python -m repro train-sun`)")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a Sun et al. checkpoint (format {got!r}, expected {FORMAT!r})")
    try:
        config = SunCNNConfig.from_dict(payload["config"])
        model = SunCNN(config)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: weights/config do not make a SunCNN: {exc}") from exc
    labels = payload.get("labels")
    if labels is None or not np.allclose(labels.numpy(), kernel_labels()):
        raise CheckpointError(f"{path}: the checkpoint's kernel set differs from this code's 73-kernel set")
    return model.eval(), dict(payload.get("meta", {}))
