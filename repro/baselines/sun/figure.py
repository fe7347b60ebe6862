"""The motion-field figure: Sun et al.'s estimate drawn over an image with a known non-uniform blur."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ...io.files import atomic_path
from .method import SunEtAl2015
from .motion_kernels import angle_difference, linear_motion_kernel
from .training import training_photos

__all__ = ["figure_motion_field"]


def _synthetic_nonuniform(sharp: np.ndarray, true_fn) -> np.ndarray:
    """Blur ``sharp`` by a field of linear kernels ``true_fn(y, x) -> (length, angle)``,
    evaluated on 16-px blocks, each block's blur blended smoothly (locally uniform blur)."""
    from scipy import ndimage as ndi

    from ...synthetic.blur import blur_numpy

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

    from ...io.images import read_image, to_float, to_rgb

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
        from ...core.metrics import psnr

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
