"""Shared pieces of the classical deblurring baselines (FFT operators, boundaries, kernels).

Conventions (used by every module in ``repro.baselines``):

* Blur is a true 2-D *convolution* ``y = k * x`` (as :func:`scipy.ndimage.convolve` /
  :func:`scipy.signal.convolve`), kernel origin at its centre pixel ``(kh // 2, kw // 2)``.
  Kernels are non-negative and sum to 1.
* FFT maths uses periodic boundaries; images are first padded so that they are smooth across
  the periodic wrap (:func:`pad_for_fft`), then cropped back.
* Gradients are forward differences with periodic wrap: ``dx[i, j] = x[i, j + 1] - x[i, j]``.
* All FFTs are ``scipy.fft`` real transforms with ``workers=1`` (the machine is shared).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
import scipy.ndimage as ndi

__all__ = [
    "psf2otf",
    "otf2psf",
    "grad_otfs",
    "gradients",
    "pad_for_fft",
    "edgetaper",
    "normalize_kernel",
    "clean_kernel",
    "center_kernel",
    "resize_kernel",
    "estimate_kernel_fft",
    "pyramid_levels",
    "PyramidLevel",
    "check_image",
    "check_kernel",
    "rfft2",
    "irfft2",
    "downscale",
    "initial_kernel",
    "kernel_step",
    "select_gradients",
    "interior_mask",
]

_WORKERS = 1


def rfft2(x: np.ndarray) -> np.ndarray:
    """Real 2-D FFT over the first two axes (``(H, W[, C])``)."""
    return sfft.rfft2(x, axes=(0, 1), workers=_WORKERS)


def irfft2(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`rfft2` for an output of spatial ``shape`` (H, W)."""
    return sfft.irfft2(x, s=shape, axes=(0, 1), workers=_WORKERS)


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate a ``(H, W)`` or ``(H, W, C)`` real image; return it as float64."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"{name} must be (H, W) or (H, W, C), got shape {image.shape}")
    if not (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)):
        raise ValueError(f"{name} must be a real array, got dtype {image.dtype}")
    if min(image.shape[:2]) < 4:
        raise ValueError(f"{name} is too small: shape {image.shape}")
    image = image.astype(np.float64)
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{name} contains NaN or inf")
    return image


def check_rgb(image: np.ndarray) -> np.ndarray:
    """:func:`check_image` for a colour image: ``(H, W, 3)`` float64 (else ``ValueError``)."""
    img = check_image(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {img.shape}")
    return img


def check_kernel_size(kernel_size: int) -> None:
    """A blind method's kernel side must be odd and >= 3 (else ``ValueError``)."""
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and >= 3, got {kernel_size}")


def check_kernel(kernel: np.ndarray, name: str = "kernel") -> np.ndarray:
    """Validate a 2-D blur kernel; return it float64, clipped >= 0 and normalised to sum 1."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise ValueError(f"{name} contains NaN or inf")
    total = np.clip(kernel, 0, None).sum()
    if total <= 0:
        raise ValueError(f"{name} has no positive entry (sum of positive part {total})")
    return np.clip(kernel, 0, None) / total


def psf2otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Optical transfer function (``rfft2``) of ``kernel`` for images of ``shape`` (H, W).

    The kernel's centre pixel ``(kh // 2, kw // 2)`` goes to the origin, so multiplying an
    image spectrum by the OTF is a centred ("same") circular convolution.
    """
    kh, kw = kernel.shape
    H, W = shape
    if kh > H or kw > W:
        raise ValueError(f"kernel {kernel.shape} larger than image {shape}")
    padded = np.zeros((H, W), dtype=np.float64)
    padded[:kh, :kw] = kernel
    padded = np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return rfft2(padded)


def otf2psf(otf: np.ndarray, shape: tuple[int, int], ksize: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`psf2otf`: the ``ksize`` (kh, kw) kernel centred at the origin."""
    kh, kw = ksize
    full = irfft2(otf, shape)
    full = np.roll(full, (kh // 2, kw // 2), axis=(0, 1))
    return full[:kh, :kw]


def grad_otfs(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """OTFs ``(Gx, Gy)`` of the periodic forward differences for images of ``shape``.

    Shapes ``(H, W // 2 + 1)`` each, matching :func:`rfft2`.
    """
    H, W = shape
    u = np.arange(W // 2 + 1)[None, :]
    v = np.arange(H)[:, None]
    gx = np.exp(2j * np.pi * u / W) - 1.0
    gy = np.exp(2j * np.pi * v / H) - 1.0
    return np.broadcast_to(gx, (H, W // 2 + 1)), np.broadcast_to(gy, (H, W // 2 + 1))


def gradients(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Periodic forward differences ``(dx, dy)`` of ``x`` (H, W[, C]) over axes 1 and 0."""
    return np.roll(x, -1, axis=1) - x, np.roll(x, -1, axis=0) - x


def _smooth_wrap_1d(x: np.ndarray, pad: int, axis: int) -> np.ndarray:
    """Extend ``x`` by ``pad`` on both sides of ``axis`` so the periodic wrap is smooth.

    The ``2 * pad`` new samples between the last and (wrapped) first sample are a cosine blend
    of the edge values that continues each side with zero slope.
    """
    x = np.moveaxis(x, axis, 0)
    first, last = x[0], x[-1]
    n = 2 * pad
    t = (np.arange(1, n + 1) / (n + 1)).reshape((-1,) + (1,) * (x.ndim - 1))
    w = 0.5 - 0.5 * np.cos(np.pi * t)  # 0 at the last sample, 1 at the first (wrapped)
    fill = (1 - w) * last[None] + w * first[None]
    out = np.concatenate([fill[pad:], x, fill[:pad]], axis=0)
    return np.moveaxis(out, 0, axis)


def pad_for_fft(image: np.ndarray, pad: int) -> np.ndarray:
    """Pad ``image`` (H, W[, C]) by ``pad`` on every side so it is smooth under periodic wrap.

    The padded border is a smooth blend from each edge towards the opposite edge (a cheap
    stand-in for Liu & Jia's boundary wrapping), so FFT deconvolution does not ring at the
    image borders. Output shape ``(H + 2 pad, W + 2 pad[, C])``; crop with ``[pad:-pad]``.
    """
    if pad <= 0:
        return image
    out = _smooth_wrap_1d(image, pad, axis=0)
    return _smooth_wrap_1d(out, pad, axis=1)


def edgetaper(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Blend ``image`` (H, W[, C]) with its circular blur near the borders (MATLAB ``edgetaper``).

    The weight is built from the normalised autocorrelation of the kernel's projections on
    each axis, as in MATLAB's ``edgetaper``: 1 in the interior, falling to 0 at the borders
    over about the kernel's extent. This removes the periodic-boundary discontinuity that
    makes FFT deconvolution ring.
    """
    H, W = image.shape[:2]
    weights = []
    for axis, n in ((0, H), (1, W)):
        proj = kernel.sum(axis=1 - axis)
        ac = np.correlate(proj, proj, mode="full")
        ac = ac / ac.max()
        m = len(proj) - 1
        prof = np.zeros(n)
        np.add.at(prof, np.arange(-m, m + 1) % n, ac)  # circular profile, zero lag at index 0
        ramp = 1.0 - prof
        weights.append(ramp / max(ramp.max(), 1e-12))
    alpha = np.outer(weights[0], weights[1])
    if image.ndim == 3:
        alpha = alpha[..., None]
    otf = psf2otf(kernel, (H, W))
    spec = rfft2(image)
    blurred = irfft2(spec * (otf[..., None] if image.ndim == 3 else otf), (H, W))
    return alpha * image + (1 - alpha) * blurred


def normalize_kernel(kernel: np.ndarray) -> np.ndarray:
    """Clip at 0 and normalise to sum 1 (a delta if nothing positive is left)."""
    kernel = np.clip(kernel, 0, None)
    s = kernel.sum()
    if s <= 0:
        kernel = np.zeros_like(kernel)
        kernel[kernel.shape[0] // 2, kernel.shape[1] // 2] = 1.0
        return kernel
    return kernel / s


def clean_kernel(kernel: np.ndarray, *, rel_threshold: float = 0.05, min_component: float = 0.0) -> np.ndarray:
    """Remove noise from an estimated kernel: clip >= 0, zero entries below
    ``rel_threshold * max``, drop 8-connected components holding less than ``min_component``
    of the total mass, normalise to sum 1 (Pan et al.'s / Xu et al.'s post-processing).
    """
    k = np.clip(kernel, 0, None)
    if k.max() <= 0:
        return normalize_kernel(k)
    k[k < rel_threshold * k.max()] = 0
    if min_component > 0:
        labels, n = ndi.label(k > 0, structure=np.ones((3, 3)))
        if n > 1:
            mass = ndi.sum(k, labels, index=np.arange(1, n + 1))
            keep = np.zeros(n + 1, dtype=bool)
            keep[1:] = mass >= min_component * mass.sum()
            keep[1 + int(np.argmax(mass))] = True
            k = k * keep[labels]
    return normalize_kernel(k)


def center_kernel(kernel: np.ndarray) -> np.ndarray:
    """Shift the kernel by whole pixels so its centre of mass is at the centre pixel.

    (Blind estimates are defined up to a shift; keeping the mass centred stops it from
    drifting off the support across pyramid levels.)
    """
    kh, kw = kernel.shape
    cy, cx = ndi.center_of_mass(kernel)
    dy, dx = int(round(kh // 2 - cy)), int(round(kw // 2 - cx))
    if dy == 0 and dx == 0:
        return kernel
    return ndi.shift(kernel, (dy, dx), order=0, mode="constant", cval=0.0)


def resize_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Resample a square kernel to ``size`` x ``size`` (bilinear about the centre), clip, normalise."""
    k0 = kernel.shape[0]
    if k0 == size:
        return kernel.copy()
    scale = size / k0
    # map output pixel centres (about the centre pixel) to input coordinates
    c_out, c_in = size // 2, k0 // 2
    coords = (np.arange(size) - c_out) / scale + c_in
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    out = ndi.map_coordinates(kernel, [yy, xx], order=1, mode="constant", cval=0.0)
    return normalize_kernel(out)


def estimate_kernel_fft(
    latent_grads: tuple[np.ndarray, np.ndarray],
    blurred_grads: tuple[np.ndarray, np.ndarray],
    ksize: int,
    *,
    gamma: float,
    prior_kernel: np.ndarray | None = None,
    prior_weight: float = 0.0,
) -> np.ndarray:
    """Least-squares kernel from gradients in the Fourier domain (Cho & Lee 2009; Xu & Jia 2010).

    ``k = argmin_k sum_d ||k * d_x - d_y||^2 + gamma ||k||^2``, solved by
    ``F^-1[sum_d conj(F d_x) F d_y / (sum_d |F d_x|^2 + gamma)]``, then cropped to
    ``ksize`` x ``ksize`` about the origin. The result is *raw* (may be negative, unnormalised);
    post-process with :func:`clean_kernel`.

    Parameters
    ----------
    latent_grads, blurred_grads : pairs of ``(H, W)`` arrays, gradients of the latent estimate
        and of the blurred image (same shape, already padded for periodic boundaries).
    ksize : odd kernel size.
    gamma : Tikhonov weight on ``||k||^2`` (in units of summed squared gradients).
    prior_kernel, prior_weight : optional extra term ``prior_weight ||k - prior_kernel||^2``
        (ties a tile's kernel to the whole image's one).
    """
    shape = latent_grads[0].shape
    num = np.zeros((shape[0], shape[1] // 2 + 1), dtype=np.complex128)
    den = np.zeros(num.shape, dtype=np.float64)
    for gl, gb in zip(latent_grads, blurred_grads):
        fl, fb = rfft2(gl), rfft2(gb)
        num += np.conj(fl) * fb
        den += (fl * np.conj(fl)).real
    if prior_kernel is not None and prior_weight > 0:
        num = num + prior_weight * psf2otf(prior_kernel, shape)
        den = den + prior_weight
    return otf2psf(num / (den + gamma), shape, (ksize, ksize))


@dataclass(frozen=True)
class PyramidLevel:
    """One level of a coarse-to-fine pyramid: image scale and (odd) kernel size."""

    scale: float
    ksize: int


def pyramid_levels(ksize: int, *, ratio: float = float(np.sqrt(0.5)), min_ksize: int = 5) -> list[PyramidLevel]:
    """Coarse-to-fine levels: kernel sizes ``ksize * ratio^i`` (odd, >= ``min_ksize``), coarsest first.

    Ratio sqrt(0.5) and a coarsest kernel of about 5 px follow Pan et al.'s L0 code and the IPOL
    re-implementation of Xu et al. 2013 (``docs/paper.md``, "Classical baselines").
    """
    if ksize < 3 or ksize % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 3, got {ksize}")
    levels = []
    s = 1.0
    while True:
        k = int(round(ksize * s))
        k = k + 1 if k % 2 == 0 else k
        if k < min_ksize and levels:
            break
        levels.append(PyramidLevel(scale=s, ksize=max(k, 3)))
        if k <= min_ksize:
            break
        s *= ratio
    return levels[::-1]


def downscale(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize a 2-D image by ``scale`` <= 1 (area averaging, OpenCV ``INTER_AREA``)."""
    import cv2

    if scale >= 1.0:
        return image.astype(np.float64)
    H, W = image.shape[:2]
    size = (max(int(round(W * scale)), 8), max(int(round(H * scale)), 8))
    return cv2.resize(image.astype(np.float32), size, interpolation=cv2.INTER_AREA).astype(np.float64)


def initial_kernel(ksize: int) -> np.ndarray:
    """Coarsest-level starting kernel: two central horizontal pixels of 1/2 (as Pan et al.'s code)."""
    k = np.zeros((ksize, ksize))
    c = ksize // 2
    k[c, c - 1 : c + 1] = 0.5
    return k


def kernel_step(
    latent: np.ndarray,
    blurred: np.ndarray,
    ksize: int,
    *,
    gamma: float,
    rel_threshold: float = 0.05,
    min_component: float = 0.0,
    latent_grads: tuple[np.ndarray, np.ndarray] | None = None,
    mask: np.ndarray | None = None,
    prior_kernel: np.ndarray | None = None,
    prior_weight: float = 0.0,
) -> np.ndarray:
    """One kernel update from a latent estimate: FFT least squares on gradients
    (:func:`estimate_kernel_fft`), then :func:`clean_kernel` and :func:`center_kernel`.

    ``latent``/``blurred``: ``(H, W)`` periodic-padded arrays of equal shape; ``latent_grads``
    replaces the latent's gradients when given (e.g. Xu & Jia's selected edges); ``mask``
    (``(H, W)`` weights) restricts the fit to where the blur model holds (the unpadded interior).
    """
    lg = gradients(latent) if latent_grads is None else latent_grads
    bg = gradients(blurred)
    if mask is not None:
        lg = tuple(g * mask for g in lg)
        bg = tuple(g * mask for g in bg)
    raw = estimate_kernel_fft(lg, bg, ksize, gamma=gamma, prior_kernel=prior_kernel, prior_weight=prior_weight)
    return center_kernel(clean_kernel(raw, rel_threshold=rel_threshold, min_component=min_component))


def _orientation_bins(dx: np.ndarray, dy: np.ndarray, bins: int) -> np.ndarray:
    angle = np.mod(np.arctan2(dy, dx), np.pi)
    return np.minimum((angle / np.pi * bins).astype(int), bins - 1)


def select_gradients(dx: np.ndarray, dy: np.ndarray, ksize: int, *, r: float = 2.0, bins: int = 4,
                     mask: np.ndarray | None = None,
                     thresholds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep only the strongest gradients, about ``r * sqrt(P_I P_k)`` of them, in every orientation.

    Cho & Lee 2009 / Xu & Jia 2010's adaptive threshold: orientations are split into ``bins``
    bins over 180 degrees and each bin keeps its strongest ``r sqrt(P_I P_k) / bins`` pixels
    (``P_I`` pixels in the image, ``P_k`` in the kernel), so that every direction constrains
    the kernel. ``mask`` (bool, same shape) restricts the candidates (Xu & Jia's r-map).
    ``thresholds`` (one per bin) are used instead of the count rule when given.
    Returns ``(dx, dy, thresholds)`` with the unselected gradients zeroed.
    """
    mag = np.hypot(dx, dy)
    cand = mag if mask is None else np.where(mask, mag, 0.0)
    b = _orientation_bins(dx, dy, bins)
    if thresholds is None:
        n_keep = max(int(r * np.sqrt(mag.size * ksize * ksize) / bins), 1)
        thresholds = np.zeros(bins)
        for i in range(bins):
            vals = cand[(b == i) & (cand > 0)]
            if vals.size:
                j = vals.size - min(n_keep, vals.size)  # the n_keep-th largest
                thresholds[i] = np.partition(vals, j)[j]
    keep = (cand > 0) & (cand >= thresholds[b])
    return np.where(keep, dx, 0.0), np.where(keep, dy, 0.0), np.asarray(thresholds, dtype=np.float64)


def interior_mask(shape: tuple[int, int], pad: int, margin: int) -> np.ndarray:
    """``(H, W)`` float mask: 1 on the unpadded image shrunk by ``margin``, 0 on the padding."""
    m = np.zeros(shape)
    a = pad + margin
    m[a : shape[0] - a, a : shape[1] - a] = 1.0
    return m
