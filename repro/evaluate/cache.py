"""Per-image results of the slow methods, kept between runs: one small JSON record per (method,
settings, image, shift radius), so that a Table 2 rerun with new networks runs only the networks.

The classical baselines take 10-60 s an image and do not change when the networks do; their
records live in a git-ignored folder (``runs/eval_cache/`` for ``make reproduce``). A record is
found by a key that hashes the method's fingerprint (:func:`repro.evaluate.method.fingerprint`),
its settings (:func:`method_settings`: every plain attribute of the built method, and a digest of
the weights it holds), the pair's content (:func:`repro.evaluate.data.pair_digest`) and the shift
radius, so changed settings, weights or images never reuse a stale record. What the key cannot see
is a change of the method's code: delete the method's folder after such a change.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

from ..io.files import atomic_write_text

__all__ = ["method_settings", "RowCache"]

# attributes that do not change the numbers: labels, progress bars, what ``deblur`` leaves behind
# (the baselines' estimated kernels and motion field), a checkpoint's notes (its weights are digested)
_SKIPPED = {"name", "progress", "parallel", "fingerprint", "kernel", "kernels", "motion_field", "tile_spans", "meta"}
_PLAIN = (bool, int, float, str, type(None))


def _plain(value: object) -> object:
    """``value`` as JSON-able plain data, or None when it is not plain (arrays, models, ...)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)):
        items = [_plain(v) for v in value]
        return items if all(i is not None or v is None for i, v in zip(items, value)) else None
    if isinstance(value, Mapping):
        items = {str(k): _plain(v) for k, v in value.items()}
        return items if all(items[str(k)] is not None or v is None for k, v in value.items()) else None
    return None


def _weights_digest(module: object) -> str:
    """sha256 (16 hex digits) of a torch module's parameters and buffers, in ``state_dict`` order."""
    h = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def method_settings(method: object) -> dict:
    """What sets a method's numbers: its plain public attributes (numbers, strings, tuples and
    dicts of them), and for each attribute holding a network (``state_dict``) a digest of its
    weights. Attributes set by ``deblur`` (arrays, estimated kernels) are not plain and left out."""
    settings = {}
    for key, value in sorted(vars(method).items()):
        if key.startswith("_") or key in _SKIPPED:
            continue
        if hasattr(value, "state_dict"):
            settings[key] = f"weights sha256={_weights_digest(value)}"
        elif (plain := _plain(value)) is not None or value is None:
            settings[key] = plain
    return settings


def _item(value: object) -> object:
    """A numpy scalar as its Python number (json's ``default``); anything else as its text."""
    return value.item() if hasattr(value, "item") else str(value)


class RowCache:
    """A folder of per-image records: ``<folder>/<method>/<key>.json``.

    ``get`` returns a record's metrics (``psnr``, ``ssim``, ``psnr_shift``, ``shift_dy``,
    ``shift_dx``, ``seconds``) or None; ``put`` writes one atomically (rows with an ``error`` are
    not kept, so a crash is retried next time).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    @staticmethod
    def key(fingerprint: str, settings: Mapping, image_sha: str, shift_radius: int) -> str:
        text = json.dumps([fingerprint, settings, image_sha, int(shift_radius)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def _path(self, method: str, key: str) -> Path:
        if not method or any(c in method for c in "/\\"):
            raise ValueError(f"method name must be a plain name for the cache, got {method!r}")
        return self.folder / method / f"{key}.json"

    def get(self, method: str, key: str) -> dict | None:
        path = self._path(method, key)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a record cut short: computed again
        return {k: (math.nan if v is None else v) for k, v in record["metrics"].items()}

    def put(self, method: str, key: str, metrics: Mapping, **about: object) -> None:
        if metrics.get("error"):
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in metrics.items() if k != "error"}
        path = self._path(method, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"method": method, **about, "metrics": clean}, default=_item) + "\n")
