"""How sharp the virtual camera's "sharp" frames are, against the photos they are made from.

A real 240 fps frame downsampled by 3 is sharp to the pixel; a renderer that resamples photos
with soft filters teaches a network to output soft images. The measure here: render a
motionless frame of a photo (no tint, no objects, the camera at its reference pose) and compare
its energy above ``cutoff`` (0.25) cycles per pixel with that of the same photo region
area-averaged from native resolution to the frame's scale (``cv2.INTER_AREA``: what a sensor
with proportionally larger pixels records). A ratio of 1 means the frame is as sharp as that
ideal downsampling; a Gaussian blur of sigma 0.6 px leaves about 0.3.

The spectra are of the luminance (mean of R, G, B), mean-subtracted and Hann-windowed, so the
frame's borders add no spurious high frequencies; energy is the mean power per frequency bin
above the cutoff radius (cycles/pixel, both axes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["hf_energy", "reference_region", "photo_sharpness", "sharpness_table", "sharpness_figure", "CUTOFF"]

CUTOFF = 0.25  # cycles per pixel


def hf_energy(image: np.ndarray, cutoff: float = CUTOFF) -> float:
    """Mean spectral power of ``image`` above ``cutoff`` cycles/px (radial), luminance, Hann window.

    ``image``: ``(H, W)`` or ``(H, W, C)`` float in [0, 1] (or uint8, scaled to [0, 1]).
    """
    x = np.asarray(image, dtype=np.float64)
    if np.asarray(image).dtype == np.uint8:
        x = x / 255.0
    if x.ndim == 3:
        x = x[..., :3].mean(axis=2)
    if x.ndim != 2 or min(x.shape) < 8:
        raise ValueError(f"expected an (H, W[, C]) image of at least 8x8, got shape {np.shape(image)}")
    if not 0 < cutoff < 0.5 * np.sqrt(2):
        raise ValueError(f"cutoff must be in (0, 0.707) cycles/px, got {cutoff}")
    H, W = x.shape
    win = np.outer(np.hanning(H), np.hanning(W))
    power = np.abs(np.fft.fft2((x - x.mean()) * win)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(H), np.fft.fftfreq(W), indexing="ij")
    high = np.hypot(fy, fx) > cutoff
    return float(power[high].mean())


def reference_region(photo: np.ndarray, box: Sequence[float], size: tuple[int, int]) -> np.ndarray:
    """The photo region ``box`` = (x0, y0, x1, y1) (photo pixels, edges) area-averaged to ``size`` (H, W).

    The box is cut at whole photo pixels (rounded inwards by at most half a pixel, so the scale
    is kept to within one photo pixel over the frame) and then reduced with ``cv2.INTER_AREA``.
    """
    import cv2

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    h, w = photo.shape[:2]
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 - x0 < size[1] or y1 - y0 < size[0]:
        raise ValueError(f"box {tuple(box)} is not inside the {w}x{h} photo at or above the frame's {size[1]}x{size[0]}")
    crop = np.ascontiguousarray(photo[y0:y1, x0:x1, :3], dtype=np.float32)
    return cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def photo_sharpness(name: str, split: str, *, size: tuple[int, int] | None = None, seed: int = 0,
                    keep_images: bool = False, photos: str | Path | None = None,
                    magnification: float | str | None = None) -> dict:
    """Render one motionless frame of the photo ``name`` and measure its sharpness.

    ``photos``: a folder of photos (e.g. the wallpaper corpus) holding ``name``, instead of the
    bundled catalogue; ``magnification``: the camera's (default: drawn as for the builds).

    Returns ``photo, split, magnification`` (output pixels per photo pixel, as the virtual camera
    chose it for this seed) and ``hf_energy_ratio`` (rendered / reference, :func:`hf_energy`);
    with ``keep_images`` also ``frame``, ``reference`` (``(H, W, 3)`` float32) and ``native``
    (the region at the photo's own resolution) for figures.
    """
    from .photos import load_photo, photo_path, photo_pool
    from .render import DEFAULT_SIZE, render_clip

    size = tuple(size or DEFAULT_SIZE)
    clip = render_clip(seed, n_frames=1, size=size, split=split, kind="pan", pan=(0.0, 0.0), objects=0,
                       background=name, tint=False, photos=photos, magnification=magnification)
    frame = clip.frames[0].astype(np.float32) / 255
    path = photo_path(name) if photos is None else next(p.path for p in photo_pool(split, photos) if p.name == name)
    photo = load_photo(path)
    ref = reference_region(photo, clip.meta["photo_box"], size)
    row = {"photo": name, "split": split, "magnification": float(clip.meta["magnification"]),
           "hf_energy_ratio": hf_energy(frame) / hf_energy(ref)}
    if keep_images:
        x0, y0, x1, y1 = (int(round(v)) for v in clip.meta["photo_box"])
        row.update(frame=frame, reference=ref, native=np.asarray(photo[y0:y1, x0:x1, :3], dtype=np.float32))
    return row


def sharpness_table(*, size: tuple[int, int] | None = None, seed: int = 0, keep_images: bool = False,
                    progress: bool = True) -> list[dict]:
    """:func:`photo_sharpness` of every bundled photo that can be a background or a texture
    (sprites, which have their own alpha, are left out), in catalogue order."""
    from tqdm.auto import tqdm

    from .photos import PHOTOS, SPLIT_PHOTOS

    split_of = {n: s for s in ("train", "val", "test") for n in SPLIT_PHOTOS[s]}  # "residual" reuses test's
    names = [n for n, (_, _, role) in PHOTOS.items() if role != "sprite"]
    return [photo_sharpness(n, split_of[n], size=size, seed=seed, keep_images=keep_images)
            for n in tqdm(names, desc="sharpness", disable=not progress)]


def corpus_sharpness_table(photos: str | Path, *, size: tuple[int, int] | None = None, seed: int = 0,
                           progress: bool = True) -> list[dict]:
    """:func:`photo_sharpness` of every photo of a fetched corpus (:mod:`repro.camera.corpus`) at
    both ends of ``--magnification multi``: the whole photo in frame (``cover``) and the top of
    :data:`repro.camera.textures.MAGNIFICATION_RANGE` (``top``); rows add ``kind`` and ``scale``."""
    from tqdm.auto import tqdm

    from .corpus import read_corpus
    from .textures import MAGNIFICATION_RANGE

    rows = []
    for r in tqdm(read_corpus(photos), desc="corpus sharpness", disable=not progress):
        for scale, mag in (("cover", 1e-3), ("top", MAGNIFICATION_RANGE[1])):  # 1e-3: raised to the cover
            row = photo_sharpness(r.name, r.split, size=size, seed=seed, photos=photos, magnification=mag)
            rows.append({**row, "kind": r.kind, "scale": scale})
    return rows


def sharpness_figure(rows: Sequence[dict], *, n_show: int = 3, crop: int = 48,
                     zoom: int = 4) -> "matplotlib.figure.Figure":  # noqa: F821
    """Rendered frames beside the native photo region: for ``n_show`` photos (the least sharp
    first), the whole frame, a ``crop`` x ``crop`` crop of it at ``zoom`` x, the same region
    area-averaged from native resolution (the reference) and at native resolution, both at the
    same on-screen size; plus the ratio of every photo as bars. ``rows`` need ``keep_images``."""
    import matplotlib.pyplot as plt

    shown = [r for r in sorted(rows, key=lambda r: r["hf_energy_ratio"]) if "frame" in r][:n_show]
    if not shown:
        raise ValueError("no rows with images: call sharpness_table(keep_images=True)")
    fig = plt.figure(figsize=(13, 2.9 * len(shown) + 2.6))
    grid = fig.add_gridspec(len(shown) + 1, 4, height_ratios=[1] * len(shown) + [0.9])
    for i, r in enumerate(shown):
        frame, ref, native = r["frame"], r["reference"], r["native"]
        H, W = frame.shape[:2]
        cy, cx = H // 2 - crop // 2, W // 2 - crop // 2
        sl = (slice(cy, cy + crop), slice(cx, cx + crop))
        m = r["magnification"]
        ny, nx, nc = int(round(cy / m)), int(round(cx / m)), int(round(crop / m))
        tiles = [(frame, f"{r['photo']} ({r['split']}): rendered frame, magnification {m:.2f}"),
                 (np.kron(frame[sl], np.ones((zoom, zoom, 1))), f"rendered, crop at {zoom}x"),
                 (np.kron(ref[sl], np.ones((zoom, zoom, 1))), f"photo area-averaged to the frame's scale, {zoom}x"),
                 (native[ny:ny + nc, nx:nx + nc], "photo at native resolution, same region")]
        for j, (img, title) in enumerate(tiles):
            ax = fig.add_subplot(grid[i, j])
            ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
            ax.set_title(title + (f"\nHF energy ratio {r['hf_energy_ratio']:.2f}" if j == 0 else ""), fontsize=8)
            ax.axis("off")
        fig.axes[-4].add_patch(plt.Rectangle((cx - 0.5, cy - 0.5), crop, crop, fill=False, color="r", lw=1))
    ax = fig.add_subplot(grid[len(shown), :])
    names = [r["photo"] for r in rows]
    ratios = [r["hf_energy_ratio"] for r in rows]
    colors = [{"train": "C0", "val": "C2", "test": "C1"}.get(r["split"], "C7") for r in rows]
    ax.bar(names, ratios, color=colors)
    ax.axhline(1.0, color="k", lw=0.8, label="as sharp as area-averaging")
    ax.axhline(0.8, color="C3", ls="--", lw=0.8, label="0.8")
    ax.set_ylabel(f"energy above {CUTOFF:g} cyc/px\nrendered / reference")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Sharp frames of the virtual camera against the photos (blue train, green val, orange test)",
                 fontsize=10)
    fig.tight_layout()
    return fig



def main(argv: list[str] | None = None) -> int:
    """``python -m repro.camera.sharpness --photos DIR --out PATH``: the corpus's table (``PATH.csv``, ``.md``)."""
    import argparse

    from ..io.provenance import provenance
    from ..io.reports import write_table

    parser = argparse.ArgumentParser(prog="python -m repro.camera.sharpness", description=main.__doc__)
    parser.add_argument("--photos", type=Path, required=True, help="a fetched corpus (python -m repro photos fetch)")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = corpus_sharpness_table(args.photos, seed=args.seed)
    write_table(rows, args.out, provenance=provenance(preset=None, device="cpu", seed=args.seed, photos=args.photos),
                title="Sharpness of the virtual camera's frames of the wallpaper corpus, at both ends of "
                      "--magnification multi",
                columns=["photo", "kind", "split", "scale", "magnification", "hf_energy_ratio"],
                notes=["hf_energy_ratio: the frame's energy above 0.25 cycles/px over that of the same region "
                       "area-averaged from the photo (1 = as sharp as an ideal downsampling; a Gaussian blur of "
                       "sigma 0.6 px leaves about 0.3); 0.00 where the region is flat (no energy to keep)",
                       "cover: the whole photo in frame; top: the largest magnification the corpus builds use"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
