"""The batch of a training step: a pure function of ``(seed, step)`` (:func:`batch_plan`), its
symmetries (:func:`augment`), and the WILD / SI batches made from the cached pairs (see
:mod:`repro.train`)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import TrainConfig


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
        from ..datasets import PairedFolder

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

    def extend(self, other: "_PairCache", prefix: str) -> None:
        """Append ``other``'s pairs, their names prefixed with ``prefix`` (e.g. the root's name)."""
        self.names += [f"{prefix}/{n}" for n in other.names]
        self.blur += other.blur
        self.sharp += other.sharp


def _crop(img: torch.Tensor, corner: np.ndarray, size: int) -> torch.Tensor:
    C, H, W = img.shape
    if H < size or W < size:
        raise ValueError(f"image {H}x{W} is smaller than the training crop {size}")
    y = int(corner[0] * (H - size + 1))
    x = int(corner[1] * (W - size + 1))
    return img[:, y:y + size, x:x + size]


def si_kernel_bank(config: TrainConfig, seed: int):
    """The :class:`repro.synthetic.kernels.KernelBank` that DeblurNet^SI trains on under ``config``."""
    from ..synthetic.kernels import KernelBank

    return KernelBank(config.si_kernels, seed=seed, generator=config.si_generator, size=config.si_kernel_size,
                      psz=config.si_psz or None)


class _TrainData:
    """Makes the batch of a step (WILD pairs, or SI blur of the sharp frames) on ``device``.

    SI batches go through :func:`repro.synthetic.blur_padded_batch`: a crop enlarged by the
    kernel size minus one, blurred in "valid" mode (no border effects), noise, clip, and the
    aligned central sharp crop.

    With ``config.si_fraction > 0`` (WILD data), the first ``round(si_fraction * batch_size)``
    items of every batch are SI blur of their pair's sharp frame, the others WILD pairs.
    With ``config.sharp_fraction > 0`` (WILD data), the last ``round(sharp_fraction * batch_size)``
    items take their sharp crop as the input too (a one-frame window: the network's target is the
    identity there).
    """

    def __init__(self, cache: _PairCache, config: TrainConfig, data: str, seed: int, device: torch.device) -> None:
        self.cache, self.config, self.data, self.seed, self.device = cache, config, data, seed, device
        if data == "si" and config.si_fraction:
            raise ValueError("TrainConfig.si_fraction mixes SI into WILD batches: it needs data='wild'")
        if data == "si" and config.sharp_fraction:
            raise ValueError("TrainConfig.sharp_fraction adds sharp -> sharp items to WILD batches: it needs data='wild'")
        self.n_si = int(round(config.si_fraction * config.batch_size)) if data == "wild" else 0
        self.first_sharp = config.batch_size - int(round(config.sharp_fraction * config.batch_size)) \
            if data == "wild" else config.batch_size
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
            b = None if self.data == "si" else self._wild_input(plan, k, size, s)
            sharps.append(s)
            blurs.append(b)
        sharp = torch.stack(sharps).to(self.device, torch.float32).div_(255)
        if self.data == "si":
            from ..synthetic import blur_padded_batch

            gen = torch.Generator(device=self.device)
            gen.manual_seed(plan.noise_seed + rank)
            blurry, sharp = blur_padded_batch(sharp, [int(k) for k in plan.kernel[mine]], self.bank,
                                              cfg.si_noise_std, gen)
        else:
            blurry = torch.stack(blurs).to(self.device, torch.float32).div_(255)
        return blurry.contiguous(), sharp.contiguous()

    def _wild_input(self, plan: BatchPlan, k: int, size: int, sharp_crop: torch.Tensor) -> torch.Tensor:
        """Item ``k``'s input ``(3, size, size)`` uint8: its WILD blurry crop, or, for the last
        ``sharp_fraction`` of the batch, its (already augmented) sharp crop itself."""
        if k >= self.first_sharp:
            return sharp_crop
        return augment(_crop(self.cache.blur[int(plan.index[k])], plan.corner[k], size), plan, k, self.config)

    def _mixed_batch(self, step: int, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
        """WILD batch whose first ``n_si`` items are SI blur of their sharp crops (the same plan:
        pairs, corners, symmetries, kernels and noise as the pure batches)."""
        from ..synthetic import blur_padded_batch

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
            sharps = [augment(_crop(self.cache.sharp[int(plan.index[k])], plan.corner[k], cfg.crop), plan, k, cfg)
                      for k in wild_items]
            blurs = [self._wild_input(plan, k, cfg.crop, s) for k, s in zip(wild_items, sharps)]
            for crops, parts in ((blurs, blurry_parts), (sharps, sharp_parts)):
                parts.append(torch.stack(crops).to(self.device, torch.float32).div_(255))
        return torch.cat(blurry_parts).contiguous(), torch.cat(sharp_parts).contiguous()


