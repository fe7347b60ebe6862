"""The virtual camera as frame sources: numbered clips with their own seeds, rendered lazily."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..io.video import FrameSource
from .photos import SPLITS
from .render import DEFAULT_SIZE, FPS, Clip, check_size, render_clip

__all__ = ["clip_seed", "VirtualSource", "VirtualCamera"]


def clip_seed(seed: int, split: str, index: int) -> int:
    """Seed of clip ``index`` of a :class:`VirtualCamera` (distinct per split and index)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return int(np.random.SeedSequence([int(seed), SPLITS.index(split), int(index)]).generate_state(1)[0] >> 1)


class VirtualSource(FrameSource):
    """One clip of the virtual camera as a :class:`repro.io.video.FrameSource`.

    Rendered on first access and cached (``.clip``); ``.true_flows`` are its exact flows;
    ``.release()`` frees the cache (about 100 MB for 120 frames at 240x320).
    """

    def __init__(self, seed: int, *, name: str, n_frames: int, size: tuple[int, int], split: str,
                 device: str = "cpu", **options) -> None:
        self.seed = int(seed)
        self.name = name
        self.fps = FPS
        self.n_frames = int(n_frames)
        self.size = check_size(size)
        self.split = split
        self.device = device
        self.options = options
        self._clip: Clip | None = None

    @property
    def clip(self) -> Clip:
        if self._clip is None:
            self._clip = render_clip(self.seed, n_frames=self.n_frames, size=self.size, split=self.split,
                                     device=self.device, name=self.name, **self.options)
        return self._clip

    @property
    def true_flows(self) -> np.ndarray:
        """(T-1, H, W, 2) float32 exact forward flows."""
        return self.clip.flows

    def release(self) -> None:
        self._clip = None

    def __len__(self) -> int:
        return self.n_frames

    def frame(self, i: int) -> np.ndarray:
        if not -self.n_frames <= i < self.n_frames:
            raise IndexError(f"{self.name}: frame index {i} out of range (0..{self.n_frames - 1})")
        return self.clip.frames[i]

    def __iter__(self) -> Iterator[np.ndarray]:
        yield from self.clip.frames

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start .. stop-1``: ``(stop - start, H, W, 3)`` uint8 (a view of the cached clip)."""
        if not 0 <= start <= stop <= self.n_frames:
            raise IndexError(f"{self.name}: frames {start}..{stop} out of range (0..{self.n_frames})")
        return self.clip.frames[start:stop]

    def __repr__(self) -> str:
        return f"VirtualSource(name={self.name!r}, seed={self.seed}, n_frames={self.n_frames}, size={self.size})"


class VirtualCamera(Sequence):
    """``n_clips`` clips of the virtual camera as a list of :class:`VirtualSource` (lazy).

    Clip ``i`` has seed :func:`clip_seed` ``(seed, split, i)`` and name ``"virtual_<i:04d>"``.
    Extra keyword options go to :func:`render_clip` (e.g. ``supersample``, ``speed``, ``kind``).
    """

    def __init__(self, split: str = "train", n_clips: int = 10, n_frames: int = 120,
                 size: tuple[int, int] = DEFAULT_SIZE, seed: int = 0, device: str = "cpu", **options) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if int(n_clips) < 0:
            raise ValueError(f"n_clips must be >= 0, got {n_clips}")
        if int(n_frames) < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        self.split, self.n_clips, self.n_frames = split, int(n_clips), int(n_frames)
        self.size, self.seed, self.device, self.options = check_size(size), int(seed), device, options

    def __len__(self) -> int:
        return self.n_clips

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n_clips))]
        if not -self.n_clips <= i < self.n_clips:
            raise IndexError(f"clip index {i} out of range (0..{self.n_clips - 1})")
        i %= self.n_clips
        return VirtualSource(clip_seed(self.seed, self.split, i), name=f"virtual_{i:04d}", n_frames=self.n_frames,
                             size=self.size, split=self.split, device=self.device, **self.options)
