"""deblur-wild: a reproducible study of "Motion Deblurring in the Wild" (Noroozi et al., GCPR 2017)."""

from __future__ import annotations

__version__ = "0.1.0"

from .model import DeblurNet, DeblurNetConfig, multiscale_loss  # noqa: E402

__all__ = ["DeblurNet", "DeblurNetConfig", "multiscale_loss", "deblur", "__version__"]


def deblur(*args, **kwargs):
    """Deblur one image; see :func:`repro.inference.deblur`."""
    from .inference import deblur as _deblur

    return _deblur(*args, **kwargs)
