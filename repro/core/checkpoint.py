"""DeblurNet checkpoints: ``state_dict`` + model config + metadata, loaded safely.

A checkpoint file is a ``torch.save`` of a plain dict::

    {"format": "deblur-wild/1", "config": {...DeblurNetConfig...}, "state_dict": {...},
     "meta": {"preset": ..., "data": ..., "steps": ..., "psnr": ..., "date": ...}}

plus, for training checkpoints, optional ``"optimizer"``/``"scheduler"``/``"train_state"``
entries. Files are written atomically and read with ``torch.load(weights_only=True)``, so an
untrusted file cannot run code.

The shipped weights (``repro/weights/*.pt``) store their filters in float16 and their vectors in
float32, half the bytes (:func:`store_checkpoint`, :func:`cast_state_dict`; each card's ``stored``
entry says how far that moves an image's PSNR: within 0.01 dB). Loading copies them into the model's own parameters
(``load_state_dict`` casts), so every loader gets a float32 model whatever the file stores.
Training and user checkpoints stay float32.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..io.files import atomic_path, check_input_file
from .model import DeblurNet, DeblurNetConfig

FORMAT = "deblur-wild/1"

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint_file", "load_model", "describe_checkpoint",
           "CheckpointError", "FORMAT", "STORED_DTYPES", "cast_state_dict", "stored_dtype", "store_checkpoint"]

# how a checkpoint may store its floating-point tensors (the model computes in float32 either way)
STORED_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive (since torch 1.6)


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


def cast_state_dict(state_dict: dict[str, torch.Tensor], stored: str) -> dict[str, torch.Tensor]:
    """``state_dict`` with its filters and matrices (floating-point tensors of 2 or more dimensions,
    all but a few thousandths of the weights) cast to ``stored`` (a key of :data:`STORED_DTYPES`).
    Vectors (biases, batch norm's scales, shifts and running statistics) stay float32: on the
    shipped DeblurNet^WILD, rounding them too moved a near-sharp test image by 0.011 dB, keeping
    them moved none by more than 0.0024 dB (``experiments/fp16_weights/``), for 0.2 % more bytes.
    Integer tensors (``num_batches_tracked``) as they are."""
    if stored not in STORED_DTYPES:
        raise ValueError(f"stored must be one of {', '.join(STORED_DTYPES)}, got {stored!r}")
    dtype = STORED_DTYPES[stored]
    return {k: v.to(dtype if v.ndim >= 2 else torch.float32) if v.is_floating_point() else v
            for k, v in state_dict.items()}


def stored_dtype(state_dict: dict[str, torch.Tensor]) -> str:
    """How ``state_dict`` stores its floating-point tensors, as :func:`cast_state_dict` writes
    them: the key of :data:`STORED_DTYPES` of its filters and matrices, with every vector in
    float32; ``"mixed"`` otherwise (``"fp32"`` when it has no floating-point tensor)."""
    def name(v: torch.Tensor) -> str:
        return next((n for n, d in STORED_DTYPES.items() if d == v.dtype), str(v.dtype))

    floats = [v for v in state_dict.values() if v.is_floating_point()]
    bulk = {name(v) for v in floats if v.ndim >= 2} or {"fp32"}
    vectors = {name(v) for v in floats if v.ndim < 2}
    return bulk.pop() if len(bulk) == 1 and vectors <= {"fp32"} else "mixed"


def store_checkpoint(src: str | os.PathLike, dest: str | os.PathLike, stored: str = "fp16") -> Path:
    """Write ``src`` (any checkpoint of this project: DeblurNet's or Sun et al.'s CNN) to ``dest``
    with its ``state_dict`` stored as :func:`cast_state_dict` casts it (fp16: half the bytes of fp32);
    every other entry as it is. ``dest`` may be ``src``. Returns ``dest``."""
    payload = read_checkpoint_file(src)
    if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{src}: not a checkpoint of this project (no 'state_dict' entry)")
    payload["state_dict"] = cast_state_dict(payload["state_dict"], stored)
    with atomic_path(dest) as tmp:
        torch.save(payload, tmp)
    return Path(dest)


def read_checkpoint_file(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                         not_found: str = "checkpoint not found") -> object:
    """What ``torch.load(path, weights_only=True)`` reads, or a :class:`CheckpointError` naming the
    file when it is missing (``not_found`` says so), a folder, empty or unreadable. The caller
    checks the structure of what it expects."""
    path = Path(path)
    check_input_file(path, "checkpoint", missing=not_found, empty="checkpoint file is empty", error=CheckpointError)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        with open(path, "rb") as f:
            head = f.read(4)
        raise CheckpointError(f"{path}: {_unreadable_reason(head, exc)}") from exc


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict safely (``weights_only=True``), validating its structure."""
    payload = read_checkpoint_file(path, map_location)
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise CheckpointError(f"{path}: not a deblur-wild checkpoint (no 'state_dict'/'config' entries)")
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {payload.get('format')!r}, expected {FORMAT!r}")
    return payload


def _unreadable_reason(head: bytes, exc: BaseException) -> str:
    """Why ``torch.load`` failed, in words, from the file's first bytes and the exception."""
    if head != _ZIP_MAGIC:
        return "not a PyTorch checkpoint (torch.save writes a zip archive; this file is not one)"
    text = str(exc)
    if "central directory" in text:
        return "truncated or corrupt checkpoint (its zip archive has no end; was the copy or download cut short?)"
    if "Weights only load failed" in text:
        return ("holds Python objects besides tensors and plain data, which safe loading (weights_only) refuses; "
                "only load files you trust, and re-save them with repro.core.checkpoint.save_checkpoint")
    return f"corrupt checkpoint: torch cannot read its archive ({type(exc).__name__})"


def _shape_mismatch(model: DeblurNet, state_dict: dict) -> str:
    """One line on how ``state_dict`` differs from ``model``'s: missing, unexpected, other shapes."""
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing, unexpected = sorted(own.keys() - given.keys()), sorted(given.keys() - own.keys())
    reshaped = [k for k in own if k in given and own[k] != given[k]]
    parts = []
    if reshaped:
        k = reshaped[0]
        parts.append(f"{len(reshaped)} tensors have other shapes (e.g. {k}: {given[k]} in the file, "
                     f"{own[k]} in the model)")
    if missing:
        parts.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
    return "; ".join(parts) or "the tensors do not load"


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[DeblurNet, dict]:
    """Build a :class:`DeblurNet` from a checkpoint; returns ``(model in eval mode, meta)``."""
    payload = load_checkpoint(path, map_location)
    try:
        config = DeblurNetConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config in checkpoint: {exc}") from exc
    model = DeblurNet(config)
    try:  # copies into the model's float32 tensors: float16-stored weights come back upcast
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes (width "
                              f"{config.width:g}): {_shape_mismatch(model, payload['state_dict'])}") from exc
    return model.to(map_location).eval(), dict(payload.get("meta", {}))


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def continuing(card: dict, root: Path | None = None) -> str:
    """For a continuation's card (one with ``initialised_from``: ``<runs>/<run>/best.pt (...)``), the
    words after its steps: `` continuing the 21001-step run wild_w0.25 (from its best checkpoint)``,
    the steps read from that run's kept log ``train_<run>.csv`` beside the card's ``training_log``
    (paths relative to ``root``, the repository by default); without that log, the run's name alone.
    ``""`` for a run that started from scratch. A card that lists ``earlier_logs`` (every run it
    continues, oldest first) names each with its steps: `` continuing wild_w0.25_cont (500 steps),
    which continued wild_w0.25 (21001 steps)``."""
    from ..io.paths import repo_root

    init = card.get("initialised_from")
    if not isinstance(init, str) or not init:
        return ""
    earlier = [p for p in card.get("earlier_logs") or [] if isinstance(p, str)]
    if earlier:  # the card lists the kept logs of every run it continues, oldest first
        runs = [f"{_log_run(p)} ({_log_steps((root or repo_root()) / p)} steps)" for p in earlier]
        return " continuing " + ", which continued ".join(reversed(runs))
    checkpoint = Path(init.split(" (")[0])
    run, which = checkpoint.parent.name, ("its best checkpoint" if checkpoint.stem == "best" else checkpoint.name)
    log = card.get("training_log")
    parent_log = (root or repo_root()) / Path(log).parent / f"train_{run}.csv" if isinstance(log, str) else None
    if parent_log is None or not parent_log.is_file():
        return f" continuing run {run} (from {which})"
    return f" continuing the {_log_steps(parent_log)}-step run {run} (from {which})"


def _log_run(log: str) -> str:
    """The run a kept log ``.../train_<run>.csv`` belongs to."""
    stem = Path(log).stem
    return stem[len("train_"):] if stem.startswith("train_") else stem


def _log_steps(log: Path) -> int | str:
    """The last step a kept training log records ("?" where the log is not there)."""
    import csv

    if not log.is_file():
        return "?"
    with open(log, newline="") as f:
        return max((int(r["step"]) for r in csv.DictReader(line for line in f if not line.startswith("#"))
                    if r.get("step")), default=0)


def describe_checkpoint(path: str | os.PathLike, config: DeblurNetConfig, meta: dict) -> str:
    """One short line about a checkpoint: its file name, its model, and its card's key fields.

    The card is the JSON file beside the checkpoint (``deblurnet_wild.json``); without one the
    checkpoint's own ``meta`` is used. E.g. ``deblurnet_wild.pt: DeblurNet width 0.25, trained on
    wild, preset fast, 10152 steps, PSNR 35.50 dB (input 35.51 dB), 2026-11-26``.
    """
    import json

    path = Path(path)
    card = dict(meta)
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        try:
            card.update(json.loads(card_path.read_text()))
        except (OSError, ValueError):
            pass  # a broken card is no reason to refuse the weights; the line just says less
    parts = [f"DeblurNet width {config.width:g}"]
    if card.get("data"):
        parts.append(f"trained on {card['data']}")
    if card.get("preset"):
        parts.append(f"preset {card['preset']}")
    if _number(card.get("steps")) is not None:
        parts.append(f"{int(_number(card['steps']))} steps" + continuing(card))
    psnr, inp = _number(card.get("psnr", card.get("final_psnr"))), _number(card.get("input_psnr"))
    if psnr is not None:
        parts.append(f"PSNR {psnr:.2f} dB" + (f" (input {inp:.2f} dB)" if inp is not None else ""))
    if card.get("date"):
        parts.append(str(card["date"]).split()[0])
    return f"{path.name}: " + ", ".join(parts)
