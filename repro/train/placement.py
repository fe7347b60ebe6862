"""Where a training run computes: its device, its rank among DDP processes under ``torchrun``, and
its arithmetic (fp32 or bf16, channels-last or not); see :func:`repro.train.train`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

from ..core.devices import resolve_device
from ..core.precision import precision_reason, resolve_precision
from .config import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """One process's share of a run: ``rank`` of ``world`` processes (1: no DDP) on ``device``,
    computing in ``precision`` ("fp32" or "bf16", as resolved) with ``channels_last`` tensors."""

    device: torch.device
    rank: int = 0
    world: int = 1
    precision: str = "fp32"
    channels_last: bool = False

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that validates and writes files."""
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def _dist_info() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` from torchrun's environment (``(0, 1, 0)`` outside it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def _ddp_device(config: TrainConfig, world: int, local: int) -> torch.device:
    """Join the process group (NCCL on GPUs, else gloo) and return this rank's device."""
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    dev = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {world} processes")
    return dev


def place(config: TrainConfig, device: str = "auto") -> Placement:
    """This process's :class:`Placement`: under torchrun (``WORLD_SIZE`` > 1) its rank's GPU (or
    the CPU with gloo), else ``device`` ("auto", "cpu", "cuda:1", ...); ``config.precision``
    resolved for it. On a GPU, cuDNN autotuning and TF32 matmuls are switched on."""
    rank, world, local = _dist_info()
    dev = _ddp_device(config, world, local) if world > 1 else resolve_device(device)
    cuda = dev.type == "cuda"
    precision = resolve_precision(config.precision, dev)  # "fp32" or "bf16" (recorded in the log and checkpoints)
    channels_last = config.channels_last and (cuda or precision == "bf16")
    log.info("precision %s, channels_last %s", precision_reason(config.precision, dev), channels_last)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Placement(device=dev, rank=rank, world=world, precision=precision, channels_last=channels_last)


def wrap_model(net: torch.nn.Module, config: TrainConfig, where: Placement) -> torch.nn.Module:
    """The module the steps run: ``net`` compiled (``config.compile``, GPUs only) and wrapped in
    DDP when distributed (the weights stay ``net``'s)."""
    model: torch.nn.Module = net
    if where.cuda and config.compile:
        model = torch.compile(net)
    if where.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[where.device.index] if where.cuda else None)
    return model


def mean_over_ranks(value: torch.Tensor, where: Placement) -> torch.Tensor:
    """``value`` averaged over the DDP processes (in place; unchanged without DDP)."""
    if where.distributed:
        import torch.distributed as dist

        dist.all_reduce(value)
        value /= where.world
    return value


def decided_by_rank0(flag: bool, where: Placement) -> bool:
    """Rank 0's ``flag`` on every process (so that all stop at the same step)."""
    if not where.distributed:
        return flag
    import torch.distributed as dist

    tensor = torch.tensor([float(flag)], device=where.device)
    dist.broadcast(tensor, 0)
    return bool(tensor.item())


def barrier(where: Placement) -> None:
    """Wait for every DDP process (nothing without DDP)."""
    if where.distributed:
        import torch.distributed as dist

        dist.barrier()


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of the run: allocated on the GPU, else the process's resident set (MiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except (ImportError, OSError):
        return float("nan")
