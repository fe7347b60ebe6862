"""The paired test data of Table 2: listing a split, the seeded random subset, loading and checking
images, where a method's output is saved."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..io.images import natural_key, read_image, to_float, to_rgb

__all__ = ["list_pairs", "select_images", "pair_digest", "load_rgb", "checked_output", "output_path"]


def list_pairs(data: str | os.PathLike, split: str = "test") -> tuple[list[str], list[tuple[Path, Path]]]:
    """``(names, pairs)`` of a GoPro-layout folder, sorted by name (``"<scene>/<stem>"``).

    Reads the pairs with :class:`repro.io.datasets.PairedFolder`.
    """
    data = Path(data)
    if not data.exists():
        raise FileNotFoundError(f"{data}: no such data folder")
    from ..io.datasets import PairedFolder

    ds = PairedFolder(data, split)
    names, pairs = list(ds.names), [(Path(b), Path(s)) for b, s in ds.pairs]
    if not pairs:
        raise FileNotFoundError(f"{data}: no blur/sharp pairs in split {split!r} "
                                f"(expected {data}/{split}/<scene>/blur/*.png and sharp/*.png)")
    order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    return [names[i] for i in order], [pairs[i] for i in order]


def select_images(n_total: int, *, n_random: int = 15, seed: int = 0,
                  limit: int | None = None) -> tuple[list[int], list[int]]:
    """``(random_indices, evaluated_indices)``, both sorted, the first a subset of the second.

    A seeded permutation of the split: its first ``n_random`` are the random subset and its first
    ``limit`` (all without ``limit``) are evaluated, so the random subset does not depend on
    ``limit`` (as long as ``limit >= n_random``).
    """
    if n_total < 1:
        raise ValueError("no images to select from")
    if n_random < 0:
        raise ValueError(f"n_random must be >= 0, got {n_random}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    perm = np.random.default_rng(seed).permutation(n_total)
    n_eval = n_total if limit is None else min(limit, n_total)
    return sorted(int(i) for i in perm[:min(n_random, n_eval)]), sorted(int(i) for i in perm[:n_eval])


def pair_digest(pair) -> str:
    """sha256 (16 hex digits) of a (blurry, sharp) pair's file bytes: what resume matches on."""
    h = hashlib.sha256()
    for path in pair:
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


def load_rgb(path: Path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` float32 in [0, 1] (gray replicated, alpha dropped)."""
    return to_rgb(to_float(read_image(path)))


def checked_output(output: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A method's output ``(H, W, 3)`` checked against the input's ``shape`` and for NaN/inf
    (``ValueError`` naming the problem), as float32 clipped to [0, 1]."""
    output = np.asarray(output)
    if output.shape != shape:
        raise ValueError(f"output shape {output.shape} differs from the input's {shape}")
    if not np.all(np.isfinite(output)):
        raise ValueError("output has NaN or infinite values")
    return np.clip(output.astype(np.float32), 0.0, 1.0)


def output_path(out: Path, method: str, name: str) -> Path:
    """Where :func:`repro.evaluate.evaluate` saves ``method``'s output for image ``name``."""
    return out / "outputs" / method / f"{name}.png"
