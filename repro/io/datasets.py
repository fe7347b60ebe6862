"""Paired blurry/sharp image folders in the GoPro layout, as a torch ``Dataset``.

Layout (``GOPRO_Large`` and the output of ``python -m repro build-wild``)::

    ROOT/<split>/<scene>/blur/NNNNNN.png
    ROOT/<split>/<scene>/sharp/NNNNNN.png      (same file names)

Training: random crops (the same window in both images) and random horizontal flips, drawn from
``numpy.random.default_rng([seed, epoch, index])``: a sample depends only on the seed, the epoch
(:meth:`PairedFolder.set_epoch`) and its index, never on which ``DataLoader`` worker loads it.
Testing: ``crop=None, flip=False`` gives whole images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .images import list_images, natural_key, read_image, to_float, to_rgb

__all__ = ["PairedFolder", "find_pairs", "one_per_scene", "evenly_spaced"]


def find_pairs(split_dir: str | os.PathLike, *, blur_dir: str = "blur",
               sharp_dir: str = "sharp") -> list[tuple[Path, Path, str]]:
    """``(blur_path, sharp_path, "<scene>/<stem>")`` for every pair under ``split_dir/<scene>/``.

    Scenes in natural order; a scene folder without ``blur_dir`` and ``sharp_dir`` is skipped
    (e.g. a scene of a WILD build with no accepted window). Raises ``ValueError`` naming the
    file when a blurry image has no sharp partner or the reverse.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: no such folder (expected <root>/<split>/<scene>/{blur_dir})")
    out: list[tuple[Path, Path, str]] = []
    for scene in sorted((p for p in split_dir.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        bdir, sdir = scene / blur_dir, scene / sharp_dir
        if not bdir.is_dir() and not sdir.is_dir():
            continue
        # Hidden files (``.name``) are temporaries of interrupted atomic writes: never pairs.
        blurs = [p for p in list_images(bdir) if not p.name.startswith(".")]
        sharps = {p.name: p for p in list_images(sdir) if not p.name.startswith(".")}
        for b in blurs:
            if b.name not in sharps:
                raise ValueError(f"{b}: no sharp partner {sdir / b.name}")
            out.append((b, sharps.pop(b.name), f"{scene.name}/{b.stem}"))
        if sharps:
            extra = sorted(sharps)[0]
            raise ValueError(f"{sdir / extra}: no blurry partner {bdir / extra}")
    return out


def evenly_spaced(n: int, k: int | None) -> list[int]:
    """Indices of ``k`` items spread evenly over ``n`` (first and last included); all ``n`` when
    ``k`` is None, 0 or at least ``n``."""
    if not k or k >= n:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int).tolist()))


def one_per_scene(names: list[str], k: int, seed: int = 0) -> list[int]:
    """Indices of up to ``k`` pairs from ``k`` different scenes (``names`` are ``"<scene>/<stem>"``),
    drawn with ``seed``: a seeded shuffle, keeping the first pair met of each scene. Fewer than
    ``k`` when the split has fewer scenes."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    seen: set[str] = set()
    picks: list[int] = []
    for i in np.random.default_rng(seed).permutation(len(names)):
        scene = names[int(i)].split("/")[0]
        if scene not in seen and len(picks) < k:
            seen.add(scene)
            picks.append(int(i))
    return picks


class PairedFolder:
    """A torch ``Dataset`` of (blurry, sharp) pairs in the GoPro layout.

    Parameters
    ----------
    root : folder holding ``<split>/<scene>/{blur,sharp}/``; with ``split=None``, ``root`` is
        the split folder itself.
    split : ``"train"``, ``"test"``, ... or ``None``.
    crop : side of a random square crop (training), ``None`` for whole images.
    flip : random horizontal flips (probability 1/2).
    seed : seed of the crops and flips.
    blur_dir : name of the blurry-image folder (``"blur_gamma"`` for GoPro's linear-light blur).

    ``ds[i] -> (blurry, sharp)``: float32 tensors ``(3, H, W)`` in [0, 1] (``H = W = crop`` when
    cropping). ``ds.pairs``: list of ``(blur_path, sharp_path)``; ``ds.names``: ``"<scene>/<stem>"``.
    """

    def __init__(self, root: str | os.PathLike, split: str | None = "train", *, crop: int | None = None,
                 flip: bool = False, seed: int = 0, blur_dir: str = "blur", sharp_dir: str = "sharp") -> None:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such folder")
        if crop is not None and (not isinstance(crop, (int, np.integer)) or crop < 1):
            raise ValueError(f"crop must be a positive integer or None, got {crop!r}")
        split_dir = root / split if split else root
        found = find_pairs(split_dir, blur_dir=blur_dir, sharp_dir=sharp_dir)
        if not found:
            raise ValueError(f"{split_dir}: no image pairs found in <scene>/{blur_dir} and <scene>/{sharp_dir}")
        self.root, self.split = root, split
        self.crop, self.flip, self.seed = crop, bool(flip), int(seed)
        self.pairs: list[tuple[Path, Path]] = [(b, s) for b, s, _ in found]
        self.names: list[str] = [n for _, _, n in found]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new crops/flips for ``epoch`` (call before iterating a ``DataLoader`` each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Whole ``(H, W, 3)`` float32 images in [0, 1] of pair ``index``, as numpy arrays."""
        b_path, s_path = self.pairs[index]
        blurry, sharp = to_rgb(to_float(read_image(b_path))), to_rgb(to_float(read_image(s_path)))
        if blurry.shape != sharp.shape:
            raise ValueError(f"{b_path}: size {blurry.shape[:2]} differs from its sharp image "
                             f"{s_path} {sharp.shape[:2]}")
        return blurry, sharp

    def __getitem__(self, index: int):
        import torch

        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        index = index % len(self)
        blurry, sharp = self.load(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.crop is not None:
            H, W = blurry.shape[:2]
            if self.crop > min(H, W):
                raise ValueError(f"{self.pairs[index][0]}: crop {self.crop} larger than the image ({H}x{W})")
            y = int(rng.integers(0, H - self.crop + 1))
            x = int(rng.integers(0, W - self.crop + 1))
            blurry = blurry[y:y + self.crop, x:x + self.crop]
            sharp = sharp[y:y + self.crop, x:x + self.crop]
        if self.flip and rng.random() < 0.5:
            blurry, sharp = blurry[:, ::-1], sharp[:, ::-1]
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))  # noqa: E731
        return to_t(blurry), to_t(sharp)

    def __repr__(self) -> str:
        return (f"PairedFolder({str(self.root)!r}, split={self.split!r}, {len(self)} pairs, crop={self.crop}, "
                f"flip={self.flip}, seed={self.seed})")
