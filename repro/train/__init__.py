"""Training DeblurNet^WILD and DeblurNet^SI on one CPU, one GPU or several GPUs (DDP).

The paper's recipe (Sec. 3): Adam (beta 0.9, 0.999), learning rate 1e-3 multiplied by 0.75 every
``decay_every`` iterations, batch 10, the three-scale loss ``L1 + L2 + L3``. Every value is a
field of :class:`TrainConfig`; :data:`PRESETS` names the sets used by the project:

* ``tiny-test``: a few seconds, for the tests;
* ``cpu-15min``: the training preset of ``make reproduce`` on a 2-core CPU (<= 15 minutes per model);
* ``cpu-4h``: the CPU recipe of the shipped weights (<= 4 CPU-hours per model, resumable);
* ``gpu-paper``: full width and the paper's schedule, for GPUs (``gpu-paper-half``: at half width);
* ``gpu-fast-start``: ``gpu-paper`` with ``cpu-15min``'s fast start (see :data:`PRESETS`), for short GPU runs;
* ``data-arm``: issue 28's equal-budget arms of training photo sets.

Their naming scheme (``<machine>-<budget or recipe>``, apart from the study presets' single
words) and the former names that records still hold: :mod:`repro.train.config`.

A preset that departs from the paper says so in ``TrainConfig.departures`` (copied into the
checkpoint's metadata and the weight cards).

Determinism and resuming: the training batch of step ``s`` is a pure function of
``(seed, s)`` (which pairs, which crops, which flips, which SI kernels and noise), the learning
rate a pure function of ``s``, and every checkpoint holds the model, the optimizer state, the
step, the running loss accumulator and the torch RNG states. ``resume=True`` therefore continues
a killed run along the very loss curve of an uninterrupted one (exactly on the CPU; on a GPU up
to the non-determinism of cuDNN kernels).
A run that spans sittings keeps its ``last.pt`` and ``best.pt`` in its ``runs/`` folder (ignored by git;
:mod:`repro.train.snapshot`: ``save`` its log and curve at the end of a sitting, ``restore`` a copy kept elsewhere).

Data: ``data="wild"`` trains on the pairs of a WILD dataset (``repro.io.datasets.PairedFolder``,
``OUT/train/<scene>/{blur,sharp}``); ``data="si"`` blurs the *sharp* frames of the same training
split with random kernels of a :class:`repro.synthetic.kernels.KernelBank` (through
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


from .cli import add_arguments, config_from_args, run
from .config import FORMER_NAMES, PRESETS, TrainConfig, card_config, current_name, get_preset, lr_at, overrides
from .data import BatchPlan, _crop, _PairCache, _TrainData, augment, batch_plan, si_kernel_bank
from .logs import LOG_FIELDS, plot_training, read_log, read_log_header, summarise_log
from .loop import TrainResult, export_weights, train
from .validation import _validate

__all__ = [
    "TrainConfig",
    "PRESETS",
    "FORMER_NAMES",
    "TrainResult",
    "train",
    "lr_at",
    "overrides",
    "card_config",
    "current_name",
    "batch_plan",
    "read_log",
    "plot_training",
    "read_log_header",
    "summarise_log",
    "export_weights",
    "add_arguments",
    "run",
]

