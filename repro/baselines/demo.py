"""Known-answer problems for the classical baselines, kernel similarity, and the kernel figure.

A sharp grayscale/colour photo from scikit-image is blurred by a known shift-invariant kernel
(a line or a smooth random curve, built here so that this module does not depend on
``repro.synthetic.kernels``), then the baselines' kernel estimates are compared with the truth by
normalised cross-correlation maximised over shifts (blind estimates are defined up to a shift).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi
import scipy.signal as ssig

__all__ = [
    "line_kernel",
    "curve_kernel",
    "BlurProblem",
    "blur_problem",
    "kernel_similarity",
    "aligned_psnr",
    "figure_baseline_kernels",
]

log = logging.getLogger(__name__)


def _splat(points_yx: np.ndarray, size: int) -> np.ndarray:
    """Bilinear splat of sub-pixel points (N, 2) into a ``size`` x ``size`` kernel (sum 1)."""
    k = np.zeros((size, size))
    for y, x in points_yx:
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        fy, fx = y - y0, x - x0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                    k[y0 + dy, x0 + dx] += wy * wx
    return k / k.sum()


def line_kernel(size: int, length: float, angle: float) -> np.ndarray:
    """A linear motion kernel ``(size, size)``: a centred segment of ``length`` px at ``angle``
    radians (counter-clockwise from the x axis, y pointing down), bilinearly splatted, sum 1."""
    if length > size - 2:
        raise ValueError(f"length {length} does not fit a kernel of size {size}")
    c = size // 2
    t = np.linspace(-length / 2, length / 2, max(int(8 * length), 2))
    pts = np.stack([c - t * np.sin(angle), c + t * np.cos(angle)], axis=1)
    return _splat(pts, size)


def curve_kernel(rng: np.random.Generator, *, size: int = 15, extent: float | None = None) -> np.ndarray:
    """A smooth random camera-shake curve (Chakrabarti-like), ``(size, size)``, sum 1.

    Four control points uniform in an ``extent`` x ``extent`` box (default ``0.6 * size``), a
    cubic spline through them densely sampled, random positive weights along the path
    (speed variations), centred on its centre of mass.
    """
    from scipy.interpolate import CubicSpline

    extent = 0.6 * size if extent is None else extent
    ctrl = rng.uniform(0, extent, size=(4, 2))
    tt = np.linspace(0, 1, 4)
    s = np.linspace(0, 1, 400)
    pts = np.stack([CubicSpline(tt, ctrl[:, 0])(s), CubicSpline(tt, ctrl[:, 1])(s)], axis=1)
    speed = np.clip(1.0 + 0.3 * np.sin(2 * np.pi * (s * rng.uniform(0.5, 2) + rng.uniform())), 0.2, None)
    pts = pts - np.average(pts, axis=0, weights=speed) + size // 2
    pts = np.clip(pts, 0, size - 1.001)
    k = np.zeros((size, size))
    for (y, x), w in zip(pts, speed):
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        fy, fx = y - y0, x - x0
        k[y0, x0] += w * (1 - fy) * (1 - fx)
        k[y0 + 1, x0] += w * fy * (1 - fx)
        k[y0, x0 + 1] += w * (1 - fy) * fx
        k[y0 + 1, x0 + 1] += w * fy * fx
    return k / k.sum()


@dataclass
class BlurProblem:
    """A photo blurred by a known kernel: ``blurry = crop(k * sharp_big) + noise`` clipped to [0, 1].

    ``sharp``/``blurry``: ``(H, W)`` or ``(H, W, 3)`` float32 in [0, 1]; ``kernel``: ``(k, k)``.
    The blur is computed on a larger crop and cropped, so the borders are real (not periodic).
    """

    sharp: np.ndarray
    blurry: np.ndarray
    kernel: np.ndarray


def blur_problem(
    kernel: np.ndarray,
    *,
    photo: str = "camera",
    size: tuple[int, int] = (128, 128),
    origin: tuple[int, int] = (140, 170),
    noise_std: float = 0.005,
    seed: int = 0,
) -> BlurProblem:
    """Blur a crop of a scikit-image photo (``"camera"`` gray, ``"astronaut"`` colour, ...).

    ``size`` = (H, W) of the crop, ``origin`` = its top-left corner in the photo.
    """
    import skimage.data

    img = getattr(skimage.data, photo)().astype(np.float64) / 255.0
    H, W = size
    r = kernel.shape[0]
    y0, x0 = origin
    if y0 - r < 0 or x0 - r < 0 or y0 + H + r > img.shape[0] or x0 + W + r > img.shape[1]:
        raise ValueError(f"crop {size} at {origin} with margin {r} does not fit photo {photo} {img.shape}")
    big = img[y0 - r : y0 + H + r, x0 - r : x0 + W + r]
    kk = kernel if big.ndim == 2 else kernel[..., None]
    blurred = ndi.convolve(big, kk, mode="reflect")[r:-r, r:-r]
    rng = np.random.default_rng(seed)
    blurry = np.clip(blurred + noise_std * rng.standard_normal(blurred.shape), 0, 1)
    return BlurProblem(sharp=big[r:-r, r:-r].astype(np.float32), blurry=blurry.astype(np.float32), kernel=kernel)


def kernel_similarity(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Normalised cross-correlation of two kernels, maximised over all integer shifts.

    ``max_s <a, shift_s(b)> / (||a|| ||b||)`` on the raw (non-negative) kernels, so 1 means
    identical up to a translation; different sizes are fine (zero padded).
    """
    a = np.asarray(estimate, dtype=np.float64)
    b = np.asarray(truth, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(ssig.correlate(a, b, mode="full").max() / (na * nb))


def aligned_psnr(result: np.ndarray, reference: np.ndarray, *, radius: int = 6, border: int | None = None) -> float:
    """PSNR (data range 1) of ``result`` vs ``reference`` maximised over integer shifts.

    Blind deconvolution recovers the image up to a translation (the kernel's position is
    ambiguous), so results are compared after the best shift in ``[-radius, radius]^2``, on the
    interior that stays inside both images (``border`` = cropped margin, default ``radius``).
    A light-weight stand-in for ``repro.core.metrics.shift_search_psnr`` (integer shifts only).
    """
    a = np.asarray(result, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    m = radius if border is None else max(border, radius)
    H, W = a.shape[:2]
    ref = b[m : H - m, m : W - m]
    best = np.inf
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            cand = a[m + dy : H - m + dy, m + dx : W - m + dx]
            best = min(best, float(np.mean((cand - ref) ** 2)))
    return float(10 * np.log10(1.0 / max(best, 1e-12)))


def figure_baseline_kernels(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    size: tuple[int, int] = (160, 160),
    kernel_size: int = 21,
    methods: list | None = None,
) -> dict:
    """True vs estimated kernels of the classical baselines on known-blur photo crops.

    Two problems (a line and a random curve kernel, 15 px, on ``camera`` and ``astronaut``
    crops of ``size``); one column per method, rows = problems. Writes ``out`` (PNG,
    atomically) and returns ``{"problem/method": {"ncc": .., "psnr_blurry": .., "psnr": ..}}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.files import atomic_path
    from ..io.images import to_rgb
    from .l0 import XuZhengJia2013
    from .xu_jia import XuJia2010

    rng = np.random.default_rng(seed)
    problems = {
        "line (camera)": blur_problem(line_kernel(15, 11, 0.6), photo="camera", size=size),
        "curve (astronaut)": blur_problem(curve_kernel(rng, size=15), photo="astronaut", size=size, origin=(300, 300)),
    }
    if methods is None:
        methods = [XuJia2010(kernel_size=kernel_size), XuZhengJia2013(kernel_size=kernel_size, space_varying=False)]
    results: dict = {}
    ncols = 1 + len(methods)
    fig, axes = plt.subplots(
        len(problems), ncols, figsize=(2.8 * ncols, 3.2 * len(problems)), layout="constrained"
    )
    axes = np.atleast_2d(axes)
    for r, (pname, prob) in enumerate(problems.items()):
        blurry, sharp = to_rgb(prob.blurry), to_rgb(prob.sharp)
        p_blur = aligned_psnr(blurry, sharp)
        shown = np.zeros((kernel_size, kernel_size))  # the truth on the estimates' canvas
        o = (kernel_size - prob.kernel.shape[0]) // 2
        shown[o : o + prob.kernel.shape[0], o : o + prob.kernel.shape[1]] = prob.kernel
        axes[r, 0].imshow(shown, cmap="gray")
        axes[r, 0].set_title(f"true: {pname}", fontsize=8)
        for c, m in enumerate(methods, start=1):
            restored = m.deblur(blurry)
            est = m.kernel
            ncc = kernel_similarity(est, prob.kernel)
            p = aligned_psnr(restored, sharp)
            results[f"{pname}/{m.name}"] = {"ncc": ncc, "psnr_blurry": p_blur, "psnr": p}
            axes[r, c].imshow(est, cmap="gray")
            axes[r, c].set_title(f"{m.name}\nNCC {ncc:.2f}, PSNR* {p_blur:.1f}->{p:.1f} dB", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "Classical baselines: true vs estimated kernels (NCC after best shift; PSNR* after best shift)", fontsize=9
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    log.info("wrote %s", out)
    return results
