"""Training settings: :class:`TrainConfig`, the named :data:`PRESETS` and the learning-rate
schedule :func:`lr_at` (see :mod:`repro.train`).

Preset names. A training preset is named ``<machine>-<budget or recipe>`` and always holds a
hyphen: ``tiny-test`` (seconds, for the tests), ``cpu-15min`` and ``cpu-4h`` (CPU budgets),
``gpu-paper``, ``gpu-paper-half`` and ``gpu-fast-start`` (GPU recipes), ``data-arm`` (issue
28's equal-budget arms) and ``cpu-12h`` (issue 28's long run). The study presets of
:data:`repro.study.reproduce.PRESETS` (``smoke``, ``demo``, ``quick``, ``paper``) are single words, and each names the training preset it uses
(``ReproSettings.train_preset``), so a name tells which table it belongs to. Logs, weight cards and
checkpoints written before issue 29 record the former names (``smoke``, ``quick``, ``cpu``,
``paper``, ``fast``, ``paper-half``, ``cpu-finetune``): :func:`current_name` reads them
(:func:`card_config`, :func:`overrides`, resuming); ``--preset`` accepts the current names only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..core.model import LOSS_REDUCTIONS, DeblurNetConfig
from ..core.precision import check_precision


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run. ``TrainConfig()`` is the paper's recipe at full width."""

    name: str = "custom"  # preset name, recorded in checkpoints and cards
    # model (repro.core.model.DeblurNetConfig)
    width: float = 1.0  # channel multiplier (1.0 = paper, 24.7 M parameters)
    strides: tuple[int, ...] = (2, 1, 1, 2, 1, 1, 1)  # N1 strides (default reading, docs/paper.md)
    batch_norm: bool = True  # BN after every hidden conv (paper)
    zero_init_residual: bool = False  # residual-emitting layers start at 0, i.e. output = input
    skip: bool = True  # each stage adds its output to its (downsampled) input (paper; False: ablation)
    architecture: str = "multiscale"  # "multiscale" (paper) or "single-scale" (ablation; repro.core.model)
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
    loss_reduction: str = "sum"  # "sum" = the paper's sum of squares; see repro.core.model.multiscale_loss
    loss_scales: tuple[float, ...] = (1.0, 1.0, 1.0)  # weight of the 1/4, 1/2, full-scale terms (paper: all 1)
    # do no harm (issue 41, departures from the paper when set): the training loss is
    # loss_paper_weight x the paper's loss + loss_log_weight x a per-item log-MSE floored at
    # loss_log_floor (repro.core.model.floored_log_mse: every item counts alike, near-sharp ones too)
    loss_paper_weight: float = 1.0
    loss_log_weight: float = 0.0
    loss_log_floor: float = 1e-4  # 1e-4 = 40 dB: an item's log term stops moving below it
    grad_clip: float = 0.0  # clip the gradient norm (0 = off, paper)
    # exponential moving average of the weights (and BN statistics), decay per step (0 = off, the
    # paper). When on, validation, best.pt and last.pt's weights are the average; last.pt keeps the
    # raw weights too, for an exact resume. Issue 15: at lr 1e-3 the validation gain of the raw
    # weights swung by 0.26 dB (sd) between checkpoints 250 steps apart, so the best checkpoint was
    # partly a lucky draw
    ema_decay: float = 0.0
    flip: bool = True  # random horizontal flips (augmentation)
    # random 90-degree rotations and vertical flips (with ``flip``: all 8 symmetries of the square)
    # and random permutations of the colour channels; blur and sharp crops are transformed alike,
    # which keeps every pair a valid (scene, motion) pair: the paper uses no augmentation
    rotate: bool = False
    permute_colours: bool = False
    # SI data (data="si")
    si_kernels: int = 100_000  # size of the kernel bank (paper: 10^5)
    si_generator: str = "chakrabarti"  # repro.synthetic.kernels generator
    si_noise_std: float = 0.01  # Gaussian noise std added to the synthetic blur (Chakrabarti)
    si_kernel_size: int = 41  # kernel canvas (Chakrabarti: 41)
    si_psz: tuple[int, ...] = ()  # Chakrabarti grid sizes cycled over the bank (empty: 24, 16, 8 as the paper)
    # data="wild" only: this fraction of every batch (its first items) is SI blur of the WILD sharp
    # frames instead of WILD pairs (0 = WILD only, the paper's DeblurNet^WILD)
    si_fraction: float = 0.0
    # data="wild" only: this fraction of every batch (its last items) trains on sharp -> sharp, a
    # window of one frame (no motion blur), so that the network learns to leave sharp parts alone
    # (0 = WILD pairs only, as the paper; trained on blur alone, a net sharpens sharp images too)
    sharp_fraction: float = 0.0
    # do no harm (issue 41): this fraction of every batch (the items before the sharp_fraction ones)
    # comes from the short-window pairs given as `train --short-root` (N = 1-5 frames: little or no
    # blur); with data="si" those items are blurred by near-identity kernels instead (straight lines
    # of 0 to short_kernel_max px, repro.synthetic.defocus.line_kernel)
    short_fraction: float = 0.0
    short_kernel_max: float = 4.0
    # do no harm (issue 41): each item, with this probability, has its sharp target defocused on
    # purpose (a disc of radius drawn uniformly in defocus_radius px, the same on its blurry input):
    # soft edges that carry no motion, which the network must leave alone
    defocus_fraction: float = 0.0
    defocus_radius: tuple[float, ...] = (1.0, 4.0)
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
    max_minutes: float = 0.0  # stop (and checkpoint) after this much training time (0 = off; loop.training_clock)
    # early stopping: stop (and checkpoint) once this many validations in a row found no better
    # validation PSNR than the best so far (0 = off); counted across resumed parts
    patience: int = 0
    max_pairs: int = 0  # load at most this many training pairs (0 = all)
    # arithmetic (repro.core.precision): "auto" = bf16 autocast where the device computes bf16 natively
    # (CUDA with bf16, a CPU with AMX or AVX512-BF16), float32 elsewhere; "fp32"; "bf16". The loss,
    # optimizer state, BN statistics and saved weights stay float32 in every case
    precision: str = "auto"
    # legacy field of checkpoints made before `precision` (True then meant bf16 on CUDA, float32 on
    # the CPU: what "auto" does on a CPU without native bf16); kept so that their configs still
    # read and compare. False is refused: say precision="fp32"
    amp_bf16: bool = True
    channels_last: bool = True  # channels_last memory format on CUDA (with bf16 also on the CPU)
    # GPU
    compile: bool = False  # torch.compile the model (CUDA)
    departures: tuple[str, ...] = ()  # how this preset departs from the paper, in words

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "crop", "decay_every", "checkpoint_every", "log_every", "si_kernels",
                    "si_kernel_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"TrainConfig.{key} must be >= 1, got {getattr(self, key)}")
        if int(self.patience) < 0:
            raise ValueError(f"TrainConfig.patience must be >= 0, got {self.patience}")
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
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.sharp_fraction <= 1.0:
            raise ValueError(f"TrainConfig.sharp_fraction must be in [0, 1], got {self.sharp_fraction}")
        for key in ("short_fraction", "defocus_fraction"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"TrainConfig.{key} must be in [0, 1], got {getattr(self, key)}")
        if self.si_fraction + self.sharp_fraction + self.short_fraction > 1.0:
            raise ValueError("TrainConfig.si_fraction + sharp_fraction + short_fraction must be <= 1 "
                             "(they take different items of a batch)")
        object.__setattr__(self, "defocus_radius", tuple(float(r) for r in self.defocus_radius))
        if len(self.defocus_radius) != 2 or not 0 <= self.defocus_radius[0] <= self.defocus_radius[1]:
            raise ValueError(f"TrainConfig.defocus_radius must be (low, high) with 0 <= low <= high, "
                             f"got {self.defocus_radius}")
        if not self.short_kernel_max >= 0:
            raise ValueError(f"TrainConfig.short_kernel_max must be >= 0, got {self.short_kernel_max}")
        if not (self.loss_paper_weight >= 0 and self.loss_log_weight >= 0) or \
                not (self.loss_paper_weight or self.loss_log_weight):
            raise ValueError(f"TrainConfig.loss_paper_weight and loss_log_weight must be >= 0, not both 0, got "
                             f"{self.loss_paper_weight} and {self.loss_log_weight}")
        if not self.loss_log_floor > 0:
            raise ValueError(f"TrainConfig.loss_log_floor must be > 0, got {self.loss_log_floor}")
        check_precision(self.precision)
        if not self.amp_bf16:
            raise ValueError("TrainConfig.amp_bf16=False is replaced by precision='fp32'")
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
    "tiny-test": TrainConfig(
        name="tiny-test", width=0.0625, steps=6, batch_size=2, crop=32, lr=1e-3, decay_every=4,
        zero_init_residual=True, head_lr_scale=0.5, loss_reduction="scaled_sum", val_every=3, val_images=2,
        checkpoint_every=3, log_every=1, departures=("tiny width and crops, for tests only",),
    ),
    # the CPU preset of `make reproduce`: <= 15 minutes per model on 2 cores
    "cpu-15min": TrainConfig(
        name="cpu-15min", width=0.25, steps=1200, batch_size=10, crop=96, lr=1e-3, decay_every=1000,
        warmup_steps=100, head_lr_scale=0.1, zero_init_residual=True, loss_reduction="scaled_sum", val_every=100,
        val_images=10, checkpoint_every=100, log_every=10, max_minutes=15.0, departures=_QUICK_DEPARTURES,
    ),
    # the CPU recipe of the shipped weights: <= 4 CPU-hours per model on 2 cores, resumable
    "cpu-4h": TrainConfig(
        name="cpu-4h", width=0.25, steps=12_000, batch_size=8, crop=96, lr=1e-3, decay_every=2000,
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
    "gpu-paper": TrainConfig(
        name="gpu-paper", width=1.0, steps=200_000, batch_size=10, crop=128, decay_every=10_000,
        loss_reduction="sum", val_every=2000, val_images=0, checkpoint_every=1000, log_every=50,
        departures=("128x128 crops (the paper does not give its crop size)",),
    ),
    # the paper's batch, crops and schedule with cpu-15min's fast start (zero-init residual layers,
    # warm-up, per-element loss, smaller learning rate of the residual layers), for GPUs
    "gpu-fast-start": TrainConfig(
        name="gpu-fast-start", width=1.0, steps=200_000, batch_size=10, crop=128, decay_every=10_000,
        warmup_steps=100, head_lr_scale=0.1, zero_init_residual=True, loss_reduction="scaled_sum",
        val_every=250, val_images=0, checkpoint_every=1000, log_every=50,
        departures=_QUICK_DEPARTURES[1:5] + ("128x128 crops (the paper does not give its crop size)",),
    ),
    # the paper's recipe at half width (a GPU run that also fits the shipped-weights budget)
    "gpu-paper-half": TrainConfig(
        name="gpu-paper-half", width=0.5, steps=200_000, batch_size=10, crop=128, decay_every=10_000,
        loss_reduction="sum", val_every=2000, val_images=0, checkpoint_every=1000, log_every=50,
        departures=("width 0.5", "128x128 crops (the paper does not give its crop size)"),
    ),
}


# issue 28's equal-budget comparison of training photo sets (repro.evaluate.diversity): the cpu-4h
# recipe cut to 3000 steps, every arm with the same seed, steps and precision; checkpoints chosen
# on the validation pairs of the bundled photos and of the corpus together (--val-root twice)
def _schedule_departure(preset: TrainConfig, schedule: str) -> tuple[str, ...]:
    """``preset``'s departures with its learning-rate schedule line replaced by ``schedule``."""
    return tuple(d for d in preset.departures if not d.startswith("learning rate x0.75")) + (schedule,)


PRESETS["data-arm"] = PRESETS["cpu-4h"].replace(
    name="data-arm", steps=3000, decay_every=1000, max_minutes=0.0,
    departures=_schedule_departure(PRESETS["cpu-4h"], "learning rate x0.75 every 1000 steps, 3000 steps in all "
                                                      "(an equal budget for each photo set)"),
)


# issue 28's long run: the same recipe on the chosen photos for up to 12 hours of training on 2 CPU
# cores, resumed across sittings (`make -C experiments/long_run long-run`), stopped early once 8 validations in a row
# (4000 steps) found no better validation PSNR; the learning rate falls x0.75 every 8000 steps
PRESETS["cpu-12h"] = PRESETS["data-arm"].replace(
    name="cpu-12h", steps=100_000, decay_every=8000, max_minutes=720.0, val_every=500, patience=8,
    departures=_schedule_departure(PRESETS["data-arm"], "learning rate x0.75 every 8000 steps; at most 12 hours of "
                                   "training (100 000 steps), stopped after 8 validations (4000 steps) without a "
                                   "better validation PSNR"),
)


# the former names of the presets, as records written before issue 29 hold them (read, never offered)
FORMER_NAMES: dict[str, str] = {
    "smoke": "tiny-test", "quick": "cpu-15min", "cpu": "cpu-4h", "paper": "gpu-paper", "fast": "gpu-fast-start",
    "paper-half": "gpu-paper-half",
    # removed (it needed an untracked checkpoint): cpu-4h with init=runs/init/deblurnet_wild_f1c2ab5.pt (the
    # DeblurNet^WILD of `git show f1c2ab5:repro/weights/deblurnet_wild.pt`) and lr=5e-4, which its records hold
    "cpu-finetune": "cpu-4h",
}


def current_name(name: str) -> str:
    """The preset's name today for a name read from a log, card or checkpoint (a former name
    mapped by :data:`FORMER_NAMES`; any other name unchanged)."""
    return FORMER_NAMES.get(name, name)


def get_preset(name: str) -> TrainConfig:
    """The preset called ``name`` (``ValueError`` listing the known ones otherwise, and the
    current name of a former one)."""
    if name not in PRESETS:
        former = f" (now {FORMER_NAMES[name]!r})" if name in FORMER_NAMES else ""
        raise ValueError(f"unknown preset {name!r}{former}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def card_config(card: dict, fallback: str, *, prefix: str = "si_") -> TrainConfig:
    """The training settings a weights card (``repro/weights/*.json``) records: the preset it names
    (``fallback`` when it names none) with the card's ``train_config`` fields whose names start
    with ``prefix`` put back (default ``"si_"``: the SI kernel settings, which decide the blur
    DeblurNet^SI trained on). ``card`` may be ``{}``: then the ``fallback`` preset itself. A card's
    former preset name is read as its current one (:func:`current_name`)."""
    changes = {k: v for k, v in (card.get("train_config") or {}).items() if k.startswith(prefix)}
    return get_preset(current_name(card.get("preset") or fallback)).replace(**changes)


def overrides(config: TrainConfig | dict) -> list[str]:
    """How ``config`` differs from the preset it is named after (the ``--set`` of its command), one
    line per field, ``"width=0.5 (preset gpu-fast-start: 1.0)"``; ``[]`` for an unknown preset name
    (a former name is read as the current one, :func:`current_name`).

    A checkpoint's card lists these beside the preset's own ``departures``, so that a run that
    changed its preset's settings says so. ``config`` may be a :meth:`TrainConfig.to_dict` dict.
    """
    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    preset = PRESETS.get(current_name(str(values.get("name"))))
    if preset is None:
        return []
    base = preset.to_dict()
    return [f"{k}={values[k]} (preset {preset.name}: {base[k]})" for k in base
            if k in values and k not in ("name", "departures") and values[k] != base[k]]


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




# issue 41's continuation (do no harm): the shipped network trained on with short-window pairs
# (train --short-root) for half of every batch, defocused sharp targets for 30 % of the items, and a
# per-item log-MSE beside the paper's loss, so that it learns to leave near-sharp images alone; a cosine
# from 2e-4 over 3000 steps, validated every 500. The loss weight and floor are chosen on validation
# (experiments/do_no_harm); the networks start from the shipped ones (--set init=...)
PRESETS["cpu-no-harm"] = PRESETS["cpu-12h"].replace(
    name="cpu-no-harm", steps=3000, lr=2e-4, lr_schedule="cosine", warmup_steps=100, val_every=500, patience=0,
    max_minutes=0.0, short_fraction=0.5, defocus_fraction=0.3, loss_log_weight=3e-3, loss_log_floor=2.5e-5,
    departures=tuple(d for d in PRESETS["cpu-12h"].departures if not d.startswith("learning rate x0.75"))
    + ("a continuation of the shipped network: 3000 steps, warm-up over 100, then a cosine from 2e-4 to 0",
       "half of every batch from short windows (N = 1, 3 or 5 frames: little or no blur; the paper's N >= 7); "
       "for DeblurNet^SI, near-identity kernels (straight lines of 0-4 px) instead",
       "30 % of the items defocused on purpose (the same disc of radius 1-4 px on input and target), so "
       "that soft edges without motion are left alone",
       "the loss: the paper's plus a per-item log-MSE (a PSNR loss) floored at 46 dB, weight 3e-3, so that "
       "near-sharp items count as much as blurred ones"),
)
