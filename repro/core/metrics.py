"""Image quality metrics: PSNR, SSIM, and the shift-search PSNR of shift-invariant benchmarks.

``psnr`` and ``ssim`` are thin wrappers of scikit-image's ``peak_signal_noise_ratio`` and
``structural_similarity`` that fix the two choices that otherwise vary between papers:

* **data range** comes from the dtype, never from the pixels: float -> 1.0, uint8 -> 255,
  uint16 -> 65535, bool -> 1 (pass ``data_range`` for anything else);
* **SSIM settings** are those of Wang et al. 2004 as used by DeepDeblur and most deblurring
  papers: Gaussian weights with sigma 1.5 (11x11 window), ``use_sample_covariance=False``,
  K1 = 0.01, K2 = 0.03, RGB images averaged over channels (``channel_axis=-1``).

``shift_search_psnr`` is the evaluation of the Levin et al. 2009 / Köhler et al. 2012
benchmarks (Fig. 8 of the paper): blind deconvolution recovers the sharp image only up to a
global translation, so the PSNR is taken at the best 2-D shift of the result. All integer shifts
within ``radius`` are scored at once with FFT cross-correlation and box sums::

    SSE(s) = sum_W ref^2 + sum_W result(. + s)^2 - 2 * sum_W ref * result(. + s)

over the same window ``W`` (the reference without a border of ``border`` pixels) for every
shift, so no wrapped or padded pixel is ever compared and the answer equals a brute-force search
(:func:`brute_force_shift_search`). The best integer shift is then refined to sub-pixel
precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SSIM_SETTINGS",
    "psnr",
    "ssim",
    "psnr_torch",
    "ShiftSearchResult",
    "shift_search_psnr",
    "brute_force_shift_search",
    "local_shift_map",
]

# Wang et al. 2004 / DeepDeblur settings for skimage.metrics.structural_similarity.
SSIM_SETTINGS: dict = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False,
                       "K1": 0.01, "K2": 0.03}

# Margin (pixels) added to the shift radius for the default border: room for the +-1 neighbours
# of the parabolic fit and for the cubic-spline sub-pixel evaluation (whose boundary effect
# decays as 0.268^distance, < 1e-4 at 7 pixels).
_SUBPIXEL_MARGIN = 8


def _default_data_range(image: np.ndarray) -> float:
    dtype = image.dtype
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if dtype == bool:
        return 1.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise ValueError(f"no default data range for dtype {dtype}; pass data_range= explicitly")


def _check_pair(image_true: np.ndarray, image_test: np.ndarray, data_range: float | None) -> float:
    if image_true.shape != image_test.shape:
        raise ValueError(f"images must have the same shape, got {image_true.shape} and {image_test.shape}")
    if data_range is None:
        if image_true.dtype != image_test.dtype:
            raise ValueError(f"images have different dtypes ({image_true.dtype}, {image_test.dtype}); "
                             "convert them or pass data_range= explicitly")
        return _default_data_range(image_true)
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    return float(data_range)


def psnr(image_true: np.ndarray, image_test: np.ndarray, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, equal to ``skimage.metrics.peak_signal_noise_ratio``.

    Parameters
    ----------
    image_true, image_test : arrays of the same shape and dtype, any number of dimensions.
    data_range : the peak value; by default from the dtype (float 1.0, uint8 255, uint16 65535).

    Returns ``inf`` for identical images. Computed in float64 (skimage keeps float32 input in
    float32, so the two differ by ~1e-5 dB there).

    Examples
    --------
    >>> a = np.zeros((4, 4)); b = a + 0.1
    >>> round(psnr(a, b), 6)
    20.0
    """
    image_true, image_test = np.asarray(image_true), np.asarray(image_test)
    dr = _check_pair(image_true, image_test, data_range)
    mse = np.mean((image_true.astype(np.float64) - image_test.astype(np.float64)) ** 2)
    if mse == 0:
        return math.inf
    return float(10.0 * np.log10(dr * dr / mse))


def ssim(image_true: np.ndarray, image_test: np.ndarray, *, data_range: float | None = None) -> float:
    """Mean structural similarity, ``skimage.metrics.structural_similarity`` with :data:`SSIM_SETTINGS`.

    Shape: ``(H, W)`` gray or ``(H, W, C)`` (channels last, SSIM averaged over channels); both
    sides at least 11 pixels (the Gaussian window).
    """
    from skimage.metrics import structural_similarity

    image_true, image_test = np.asarray(image_true), np.asarray(image_test)
    dr = _check_pair(image_true, image_test, data_range)
    if image_true.ndim not in (2, 3):
        raise ValueError(f"ssim expects (H, W) or (H, W, C) images, got shape {image_true.shape}")
    if min(image_true.shape[:2]) < 11:
        raise ValueError(f"ssim needs images of at least 11x11 pixels, got {image_true.shape[:2]}")
    channel_axis = -1 if image_true.ndim == 3 else None
    return float(structural_similarity(image_true.astype(np.float64), image_test.astype(np.float64),
                                       data_range=dr, channel_axis=channel_axis, **SSIM_SETTINGS))


def psnr_torch(pred, target, *, data_range: float = 1.0):
    """Per-image PSNR (dB) of a batch, for training and validation.

    Shape: ``pred``, ``target`` ``(B, C, H, W)`` (any ``(B, ...)``) -> ``(B,)`` float tensor on
    their device; ``inf`` where an image is reproduced exactly. No gradient is tracked.
    """
    import torch

    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.ndim < 2:
        raise ValueError(f"expected a batch (B, ...), got shape {tuple(pred.shape)}")
    with torch.no_grad():
        diff = pred.detach().float() - target.detach().float()
        mse = diff.pow(2).flatten(1).mean(dim=1)  # (B,)
        return 10.0 * torch.log10(data_range**2 / mse)


# --------------------------------------------------------------------------- shift search


@dataclass(frozen=True)
class ShiftSearchResult:
    """Outcome of a shift search.

    ``shift = (dy, dx)`` is the displacement of the result relative to the reference: the result
    best matches ``reference`` moved by ``(dy, dx)``, i.e. ``result[y + dy, x + dx] ~
    scale * reference[y, x]`` (so ``np.roll(reference, (3, -2), axis=(0, 1))`` gives ``(3, -2)``).
    """

    psnr: float  # dB at the best (sub-pixel if asked) shift and scale, data range 1
    shift: tuple[float, float]  # (dy, dx), sub-pixel if refined
    scale: float  # the global intensity scale applied to the result (1.0 unless scale=True)
    psnr_integer: float  # dB at the best integer shift
    integer_shift: tuple[int, int]  # (dy, dx) of the best integer shift
    border: int  # pixels left out on each side of the reference


def _as_float_image(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"{what}: expected (H, W) or (H, W, C) image, got shape {image.shape}")
    if np.issubdtype(image.dtype, np.integer) or image.dtype == bool:
        image = image.astype(np.float64) / _default_data_range(image)
    image = image.astype(np.float64, copy=False)
    return image[..., None] if image.ndim == 2 else image


def _prepare(result, reference, radius: int, border: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    result = _as_float_image(result, "result")
    reference = _as_float_image(reference, "reference")
    if result.shape != reference.shape:
        raise ValueError(f"result and reference must have the same shape, got {result.shape} and {reference.shape}")
    if int(radius) != radius or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius}")
    radius = int(radius)
    border = radius + _SUBPIXEL_MARGIN if border is None else int(border)
    if border < radius + 1:
        raise ValueError(f"border ({border}) must be at least radius + 1 = {radius + 1}")
    H, W = reference.shape[:2]
    if H - 2 * border < 1 or W - 2 * border < 1:
        raise ValueError(f"image {H}x{W} is too small for border {border} (radius {radius})")
    return result, reference, border


def _sse_surface(window: np.ndarray, patch: np.ndarray, reach: int, margin: int, scale: bool) -> np.ndarray:
    """Error of every integer shift |dy|, |dx| <= reach, shape ``(2*reach+1, 2*reach+1)``.

    ``window`` (h, w, C) is the reference window; ``patch`` (h + 2m, w + 2m, C) is the result
    around it (``patch[m + i, m + j]`` lies under ``window[i, j]`` at zero shift), ``m = margin``
    >= ``reach``. Entry ``[dy + reach, dx + reach]`` is the sum of squared errors between
    ``window`` and ``patch[m + dy : m + dy + h, m + dx : m + dx + w]`` (times the best scale if
    ``scale``), computed with FFT cross-correlation and box sums: nothing wraps because the
    correlation is only read at offsets where the window stays inside the patch.
    """
    from scipy import fft

    h, w, _ = window.shape
    Ph, Pw, _ = patch.shape
    fh, fw = fft.next_fast_len(Ph, real=True), fft.next_fast_len(Pw, real=True)
    # corr[u, v] = sum_ij window[i, j] * patch[i + u, j + v] (summed over channels)
    spec = fft.rfft2(patch, s=(fh, fw), axes=(0, 1)) * np.conj(fft.rfft2(window, s=(fh, fw), axes=(0, 1)))
    corr = fft.irfft2(spec.sum(axis=2), s=(fh, fw))
    lo, hi = margin - reach, margin + reach + 1
    cross = corr[lo:hi, lo:hi]
    # Box sums of patch^2 over every h x w window via an integral image.
    sq = np.pad((patch * patch).sum(axis=2), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    energy = sq[lo + h:hi + h, lo + w:hi + w] - sq[lo:hi, lo + w:hi + w] - sq[lo + h:hi + h, lo:hi] + sq[lo:hi, lo:hi]
    ref_energy = float((window * window).sum())
    if scale:
        # min over a of |ref - a r|^2 = |ref|^2 - <ref, r>^2 / |r|^2
        with np.errstate(divide="ignore", invalid="ignore"):
            sse = ref_energy - np.where(energy > 0, cross * cross / energy, 0.0)
    else:
        sse = ref_energy + energy - 2.0 * cross
    return np.maximum(sse, 0.0)


def _score(window: np.ndarray, aligned: np.ndarray, scale: bool) -> tuple[float, float]:
    """(PSNR in dB with data range 1, scale) comparing ``window`` and ``scale * aligned`` directly."""
    a = 1.0
    if scale:
        denom = float((aligned * aligned).sum())
        a = float((window * aligned).sum()) / denom if denom > 0 else 1.0
    mse = float(np.mean((window - a * aligned) ** 2))
    return (math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)), a


def _parabola_offset(m_minus: float, m0: float, m_plus: float) -> float:
    curvature = m_minus - 2.0 * m0 + m_plus
    if not curvature > 0:
        return 0.0
    return float(np.clip(0.5 * (m_minus - m_plus) / curvature, -0.5, 0.5))


def _search(window: np.ndarray, patch: np.ndarray, radius: int, margin: int, subpixel: bool,
            scale: bool) -> tuple[float, tuple[float, float], float, float, tuple[int, int]]:
    """Core search on a window and the result patch around it; see :func:`_sse_surface`."""
    h, w, _ = window.shape
    sse = _sse_surface(window, patch, radius + 1, margin, scale)  # one extra ring for the fit
    inner = sse[1:-1, 1:-1]
    iy, ix = np.unravel_index(int(np.argmin(inner)), inner.shape)  # first minimum, row-major
    dy, dx = int(iy) - radius, int(ix) - radius
    aligned = patch[margin + dy:margin + dy + h, margin + dx:margin + dx + w]
    best_psnr, best_scale = _score(window, aligned, scale)
    int_psnr = best_psnr
    shift = (float(dy), float(dx))
    if subpixel and math.isfinite(best_psnr):
        cy, cx = iy + 1, ix + 1
        fy = _parabola_offset(sse[cy - 1, cx], sse[cy, cx], sse[cy + 1, cx])
        fx = _parabola_offset(sse[cy, cx - 1], sse[cy, cx], sse[cy, cx + 1])
        if fy != 0.0 or fx != 0.0:
            from scipy import ndimage

            yy, xx = np.meshgrid(np.arange(h) + margin + dy + fy, np.arange(w) + margin + dx + fx, indexing="ij")
            sub = np.stack([ndimage.map_coordinates(patch[..., c], (yy, xx), order=3, mode="mirror")
                            for c in range(patch.shape[2])], axis=-1)
            sub_psnr, sub_scale = _score(window, sub, scale)
            if sub_psnr > best_psnr:  # keep the refinement only where it helps
                best_psnr, best_scale, shift = sub_psnr, sub_scale, (dy + fy, dx + fx)
    return best_psnr, shift, best_scale, int_psnr, (dy, dx)


def shift_search_psnr(result: np.ndarray, reference: np.ndarray, *, radius: int = 20, border: int | None = None,
                      subpixel: bool = True, scale: bool = False) -> ShiftSearchResult:
    """Best PSNR over the 2-D translations of ``result`` within ``radius`` pixels of ``reference``.

    Parameters
    ----------
    result, reference : ``(H, W)`` or ``(H, W, C)`` images, float in [0, 1] (data range 1) or
        uint8 / uint16 (scaled to [0, 1] by their dtype).
    radius : integer shifts ``|dy| <= radius`` and ``|dx| <= radius`` (a square) are searched.
    border : pixels of the reference left out on each side; every shift compares the same
        ``(H - 2 border) x (W - 2 border)`` window of the reference. Default ``radius + 8``
        (room for the sub-pixel step); must be at least ``radius + 1``.
    subpixel : refine the best integer shift by a parabola through the squared error at its
        neighbours (each axis separately), evaluate the fractional shift exactly with cubic-spline
        interpolation of the result, and keep it only if it scores higher.
    scale : also fit the best global intensity scale ``a`` (least squares, ``reference ~ a * result``).

    Returns a :class:`ShiftSearchResult`; ties between integer shifts go to the first in row-major
    order of ``(dy, dx)``, as in :func:`brute_force_shift_search`.

    Examples
    --------
    >>> ref = np.random.default_rng(0).random((64, 64))
    >>> shift_search_psnr(np.roll(ref, (3, -2), axis=(0, 1)), ref, radius=5).integer_shift
    (3, -2)
    """
    result, reference, border = _prepare(result, reference, radius, border)
    H, W = reference.shape[:2]
    window = reference[border:H - border, border:W - border]
    best, shift, a, best_int, int_shift = _search(window, result, int(radius), border, subpixel, scale)
    return ShiftSearchResult(psnr=best, shift=shift, scale=a, psnr_integer=best_int, integer_shift=int_shift,
                             border=border)


def brute_force_shift_search(result: np.ndarray, reference: np.ndarray, *, radius: int = 20,
                             border: int | None = None, scale: bool = False) -> ShiftSearchResult:
    """Reference implementation of the integer part of :func:`shift_search_psnr`: try every shift.

    Slow (``(2 radius + 1)^2`` full comparisons); for tests and benchmarks.
    """
    result, reference, border = _prepare(result, reference, radius, border)
    H, W = reference.shape[:2]
    window = reference[border:H - border, border:W - border]
    h, w = window.shape[:2]
    best = (-math.inf, 1.0, (0, 0))
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            value, a = _score(window, result[border + dy:border + dy + h, border + dx:border + dx + w], scale)
            if value > best[0]:
                best = (value, a, (dy, dx))
    value, a, (dy, dx) = best
    return ShiftSearchResult(psnr=value, shift=(float(dy), float(dx)), scale=a, psnr_integer=value,
                             integer_shift=(dy, dx), border=border)


def local_shift_map(result: np.ndarray, reference: np.ndarray, *, tile: int = 64, radius: int = 10,
                    subpixel: bool = True, return_psnr: bool = False):
    """Best shift of ``result`` against ``reference`` in each tile (Fig. 8: dynamic scenes).

    The reference without a border of ``radius + 8`` pixels is cut into non-overlapping
    ``tile x tile`` tiles (a remainder at the bottom/right is left out); tile ``(i, j)`` covers
    rows ``b + i*tile ... b + (i+1)*tile - 1`` and the matching columns, ``b`` the border. Each
    tile is matched against the result around it exactly as in :func:`shift_search_psnr`.

    Shape: returns ``(ny, nx, 2)`` float64 shifts ``(dy, dx)`` (convention of
    :class:`ShiftSearchResult`), and, with ``return_psnr``, also the ``(ny, nx)`` PSNR per tile.
    """
    if int(tile) != tile or tile < 1:
        raise ValueError(f"tile must be a positive integer, got {tile}")
    tile = int(tile)
    result, reference, border = _prepare(result, reference, radius, None)
    H, W = reference.shape[:2]
    ny, nx = (H - 2 * border) // tile, (W - 2 * border) // tile
    if ny < 1 or nx < 1:
        raise ValueError(f"image {H}x{W} holds no {tile}x{tile} tile inside a border of {border}")
    shifts = np.zeros((ny, nx, 2))
    values = np.zeros((ny, nx))
    for i in range(ny):
        for j in range(nx):
            y0, x0 = border + i * tile, border + j * tile
            window = reference[y0:y0 + tile, x0:x0 + tile]
            patch = result[y0 - border:y0 + tile + border, x0 - border:x0 + tile + border]
            values[i, j], shifts[i, j], *_ = _search(window, patch, int(radius), border, subpixel, False)
    return (shifts, values) if return_psnr else shifts
