"""The WILD recipe's maths for one window: prepare, average, measure the flow, decide, blur size.

Everything here works on arrays; :mod:`repro.wild.scene` walks a scene's windows with it and
:mod:`repro.wild.build` runs scenes into a dataset. :class:`BuildConfig` holds every parameter
that decides a build's content (the recipe is described in :mod:`repro.wild`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .flow import BACKENDS, DEFAULT_BACKEND, estimate_flow, flow_magnitude, matching_error

__all__ = ["BuildConfig", "DEFAULT_MAX_MATCH_ERROR", "prepare_frame", "average_frames", "blur_size_map",
           "pair_statistics", "WindowResult", "analyse_window", "draw_window_sizes", "scene_rng", "downsample_flow"]

DEFAULT_MAX_MATCH_ERROR = 0.05  # RMS grayscale error in [0, 1] units (about 13 grey levels of 255)


@dataclass(frozen=True)
class BuildConfig:
    """Parameters that decide the content of a build (saved as ``OUT/<split>/build.json``)."""

    source: str = "virtual"            # "virtual" or the path given on the command line
    split: str = "train"               # output split folder (and the photo set of the virtual camera)
    seed: int = 0                      # seeds the window sizes (per scene) and the virtual clips
    downsample: int = 3                # area-average factor applied to every frame (paper: 3)
    n_range: tuple[int, int] = (7, 23)  # N is a random odd number in this closed range (paper: 7..23)
    # relative weights of the odd N in n_range, smallest first (empty: all alike, the paper's draw);
    # e.g. (1, 1.5, 1.5) on (1, 5) makes a quarter of the windows N = 1 (the still split, issue 41)
    n_weights: tuple[float, ...] = ()
    gap: int = 0                       # frames between consecutive windows (negative: overlap)
    resync: bool = True                # after a rejected window, restart just after its offending pair
    max_flow: float = 1.0              # accept when the flow statistic <= this, in px (paper: 1)
    flow_percentile: float = 99.0      # the flow statistic: this percentile of |flow| (100 = max)
    max_match_error: float | None = DEFAULT_MAX_MATCH_ERROR  # reject unreliable flow (None: never)
    linear: bool = False               # average in linear light (DeepDeblur's blur_gamma)
    gamma: float = 2.2                 # the encoding gamma used by ``linear``
    flow_backend: str = DEFAULT_BACKEND  # see repro.wild.flow.BACKENDS
    save_blursize: bool = False        # also write the per-pixel blur-size map as .npy
    virtual: dict = field(default_factory=dict)  # options of the virtual camera (n_frames, size, ...)
    camera: str = ""                   # the virtual camera's version (repro.camera.CAMERA_VERSION); "" for footage

    def __post_init__(self) -> None:
        # One type per field, whatever the caller passed: build.json's text depends on it (50 != 50.0).
        for name, kind in _FIELD_TYPES.items():
            object.__setattr__(self, name, kind(getattr(self, name)))
        lo, hi = self.n_range
        if not (isinstance(self.downsample, int) and self.downsample >= 1):
            raise ValueError(f"downsample must be an integer >= 1, got {self.downsample!r}")
        if lo < 1 or hi < lo or not any(n % 2 for n in range(lo, hi + 1)):
            raise ValueError(f"n_range {self.n_range} must contain an odd number >= 1")
        n_odd = sum(n % 2 for n in range(lo, hi + 1))
        if self.n_weights and (len(self.n_weights) != n_odd or any(not w >= 0 for w in self.n_weights)
                               or not sum(self.n_weights) > 0):
            raise ValueError(f"n_weights must give {n_odd} weights >= 0 (one per odd N in {self.n_range}), "
                             f"not all 0, got {self.n_weights}")
        if self.max_flow <= 0:
            raise ValueError(f"max_flow must be positive, got {self.max_flow}")
        if not 0 < self.flow_percentile <= 100:
            raise ValueError(f"flow_percentile must be in (0, 100], got {self.flow_percentile}")
        if self.flow_backend not in BACKENDS and not (self.flow_backend == "true" and self.source == "virtual"):
            raise ValueError(f"unknown flow backend {self.flow_backend!r}; choose one of {', '.join(BACKENDS)} "
                             f"(or 'true' with the virtual camera: the renderer's own flow)")
        if self.gap <= -min(n for n in range(lo, hi + 1) if n % 2):
            raise ValueError(f"gap {self.gap} would not move the window forward (smallest N in {self.n_range})")
        if self.gamma <= 0:
            raise ValueError(f"gamma must be positive, got {self.gamma}")
        if self.virtual.get("defocus") is not None:
            _check_virtual_defocus(self.virtual["defocus"], self.source)

    def to_json(self) -> str:
        """The config as sorted JSON (``build.json``); a resumed build must match it exactly."""
        d = asdict(self)
        d["n_range"] = list(self.n_range)
        if self.n_weights:
            d["n_weights"] = list(self.n_weights)
        else:  # builds made before n_weights existed keep their build.json, so they still resume
            del d["n_weights"]
        return json.dumps(d, indent=2, sort_keys=True, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BuildConfig:
        """The config a ``build.json`` (:meth:`to_json`) records; fields it lacks take their defaults."""
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError(f"a build.json holds a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _check_virtual_defocus(defocus, source: str) -> None:
    """A one-line ``ValueError`` unless ``defocus`` is a valid depth of field of the virtual camera
    (:func:`repro.camera.focus.check_defocus`) and ``source`` is the virtual camera."""
    from ..camera.focus import check_defocus

    if source != "virtual":
        raise ValueError(f"a depth of field (virtual defocus {defocus!r}) needs the virtual camera, "
                         f"not source {source!r}: footage cannot be refocused")
    check_defocus(defocus)


_FIELD_TYPES = {  # BuildConfig fields whose type is normalised (see BuildConfig.__post_init__)
    "n_range": lambda v: tuple(int(x) for x in v),
    "n_weights": lambda v: tuple(float(x) for x in v),
    "gap": int,
    "resync": bool,
    "max_flow": float,
    "flow_percentile": float,
    "max_match_error": lambda v: None if v is None else float(v),
    "linear": bool,
    "gamma": float,
    "save_blursize": bool,
    "virtual": lambda v: dict(v or {}),
}


def prepare_frame(frame: np.ndarray, *, downsample: int = 3, linear: bool = False,
                  gamma: float = 2.2) -> tuple[np.ndarray, np.ndarray]:
    """One video frame -> ``(encoded, averaging_space)`` downsampled float32 ``(H//k, W//k, 3)``.

    ``encoded`` is the frame in its encoded (display) values, used for the sharp image and the
    optical flow; ``averaging_space`` is what gets averaged: the same array, or linear light
    (``encoded_in ** gamma`` downsampled) when ``linear``. Input: uint8/uint16/float ``(H, W, 3)``.
    """
    import cv2

    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"expected a frame of shape (H, W, 3), got {frame.shape}")
    frame = frame[..., :3]
    H, W = frame.shape[:2]
    k = downsample
    if H < k or W < k:
        raise ValueError(f"frame of {H}x{W} is smaller than the downsampling factor {k}")
    if frame.dtype == np.uint8:
        if linear:
            x = _gamma_lut(gamma)[frame]
        else:
            x = frame.astype(np.float32) * np.float32(1 / 255)
    else:
        from ..io.images import to_float

        x = to_float(frame)
        if linear:
            x = x ** np.float32(gamma)
    h, w = H // k, W // k
    x = x[: h * k, : w * k]
    if k > 1:
        x = cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if linear:
        return np.clip(x, 0, 1) ** np.float32(1 / gamma), x
    return x, x


_LUTS: dict[float, np.ndarray] = {}


def _gamma_lut(gamma: float) -> np.ndarray:
    if gamma not in _LUTS:
        _LUTS[gamma] = (np.arange(256, dtype=np.float64) / 255.0) ** gamma
        _LUTS[gamma] = _LUTS[gamma].astype(np.float32)
    return _LUTS[gamma]


def average_frames(frames: Sequence[np.ndarray], *, linear: bool = False, gamma: float = 2.2) -> np.ndarray:
    """Mean of ``frames`` (each ``(H, W, 3)`` float in the averaging space); re-encoded if ``linear``."""
    acc = np.zeros_like(np.asarray(frames[0]), dtype=np.float64)
    for f in frames:
        acc += f
    acc /= len(frames)
    if linear:
        acc = np.clip(acc, 0, 1) ** (1 / gamma)
    return acc.astype(np.float32)


def _sample(field_: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.remap(field_, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def blur_size_map(flows: np.ndarray, center: int, *, inverse_iterations: int = 3) -> np.ndarray:
    """Per-pixel blur size: length of each scene point's trajectory over the window, in pixels.

    ``flows``: ``(N-1, H, W, 2)`` forward flows between consecutive frames (``flows[t]``: frame t
    -> t+1, on frame t's grid). The trajectory starts at each pixel of the central frame
    ``center``; forward it follows ``flows[center:]`` (bilinearly sampled where the point is), and
    backward it inverts ``flows[:center]`` by the fixed-point iteration ``q = p - flow_t(q)``.
    Returns ``(H, W)`` float32 on the central frame's grid. A pan of ``v`` px per frame over
    ``N`` frames gives ``(N - 1) * v`` everywhere.
    """
    flows = np.asarray(flows, dtype=np.float32)
    T, H, W, _ = flows.shape
    if not 0 <= center <= T:
        raise ValueError(f"center {center} outside the window of {T + 1} frames")
    xs, ys = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    length = np.zeros((H, W), np.float32)
    px, py = xs.copy(), ys.copy()
    for t in range(center, T):  # forward: p_{t+1} = p_t + flow_t(p_t)
        d = _sample(flows[t], px, py)
        length += np.hypot(d[..., 0], d[..., 1])
        px, py = px + d[..., 0], py + d[..., 1]
    px, py = xs.copy(), ys.copy()
    for t in range(center - 1, -1, -1):  # backward: find q with q + flow_t(q) = p
        d = _sample(flows[t], px, py)
        for _ in range(inverse_iterations):
            d = _sample(flows[t], px - d[..., 0], py - d[..., 1])
        length += np.hypot(d[..., 0], d[..., 1])
        px, py = px - d[..., 0], py - d[..., 1]
    return length


def pair_statistics(frame0: np.ndarray, frame1: np.ndarray, flow: np.ndarray, *,
                    percentile: float = 99.0) -> tuple[float, float, float]:
    """``(flow statistic, max |flow|, matching error)`` of one consecutive pair and its flow."""
    mag = flow_magnitude(flow)
    return (float(np.percentile(mag, percentile)), float(mag.max()), matching_error(frame0, frame1, flow))


@dataclass
class WindowResult:
    """What :func:`analyse_window` finds about one window (images ``(H, W, 3)`` float32 [0, 1])."""

    blurry: np.ndarray
    sharp: np.ndarray
    flows: np.ndarray        # (N-1, H, W, 2)
    flow_stat: float         # max over consecutive pairs of the flow statistic, px
    flow_max: float          # max |flow| over the window, px (for information)
    match_error: float       # max over pairs of the frame-matching error
    blur_size: np.ndarray    # (H, W) trajectory length, px
    accepted: bool
    reason: str              # "" when accepted
    last_bad_pair: int | None = None  # last pair (t, t+1) of the window breaking a rule, None if accepted


def analyse_window(encoded: Sequence[np.ndarray], averaging: Sequence[np.ndarray] | None = None, *,
                   config: BuildConfig = BuildConfig(), flows: np.ndarray | None = None,
                   pair_stats: Sequence[tuple[float, float, float]] | None = None) -> WindowResult:
    """Average, select and measure one window of ``N`` prepared frames (see :func:`prepare_frame`).

    ``encoded``: N frames ``(H, W, 3)`` float32 in display values; ``averaging``: the same in the
    averaging space (default: ``encoded``). ``flows``: give ``(N-1, H, W, 2)`` flows to skip the
    estimation (e.g. the renderer's true flows); ``pair_stats``: their :func:`pair_statistics`.
    """
    n = len(encoded)
    if n < 1:
        raise ValueError("a window needs at least one frame")
    averaging = encoded if averaging is None else averaging
    c = n // 2
    blurry = average_frames(averaging, linear=config.linear, gamma=config.gamma)
    sharp = np.asarray(encoded[c], dtype=np.float32)
    H, W = sharp.shape[:2]
    if flows is None:
        flows = np.stack([estimate_flow(encoded[t], encoded[t + 1], backend=config.flow_backend)
                          for t in range(n - 1)]) if n > 1 else np.zeros((0, H, W, 2), np.float32)
    flows = np.asarray(flows, dtype=np.float32)
    if flows.shape != (n - 1, H, W, 2):
        raise ValueError(f"flows of shape {flows.shape} do not match {n} frames of {H}x{W}")
    if pair_stats is None:
        pair_stats = [pair_statistics(encoded[t], encoded[t + 1], flows[t], percentile=config.flow_percentile)
                      for t in range(n - 1)]
    stats = [p[0] for p in pair_stats]
    errs = [p[2] for p in pair_stats]
    flow_stat = max(stats, default=0.0)
    flow_max = max((p[1] for p in pair_stats), default=0.0)
    match = max(errs, default=0.0)
    too_fast = [t for t in range(n - 1) if stats[t] > config.max_flow]
    unreliable = [t for t in range(n - 1) if config.max_match_error is not None and errs[t] > config.max_match_error]
    reason = ""
    stat_name = "max" if config.flow_percentile == 100 else f"p{config.flow_percentile:g}"
    if too_fast:
        t = int(np.argmax(stats))
        reason = (f"flow: {stat_name} |flow| {flow_stat:.2f} px > {config.max_flow:g} px "
                  f"between frames {t} and {t + 1} of the window")
    elif unreliable:
        t = int(np.argmax(errs))
        reason = (f"unreliable flow: matching error {match:.4f} > {config.max_match_error:g} "
                  f"between frames {t} and {t + 1} of the window")
    return WindowResult(blurry=blurry, sharp=sharp, flows=flows, flow_stat=flow_stat, flow_max=flow_max,
                        match_error=match, blur_size=blur_size_map(flows, c), accepted=not reason, reason=reason,
                        last_bad_pair=max(too_fast + unreliable) if reason else None)


def draw_window_sizes(rng: np.random.Generator, n_range: tuple[int, int],
                      weights: Sequence[float] = ()) -> Iterable[int]:
    """Endless stream of odd window sizes drawn from the odd numbers in ``n_range``: uniformly, or
    in proportion to ``weights`` (one per odd number, smallest first)."""
    odd = [n for n in range(n_range[0], n_range[1] + 1) if n % 2]
    if not weights:
        while True:
            yield int(odd[int(rng.integers(len(odd)))])
    if len(weights) != len(odd):
        raise ValueError(f"{len(weights)} weights for the {len(odd)} odd N in {n_range}")
    p = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    while True:
        yield int(odd[int(rng.choice(len(odd), p=p))])


def scene_rng(seed: int, name: str) -> np.random.Generator:
    """The random stream of scene ``name``'s window sizes: the same in every process and run."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def downsample_flow(flow: np.ndarray, k: int) -> np.ndarray:
    """A ``(H, W, 2)`` flow on the full-resolution grid -> the grid downsampled by ``k`` (area mean / k)."""
    import cv2

    if k == 1:
        return np.asarray(flow, dtype=np.float32)
    H, W = flow.shape[:2]
    h, w = H // k, W // k
    small = cv2.resize(np.ascontiguousarray(flow[: h * k, : w * k], dtype=np.float32), (w, h),
                       interpolation=cv2.INTER_AREA)
    return small / np.float32(k)
