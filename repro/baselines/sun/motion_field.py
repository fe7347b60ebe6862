"""The motion field of Sun et al. (2015, Sec. 4): rotated patches -> confidences over 361 kernels
-> a grid MRF solved by belief propagation -> one linear kernel per patch centre."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .cnn import PATCH
from .motion_kernels import BASE_LENGTHS, EXTENDED_ANGLES, kernel_labels, motion_vectors

__all__ = ["ROTATIONS", "extended_labels", "patch_centres", "rotated_patches", "combine_rotations", "pairwise_cost",
           "mrf_labels", "MotionField"]

ROTATIONS: tuple[int, ...] = (0, 6, 12, 18, 24)  # test-time image rotations, degrees (Sec. 4)


def extended_labels() -> np.ndarray:
    """The 361 kernels reached by test-time rotation: ``(361, 2)`` rows ``(length, angle)``."""
    return kernel_labels(BASE_LENGTHS, EXTENDED_ANGLES)


def patch_centres(n: int, stride: int) -> np.ndarray:
    """Centres (half-integer pixel coordinates) of patches spread evenly over ``n`` pixels."""
    if n < PATCH:
        raise ValueError(f"image side {n} is smaller than the {PATCH}-pixel patch")
    count = int(math.ceil((n - PATCH) / stride)) + 1
    starts = np.round(np.linspace(0, n - PATCH, count))
    return starts + (PATCH - 1) / 2.0


def rotated_patches(gray: np.ndarray, centres_yx: np.ndarray, angle: float, *, prefiltered: np.ndarray | None = None) -> np.ndarray:
    """30x30 patches of ``gray`` (H, W) around ``centres_yx`` (N, 2) of the image rotated
    counter-clockwise (as displayed) by ``angle`` degrees about each centre.

    A blur at orientation ``o`` in ``gray`` appears at ``o + angle`` in the patches. Cubic
    spline sampling, mirrored borders. Returns ``(N, 30, 30)`` float32.
    """
    from scipy import ndimage as ndi

    coeffs = ndi.spline_filter(gray.astype(np.float64), order=3, mode="mirror") if prefiltered is None else prefiltered
    off = np.arange(PATCH) - (PATCH - 1) / 2.0
    v, u = np.meshgrid(off, off, indexing="ij")  # rows, cols of the patch
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    dx = c * u - s * v  # rotated patch offset -> image offset (x right, rows down)
    dy = s * u + c * v
    ys = centres_yx[:, 0, None, None] + dy[None]
    xs = centres_yx[:, 1, None, None] + dx[None]
    out = ndi.map_coordinates(coeffs, [ys.ravel(), xs.ravel()], order=3, mode="mirror", prefilter=False)
    return out.reshape(len(centres_yx), PATCH, PATCH).astype(np.float32)


def combine_rotations(probs: np.ndarray, rotations: tuple[int, ...] = ROTATIONS) -> np.ndarray:
    """Per-rotation CNN probabilities ``(R, N, 73)`` -> confidences ``(N, 361)`` over
    :func:`extended_labels` (Sun et al. Sec. 4): kernel ``(l, o)`` takes the confidence of
    ``(l, o + phi)`` on the patch rotated by ``phi``; length 1 the mean over rotations; each
    row is normalised to sum 1."""
    R, N, K = probs.shape
    if R != len(rotations):
        raise ValueError(f"got {R} rotations of probabilities for rotations {rotations}")
    base, ext = kernel_labels(), extended_labels()
    index = {(int(l), int(round(a)) % 180): i for i, (l, a) in enumerate(ext)}
    conf = np.zeros((N, len(ext)), dtype=np.float64)
    for r, phi in enumerate(rotations):
        for k, (l, a) in enumerate(base):
            if l == 1:
                conf[:, 0] += probs[r, :, k] / R
            else:
                key = (int(l), int(round(a - phi)) % 180)
                if key not in index:
                    raise ValueError(f"rotation {phi} maps kernel {(l, a)} outside the extended set")
                conf[:, index[key]] += probs[r, :, k]
    return conf / conf.sum(axis=1, keepdims=True)


def pairwise_cost(labels: np.ndarray) -> np.ndarray:
    """Squared motion-vector distance ``(L, L)`` modulo sign (``v`` ~ ``-v``)."""
    v = motion_vectors(labels)
    d_minus = ((v[:, None] - v[None]) ** 2).sum(-1)
    d_plus = ((v[:, None] + v[None]) ** 2).sum(-1)
    return np.minimum(d_minus, d_plus)


def mrf_labels(conf: np.ndarray, labels: np.ndarray, *, lam: float = 0.05, trunc: float = 64.0,
               iters: int = 12, damping: float = 0.5, eps: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Smooth a grid of per-node confidences ``conf`` (ny, nx, L) into one label per node.

    Energy ``sum_p -log(conf_p(m_p) + eps) + lam * sum_{p~q} min(d(m_p, m_q)^2, trunc)`` on the
    4-connected grid (:func:`pairwise_cost` for ``d``), minimised approximately by loopy
    sum-product belief propagation with ``damping`` over ``iters`` parallel sweeps. Returns
    ``(labels (ny, nx) int, belief of the chosen label (ny, nx) in [0, 1])``.
    """
    ny, nx, L = conf.shape
    if labels.shape[0] != L:
        raise ValueError(f"conf has {L} labels but labels has {labels.shape[0]} rows")
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    unary = np.log(conf + eps).astype(np.float32)  # log potentials (ny, nx, L)
    psi = np.exp(-lam * np.minimum(pairwise_cost(labels), trunc)).astype(np.float32)  # (L, L), symmetric
    # msgs[d][i, j] = log message arriving at node (i, j) from its neighbour on side d;
    # the sender excludes what it received from (i, j) itself (on the opposite side).
    opposite = {"up": "down", "down": "up", "left": "right", "right": "left"}
    msgs = {d: np.zeros((ny, nx, L), dtype=np.float32) for d in opposite}
    for _ in range(iters):
        total = unary + sum(msgs.values())
        new = {}
        for d, back in opposite.items():
            h = total - msgs[back]  # each node, towards its neighbour on side `back`
            h -= h.max(axis=-1, keepdims=True)
            m = np.log(np.exp(h).reshape(-1, L) @ psi + 1e-30).reshape(ny, nx, L)
            m -= m.max(axis=-1, keepdims=True)
            moved = np.zeros_like(m)
            # a message arriving from above at (i, j) was sent by (i - 1, j), and so on
            if d == "up":
                moved[1:] = m[:-1]
            elif d == "down":
                moved[:-1] = m[1:]
            elif d == "left":
                moved[:, 1:] = m[:, :-1]
            else:
                moved[:, :-1] = m[:, 1:]
            new[d] = damping * msgs[d] + (1 - damping) * moved
        msgs = new
    belief = unary + sum(msgs.values())
    belief = np.exp(belief - belief.max(axis=-1, keepdims=True))
    belief /= belief.sum(axis=-1, keepdims=True)
    best = belief.argmax(axis=-1)
    return best, np.take_along_axis(belief, best[..., None], axis=-1)[..., 0]


@dataclass
class MotionField:
    """The estimated blur: one linear kernel per patch centre of a regular grid.

    ``length`` / ``angle`` / ``label`` / ``confidence`` are ``(ny, nx)``; ``centres_y (ny,)``
    and ``centres_x (nx,)`` are pixel coordinates; ``raw_label`` is the CNN's own best kernel
    per node before the MRF. Angles in degrees, counter-clockwise from +x as displayed.
    """

    length: np.ndarray
    angle: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    raw_label: np.ndarray
    centres_y: np.ndarray
    centres_x: np.ndarray
    shape: tuple[int, int]
    labels: np.ndarray = field(repr=False)

    def per_pixel(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ``(length, angle)`` ``(H, W)`` from the nearest patch centre."""
        H, W = self.shape
        iy = np.abs(np.arange(H)[:, None] - self.centres_y[None]).argmin(1)
        ix = np.abs(np.arange(W)[:, None] - self.centres_x[None]).argmin(1)
        return self.length[np.ix_(iy, ix)], self.angle[np.ix_(iy, ix)]
