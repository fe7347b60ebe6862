"""deblur-wild: a reproducible study of "Motion Deblurring in the Wild" (Noroozi et al., GCPR 2017).

The names below are imported on first use (PEP 562), so ``import repro`` and
``python -m repro --help`` do not pay for importing torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["DeblurNet", "DeblurNetConfig", "multiscale_loss", "deblur", "__version__"]

_FROM_MODEL = ("DeblurNet", "DeblurNetConfig", "multiscale_loss")


def __getattr__(name: str):
    if name in _FROM_MODEL:
        from .core import model

        return getattr(model, name)
    raise AttributeError(f"module 'repro' has no attribute {name!r}")


def deblur(*args, **kwargs):
    """Deblur one image; see :func:`repro.core.inference.deblur`."""
    from .core.inference import deblur as _deblur

    return _deblur(*args, **kwargs)
