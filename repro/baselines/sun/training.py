"""Training the patch CNN on blurred patches of the training photos, and its patch accuracy."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...io.files import atomic_write_text
from .cnn import FORMAT, PATCH, SunCNN, SunCNNConfig, luma, save_sun_checkpoint, standardize
from .motion_kernels import BASE_ANGLES, BASE_LENGTHS, angle_difference, kernel_labels, kernel_stack

__all__ = ["training_photos", "soft_targets", "within_one_step", "evaluate_patches", "train_sun"]


def training_photos(split: str) -> list[Path]:
    """Photo files of ``split`` ("train"/"test"): the renderer's disjoint split of the photos
    shipped with scikit-image and matplotlib (:func:`repro.camera.photo_paths`)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    from ...camera import photo_paths

    return [Path(p) for p in photo_paths(split)]


def _load_pyramid(paths: list[Path], scales: tuple[float, ...] = (1.0, 0.7, 0.5)) -> list[np.ndarray]:
    """Gray float32 versions of every photo at every scale (area-averaged downscaling)."""
    from skimage.transform import rescale

    from ...io.images import read_image, to_float

    out = []
    for p in paths:
        g = luma(to_float(read_image(p)))
        for s in scales:
            img = g if s == 1.0 else rescale(g, s, anti_aliasing=True).astype(np.float32)
            if min(img.shape) >= PATCH + 24 + 2:
                out.append(img)
    if not out:
        raise ValueError(f"no usable photos among {[str(p) for p in paths]}")
    return out


def soft_targets(length: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Soft class targets ``(n, 73)`` for continuous kernels ``(length, angle)`` ``(n,)``.

    The mass is split linearly between the two neighbouring lengths of the set (1, 3, ..., 25)
    and, for each, between the two neighbouring orientations (30-degree steps, circular), so a
    kernel of the set gets a one-hot target and one half-way between two gets 1/2 and 1/2.
    """
    length = np.asarray(length, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64) % 180.0
    if np.any(length < 1) or np.any(length > BASE_LENGTHS[-1]):
        raise ValueError(f"lengths must lie in [1, {BASE_LENGTHS[-1]}]")
    n = len(length)
    n_ang = len(BASE_ANGLES)
    step = 180.0 / n_ang
    u = (length - 1.0) / 2.0  # position on the length grid 1, 3, ..., 25
    i0 = np.minimum(np.floor(u).astype(int), len(BASE_LENGTHS) - 2)
    wl = u - i0
    v = angle / step
    j0 = np.floor(v).astype(int) % n_ang
    j1 = (j0 + 1) % n_ang
    wa = v - np.floor(v)
    target = np.zeros((n, 1 + (len(BASE_LENGTHS) - 1) * n_ang))
    rows = np.arange(n)
    for i, w in ((i0, 1.0 - wl), (i0 + 1, wl)):
        is_one = i == 0
        # class index of (length index i >= 1, angle index j): 1 + (i - 1) * n_ang + j
        np.add.at(target, (rows[is_one], 0), w[is_one])
        other = ~is_one
        for j, wj in ((j0, 1.0 - wa), (j1, wa)):
            np.add.at(target, (rows[other], 1 + (i[other] - 1) * n_ang + j[other]), (w * wj)[other])
    return target


class _PatchSampler:
    """Random blurred training patches: crop a sharp window, blur it by a random linear kernel
    (valid convolution, so no border effects), add noise, quantise.

    ``continuous=False`` draws kernels of the 73-kernel set (one-hot targets; used for the
    accuracy). ``continuous=True`` draws lengths on a 0.5 px grid in [1, 25] and orientations
    on a 1-degree grid, with :func:`soft_targets`: the net then sees the off-grid orientations
    that the test-time rotations produce and its confidence peaks where the rotated patch is
    aligned with a kernel of the set (our addition; the paper trains on the set only).
    """

    def __init__(self, images: list[np.ndarray], rng: np.random.Generator, *, min_std: float = 0.03,
                 p_any: float = 0.15, noise: tuple[float, float] = (0.0, 0.01), continuous: bool = False) -> None:
        self.images = images
        self.rng = rng
        self.min_std = min_std
        self.p_any = p_any
        self.noise = noise
        self.labels = kernel_labels()
        if continuous:
            lengths = np.arange(1.0, BASE_LENGTHS[-1] + 0.25, 0.5)
            ll, aa = np.meshgrid(lengths, np.arange(0.0, 180.0, 1.0), indexing="ij")
            self.params = np.stack([ll.ravel(), aa.ravel()], axis=1)  # (n_bank, 2)
            self.targets = torch.from_numpy(soft_targets(self.params[:, 0], self.params[:, 1])).float()
        else:
            self.params = self.labels
            self.targets = torch.eye(len(self.labels))
        self.kernels = torch.from_numpy(kernel_stack(self.params, 25))[:, None]  # (n_bank, 1, 25, 25)
        self.win = PATCH + 24
        areas = np.array([im.size for im in images], dtype=np.float64)
        self.p_image = areas / areas.sum()

    def crops(self, n: int) -> np.ndarray:
        rng, win = self.rng, self.win
        out = np.empty((n, win, win), dtype=np.float32)
        for i in range(n):
            # mostly textured windows (flat ones carry no blur information); a fraction p_any of
            # any windows, so the net also learns to be unsure on flat patches
            need = 0.0 if rng.random() < self.p_any else self.min_std
            for _ in range(20):
                im = self.images[rng.choice(len(self.images), p=self.p_image)]
                y = rng.integers(0, im.shape[0] - win + 1)
                x = rng.integers(0, im.shape[1] - win + 1)
                c = im[y : y + win, x : x + win]
                if c[12:-12, 12:-12].std() >= need:
                    break
            c = np.rot90(c, rng.integers(0, 4))
            if rng.random() < 0.5:
                c = c[:, ::-1]
            out[i] = c
        return out

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(patches (n, 1, 30, 30) standardised, targets (n, 73), kernel indices (n,))``."""
        sharp = torch.from_numpy(self.crops(n))
        idx = torch.from_numpy(self.rng.integers(0, len(self.params), n))
        # kernels are point-symmetric: correlation (conv2d) = convolution; one kernel per patch
        blurred = F.conv2d(sharp[None], self.kernels[idx], groups=n)[0, :, None]  # (n, 1, 30, 30)
        sigma = torch.from_numpy(self.rng.uniform(*self.noise, n).astype(np.float32))[:, None, None, None]
        noise = torch.from_numpy(self.rng.standard_normal(blurred.shape).astype(np.float32))
        blurred = blurred + sigma * noise
        quant = torch.from_numpy(self.rng.random(n) < 0.5)[:, None, None, None]
        blurred = torch.where(quant, torch.round(blurred.clamp(0, 1) * 255) / 255, blurred)
        return standardize(blurred), self.targets[idx], idx


# ---------------------------------------------------------------------------------------------
# Training and patch accuracy
# ---------------------------------------------------------------------------------------------


def within_one_step(pred: np.ndarray, true: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Whether predicted and true label indices are at most one step apart in the base set:
    lengths within 2 px and orientations within 30 degrees (orientation ignored at length 1)."""
    labels = kernel_labels() if labels is None else labels
    lp, ap = labels[pred, 0], labels[pred, 1]
    lt, at = labels[true, 0], labels[true, 1]
    near_len = np.abs(lp - lt) <= 2
    near_ang = (angle_difference(ap, at) <= 30 + 1e-9) | (lp == 1) | (lt == 1)
    return near_len & near_ang


@torch.no_grad()
def evaluate_patches(model: SunCNN, photos: list[Path], *, n: int = 4000, seed: int = 1234, batch: int = 500) -> dict:
    """Patch accuracy on ``n`` random blurred textured patches (sharp std >= 0.03) of ``photos``.

    Returns ``{"exact": fraction of the exact class, "within_one_step": see
    :func:`within_one_step`, "n": n}``.
    """
    model.eval()
    sampler = _PatchSampler(_load_pyramid(photos), np.random.default_rng(seed), p_any=0.0)
    exact = near = 0
    for start in range(0, n, batch):
        m = min(batch, n - start)
        x, _, y = sampler.batch(m)  # the 73-kernel set: kernel index = class
        pred = model(x).argmax(1).numpy()
        exact += int((pred == y.numpy()).sum())
        near += int(within_one_step(pred, y.numpy(), sampler.labels).sum())
    return {"exact": exact / n, "within_one_step": near / n, "n": n}


def train_sun(
    out: str | os.PathLike,
    *,
    steps: int = 8000,
    seed: int = 0,
    batch: int = 128,
    lr: float = 1e-3,
    config: SunCNNConfig | None = None,
    eval_patches: int = 4000,
    threads: int | None = None,
    command: str | None = None,
) -> dict:
    """Train :class:`SunCNN` on blurred patches of the training photos (continuous kernels,
    soft targets: :class:`_PatchSampler`, :func:`soft_targets`); write the checkpoint
    ``out`` and its JSON card (``out`` with suffix ``.json``); return the card.

    Adam (``lr``, cosine decay to 0), soft-target cross-entropy over the 73 kernels, ``batch`` patches per
    step drawn by a generator seeded with ``seed``. The card records the photos, steps, seed,
    the held-out patch accuracy (:func:`evaluate_patches` on the test photos), the wall time
    and ``command``.
    """
    from tqdm.auto import tqdm

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    out = Path(out)
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_paths, test_paths = training_photos("train"), training_photos("test")
    sampler = _PatchSampler(_load_pyramid(train_paths), rng, continuous=True)
    model = SunCNN(config or SunCNNConfig())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    t0 = time.time()
    model.train()
    running = None
    bar = tqdm(range(steps), desc="train-sun", unit="step", mininterval=2.0)
    for step in bar:
        x, target, _ = sampler.batch(batch)
        loss = -(target * F.log_softmax(model(x), dim=1)).sum(1).mean()  # soft-target cross-entropy
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{running:.3f}")
    train_seconds = time.time() - t0
    acc = evaluate_patches(model, test_paths, n=eval_patches)
    card = {
        "method": "Sun, Cao, Xu, Ponce, CVPR 2015 (patch CNN over 73 linear motion kernels)",
        "format": FORMAT,
        "config": model.config.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {
            "train_photos": [p.name for p in train_paths],
            "heldout_photos": [p.name for p in test_paths],
            "patches": f"{batch * steps} random 30x30 gray patches (scales 1, 0.7, 0.5; rot90/flip; "
            "85% with sharp std >= 0.03, 15% any), each blurred by a random linear kernel (length "
            "uniform on 1, 1.5, ..., 25 px, orientation on a 1-degree grid) with soft targets over "
            "the 73 kernels (linear in length and orientation), Gaussian noise std U(0, 0.01), "
            "8-bit quantisation with probability 1/2",
            "heldout_accuracy_on": "the 73 kernels of the set, textured patches (sharp std >= 0.03) of the held-out photos",
        },
        "steps": steps,
        "batch": batch,
        "lr": lr,
        "seed": seed,
        "final_train_loss": running,
        "heldout_patch_accuracy": acc,
        "train_seconds": round(train_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "command": command or f"python -m repro train-sun --out {out} --steps {steps} --seed {seed}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_sun_checkpoint(out, model.eval(), meta=card)
    atomic_write_text(out.with_suffix(".json"), json.dumps(card, indent=2) + "\n")
    return card
