"""The WILD build: scenes (virtual-camera clips or footage) run in order into a resumable dataset.

:func:`build_wild` names the scenes up front (:func:`_scene_names`), prepares the folder
(:func:`_prepare_split`), hands the scenes to worker processes (:class:`repro.io.pool.TaskPool`; each
opens its scene itself, :func:`_run_scene_task`), keeps the in-order prefix of finished scenes
(:class:`_Build`), cuts the build at exactly ``pairs`` accepted pairs and writes the manifest
(:func:`_cut_and_write_manifest`; the layout is described in :mod:`repro.wild`).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..io.files import atomic_write_text
from .manifest import write_manifest
from .recipe import BuildConfig, downsample_flow, draw_window_sizes, scene_rng
from .scene import finished_scene_rows, process_scene, window_file

__all__ = ["build_wild", "read_build_config", "DEFAULT_VIRTUAL_PAIRS", "VIRTUAL_DOWNSAMPLE"]

log = logging.getLogger(__name__)

DEFAULT_VIRTUAL_PAIRS = 200  # accepted pairs of a virtual-camera build when ``pairs`` is not given
VIRTUAL_DOWNSAMPLE = 1  # the virtual camera renders at the WILD size itself (see build_wild)


@dataclass(frozen=True)
class _SceneTask:
    index: int
    name: str
    out: str
    config: BuildConfig
    source_obj: Any = None  # a FrameSource-like object given directly (must pickle for workers > 1)


def _camera_version() -> str:
    from ..camera import CAMERA_VERSION

    return CAMERA_VERSION


def _virtual_camera(config: BuildConfig, n_clips: int):
    """The virtual camera of a build: ``n_clips`` lazy :class:`repro.camera.VirtualSource` clips
    (their length is ``virtual["n_frames"]``, or a placeholder when each clip is one window).
    A ``virtual["defocus"]`` range is in px of the pairs: the render, ``downsample`` times larger,
    gets it times ``downsample``."""
    from ..camera import DEFAULT_SIZE, VirtualCamera

    opts = dict(config.virtual)
    k = config.downsample
    if opts.get("defocus") is not None:
        opts["defocus"] = tuple(k * float(v) for v in opts["defocus"])
    size = tuple(opts.pop("size", (DEFAULT_SIZE[0] * k, DEFAULT_SIZE[1] * k)))
    n_frames = int(opts.pop("n_frames", None) or max(config.n_range))
    return VirtualCamera(config.split, n_clips=n_clips, n_frames=n_frames, size=size, seed=config.seed, **opts)


def _virtual_scene(index: int, config: BuildConfig):
    """Clip ``index`` of the virtual camera: ``(frames, true_flow(t))``, the flow on the downsampled grid.

    Without ``virtual["n_frames"]`` the clip is exactly one window long: its N is the scene's
    first window size (the same draw :func:`process_scene` makes), so that the clip's peak flow,
    which the renderer sets, is the window's.
    """
    source = _virtual_camera(config, index + 1)[index]
    if not config.virtual.get("n_frames"):
        sizes = draw_window_sizes(scene_rng(config.seed, source.name), config.n_range, config.n_weights)
        source.n_frames = next(sizes)
    clip = source.clip
    k = config.downsample

    def true_flow(t: int) -> np.ndarray:
        return downsample_flow(clip.flows[t], k)

    return clip.frames, true_flow


def _run_scene_task(task: _SceneTask, callback: Callable[[dict], None] | None = None) -> tuple[int, list[dict]]:
    """Top-level (spawn-safe) worker: open the scene named by ``task`` and process it."""
    cfg = task.config
    true_flows = None
    if task.source_obj is not None:
        frames = task.source_obj
    elif cfg.source == "virtual":
        frames, flows = _virtual_scene(task.index, cfg)
        if cfg.flow_backend == "true":
            true_flows = flows
    else:
        from ..io.video import open_sources

        frames = open_sources(cfg.source, cfg.split)[task.index]
    return task.index, process_scene(frames, task.name, task.out, cfg, true_flows=true_flows, callback=callback)


def _worker_init() -> None:
    # One thread per worker process: the workers are the parallelism.
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _clean_temporaries(split_dir: Path) -> None:
    """Remove temporary files left by a killed build (atomic writes name them ``.<stem>.*.tmp.*``)."""
    if not split_dir.is_dir():
        return
    for pattern in (".*.tmp.*", "*/.*.tmp.*", "*/*/.*.tmp.*"):
        for p in split_dir.glob(pattern):
            if p.is_file():
                p.unlink()


def _check_config(split_dir: Path, config: BuildConfig) -> None:
    """Record ``config`` in ``build.json``, or refuse to resume a folder built with another one."""
    path = split_dir / "build.json"
    text = config.to_json()
    if path.is_file():
        if path.read_text() != text:
            raise ValueError(f"{path}: this folder was built with other parameters; use the same ones to "
                             f"resume, or a new output folder")
    else:
        atomic_write_text(path, text)


# the settings that downstream code (figures, checks) reads: every split of a dataset must agree on them
_SHARED_SETTINGS = ("n_range", "max_flow", "flow_percentile", "downsample")


def read_build_config(root: str | os.PathLike, split: str | None = None) -> BuildConfig:
    """The settings a WILD dataset was built with, from ``root/<split>/build.json``.

    ``split=None``: the dataset's splits (train, val, test, then any other), which must agree on
    ``n_range``, ``max_flow``, ``flow_percentile`` and ``downsample``; the first split's config is
    returned. Raises ``FileNotFoundError`` when there is no ``build.json`` and ``ValueError`` when
    the splits disagree.
    """
    root = Path(root)
    if split is not None:
        path = root / split / "build.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (is {root} a dataset made by build-wild?)")
        return BuildConfig.from_json(path.read_text())
    found = sorted((p.parent.name for p in root.glob("*/build.json")),
                   key=lambda s: (("train", "val", "test") + (s,)).index(s))
    if not found:
        raise FileNotFoundError(f"{root}: no <split>/build.json (is it a dataset made by build-wild?)")
    configs = {s: read_build_config(root, s) for s in found}
    first = configs[found[0]]
    for s, config in configs.items():
        for name in _SHARED_SETTINGS:
            if getattr(config, name) != getattr(first, name):
                raise ValueError(f"{root}: the splits were built with different {name} ({found[0]}: "
                                 f"{getattr(first, name)}, {s}: {getattr(config, name)}); name the split")
    return first


def _remove_scene_files(out: Path, split: str, scene: str, rows: Sequence[dict]) -> None:
    """Delete the images of the accepted ``rows`` of ``scene`` (its ``windows.json`` stays)."""
    for r in rows:
        if r["accepted"]:
            for kind, suffix in (("blur", ".png"), ("sharp", ".png"), ("blursize", ".npy")):
                (out / window_file(split, scene, kind, r["center"], suffix)).unlink(missing_ok=True)


def build_wild(source: str | os.PathLike | Sequence[Any], out: str | os.PathLike, config: BuildConfig | None = None,
               *, pairs: int | None = None, workers: int = 2, max_scenes: int | None = None, progress: bool = True,
               max_minutes: float | None = None, callback: Callable[[dict], None] | None = None, **overrides: Any) -> Path:
    """Build a WILD-style dataset in ``out``; returns the manifest path (see :mod:`repro.wild`).

    Parameters
    ----------
    source : ``"virtual"`` (the virtual 240 fps camera, :mod:`repro.camera`), a path opened by
        :func:`repro.io.video.open_sources` (frame folder, video file, ``GOPRO_Large_all``), or a
        sequence of FrameSource-like objects (``.name``, iterable of uint8 ``(H, W, 3)`` frames).
    config : the parameters that decide the build's content (:class:`BuildConfig`, whose defaults
        are the paper's); its ``source`` and ``camera`` are set here from ``source``.
    **overrides : fields of ``config`` to replace, e.g. ``split="test", seed=1, n_range=(7, 9)``
        (``max_match_error=None``: never reject for the matching error). ``downsample``: when
        neither ``config`` nor an override gives it (or it is given as ``None``), 3 (the paper)
        for footage and :data:`VIRTUAL_DOWNSAMPLE` (1) for ``"virtual"``: the virtual camera
        renders at the WILD size (240x320, from photos area-averaged to that scale); its photos
        are too small for a 720-row render to add detail, and that would cost 9x the time.
        ``downsample=3`` renders 720x960 and follows the paper literally. ``virtual``: options
        of the virtual camera: ``n_frames`` (default: each clip is one window of N frames, N as
        drawn for the scene), ``size`` (``(240k, 320k)``), ``defocus`` (``(low, high)``: one
        layer of each clip out of focus, a disc of radius drawn in that range, px of the pairs),
        and any further keyword of :func:`repro.camera.render_clip` (``supersample``, ``speed``,
        ``kind``, ``noise_std``, ``device``...).
    pairs : stop after exactly this many accepted pairs (scenes taken in order; the last one cut);
        ``None``: every window of every scene (for ``"virtual"``: ``DEFAULT_VIRTUAL_PAIRS``).
    workers : worker processes over scenes (``<= 1``: in this process).
    max_scenes : at most this many scenes (virtual default: ``10 + 3 * pairs``, one window each).
    max_minutes : start no scene after this many minutes; the scenes under way finish and the
        manifest holds the leading scenes done (fewer pairs than asked, with a warning). A later
        call with the same parameters resumes: the finished scenes are kept, not redone.
    callback : called with each window's row as it is recorded (only with ``workers <= 1``).
    """
    out = Path(out)
    objects = None if isinstance(source, (str, os.PathLike)) else list(source)
    config = _resolve_config(source, objects, config, overrides)
    if pairs is not None and pairs < 1:
        raise ValueError(f"pairs must be a positive number or None, got {pairs}")
    if max_minutes is not None and not max_minutes > 0:
        raise ValueError(f"max_minutes must be a positive number or None, got {max_minutes}")
    deadline = time.monotonic() + 60 * max_minutes if max_minutes is not None else float("inf")
    if callback is not None and workers > 1:
        raise ValueError("callback needs workers <= 1 (it runs in the worker process)")
    if pairs is None and config.source == "virtual":
        pairs = DEFAULT_VIRTUAL_PAIRS
    names = _scene_names(source, objects, config, pairs, max_scenes)
    _prepare_split(out, config)
    build = _Build(out, config, names, objects, pairs, max_minutes, deadline)
    build.run(workers, callback, progress)
    return _cut_and_write_manifest(build)


def _resolve_config(source: Any, objects: list | None, config: BuildConfig | None,
                    overrides: dict[str, Any]) -> BuildConfig:
    """``config`` (default :class:`BuildConfig`) with ``overrides``, its ``source`` and ``camera``
    set from ``source`` and ``downsample`` defaulted by the source (see :func:`build_wild`)."""
    source_str = "objects" if objects is not None else str(source)
    settable = {f.name for f in fields(BuildConfig)} - {"source", "camera"}
    if unknown := sorted(set(overrides) - settable):
        raise TypeError(f"build_wild() got unknown parameters {unknown}; the build's parameters are "
                        f"BuildConfig's fields: {', '.join(sorted(settable))}")
    overrides = dict(overrides)
    if overrides.get("downsample") is None and (config is None or "downsample" in overrides):
        overrides["downsample"] = VIRTUAL_DOWNSAMPLE if source_str == "virtual" else BuildConfig.downsample
    return replace(config or BuildConfig(), source=source_str,
                   camera=_camera_version() if source_str == "virtual" else "", **overrides)


def _scene_names(source: Any, objects: list | None, config: BuildConfig, pairs: int | None,
                 max_scenes: int | None) -> list[str]:
    """The scenes' folder names, in build order, known before any is opened (checked unique and
    usable as folder names); virtual: ``max_scenes`` clips, default ``10 + 3 * pairs``."""
    if objects is not None:
        names = [str(getattr(o, "name", f"scene{i:03d}")) for i, o in enumerate(objects)]
    elif config.source == "virtual":
        n_virtual = max_scenes if max_scenes is not None else 10 + 3 * pairs
        names = [src.name for src in _virtual_camera(config, n_virtual)]
    else:
        from ..io.video import open_sources

        names = [s.name for s in open_sources(source, config.split)]
    if max_scenes is not None:
        names = names[:max_scenes]
    if len(set(names)) != len(names):
        raise ValueError(f"scene names are not unique: {names}")
    for nm in names:
        if not nm or "/" in nm or "\\" in nm or nm.startswith("."):
            raise ValueError(f"scene name {nm!r} cannot be a folder name")
    return names


def _prepare_split(out: Path, config: BuildConfig) -> None:
    """Make ``out/<split>/``, remove what a killed build left half-written, and record (or, when
    resuming, check) ``build.json``."""
    split_dir = out / config.split
    split_dir.mkdir(parents=True, exist_ok=True)
    _clean_temporaries(split_dir)
    for p in out.glob(".manifest.*.tmp.csv"):
        p.unlink()
    _check_config(split_dir, config)


class _Build:
    """A build under way: scenes handed out in order, results gathered as they finish, and the
    leading run of finished scenes (the *prefix*) whose rows, cut at ``pairs``, make the manifest.

    Scenes finished by an earlier run are taken from disk instead of being redone (resume); no new
    scene starts after ``max_minutes`` or once the prefix holds ``pairs`` accepted pairs.
    """

    def __init__(self, out: Path, config: BuildConfig, names: list[str], objects: list | None,
                 pairs: int | None, max_minutes: float | None, deadline: float) -> None:
        self.out, self.config, self.names, self.objects, self.pairs = out, config, names, objects, pairs
        self.max_minutes, self.deadline = max_minutes, deadline  # deadline: time.monotonic() seconds
        self.results: dict[int, list[dict]] = {}  # scene index -> its rows, as they finish
        self.next_scene = 0
        self.timed_out = False
        self.prefix_n, self.prefix_rows, self.prefix_accepted, self.reached = 0, [], 0, False
        self.last_manifest = -1e9
        self.bar = None

    @property
    def split(self) -> str:
        return self.config.split

    def _grow_prefix(self) -> None:
        """Extend the prefix over the scenes finished since, stopping at ``pairs`` accepted pairs."""
        while not self.reached and self.prefix_n in self.results:
            for r in self.results[self.prefix_n]:
                self.prefix_rows.append(r)
                self.prefix_accepted += r["accepted"]
                if self.pairs is not None and self.prefix_accepted >= self.pairs:
                    self.reached = True
                    break
            self.prefix_n += 1

    def record(self, index: int, rows: list[dict]) -> None:
        """Keep scene ``index``'s rows; the bar shows the prefix; a readable manifest every 20 s."""
        self.results[index] = rows
        self._grow_prefix()
        if self.bar is not None:
            self.bar.n = min(self.prefix_accepted, self.pairs) if self.pairs is not None else self.prefix_n
            self.bar.refresh()
        if time.monotonic() - self.last_manifest > 20:  # a readable manifest while a long build runs
            write_manifest(self.out, self.split, self.prefix_rows)
            self.last_manifest = time.monotonic()

    def next_task(self) -> _SceneTask | None:
        """The next scene to process, or None when the build is over (pairs reached, no scenes left,
        or past the deadline); scenes an earlier run finished are recorded on the way."""
        while self.next_scene < len(self.names):
            if time.monotonic() > self.deadline:
                if not self.timed_out:
                    log.warning("%s: no new scene after %g minutes (max_minutes)", self.out / self.split,
                                self.max_minutes)
                self.timed_out = True
                return None
            i = self.next_scene
            self.next_scene += 1
            if self.reached:
                return None
            before = self.prefix_accepted if self.prefix_n == i else None
            done = finished_scene_rows(self.out, self.split, self.names[i], before, self.pairs)
            if done is not None:
                self.record(i, done)
                continue
            return _SceneTask(i, self.names[i], str(self.out), self.config,
                              self.objects[i] if self.objects is not None else None)
        return None

    def run(self, workers: int, callback: Callable[[dict], None] | None, progress: bool) -> None:
        """Process the scenes in ``workers`` processes (this one when ``<= 1``) until the build is over."""
        import multiprocessing

        from tqdm.auto import tqdm

        from ..io.pool import TaskPool

        self.bar = tqdm(total=self.pairs if self.pairs is not None else len(self.names), disable=not progress,
                        desc=f"build-wild {self.split}", unit="pair" if self.pairs is not None else "scene")
        work = functools.partial(_run_scene_task, callback=callback)
        try:
            with TaskPool(work, self.next_task, workers=workers, context=multiprocessing.get_context("spawn"),
                          initializer=_worker_init) as pool:
                for done in pool.results():
                    self.record(*done.result())
                    if self.reached:
                        pool.stop()  # scenes under way finish (and are recorded); no new one starts
        finally:
            self.bar.close()


def _cut_and_write_manifest(build: _Build) -> Path:
    """Remove what lies beyond the prefix (images past ``pairs`` in its last scene, scenes after it)
    so that the folder does not depend on the number of workers, and write the manifest."""
    out, split, names = build.out, build.split, build.names
    n_done, rows, reached = build.prefix_n, build.prefix_rows, build.reached
    if build.pairs is not None and not reached:
        log.warning("%s: only %d accepted pairs from %d scenes (asked for %d)", out / split,
                    sum(r["accepted"] for r in rows), n_done, build.pairs)
    kept_names = set(names[:n_done])
    if reached:
        last = names[n_done - 1]
        n_kept_last = sum(1 for r in rows if r["scene"] == last)
        _remove_scene_files(out, split, last, build.results[n_done - 1][n_kept_last:])
    for d in sorted((out / split).iterdir()):
        # Scenes beyond the cut (processed by a worker in parallel, or by an earlier larger
        # build) go entirely, so the folder does not depend on the number of workers.
        if d.is_dir() and d.name not in kept_names and (d / "windows.json").is_file():
            shutil.rmtree(d)
    return write_manifest(out, split, rows)
