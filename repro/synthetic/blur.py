"""Blurring with motion kernels: batched FFT convolution on any device, and one image in float64.

- :func:`blur_torch`: each image of a batch with its own kernel (or one shared), CPU or GPU;
- :func:`blur_numpy`: one image ``(H, W[, C])`` with one kernel, float64.

Convolution, not correlation, everywhere: for a kernel ``K`` of size ``(kh, kw)`` with centre
``(ch, cw) = (kh // 2, kw // 2)``::

    out[y, x] = sum_{i, j} K[i, j] * img[y - i + ch, x - j + cw]

so a kernel whose only non-zero entry is at ``(ch + dy, ch + dx)`` shifts the image by
``(+dy, +dx)`` (content moves down/right). ``torch.nn.functional.conv2d`` is a correlation:
``blur_torch(x, K) == conv2d(pad(x), flip(K))``.

Border modes (``mode=``) say what lies outside the image: ``"reflect"`` (mirror without
repeating the edge pixel, ``numpy.pad(mode="reflect")`` / ``torch`` ``"reflect"``; the default),
``"replicate"`` (edge pixel repeated), ``"circular"`` (periodic), ``"zeros"``; ``"valid"``
returns only the ``(H - kh + 1, W - kw + 1)`` pixels whose whole neighbourhood is inside the
image, i.e. the exact blur without any border assumption. Away from the borders (more than
``kh // 2`` pixels) every mode gives the same values.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["BORDER_MODES", "blur_torch", "blur_numpy"]

#: Border modes understood by :func:`blur_torch` and :func:`blur_numpy`.
BORDER_MODES: tuple[str, ...] = ("reflect", "replicate", "circular", "zeros", "valid")


def _pads(kh: int, kw: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding so that a full-kernel sweep keeps the image size."""
    ch, cw = kh // 2, kw // 2
    return (kw - 1 - cw, cw, kh - 1 - ch, ch)


def _check_mode(mode: str) -> None:
    if mode not in BORDER_MODES:
        raise ValueError(f"unknown border mode {mode!r}; expected one of {BORDER_MODES}")


def blur_torch(images: torch.Tensor, kernels: torch.Tensor, *, mode: str = "reflect") -> torch.Tensor:
    """Convolve each image with its own kernel by FFT (batched; CPU or GPU).

    ``out[b, c, y, x] = sum_{i,j} kernels[b, i, j] * images[b, c, y - i + kh//2, x - j + kw//2]``
    (a convolution, see the module docstring), with the image extended by ``mode`` outside its
    borders. The padded image is transformed with ``torch.fft.rfft2`` at a size of at least
    ``H + kh - 1`` (rounded up to a fast FFT length), so no circular wrap-around reaches the
    kept pixels: the result equals direct convolution of the padded image.

    Shape
    -----
    - images: ``(B, C, H, W)`` float32 or float64 (half precision FFTs need power-of-2 sizes)
    - kernels: ``(B, kh, kw)`` (one per image) or ``(kh, kw)`` (shared)
    - output: ``(B, C, H, W)``; ``(B, C, H - kh + 1, W - kw + 1)`` for ``mode="valid"``

    Examples
    --------
    >>> x = torch.rand(2, 3, 32, 32)
    >>> delta = torch.zeros(2, 5, 5); delta[:, 2, 2] = 1
    >>> bool(torch.allclose(blur_torch(x, delta), x, atol=1e-6))
    True
    """
    from scipy.fft import next_fast_len

    _check_mode(mode)
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    B, C, H, W = images.shape
    if kernels.ndim == 2:
        kernels = kernels.expand(B, *kernels.shape)
    if kernels.ndim != 3 or kernels.shape[0] != B:
        raise ValueError(f"kernels must be (B={B}, kh, kw) or (kh, kw), got shape {tuple(kernels.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point, got {images.dtype}")
    _, kh, kw = kernels.shape
    kernels = kernels.to(device=images.device, dtype=images.dtype)
    if mode == "valid":
        if H < kh or W < kw:
            raise ValueError(f"mode='valid' needs images at least the kernel size {kh}x{kw}, got {H}x{W}")
        padded = images
    else:
        left, right, top, bottom = _pads(kh, kw)
        if mode == "reflect" and (max(top, bottom) >= H or max(left, right) >= W):
            raise ValueError(
                f"mode='reflect' needs images larger than half the kernel ({kh}x{kw}), got {H}x{W}; "
                "use mode='replicate' or 'zeros'"
            )
        torch_mode = "constant" if mode == "zeros" else mode
        padded = F.pad(images, (left, right, top, bottom), mode=torch_mode)
    Hp, Wp = padded.shape[-2:]
    Ho, Wo = Hp - kh + 1, Wp - kw + 1
    fh, fw = next_fast_len(Hp, real=True), next_fast_len(Wp, real=True)
    spec = torch.fft.rfft2(padded, s=(fh, fw))  # (B, C, fh, fw//2+1)
    kspec = torch.fft.rfft2(kernels, s=(fh, fw))  # (B, fh, fw//2+1)
    full = torch.fft.irfft2(spec * kspec[:, None], s=(fh, fw))  # circular conv, (B, C, fh, fw)
    # Indices >= k-1 of the circular convolution of size >= Hp never wrap around.
    return full[..., kh - 1 : kh - 1 + Ho, kw - 1 : kw - 1 + Wo].contiguous()


def blur_numpy(image: np.ndarray, kernel: np.ndarray, *, mode: str = "reflect") -> np.ndarray:
    """Convolve one image ``(H, W)`` or ``(H, W, C)`` with one kernel ``(kh, kw)`` (float64 FFT).

    Same convention and border modes as :func:`blur_torch`; the result has the input's shape
    (``(H - kh + 1, W - kw + 1[, C])`` for ``mode="valid"``) and float dtype (float32 input stays
    float32).
    """
    from scipy.signal import fftconvolve

    _check_mode(mode)
    image = np.asarray(image)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be (kh, kw), got shape {kernel.shape}")
    out_dtype = image.dtype if np.issubdtype(image.dtype, np.floating) else np.float64
    kh, kw = kernel.shape
    H, W = image.shape[:2]
    if mode == "valid":
        if H < kh or W < kw:
            raise ValueError(f"mode='valid' needs an image at least the kernel size {kh}x{kw}, got {H}x{W}")
        padded = image.astype(np.float64)
    else:
        left, right, top, bottom = _pads(kh, kw)
        if mode == "reflect" and (max(top, bottom) >= H or max(left, right) >= W):
            raise ValueError(
                f"mode='reflect' needs an image larger than half the kernel ({kh}x{kw}), got {H}x{W}"
            )
        np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap", "zeros": "constant"}[mode]
        pad = [(top, bottom), (left, right)] + [(0, 0)] * (image.ndim - 2)
        padded = np.pad(image.astype(np.float64), pad, mode=np_mode)
    k = kernel if image.ndim == 2 else kernel[:, :, None]
    out = fftconvolve(padded, k, mode="valid", axes=(0, 1))
    return out.astype(out_dtype, copy=False)
