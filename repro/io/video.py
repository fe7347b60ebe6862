"""Frame sources: high-frame-rate video from a folder of frames, a video file, or GoPro's layout.

Every source yields uint8 RGB frames ``(H, W, 3)`` lazily and has a ``name`` (the scene) and an
``fps``. :func:`open_sources` turns a path into sources:

- a folder of frames (``.png``, ``.jpg``, ...; natural order: ``2.png`` before ``10.png``) -> one;
- a video file (``.mp4``, ``.mov``, ...) -> one;
- a ``GOPRO_Large_all`` root (pass ``split``) or one of its ``<split>`` folders, i.e.
  ``<root>/<split>/<scene>/*.png`` -> one per scene; a folder of video files -> one per video.

Video decoding uses **PyAV** (the ``av`` package) rather than imageio-ffmpeg: its wheels carry
the FFmpeg libraries, so no system ``ffmpeg`` binary is needed; it decodes in-process straight
to numpy (no subprocess and raw-pixel pipe), reports the frame rate and frame count from the
container, and a decoding failure surfaces as an exception at the exact frame, which lets us name
the path and the frame index in the error.

Bad input raises ``FileNotFoundError`` (missing path) or ``ValueError`` (no frames, mixed frame
sizes, an unreadable frame, an undecodable video), each naming the path and the frame index.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .images import IMAGE_SUFFIXES, list_images, natural_key, read_image, to_rgb

__all__ = ["FrameSource", "FolderSource", "VideoSource", "open_sources", "VIDEO_SUFFIXES", "DEFAULT_FPS"]

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
DEFAULT_FPS = 240.0  # frame folders carry no frame rate; GoPro's high-frame-rate footage is 240 fps


class FrameSource:
    """A sequence of uint8 RGB frames ``(H, W, 3)`` with ``name`` and ``fps``.

    Subclasses implement ``__len__``, ``frame(i)`` and (when faster than random access) ``__iter__``.
    """

    name: str = ""
    fps: float = DEFAULT_FPS

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def frame(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.frame(i)

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start .. stop-1`` stacked: ``(stop - start, H, W, 3)`` uint8."""
        return np.stack([self.frame(i) for i in range(start, stop)])


def _as_rgb_uint8(img: np.ndarray, where: str) -> np.ndarray:
    """gray / RGB / RGBA, uint8 or uint16 -> uint8 RGB."""
    if img.dtype == np.uint16:
        img = (img.astype(np.uint32) * 255 + 32767) // 65535
        img = img.astype(np.uint8)
    elif img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating):
            img = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
        else:
            raise ValueError(f"{where}: unsupported pixel type {img.dtype}")
    return to_rgb(img)


class FolderSource(FrameSource):
    """Frames stored as image files in one folder, in natural order.

    Opening reads only the image headers (every file must be an image of the same size); a frame
    whose pixels cannot be decoded raises when it is read. Errors name the file and its index.
    """

    def __init__(self, folder: str | os.PathLike, *, fps: float = DEFAULT_FPS, name: str | None = None) -> None:
        from PIL import Image

        self.folder = Path(folder)
        self.paths = list_images(self.folder)  # FileNotFoundError / NotADirectoryError
        if not self.paths:
            raise ValueError(f"{self.folder}: no image frames (looked for {', '.join(IMAGE_SUFFIXES)})")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.name = name if name is not None else self.folder.name
        sizes = []
        for i, p in enumerate(self.paths):
            try:
                with Image.open(p) as im:
                    w, h = im.size
            except Exception as exc:  # PIL raises several types for non-images / truncated headers
                raise ValueError(f"{p}: frame {i} of {self.folder} cannot be read as an image "
                                 f"({type(exc).__name__}: {exc})") from exc
            sizes.append((h, w))
        self.size = sizes[0]
        for i, (p, s) in enumerate(zip(self.paths, sizes)):
            if s != self.size:
                raise ValueError(f"{p}: frame {i} is {s[0]}x{s[1]} (HxW) but frame 0 ({self.paths[0].name}) "
                                 f"is {self.size[0]}x{self.size[1]}; all frames of a clip must have one size")

    def __len__(self) -> int:
        return len(self.paths)

    def frame(self, i: int) -> np.ndarray:
        n = len(self.paths)
        if not -n <= i < n:
            raise IndexError(f"{self.folder}: frame index {i} out of range (0..{n - 1})")
        i %= n
        path = self.paths[i]
        try:
            img = read_image(path)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: frame {i} of {self.folder} is unreadable: {exc}") from exc
        img = _as_rgb_uint8(img, f"{path} (frame {i})")
        if img.shape[:2] != self.size:
            raise ValueError(f"{path}: frame {i} is {img.shape[0]}x{img.shape[1]} but the clip is "
                             f"{self.size[0]}x{self.size[1]}")
        return img

    def __repr__(self) -> str:
        return f"FolderSource({str(self.folder)!r}, frames={len(self)}, fps={self.fps})"


class VideoSource(FrameSource):
    """A video file decoded with PyAV. Iteration decodes sequentially; ``frame(i)`` decodes forward
    from the last position (re-opening the file to go backwards), so sequential access is cheap.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float | None = None, name: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such video file")
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path}: is a folder, expected a video file")
        self.name = name if name is not None else self.path.stem
        container = self._open()
        try:
            stream = container.streams.video[0]
            rate = fps if fps is not None else (stream.average_rate or stream.guessed_rate or stream.base_rate)
            if rate is None or not float(rate) > 0:
                raise ValueError(f"{self.path}: the video has no frame rate; pass fps=")
            self.fps = float(rate)
            n = int(stream.frames or 0)
            if n <= 0:  # the container does not say: count packets (no decoding)
                n = sum(1 for pkt in container.demux(stream) if pkt.size > 0)
        finally:
            container.close()
        if n <= 0:
            raise ValueError(f"{self.path}: the video has no frames")
        self._len = n
        self._container = None
        self._iter: Iterator[np.ndarray] | None = None
        self._next = 0
        self.size: tuple[int, int] | None = None

    def _open(self):
        import av

        try:
            container = av.open(str(self.path))
        except Exception as exc:  # av.error.InvalidDataError and friends
            raise ValueError(f"{self.path}: cannot be opened as a video ({type(exc).__name__}: {exc})") from exc
        if not container.streams.video:
            container.close()
            raise ValueError(f"{self.path}: contains no video stream")
        return container

    def _decode(self) -> Iterator[np.ndarray]:
        container = self._open()
        i = 0
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            decoded = container.decode(stream)
            while True:
                try:
                    frame = next(decoded)
                except StopIteration:
                    break
                except Exception as exc:
                    raise ValueError(f"{self.path}: cannot decode frame {i} ({type(exc).__name__}: {exc})") from exc
                img = frame.to_ndarray(format="rgb24")
                if self.size is None:
                    self.size = img.shape[:2]
                elif img.shape[:2] != self.size:
                    raise ValueError(f"{self.path}: frame {i} is {img.shape[0]}x{img.shape[1]} but frame 0 is "
                                     f"{self.size[0]}x{self.size[1]}")
                yield img
                i += 1
        finally:
            container.close()
        if i == 0:
            raise ValueError(f"{self.path}: cannot decode frame 0 (no frame could be decoded)")

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[np.ndarray]:
        yield from self._decode()

    def frame(self, i: int) -> np.ndarray:
        n = self._len
        if not -n <= i < n:
            raise IndexError(f"{self.path}: frame index {i} out of range (0..{n - 1})")
        i %= n
        if self._iter is None or i < self._next:
            self._iter, self._next = self._decode(), 0
        img = None
        while self._next <= i:
            try:
                img = next(self._iter)
            except StopIteration:
                self._iter = None
                raise ValueError(f"{self.path}: frame {i} cannot be decoded (the stream ended after "
                                 f"{self._next} frames)") from None
            self._next += 1
        return img

    def __repr__(self) -> str:
        return f"VideoSource({str(self.path)!r}, frames={len(self)}, fps={self.fps})"


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.iterdir())


def open_sources(source: str | os.PathLike, split: str | None = None, *, fps: float | None = None) -> list[FrameSource]:
    """Frame sources found at ``source`` (see the module docstring for the layouts).

    ``split`` picks ``source/<split>`` when that folder exists (``GOPRO_Large_all`` root).
    ``fps`` overrides the frame rate (default: the video's own, 240 for frame folders).
    The string ``"virtual"`` is not handled here: see :class:`repro.camera.VirtualCamera`.
    """
    path = Path(source)
    if str(source) == "virtual":
        raise ValueError("'virtual' is the rendered camera: use repro.camera.VirtualCamera")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    folder_fps = DEFAULT_FPS if fps is None else fps
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            raise ValueError(f"{path}: a single image, not a video; pass the folder of frames")
        return [VideoSource(path, fps=fps)]
    if _has_images(path):
        return [FolderSource(path, fps=folder_fps)]
    if split is not None and (path / split).is_dir():
        path = path / split
        if _has_images(path):
            return [FolderSource(path, fps=folder_fps)]
    children = sorted((p for p in path.iterdir() if not p.name.startswith(".")), key=lambda p: natural_key(p.name))
    scenes = [p for p in children if p.is_dir() and _has_images(p)]
    if scenes:
        return [FolderSource(p, fps=folder_fps) for p in scenes]
    videos = [p for p in children if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    if videos:
        return [VideoSource(p, fps=fps) for p in videos]
    split_dirs = [p.name for p in children if p.is_dir() and p.name in ("train", "test")]
    if split_dirs and split is None:
        raise ValueError(f"{path}: has split folders {split_dirs}; pass split= (e.g. 'train')")
    if split is not None and split_dirs and not (Path(source) / split).is_dir():
        raise FileNotFoundError(f"{Path(source) / split}: no such split folder (found {split_dirs})")
    raise ValueError(f"{path}: no frames found (no images, no <scene>/ folders of images, no video files "
                     f"{', '.join(VIDEO_SUFFIXES)})")
