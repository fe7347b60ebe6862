"""Training DeblurNet^WILD and DeblurNet^SI on one CPU, one GPU or several GPUs (DDP).

The paper's recipe (Sec. 3): Adam (beta 0.9, 0.999), learning rate 1e-3 multiplied by 0.75 every
``decay_every`` iterations, batch 10, the three-scale loss ``L1 + L2 + L3``. Every value is a
field of :class:`TrainConfig`; :data:`PRESETS` names the sets used by the project:

* ``smoke``: a few seconds, for the tests;
* ``quick``: the default of ``make reproduce`` on a 2-core CPU (<= 15 minutes per model);
* ``paper``: full width and the paper's schedule, for GPUs;
* ``fast``: ``paper`` with ``quick``'s fast start (see :data:`PRESETS`), for short GPU runs.

A preset that departs from the paper says so in ``TrainConfig.departures`` (copied into the
checkpoint's metadata and the weight cards).

Determinism and resuming: the training batch of step ``s`` is a pure function of
``(seed, s)`` (which pairs, which crops, which flips, which SI kernels and noise), the learning
rate a pure function of ``s``, and every checkpoint holds the model, the optimizer state, the
step, the running loss accumulator and the torch RNG states. ``resume=True`` therefore continues
a killed run along the very loss curve of an uninterrupted one (exactly on the CPU; on a GPU up
to the non-determinism of cuDNN kernels).

Data: ``data="wild"`` trains on the pairs of a WILD dataset (``repro.datasets.PairedFolder``,
``OUT/train/<scene>/{blur,sharp}``); ``data="si"`` blurs the *sharp* frames of the same training
split with random kernels of a :class:`repro.kernels.KernelBank` (through
:func:`repro.synthetic.blur_padded_batch` on the training device: a crop enlarged by the kernel
size, blurred without border effects, then Gaussian noise of std ``si_noise_std``), as the
paper's DeblurNet^SI. Both validate on the WILD
validation split ``val_split`` ("val": photos that neither the training nor the test split uses;
PSNR of the restored image against the sharp frame, plus the blurry input's PSNR as
the reference).

Outputs of a run in ``out``: ``last.pt`` (every ``checkpoint_every`` steps and at the end),
``best.pt`` (best validation PSNR), ``log.csv``; and ``results/train_<run>.csv`` +
``figures/train_<run>.png`` (loss and validation PSNR against steps and minutes).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint, save_checkpoint
from .devices import resolve_device
from .files import atomic_write_text
from .model import LOSS_REDUCTIONS, DeblurNet, DeblurNetConfig, multiscale_loss

__all__ = [
    "TrainConfig",
    "PRESETS",
    "TrainResult",
    "train",
    "lr_at",
    "batch_plan",
    "read_log",
    "plot_training",
    "read_log_header",
    "summarise_log",
    "export_weights",
    "add_arguments",
    "run",
]

log = logging.getLogger(__name__)

LOG_FIELDS = ("step", "epoch", "lr", "loss", "val_psnr", "val_psnr_input", "minutes", "steps_per_s", "data_fraction")


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run. ``TrainConfig()`` is the paper's recipe at full width."""

    name: str = "custom"  # preset name, recorded in checkpoints and cards
    # model (repro.model.DeblurNetConfig)
    width: float = 1.0  # channel multiplier (1.0 = paper, 24.7 M parameters)
    strides: tuple[int, ...] = (2, 1, 1, 2, 1, 1, 1)  # N1 strides (default reading, docs/paper.md)
    batch_norm: bool = True  # BN after every hidden conv (paper)
    zero_init_residual: bool = False  # residual-emitting layers start at 0, i.e. output = input
    skip: bool = True  # each stage adds its output to its (downsampled) input (paper; False: ablation)
    architecture: str = "multiscale"  # "multiscale" (paper) or "single-scale" (ablation; repro.model)
    # optimisation
    steps: int = 200_000  # iterations (the paper trained ~5 days on 2 Titan X; count not given)
    batch_size: int = 10  # paper: 10 (global, split across DDP ranks)
    crop: int = 128  # training crop (paper: not given); multiple of 4
    lr: float = 1e-3  # paper: Adam, 1e-3
    betas: tuple[float, float] = (0.9, 0.999)  # paper
    eps: float = 1e-8  # Adam epsilon (torch default)
    decay_every: int = 10_000  # paper: x0.75 every 10^k iterations (k garbled; 10^4 likely)
    decay_factor: float = 0.75  # paper
    warmup_steps: int = 0  # linear learning-rate warm-up from lr/warmup_steps (0 = none, paper)
    # "step": x decay_factor every decay_every iterations (paper); "cosine": lr * (1 + cos(pi s / steps)) / 2,
    # which anneals to 0 at the last step (decay_every and decay_factor are then unused)
    lr_schedule: str = "step"
    head_lr_scale: float = 1.0  # learning-rate factor of the 3 residual-emitting layers (1 = paper)
    loss_reduction: str = "sum"  # "sum" = the paper's sum of squares; see repro.model.multiscale_loss
    loss_scales: tuple[float, ...] = (1.0, 1.0, 1.0)  # weight of the 1/4, 1/2, full-scale terms (paper: all 1)
    grad_clip: float = 0.0  # clip the gradient norm (0 = off, paper)
    flip: bool = True  # random horizontal flips (augmentation)
    # random 90-degree rotations and vertical flips (with ``flip``: all 8 symmetries of the square)
    # and random permutations of the colour channels; blur and sharp crops are transformed alike,
    # which keeps every pair a valid (scene, motion) pair: the paper uses no augmentation
    rotate: bool = False
    permute_colours: bool = False
    # SI data (data="si")
    si_kernels: int = 100_000  # size of the kernel bank (paper: 10^5)
    si_generator: str = "chakrabarti"  # repro.kernels generator
    si_noise_std: float = 0.01  # Gaussian noise std added to the synthetic blur (Chakrabarti)
    si_kernel_size: int = 41  # kernel canvas (Chakrabarti: 41)
    si_psz: tuple[int, ...] = ()  # Chakrabarti grid sizes cycled over the bank (empty: 24, 16, 8 as the paper)
    # data="wild" only: this fraction of every batch (its first items) is SI blur of the WILD sharp
    # frames instead of WILD pairs (0 = WILD only, the paper's DeblurNet^WILD)
    si_fraction: float = 0.0
    # validation: checkpoints are chosen on this split of the dataset, never on the test split
    val_split: str = "val"
    # initialisation: "" = random (seeded), else a checkpoint whose network weights start the run
    # (same model configuration; its optimizer state is not used)
    init: str = ""
    # bookkeeping
    val_every: int = 0  # validate every N steps (0 = once per epoch of the training pairs)
    val_images: int = 0  # validate on this many evenly spaced test pairs (0 = all)
    checkpoint_every: int = 1000  # write last.pt every K steps (a kill loses <= K steps)
    log_every: int = 10  # one CSV row (mean loss) every N steps
    val_at_start: bool = True  # validate the initial network too (step 0 of the curve)
    max_minutes: float = 0.0  # stop (and checkpoint) after this much training time (0 = off)
    max_pairs: int = 0  # load at most this many training pairs (0 = all)
    # GPU
    amp_bf16: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    channels_last: bool = True  # channels_last memory format on CUDA
    compile: bool = False  # torch.compile the model (CUDA)
    departures: tuple[str, ...] = ()  # how this preset departs from the paper, in words

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "crop", "decay_every", "checkpoint_every", "log_every", "si_kernels",
                    "si_kernel_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"TrainConfig.{key} must be >= 1, got {getattr(self, key)}")
        if self.crop % 4:
            raise ValueError(f"TrainConfig.crop must be a multiple of 4, got {self.crop}")
        if self.loss_reduction not in LOSS_REDUCTIONS:
            raise ValueError(f"TrainConfig.loss_reduction must be one of {LOSS_REDUCTIONS}, got {self.loss_reduction!r}")
        if not self.head_lr_scale > 0:
            raise ValueError(f"TrainConfig.head_lr_scale must be > 0, got {self.head_lr_scale}")
        if self.lr_schedule not in ("step", "cosine"):
            raise ValueError(f"TrainConfig.lr_schedule must be 'step' or 'cosine', got {self.lr_schedule!r}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "departures", tuple(self.departures))
        object.__setattr__(self, "si_psz", tuple(int(p) for p in self.si_psz))
        object.__setattr__(self, "loss_scales", tuple(float(w) for w in self.loss_scales))
        if len(self.loss_scales) != 3 or any(not w >= 0 for w in self.loss_scales) or not any(self.loss_scales):
            raise ValueError(f"TrainConfig.loss_scales must be 3 weights >= 0, not all 0, got {self.loss_scales}")
        if not 0.0 <= self.si_fraction <= 1.0:
            raise ValueError(f"TrainConfig.si_fraction must be in [0, 1], got {self.si_fraction}")
        if self.val_split == "test":
            raise ValueError("TrainConfig.val_split must not be 'test': checkpoints are chosen on validation data")

    def model_config(self) -> DeblurNetConfig:
        return DeblurNetConfig(width=self.width, strides=self.strides, batch_norm=self.batch_norm,
                               zero_init_residual=self.zero_init_residual, skip=self.skip,
                               architecture=self.architecture)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes``; values given as strings (from ``--set k=v``) are converted."""
        types = {f.name: f.type for f in dataclasses.fields(self)}
        fixed = {}
        for k, v in changes.items():
            if k not in types:
                raise ValueError(f"unknown TrainConfig field {k!r}; known: {', '.join(sorted(types))}")
            if isinstance(v, str):
                v = _parse_value(v, getattr(self, k), k)
            fixed[k] = v
        return dataclasses.replace(self, **fixed)


def _parse_value(text: str, current: Any, key: str) -> Any:
    try:
        if isinstance(current, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(current, int):
            return int(float(text)) if "e" in text.lower() else int(text)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, tuple):
            items = [t for t in text.replace("(", "").replace(")", "").split(",") if t.strip()]
            kind = type(current[0]) if current else str
            return tuple(kind(t.strip()) if kind is not str else t.strip() for t in items)
    except ValueError:
        raise ValueError(f"--set {key}={text}: cannot read {text!r} as {type(current).__name__}") from None
    return text


_QUICK_DEPARTURES = (
    "width 0.25 instead of 1 (16x fewer FLOPs: a 2-core CPU budget of 15 minutes)",
    "residual-emitting layers initialised at zero, so training starts from the identity",
    "the paper's sum of squared errors divided by the number of full-resolution elements "
    "(the same weighting of the scales; a loss size independent of crop and batch)",
    "linear learning-rate warm-up over the first 100 steps",
    "learning rate of the three residual-emitting layers x0.1 (Adam moves each of their ~500 "
    "fan-in weights by ~lr per step: at 1e-3 the residual itself jumps by ~0.1-0.2 per step)",
    "96x96 crops (the paper does not give its crop size)",
    "learning rate decayed every 1000 steps instead of 10^4 (the run has ~1-2k steps)",
)

PRESETS: dict[str, TrainConfig] = {
    # seconds, for tests: a tiny network on 32x32 crops
    "smoke": TrainConfig(
        name="smoke", width=0.0625, steps=6, batch_size=2, crop=32, lr=1e-3, decay_every=4,
        zero_init_residual=True, head_lr_scale=0.5, loss_reduction="scaled_sum", val_every=3, val_images=2,
        checkpoint_every=3, log_every=1, departures=("tiny width and crops, for tests only",),
    ),
    # the CPU preset of `make reproduce`: <= 15 minutes per model on 2 cores
    "quick": TrainConfig(
        name="quick", width=0.25, steps=1200, batch_size=10, crop=96, lr=1e-3, decay_every=1000,
        warmup_steps=100, head_lr_scale=0.1, zero_init_residual=True, loss_reduction="scaled_sum", val_every=100,
        val_images=10, checkpoint_every=100, log_every=10, max_minutes=15.0, departures=_QUICK_DEPARTURES,
    ),
    # the CPU recipe of the shipped weights: <= 4 CPU-hours per model on 2 cores, resumable
    "cpu": TrainConfig(
        name="cpu", width=0.25, steps=12_000, batch_size=8, crop=96, lr=1e-3, decay_every=2000,
        warmup_steps=200, zero_init_residual=True, loss_reduction="scaled_sum", val_every=250, val_images=48,
        checkpoint_every=100, log_every=10, max_minutes=240.0, si_kernel_size=13, si_psz=(6, 4, 3),
        rotate=True, permute_colours=True,
        departures=(
            "width 0.25 instead of 1 (16x fewer FLOPs: a budget of 4 CPU-hours on 2 cores)",
            "residual-emitting layers initialised at zero, so training starts from the identity",
            "the paper's sum of squared errors divided by the number of full-resolution elements "
            "(the same weighting of the scales; a loss size independent of crop and batch)",
            "linear learning-rate warm-up over the first 200 steps",
            "batch 8 of 96x96 crops (the paper: batch 10; it does not give its crop size)",
            "learning rate x0.75 every 2000 steps instead of 10^4 (12 000 steps in all)",
            "SI kernels: Chakrabarti's generator on grids of 6, 4 and 3 px (13x13 canvas) instead of "
            "24, 16 and 8 px (41x41), so that their lengths (median 10 px, 90th percentile 18 px) match "
            "the WILD blur sizes; the paper's grids give a median of 53 px",
            "augmentation: the 8 flips and quarter turns of the crop and permuted colour channels, "
            "the same for blur and sharp (the paper names none; without them the network memorised "
            "the three training backgrounds: +1.35 dB on training pairs, +0.31 dB on validation)",
        ),
    ),
    # full width, the paper's schedule, for GPUs
    "paper": TrainConfig(
        name="paper", width=1.0, steps=200_000, batch_size=10, crop=128, decay_every=10_000,
        loss_reduction="sum", val_every=2000, val_images=0, checkpoint_every=1000, log_every=50,
        departures=("128x128 crops (the paper does not give its crop size)",),
    ),
    # the paper's batch, crops and schedule with quick's fast start (zero-init residual layers,
    # warm-up, per-element loss, smaller learning rate of the residual layers), for GPUs
    "fast": TrainConfig(
        name="fast", width=1.0, steps=200_000, batch_size=10, crop=128, decay_every=10_000,
        warmup_steps=100, head_lr_scale=0.1, zero_init_residual=True, loss_reduction="scaled_sum",
        val_every=250, val_images=0, checkpoint_every=1000, log_every=50,
        departures=_QUICK_DEPARTURES[1:5] + ("128x128 crops (the paper does not give its crop size)",),
    ),
    # the paper's recipe at half width (a GPU run that also fits the shipped-weights budget)
    "paper-half": TrainConfig(
        name="paper-half", width=0.5, steps=200_000, batch_size=10, crop=128, decay_every=10_000,
        loss_reduction="sum", val_every=2000, val_images=0, checkpoint_every=1000, log_every=50,
        departures=("width 0.5", "128x128 crops (the paper does not give its crop size)"),
    ),
}


# the CPU recipe started from the DeblurNet^WILD that shipped before issue 14 (width 0.25, 2 minutes
# on an H100 over the first, milder virtual data; `git show f1c2ab5:repro/weights/deblurnet_wild.pt`)
PRESETS["cpu-finetune"] = PRESETS["cpu"].replace(
    name="cpu-finetune", init="runs/init/deblurnet_wild_f1c2ab5.pt", lr=5e-4,
    departures=PRESETS["cpu"].departures + (
        "initialised from an earlier DeblurNet^WILD (2 GPU-minutes on milder virtual data) instead of at "
        "random; learning rate 5e-4",),
)


def get_preset(name: str) -> TrainConfig:
    """The preset called ``name`` (``ValueError`` listing the known ones otherwise)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def lr_at(config: TrainConfig, step: int) -> float:
    """Learning rate of (0-based) iteration ``step``: warm-up, then x``decay_factor`` every
    ``decay_every`` iterations (``lr_schedule="step"``) or a cosine from ``lr`` to 0 at ``steps``."""
    if config.lr_schedule == "cosine":
        lr = config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, config.steps) / config.steps))
    else:
        lr = config.lr * config.decay_factor ** (step // config.decay_every)
    if config.warmup_steps > 0 and step < config.warmup_steps:
        lr *= (step + 1) / config.warmup_steps
    return lr


# --------------------------------------------------------------------------- data


def _step_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(step), 0x7EA1])


@dataclass(frozen=True)
class BatchPlan:
    """What step ``s`` trains on: pair indices, crop corners (y, x), flips, SI kernel indices."""

    index: np.ndarray  # (B,) int
    corner: np.ndarray  # (B, 2) float in [0, 1): relative crop corner, scaled by the free room
    flip: np.ndarray  # (B,) bool
    kernel: np.ndarray  # (B,) int, kernel-bank indices (SI)
    noise_seed: int  # seed of the SI noise
    rot90: np.ndarray  # (B,) int in 0..3: quarter turns (used when TrainConfig.rotate)
    vflip: np.ndarray  # (B,) bool: vertical flips (used when TrainConfig.rotate)
    colours: np.ndarray  # (B, 3) int: a permutation of the channels (used when TrainConfig.permute_colours)


def batch_plan(seed: int, step: int, n_pairs: int, batch_size: int, n_kernels: int = 1) -> BatchPlan:
    """The batch of iteration ``step``: a pure function of ``(seed, step)`` (so resuming is exact)."""
    if n_pairs < 1:
        raise ValueError("no training pairs")
    rng = _step_rng(seed, step)
    # the symmetries come from a stream of their own, so the draws above are those of runs made
    # before they existed (an old run resumes exactly)
    sym = np.random.default_rng([int(seed), int(step), 0x5E7])
    return BatchPlan(
        index=rng.integers(0, n_pairs, batch_size),
        corner=rng.random((batch_size, 2)),
        flip=rng.random(batch_size) < 0.5,
        kernel=rng.integers(0, max(1, n_kernels), batch_size),
        noise_seed=int(rng.integers(0, 2**62)),
        rot90=sym.integers(0, 4, batch_size),
        vflip=sym.random(batch_size) < 0.5,
        colours=np.stack([sym.permutation(3) for _ in range(batch_size)]),
    )


def augment(img: torch.Tensor, plan: BatchPlan, k: int, config: "TrainConfig") -> torch.Tensor:
    """Item ``k``'s symmetry of ``plan`` applied to a crop ``(3, h, w)`` (``h == w`` when rotating):
    horizontal flip, vertical flip, quarter turns, channel permutation, as ``config`` enables them."""
    if config.flip and plan.flip[k]:
        img = img.flip(-1)
    if config.rotate:
        if plan.vflip[k]:
            img = img.flip(-2)
        img = torch.rot90(img, int(plan.rot90[k]), dims=(-2, -1))
    if config.permute_colours:
        img = img[torch.as_tensor(plan.colours[k])]
    return img


class _PairCache:
    """All pairs of one split as uint8 tensors ``(3, H, W)`` (on ``device``), read once."""

    def __init__(self, root: Path, split: str, *, limit: int = 0, pick: Sequence[int] | None = None,
                 device: torch.device = torch.device("cpu"), workers: int = 4, desc: str = "") -> None:
        from .datasets import PairedFolder

        ds = PairedFolder(root, split)
        n = len(ds)
        if n == 0:
            raise ValueError(f"{root}: no {split} pairs found (expected {root}/{split}/<scene>/blur,sharp)")
        idx = list(range(n)) if pick is None else [i for i in pick if i < n]
        if limit:
            idx = idx[:limit]
        self.names = [ds.names[i] for i in idx]

        def load(i: int) -> tuple[torch.Tensor, torch.Tensor]:
            blur, sharp = ds[i]
            return ((blur * 255).round().to(torch.uint8), (sharp * 255).round().to(torch.uint8))

        from tqdm.auto import tqdm

        with ThreadPoolExecutor(max(1, workers)) as pool:
            pairs = list(tqdm(pool.map(load, idx), total=len(idx), desc=desc or f"loading {split}",
                              leave=False, disable=None))
        self.blur = [b.to(device) for b, _ in pairs]
        self.sharp = [s.to(device) for _, s in pairs]
        for name, b, s in zip(self.names, self.blur, self.sharp):
            if b.shape != s.shape:
                raise ValueError(f"{root}/{split}/{name}: blurry {tuple(b.shape)} and sharp {tuple(s.shape)} differ")

    def __len__(self) -> int:
        return len(self.blur)


def _crop(img: torch.Tensor, corner: np.ndarray, size: int) -> torch.Tensor:
    C, H, W = img.shape
    if H < size or W < size:
        raise ValueError(f"image {H}x{W} is smaller than the training crop {size}")
    y = int(corner[0] * (H - size + 1))
    x = int(corner[1] * (W - size + 1))
    return img[:, y:y + size, x:x + size]


def _initialise_from(net: DeblurNet, path: str) -> None:
    """Load the network weights of checkpoint ``path`` into ``net`` (a clear error when the file is
    missing or its model differs from ``net``'s configuration)."""
    from .checkpoint import load_model

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"init={path}: no such checkpoint")
    model, _ = load_model(source)
    if model.config.to_dict() != net.config.to_dict():
        raise ValueError(f"init={path}: its model {model.config.to_dict()} differs from this run's "
                         f"{net.config.to_dict()}")
    net.load_state_dict(model.state_dict())


def si_kernel_bank(config: TrainConfig, seed: int):
    """The :class:`repro.kernels.KernelBank` that DeblurNet^SI trains on under ``config``."""
    from .kernels import KernelBank

    return KernelBank(config.si_kernels, seed=seed, generator=config.si_generator, size=config.si_kernel_size,
                      psz=config.si_psz or None)


class _TrainData:
    """Makes the batch of a step (WILD pairs, or SI blur of the sharp frames) on ``device``.

    SI batches go through :func:`repro.synthetic.blur_padded_batch`: a crop enlarged by the
    kernel size minus one, blurred in "valid" mode (no border effects), noise, clip, and the
    aligned central sharp crop.

    With ``config.si_fraction > 0`` (WILD data), the first ``round(si_fraction * batch_size)``
    items of every batch are SI blur of their pair's sharp frame, the others WILD pairs.
    """

    def __init__(self, cache: _PairCache, config: TrainConfig, data: str, seed: int, device: torch.device) -> None:
        self.cache, self.config, self.data, self.seed, self.device = cache, config, data, seed, device
        if data == "si" and config.si_fraction:
            raise ValueError("TrainConfig.si_fraction mixes SI into WILD batches: it needs data='wild'")
        self.n_si = int(round(config.si_fraction * config.batch_size)) if data == "wild" else 0
        self.bank = si_kernel_bank(config, seed) if data == "si" or self.n_si else None
        self.pad = self.bank.size - 1 if self.bank is not None else 0

    def batch(self, step: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n_si:
            return self._mixed_batch(step, rank, world)
        cfg = self.config
        plan = batch_plan(self.seed, step, len(self.cache), cfg.batch_size, cfg.si_kernels)
        mine = slice(rank, None, world)
        size = cfg.crop + self.pad
        blurs, sharps = [], []
        for k in range(len(plan.index))[mine]:
            i, corner = int(plan.index[k]), plan.corner[k]
            s = augment(_crop(self.cache.sharp[i], corner, size), plan, k, cfg)
            b = None if self.data == "si" else augment(_crop(self.cache.blur[i], corner, size), plan, k, cfg)
            sharps.append(s)
            blurs.append(b)
        sharp = torch.stack(sharps).to(self.device, torch.float32).div_(255)
        if self.data == "si":
            from .synthetic import blur_padded_batch

            gen = torch.Generator(device=self.device)
            gen.manual_seed(plan.noise_seed + rank)
            blurry, sharp = blur_padded_batch(sharp, [int(k) for k in plan.kernel[mine]], self.bank,
                                              cfg.si_noise_std, gen)
        else:
            blurry = torch.stack(blurs).to(self.device, torch.float32).div_(255)
        return blurry.contiguous(), sharp.contiguous()

    def _mixed_batch(self, step: int, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
        """WILD batch whose first ``n_si`` items are SI blur of their sharp crops (the same plan:
        pairs, corners, symmetries, kernels and noise as the pure batches)."""
        from .synthetic import blur_padded_batch

        cfg = self.config
        plan = batch_plan(self.seed, step, len(self.cache), cfg.batch_size, cfg.si_kernels)
        mine = list(range(len(plan.index)))[rank::world]
        si_items = [k for k in mine if k < self.n_si]
        wild_items = [k for k in mine if k >= self.n_si]
        blurry_parts, sharp_parts = [], []
        if si_items:
            big = [augment(_crop(self.cache.sharp[int(plan.index[k])], plan.corner[k], cfg.crop + self.pad), plan, k,
                           cfg) for k in si_items]
            big_t = torch.stack(big).to(self.device, torch.float32).div_(255)
            gen = torch.Generator(device=self.device)
            gen.manual_seed(plan.noise_seed + rank)
            b, s = blur_padded_batch(big_t, [int(plan.kernel[k]) for k in si_items], self.bank, cfg.si_noise_std, gen)
            blurry_parts.append(b)
            sharp_parts.append(s)
        if wild_items:
            for cache_images, parts in ((self.cache.blur, blurry_parts), (self.cache.sharp, sharp_parts)):
                crops = [augment(_crop(cache_images[int(plan.index[k])], plan.corner[k], cfg.crop), plan, k, cfg)
                         for k in wild_items]
                parts.append(torch.stack(crops).to(self.device, torch.float32).div_(255))
        return torch.cat(blurry_parts).contiguous(), torch.cat(sharp_parts).contiguous()


# --------------------------------------------------------------------------- validation


@torch.no_grad()
def _validate(model: torch.nn.Module, cache: _PairCache, device: torch.device, amp: bool) -> tuple[float, float]:
    """Mean PSNR (dB) of the restored and of the blurry test images against the sharp ones."""
    from .metrics import psnr_torch

    was_training = model.training
    model.eval()
    out_psnr, in_psnr = [], []
    try:
        for b, s in zip(cache.blur, cache.sharp):
            x = b.to(device, torch.float32).div(255)[None]
            y = s.to(device, torch.float32).div(255)[None]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                restored = model(x).restored
            out_psnr.append(float(psnr_torch(restored.float().clamp(0, 1), y)[0]))
            in_psnr.append(float(psnr_torch(x, y)[0]))
    finally:
        model.train(was_training)
    return float(np.mean(out_psnr)), float(np.mean(in_psnr))


# --------------------------------------------------------------------------- logs and plots


def read_log(path: str | os.PathLike) -> list[dict]:
    """Rows of a training CSV log, numbers as floats (``None`` where a field is empty)."""
    path = Path(path)
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items()})
    return rows


def read_log_header(path: str | os.PathLike) -> dict:
    """The ``# run=...; data=...; config={...}`` line of a training log as a dict (``config``
    parsed from JSON); ``{}`` for a log without one."""
    with open(path) as f:
        first = f.readline()
    if not first.startswith("# "):
        return {}
    head, _, config = first[2:].strip().partition("; config=")
    out: dict = dict(item.split("=", 1) for item in head.split("; ") if "=" in item)
    if config:
        out["config"] = json.loads(config)
    return out


def summarise_log(path: str | os.PathLike) -> dict:
    """One row about a training run from its log: run, data, preset, learning rate, start
    (``init``), steps and minutes trained, and the validation PSNR gain over the input (dB) at
    the start, at its best (and that step) and at the last validation."""
    path = Path(path)
    head, rows = read_log_header(path), read_log(path)
    cfg = head.get("config", {})
    val = [r for r in rows if r.get("val_psnr") is not None and r.get("val_psnr_input") is not None]
    gains = [r["val_psnr"] - r["val_psnr_input"] for r in val]
    best = int(np.argmax(gains)) if gains else None
    return {
        "run": head.get("run", path.stem), "data": head.get("data", ""), "preset": cfg.get("name", ""),
        "lr": cfg.get("lr"), "init": Path(cfg["init"]).name if cfg.get("init") else "random",
        "augment": "yes" if cfg.get("rotate") or cfg.get("permute_colours") else "flips",
        "steps": int(max((r["step"] for r in rows), default=0)),
        "minutes": max((r["minutes"] for r in rows if r.get("minutes") is not None), default=0.0),
        "val input dB": val[0]["val_psnr_input"] if val else None,
        "gain at start": gains[0] if gains else None,
        "best gain": gains[best] if gains else None,
        "best at step": int(val[best]["step"]) if gains else None,
        "last gain": gains[-1] if gains else None,
    }


def _write_log(path: Path, rows: list[dict], header: str = "") -> None:
    buf = io.StringIO()
    if header:
        buf.write(f"# {header}\n")
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in LOG_FIELDS})
    atomic_write_text(path, buf.getvalue())


def plot_training(log_csv: str | os.PathLike | Sequence[str | os.PathLike], png: str | os.PathLike | None = None, *,
                  labels: Sequence[str] | None = None, title: str | None = None, x: str = "both"):
    """Plot training loss (against steps) and validation PSNR gain over the blurry input (the
    input is the dashed line at 0 dB) against ``x``: "step", "minutes" of training, or "both"
    (one panel each); saved as PNG when ``png`` is given.

    Returns the matplotlib ``Figure``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if x not in ("minutes", "step", "both"):
        raise ValueError(f"x must be 'minutes', 'step' or 'both', got {x!r}")
    xs = ("step", "minutes") if x == "both" else (x,)
    logs = [log_csv] if isinstance(log_csv, (str, os.PathLike)) else list(log_csv)
    labels = list(labels) if labels else [Path(p).stem for p in logs]
    fig, axes = plt.subplots(1, 1 + len(xs), figsize=(5.5 * (1 + len(xs)), 4))
    ax_loss, psnr_axes = axes[0], axes[1:]
    for path, label in zip(logs, labels):
        rows = read_log(path)
        loss = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None]
        if loss:
            ax_loss.plot(*zip(*loss), label=label, lw=1)
        for ax, key in zip(psnr_axes, xs):
            val = [(r[key], r["val_psnr"] - r["val_psnr_input"]) for r in rows
                   if r.get("val_psnr") is not None and r.get("val_psnr_input") is not None]
            if val:
                ax.plot(*zip(*val), marker="o", ms=3, label=label)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training loss (3-scale)")
    ax_loss.set_yscale("log")
    ax_loss.grid(alpha=0.3)
    for ax, key in zip(psnr_axes, xs):
        ax.axhline(0.0, color="k", lw=0.8, ls="--", label="blurry input")
        ax.set_xlabel("minutes of training" if key == "minutes" else "iteration")
        ax.set_ylabel("validation PSNR gain over the input (dB)")
        ax.grid(alpha=0.3)
    psnr_axes[-1].legend(fontsize=7)
    if len(logs) > 1:
        ax_loss.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if png is not None:
        from .figures import save_figure

        save_figure(fig, png, formats=("png",))
    return fig


# --------------------------------------------------------------------------- the training loop


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    checkpoint: Path  # last.pt
    best_checkpoint: Path  # best.pt (best validation PSNR; == checkpoint when never validated)
    log_csv: Path  # out/log.csv (also copied to results/train_<run>.csv)
    results_csv: Path | None
    figure: Path | None
    steps: int
    final_psnr: float | None  # validation PSNR of the final model
    best_psnr: float | None
    input_psnr: float | None  # PSNR of the blurry inputs of the validation set
    seconds: float  # training time (all resumed parts together, without loading)
    seconds_per_step: float
    peak_memory_mb: float
    config: TrainConfig = field(repr=False, default_factory=TrainConfig)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except (ImportError, OSError):
        return float("nan")


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def train(
    config: TrainConfig,
    *,
    data: str = "wild",
    data_root: str | os.PathLike,
    out: str | os.PathLike,
    device: str = "auto",
    resume: bool = False,
    seed: int = 0,
    run_name: str | None = None,
    results_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    val_root: str | os.PathLike | None = None,
    workers: int = 4,
    progress: bool = True,
) -> TrainResult:
    """Train DeblurNet with ``config`` on ``data`` ("wild" pairs or "si" synthetic blur).

    ``data_root``: a WILD dataset (``<root>/train/<scene>/{blur,sharp}`` and ``<root>/test/...``);
    validation uses the ``config.val_split`` split of ``val_root`` (default ``data_root``); the
    test split is never read. ``out``: checkpoints and
    ``log.csv``. ``resume=True`` continues from ``out/last.pt`` (same config required for an
    exact continuation). Under ``torchrun`` (``WORLD_SIZE`` > 1) training runs with DDP, the
    global batch split across ranks; only rank 0 validates and writes files.
    """
    if data not in ("wild", "si"):
        raise ValueError(f"data must be 'wild' or 'si', got {data!r}")
    data_root = Path(data_root)
    val_root = Path(val_root) if val_root is not None else data_root
    for p in {data_root, val_root}:
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: dataset folder not found (build one with `python -m repro build-wild`)")
    out = Path(out)
    run_name = run_name or f"{config.name}_{data}"

    rank, world, local = _dist_info()
    distributed = world > 1
    if distributed:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend)
        dev = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if config.batch_size % world:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by {world} processes")
    else:
        dev = resolve_device(device)
    is_main = rank == 0
    cuda = dev.type == "cuda"
    amp = cuda and config.amp_bf16
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    # ---- model and optimizer (initialised from the seed, without touching the global RNG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DeblurNet(config.model_config())
    if config.init and not resume:
        _initialise_from(net, config.init)
    net = net.to(dev)
    if cuda and config.channels_last:
        net = net.to(memory_format=torch.channels_last)
    heads = [p for stage in (net.n1, net.n2, net.n3) for p in stage.head.parameters()]
    head_ids = {id(p) for p in heads}
    body = [p for p in net.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.Adam([{"params": body, "lr_scale": 1.0},
                                  {"params": heads, "lr_scale": config.head_lr_scale}],
                                 lr=config.lr, betas=config.betas, eps=config.eps)

    state = {"step": 0, "seconds": 0.0, "best_psnr": None, "acc_loss": 0.0, "acc_n": 0, "last_psnr": None,
             "input_psnr": None}
    rows: list[dict] = []
    last_path, best_path, log_path = out / "last.pt", out / "best.pt", out / "log.csv"
    if resume:
        if not last_path.exists():
            raise FileNotFoundError(f"{last_path}: nothing to resume from")
        payload = load_checkpoint(last_path, map_location="cpu")
        saved = payload.get("meta", {}).get("train_config")
        if saved:
            # fields added since the checkpoint was written count as their defaults
            current, full = config.to_dict(), {**TrainConfig().to_dict(), **saved}
            diff = sorted(k for k in current if full.get(k) != current[k])
            if diff:
                log.warning("resuming with a different config (fields %s): the continuation is not exact", diff)
        net.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(payload["optimizer"])
        ts = payload["train_state"]
        state.update({k: ts[k] for k in state if k in ts})
        if "torch_rng" in ts:
            torch.set_rng_state(ts["torch_rng"])
        if cuda and "cuda_rng" in ts:
            torch.cuda.set_rng_state(ts["cuda_rng"], dev)
        if log_path.exists():
            rows = [r for r in read_log(log_path) if r["step"] <= state["step"]]
        log.info("resumed %s at step %d", last_path, state["step"])

    model: torch.nn.Module = net
    if cuda and config.compile:
        model = torch.compile(net)
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[dev.index] if cuda else None)

    # ---- data
    t_load = time.perf_counter()
    cache = _PairCache(data_root, "train", limit=config.max_pairs, device=dev, workers=workers,
                       desc="loading training pairs")
    train_data = _TrainData(cache, config, data, seed, dev)
    val_cache = None
    if is_main:
        from .datasets import PairedFolder

        n_val = len(PairedFolder(val_root, config.val_split)) if (val_root / config.val_split).is_dir() else 0
        if n_val == 0:
            raise FileNotFoundError(f"{val_root}: no {config.val_split!r} pairs to validate on (build them with "
                                    f"`python -m repro build-wild virtual {val_root} --split {config.val_split}`)")
        pick = None
        if config.val_images and config.val_images < n_val:
            pick = sorted(set(np.linspace(0, n_val - 1, config.val_images).round().astype(int).tolist()))
        val_cache = _PairCache(val_root, config.val_split, pick=pick, device=dev, workers=workers,
                               desc=f"loading {config.val_split} pairs")
    log.info("data: %d training pairs (%s), %s validation pairs, loaded in %.1fs", len(cache), data,
             len(val_cache) if val_cache else "-", time.perf_counter() - t_load)
    steps_per_epoch = max(1, len(cache) // config.batch_size)
    val_every = config.val_every or steps_per_epoch

    header = f"run={run_name}; data={data}; data_root={data_root}; seed={seed}; config={json.dumps(config.to_dict())}"

    def meta() -> dict:
        return {"preset": config.name, "data": data, "steps": state["step"], "seed": seed,
                "psnr": state["last_psnr"], "input_psnr": state["input_psnr"], "best_psnr": state["best_psnr"],
                "train_config": config.to_dict(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "data_root": str(data_root), "departures": list(config.departures)}

    def save_last() -> None:
        ts = dict(state)
        ts["torch_rng"] = torch.get_rng_state()
        if cuda:
            ts["cuda_rng"] = torch.cuda.get_rng_state(dev)
        save_checkpoint(last_path, net, meta(), optimizer=optimizer.state_dict(),
                        scheduler={"step": state["step"], "lr": lr_at(config, state["step"])}, train_state=ts)
        _write_log(log_path, rows, header)

    def validate_now() -> None:
        psnr, psnr_in = _validate(net, val_cache, dev, amp)
        state["last_psnr"], state["input_psnr"] = psnr, psnr_in
        rows[-1].update(val_psnr=round(psnr, 4), val_psnr_input=round(psnr_in, 4))
        if state["best_psnr"] is None or psnr > state["best_psnr"]:
            state["best_psnr"] = psnr
            save_checkpoint(best_path, net, meta())

    # ---- loop
    net.train()
    target_steps = config.steps
    budget_s = config.max_minutes * 60 if config.max_minutes else math.inf
    from tqdm.auto import tqdm

    bar = tqdm(total=target_steps, initial=state["step"], desc=f"train {run_name}", disable=not (progress and is_main),
               dynamic_ncols=True)
    if is_main and state["step"] == 0 and config.val_at_start:
        rows.append({"step": 0, "epoch": 0.0, "lr": lr_at(config, 0), "loss": None, "minutes": 0.0,
                     "steps_per_s": None})
        validate_now()
    t_last = time.perf_counter()
    t_rate, s_rate = t_last, state["step"]
    data_s = 0.0  # time spent making batches since the last log row (its share is logged)
    stop = False
    while state["step"] < target_steps and not stop:
        step = state["step"]
        lr = lr_at(config, step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        t_data = time.perf_counter()
        blurry, sharp = train_data.batch(step, rank, world)
        data_s += time.perf_counter() - t_data
        if cuda and config.channels_last:
            blurry = blurry.contiguous(memory_format=torch.channels_last)
            sharp = sharp.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            outputs = model(blurry).outputs
        loss = multiscale_loss(tuple(o.float() for o in outputs), sharp, reduction=config.loss_reduction,
                               weights=config.loss_scales)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {step}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        optimizer.step()
        loss_value = loss.detach()
        if distributed:
            import torch.distributed as dist

            dist.all_reduce(loss_value)
            loss_value /= world
        state["acc_loss"] += float(loss_value)
        state["acc_n"] += 1
        state["step"] = step = step + 1
        now = time.perf_counter()
        state["seconds"] += now - t_last
        t_last = now
        if distributed:
            flag = torch.tensor([float(state["seconds"] > budget_s)], device=dev)
            dist.broadcast(flag, 0)
            stop = bool(flag.item())
        else:
            stop = state["seconds"] > budget_s
        if not is_main:
            continue
        bar.update(1)
        boundary = step % config.log_every == 0 or step % val_every == 0 or step == target_steps or stop
        if boundary and state["acc_n"]:
            rate = (step - s_rate) / max(1e-9, now - t_rate)
            rows.append({"step": step, "epoch": round(step / steps_per_epoch, 4), "lr": lr,
                         "loss": state["acc_loss"] / state["acc_n"], "minutes": round(state["seconds"] / 60, 4),
                         "steps_per_s": round(rate, 4), "data_fraction": round(data_s / max(1e-9, now - t_rate), 4)})
            state["acc_loss"], state["acc_n"] = 0.0, 0
            data_s = 0.0
            t_rate, s_rate = now, step
        if step % val_every == 0 or step == target_steps or stop:
            validate_now()
            # validation and checkpoint time are not training time (nor in the logged rates)
            t_last = t_rate = time.perf_counter()
            s_rate, data_s = step, 0.0
        if step % config.checkpoint_every == 0 or step == target_steps or stop:
            save_last()
            t_last = t_rate = time.perf_counter()
            s_rate, data_s = step, 0.0
        last_loss = next((r["loss"] for r in reversed(rows) if r.get("loss") is not None), None)
        postfix = {"loss": "-" if last_loss is None else f"{last_loss:.4g}"}
        if state["last_psnr"] is not None:
            postfix["val"] = f"{state['last_psnr']:.2f}dB"
            postfix["in"] = f"{state['input_psnr']:.2f}dB"
        bar.set_postfix(postfix, refresh=False)
    bar.close()
    if is_main and not best_path.exists():
        save_checkpoint(best_path, net, meta())
    if is_main and state["step"] and not last_path.exists():
        save_last()

    results_csv = figure = None
    if is_main:
        _write_log(log_path, rows, header)
        if results_dir is not None:
            results_csv = Path(results_dir) / f"train_{run_name}.csv"
            results_csv.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log_path, results_csv.with_suffix(".csv.tmp"))
            os.replace(results_csv.with_suffix(".csv.tmp"), results_csv)
        if figures_dir is not None and rows:
            figure = Path(figures_dir) / f"train_{run_name}.png"
            import matplotlib.pyplot as plt

            fig = plot_training(log_path, figure, labels=[run_name], title=f"DeblurNet training: {run_name}")
            plt.close(fig)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
    done = max(1, state["step"])
    return TrainResult(
        checkpoint=last_path, best_checkpoint=best_path, log_csv=log_path, results_csv=results_csv, figure=figure,
        steps=state["step"], final_psnr=state["last_psnr"], best_psnr=state["best_psnr"],
        input_psnr=state["input_psnr"], seconds=state["seconds"], seconds_per_step=state["seconds"] / done,
        peak_memory_mb=_peak_memory_mb(dev), config=config,
    )


# --------------------------------------------------------------------------- shipped weights


def export_weights(checkpoint: str | os.PathLike, dest: str | os.PathLike, *, command: str,
                   half: bool = False, **card: Any) -> Path:
    """Copy a training checkpoint's model (no optimizer state) to ``dest`` and write a JSON
    card beside it (``dest`` with suffix ``.json``): data, preset, steps, seed, PSNR, date, the
    command that retrains it, plus ``card``. ``half=True`` stores the weights as float16 (they
    are loaded back into a float32 model); returns ``dest``."""
    from .checkpoint import load_model

    model, meta = load_model(checkpoint)
    if half:
        model = model.half()
    dest = Path(dest)
    info = {
        "data": meta.get("data"), "preset": meta.get("preset"), "steps": meta.get("steps"),
        "seed": meta.get("seed"), "psnr": meta.get("psnr"), "input_psnr": meta.get("input_psnr"),
        "best_psnr": meta.get("best_psnr"), "date": meta.get("date"), "command": command,
        "model_config": model.config.to_dict(), "train_config": meta.get("train_config"),
        "departures": meta.get("departures"), "weights_dtype": "float16" if half else "float32",
    }
    info.update(card)
    save_checkpoint(dest, model, {k: v for k, v in info.items() if k != "train_config"})
    atomic_write_text(dest.with_suffix(".json"), json.dumps(info, indent=2, default=str) + "\n")
    return dest


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` command's arguments: defined in :mod:`repro.cli` (torch-free, for a fast --help)."""
    from .cli import train_arguments

    train_arguments(parser)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    config = get_preset(args.preset)
    changes: dict[str, Any] = {}
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        changes[k.strip()] = v.strip()
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.max_minutes is not None:
        changes["max_minutes"] = args.max_minutes
    return config.replace(**changes) if changes else config


def _command_line(args: argparse.Namespace) -> str:
    """The ``python -m repro train ...`` command that repeats this run."""
    parts = ["python -m repro train", f"--preset {args.preset}", f"--data {args.data}",
             f"--data-root {args.data_root}", f"--out {args.out}", f"--seed {args.seed}"]
    if args.val_root is not None:
        parts.append(f"--val-root {args.val_root}")
    if args.steps is not None:
        parts.append(f"--steps {args.steps}")
    if args.max_minutes is not None:
        parts.append(f"--max-minutes {args.max_minutes}")
    parts += [f"--set {item}" for item in args.set]
    if args.device != "auto":
        parts.append(f"--device {args.device}")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    config = config_from_args(args)
    result = train(config, data=args.data, data_root=args.data_root, out=args.out, device=args.device,
                   resume=args.resume, seed=args.seed, run_name=args.run, results_dir=args.results,
                   figures_dir=args.figures, val_root=args.val_root, workers=args.workers)
    if _dist_info()[0] != 0:
        return 0
    gain = (None if result.final_psnr is None or result.input_psnr is None
            else result.final_psnr - result.input_psnr)
    summary = {
        "run": args.run or f"{config.name}_{args.data}", "steps": result.steps,
        "seconds_per_step": round(result.seconds_per_step, 4), "minutes": round(result.seconds / 60, 2),
        "final_psnr": result.final_psnr, "best_psnr": result.best_psnr, "input_psnr": result.input_psnr,
        "gain_db": gain, "peak_memory_mb": round(result.peak_memory_mb, 1),
        "checkpoint": str(result.checkpoint), "best_checkpoint": str(result.best_checkpoint),
        "log_csv": str(result.log_csv), "figure": str(result.figure) if result.figure else None,
    }
    atomic_write_text(Path(args.out) / "summary.json", json.dumps(summary, indent=2) + "\n")
    if args.export is not None:
        export_weights(result.best_checkpoint, args.export, command=_command_line(args),
                       minutes=summary["minutes"], seconds_per_step=summary["seconds_per_step"],
                       peak_memory_mb=summary["peak_memory_mb"])
    print(json.dumps(summary, indent=2))
    return 0
