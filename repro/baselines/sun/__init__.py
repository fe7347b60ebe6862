"""Sun, Cao, Xu, Ponce (CVPR 2015): a CNN scores linear motion kernels per patch, an MRF makes
the motion field dense and smooth, non-blind deconvolution removes the space-varying blur.

Reference: J. Sun, W. Cao, Z. Xu, J. Ponce, "Learning a convolutional neural network for
non-uniform motion blur removal", CVPR 2015 (arXiv:1503.00593). Written here from the paper's
description (and ``docs/paper.md``, "Classical baselines"); no code was copied. The pipeline and where we differ:

1. **Kernel set** (Sec. 3; :mod:`repro.baselines.sun.motion_kernels`): linear kernels of lengths
   1, 3, ..., 25 px at orientations 0, 30, ..., 150 degrees, length 1 once: 73 classes.
2. **CNN** (Sec. 3): a 30x30 gray patch -> conv 96@7x7 -> max-pool 2 -> conv 256@5x5 ->
   max-pool 2 -> FC 1024 -> softmax over the 73 kernels. *Ours is narrower* (32, 64, 256
   channels by default, :class:`SunCNNConfig`) and has batch normalisation, so that the
   checkpoint stays under 5 MB (1.3 MB) and it trains on one CPU core in about 15 minutes; patches
   are standardised (mean 0, std 1) before the net.
   The paper trained on ~1.4 M patches of BSD images; we train on patches of the repository's
   embedded training photos (:func:`training_photos`), blurred on the fly by random kernels of
   the set, with small Gaussian noise and 8-bit quantisation (:func:`train_sun`).
3. **Test-time rotation** (Sec. 4): the image is rotated by 0, 6, 12, 18, 24 degrees and the
   same CNN is applied, so orientations every 6 degrees are scored without retraining
   (12 x 30 + 1 = 361 kernels). We rotate each patch (spline sampling of the image along a
   rotated 30x30 grid) rather than the whole image; the confidence of kernel ``(l, o)`` is the
   CNN's confidence of ``(l, o + phi)`` on the patch rotated by ``phi`` (the union of the five
   rotated sets, as in the paper), length 1 averaged over the rotations.
4. **MRF** (Sec. 4): the paper's energy has a unary term from the CNN confidences and a
   smoothness term on the difference of neighbouring motion vectors. *Ours*: a 4-connected
   grid MRF on the patch centres (stride ``stride`` px), unary ``-log`` of the confidence,
   pairwise ``lam * min(d^2, trunc)`` with ``d`` the distance of the motion vectors
   ``(l - 1)(cos o, sin o)`` modulo sign (``v`` and ``-v`` are the same blur); solved by
   loopy sum-product belief propagation (damped, parallel updates; each message is one
   matrix product, so 361 labels stay cheap), decoded by the maximum of each node's belief.
   The paper spreads patch confidences to every pixel before the MRF; we keep the MRF on the
   patch grid and interpolate the result (:class:`MotionField`). Also ours: the confidences of
   flat patches (gray std below ``texture_std``) are tempered towards uniform, so the MRF
   decides them from their textured neighbours.
5. **Deconvolution** (Sec. 5): the paper uses a non-uniform EPLL (patch-prior) deconvolution.
   *Ours*: the image is deconvolved with each kernel of the field (at most ``max_kernels``,
   rarer labels merged into the nearest kept one) by the classical baselines'
   hyper-Laplacian deconvolution (:func:`repro.baselines.deconv.deconvolve`, Krishnan &
   Fergus 2009) on the region where that kernel is used, and the results are blended with
   smooth per-pixel weights: a locally-uniform approximation of the space-varying blur.

Public API: :class:`SunEtAl2015` (``deblur(image) -> image``, ``.motion_field``),
:class:`SunCNN`, :func:`train_sun`, :func:`load_sun_checkpoint`, :func:`figure_motion_field`,
and the ``python -m repro train-sun`` command (:func:`add_arguments`, :func:`run`).

Modules: :mod:`~repro.baselines.sun.motion_kernels` (the kernel set), :mod:`~repro.baselines.sun.cnn`
(the CNN and its checkpoints), :mod:`~repro.baselines.sun.training`,
:mod:`~repro.baselines.sun.motion_field` (rotations, MRF), :mod:`~repro.baselines.sun.method`
(:class:`SunEtAl2015`), :mod:`~repro.baselines.sun.figure` and :mod:`~repro.baselines.sun.cli`.
"""

from .cli import add_arguments, run
from .cnn import FORMAT, PATCH, SunCNN, SunCNNConfig, default_checkpoint, load_sun_checkpoint, save_sun_checkpoint
from .figure import figure_motion_field
from .method import SunEtAl2015
from .motion_field import (ROTATIONS, MotionField, combine_rotations, extended_labels, mrf_labels, pairwise_cost,
                           patch_centres, rotated_patches)
from .training import evaluate_patches, soft_targets, train_sun, training_photos, within_one_step

__all__ = [
    "SunCNNConfig",
    "SunCNN",
    "SunEtAl2015",
    "MotionField",
    "train_sun",
    "evaluate_patches",
    "save_sun_checkpoint",
    "load_sun_checkpoint",
    "default_checkpoint",
    "training_photos",
    "rotated_patches",
    "combine_rotations",
    "mrf_labels",
    "figure_motion_field",
    "add_arguments",
    "run",
    "FORMAT",
    "PATCH",
    "ROTATIONS",
    "extended_labels",
    "patch_centres",
    "pairwise_cost",
    "soft_targets",
    "within_one_step",
]
