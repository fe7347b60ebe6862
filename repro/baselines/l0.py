"""Xu, Zheng & Jia 2013, "Unnatural L0 sparse representation for natural image deblurring" (CVPR).

Blind deconvolution by alternating, coarse to fine, an L0-sparse latent image (few, strong
edges: the "unnatural" representation that makes kernel estimation well posed) and a kernel
fitted to its gradients. Implemented from the paper and the parameters reported for Pan et al.'s
L0 code and the IPOL re-implementation (``docs/paper.md``, "Classical baselines"), not from
their code:

* pyramid ratio sqrt(0.5) down to a kernel of about 5 px; ``iters = 5`` alternations per level;
* latent step ``min_x ||k * x - y||^2 + lam ||grad x||_0`` by half-quadratic splitting:
  ``beta`` from ``2 lam``, doubled up to ``1e5``, gradients zeroed where ``|grad|^2 < lam / beta``;
  ``lam = 4e-3`` divided by 1.1 after every alternation, down to ``1e-4``;
* kernel step ``k = F^-1[sum conj(F du) F dy / (sum |F du|^2 + gamma)]`` on gradients of the
  unpadded interior, clipped >= 0, entries under ``rel_threshold * max`` dropped, normalised,
  re-centred. The reported values are 0.05 and gamma = 20 (docs/paper.md); on our known-answer crops
  (``repro.baselines.demo``) gamma = 10 and 0.1 gave cleaner kernels (measured, see tests);
* final non-blind deconvolution of each colour channel with a hyper-Laplacian prior
  (:func:`repro.baselines.deconv.deconvolve`).

The paper's Table 2 entry ran a space-varying implementation; ``space_varying=True`` runs the
estimation on overlapping tiles, each with its own kernel, and blends the tiles' deconvolutions
(:func:`repro.baselines.deconv.deconvolve_spatially_varying`).
"""

from __future__ import annotations

import logging
from dataclasses import KW_ONLY, dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ._common import (check_image, check_kernel_size, check_rgb, downscale, grad_otfs, gradients, initial_kernel,
                      interior_mask, irfft2, kernel_step, pad_for_fft, psf2otf, pyramid_levels, resize_kernel, rfft2,
                      select_gradients)
from ..io.images import to_gray
from .deconv import deconvolve, deconvolve_spatially_varying, tile_grid

__all__ = ["l0_restore", "estimate_kernel_l0", "XuZhengJia2013"]

log = logging.getLogger(__name__)


def l0_restore(blurred: np.ndarray, kernel: np.ndarray, lam: float, *, beta_max: float = 1e5,
               beta_rate: float = 2.0) -> np.ndarray:
    """``argmin_x ||k * x - y||^2 + lam ||grad x||_0`` by half-quadratic splitting (periodic).

    ``blurred``: ``(H, W)`` already padded for periodic boundaries; returns ``(H, W)`` float64.
    ``beta`` runs from ``2 lam`` to ``beta_max`` by ``beta_rate`` (Xu et al. 2011 / 2013).
    """
    shape = blurred.shape
    K = psf2otf(kernel, shape)
    Gx, Gy = grad_otfs(shape)
    KtY = np.conj(K) * rfft2(blurred)
    KtK = (K * np.conj(K)).real
    GtG = (Gx * np.conj(Gx)).real + (Gy * np.conj(Gy)).real
    x = blurred.copy()
    beta = 2.0 * lam
    while beta < beta_max:
        dx, dy = gradients(x)
        small = dx**2 + dy**2 < lam / beta
        dx[small] = 0.0
        dy[small] = 0.0
        X = (KtY + beta * (np.conj(Gx) * rfft2(dx) + np.conj(Gy) * rfft2(dy))) / (KtK + beta * GtG)
        x = irfft2(X, shape)
        beta *= beta_rate
    return x


def estimate_kernel_l0(
    gray: np.ndarray,
    ksize: int,
    *,
    iters: int = 5,
    lam: float = 4e-3,
    lam_decay: float = 1.1,
    lam_min: float = 1e-4,
    gamma: float = 10.0,
    rel_threshold: float = 0.1,
    min_component: float = 0.0,
    select: float | None = None,
    use_mask: bool = True,
    ratio: float = float(np.sqrt(0.5)),
    min_ksize: int = 5,
    init_kernel: np.ndarray | None = None,
    refine_levels: int = 2,
    prior_weight: float = 0.0,
    progress: bool = False,
) -> np.ndarray:
    """Blind kernel estimate ``(ksize, ksize)`` of a grayscale ``(H, W)`` image in [0, 1].

    Coarse to fine (:func:`repro.baselines._common.pyramid_levels`); at each level ``iters``
    alternations of :func:`l0_restore` and the FFT kernel step; ``lam`` restarts at every level.
    With ``init_kernel`` (e.g. the whole image's kernel when estimating a tile's), only the
    ``refine_levels`` finest levels run, starting from it, and ``prior_weight > 0`` adds
    ``prior_weight ||k - init_kernel||^2`` (resampled to the level) to every kernel step.

    Other options: ``gamma`` / ``rel_threshold`` / ``min_component`` of the kernel step
    (:func:`repro.baselines._common.kernel_step`); ``select`` keeps only the strongest latent
    gradients (Cho & Lee's rule with ``r = select``; off by default: the L0 latent is already
    sparse); ``use_mask`` fits the kernel on the unpadded interior only (on by default: without
    it the padding's smooth fill biased the kernels, measured on the known-answer crops).
    """
    if init_kernel is not None and (np.ndim(init_kernel) != 2 or np.shape(init_kernel)[0] != np.shape(init_kernel)[1]):
        raise ValueError(f"init_kernel must be a square 2-D array, got shape {np.shape(init_kernel)}")
    gray = check_image(gray, "gray")
    if gray.ndim != 2:
        raise ValueError(f"gray must be (H, W), got {gray.shape}")
    levels = pyramid_levels(ksize, ratio=ratio, min_ksize=min_ksize)
    if init_kernel is None:
        k = initial_kernel(levels[0].ksize)
    else:
        levels = levels[-max(refine_levels, 1) :]
        k = np.asarray(init_kernel, dtype=np.float64)
    for level in tqdm(levels, desc="L0 levels", disable=not progress, leave=False):
        k = resize_kernel(k, level.ksize)
        prior = None if init_kernel is None else resize_kernel(np.asarray(init_kernel, np.float64), level.ksize)
        y = downscale(gray, level.scale)
        yp = pad_for_fft(y, level.ksize)
        lam_t = lam
        mask = interior_mask(yp.shape, level.ksize, level.ksize // 2) if use_mask else None
        for _ in range(iters):
            x = l0_restore(yp, k, lam_t)
            grads = gradients(x)
            if select is not None:
                grads = select_gradients(*grads, level.ksize, r=select)[:2]
            k = kernel_step(
                x, yp, level.ksize, gamma=gamma, rel_threshold=rel_threshold, min_component=min_component,
                latent_grads=grads, mask=mask, prior_kernel=prior, prior_weight=prior_weight,
            )
            lam_t = max(lam_t / lam_decay, lam_min)
    return k


@dataclass(eq=False)
class XuZhengJia2013:
    """Blind deblurring by L0-sparse kernel estimation (Xu, Zheng & Jia 2013), global or tiled.

    Parameters
    ----------
    space_varying : estimate one kernel per overlapping tile (``tiles`` grid) and blend the
        tiles' deconvolutions; else one kernel for the whole image.
    kernel_size : odd kernel size at full resolution (31 suits 432x240 WILD images, whose blur
        is up to ~20 px).
    iters, lam, lam_min, gamma : kernel-estimation parameters (:func:`estimate_kernel_l0`).
    tiles : ``(rows, cols)`` of the space-varying grid; ``tile_overlap`` fraction of a tile.
    refine_levels : pyramid levels (finest first) each tile runs, starting from the global kernel.
    tile_prior_weight : weight of ``||k_tile - k_global||^2`` in the tiles' kernel steps.
    deconv_prior, deconv_lam, deconv_alpha : final non-blind deconvolution
        (:func:`repro.baselines.deconv.deconvolve`).

    Attributes set by :meth:`deblur`: ``kernel`` (the whole image's kernel),
    ``kernels`` ``(ny, nx, k, k)`` (one per tile; ``(1, 1, k, k)`` when global), ``tile_spans``.
    """

    space_varying: bool = True
    _: KW_ONLY
    kernel_size: int = 31
    iters: int = 5
    lam: float = 4e-3
    lam_min: float = 1e-4
    gamma: float = 10.0
    tiles: tuple[int, int] = (2, 3)
    refine_levels: int = 2
    tile_prior_weight: float = 100.0
    tile_overlap: float = 0.25
    deconv_prior: str = "hyper_laplacian"
    deconv_lam: float = 2000.0
    deconv_alpha: float = 0.8
    progress: bool = False
    name: str = field(init=False, default="")
    kernel: np.ndarray | None = field(init=False, default=None, repr=False)
    kernels: np.ndarray | None = field(init=False, default=None, repr=False)
    tile_spans: tuple[list, list] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        check_kernel_size(self.kernel_size)
        if min(self.tiles) < 1:
            raise ValueError(f"tiles must be >= 1 each, got {self.tiles}")
        if not 0 <= self.tile_overlap < 0.5:
            raise ValueError(f"tile_overlap must be in [0, 0.5), got {self.tile_overlap}")
        self.tiles = tuple(self.tiles)
        self.name = "Xu, Zheng, Jia 2013" + (" (space-varying)" if self.space_varying else "")

    def _estimate(self, gray: np.ndarray, init_kernel: np.ndarray | None = None) -> np.ndarray:
        return estimate_kernel_l0(
            gray, self.kernel_size, iters=self.iters, lam=self.lam, lam_min=self.lam_min, gamma=self.gamma,
            init_kernel=init_kernel, refine_levels=self.refine_levels,
            prior_weight=self.tile_prior_weight if init_kernel is not None else 0.0,
        )

    def _tile_geometry(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Square tile size and overlap giving about ``self.tiles`` tiles on ``shape``."""
        ny, nx = self.tiles
        # tile t with overlap o = f t covering n: n = t + (count - 1) (1 - f) t
        f = self.tile_overlap
        t = max(shape[0] / (1 + (ny - 1) * (1 - f)), shape[1] / (1 + (nx - 1) * (1 - f)))
        t = int(np.ceil(t))
        return t, int(f * t)

    def deblur(self, image: np.ndarray) -> np.ndarray:
        """Deblur ``image`` ``(H, W, 3)`` float32 in [0, 1] -> same shape, float32."""
        img = check_rgb(image)
        gray = to_gray(img.astype(np.float64))
        deconv_kw = dict(prior=self.deconv_prior, lam=self.deconv_lam, alpha=self.deconv_alpha)
        if not self.space_varying:
            k = self._estimate(gray)
            self.kernel, self.kernels, self.tile_spans = k, k[None, None], None
            return deconvolve(img, k, **deconv_kw)
        # Global kernel first; every tile then refines it on its own pixels (finest levels), so
        # tiles with few edges stay close to it and all tiles' kernels share one centring.
        k_global = self._estimate(gray)
        tile, overlap = self._tile_geometry(gray.shape)
        rows, cols = tile_grid(gray.shape, tile, overlap)
        kernels = np.zeros((len(rows), len(cols), self.kernel_size, self.kernel_size))
        for i, (y0, y1) in enumerate(tqdm(rows, desc="L0 tiles", disable=not self.progress, leave=False)):
            for j, (x0, x1) in enumerate(cols):
                kernels[i, j] = self._estimate(gray[y0:y1, x0:x1], init_kernel=k_global)
        self.kernels, self.tile_spans = kernels, (rows, cols)
        self.kernel = k_global
        return deconvolve_spatially_varying(img, kernels, tile=tile, overlap=overlap, **deconv_kw)
