"""Sun, Cao, Xu, Ponce (CVPR 2015): a CNN scores linear motion kernels per patch, an MRF makes
the motion field dense and smooth, non-blind deconvolution removes the space-varying blur.

Reference: J. Sun, W. Cao, Z. Xu, J. Ponce, "Learning a convolutional neural network for
non-uniform motion blur removal", CVPR 2015 (arXiv:1503.00593). Written here from the paper's
description (and ``docs/paper.md``, "Classical baselines"); no code was copied. The pipeline and where we differ:

1. **Kernel set** (Sec. 3; :mod:`repro.baselines.motion_kernels`): linear kernels of lengths
   1, 3, ..., 25 px at orientations 0, 30, ..., 150 degrees, length 1 once: 73 classes.
2. **CNN** (Sec. 3): a 30x30 gray patch -> conv 96@7x7 -> max-pool 2 -> conv 256@5x5 ->
   max-pool 2 -> FC 1024 -> softmax over the 73 kernels. *Ours is narrower* (32, 64, 256
   channels by default, :class:`SunCNNConfig`) and has batch normalisation, so that the
   checkpoint stays under 5 MB (1.3 MB) and it trains on one CPU core in about 15 minutes; patches
   are standardised (mean 0, std 1) before the net.
   The paper trained on ~1.4 M patches of BSD images; we train on patches of the repository's
   embedded training photos (:func:`training_photos`), blurred on the fly by random kernels of
   the set, with small Gaussian noise and 8-bit quantisation (:func:`train_sun`).
3. **Test-time rotation** (Sec. 4): the image is rotated by 0, 6, 12, 18, 24 degrees and the
   same CNN is applied, so orientations every 6 degrees are scored without retraining
   (12 x 30 + 1 = 361 kernels). We rotate each patch (spline sampling of the image along a
   rotated 30x30 grid) rather than the whole image; the confidence of kernel ``(l, o)`` is the
   CNN's confidence of ``(l, o + phi)`` on the patch rotated by ``phi`` (the union of the five
   rotated sets, as in the paper), length 1 averaged over the rotations.
4. **MRF** (Sec. 4): the paper's energy has a unary term from the CNN confidences and a
   smoothness term on the difference of neighbouring motion vectors. *Ours*: a 4-connected
   grid MRF on the patch centres (stride ``stride`` px), unary ``-log`` of the confidence,
   pairwise ``lam * min(d^2, trunc)`` with ``d`` the distance of the motion vectors
   ``(l - 1)(cos o, sin o)`` modulo sign (``v`` and ``-v`` are the same blur); solved by
   loopy sum-product belief propagation (damped, parallel updates; each message is one
   matrix product, so 361 labels stay cheap), decoded by the maximum of each node's belief.
   The paper spreads patch confidences to every pixel before the MRF; we keep the MRF on the
   patch grid and interpolate the result (:class:`MotionField`). Also ours: the confidences of
   flat patches (gray std below ``texture_std``) are tempered towards uniform, so the MRF
   decides them from their textured neighbours.
5. **Deconvolution** (Sec. 5): the paper uses a non-uniform EPLL (patch-prior) deconvolution.
   *Ours*: the image is deconvolved with each kernel of the field (at most ``max_kernels``,
   rarer labels merged into the nearest kept one) by the classical baselines'
   hyper-Laplacian deconvolution (:func:`repro.baselines.deconv.deconvolve`, Krishnan &
   Fergus 2009) on the region where that kernel is used, and the results are blended with
   smooth per-pixel weights: a locally-uniform approximation of the space-varying blur.

Public API: :class:`SunEtAl2015` (``deblur(image) -> image``, ``.motion_field``),
:class:`SunCNN`, :func:`train_sun`, :func:`load_sun_checkpoint`, :func:`figure_motion_field`,
and the ``python -m repro train-sun`` command (:func:`add_arguments`, :func:`run`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import CheckpointError
from ..files import atomic_path, atomic_write_text
from .motion_kernels import (
    BASE_ANGLES,
    BASE_LENGTHS,
    EXTENDED_ANGLES,
    angle_difference,
    kernel_labels,
    kernel_stack,
    linear_motion_kernel,
    motion_vectors,
)

__all__ = [
    "SunCNNConfig",
    "SunCNN",
    "SunEtAl2015",
    "MotionField",
    "train_sun",
    "evaluate_patches",
    "save_sun_checkpoint",
    "load_sun_checkpoint",
    "default_checkpoint",
    "training_photos",
    "rotated_patches",
    "combine_rotations",
    "mrf_labels",
    "figure_motion_field",
    "add_arguments",
    "run",
    "FORMAT",
    "PATCH",
    "ROTATIONS",
]

log = logging.getLogger(__name__)

FORMAT = "sun2015/1"
PATCH = 30  # patch side (Sun et al. Sec. 3)
ROTATIONS: tuple[int, ...] = (0, 6, 12, 18, 24)  # test-time image rotations, degrees (Sec. 4)


# ---------------------------------------------------------------------------------------------
# The CNN
# ---------------------------------------------------------------------------------------------


@dataclass
class SunCNNConfig:
    """Architecture of the patch classifier (Sun et al. 2015 Sec. 3, narrower by default)."""

    conv1: int = 32  # channels of the 7x7 convolution (paper: 96)
    conv2: int = 64  # channels of the 5x5 convolution (paper: 256)
    fc: int = 256  # hidden fully-connected units (paper: 1024)
    n_classes: int = 73  # kernels of the base set: 12 lengths x 6 orientations + length 1
    patch: int = PATCH  # input patch side in pixels

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SunCNNConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown SunCNNConfig fields {sorted(unknown)}")
        return cls(**{k: int(v) for k, v in d.items()})


class SunCNN(nn.Module):
    """Patch classifier: ``(B, 1, 30, 30)`` standardised gray patches -> ``(B, 73)`` logits."""

    def __init__(self, config: SunCNNConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SunCNNConfig()
        if config.patch != PATCH:
            raise ValueError(f"the architecture is built for {PATCH}x{PATCH} patches, got {config.patch}")
        self.features = nn.Sequential(
            nn.Conv2d(1, config.conv1, 7, bias=False),  # 30 -> 24
            nn.BatchNorm2d(config.conv1),  # not in the paper: faster convergence on a CPU budget
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 24 -> 12
            nn.Conv2d(config.conv1, config.conv2, 5, bias=False),  # 12 -> 8
            nn.BatchNorm2d(config.conv2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 8 -> 4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(config.conv2 * 4 * 4, config.fc),
            nn.ReLU(inplace=True),
            nn.Linear(config.fc, config.n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        assert (C, H, W) == (1, PATCH, PATCH), f"expected (B, 1, {PATCH}, {PATCH}) patches, got {tuple(x.shape)}"
        return self.classifier(self.features(x))


def standardize(patches: torch.Tensor, eps: float = 0.02) -> torch.Tensor:
    """Per-patch mean 0 and (about) std 1: ``(p - mean) / (std + eps)``; shape ``(B, 1, P, P)``."""
    mean = patches.mean(dim=(-2, -1), keepdim=True)
    std = patches.std(dim=(-2, -1), keepdim=True)
    return (patches - mean) / (std + eps)


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def default_checkpoint() -> Path:
    """The shipped checkpoint ``repro/weights/sun2015.pt``."""
    from ..paths import weights_dir

    return weights_dir() / "sun2015.pt"


def save_sun_checkpoint(path: str | os.PathLike, model: SunCNN, meta: dict | None = None) -> None:
    """Write ``{"format", "config", "state_dict", "labels", "meta"}`` atomically (plain tensors)."""
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "labels": torch.from_numpy(kernel_labels()),
        "meta": dict(meta or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_sun_checkpoint(path: str | os.PathLike | None = None) -> tuple[SunCNN, dict]:
    """Load a :class:`SunCNN` (eval mode) and its metadata, ``torch.load(weights_only=True)``.

    ``path=None`` loads the shipped checkpoint. Raises :class:`repro.checkpoint.CheckpointError`
    (a ``ValueError``) naming the file for a missing, empty, corrupt or mismatched checkpoint.
    """
    path = Path(path) if path is not None else default_checkpoint()
    if not path.exists():
        raise CheckpointError(f"{path}: Sun et al. checkpoint not found (train one with `python -m repro train-sun`)")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, expected a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated?): {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a Sun et al. checkpoint (format {got!r}, expected {FORMAT!r})")
    try:
        config = SunCNNConfig.from_dict(payload["config"])
        model = SunCNN(config)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: weights/config do not make a SunCNN: {exc}") from exc
    labels = payload.get("labels")
    if labels is None or not np.allclose(labels.numpy(), kernel_labels()):
        raise CheckpointError(f"{path}: the checkpoint's kernel set differs from this code's 73-kernel set")
    return model.eval(), dict(payload.get("meta", {}))


# ---------------------------------------------------------------------------------------------
# Training data
# ---------------------------------------------------------------------------------------------


def training_photos(split: str) -> list[Path]:
    """Photo files of ``split`` ("train"/"test"): the renderer's disjoint split of the photos
    shipped with scikit-image and matplotlib (:func:`repro.camera.photo_paths`)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    from ..camera import photo_paths

    return [Path(p) for p in photo_paths(split)]


def _gray(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` / ``(H, W, 3|4)`` image in [0, 1] -> float32 luma (:func:`repro.images.to_gray`)."""
    from ..images import to_gray

    return np.asarray(to_gray(image), dtype=np.float32)


def _load_pyramid(paths: list[Path], scales: tuple[float, ...] = (1.0, 0.7, 0.5)) -> list[np.ndarray]:
    """Gray float32 versions of every photo at every scale (area-averaged downscaling)."""
    from skimage.transform import rescale

    from ..images import read_image, to_float

    out = []
    for p in paths:
        g = _gray(to_float(read_image(p)))
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


# ---------------------------------------------------------------------------------------------
# Estimation: rotated patches -> 361-kernel confidences -> MRF -> motion field
# ---------------------------------------------------------------------------------------------


def extended_labels() -> np.ndarray:
    """The 361 kernels reached by test-time rotation: ``(361, 2)`` rows ``(length, angle)``."""
    return kernel_labels(BASE_LENGTHS, EXTENDED_ANGLES)


def patch_centres(n: int, stride: int) -> np.ndarray:
    """Centres (half-integer pixel coordinates) of patches spread evenly over ``n`` pixels."""
    if n < PATCH:
        raise ValueError(f"image side {n} is smaller than the {PATCH}-pixel patch")
    count = int(math.ceil((n - PATCH) / stride)) + 1
    starts = np.round(np.linspace(0, n - PATCH, count))
    return starts + (PATCH - 1) / 2.0


def rotated_patches(gray: np.ndarray, centres_yx: np.ndarray, angle: float, *, prefiltered: np.ndarray | None = None) -> np.ndarray:
    """30x30 patches of ``gray`` (H, W) around ``centres_yx`` (N, 2) of the image rotated
    counter-clockwise (as displayed) by ``angle`` degrees about each centre.

    A blur at orientation ``o`` in ``gray`` appears at ``o + angle`` in the patches. Cubic
    spline sampling, mirrored borders. Returns ``(N, 30, 30)`` float32.
    """
    from scipy import ndimage as ndi

    coeffs = ndi.spline_filter(gray.astype(np.float64), order=3, mode="mirror") if prefiltered is None else prefiltered
    off = np.arange(PATCH) - (PATCH - 1) / 2.0
    v, u = np.meshgrid(off, off, indexing="ij")  # rows, cols of the patch
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    dx = c * u - s * v  # rotated patch offset -> image offset (x right, rows down)
    dy = s * u + c * v
    ys = centres_yx[:, 0, None, None] + dy[None]
    xs = centres_yx[:, 1, None, None] + dx[None]
    out = ndi.map_coordinates(coeffs, [ys.ravel(), xs.ravel()], order=3, mode="mirror", prefilter=False)
    return out.reshape(len(centres_yx), PATCH, PATCH).astype(np.float32)


def combine_rotations(probs: np.ndarray, rotations: tuple[int, ...] = ROTATIONS) -> np.ndarray:
    """Per-rotation CNN probabilities ``(R, N, 73)`` -> confidences ``(N, 361)`` over
    :func:`extended_labels` (Sun et al. Sec. 4): kernel ``(l, o)`` takes the confidence of
    ``(l, o + phi)`` on the patch rotated by ``phi``; length 1 the mean over rotations; each
    row is normalised to sum 1."""
    R, N, K = probs.shape
    if R != len(rotations):
        raise ValueError(f"got {R} rotations of probabilities for rotations {rotations}")
    base, ext = kernel_labels(), extended_labels()
    index = {(int(l), int(round(a)) % 180): i for i, (l, a) in enumerate(ext)}
    conf = np.zeros((N, len(ext)), dtype=np.float64)
    for r, phi in enumerate(rotations):
        for k, (l, a) in enumerate(base):
            if l == 1:
                conf[:, 0] += probs[r, :, k] / R
            else:
                key = (int(l), int(round(a - phi)) % 180)
                if key not in index:
                    raise ValueError(f"rotation {phi} maps kernel {(l, a)} outside the extended set")
                conf[:, index[key]] += probs[r, :, k]
    return conf / conf.sum(axis=1, keepdims=True)


def pairwise_cost(labels: np.ndarray) -> np.ndarray:
    """Squared motion-vector distance ``(L, L)`` modulo sign (``v`` ~ ``-v``)."""
    v = motion_vectors(labels)
    d_minus = ((v[:, None] - v[None]) ** 2).sum(-1)
    d_plus = ((v[:, None] + v[None]) ** 2).sum(-1)
    return np.minimum(d_minus, d_plus)


def mrf_labels(conf: np.ndarray, labels: np.ndarray, *, lam: float = 0.05, trunc: float = 64.0,
               iters: int = 12, damping: float = 0.5, eps: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Smooth a grid of per-node confidences ``conf`` (ny, nx, L) into one label per node.

    Energy ``sum_p -log(conf_p(m_p) + eps) + lam * sum_{p~q} min(d(m_p, m_q)^2, trunc)`` on the
    4-connected grid (:func:`pairwise_cost` for ``d``), minimised approximately by loopy
    sum-product belief propagation with ``damping`` over ``iters`` parallel sweeps. Returns
    ``(labels (ny, nx) int, belief of the chosen label (ny, nx) in [0, 1])``.
    """
    ny, nx, L = conf.shape
    if labels.shape[0] != L:
        raise ValueError(f"conf has {L} labels but labels has {labels.shape[0]} rows")
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    unary = np.log(conf + eps).astype(np.float32)  # log potentials (ny, nx, L)
    psi = np.exp(-lam * np.minimum(pairwise_cost(labels), trunc)).astype(np.float32)  # (L, L), symmetric
    # msgs[d][i, j] = log message arriving at node (i, j) from its neighbour on side d;
    # the sender excludes what it received from (i, j) itself (on the opposite side).
    opposite = {"up": "down", "down": "up", "left": "right", "right": "left"}
    msgs = {d: np.zeros((ny, nx, L), dtype=np.float32) for d in opposite}
    for _ in range(iters):
        total = unary + sum(msgs.values())
        new = {}
        for d, back in opposite.items():
            h = total - msgs[back]  # each node, towards its neighbour on side `back`
            h -= h.max(axis=-1, keepdims=True)
            m = np.log(np.exp(h).reshape(-1, L) @ psi + 1e-30).reshape(ny, nx, L)
            m -= m.max(axis=-1, keepdims=True)
            moved = np.zeros_like(m)
            # a message arriving from above at (i, j) was sent by (i - 1, j), and so on
            if d == "up":
                moved[1:] = m[:-1]
            elif d == "down":
                moved[:-1] = m[1:]
            elif d == "left":
                moved[:, 1:] = m[:, :-1]
            else:
                moved[:, :-1] = m[:, 1:]
            new[d] = damping * msgs[d] + (1 - damping) * moved
        msgs = new
    belief = unary + sum(msgs.values())
    belief = np.exp(belief - belief.max(axis=-1, keepdims=True))
    belief /= belief.sum(axis=-1, keepdims=True)
    best = belief.argmax(axis=-1)
    return best, np.take_along_axis(belief, best[..., None], axis=-1)[..., 0]


@dataclass
class MotionField:
    """The estimated blur: one linear kernel per patch centre of a regular grid.

    ``length`` / ``angle`` / ``label`` / ``confidence`` are ``(ny, nx)``; ``centres_y (ny,)``
    and ``centres_x (nx,)`` are pixel coordinates; ``raw_label`` is the CNN's own best kernel
    per node before the MRF. Angles in degrees, counter-clockwise from +x as displayed.
    """

    length: np.ndarray
    angle: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    raw_label: np.ndarray
    centres_y: np.ndarray
    centres_x: np.ndarray
    shape: tuple[int, int]
    labels: np.ndarray = field(repr=False)

    def per_pixel(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ``(length, angle)`` ``(H, W)`` from the nearest patch centre."""
        H, W = self.shape
        iy = np.abs(np.arange(H)[:, None] - self.centres_y[None]).argmin(1)
        ix = np.abs(np.arange(W)[:, None] - self.centres_x[None]).argmin(1)
        return self.length[np.ix_(iy, ix)], self.angle[np.ix_(iy, ix)]


# ---------------------------------------------------------------------------------------------
# The method
# ---------------------------------------------------------------------------------------------


class SunEtAl2015:
    """Sun et al. (CVPR 2015) non-uniform motion deblurring (see the module docstring).

    ``deblur(image (H, W, 3) float32 [0, 1]) -> (H, W, 3)``; afterwards ``.motion_field``
    (:class:`MotionField`) holds the estimated kernels and ``.kernels`` the kernels used for
    deconvolution (``{label index: (25, 25) kernel}``).

    Parameters
    ----------
    checkpoint : a file from :func:`train_sun`; ``None`` = shipped ``repro/weights/sun2015.pt``.
    stride : spacing of the patch centres in pixels.
    rotations : test-time rotations in degrees (``(0,)`` keeps the 73-kernel set).
    mrf_lambda, mrf_trunc, mrf_iters : MRF smoothness weight, truncation, BP sweeps.
    max_kernels : at most this many distinct kernels are deconvolved (rarer ones are merged).
    texture_std : patches whose gray std is below this have their CNN confidences tempered
        towards uniform (power ``std / texture_std``), so the MRF decides them from neighbours;
        0 disables (not in the paper).
    deconv : keyword arguments for :func:`repro.baselines.deconv.deconvolve` (default:
        hyper-Laplacian prior, ``lam=1000``, ``alpha=0.8``).
    batch : CNN batch size.
    """

    name = "Sun et al. 2015"

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        *,
        stride: int = 8,
        rotations: tuple[int, ...] = ROTATIONS,
        mrf_lambda: float = 0.05,
        mrf_trunc: float = 64.0,
        mrf_iters: int = 20,
        max_kernels: int = 8,
        texture_std: float = 0.02,
        deconv: dict | None = None,
        batch: int = 1024,
    ) -> None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if max_kernels < 1:
            raise ValueError(f"max_kernels must be >= 1, got {max_kernels}")
        for phi in rotations:
            if phi % 6 != 0:
                raise ValueError(f"rotations must be multiples of 6 degrees, got {rotations}")
        self.model, self.meta = load_sun_checkpoint(checkpoint)
        self.stride = stride
        self.rotations = tuple(rotations)
        self.mrf_lambda, self.mrf_trunc, self.mrf_iters = mrf_lambda, mrf_trunc, mrf_iters
        self.max_kernels = max_kernels
        self.texture_std = texture_std
        self.deconv = {"prior": "hyper_laplacian", "lam": 1000.0, "alpha": 0.8, **(deconv or {})}
        self.batch = batch
        self.motion_field: MotionField | None = None
        self.kernels: dict[int, np.ndarray] = {}

    # -- estimation -------------------------------------------------------------------------
    @torch.no_grad()
    def _probs(self, patches: np.ndarray) -> np.ndarray:
        x = standardize(torch.from_numpy(patches)[:, None])
        out = [F.softmax(self.model(x[i : i + self.batch]), dim=1) for i in range(0, len(x), self.batch)]
        return torch.cat(out).double().numpy()

    def estimate(self, image: np.ndarray) -> MotionField:
        """Estimate the motion field of ``image`` ``(H, W)`` or ``(H, W, 3)`` in [0, 1]."""
        from scipy import ndimage as ndi

        gray = _gray(np.asarray(image, dtype=np.float32))
        H, W = gray.shape
        cy, cx = patch_centres(H, self.stride), patch_centres(W, self.stride)
        yy, xx = np.meshgrid(cy, cx, indexing="ij")
        centres = np.stack([yy.ravel(), xx.ravel()], axis=1)
        coeffs = ndi.spline_filter(gray.astype(np.float64), order=3, mode="mirror")
        probs, texture = [], None
        for phi in self.rotations:
            patches = rotated_patches(gray, centres, phi, prefiltered=coeffs)
            if texture is None:
                texture = patches.std(axis=(1, 2))
            probs.append(self._probs(patches))
        if self.rotations == (0,):
            labels, conf = kernel_labels(), probs[0]
        else:
            labels, conf = extended_labels(), combine_rotations(np.stack(probs), self.rotations)
        # flat patches say little about the blur: temper their confidences towards uniform
        # (power w = std / texture_std <= 1), so the MRF fills them in from their neighbours
        raw = conf.argmax(-1).reshape(len(cy), len(cx))
        w = np.clip(texture / self.texture_std, 0.0, 1.0)[:, None] if self.texture_std > 0 else 1.0
        conf = conf ** w
        conf = (conf / conf.sum(axis=1, keepdims=True)).reshape(len(cy), len(cx), -1)
        best, belief = mrf_labels(conf, labels, lam=self.mrf_lambda, trunc=self.mrf_trunc, iters=self.mrf_iters)
        return MotionField(
            length=labels[best, 0],
            angle=labels[best, 1],
            label=best,
            confidence=belief,
            raw_label=raw,
            centres_y=cy,
            centres_x=cx,
            shape=(H, W),
            labels=labels,
        )

    # -- deconvolution ----------------------------------------------------------------------
    def _weights(self, mf: MotionField, keep: np.ndarray, assign: np.ndarray) -> np.ndarray:
        """Smooth per-pixel weights ``(len(keep), H, W)`` of the kept kernels, summing to 1."""
        from scipy import ndimage as ndi

        H, W = mf.shape
        # bilinear interpolation of each kernel's indicator from the patch grid to every pixel
        gy = np.interp(np.arange(H), mf.centres_y, np.arange(len(mf.centres_y)))
        gx = np.interp(np.arange(W), mf.centres_x, np.arange(len(mf.centres_x)))
        py, px = np.meshgrid(gy, gx, indexing="ij")
        w = np.stack([
            ndi.map_coordinates((assign == k).astype(np.float64), [py, px], order=1, mode="nearest")
            for k in range(len(keep))
        ])
        w = ndi.gaussian_filter(w, sigma=(0, self.stride / 2, self.stride / 2), mode="nearest")
        return w / np.maximum(w.sum(0, keepdims=True), 1e-12)

    def deblur(self, image: np.ndarray) -> np.ndarray:
        """Deblur ``image`` ``(H, W, 3)`` (or ``(H, W)``) float in [0, 1]; same shape, float32."""
        from .deconv import deconvolve

        img = np.asarray(image)
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
            raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {img.shape}")
        if not np.issubdtype(img.dtype, np.floating):
            raise ValueError(f"image must be float in [0, 1], got dtype {img.dtype}")
        if not np.all(np.isfinite(img)):
            raise ValueError("image contains NaN or inf")
        img = np.clip(img.astype(np.float32), 0, 1)
        mf = self.estimate(img)
        self.motion_field = mf
        # the kernels to deconvolve with: the most frequent labels; others go to the nearest one
        counts = np.bincount(mf.label.ravel(), minlength=len(mf.labels))
        keep = np.argsort(-counts)[: self.max_kernels]
        keep = keep[counts[keep] > 0]
        d2 = pairwise_cost(mf.labels)[:, keep]  # (L, n_keep)
        assign = d2[mf.label].argmin(-1)  # (ny, nx) index into keep
        weights = self._weights(mf, keep, assign)
        out = np.zeros(img.shape, dtype=np.float64)
        H, W = mf.shape
        self.kernels = {}
        for k, lab in enumerate(keep):
            w = weights[k]
            rows, cols = np.nonzero(w > 1e-3)
            if rows.size == 0:
                continue
            length, angle = mf.labels[lab]
            kernel = linear_motion_kernel(length, angle, 25)
            self.kernels[int(lab)] = kernel
            m = 2 * 25
            y0, y1 = max(rows.min() - m, 0), min(rows.max() + 1 + m, H)
            x0, x1 = max(cols.min() - m, 0), min(cols.max() + 1 + m, W)
            crop = img[y0:y1, x0:x1]
            res = crop if length <= 1 else deconvolve(crop, kernel, **self.deconv)
            wc = w[y0:y1, x0:x1]
            out[y0:y1, x0:x1] += res * (wc[..., None] if img.ndim == 3 else wc)
        return np.clip(out, 0, 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------------


def _synthetic_nonuniform(sharp: np.ndarray, true_fn) -> np.ndarray:
    """Blur ``sharp`` by a field of linear kernels ``true_fn(y, x) -> (length, angle)``,
    evaluated on 16-px blocks, each block's blur blended smoothly (locally uniform blur)."""
    from scipy import ndimage as ndi

    from ..kernels import blur_numpy

    H, W = sharp.shape[:2]
    block = 16
    by, bx = np.arange(block / 2, H, block), np.arange(block / 2, W, block)
    params = {}
    grid = np.empty((len(by), len(bx)), dtype=object)
    for i, y in enumerate(by):
        for j, x in enumerate(bx):
            l, a = true_fn(y, x)
            key = (int(l), int(a))
            grid[i, j] = key
            params.setdefault(key, None)
    acc = np.zeros(sharp.shape, dtype=np.float64)
    wsum = np.zeros((H, W), dtype=np.float64)
    for key in params:
        ind = np.array([[grid[i, j] == key for j in range(len(bx))] for i in range(len(by))], dtype=np.float64)
        w = ndi.zoom(ind, (H / len(by), W / len(bx)), order=0)[:H, :W]
        w = ndi.gaussian_filter(w, 4)
        blurred = blur_numpy(sharp, linear_motion_kernel(key[0], key[1], 25))
        acc += blurred * w[..., None]
        wsum += w
    return (acc / wsum[..., None]).astype(np.float32)


def figure_motion_field(
    out: str | os.PathLike,
    *,
    checkpoint: str | os.PathLike | None = None,
    image: np.ndarray | None = None,
    method: SunEtAl2015 | None = None,
    photo: str = "grace_hopper.jpg",
    size: tuple[int, int] = (240, 432),
    seed: int = 0,
) -> Path:
    """Draw the estimated motion field over the image, as in Sun et al.'s figures (a short
    segment per patch along the estimated motion, its length the blur length).

    With ``image=None`` a held-out photo is cropped to ``size`` and blurred by a known
    non-uniform field of linear kernels (length and orientation vary across the image); the
    true field is drawn beside the estimate, and the deblurred result is shown.
    Returns the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from ..images import read_image, to_float, to_rgb

    method = method or SunEtAl2015(checkpoint)
    truth = None
    if image is None:
        paths = {p.name: p for p in training_photos("test")}
        if photo not in paths:
            raise ValueError(f"photo {photo!r} is not a held-out photo; choose from {sorted(paths)}")
        from skimage.transform import resize

        src = to_rgb(to_float(read_image(paths[photo])))
        H, W = size
        s = max(H / src.shape[0], W / src.shape[1])
        src = resize(src, (math.ceil(src.shape[0] * s), math.ceil(src.shape[1] * s)), anti_aliasing=True)
        rng = np.random.default_rng(seed)
        y0 = (src.shape[0] - H) // 2
        x0 = (src.shape[1] - W) // 2
        sharp = src[y0 : y0 + H, x0 : x0 + W].astype(np.float32)

        def truth(y: float, x: float) -> tuple[int, int]:
            # a rotation-like field: orientation turns across the image, length grows to the right
            a = int(round((90 * x / W + 60 * y / H) / 6.0)) * 6 % 180
            l = int(2 * round((5 + 12 * x / W) / 2) + 1)
            return l, a

        blurry = _synthetic_nonuniform(sharp, truth)
        blurry = np.clip(blurry + rng.normal(0, 0.005, blurry.shape), 0, 1).astype(np.float32)
    else:
        blurry = np.asarray(image, dtype=np.float32)
    restored = method.deblur(blurry)
    mf = method.motion_field

    def segments(lengths, angles, cys, cxs):
        yy, xx = np.meshgrid(cys, cxs, indexing="ij")
        r = lengths / 2.0
        dx, dy = r * np.cos(np.deg2rad(angles)), -r * np.sin(np.deg2rad(angles))
        return np.stack([np.stack([xx - dx, yy - dy], -1), np.stack([xx + dx, yy + dy], -1)], -2).reshape(-1, 2, 2)

    sub = slice(None, None, 2)  # every other patch centre keeps the drawing readable
    cys, cxs = mf.centres_y[sub], mf.centres_x[sub]
    panels = [("blurry input + estimated motion (red)", blurry, mf.length[sub, sub], mf.angle[sub, sub], "red")]
    if truth is not None:
        tl = np.array([[truth(y, x)[0] for x in cxs] for y in cys], dtype=float)
        ta = np.array([[truth(y, x)[1] for x in cxs] for y in cys], dtype=float)
        # every patch centre (not only the drawn ones) for the agreement figure
        al = np.array([[truth(y, x)[0] for x in mf.centres_x] for y in mf.centres_y], dtype=float)
        aa = np.array([[truth(y, x)[1] for x in mf.centres_x] for y in mf.centres_y], dtype=float)
        ok = (np.abs(mf.length - al) <= 2) & (angle_difference(mf.angle, aa) <= 6)
        panels.append((f"true motion (green); estimate within 2 px and 6 deg at {100 * ok.mean():.0f}% of patches",
                       blurry, tl, ta, "lime"))
        from ..metrics import psnr

        b = 16
        gain = (psnr(sharp[b:-b, b:-b], restored[b:-b, b:-b], data_range=1.0)
                - psnr(sharp[b:-b, b:-b], blurry[b:-b, b:-b], data_range=1.0))
        panels.append((f"deblurred (Sun et al. 2015, ours): {gain:+.2f} dB PSNR vs the input", restored, None, None, None))
    else:
        panels.append(("deblurred (Sun et al. 2015, ours)", restored, None, None, None))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), constrained_layout=True)
    for ax, (title, img, lengths, angles, colour) in zip(np.atleast_1d(axes), panels):
        ax.imshow(np.clip(img, 0, 1))
        if lengths is not None:
            ax.add_collection(LineCollection(segments(lengths, angles, cys, cxs), colors=colour, linewidths=1.2))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")
    fig.suptitle("Sun et al. 2015: per-patch linear motion kernels (segment = blur length and orientation)", fontsize=10)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------------------
# Command line: python -m repro train-sun
# ---------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train-sun`` command's arguments: defined in :mod:`repro.cli` (torch-free, for a fast --help)."""
    from ..cli import train_sun_arguments

    train_sun_arguments(parser)


def run(args: argparse.Namespace) -> int:
    command = (
        f"python -m repro train-sun --out {args.out} --steps {args.steps} --seed {args.seed}"
        + (f" --batch {args.batch}" if args.batch != 128 else "")
        + (f" --lr {args.lr}" if args.lr != 1e-3 else "")
        + (f" --threads {args.threads}" if args.threads else "")
    )
    card = train_sun(args.out, steps=args.steps, seed=args.seed, batch=args.batch, lr=args.lr,
                     eval_patches=args.eval_patches, threads=args.threads, command=command)
    acc = card["heldout_patch_accuracy"]
    log.info("wrote %s: held-out patch accuracy exact %.3f, within one step %.3f",
             args.out, acc["exact"], acc["within_one_step"])
    if args.figure is not None:
        figure_motion_field(args.figure, checkpoint=args.out)
        log.info("wrote %s", args.figure)
    return 0
