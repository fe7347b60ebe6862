"""Synthetic blur, the study's third stage: what DeblurNet^SI trains on and what Fig. 8 blurs.

- :mod:`~repro.synthetic.kernels`: random motion kernels (Chakrabarti 2016; Boracchi & Foi 2012)
  and the index-addressed bank of 10^5 (:class:`~repro.synthetic.kernels.KernelBank`);
- :mod:`~repro.synthetic.blur`: shift-invariant blur with them (batched FFT on any device, or one
  image in float64; the convolution convention and border modes);
- :mod:`~repro.synthetic.dataset`: sharp images blurred on the fly, DeblurNet^SI's training data
  (:class:`SyntheticBlurDataset`, :func:`blur_batch`, :func:`blur_padded_batch`);
- :mod:`~repro.synthetic.camera_shake`: Köhler-style camera shake (a 6-D camera trajectory
  through a homography per pose), the space-varying input of Fig. 8;
- :mod:`~repro.synthetic.kernel_figures`: a page of the kernel bank, and the SI kernels' lengths
  beside WILD's blur sizes.

The names of :mod:`~repro.synthetic.dataset` are importable from ``repro.synthetic``.
"""

from __future__ import annotations

from .dataset import SyntheticBlurDataset, blur_batch, blur_padded_batch, photo_paths, wild_sharp_paths

__all__ = ["wild_sharp_paths", "photo_paths", "SyntheticBlurDataset", "blur_batch", "blur_padded_batch"]
