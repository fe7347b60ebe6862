"""The Sun et al. (2015) method of Table 2: estimate the motion field, then deconvolve with each of
its kernels where it is used and blend (a locally-uniform approximation of the space-varying blur)."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from .cnn import load_sun_checkpoint, luma, standardize
from .motion_field import (ROTATIONS, MotionField, combine_rotations, extended_labels, mrf_labels, pairwise_cost,
                           patch_centres, rotated_patches)
from .motion_kernels import kernel_labels, linear_motion_kernel

__all__ = ["SunEtAl2015"]


class SunEtAl2015:
    """Sun et al. (CVPR 2015) non-uniform motion deblurring (see :mod:`repro.baselines.sun`).

    ``deblur(image (H, W, 3) float32 [0, 1]) -> (H, W, 3)``; afterwards ``.motion_field``
    (:class:`MotionField`) holds the estimated kernels and ``.kernels`` the kernels used for
    deconvolution (``{label index: (25, 25) kernel}``).

    Parameters
    ----------
    checkpoint : a file from :func:`train_sun`; ``None`` = shipped ``repro/weights/sun2015.pt``.
    stride : spacing of the patch centres in pixels.
    rotations : test-time rotations in degrees (``(0,)`` keeps the 73-kernel set).
    mrf_lambda, mrf_trunc, mrf_iters : MRF smoothness weight, truncation, BP sweeps.
    max_kernels : at most this many distinct kernels are deconvolved (rarer ones are merged).
    texture_std : patches whose gray std is below this have their CNN confidences tempered
        towards uniform (power ``std / texture_std``), so the MRF decides them from neighbours;
        0 disables (not in the paper).
    deconv : keyword arguments for :func:`repro.baselines.deconv.deconvolve` (default:
        hyper-Laplacian prior, ``lam=1000``, ``alpha=0.8``).
    batch : CNN batch size.
    """

    name = "Sun et al. 2015"

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        *,
        stride: int = 8,
        rotations: tuple[int, ...] = ROTATIONS,
        mrf_lambda: float = 0.05,
        mrf_trunc: float = 64.0,
        mrf_iters: int = 20,
        max_kernels: int = 8,
        texture_std: float = 0.02,
        deconv: dict | None = None,
        batch: int = 1024,
    ) -> None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if max_kernels < 1:
            raise ValueError(f"max_kernels must be >= 1, got {max_kernels}")
        for phi in rotations:
            if phi % 6 != 0:
                raise ValueError(f"rotations must be multiples of 6 degrees, got {rotations}")
        self.model, self.meta = load_sun_checkpoint(checkpoint)
        self.stride = stride
        self.rotations = tuple(rotations)
        self.mrf_lambda, self.mrf_trunc, self.mrf_iters = mrf_lambda, mrf_trunc, mrf_iters
        self.max_kernels = max_kernels
        self.texture_std = texture_std
        self.deconv = {"prior": "hyper_laplacian", "lam": 1000.0, "alpha": 0.8, **(deconv or {})}
        self.batch = batch
        self.motion_field: MotionField | None = None
        self.kernels: dict[int, np.ndarray] = {}

    # -- estimation -------------------------------------------------------------------------
    @torch.no_grad()
    def _probs(self, patches: np.ndarray) -> np.ndarray:
        x = standardize(torch.from_numpy(patches)[:, None])
        out = [F.softmax(self.model(x[i : i + self.batch]), dim=1) for i in range(0, len(x), self.batch)]
        return torch.cat(out).double().numpy()

    def estimate(self, image: np.ndarray) -> MotionField:
        """Estimate the motion field of ``image`` ``(H, W)`` or ``(H, W, 3)`` in [0, 1]."""
        from scipy import ndimage as ndi

        gray = luma(np.asarray(image, dtype=np.float32))
        H, W = gray.shape
        cy, cx = patch_centres(H, self.stride), patch_centres(W, self.stride)
        yy, xx = np.meshgrid(cy, cx, indexing="ij")
        centres = np.stack([yy.ravel(), xx.ravel()], axis=1)
        coeffs = ndi.spline_filter(gray.astype(np.float64), order=3, mode="mirror")
        probs, texture = [], None
        for phi in self.rotations:
            patches = rotated_patches(gray, centres, phi, prefiltered=coeffs)
            if texture is None:
                texture = patches.std(axis=(1, 2))
            probs.append(self._probs(patches))
        if self.rotations == (0,):
            labels, conf = kernel_labels(), probs[0]
        else:
            labels, conf = extended_labels(), combine_rotations(np.stack(probs), self.rotations)
        # flat patches say little about the blur: temper their confidences towards uniform
        # (power w = std / texture_std <= 1), so the MRF fills them in from their neighbours
        raw = conf.argmax(-1).reshape(len(cy), len(cx))
        w = np.clip(texture / self.texture_std, 0.0, 1.0)[:, None] if self.texture_std > 0 else 1.0
        conf = conf ** w
        conf = (conf / conf.sum(axis=1, keepdims=True)).reshape(len(cy), len(cx), -1)
        best, belief = mrf_labels(conf, labels, lam=self.mrf_lambda, trunc=self.mrf_trunc, iters=self.mrf_iters)
        return MotionField(
            length=labels[best, 0],
            angle=labels[best, 1],
            label=best,
            confidence=belief,
            raw_label=raw,
            centres_y=cy,
            centres_x=cx,
            shape=(H, W),
            labels=labels,
        )

    # -- deconvolution ----------------------------------------------------------------------
    def _weights(self, mf: MotionField, keep: np.ndarray, assign: np.ndarray) -> np.ndarray:
        """Smooth per-pixel weights ``(len(keep), H, W)`` of the kept kernels, summing to 1."""
        from scipy import ndimage as ndi

        H, W = mf.shape
        # bilinear interpolation of each kernel's indicator from the patch grid to every pixel
        gy = np.interp(np.arange(H), mf.centres_y, np.arange(len(mf.centres_y)))
        gx = np.interp(np.arange(W), mf.centres_x, np.arange(len(mf.centres_x)))
        py, px = np.meshgrid(gy, gx, indexing="ij")
        w = np.stack([
            ndi.map_coordinates((assign == k).astype(np.float64), [py, px], order=1, mode="nearest")
            for k in range(len(keep))
        ])
        w = ndi.gaussian_filter(w, sigma=(0, self.stride / 2, self.stride / 2), mode="nearest")
        return w / np.maximum(w.sum(0, keepdims=True), 1e-12)

    def deblur(self, image: np.ndarray) -> np.ndarray:
        """Deblur ``image`` ``(H, W, 3)`` (or ``(H, W)``) float in [0, 1]; same shape, float32."""
        from ..deconv import deconvolve

        img = np.asarray(image)
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
            raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {img.shape}")
        if not np.issubdtype(img.dtype, np.floating):
            raise ValueError(f"image must be float in [0, 1], got dtype {img.dtype}")
        if not np.all(np.isfinite(img)):
            raise ValueError("image contains NaN or inf")
        img = np.clip(img.astype(np.float32), 0, 1)
        mf = self.estimate(img)
        self.motion_field = mf
        # the kernels to deconvolve with: the most frequent labels; others go to the nearest one
        counts = np.bincount(mf.label.ravel(), minlength=len(mf.labels))
        keep = np.argsort(-counts)[: self.max_kernels]
        keep = keep[counts[keep] > 0]
        d2 = pairwise_cost(mf.labels)[:, keep]  # (L, n_keep)
        assign = d2[mf.label].argmin(-1)  # (ny, nx) index into keep
        weights = self._weights(mf, keep, assign)
        out = np.zeros(img.shape, dtype=np.float64)
        H, W = mf.shape
        self.kernels = {}
        for k, lab in enumerate(keep):
            w = weights[k]
            rows, cols = np.nonzero(w > 1e-3)
            if rows.size == 0:
                continue
            length, angle = mf.labels[lab]
            kernel = linear_motion_kernel(length, angle, 25)
            self.kernels[int(lab)] = kernel
            m = 2 * 25
            y0, y1 = max(rows.min() - m, 0), min(rows.max() + 1 + m, H)
            x0, x1 = max(cols.min() - m, 0), min(cols.max() + 1 + m, W)
            crop = img[y0:y1, x0:x1]
            res = crop if length <= 1 else deconvolve(crop, kernel, **self.deconv)
            wc = w[y0:y1, x0:x1]
            out[y0:y1, x0:x1] += res * (wc[..., None] if img.ndim == 3 else wc)
        return np.clip(out, 0, 1).astype(np.float32)
