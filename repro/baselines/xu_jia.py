"""Xu & Jia 2010, "Two-phase kernel estimation for robust motion deblurring" (ECCV).

Implemented from the paper's description (summarised in ``docs/paper.md``, "Classical
baselines"), not from code:

Phase 1, kernel initialisation, coarse to fine (pyramid ratio sqrt(0.5) down to ~5 px):

1. ``I~ = shock(gauss(I))``: Gaussian pre-smoothing and a few Osher-Rudin shock-filter steps
   of the current latent ``I`` (the blurry image at the start of every level).
2. Usefulness of edges from the *blurry* image ``B``, the r-map
   ``r(x) = ||sum_{y in N_h(x)} grad B(y)|| / (sum_{y in N_h(x)} ||grad B(y)|| + 0.5)``
   (``h = 5``): small on thin texture / narrow structures whose blur mixes opposite gradients.
   Mask ``M = H(r - tau_r)``; selected edges ``grad I_s = grad I~ * H(M ||grad I~|| - tau_s)``.
   ``tau_r = 0.25`` at the start of a level; ``tau_s`` keeps at least ``2 sqrt(P_I P_k)`` pixels
   in each of 4 orientation bins (the paper's adaptive rule); both divided by 1.1 after every
   iteration.
3. Kernel ``argmin_k ||grad I_s * k - grad B||^2 + gamma ||k||^2`` by FFT
   (:func:`repro.baselines._common.estimate_kernel_fft`).
4. Latent ``argmin_I ||k * I - B||^2 + lam ||grad I - grad I_s||^2`` by FFT (closed form).

Phase 2, iterative support detection (ISD) at full resolution: the support
``S = {j : k_j > eps_s}`` of the current kernel is kept free while the entries outside it are
pushed to zero by an L1 penalty,
``argmin_k 1/2 ||grad I_s * k - grad B||^2 + gamma/2 ||k||^2 + w sum_{j not in S} |k_j|``,
solved by iteratively re-weighted least squares with conjugate gradients (the normal operator
is applied by FFT). ``eps_s``: the paper picks it from the sorted kernel values; here it is the
first large jump in the sorted values, bounded to ``[0.02, 0.2] * max`` (a simplification).

Final image: TV-L1 deconvolution of each colour channel
(:func:`repro.baselines.deconv.deconvolve` with ``prior="tv", data="l1"``).

Parameter values not stated above (``gamma``, ``lam``, shock-filter steps) were chosen on the
known-answer crops of ``repro.baselines.demo`` and are documented on the class.
"""

from __future__ import annotations

import logging
from dataclasses import KW_ONLY, dataclass, field

import numpy as np
import scipy.ndimage as ndi
from tqdm.auto import tqdm

from ._common import (center_kernel, check_image, check_kernel_size, check_rgb, clean_kernel, downscale,
                      estimate_kernel_fft, grad_otfs, gradients, initial_kernel, interior_mask, irfft2,
                      normalize_kernel, otf2psf, pad_for_fft, psf2otf, pyramid_levels, resize_kernel, rfft2,
                      select_gradients)
from ..io.images import to_gray
from .deconv import deconvolve

__all__ = ["shock_filter", "r_map", "estimate_kernel_xu_jia", "isd_refine", "XuJia2010"]

log = logging.getLogger(__name__)


def shock_filter(image: np.ndarray, *, iters: int = 3, dt: float = 0.5) -> np.ndarray:
    """Osher-Rudin shock filter ``I <- I - dt sign(Laplacian I) ||grad I||`` (upwind gradient).

    ``image``: ``(H, W)``; returns ``(H, W)`` float64. Sharpens blurred edges into steps.
    """
    x = image.astype(np.float64).copy()
    for _ in range(iters):
        p = np.pad(x, 1, mode="edge")
        c = p[1:-1, 1:-1]
        fx = p[1:-1, 2:] - c  # forward differences
        bx = c - p[1:-1, :-2]  # backward differences
        fy = p[2:, 1:-1] - c
        by = c - p[:-2, 1:-1]
        lap = fx - bx + fy - by
        s = np.sign(lap)
        # Osher-Sethian upwind |grad| for I_t + F |grad I| = 0 with speed F = sign(lap):
        # F > 0 (erosion) uses max(D-, 0), min(D+, 0); F < 0 (dilation) the opposite
        lo, hi = np.minimum, np.maximum
        g_pos = np.sqrt(hi(bx, 0) ** 2 + lo(fx, 0) ** 2 + hi(by, 0) ** 2 + lo(fy, 0) ** 2)
        g_neg = np.sqrt(lo(bx, 0) ** 2 + hi(fx, 0) ** 2 + lo(by, 0) ** 2 + hi(fy, 0) ** 2)
        grad = np.where(s > 0, g_pos, g_neg)
        x = x - dt * s * grad
    return x


def r_map(blurred: np.ndarray, *, window: int = 5, eps: float = 0.5) -> np.ndarray:
    """Xu & Jia's edge usefulness ``||sum grad B|| / (sum ||grad B|| + eps)`` over ``window``^2.

    ``blurred``: ``(H, W)`` in [0, 1]; returns ``(H, W)`` in [0, 1).
    """
    dx, dy = gradients(blurred)
    size = (window, window)
    sx = ndi.uniform_filter(dx, size, mode="wrap") * window * window
    sy = ndi.uniform_filter(dy, size, mode="wrap") * window * window
    sm = ndi.uniform_filter(np.hypot(dx, dy), size, mode="wrap") * window * window
    return np.hypot(sx, sy) / (sm + eps)


def _latent_step(
    Bf: np.ndarray, K: np.ndarray, Gx, Gy, gxs: np.ndarray, gys: np.ndarray, lam: float, shape
) -> np.ndarray:
    """``argmin_I ||k * I - B||^2 + lam ||grad I - grad I_s||^2`` (periodic, closed form)."""
    num = np.conj(K) * Bf + lam * (np.conj(Gx) * rfft2(gxs) + np.conj(Gy) * rfft2(gys))
    den = (K * np.conj(K)).real + lam * ((Gx * np.conj(Gx)).real + (Gy * np.conj(Gy)).real)
    return irfft2(num / den, shape)


def _select_edges(latent, blurred_r, ksize, tau_r, tau_s, *, sigma, shock_iters, mask, keep_ratio=2.0):
    """Selected gradients ``grad I_s`` (module docstring, steps 1-2) and the per-orientation ``tau_s``."""
    sharp = shock_filter(ndi.gaussian_filter(latent, sigma), iters=shock_iters)
    gx, gy = gradients(sharp)
    useful = (blurred_r > tau_r) & (mask > 0)
    return select_gradients(gx, gy, ksize, r=keep_ratio, mask=useful, thresholds=tau_s)


def isd_refine(
    grads_latent: tuple[np.ndarray, np.ndarray],
    grads_blurred: tuple[np.ndarray, np.ndarray],
    kernel: np.ndarray,
    *,
    gamma: float,
    weight: float,
    outer: int = 3,
    cg_iters: int = 25,
) -> np.ndarray:
    """Iterative support detection refinement of ``kernel`` (Xu & Jia 2010, Phase 2).

    Each of ``outer`` rounds: support ``S`` from the current kernel; then IRLS for the L1
    penalty ``weight * sum_{j not in S} |k_j|`` with CG on
    ``(A + gamma + W) k = b``, ``A`` the gradients' autocorrelation (applied by FFT).
    Returns a clipped, normalised ``(k, k)`` kernel.
    """
    shape = grads_latent[0].shape
    ks = kernel.shape
    den = np.zeros((shape[0], shape[1] // 2 + 1))
    num = np.zeros(den.shape, dtype=np.complex128)
    for gl, gb in zip(grads_latent, grads_blurred):
        fl = rfft2(gl)
        den += (fl * np.conj(fl)).real
        num += np.conj(fl) * rfft2(gb)
    b = otf2psf(num, shape, ks)

    def apply_A(k: np.ndarray) -> np.ndarray:
        return otf2psf(psf2otf(k, shape) * den, shape, ks)

    k = kernel.copy()
    for _ in range(outer):
        vals = np.sort(k[k > 0].ravel())
        kmax = k.max()
        eps = 0.02 * kmax
        if vals.size > 2:
            jumps = np.diff(vals)
            big = np.nonzero(jumps > kmax / (2 * ks[0]))[0]
            if big.size:
                eps = vals[big[0]]
        eps = float(np.clip(eps, 0.02 * kmax, 0.2 * kmax))
        outside = k <= eps
        for _ in range(2):  # IRLS re-weighting
            w = np.where(outside, weight / np.maximum(np.abs(k), 1e-3 * kmax), 0.0)
            diag = gamma + w
            # conjugate gradients on (A + diag) k = b, warm start
            x = k.copy()
            r = b - (apply_A(x) + diag * x)
            p = r.copy()
            rs = float((r * r).sum())
            for _ in range(cg_iters):
                Ap = apply_A(p) + diag * p
                a = rs / max(float((p * Ap).sum()), 1e-30)
                x += a * p
                r -= a * Ap
                rs_new = float((r * r).sum())
                if rs_new < 1e-12 * max(float((b * b).sum()), 1e-30):
                    break
                p = r + (rs_new / rs) * p
                rs = rs_new
            k = np.clip(x, 0, None)
        k = normalize_kernel(k)
    return center_kernel(k)


def estimate_kernel_xu_jia(
    gray: np.ndarray,
    ksize: int,
    *,
    iters: int = 7,
    gamma: float = 10.0,
    lam: float = 2e-3,
    tau_r: float = 0.25,
    tau_decay: float = 1.1,
    sigma: float = 1.0,
    shock_iters: int = 3,
    rel_threshold: float = 0.1,
    keep_ratio: float = 2.0,
    isd: bool = True,
    isd_outer: int = 3,
    isd_weight: float = 1.0,
    ratio: float = float(np.sqrt(0.5)),
    min_ksize: int = 5,
    progress: bool = False,
) -> np.ndarray:
    """Blind kernel estimate ``(ksize, ksize)`` of a grayscale ``(H, W)`` image in [0, 1] (see module doc)."""
    gray = check_image(gray, "gray")
    if gray.ndim != 2:
        raise ValueError(f"gray must be (H, W), got {gray.shape}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    levels = pyramid_levels(ksize, ratio=ratio, min_ksize=min_ksize)
    k = initial_kernel(levels[0].ksize)
    for level in tqdm(levels, desc="Xu-Jia levels", disable=not progress, leave=False):
        k = resize_kernel(k, level.ksize)
        y = downscale(gray, level.scale)
        yp = pad_for_fft(y, level.ksize)
        shape = yp.shape
        mask = interior_mask(shape, level.ksize, level.ksize // 2)
        rmap = r_map(yp)
        Bf = rfft2(yp)
        Gx, Gy = grad_otfs(shape)
        gb = tuple(g * mask for g in gradients(yp))
        # start from a hyper-Laplacian deconvolution with the kernel from the coarser level
        latent = pad_for_fft(deconvolve(y, k, clip=False).astype(np.float64), level.ksize)
        tr, ts = tau_r, None
        sel = dict(sigma=sigma, shock_iters=shock_iters, mask=mask, keep_ratio=keep_ratio)
        for _ in range(iters):
            gxs, gys, ts = _select_edges(latent, rmap, level.ksize, tr, ts, **sel)
            raw = estimate_kernel_fft((gxs, gys), gb, level.ksize, gamma=gamma)
            k = center_kernel(clean_kernel(raw, rel_threshold=rel_threshold))
            latent = _latent_step(Bf, psf2otf(k, shape), Gx, Gy, gxs, gys, lam, shape)
            tr, ts = tr / tau_decay, ts / tau_decay
    if isd:
        gxs, gys, _ = _select_edges(latent, rmap, ksize, tr, ts, **sel)
        k = isd_refine((gxs, gys), gb, k, gamma=gamma, weight=isd_weight, outer=isd_outer)
    return k


@dataclass(eq=False)
class XuJia2010:
    """Two-phase blind deblurring of Xu & Jia 2010 (shift-invariant kernel).

    Parameters
    ----------
    kernel_size : odd kernel size at full resolution (31 for 432x240 WILD images).
    iters : Phase-1 iterations per pyramid level.
    gamma : kernel Tikhonov weight (FFT units, as :func:`estimate_kernel_fft`).
    lam : weight of ``||grad I - grad I_s||^2`` in the latent step.
    isd, isd_outer, isd_weight : Phase-2 ISD refinement on/off, rounds, L1 weight.
    deconv_lam : data weight of the final TV-L1 deconvolution (``deconvolve(data="l1")``).

    Attributes set by :meth:`deblur`: ``kernel`` ``(k, k)``.
    """

    _: KW_ONLY
    kernel_size: int = 31
    iters: int = 7
    gamma: float = 10.0
    lam: float = 2e-3
    isd: bool = True
    isd_outer: int = 3
    isd_weight: float = 1.0
    deconv_lam: float = 30.0
    progress: bool = False
    name: str = field(init=False, default="Xu & Jia 2010")
    kernel: np.ndarray | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        check_kernel_size(self.kernel_size)

    def deblur(self, image: np.ndarray) -> np.ndarray:
        """Deblur ``image`` ``(H, W, 3)`` float32 in [0, 1] -> same shape, float32."""
        img = check_rgb(image)
        self.kernel = estimate_kernel_xu_jia(
            to_gray(img.astype(np.float64)), self.kernel_size, iters=self.iters, gamma=self.gamma, lam=self.lam,
            isd=self.isd, isd_outer=self.isd_outer, isd_weight=self.isd_weight, progress=self.progress,
        )
        return deconvolve(img, self.kernel, prior="tv", data="l1", lam=self.deconv_lam)
