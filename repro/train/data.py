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
        from ..io.datasets import PairedFolder

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

    The items of a batch, in order (each share ``round(fraction * batch_size)`` items):

    - ``config.si_fraction`` (WILD data): SI blur of their pair's sharp frame;
    - the WILD pairs (or, with ``data="si"``, SI blur by the bank's kernels);
    - ``config.short_fraction``: a short-window pair from ``short`` (``train --short-root``), or
      with ``data="si"`` SI blur by a near-identity kernel (:func:`repro.synthetic.defocus.line_kernel`);
    - ``config.sharp_fraction`` (WILD data): the sharp crop as the input too (target: the identity).

    With ``config.defocus_fraction`` any item, with that probability, has its sharp crop defocused
    (a disc, :func:`repro.synthetic.defocus.defocus_batch`) before its input is made from it (SI),
    or its blurry and sharp crops defocused alike (WILD).
    """

    def __init__(self, cache: _PairCache, config: TrainConfig, data: str, seed: int, device: torch.device,
                 short: _PairCache | None = None) -> None:
        self.cache, self.config, self.data, self.seed, self.device = cache, config, data, seed, device
        if data == "si" and config.si_fraction:
            raise ValueError("TrainConfig.si_fraction mixes SI into WILD batches: it needs data='wild'")
        if data == "si" and config.sharp_fraction:
            raise ValueError("TrainConfig.sharp_fraction adds sharp -> sharp items to WILD batches: it needs data='wild'")
        if config.si_fraction and (config.short_fraction or config.defocus_fraction):
            raise ValueError("TrainConfig.si_fraction cannot be combined with short_fraction or defocus_fraction")
        if data == "wild" and config.short_fraction and short is None:
            raise ValueError("TrainConfig.short_fraction > 0 needs short-window pairs (train --short-root DIR)")
        if short is not None and not config.short_fraction:
            raise ValueError("short-window pairs were given (--short-root) but TrainConfig.short_fraction is 0")
        self.short = short
        B = config.batch_size
        self.n_si = int(round(config.si_fraction * B)) if data == "wild" else 0
        self.first_sharp = B - int(round(config.sharp_fraction * B)) if data == "wild" else B
        self.first_short = self.first_sharp - int(round(config.short_fraction * B))
        self.bank = si_kernel_bank(config, seed) if data == "si" or self.n_si else None
        self.pad = self.bank.size - 1 if self.bank is not None else 0

    def _extras(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step ``step``'s draws for the do-no-harm items, from streams of their own (a run without
        them draws what it drew before): short-pair indices, near-identity kernel lengths and
        angles, and defocus radii (0 = not defocused), each ``(B,)``."""
        cfg, B = self.config, self.config.batch_size
        rng = np.random.default_rng([int(self.seed), int(step), 0x5407])
        index = rng.integers(0, max(1, len(self.short) if self.short is not None else 1), B)
        length, angle = rng.uniform(0, cfg.short_kernel_max, B), rng.uniform(0, np.pi, B)
        rd = np.random.default_rng([int(self.seed), int(step), 0xDEF0C])
        on, radius = rd.random(B) < cfg.defocus_fraction, rd.uniform(*cfg.defocus_radius, B)
        return index, length, angle, np.where(on, radius, 0.0)

    def _pair(self, plan: BatchPlan, extras_index: np.ndarray, k: int) -> tuple[_PairCache, int]:
        """The cache and index of item ``k``'s pair (a short-window pair in the short slots)."""
        if self.data == "wild" and self.first_short <= k < self.first_sharp:
            return self.short, int(extras_index[k])
        return self.cache, int(plan.index[k])

    def batch(self, step: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n_si:
            return self._mixed_batch(step, rank, world)
        cfg = self.config
        plan = batch_plan(self.seed, step, len(self.cache), cfg.batch_size, cfg.si_kernels)
        short_index, length, angle, radii = self._extras(step)
        mine = list(range(len(plan.index)))[rank::world]
        size = cfg.crop + self.pad
        blurs, sharps = [], []
        for k in mine:
            cache, i = self._pair(plan, short_index, k)
            s = augment(_crop(cache.sharp[i], plan.corner[k], size), plan, k, cfg)
            sharps.append(s)
            blurs.append(None if self.data == "si" else self._wild_input(plan, k, size, s, cache, i))
        sharp = torch.stack(sharps).to(self.device, torch.float32).div_(255)
        if self.data == "si":
            return self._si_blur(sharp, plan, mine, length, angle, radii[mine], rank)
        blurry = torch.stack(blurs).to(self.device, torch.float32).div_(255)
        if radii.any():
            from ..synthetic.defocus import defocus_batch

            blurry, sharp = defocus_batch(blurry, radii[mine]), defocus_batch(sharp, radii[mine])
        return blurry.contiguous(), sharp.contiguous()

    def _si_blur(self, sharp: torch.Tensor, plan: BatchPlan, mine: list[int], length: np.ndarray, angle: np.ndarray,
                 radii: np.ndarray, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
        """SI ``(blurry, sharp)`` ``(b, 3, crop, crop)`` from the enlarged sharp crops ``(b, 3, crop + pad, ...)``
        of items ``mine``: defocused first where ``radii`` > 0, then blurred by the bank's kernels
        (the short slots: straight lines of ``length`` px at ``angle``)."""
        from ..synthetic import blur_padded_batch

        cfg = self.config
        gen = torch.Generator(device=self.device)
        gen.manual_seed(plan.noise_seed + rank)
        if radii.any():
            from ..synthetic.defocus import defocus_batch

            sharp = defocus_batch(sharp, radii)
        if not any(self.first_short <= k < self.first_sharp for k in mine):
            blurry, sharp = blur_padded_batch(sharp, [int(plan.kernel[k]) for k in mine], self.bank,
                                              cfg.si_noise_std, gen)
            return blurry.contiguous(), sharp.contiguous()
        from ..synthetic.dataset import blur_batch
        from ..synthetic.defocus import line_kernel

        kernels = np.stack([line_kernel(length[k], angle[k], self.bank.size) if self.first_short <= k < self.first_sharp
                            else self.bank[int(plan.kernel[k])] for k in mine])
        blurry = blur_batch(sharp, torch.as_tensor(kernels, dtype=sharp.dtype), None, cfg.si_noise_std, gen,
                            mode="valid")
        c = self.bank.size // 2
        sharp = sharp[..., c:sharp.shape[-2] - c, c:sharp.shape[-1] - c]
        return blurry.contiguous(), sharp.contiguous()

    def _wild_input(self, plan: BatchPlan, k: int, size: int, sharp_crop: torch.Tensor,
                    cache: _PairCache | None = None, i: int | None = None) -> torch.Tensor:
        """Item ``k``'s input ``(3, size, size)`` uint8: its WILD blurry crop (of pair ``i`` of
        ``cache``, default the plan's pair), or, for the last ``sharp_fraction`` of the batch, its
        (already augmented) sharp crop itself."""
        if k >= self.first_sharp:
            return sharp_crop
        cache = self.cache if cache is None else cache
        i = int(plan.index[k]) if i is None else i
        return augment(_crop(cache.blur[i], plan.corner[k], size), plan, k, self.config)

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


