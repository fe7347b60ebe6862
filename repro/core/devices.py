"""Choosing a torch device (torch is imported only when a device is resolved)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N, mps"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(device: str) -> str:
    """``device`` itself when it names a device (see :data:`DEVICE_CHOICES`); a ``ValueError``
    listing the valid names otherwise. Cheap: no torch, no GPU query."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ValueError(f"unknown device {device!r}; choose one of: {DEVICE_CHOICES}")
    return device


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> the first CUDA GPU if there is one, else the CPU; anything else as given.

    Raises ``ValueError`` for an unknown device name (listing the valid ones) and for a CUDA
    device on a machine without one.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA GPU is available here")
    return dev
