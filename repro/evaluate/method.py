"""The methods Table 2 compares: the :class:`Method` protocol, the blurry input, DeblurNet, and
:func:`make_method`, which builds any method of the table in :mod:`repro.evaluate.methods` by its key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from . import methods as methods_table
from ..io.files import file_sha256
from ..io.paths import weights_dir

__all__ = ["Method", "Identity", "DeblurNetMethod", "make_method", "fingerprint"]

_WEIGHTS_DIR = weights_dir()


@runtime_checkable
class Method(Protocol):
    """A deblurring method: ``deblur`` maps ``(H, W, 3)`` float32 in [0, 1] to the same shape.

    Optional attributes read by :func:`evaluate`: ``parallel: bool`` (default True: CPU-bound,
    run in worker processes; False: run in the main process, e.g. a network on a GPU),
    ``fingerprint: str`` (identifies weights/settings for resuming) and ``describe() -> str``.
    """

    name: str

    def deblur(self, image: np.ndarray) -> np.ndarray: ...


@dataclass
class Identity:
    """The blurry input itself."""

    name: str = "identity"
    parallel: bool = False  # nothing to compute

    def deblur(self, image: np.ndarray) -> np.ndarray:
        return np.array(image, dtype=np.float32, copy=True)


class DeblurNetMethod:
    """DeblurNet from a checkpoint; the network is loaded on the first :meth:`deblur` call.

    ``checkpoint=None`` takes the shipped ``repro/weights/deblurnet_wild.pt`` (names containing
    "si": ``deblurnet_si.pt``); a missing file is an error (never a random network). Runs in the
    main process (``parallel = False``) on ``device``; ``tile`` and ``self_ensemble`` (the x8
    flips and turns, :class:`repro.core.inference.SelfEnsemble`) as :func:`repro.core.inference.deblur`.
    ``precision`` ("auto", "fp32", "bf16"; :mod:`repro.core.precision`) is resolved here, on ``device``:
    a bf16 run's fingerprint ends in ``:bf16``, so a resumed table never mixes its rows with float32
    ones (float32 keeps the fingerprint rows had before the option existed).
    """

    parallel = False

    def __init__(self, checkpoint: str | os.PathLike | None, name: str = "deblurnet-wild", device: str = "auto",
                 tile: int | None = 512, self_ensemble: bool = False, precision: str = "auto") -> None:
        from ..core.precision import check_precision

        self.name = name
        check_precision(precision)
        if checkpoint is None:
            shipped = "deblurnet_si.pt" if name.endswith("si") else "deblurnet_wild.pt"
            checkpoint = _WEIGHTS_DIR / shipped
            if not checkpoint.is_file():
                raise FileNotFoundError(f"{checkpoint}: no shipped weights for {name!r}; train them "
                                        "(python -m repro train) or pass a checkpoint")
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"{self.checkpoint}: checkpoint for {name!r} not found")
        self.device = device
        self.tile = tile
        self.self_ensemble = self_ensemble
        self.precision = precision if precision != "auto" else _resolved(precision, device)  # "fp32" or "bf16"
        self.fingerprint = (f"{name}:sha256={file_sha256(self.checkpoint)[:16]}" + (":x8" if self_ensemble else "")
                            + (":bf16" if self.precision == "bf16" else ""))
        self.meta: dict = {}
        self._model = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None  # reload in the other process rather than pickling weights
        return state

    def _load(self):
        if self._model is None:
            from ..core.checkpoint import load_model
            from ..core.devices import resolve_device

            model, self.meta = load_model(self.checkpoint)
            self._model = model.to(resolve_device(self.device)).eval()
        return self._model

    def describe(self) -> str:
        self._load()
        keys = ("preset", "data", "steps", "psnr", "date")
        meta = ", ".join(f"{k}={self.meta[k]}" for k in keys if k in self.meta)
        return (f"{self.checkpoint.name} ({self.fingerprint.split(':')[1]}{', ' + meta if meta else ''}), "
                f"run in {self.precision}")

    def deblur(self, image: np.ndarray) -> np.ndarray:
        from ..core.inference import deblur as _deblur

        model = self._load()
        return _deblur(np.asarray(image, dtype=np.float32), model=model, tile=self.tile,
                       self_ensemble=self.self_ensemble, precision=self.precision)


def _resolved(precision: str, device: str) -> str:
    """``precision`` resolved on ``device`` (imports torch: only a network calls this)."""
    from ..core.devices import resolve_device
    from ..core.precision import resolve_precision

    return resolve_precision(precision, resolve_device(device))


def make_method(name: str, *, checkpoint: str | os.PathLike | None = None, device: str = "auto",
                **options) -> Method:
    """A :class:`Method` by its key in :data:`repro.evaluate.methods.METHODS` (see :func:`repro.evaluate.methods.build`).

    ``checkpoint``: weights for methods that have them (DeblurNet, the kernel CNN of ``sun``;
    None = shipped). ``device`` for DeblurNet. Other ``options`` go to the method's constructor.
    Raises ``ValueError`` for an unknown name or a method whose module cannot be imported.
    """
    return methods_table.build(name, checkpoint=checkpoint, device=device, **options)


def fingerprint(method: Method) -> str:
    """What identifies ``method``'s results for resuming: its ``fingerprint``, else its name and class."""
    fp = getattr(method, "fingerprint", None)
    return str(fp) if fp else f"{method.name}:{type(method).__module__}.{type(method).__qualname__}"
