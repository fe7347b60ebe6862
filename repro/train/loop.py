"""The training loop :func:`train` (CPU, one GPU, or DDP), its validation, and the export of a
checkpoint to shipped weights (see :mod:`repro.train` for the recipe and resuming)."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..devices import resolve_device
from ..files import atomic_write_text
from ..model import DeblurNet, multiscale_loss
from ..precision import autocast, resolve_precision, to_precision_format
from .config import TrainConfig, lr_at, overrides
from .data import _PairCache, _TrainData
from .logs import _write_log, plot_training, read_log

log = logging.getLogger(__name__)


def _initialise_from(net: DeblurNet, path: str) -> None:
    """Load the network weights of checkpoint ``path`` into ``net`` (a clear error when the file is
    missing or its model differs from ``net``'s configuration)."""
    from ..checkpoint import load_model

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"init={path}: no such checkpoint")
    model, _ = load_model(source)
    if model.config.to_dict() != net.config.to_dict():
        raise ValueError(f"init={path}: its model {model.config.to_dict()} differs from this run's "
                         f"{net.config.to_dict()}")
    net.load_state_dict(model.state_dict())


# --------------------------------------------------------------------------- validation


@torch.no_grad()
def _validate(model: torch.nn.Module, cache: _PairCache, device: torch.device,
              precision: str = "fp32") -> tuple[float, float]:
    """Mean PSNR (dB) of the restored and of the blurry test images against the sharp ones
    (the network run in the resolved ``precision``, "fp32" or "bf16"; the PSNRs in float32)."""
    from ..metrics import psnr_torch

    was_training = model.training
    model.eval()
    out_psnr, in_psnr = [], []
    try:
        for b, s in zip(cache.blur, cache.sharp):
            x = b.to(device, torch.float32).div(255)[None]
            y = s.to(device, torch.float32).div(255)[None]
            with autocast(precision, device):
                restored = model(to_precision_format(x, precision)).restored
            out_psnr.append(float(psnr_torch(restored.float().clamp(0, 1), y)[0]))
            in_psnr.append(float(psnr_torch(x, y)[0]))
    finally:
        model.train(was_training)
    return float(np.mean(out_psnr)), float(np.mean(in_psnr))


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


def _validation_pairs(val_root: Path, config: TrainConfig, dev: torch.device, workers: int) -> _PairCache:
    """The ``config.val_split`` pairs of ``val_root`` (``config.val_images`` evenly spaced ones, 0 = all)."""
    from ..datasets import PairedFolder

    n_val = len(PairedFolder(val_root, config.val_split)) if (val_root / config.val_split).is_dir() else 0
    if n_val == 0:
        raise FileNotFoundError(f"{val_root}: no {config.val_split!r} pairs to validate on (build them with "
                                f"`python -m repro build-wild virtual {val_root} --split {config.val_split}`)")
    pick = None
    if config.val_images and config.val_images < n_val:
        pick = sorted(set(np.linspace(0, n_val - 1, config.val_images).round().astype(int).tolist()))
    return _PairCache(val_root, config.val_split, pick=pick, device=dev, workers=workers,
                      desc=f"loading {val_root.name} {config.val_split} pairs")


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
    val_root: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    extra_roots: Sequence[str | os.PathLike] = (),
    workers: int = 4,
    progress: bool = True,
) -> TrainResult:
    """Train DeblurNet with ``config`` on ``data`` ("wild" pairs or "si" synthetic blur).

    ``data_root``: a WILD dataset (``<root>/train/<scene>/{blur,sharp}`` and ``<root>/test/...``);
    validation uses the ``config.val_split`` split of ``val_root`` (default ``data_root``; several
    roots: their pairs together, ``config.val_images`` evenly spaced pairs from each); the
    test split is never read. ``extra_roots``: further datasets whose train pairs join
    ``data_root``'s (e.g. dead-leaves footage, :mod:`repro.camera.deadleaves`); every training
    pair is drawn equally often, so each root's share is its share of the pairs. ``out``: checkpoints and
    ``log.csv``. ``resume=True`` continues from ``out/last.pt`` (same config required for an
    exact continuation). Under ``torchrun`` (``WORLD_SIZE`` > 1) training runs with DDP, the
    global batch split across ranks; only rank 0 validates and writes files.
    """
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
    precision = resolve_precision(config.precision, dev)  # "fp32" or "bf16" (recorded in the log and checkpoints)
    channels_last = config.channels_last and (cuda or precision == "bf16")
    log.info("precision %s (asked: %s), channels_last %s", precision, config.precision, channels_last)
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
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    heads = [p for stage in (net.n1, net.n2, net.n3) for p in stage.head.parameters()]
    head_ids = {id(p) for p in heads}
    body = [p for p in net.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.Adam([{"params": body, "lr_scale": 1.0},
                                  {"params": heads, "lr_scale": config.head_lr_scale}],
                                 lr=config.lr, betas=config.betas, eps=config.eps)

    # the weights that are validated and saved: an average of the raw ones (TrainConfig.ema_decay)
    ema = None
    if config.ema_decay:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
        ema.update_parameters(net)  # starts at the initial weights
    shown = net if ema is None else ema.module

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
        if ema is not None:
            if "raw_state_dict" not in payload:
                raise ValueError(f"{last_path} was written without ema_decay: it cannot resume a run with it")
            net.load_state_dict(payload["raw_state_dict"])
            ema.module.load_state_dict(payload["state_dict"])
            ema.n_averaged.fill_(int(payload["train_state"]["ema_n"]))
        else:
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
    for extra in extra_roots:
        cache.extend(_PairCache(extra, "train", limit=config.max_pairs, device=dev, workers=workers,
                                desc=f"loading {extra.name} training pairs"), prefix=extra.name)
    train_data = _TrainData(cache, config, data, seed, dev)
    val_cache = None
    if is_main:
        for val_root in val_roots:
            one = _validation_pairs(val_root, config, dev, workers)
            if val_cache is None:
                val_cache = one
            else:
                val_cache.extend(one, prefix=val_root.name)
    log.info("data: %d training pairs (%s), %s validation pairs, loaded in %.1fs", len(cache), data,
             len(val_cache) if val_cache else "-", time.perf_counter() - t_load)
    steps_per_epoch = max(1, len(cache) // config.batch_size)
    val_every = config.val_every or steps_per_epoch

    roots = ",".join(str(p) for p in [data_root, *extra_roots])
    val_names = ",".join(str(p) for p in val_roots)
    header = (f"run={run_name}; data={data}; data_root={roots}; val_root={val_names}; seed={seed}; precision={precision}; "
              f"config={json.dumps(config.to_dict())}")

    def meta() -> dict:
        return {"preset": config.name, "data": data, "steps": state["step"], "seed": seed,
                "psnr": state["last_psnr"], "input_psnr": state["input_psnr"], "best_psnr": state["best_psnr"],
                "train_config": config.to_dict(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "data_root": roots, "val_root": val_names, "precision": precision, "departures": list(config.departures),
                "overrides": overrides(config)}

    def save_last() -> None:
        ts = dict(state)
        ts["torch_rng"] = torch.get_rng_state()
        if cuda:
            ts["cuda_rng"] = torch.cuda.get_rng_state(dev)
        extra = {}
        if ema is not None:
            ts["ema_n"] = int(ema.n_averaged)
            extra["raw_state_dict"] = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        save_checkpoint(last_path, shown, meta(), optimizer=optimizer.state_dict(),
                        scheduler={"step": state["step"], "lr": lr_at(config, state["step"])}, train_state=ts, **extra)
        _write_log(log_path, rows, header)

    def validate_now() -> None:
        psnr, psnr_in = _validate(shown, val_cache, dev, precision)
        state["last_psnr"], state["input_psnr"] = psnr, psnr_in
        rows[-1].update(val_psnr=round(psnr, 4), val_psnr_input=round(psnr_in, 4))
        if state["best_psnr"] is None or psnr > state["best_psnr"]:
            state["best_psnr"] = psnr
            save_checkpoint(best_path, shown, meta())

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
        if cuda:  # the batch's host-to-device copy waits for the queued steps: keep that wait out of the data time
            torch.cuda.synchronize(dev)
        t_data = time.perf_counter()
        blurry, sharp = train_data.batch(step, rank, world)
        data_s += time.perf_counter() - t_data
        if channels_last:
            blurry = blurry.contiguous(memory_format=torch.channels_last)
            sharp = sharp.contiguous(memory_format=torch.channels_last)
        with autocast(precision, dev):
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
        if ema is not None:
            ema.update_parameters(net)
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
        paused = False
        if step % val_every == 0 or step == target_steps or stop:
            validate_now()
            paused = True
        if step % config.checkpoint_every == 0 or step == target_steps or stop:
            save_last()
            paused = True
        if paused:  # validation and checkpoint time are not training time (nor in the logged rates)
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
        save_checkpoint(best_path, shown, meta())
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
    from ..checkpoint import load_model

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
        "precision": meta.get("precision"),  # the arithmetic of training (None: a checkpoint made before it was kept)
    }
    info.update(card)
    # what the run changed from its preset (worked out again for checkpoints made before they were kept)
    if "overrides" not in card:
        info["overrides"] = meta.get("overrides") or (overrides(info["train_config"]) if info.get("train_config") else [])
    save_checkpoint(dest, model, {k: v for k, v in info.items() if k != "train_config"})
    atomic_write_text(dest.with_suffix(".json"), json.dumps(info, indent=2, default=str) + "\n")
    return dest


