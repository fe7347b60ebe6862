"""Motion-blur kernels: random generators and an index-addressed bank of 10^5.

DeblurNet^SI (``docs/paper.md``, "Synthetic blur") is trained on shift-invariant blur: sharp images
convolved with kernels from a bank of 10^5 kernels generated as in Chakrabarti (ECCV 2016).
This module provides

- :func:`chakrabarti_kernel`: one random kernel by Chakrabarti's recipe (the default);
- :func:`boracchi_foi_kernel`: one random kernel from a Boracchi & Foi (2012) camera trajectory
  (the generator DeblurGAN used), as an option;
- :class:`KernelBank`: kernel ``i`` of a bank is generated on demand from a random generator
  seeded by ``(seed, i)``, so it is the same in every process and on every machine, and nothing
  is stored on disk (an in-memory LRU cache only);
- :func:`kernel_length` and :func:`bank_lengths`: how long the kernels' paths are;
- figures of kernels: :mod:`repro.synthetic.kernel_figures`.

Blurring with them (convolution convention, border modes): :mod:`repro.synthetic.blur`.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch


__all__ = [
    "CHAKRABARTI_PSZ",
    "chakrabarti_kernel",
    "boracchi_foi_trajectory",
    "boracchi_foi_kernel",
    "KernelBank",
    "kernel_length",
    "bank_lengths",
    "kernel_centroid",
]

log = logging.getLogger(__name__)

#: Grid sizes of Chakrabarti's three kernel sets (equal thirds of the bank).
CHAKRABARTI_PSZ: tuple[int, ...] = (24, 16, 8)
#: Exposure fractions a Boracchi & Foi bank draws from (Boracchi & Foi 2012 used 1/1000, 1/10,
#: 1/2, 1; 1/1000 is a near-delta kernel and is left out of the training bank).
BORACCHI_EXPOSURES: tuple[float, ...] = (0.1, 0.5, 1.0)

_GENERATORS = ("chakrabarti", "boracchi_foi")


def _as_rng(rng: np.random.Generator | int | Sequence[int] | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd integer, got {size!r}")
    return int(size)


def _fsum_normalise(values: np.ndarray) -> np.ndarray:
    """Divide by the exactly rounded sum (``math.fsum``): the same bits on every CPU."""
    total = math.fsum(values.tolist())
    return values / total


def kernel_centroid(kernel: np.ndarray) -> tuple[float, float]:
    """Centroid ``(cy, cx)`` of a non-negative kernel in pixel coordinates (row, column)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"expected a 2-D kernel, got shape {kernel.shape}")
    total = kernel.sum()
    if not total > 0:
        raise ValueError("kernel sums to zero; its centroid is undefined")
    ys, xs = np.indices(kernel.shape)
    return float((ys * kernel).sum() / total), float((xs * kernel).sum() / total)


def chakrabarti_kernel(rng: np.random.Generator | int | Sequence[int] | None = None, *, psz: int = 24,
                       size: int = 41, n_points: int = 6, weight_mean: float = 1.0, weight_std: float = 0.5,
                       max_tries: int = 1000) -> np.ndarray:
    """One random motion-blur kernel by the recipe of Chakrabarti (ECCV 2016).

    Chakrabarti, "A Neural Approach to Blind Motion Deblurring", ECCV 2016, Sec. 4 (training
    data), as summarised in ``docs/paper.md`` ("Synthetic blur"):

    1. ``n_points`` = 6 integer control points uniform in a ``psz x psz`` grid (the paper's three
       sets use ``psz`` = 24, 16 and 8);
    2. a cubic spline (not-a-knot, :class:`scipy.interpolate.CubicSpline`) through ``x(t)`` and
       ``y(t)`` separately, ``t = 0..5``, sampled densely (steps well under 0.25 pixel), rounded
       to pixels and clipped to the grid;
    3. each distinct pixel on the curve gets the weight ``max(0, N(weight_mean=1, weight_std=0.5))``;
    4. normalised to sum 1;
    5. re-centred so that its rounded centroid is the middle pixel of a ``size x size`` (41 x 41)
       canvas; a kernel that does not fit (or whose weights are all zero) is rejected and drawn
       again.

    Parameters
    ----------
    rng : numpy Generator, seed, or None
        Source of randomness (``np.random.default_rng(rng)`` if not a Generator).
    psz : int
        Side of the grid holding the control points (the kernel's extent before centring).
    size : int
        Odd side of the output canvas.

    Returns
    -------
    np.ndarray, shape ``(size, size)``, float64
        Non-negative, sums to 1 (within 1e-12), centroid within half a pixel of
        ``(size // 2, size // 2)``.

    Examples
    --------
    >>> k = chakrabarti_kernel(np.random.default_rng(0), psz=16)
    >>> k.shape, bool(abs(k.sum() - 1) < 1e-12), bool(k.min() >= 0)
    ((41, 41), True, True)
    """
    from scipy.interpolate import CubicSpline

    rng = _as_rng(rng)
    size = _check_size(size)
    if not isinstance(psz, (int, np.integer)) or psz < 1:
        raise ValueError(f"psz must be a positive integer, got {psz!r}")
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2, got {n_points}")
    middle = size // 2
    # Samples per unit of t: the spline's speed is at most a few times psz per unit of t, so
    # 16 * psz samples per unit keeps consecutive samples well under a quarter pixel apart.
    t_dense = np.linspace(0.0, n_points - 1.0, (n_points - 1) * 16 * int(psz) + 1)
    t_ctrl = np.arange(n_points, dtype=np.float64)
    for _ in range(max_tries):
        ctrl = rng.integers(0, psz, size=(n_points, 2)).astype(np.float64)  # (n_points, (y, x))
        if n_points >= 4:
            curve = CubicSpline(t_ctrl, ctrl, axis=0)(t_dense)  # (n_dense, 2)
        else:  # too few points for a not-a-knot cubic: a polyline
            curve = np.stack([np.interp(t_dense, t_ctrl, ctrl[:, a]) for a in range(2)], axis=1)
        pix = np.clip(np.rint(curve), 0, psz - 1).astype(np.int64)
        flat = np.unique(pix[:, 0] * psz + pix[:, 1])  # distinct pixels, sorted (deterministic)
        pix = np.stack([flat // psz, flat % psz], axis=1)
        weights = np.maximum(0.0, rng.normal(weight_mean, weight_std, size=len(pix)))
        keep = weights > 0
        if not keep.any():
            continue
        pix, weights = pix[keep], _fsum_normalise(weights[keep])
        centroid = np.array([math.fsum((weights * pix[:, a]).tolist()) for a in range(2)])
        shift = middle - np.rint(centroid).astype(np.int64)
        pix = pix + shift
        if pix.min() < 0 or pix.max() >= size:
            continue  # does not fit the canvas once centred: reject
        kernel = np.zeros((size, size), dtype=np.float64)
        kernel[pix[:, 0], pix[:, 1]] = weights
        return kernel
    raise RuntimeError(f"no kernel with psz={psz} fitted a {size}x{size} canvas in {max_tries} tries")


def boracchi_foi_trajectory(
    rng: np.random.Generator | int | Sequence[int] | None = None,
    *,
    n_steps: int = 2000,
    max_length: float = 60.0,
    anxiety: float | None = None,
) -> np.ndarray:
    """A random camera trajectory of Boracchi & Foi (2012), as complex positions ``(n_steps,)``.

    Boracchi & Foi, "Modeling the performance of image restoration from motion blur", IEEE TIP
    2012: the point moves with a velocity of constant magnitude (total length ``max_length``
    pixels over ``n_steps`` steps); at each step the velocity is perturbed by a Gaussian shake,
    pulled back towards the start by a centripetal term, and, rarely, flipped roughly backwards
    by an impulse (an abrupt shake). Per trajectory (``docs/paper.md``, "Synthetic blur"): centripetal
    ``0.7 U``, big-shake probability ``0.2 U``, Gaussian shake ``10 U``, initial angle
    ``360 U`` degrees, all scaled by an "anxiety" ``0.1 U`` (``U`` uniform in [0, 1)).

    Returns complex positions ``x + i y`` (pixels), starting at 0.
    """
    rng = _as_rng(rng)
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}")
    if not max_length > 0:
        raise ValueError(f"max_length must be positive, got {max_length}")
    anxiety = 0.1 * rng.random() if anxiety is None else float(anxiety)
    centripetal = 0.7 * rng.random()
    p_big = 0.2 * rng.random()
    shake = 10.0 * rng.random()
    angle = 2.0 * math.pi * rng.random()
    step = max_length / (n_steps - 1)
    # All randomness drawn up front (vectorised), then a scalar recursion in Python complex.
    u_big = rng.random(n_steps - 1)
    u_turn = rng.random(n_steps - 1) - 0.5
    noise = rng.standard_normal((n_steps - 1, 2))
    direction = complex(math.cos(angle), math.sin(angle))
    v = direction * (anxiety if anxiety > 0 else step)
    pos = np.zeros(n_steps, dtype=np.complex128)
    x = 0j
    for t in range(n_steps - 1):
        impulse = 0j
        if u_big[t] < p_big * anxiety:
            # abrupt shake: a kick of twice the velocity, pointing roughly backwards
            impulse = 2.0 * v * complex(math.cos(math.pi + u_turn[t]), math.sin(math.pi + u_turn[t]))
        drift = anxiety * (shake * complex(noise[t, 0], noise[t, 1]) - centripetal * x) * step
        v = v + impulse + drift
        speed = abs(v)
        v = v / speed * step if speed > 0 else direction * step
        x = x + v
        pos[t + 1] = x
    return pos


def _splat_bilinear(points: np.ndarray, size: int) -> np.ndarray:
    """Accumulate unit masses at sub-pixel ``points`` ``(n, 2)`` (y, x) by bilinear weights."""
    y0 = np.floor(points[:, 0]).astype(np.int64)
    x0 = np.floor(points[:, 1]).astype(np.int64)
    fy = points[:, 0] - y0
    fx = points[:, 1] - x0
    out = np.zeros((size + 1, size + 1), dtype=np.float64)
    np.add.at(out, (y0, x0), (1 - fy) * (1 - fx))
    np.add.at(out, (y0 + 1, x0), fy * (1 - fx))
    np.add.at(out, (y0, x0 + 1), (1 - fy) * fx)
    np.add.at(out, (y0 + 1, x0 + 1), fy * fx)
    return out[:size, :size]


def boracchi_foi_kernel(
    rng: np.random.Generator | int | Sequence[int] | None = None,
    *,
    size: int = 41,
    exposure: float = 1.0,
    n_steps: int = 2000,
    max_length: float | None = None,
    max_tries: int = 1000,
) -> np.ndarray:
    """One kernel from a Boracchi & Foi random trajectory (the generator behind DeblurGAN).

    The trajectory of :func:`boracchi_foi_trajectory` is cut to its first ``exposure`` fraction
    (of ``n_steps`` = 2000 steps), its samples are splatted bilinearly with equal mass, and the
    result is normalised to sum 1. The trajectory is shifted (sub-pixel) so that its mean
    position, hence the kernel's centroid, is exactly the middle of the ``size x size`` canvas.
    A trajectory that does not fit is rejected and drawn again.

    ``max_length`` defaults to ``0.9 * (size - 1)`` pixels (Boracchi & Foi / DeblurGAN used 60
    on a 64 canvas; the ratio is kept for the smaller 41 canvas). Unlike DeblurGAN's code, each
    kernel is built from a fresh accumulator and normalised to sum 1 (not min-max scaled).

    Returns ``(size, size)`` float64, non-negative, sums to 1.
    """
    rng = _as_rng(rng)
    size = _check_size(size)
    if not 0 < exposure <= 1:
        raise ValueError(f"exposure must be in (0, 1], got {exposure}")
    length = 0.9 * (size - 1) if max_length is None else float(max_length)
    middle = (size - 1) / 2.0
    n_used = max(1, int(round(exposure * n_steps)))
    for _ in range(max_tries):
        traj = boracchi_foi_trajectory(rng, n_steps=n_steps, max_length=length)[:n_used]
        pts = np.stack([traj.imag, traj.real], axis=1)  # (n, (y, x))
        pts = pts - pts.mean(axis=0) + middle
        if pts.min() < 0 or pts.max() > size - 1:
            continue
        kernel = _splat_bilinear(pts, size)
        return _fsum_normalise(kernel.ravel()).reshape(size, size)
    raise RuntimeError(f"no trajectory fitted a {size}x{size} canvas in {max_tries} tries")


class KernelBank:
    """A bank of ``n`` motion-blur kernels addressed by index; nothing stored on disk.

    Kernel ``i`` is generated from ``np.random.default_rng([seed, i])`` (NumPy's PCG64 seeded
    through ``SeedSequence``), so it is identical in every process and on every machine: sums
    and centroids use exactly rounded ``math.fsum``. (Two residual caveats: the spline solve goes
    through LAPACK, and the Boracchi-Foi trajectory through the C library's ``cos``/``sin``; a
    last-bit difference there could move a Chakrabarti curve sample sitting exactly on a
    half-pixel, or change Boracchi-Foi weights by ~1e-16. Tests pin a digest of a few kernels.) A small in-memory LRU cache keeps recently
    used kernels (generation takes about a millisecond).

    With ``generator="chakrabarti"`` (the paper's choice) the bank holds Chakrabarti's three sets
    interleaved: kernel ``i`` uses ``psz = CHAKRABARTI_PSZ[i % 3]`` = (24, 16, 8), so every
    prefix of the bank is balanced (``psz=`` overrides the grid sizes; for ``size < 41`` they
    default to (24, 16, 8) scaled by ``size / 41``). With ``generator="boracchi_foi"`` kernel ``i`` has exposure
    ``BORACCHI_EXPOSURES[i % 3]`` = (0.1, 0.5, 1.0).

    Parameters
    ----------
    n : int
        Number of kernels (10^5 in the paper).
    seed : int
        Bank seed; different seeds give independent banks.
    generator : {"chakrabarti", "boracchi_foi"}
    size : int
        Odd kernel side (41).
    psz : sequence of int, optional
        Chakrabarti grid sizes cycled over the indices.
    cache_size : int
        Kernels kept in memory (0 disables the cache).

    Examples
    --------
    >>> bank = KernelBank(100_000, seed=0)
    >>> len(bank), bank[7].shape
    (100000, (41, 41))
    """

    def __init__(
        self,
        n: int = 100_000,
        *,
        seed: int = 0,
        generator: str = "chakrabarti",
        size: int = 41,
        psz: Sequence[int] | None = None,
        cache_size: int = 4096,
    ) -> None:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"bank size n must be a positive integer, got {n!r}")
        if generator not in _GENERATORS:
            raise ValueError(f"unknown kernel generator {generator!r}; expected one of {_GENERATORS}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.n = int(n)
        self.seed = int(seed)
        self.generator = generator
        self.size = _check_size(size)
        if psz is None:
            scale = min(1.0, self.size / 41)
            psz = tuple(max(1, round(p * scale)) for p in CHAKRABARTI_PSZ)
        psz = tuple(int(p) for p in psz)
        if not psz or min(psz) < 1 or max(psz) > self.size:
            raise ValueError(f"psz must be grid sizes in [1, size={self.size}], got {psz}")
        self.psz = psz
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __repr__(self) -> str:
        return f"KernelBank(n={self.n}, seed={self.seed}, generator={self.generator!r}, size={self.size})"

    def __len__(self) -> int:
        return self.n

    def __getstate__(self) -> dict:  # pickled into DataLoader workers without the cache
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def _index(self, i: int) -> int:
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"kernel index must be an integer, got {type(i).__name__}")
        i = int(i)
        if not -self.n <= i < self.n:
            raise IndexError(f"kernel index {i} out of range for a bank of {self.n}")
        return i % self.n

    def params(self, i: int) -> dict:
        """The generator parameters of kernel ``i`` (``psz`` or ``exposure``)."""
        i = self._index(i)
        if self.generator == "chakrabarti":
            return {"psz": self.psz[i % len(self.psz)]}
        return {"exposure": BORACCHI_EXPOSURES[i % len(BORACCHI_EXPOSURES)]}

    def _generate(self, i: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, i])
        if self.generator == "chakrabarti":
            return chakrabarti_kernel(rng, size=self.size, **self.params(i))
        return boracchi_foi_kernel(rng, size=self.size, **self.params(i))

    def __getitem__(self, i: int) -> np.ndarray:
        """Kernel ``i``: ``(size, size)`` float64, non-negative, sum 1, centred (a fresh copy)."""
        i = self._index(i)
        kernel = self._cache.get(i)
        if kernel is None:
            kernel = self._generate(i)
            kernel.setflags(write=False)
            if self.cache_size > 0:
                self._cache[i] = kernel
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return kernel.copy()

    def __iter__(self):
        return (self[i] for i in range(self.n))

    def batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """Kernels ``indices``: ``(B, size, size)`` float64."""
        if isinstance(indices, torch.Tensor):
            indices = indices.detach().cpu().tolist()
        indices = np.asarray(indices).reshape(-1).tolist()
        return np.stack([self[i] for i in indices]) if indices else np.zeros((0, self.size, self.size))

    def tensor(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Kernels ``indices`` as a ``(B, size, size)`` tensor on ``device``."""
        return torch.from_numpy(self.batch(indices)).to(device=device, dtype=dtype)

    def sample_indices(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` indices uniform over the bank."""
        return rng.integers(0, self.n, size=count)


def kernel_length(kernel: np.ndarray) -> int:
    """Length of a motion kernel's path in pixels: the number of pixels it puts weight on.

    ``kernel``: ``(k, k)``, non-negative. For a path of single-pixel width (the generators here
    draw one pixel per step along the curve) this is its length in pixels, the quantity that the
    WILD manifest's ``blur_size`` (the integrated trajectory length) measures for real blur.

    >>> kernel_length(np.eye(5) / 5)
    5
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {kernel.shape}")
    return int(np.count_nonzero(kernel > 0))


def bank_lengths(bank: KernelBank, n: int = 2000, *, seed: int = 0) -> np.ndarray:
    """:func:`kernel_length` of ``n`` kernels of ``bank`` drawn uniformly (seeded), ``(n,)``."""
    idx = bank.sample_indices(np.random.default_rng(seed), min(n, len(bank)))
    return np.array([kernel_length(bank[int(i)]) for i in idx])
