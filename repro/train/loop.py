"""The training loop :func:`train` (CPU, one GPU, or DDP) in named steps, and the export of a
checkpoint to shipped weights (see :mod:`repro.train` for the recipe and resuming).

A run, step by step: its dataset folders (:func:`_dataset_roots`); where it computes
(:func:`repro.train.placement.place`: one device, or DDP under torchrun); its weights and
optimizer (:func:`repro.train.state.make_weights`) and, when resuming, the state of the earlier
part (:meth:`_Run.resume`); the training and validation pairs (:func:`_load_pairs`); the steps
(:func:`_train_steps`: each an optimisation step, :func:`_optimise`, then the log row, validation
and checkpoint of :func:`_bookkeep`); and the files written at the end (:func:`_finish`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core.checkpoint import save_checkpoint
from ..io.files import atomic_copy, atomic_write_text
from ..core.model import floored_log_mse, multiscale_loss
from ..core.precision import autocast
from .config import TrainConfig, lr_at, overrides
from .data import _PairCache, _TrainData
from .logs import _write_log, plot_training, read_log
from .placement import Placement, barrier, decided_by_rank0, mean_over_ranks, peak_memory_mb, place, wrap_model
from .state import Weights, checkpoint_meta, make_weights, new_counters, resume as resume_state, save_best, save_last
from .validation import _validate, validation_set

log = logging.getLogger(__name__)


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
    seconds: float  # training time (all resumed parts together, without loading; see `training_clock`)
    seconds_per_step: float
    peak_memory_mb: float
    config: TrainConfig = field(repr=False, default_factory=TrainConfig)


# --------------------------------------------------------------------------- the run and its files


@dataclass
class _Run:
    """What the steps of one run share: its settings, where it computes, its weights, the counters
    (``state``, saved in ``last.pt``), the log rows, and the files in ``out``."""

    config: TrainConfig
    where: Placement
    weights: Weights
    out: Path
    name: str  # results/train_<name>.csv
    data: str  # "wild" or "si"
    seed: int
    roots: str  # training roots, comma-joined (the log header and checkpoints' meta)
    val_names: str  # validation roots, comma-joined
    state: dict = field(default_factory=new_counters)
    rows: list[dict] = field(default_factory=list)
    val_pairs: _PairCache | None = None  # rank 0 only

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out / "best.pt"

    @property
    def log_path(self) -> Path:
        return self.out / "log.csv"

    @property
    def header(self) -> str:
        """The first line of ``log.csv`` (:func:`repro.train.read_log_header` reads it)."""
        return (f"run={self.name}; data={self.data}; data_root={self.roots}; val_root={self.val_names}; "
                f"seed={self.seed}; precision={self.where.precision}; config={json.dumps(self.config.to_dict())}")

    def meta(self) -> dict:
        return checkpoint_meta(self.config, self.state, data=self.data, seed=self.seed, roots=self.roots,
                               val_names=self.val_names, precision=self.where.precision)

    def resume(self) -> None:
        """Continue from ``last.pt``: weights, optimizer, counters, RNG states, and the log rows up
        to its step."""
        resume_state(self.last_path, self.config, self.weights, self.state, self.where)
        if self.log_path.exists():
            self.rows = [r for r in read_log(self.log_path) if r["step"] <= self.state["step"]]
        log.info("resumed %s at step %d", self.last_path, self.state["step"])

    def save_last(self) -> None:
        """``last.pt`` and ``log.csv`` as they stand."""
        save_last(self.last_path, self.weights, self.state, self.meta(), self.config, self.where)
        _write_log(self.log_path, self.rows, self.header)

    def validate(self) -> None:
        """Validate the shown weights: PSNRs into the counters and the last log row; ``best.pt``
        when they are the best so far."""
        psnr, psnr_in = _validate(self.weights.shown, self.val_pairs, self.where.device, self.where.precision)
        self.state["last_psnr"], self.state["input_psnr"] = psnr, psnr_in
        self.rows[-1].update(val_psnr=round(psnr, 4), val_psnr_input=round(psnr_in, 4))
        if self.state["best_psnr"] is None or psnr > self.state["best_psnr"]:
            self.state["best_psnr"], self.state["since_best"] = psnr, 0
            save_best(self.best_path, self.weights, self.meta())
        else:
            self.state["since_best"] += 1

    @property
    def out_of_patience(self) -> bool:
        """Whether ``config.patience`` validations in a row found nothing better (never with
        ``patience`` 0)."""
        return 0 < self.config.patience <= self.state["since_best"]


def _dataset_roots(data: str, data_root: str | os.PathLike,
                   val_root: str | os.PathLike | Sequence[str | os.PathLike] | None,
                   extra_roots: Sequence[str | os.PathLike]) -> tuple[Path, list[Path], list[Path]]:
    """``(data_root, val_roots, extra_roots)`` as paths (validation defaults to ``data_root``),
    each an existing folder (else a one-line error)."""
    if data not in ("wild", "si"):
        raise ValueError(f"data must be 'wild' or 'si', got {data!r}")
    data_root = Path(data_root)
    if val_root is None:
        val_roots = [data_root]
    elif isinstance(val_root, (str, os.PathLike)):
        val_roots = [Path(val_root)]
    else:
        val_roots = [Path(p) for p in val_root] or [data_root]
    extra_roots = [Path(p) for p in extra_roots]
    for p in {data_root, *val_roots, *extra_roots}:
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: dataset folder not found (build one with `python -m repro build-wild`)")
    return data_root, val_roots, extra_roots


def _load_pairs(run: _Run, data_root: Path, extra_roots: Sequence[Path], val_roots: Sequence[Path],
                workers: int, short_roots: Sequence[Path] = ()) -> tuple[_TrainData, int]:
    """Load the training pairs (``data_root``'s and ``extra_roots``', on the device) and, on
    rank 0, the validation pairs into ``run.val_pairs``; returns the batch maker and the number of
    training pairs."""
    config, dev = run.config, run.where.device
    t_load = time.perf_counter()
    cache = _PairCache(data_root, "train", limit=config.max_pairs, device=dev, workers=workers,
                       desc="loading training pairs")
    for extra in extra_roots:
        cache.extend(_PairCache(extra, "train", limit=config.max_pairs, device=dev, workers=workers,
                                desc=f"loading {extra.name} training pairs"), prefix=extra.name)
    short = None
    for root in short_roots:
        part = _PairCache(root, "train", limit=config.max_pairs, device=dev, workers=workers,
                          desc=f"loading {root.name} short-window pairs")
        if short is None:
            short = part
        else:
            short.extend(part, prefix=root.name)
    train_data = _TrainData(cache, config, run.data, run.seed, dev, short=short)
    if run.where.is_main:
        run.val_pairs = validation_set(val_roots, config, dev, workers)
    log.info("data: %d training pairs (%s), %s validation pairs, loaded in %.1fs", len(cache), run.data,
             len(run.val_pairs) if run.val_pairs else "-", time.perf_counter() - t_load)
    return train_data, len(cache)


# --------------------------------------------------------------------------- the steps


def training_clock(device: torch.device) -> Callable[[], float]:
    """The clock that a run's training time (its ``minutes`` and ``max_minutes``) is read on, in
    seconds. On a GPU: wall time. On a CPU: the process's CPU time over its intra-op threads, which
    is wall time on quiet cores but stops while the process is paused (SIGSTOP) and slows while
    other jobs share the cores, so a time budget buys the same compute however busy the machine."""
    if device.type != "cpu":
        return time.perf_counter
    threads = max(1, torch.get_num_threads())
    return lambda: time.process_time() / threads


@dataclass
class _Clock:
    """The loop's timers: ``c_last`` (the training clock at the end of the last timed step; see
    ``training_clock``), ``t_rate`` / ``s_rate`` (wall time and step of the last log row) and
    ``data_s`` (wall seconds spent making batches since then). Validation and checkpoints are not
    training time (nor in the logged rates)."""

    read: Callable[[], float]
    c_last: float
    t_rate: float
    s_rate: int
    data_s: float = 0.0

    @classmethod
    def start(cls, step: int, device: torch.device) -> "_Clock":
        read = training_clock(device)
        return cls(read=read, c_last=read(), t_rate=time.perf_counter(), s_rate=step)

    def tick(self) -> float:
        """Training seconds since the last tick (or pause)."""
        now = self.read()
        spent, self.c_last = now - self.c_last, now
        return spent

    def new_row(self, now: float, step: int) -> None:
        self.t_rate, self.s_rate, self.data_s = now, step, 0.0

    def after_pause(self, step: int) -> None:
        self.c_last, self.t_rate = self.read(), time.perf_counter()
        self.s_rate, self.data_s = step, 0.0


def training_loss(outputs: tuple[torch.Tensor, ...], sharp: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """``config``'s loss of the three scale outputs against ``sharp`` ``(B, 3, H, W)``: the paper's
    (:func:`repro.core.model.multiscale_loss`) times ``loss_paper_weight``, plus ``loss_log_weight`` times
    the floored per-item log-MSE (:func:`repro.core.model.floored_log_mse`); a term of weight 0 is not computed."""
    loss = sharp.new_zeros(())
    if config.loss_paper_weight:
        paper = multiscale_loss(outputs, sharp, reduction=config.loss_reduction, weights=config.loss_scales)
        loss = paper if config.loss_paper_weight == 1 else config.loss_paper_weight * paper
    if config.loss_log_weight:
        loss = loss + config.loss_log_weight * floored_log_mse(outputs, sharp, floor=config.loss_log_floor,
                                                                weights=config.loss_scales)
    return loss


def _optimise(run: _Run, model: torch.nn.Module, train_data: _TrainData, step: int, lr: float,
              clock: _Clock) -> torch.Tensor:
    """One optimisation step at learning rate ``lr`` on the batch of ``step`` (this rank's share;
    the time spent making it added to ``clock.data_s``); returns the loss, averaged over ranks."""
    config, where, weights = run.config, run.where, run.weights
    for group in weights.optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"]
    if where.cuda:  # the batch's host-to-device copy waits for the queued steps: keep that wait out of the data time
        torch.cuda.synchronize(where.device)
    t_data = time.perf_counter()
    blurry, sharp = train_data.batch(step, where.rank, where.world)
    clock.data_s += time.perf_counter() - t_data
    if where.channels_last:
        blurry = blurry.contiguous(memory_format=torch.channels_last)
        sharp = sharp.contiguous(memory_format=torch.channels_last)
    with autocast(where.precision, where.device):
        outputs = model(blurry).outputs
    loss = training_loss(tuple(o.float() for o in outputs), sharp, config)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"training loss is {loss.item()} at step {step}; lower the learning rate")
    weights.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(weights.net.parameters(), config.grad_clip)
    weights.optimizer.step()
    if weights.ema is not None:
        weights.ema.update_parameters(weights.net)
    return mean_over_ranks(loss.detach(), where)


def _bookkeep(run: _Run, clock: _Clock, step: int, lr: float, now: float, *, end: bool, steps_per_epoch: int,
              val_every: int) -> None:
    """Rank 0 after ``step`` (finished at ``now``): a log row (mean loss since the last one) every
    ``log_every`` steps, validation every ``val_every``, ``last.pt`` every ``checkpoint_every``,
    all three at the ``end``."""
    config, state = run.config, run.state
    if (step % config.log_every == 0 or step % val_every == 0 or end) and state["acc_n"]:
        rate = (step - clock.s_rate) / max(1e-9, now - clock.t_rate)
        run.rows.append({"step": step, "epoch": round(step / steps_per_epoch, 4), "lr": lr,
                         "loss": state["acc_loss"] / state["acc_n"], "minutes": round(state["seconds"] / 60, 4),
                         "steps_per_s": round(rate, 4),
                         "data_fraction": round(clock.data_s / max(1e-9, now - clock.t_rate), 4)})
        state["acc_loss"], state["acc_n"] = 0.0, 0
        clock.new_row(now, step)
    paused = False
    if step % val_every == 0 or end:
        run.validate()
        paused = True
    if step % config.checkpoint_every == 0 or end:
        run.save_last()
        paused = True
    if paused:
        clock.after_pause(step)


def _postfix(run: _Run) -> dict[str, str]:
    """The progress bar's last loss and validation PSNRs."""
    last_loss = next((r["loss"] for r in reversed(run.rows) if r.get("loss") is not None), None)
    postfix = {"loss": "-" if last_loss is None else f"{last_loss:.4g}"}
    if run.state["last_psnr"] is not None:
        postfix["val"] = f"{run.state['last_psnr']:.2f}dB"
        postfix["in"] = f"{run.state['input_psnr']:.2f}dB"
    return postfix


def _train_steps(run: _Run, model: torch.nn.Module, train_data: _TrainData, n_pairs: int, progress: bool) -> None:
    """Train from ``run.state["step"]`` to ``config.steps``, until ``config.max_minutes`` of
    training time, or until ``config.patience`` validations in a row found nothing better
    (validating the initial network first when ``val_at_start``)."""
    config, where, state = run.config, run.where, run.state
    steps_per_epoch = max(1, n_pairs // config.batch_size)
    val_every = config.val_every or steps_per_epoch
    budget_s = config.max_minutes * 60 if config.max_minutes else math.inf
    from tqdm.auto import tqdm

    run.weights.net.train()
    bar = tqdm(total=config.steps, initial=state["step"], desc=f"train {run.name}",
               disable=not (progress and where.is_main), dynamic_ncols=True)
    if where.is_main and state["step"] == 0 and config.val_at_start:
        run.rows.append({"step": 0, "epoch": 0.0, "lr": lr_at(config, 0), "loss": None, "minutes": 0.0,
                         "steps_per_s": None})
        run.validate()
    clock = _Clock.start(state["step"], where.device)
    # a resumed run that had stopped early, or had spent its time budget, stays stopped
    stop = decided_by_rank0(run.out_of_patience or state["seconds"] > budget_s, where)
    while state["step"] < config.steps and not stop:
        step = state["step"]
        lr = lr_at(config, step)
        loss = _optimise(run, model, train_data, step, lr, clock)
        state["acc_loss"] += float(loss)
        state["acc_n"] += 1
        state["step"] = step = step + 1
        state["seconds"] += clock.tick()
        now = time.perf_counter()
        stop = decided_by_rank0(state["seconds"] > budget_s or run.out_of_patience, where)
        if not where.is_main:
            continue
        bar.update(1)
        _bookkeep(run, clock, step, lr, now, end=step == config.steps or stop, steps_per_epoch=steps_per_epoch,
                  val_every=val_every)
        bar.set_postfix(_postfix(run), refresh=False)
    bar.close()
    if where.is_main and run.out_of_patience:
        log.info("%s: stopped at step %d, %d validations without a better one than %.4f dB (patience %d)",
                 run.name, state["step"], state["since_best"], state["best_psnr"], config.patience)


def _finish(run: _Run, results_dir: str | os.PathLike | None,
            figures_dir: str | os.PathLike | None) -> tuple[Path | None, Path | None]:
    """Rank 0: ``best.pt`` and ``last.pt`` if never written, the final ``log.csv``, its copy
    ``results_dir/train_<run>.csv`` and the curves ``figures_dir/train_<run>.png`` (each when its
    folder is given); every rank then waits for the others. Returns the copy and the figure."""
    results_csv = figure = None
    if run.where.is_main:
        if not run.best_path.exists():
            save_best(run.best_path, run.weights, run.meta())
        if run.state["step"] and not run.last_path.exists():
            run.save_last()
        _write_log(run.log_path, run.rows, run.header)
        if results_dir is not None:
            results_csv = Path(results_dir) / f"train_{run.name}.csv"
            atomic_copy(run.log_path, results_csv)
        if figures_dir is not None and run.rows:
            figure = Path(figures_dir) / f"train_{run.name}.png"
            import matplotlib.pyplot as plt

            fig = plot_training(run.log_path, figure, labels=[run.name], title=f"DeblurNet training: {run.name}")
            plt.close(fig)
    barrier(run.where)
    return results_csv, figure


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
    val_root: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    extra_roots: Sequence[str | os.PathLike] = (),
    short_roots: Sequence[str | os.PathLike] = (),
    workers: int = 4,
    progress: bool = True,
) -> TrainResult:
    """Train DeblurNet with ``config`` on ``data`` ("wild" pairs or "si" synthetic blur).

    ``data_root``: a WILD dataset (``<root>/train/<scene>/{blur,sharp}`` and ``<root>/test/...``);
    validation uses the ``config.val_split`` split of ``val_root`` (default ``data_root``; several
    roots: their pairs together, ``config.val_images`` evenly spaced pairs from each); the
    test split is never read. ``extra_roots``: further datasets whose train pairs join
    ``data_root``'s (e.g. dead-leaves footage, :mod:`repro.camera.deadleaves`); every training
    pair is drawn equally often, so each root's share is its share of the pairs. ``short_roots``:
    datasets of short-window pairs (``build-wild --n-min 1 --n-max 5``), the ``config.short_fraction``
    share of every WILD batch (see :class:`repro.train.data._TrainData`). ``out``: checkpoints and
    ``log.csv``. ``resume=True`` continues from ``out/last.pt`` (same config required for an
    exact continuation). Under ``torchrun`` (``WORLD_SIZE`` > 1) training runs with DDP, the
    global batch split across ranks; only rank 0 validates and writes files.
    """
    data_root, val_roots, extra_roots = _dataset_roots(data, data_root, val_root, extra_roots)
    short_roots = [Path(p) for p in short_roots]
    for p in short_roots:
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: short-window dataset not found (build one with `python -m repro build-wild "
                                    f"virtual {p} --n-min 1 --n-max 5`)")
    if data == "si" and short_roots:
        raise ValueError("short-window pairs (--short-root) are for data='wild'; DeblurNet^SI's short items use "
                         "near-identity kernels (TrainConfig.short_fraction)")
    where = place(config, device)
    run = _Run(config=config, where=where, weights=make_weights(config, seed, where, resume=resume), out=Path(out),
               name=run_name or f"{config.name}_{data}", data=data, seed=seed,
               roots=",".join([str(p) for p in [data_root, *extra_roots]] + [f"short:{p}" for p in short_roots]),
               val_names=",".join(str(p) for p in val_roots))
    if resume:
        run.resume()
    model = wrap_model(run.weights.net, config, where)
    train_data, n_pairs = _load_pairs(run, data_root, extra_roots, val_roots, workers, short_roots)
    _train_steps(run, model, train_data, n_pairs, progress)
    results_csv, figure = _finish(run, results_dir, figures_dir)
    state = run.state
    return TrainResult(
        checkpoint=run.last_path, best_checkpoint=run.best_path, log_csv=run.log_path, results_csv=results_csv,
        figure=figure, steps=state["step"], final_psnr=state["last_psnr"], best_psnr=state["best_psnr"],
        input_psnr=state["input_psnr"], seconds=state["seconds"], seconds_per_step=state["seconds"] / max(1, state["step"]),
        peak_memory_mb=peak_memory_mb(where.device), config=config,
    )


# --------------------------------------------------------------------------- shipped weights


def export_weights(checkpoint: str | os.PathLike, dest: str | os.PathLike, *, command: str,
                   half: bool = False, **card: Any) -> Path:
    """Copy a training checkpoint's model (no optimizer state) to ``dest`` and write a JSON
    card beside it (``dest`` with suffix ``.json``): data, preset, steps, seed, PSNR, date, the
    command that retrains it, plus ``card``. ``half=True`` stores the filters as float16 and the
    vectors as float32 (:func:`repro.core.checkpoint.cast_state_dict`; loaded back into a float32
    model). A ``stored`` entry in ``card`` (what the storage changes, :mod:`repro.measure.storage`)
    gets the file's ``bytes`` and those of its float32 form, ``fp32_bytes``, in the JSON card;
    returns ``dest``."""
    from ..core.checkpoint import load_model, store_checkpoint

    model, meta = load_model(checkpoint)
    dest = Path(dest)
    info = {
        "data": meta.get("data"), "preset": meta.get("preset"), "steps": meta.get("steps"),
        "seed": meta.get("seed"), "psnr": meta.get("psnr"), "input_psnr": meta.get("input_psnr"),
        "best_psnr": meta.get("best_psnr"), "date": meta.get("date"), "command": command,
        "model_config": model.config.to_dict(), "train_config": meta.get("train_config"),
        "departures": meta.get("departures"), "weights_dtype": "float16" if half else "float32",
        "precision": meta.get("precision"),  # the arithmetic of training (None: a checkpoint made before it was kept)
    }
    info.update(card)
    # what the run changed from its preset (worked out again for checkpoints made before they were kept)
    if "overrides" not in card:
        info["overrides"] = meta.get("overrides") or (overrides(info["train_config"]) if info.get("train_config") else [])
    save_checkpoint(dest, model, {k: v for k, v in info.items() if k != "train_config"})
    fp32_bytes = dest.stat().st_size
    if half:  # its filters in float16, its vectors in float32 (repro.core.checkpoint.cast_state_dict)
        store_checkpoint(dest, dest, "fp16")
    if isinstance(card.get("stored"), dict):
        info["stored"] = {**card["stored"], "bytes": dest.stat().st_size, "fp32_bytes": fp32_bytes}
    atomic_write_text(dest.with_suffix(".json"), json.dumps(info, indent=2, default=str) + "\n")
    return dest
