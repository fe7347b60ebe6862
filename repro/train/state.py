"""A training run's state between two steps, and its checkpoints.

The state is the network (its raw weights and, with ``TrainConfig.ema_decay``, their running
average: the weights that are validated and saved), the optimizer, and the counters of
:func:`new_counters`. ``last.pt`` holds all of it (``train_state``: the counters, the RNG states and
``ema_n``; ``raw_state_dict`` with an average), so that :func:`resume` continues a killed run
exactly; ``best.pt`` holds the shown weights and :func:`checkpoint_meta` only. The format is
read back by runs made with earlier versions of this code: keep its keys.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.model import DeblurNet
from .config import TrainConfig, current_name, lr_at, overrides
from .placement import Placement

log = logging.getLogger(__name__)


def new_counters() -> dict[str, Any]:
    """The counters of a run at step 0 (``train_state`` of ``last.pt``, with the RNG states): the
    step, training seconds, the best and last validation PSNR and the input's, the validations
    since the best one (``since_best``, for ``TrainConfig.patience``), and the loss summed since
    the last log row (``acc_loss`` over ``acc_n`` steps)."""
    return {"step": 0, "seconds": 0.0, "best_psnr": None, "acc_loss": 0.0, "acc_n": 0, "last_psnr": None,
            "input_psnr": None, "since_best": 0}


@dataclass
class Weights:
    """The network being trained, its optimizer and, with ``ema_decay``, the average of its weights."""

    net: DeblurNet
    optimizer: torch.optim.Optimizer
    ema: Any = None  # torch.optim.swa_utils.AveragedModel or None

    @property
    def shown(self) -> torch.nn.Module:
        """The weights that are validated and saved: the average when there is one."""
        return self.net if self.ema is None else self.ema.module


def _initialise_from(net: DeblurNet, path: str) -> None:
    """Load the network weights of checkpoint ``path`` into ``net`` (a clear error when the file is
    missing or its model differs from ``net``'s configuration)."""
    from ..core.checkpoint import load_model

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"init={path}: no such checkpoint")
    model, _ = load_model(source)
    if model.config.to_dict() != net.config.to_dict():
        raise ValueError(f"init={path}: its model {model.config.to_dict()} differs from this run's "
                         f"{net.config.to_dict()}")
    net.load_state_dict(model.state_dict())


def make_weights(config: TrainConfig, seed: int, where: Placement, *, resume: bool = False) -> Weights:
    """The network initialised from ``seed`` (without touching the global RNG) or from
    ``config.init`` (unless resuming), on ``where``'s device; Adam over two groups (the three
    residual-emitting heads at ``head_lr_scale``); the weight average started at the initial weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DeblurNet(config.model_config())
    if config.init and not resume:
        _initialise_from(net, config.init)
    net = net.to(where.device)
    if where.channels_last:
        net = net.to(memory_format=torch.channels_last)
    heads = [p for stage in (net.n1, net.n2, net.n3) for p in stage.head.parameters()]
    head_ids = {id(p) for p in heads}
    body = [p for p in net.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.Adam([{"params": body, "lr_scale": 1.0},
                                  {"params": heads, "lr_scale": config.head_lr_scale}],
                                 lr=config.lr, betas=config.betas, eps=config.eps)
    ema = None
    if config.ema_decay:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
        ema.update_parameters(net)  # starts at the initial weights
    return Weights(net=net, optimizer=optimizer, ema=ema)


def checkpoint_meta(config: TrainConfig, counters: dict, *, data: str, seed: int, roots: str, val_names: str,
                    precision: str) -> dict:
    """The ``meta`` of ``last.pt`` and ``best.pt`` now (copied into weight cards on export)."""
    return {"preset": config.name, "data": data, "steps": counters["step"], "seed": seed,
            "psnr": counters["last_psnr"], "input_psnr": counters["input_psnr"], "best_psnr": counters["best_psnr"],
            "train_config": config.to_dict(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "data_root": roots, "val_root": val_names, "precision": precision, "departures": list(config.departures),
            "overrides": overrides(config)}


def save_last(path: Path, weights: Weights, counters: dict, meta: dict, config: TrainConfig,
              where: Placement) -> None:
    """Write ``last.pt``: everything :func:`resume` needs to continue exactly."""
    ts = dict(counters)
    ts["torch_rng"] = torch.get_rng_state()
    if where.cuda:
        ts["cuda_rng"] = torch.cuda.get_rng_state(where.device)
    extra = {}
    if weights.ema is not None:
        ts["ema_n"] = int(weights.ema.n_averaged)
        extra["raw_state_dict"] = {k: v.detach().cpu() for k, v in weights.net.state_dict().items()}
    save_checkpoint(path, weights.shown, meta, optimizer=weights.optimizer.state_dict(),
                    scheduler={"step": counters["step"], "lr": lr_at(config, counters["step"])}, train_state=ts,
                    **extra)


def save_best(path: Path, weights: Weights, meta: dict) -> None:
    """Write ``best.pt``: the shown weights and ``meta``."""
    save_checkpoint(path, weights.shown, meta)


_STOPPING_FIELDS = ("max_minutes", "patience")


def _warn_if_config_differs(payload: dict, config: TrainConfig) -> None:
    saved = payload.get("meta", {}).get("train_config")
    if saved:
        # fields added since the checkpoint was written count as their defaults; a former preset name as today's
        current, full = config.to_dict(), {**TrainConfig().to_dict(), **saved}
        full["name"] = current_name(str(full["name"]))
        # when to stop (a time budget, early stopping) changes no step of the trajectory
        diff = sorted(k for k in current if full.get(k) != current[k] and k not in _STOPPING_FIELDS)
        if diff:
            log.warning("resuming with a different config (fields %s): the continuation is not exact", diff)


def resume(path: Path, config: TrainConfig, weights: Weights, counters: dict, where: Placement) -> None:
    """Load ``last.pt`` at ``path`` into ``weights`` and ``counters`` (in place) and restore the
    RNG states; a warning when ``config`` differs from the run's (the continuation is then not exact)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: nothing to resume from")
    payload = load_checkpoint(path, map_location="cpu")
    _warn_if_config_differs(payload, config)
    if weights.ema is not None:
        if "raw_state_dict" not in payload:
            raise ValueError(f"{path} was written without ema_decay: it cannot resume a run with it")
        weights.net.load_state_dict(payload["raw_state_dict"])
        weights.ema.module.load_state_dict(payload["state_dict"])
        weights.ema.n_averaged.fill_(int(payload["train_state"]["ema_n"]))
    else:
        weights.net.load_state_dict(payload["state_dict"])
    weights.optimizer.load_state_dict(payload["optimizer"])
    ts = payload["train_state"]
    counters.update({k: ts[k] for k in counters if k in ts})
    if "torch_rng" in ts:
        torch.set_rng_state(ts["torch_rng"])
    if where.cuda and "cuda_rng" in ts:
        torch.cuda.set_rng_state(ts["cuda_rng"], where.device)
