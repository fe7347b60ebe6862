"""Non-blind deconvolution by half-quadratic splitting with FFT (every baseline's last step).

Model: the blurry image is ``y = k * x + n`` (true convolution, kernel centred, sum 1). We solve

    min_x  lam/2 * rho(k * x - y)  +  sum_i |dx x|_i^alpha + |dy x|_i^alpha

with the image prior on forward differences, following Krishnan & Fergus, "Fast image
deconvolution using hyper-Laplacian priors" (NIPS 2009): auxiliary variables ``w ~ grad x``
with a penalty ``beta/2 ||w - grad x||^2``; ``beta`` grows from ``beta0 = 1`` by ``2 sqrt 2`` up to
``beta_max = 256`` (their schedule), each step alternating a per-pixel ``w``-problem and an
FFT ``x``-problem. ``lam`` is the *data* weight as in Krishnan & Fergus (their defaults:
``lam = 2000`` for clean 8-bit images, ``alpha = 2/3`` or ``0.8``).

Priors: ``"hyper_laplacian"`` (``0 < alpha < 1``; the ``w``-step is solved exactly per pixel
by Newton's method on the stationarity condition, then compared with ``w = 0``, which gives the
same answer as Krishnan & Fergus's lookup table / analytic roots for alpha = 1/2, 2/3),
``"tv"`` (alpha = 1, soft shrinkage) and ``"l2"`` (alpha = 2, one closed-form FFT solve).
``data="l1"`` replaces the quadratic data term by ``lam * ||k * x - y||_1`` (a second split
``z ~ k * x - y``, soft shrinkage): the TV-L1 deconvolution of Xu & Jia 2010.

Boundaries: the image is padded so that it is smooth across the periodic wrap
(:func:`repro.baselines._common.pad_for_fft`) and, with ``edgetaper=True``, tapered as MATLAB's
``edgetaper`` does; the result is cropped back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._common import (
    check_image,
    check_kernel,
    edgetaper as _edgetaper,
    grad_otfs,
    gradients,
    irfft2,
    pad_for_fft,
    psf2otf,
    rfft2,
)

__all__ = ["deconvolve", "deconvolve_spatially_varying", "tile_grid", "shrink_hyper_laplacian"]

log = logging.getLogger(__name__)

PRIORS = ("hyper_laplacian", "tv", "l2")
DATA_TERMS = ("l2", "l1")


def shrink_hyper_laplacian(v: np.ndarray, beta: float, alpha: float, *, newton_iters: int = 8) -> np.ndarray:
    """Per-element ``argmin_w |w|^alpha + beta/2 (w - v)^2`` for ``0 < alpha <= 1``.

    For ``alpha = 1`` this is soft shrinkage by ``1/beta``. For ``alpha < 1`` the non-zero
    candidate is the largest root of ``alpha w^(alpha-1) + beta (w - |v|) = 0`` on
    ``(0, |v|]``; the left side is convex in ``w``, so Newton's method started at ``w = |v|``
    decreases monotonically to that root. The candidate is kept where its energy is below
    that of ``w = 0`` (Krishnan & Fergus 2009, Sec. 3).
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    a = np.abs(v)
    if alpha == 1:
        return np.sign(v) * np.maximum(a - 1.0 / beta, 0.0)
    w = a.copy()
    tiny = 1e-8
    for _ in range(newton_iters):
        ws = np.maximum(w, tiny)
        f = alpha * ws ** (alpha - 1) + beta * (ws - a)
        fp = alpha * (alpha - 1) * ws ** (alpha - 2) + beta
        step = np.where(fp > 0, f / np.where(fp > 0, fp, 1.0), ws)
        w = np.clip(ws - step, tiny, a + tiny)
    e_w = w**alpha + 0.5 * beta * (w - a) ** 2
    e_0 = 0.5 * beta * a**2
    return np.where(e_w < e_0, np.sign(v) * w, 0.0)


def _check_options(prior: str, data: str, lam: float, alpha: float, iters: int) -> None:
    """A one-line ``ValueError`` for a bad option of :func:`deconvolve`."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    if data not in DATA_TERMS:
        raise ValueError(f"data must be one of {DATA_TERMS}, got {data!r}")
    if lam <= 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    if prior == "hyper_laplacian" and not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) for the hyper-Laplacian prior, got {alpha}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")


@dataclass(frozen=True)
class _Spectra:
    """The Fourier transforms the ``x``-steps reuse, for the padded image ``yp`` (Hp, Wp, C):
    ``K`` (the kernel's OTF), ``Gx``, ``Gy`` (the forward differences'), ``KtY = K* Y``,
    ``KtK = |K|^2`` and ``GtG = |Gx|^2 + |Gy|^2``; each (Hp, Wp // 2 + 1, 1), ``KtY`` (.., C)."""

    shape: tuple[int, int]
    K: np.ndarray
    Gx: np.ndarray
    Gy: np.ndarray
    KtY: np.ndarray
    KtK: np.ndarray
    GtG: np.ndarray

    @classmethod
    def of(cls, k: np.ndarray, yp: np.ndarray) -> "_Spectra":
        shape = yp.shape[:2]
        K = psf2otf(k, shape)[..., None]
        Gx, Gy = (g[..., None] for g in grad_otfs(shape))
        return cls(shape=shape, K=K, Gx=Gx, Gy=Gy, KtY=np.conj(K) * rfft2(yp), KtK=(K * np.conj(K)).real,
                   GtG=(Gx * np.conj(Gx)).real + (Gy * np.conj(Gy)).real)


def _alternation(x: np.ndarray, yp: np.ndarray, f: _Spectra, *, lam: float, beta: float, alpha: float,
                 data: str) -> np.ndarray:
    """One alternation of the splitting at weight ``beta``: the per-pixel ``w``-step on the
    gradients of ``x`` (exponent ``alpha``: 2 closed form, else :func:`shrink_hyper_laplacian`),
    then the FFT ``x``-step (with ``data="l1"``, after shrinking the residual ``z``); returns the new ``x``."""
    dx, dy = gradients(x)
    if alpha == 2.0:
        wx, wy = dx * beta / (beta + 2.0), dy * beta / (beta + 2.0)
    else:
        wx = shrink_hyper_laplacian(dx, beta, alpha)
        wy = shrink_hyper_laplacian(dy, beta, alpha)
    reg = beta * (np.conj(f.Gx) * rfft2(wx) + np.conj(f.Gy) * rfft2(wy))
    if data == "l2":
        # lam K'K X + beta G'G X = lam K'Y + beta G'w
        X = (lam * f.KtY + reg) / (lam * f.KtK + beta * f.GtG)
    else:
        # lam |z|_1 + lam beta/2 ||z - (k*x - y)||^2: z is shrunk by 1/beta, then
        # lam K'K X + G'G X = lam K'(Y + Z) + G'w   (reg / beta)
        r = irfft2(f.K * rfft2(x), f.shape) - yp
        z = np.sign(r) * np.maximum(np.abs(r) - 1.0 / beta, 0.0)
        X = (lam * (f.KtY + np.conj(f.K) * rfft2(z)) + reg / beta) / (lam * f.KtK + f.GtG)
    return irfft2(X, f.shape)


def deconvolve(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    prior: str = "hyper_laplacian",
    lam: float = 2000.0,
    alpha: float = 0.8,
    iters: int = 1,
    beta0: float = 1.0,
    beta_rate: float = 2.0 * np.sqrt(2.0),
    beta_max: float = 256.0,
    data: str = "l2",
    edgetaper: bool = True,
    pad: int | None = None,
    clip: bool = True,
) -> np.ndarray:
    """Non-blind deconvolution of ``image`` by ``kernel`` (half-quadratic splitting, FFT).

    Parameters
    ----------
    image : ``(H, W)`` or ``(H, W, C)`` float in [0, 1]; colour channels share the kernel.
    kernel : ``(kh, kw)`` non-negative blur kernel (normalised to sum 1 here), convolution
        convention, origin at ``(kh // 2, kw // 2)``.
    prior : ``"hyper_laplacian"`` (``|grad x|^alpha``), ``"tv"`` (alpha = 1) or ``"l2"`` (alpha = 2).
    lam : data-term weight (Krishnan & Fergus's lambda; larger = less regularisation).
        Their value for images with ~1% noise is 2000 (hyper-Laplacian); for ``"tv"`` and
        ``"l2"`` smaller values (about 500-1000 and 50-200) are typical. With ``data="l1"``
        the data term is ``lam * ||k * x - y||_1`` and values of about 20-50 suit 8-bit photos.
    alpha : hyper-Laplacian exponent (0 < alpha < 1), ignored for ``"tv"`` and ``"l2"``.
    iters : inner alternations per ``beta`` value (Krishnan & Fergus use 1).
    beta0, beta_rate, beta_max : continuation schedule of the splitting weight.
    data : ``"l2"`` (Gaussian noise) or ``"l1"`` (robust; TV-L1 when ``prior="tv"``).
    edgetaper : taper the (padded) borders against ringing.
    pad : border added before the FFT (default: the kernel's larger side).
    clip : clip the output to [0, 1].

    Returns
    -------
    ``np.ndarray`` with the shape of ``image``, float32.
    """
    x0 = check_image(image)
    k = check_kernel(kernel)
    _check_options(prior, data, lam, alpha, iters)
    gray = x0.ndim == 2
    y = x0[..., None] if gray else x0
    H, W = y.shape[:2]
    p = max(k.shape) if pad is None else int(pad)
    yp = pad_for_fft(y, p)
    if edgetaper:
        yp = _edgetaper(yp, k)
    f = _Spectra.of(k, yp)
    if prior == "l2" and data == "l2":
        # lam/2 ||k*x - y||^2 + ||grad x||^2  ->  (lam K'K + 2 G'G) X = lam K'Y
        x = irfft2(lam * f.KtY / (lam * f.KtK + 2.0 * f.GtG), f.shape)
    else:
        a = {"hyper_laplacian": alpha, "tv": 1.0, "l2": 2.0}[prior]
        x = yp.copy()
        beta = beta0
        while True:
            for _ in range(iters):
                x = _alternation(x, yp, f, lam=lam, beta=beta, alpha=a, data=data)
            if beta >= beta_max:
                break
            beta = min(beta * beta_rate, beta_max)
    out = x[p : p + H, p : p + W] if p > 0 else x
    if clip:
        out = np.clip(out, 0.0, 1.0)
    out = out[..., 0] if gray else out
    return out.astype(np.float32)


def tile_grid(shape: tuple[int, int], tile: int, overlap: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Overlapping tiles covering an image of ``shape`` (H, W).

    Returns ``(rows, cols)``: lists of ``(start, stop)`` spans; tile ``(i, j)`` is
    ``image[rows[i][0]:rows[i][1], cols[j][0]:cols[j][1]]``. Tiles are at most ``tile`` long,
    adjacent ones overlap by at least ``overlap``, the spans are spread evenly and cover the
    image exactly. ``len(rows), len(cols)`` is the ``(ny, nx)`` of per-tile kernel arrays.
    """
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise ValueError(f"need tile > overlap >= 0, got tile={tile}, overlap={overlap}")

    def spans(n: int) -> list[tuple[int, int]]:
        if n <= tile:
            return [(0, n)]
        count = int(np.ceil((n - overlap) / (tile - overlap)))
        starts = np.round(np.linspace(0, n - tile, count)).astype(int)
        return [(int(s), int(s) + tile) for s in starts]

    return spans(shape[0]), spans(shape[1])


def _blend_window(length: int, lo_overlap: int, hi_overlap: int) -> np.ndarray:
    """1-D weights: raised-cosine ramps over the overlaps, 1 elsewhere (never exactly 0)."""
    w = np.ones(length)
    for ov, sl in ((lo_overlap, slice(0, None)), (hi_overlap, slice(None, None, -1))):
        if ov > 0:
            ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ov) + 0.5) / ov)
            view = w[sl]
            view[:ov] = np.minimum(view[:ov], ramp)
    return w


def deconvolve_spatially_varying(
    image: np.ndarray,
    kernels: np.ndarray | Callable[[int, int], np.ndarray],
    *,
    tile: int,
    overlap: int,
    context: int | None = None,
    **deconv_kwargs,
) -> np.ndarray:
    """Deconvolve overlapping tiles, each with its own kernel, and blend them smoothly.

    Parameters
    ----------
    image : ``(H, W)`` or ``(H, W, C)`` float in [0, 1].
    kernels : ``(ny, nx, kh, kw)`` array, one kernel per tile of :func:`tile_grid` (``ny, nx``
        must match it), or a callable ``(i, j) -> (kh, kw)`` kernel for tile ``(i, j)``.
    tile, overlap : tile size and minimum overlap in pixels (see :func:`tile_grid`).
    context : extra pixels of the image around each tile fed to the deconvolution and
        discarded afterwards (default: the kernel size), so tile borders do not ring.
    **deconv_kwargs : passed to :func:`deconvolve` (``prior``, ``lam``, ...).

    Returns
    -------
    float32 array with the shape of ``image``: the tiles' results blended with raised-cosine
    weights over the overlaps (weights normalised to sum 1 at every pixel).
    """
    x = check_image(image)
    H, W = x.shape[:2]
    rows, cols = tile_grid((H, W), tile, overlap)
    if not callable(kernels):
        karr = np.asarray(kernels)
        if karr.ndim != 4 or karr.shape[:2] != (len(rows), len(cols)):
            raise ValueError(
                f"kernels must have shape (ny, nx, kh, kw) = ({len(rows)}, {len(cols)}, kh, kw) for "
                f"image {x.shape[:2]} with tile={tile}, overlap={overlap}; got {karr.shape}"
            )
        get_kernel = lambda i, j: karr[i, j]  # noqa: E731
    else:
        get_kernel = kernels
    acc = np.zeros(x.shape, dtype=np.float64)
    wsum = np.zeros((H, W), dtype=np.float64)
    for i, (y0, y1) in enumerate(rows):
        for j, (x0, x1) in enumerate(cols):
            k = np.asarray(get_kernel(i, j), dtype=np.float64)
            c = max(k.shape) if context is None else int(context)
            cy0, cy1 = max(y0 - c, 0), min(y1 + c, H)
            cx0, cx1 = max(x0 - c, 0), min(x1 + c, W)
            res = deconvolve(x[cy0:cy1, cx0:cx1], k, **deconv_kwargs)
            res = res[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
            lo_y = rows[i - 1][1] - y0 if i > 0 else 0
            hi_y = y1 - rows[i + 1][0] if i + 1 < len(rows) else 0
            lo_x = cols[j - 1][1] - x0 if j > 0 else 0
            hi_x = x1 - cols[j + 1][0] if j + 1 < len(cols) else 0
            w = np.outer(_blend_window(y1 - y0, lo_y, hi_y), _blend_window(x1 - x0, lo_x, hi_x))
            acc[y0:y1, x0:x1] += res * (w[..., None] if x.ndim == 3 else w)
            wsum[y0:y1, x0:x1] += w
    out = acc / (wsum[..., None] if x.ndim == 3 else wsum)
    return out.astype(np.float32)
